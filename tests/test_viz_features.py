"""The feature-map explorer, driven headless: its controls redraw ``.picture`` and stay in sync."""

import datetime
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course_lib.models import LeNet5  # noqa: E402
from course_lib.reference import interpret  # noqa: E402
from course_lib.viz import FeatureMapExplorer  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return LeNet5(batch_norm=True).train()   # left in train mode on purpose: the explorer must restore it


@pytest.fixture
def explorer(lenet):
    return FeatureMapExplorer(lenet)


def test_initial_state(explorer, lenet):
    ex = explorer
    assert ex.picture.value[:4] == b"\x89PNG" and ex.filters.value[:4] == b"\x89PNG"
    assert ex.layer_names == ["features.0", "features.2", "features.3", "features.4", "features.6", "features.7"]
    assert ex.layer.value == "features.0" and ex.channel.max == 5
    assert ex.image.value == "digit 3" and {"photo china", "digit 0", "digit 9"} <= set(ex.image.options)
    assert ex.input_array.shape == (1, 32, 32)
    assert "output (6, 28, 28)" in ex.info and "prediction: class" in ex.info
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    assert lenet.training, "the model's train/eval flag must be restored"
    assert all(not m._forward_hooks for m in lenet.modules()), "hooks must be removed after each forward"


def test_activations_are_the_layers_outputs(explorer, lenet):
    x = explorer.input_array[None]
    expected = interpret.feature_maps(lenet.eval(), x, explorer.layer_names)
    lenet.train()
    for name, maps in explorer.activations.items():
        np.testing.assert_allclose(maps, expected[name][0], rtol=1e-5, atol=1e-6)


def test_each_control_redraws(explorer):
    ex = explorer
    before, redraws = ex.picture.value, ex.redraws
    ex.channel.value = 4
    assert ex.picture.value != before and ex.redraws == redraws + 1 and "channel 4" in ex.info
    before = ex.picture.value
    ex.layer.value = "features.4"                # 16 channels: the slider follows
    assert ex.channel.max == 15 and ex.picture.value != before and "(16, 10, 10)" in ex.info
    before = ex.picture.value
    ex.image.value = "photo grace_hopper"
    assert ex.picture.value != before
    before = ex.picture.value
    ex.scale.value = "channel"
    assert ex.picture.value != before
    ex.channel.value = 15
    ex.layer.value = "features.2"                # back to 6 channels: the channel is clamped
    assert ex.channel.max == 5 and ex.channel.value == 5 and ex.error is None


def test_upload_decodes_resizes_and_selects(explorer):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(0, 250, 5, dtype=np.uint8), (40, 1)), mode="L").convert("RGB").save(
        buf, format="PNG")
    before = explorer.picture.value
    explorer.upload.value = ({"name": "ramp.png", "type": "image/png", "size": len(buf.getvalue()),
                              "content": memoryview(buf.getvalue()),
                              "last_modified": datetime.datetime(2026, 1, 1)},)
    assert explorer.image.value == "upload: ramp.png"
    img = explorer.input_array
    assert img.shape == (1, 32, 32) and img[0, :, 0].max() < img[0, :, -1].min()   # a left-to-right ramp
    assert explorer.picture.value != before


def test_bad_upload_and_bad_images_are_reported(explorer):
    explorer.add_image_bytes("notes.txt", b"not an image")
    assert "could not read notes.txt" in explorer.info
    with pytest.raises(ValueError, match=r"\(1, 32, 32\)"):
        explorer.add_image("wrong", np.zeros((3, 32, 32)))


def test_any_module_rgb_and_custom_images():
    torch.manual_seed(0)
    model = interpret.GapNet(num_classes=4, in_channels=3, width=8)
    images = np.random.default_rng(0).random((2, 3, 16, 16))
    ex = FeatureMapExplorer(model, images)
    assert ex.image.value == "image 0" and ex.input_size == (16, 16) and ex.in_channels == 3
    assert ex.input_array.shape == (3, 16, 16)
    assert ex.image.options[-1] == "image 1" and "photo china" in ex.image.options
    assert [n for n in ex.layer_names if n.startswith("features")][-1] == "features.9"
    assert "gap" in ex.layer_names   # AdaptiveAvgPool2d with a (N, C, 1, 1) output is a layer too
    ex.layer.value = "gap"
    assert ex.channel.max == 7 and ex.picture.value[:4] == b"\x89PNG"


def test_a_model_without_feature_maps_is_refused():
    with pytest.raises(ValueError, match="no conv / activation / pooling"):
        FeatureMapExplorer(nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 10), nn.ReLU()))
