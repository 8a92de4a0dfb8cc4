"""The quantization explorer, driven headless: controls change the error, the curves and the accuracy."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course_lib import data
from course_lib.reference import compress  # noqa: E402
from course_lib.viz.compress import QuantizationExplorer  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained on the digits in a second, with one tiny conv filter."""
    X, y = data.load_digits()
    xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        loss = nn.functional.cross_entropy(net(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # filter 3 with a 100× smaller range than the others
        net[0].weight[3] *= 0.01
    return net.eval(), X[:400], y[:400]


@pytest.fixture()
def explorer(trained):
    net, X, y = trained
    return QuantizationExplorer(net, X, y, bits=4)


def test_initial_state(explorer):
    ex = explorer
    assert ex.view.widget.value[:4] == b"\x89PNG"
    assert ex.layer_dropdown.options == ("0", "3") and ex.layer_dropdown.value == "3"
    assert ex.float_accuracy > 0.8
    assert "4-bit symmetric per-tensor" in ex.info and "3" in ex.info
    assert ex.channel_errors.shape == (10,)
    assert set(ex.curves) == {"per-tensor", "per-channel"} and all(len(v) == 7 for v in ex.curves.values())
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()


def test_error_falls_with_bits_and_accuracy_recovers(explorer):
    ex = explorer
    errors = {}
    for bits in (2, 4, 8):
        ex.bits_slider.value = bits
        errors[bits] = ex.error
    assert errors[2] > errors[4] > errors[8] > 0
    assert errors[8] < 0.05
    assert abs(ex.accuracy - ex.float_accuracy) <= 0.01
    assert ex.curves["per-tensor"][-1] == ex.accuracy


def test_per_channel_helps_the_small_filter(explorer):
    ex = explorer
    with ex.hold():
        ex.layer_dropdown.value = "0"
        ex.bits_slider.value = 3
        ex.per_channel_toggle.value = False
    per_tensor = ex.channel_errors.copy()
    assert per_tensor.shape == (4,) and per_tensor[3] > 0.5  # the tiny filter rounds to (almost) zero
    ex.per_channel_toggle.value = True
    assert ex.channel_errors[3] < 0.3 * per_tensor[3]
    assert "per-channel" in ex.info
    w = ex.model[0].weight.detach().numpy()
    expected = compress.fake_quantize(w, 3, True, axis=0)
    np.testing.assert_allclose(ex.error, np.linalg.norm(expected - w) / np.linalg.norm(w), rtol=1e-6)


def test_scheme_toggle_and_cache(explorer):
    ex = explorer
    symmetric_curves = ex.curves
    ex.scheme_toggle.value = "affine"
    assert "affine" in ex.info and ex.curves is not symmetric_curves
    ex.scheme_toggle.value = "symmetric"
    assert ex.curves is symmetric_curves  # cached: no re-evaluation


def test_hold_batches_updates(explorer, monkeypatch):
    ex = explorer
    calls = []
    original = ex.update
    monkeypatch.setattr(ex, "update", lambda: (calls.append(1), original()))
    with ex.hold():
        ex.bits_slider.value = 6
        ex.per_channel_toggle.value = not ex.per_channel_toggle.value
        ex.layer_dropdown.value = "0"
    assert len(calls) == 1


def test_model_is_not_modified(trained):
    net, X, y = trained
    before = [p.detach().clone() for p in net.parameters()]
    ex = QuantizationExplorer(net, X, y, bits=2, per_channel=True, symmetric=False)
    ex.bits_slider.value = 3
    for p, q in zip(net.parameters(), before, strict=True):
        assert torch.equal(p, q)
    assert all(torch.equal(m.weight, ex._originals[name]) for name, m in ex._modules.items())


def test_savefig(explorer, tmp_path):
    path = tmp_path / "quantization.png"
    explorer.savefig(path)
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kwargs, match", [
    ({"layers": ["nope"]}, "unknown"),
    ({"layers": []}, "layers"),
    ({"bits": 9}, "bits"),
    ({"bits": 1}, "bits"),
])
def test_errors(trained, kwargs, match):
    net, X, y = trained
    with pytest.raises(ValueError, match=match):
        QuantizationExplorer(net, X, y, **kwargs)
    with pytest.raises(ValueError, match="examples"):
        QuantizationExplorer(net, X, y[:-1])
