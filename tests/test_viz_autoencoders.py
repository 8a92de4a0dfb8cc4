"""The latent-space explorer, driven headless: sliders move the code, the decoded image follows."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.reference.autoencoders import ConvVAE  # noqa: E402
from course_lib.viz.autoencoders import LatentExplorer, decode_with  # noqa: E402


def linear_decoder(z):
    """(1, 2) → (1, 1, 8, 8): a ramp whose slope follows z."""
    ramp = np.linspace(-1, 1, 8)
    img = 0.5 + 0.25 * (z[0, 0] * ramp[None, :] + z[0, 1] * ramp[:, None])
    return np.clip(img, 0, 1)[None, None]


@pytest.fixture
def explorer():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((50, 2))
    return LatentExplorer(linear_decoder, codes=codes, labels=rng.integers(0, 10, 50), limit=3.0)


def test_initial_state(explorer):
    ex = explorer
    assert ex.view.widget.value[:4] == b"\x89PNG"
    np.testing.assert_array_equal(ex.z, [0, 0])
    np.testing.assert_allclose(ex.image, 0.5)
    assert ex.error is None and "z = (0.00, 0.00)" in ex.info and "nearest real code" in ex.info
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()


def test_sliders_decode_live(explorer):
    ex = explorer
    before_png, before = ex.view.widget.value, ex.image.copy()
    ex.z1_slider.value = 2.0
    assert not np.array_equal(ex.image, before)
    assert ex.view.widget.value != before_png
    np.testing.assert_allclose(ex.image, linear_decoder(np.array([[2.0, 0.0]]))[0, 0])
    ex.set_z(-1.0, 1.5)
    np.testing.assert_allclose(ex.z, [-1.0, 1.5])
    np.testing.assert_allclose(ex.image, linear_decoder(np.array([[-1.0, 1.5]]))[0, 0])
    assert "z = (-1.00, 1.50)" in ex.info


def test_torch_model_and_errors(tmp_path):
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=2).eval()
    ex = LatentExplorer(vae)
    first = ex.image.copy()
    assert first.shape == (8, 8) and 0 <= first.min() and first.max() <= 1
    ex.z2_slider.value = -2.5
    with torch.no_grad():
        expected = torch.sigmoid(vae.decode(torch.tensor([[0.0, -2.5]]))).numpy()[0, 0]
    np.testing.assert_allclose(ex.image, expected, rtol=1e-6)
    np.testing.assert_allclose(decode_with(vae)(np.array([[0.0, -2.5]]))[0, 0], expected, rtol=1e-6)
    ex.savefig(tmp_path / "latent.png")
    assert (tmp_path / "latent.png").read_bytes()[:4] == b"\x89PNG"

    def broken(z):
        raise NotImplementedError("no decoder yet")

    bad = LatentExplorer(broken)
    assert bad.image is None and isinstance(bad.error, NotImplementedError)
    assert "decoder raised NotImplementedError" in bad.info
    wrong = LatentExplorer(lambda z: np.zeros((1, 1, 4, 4)))
    assert wrong.image is None and "expected (8, 8)" in wrong.info
    with pytest.raises(ValueError, match="codes must have shape"):
        LatentExplorer(linear_decoder, codes=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="labels"):
        LatentExplorer(linear_decoder, codes=np.zeros((5, 2)), labels=np.zeros(4))
    with pytest.raises(ValueError, match="decoder"):
        LatentExplorer(42)
