"""The attention-map explorer, driven headless: controls change the heatmap and the matrix."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.reference.attention import VisionTransformer, attention_maps  # noqa: E402
from course_lib.viz.attention import AttentionExplorer  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = VisionTransformer(dim=16, depth=2, num_heads=4, mlp_dim=32)
    images = torch.rand(5, 1, 8, 8).numpy()
    return model, images


def test_initial_state(setup):
    model, images = setup
    ex = AttentionExplorer(model, images, labels=np.arange(5))
    assert ex.view.widget.value[:4] == b"\x89PNG"
    assert ex.maps.shape == (2, 5, 4, 17, 17)
    np.testing.assert_allclose(ex.maps, attention_maps(model, images))
    assert ex.matrix.shape == (17, 17) and ex.heatmap.shape == (4, 4)
    np.testing.assert_allclose(ex.matrix, ex.maps[1, 0].mean(0), atol=1e-6)  # last layer, mean of heads
    np.testing.assert_allclose(ex.heatmap.sum() + ex.matrix[0, 0], 1, atol=1e-5)
    assert "[class]" in ex.info and "label 0" in str(ex.ax_img.get_title())
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()


def test_controls_change_the_picture(setup, tmp_path):
    model, images = setup
    ex = AttentionExplorer(model, images)
    png, heat = ex.view.widget.value, ex.heatmap.copy()
    ex.query_dropdown.value = 6                     # patch 1,1
    assert "patch 1,1" in ex.info and ex.box_img.get_visible()
    np.testing.assert_allclose(ex.heatmap.ravel(), ex.matrix[6, 1:])
    assert not np.allclose(ex.heatmap, heat) and ex.view.widget.value != png
    with ex.hold():
        ex.head_dropdown.value = 2
        ex.layer_slider.value = 0
        ex.image_slider.value = 3
    np.testing.assert_allclose(ex.matrix, ex.maps[0, 3, 2])
    ex.savefig(tmp_path / "att.png")
    assert (tmp_path / "att.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_images():
    model = VisionTransformer(dim=8, depth=1, num_heads=2, mlp_dim=8)
    with pytest.raises(ValueError, match="N, C, H, W"):
        AttentionExplorer(model, np.zeros((8, 8)))
