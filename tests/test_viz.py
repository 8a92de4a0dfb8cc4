"""The ipywidgets explorers, driven headless: controls change ``.output``, errors go to ``.info``."""

import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import data
from course_lib.reference import conv, pool  # noqa: E402
from course_lib.viz import KernelPlayground, PoolingExplorer, show_images  # noqa: E402
from course_lib.viz._common import IMAGE_NAMES, demo_image  # noqa: E402


def _conv_ref(img, kernel, stride, padding):
    return conv.conv2d(img[None, None], np.asarray(kernel)[None, None], None, stride, padding)[0, 0]


@pytest.fixture(scope="module")
def playground():
    return KernelPlayground(size=32)


@pytest.fixture(scope="module")
def explorer():
    return PoolingExplorer(size=24)


# ------------------------------------------------------------------ shared pieces
@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_demo_images(name):
    img = demo_image(name, 20)
    assert img.shape == (20, 20) and img.dtype == np.float64
    assert 0.0 <= img.min() < img.max() <= 1.0


def test_show_images_returns_figure():
    import matplotlib.pyplot as plt

    fig = show_images(data.photo_batch(size=16), titles=list(data.PHOTOS), ncols=2)
    try:
        assert len([ax for ax in fig.axes if ax.images]) == len(data.PHOTOS)
        assert [ax.get_title() for ax in fig.axes if ax.images] == list(data.PHOTOS)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------ kernel playground
def test_playground_initial_state(playground):
    kp = playground
    assert kp.widget is not None and kp.view.widget.value[:4] == b"\x89PNG"
    assert len(kp.sliders) == 3 and all(len(row) == 3 for row in kp.sliders)
    np.testing.assert_allclose(kp.output, _conv_ref(kp.image, kp.kernel, 1, 1))
    assert "H_out" in kp.info and "= 32" in kp.info
    assert "application/vnd.jupyter.widget-view+json" in kp._repr_mimebundle_()


def test_playground_identity_returns_input(playground):
    kp = playground
    kp.set_kernel("identity")
    with kp.hold():
        kp.stride_slider.value, kp.padding_slider.value = 1, 1
    np.testing.assert_allclose(kp.output, kp.image, atol=1e-12)


def test_preset_sets_sliders_and_output(playground):
    kp = playground
    for name in ("sobel x", "sharpen", "box blur"):  # sharpen has a 5 (outside -4..4): range grows
        kp.preset_dropdown.value = name
        values = np.array([[s.value for s in row] for row in kp.sliders])
        np.testing.assert_array_equal(values, data.CLASSIC_KERNELS[name])
        np.testing.assert_array_equal(kp.kernel, data.CLASSIC_KERNELS[name])
        np.testing.assert_allclose(kp.output, _conv_ref(kp.image, data.CLASSIC_KERNELS[name], 1, 1))


def test_slider_edit_makes_custom_kernel(playground):
    kp = playground
    kp.set_kernel("identity")
    before = kp.output.copy()
    kp.sliders[0][0].value = 1.5
    assert kp.preset_dropdown.value == "custom"
    assert kp.kernel[0, 0] == 1.5 and kp.sliders[0][0].continuous_update is False
    assert not np.allclose(kp.output, before)
    np.testing.assert_allclose(kp.output, _conv_ref(kp.image, kp.kernel, 1, 1))
    kp.sliders[0][0].value = 0.0  # back to the identity: the dropdown follows
    assert kp.preset_dropdown.value == "identity"


def test_stride_padding_and_image_change_output(playground):
    kp = playground
    kp.set_kernel("laplacian")
    with kp.hold():
        kp.stride_slider.value, kp.padding_slider.value = 2, 0
    assert kp.output.shape == (conv.conv_output_size(32, 3, 2, 0),) * 2 == (15, 15)
    assert "⌊(32 − 3 + 2·0) / 2⌋ + 1 = 15" in kp.info
    kp.image_dropdown.value = "checkerboard"
    np.testing.assert_allclose(kp.output, _conv_ref(demo_image("checkerboard", 32), kp.kernel, 2, 0))
    with kp.hold():
        kp.stride_slider.value, kp.padding_slider.value = 1, 1


def test_set_kernel_rejects_bad_input(playground):
    with pytest.raises(ValueError, match="sobel x"):
        playground.set_kernel("sobel z")
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        playground.set_kernel(np.ones((2, 2)))


def test_custom_image_and_array_kernel():
    img = np.random.default_rng(0).random((3, 20, 30))  # colour, not square
    kp = KernelPlayground(image=img)
    assert kp.image_dropdown.value == "custom" and kp.image.shape == (20, 30)
    kernel = np.arange(9.0).reshape(3, 3) / 10
    kp.set_kernel(kernel)
    np.testing.assert_allclose(kp.output, _conv_ref(img.mean(axis=0), kernel, 1, 1))
    assert "H_out" in kp.info and "W_out" in kp.info


def test_student_conv_fn_errors_are_reported_not_raised():
    def broken(x, weight, bias=None, stride=1, padding=0):
        raise IndexError("index 3 is out of bounds for axis 2")

    kp = KernelPlayground(conv_fn=broken, size=16)  # must not raise
    assert kp.output is None and isinstance(kp.error, IndexError)
    assert "conv_fn raised IndexError" in kp.info and "out of bounds" in kp.info
    kp.stride_slider.value = 2  # still alive
    assert "IndexError" in kp.info

    kp_shape = KernelPlayground(conv_fn=lambda x, w, b, s, p: x, size=16)  # ignores stride/padding
    kp_shape.stride_slider.value = 2
    assert kp_shape.output is None and "returned shape (1, 1, 16, 16)" in kp_shape.info


def test_student_conv_fn_is_used():
    calls = []

    def mine(x, weight, bias=None, stride=1, padding=0):
        calls.append((x.shape, weight.shape, stride, padding))
        return conv.conv2d(x, weight, bias, stride, padding)

    kp = KernelPlayground(conv_fn=mine, size=16)
    kp.padding_slider.value = 0
    assert calls[-1] == ((1, 1, 16, 16), (1, 1, 3, 3), 1, 0) and kp.output.shape == (14, 14)


# ------------------------------------------------------------------ pooling explorer
def _pool_ref(mode, img, k, s, p):
    fn = pool.max_pool2d if mode == "max" else pool.avg_pool2d
    return fn(img[None, None], k, s, p)[0, 0]


def test_pooling_initial_state(explorer):
    ex = explorer
    np.testing.assert_allclose(ex.output, _pool_ref("max", ex.image, 2, 2, 0))
    assert ex.output.shape == (12, 12) and ex.unchanged == 1.0
    assert "= 12" in ex.info and "shift" in ex.info
    assert ex.view.widget.value[:4] == b"\x89PNG"


@pytest.mark.parametrize(("mode", "k", "s", "p"), [("avg", 3, 1, 1), ("max", 4, 3, 2), ("avg", 1, 2, 0)])
def test_pooling_controls_match_reference(explorer, mode, k, s, p):
    ex = explorer
    with ex.hold():
        ex.mode_toggle.value = mode
        ex.kernel_slider.value, ex.stride_slider.value, ex.padding_slider.value = k, s, p
        ex.shift_slider.value = 0
    np.testing.assert_allclose(ex.output, _pool_ref(mode, ex.image, k, s, p))
    assert ex.output.shape == (conv.conv_output_size(24, k, s, p),) * 2


def test_pooling_padding_is_clamped_with_message(explorer):
    ex = explorer
    with ex.hold():
        ex.mode_toggle.value = "max"
        ex.kernel_slider.value, ex.stride_slider.value, ex.padding_slider.value = 2, 2, 3
    assert "padding 3 is more than half the kernel" in ex.info and "using padding = 1" in ex.info
    np.testing.assert_allclose(ex.output, _pool_ref("max", ex.image, 2, 2, 1))
    ex.padding_slider.value = 0


def test_pooling_shift_reports_unchanged_fraction(explorer):
    ex = explorer
    with ex.hold():
        ex.image_dropdown.value = "checkerboard"
        ex.mode_toggle.value = "max"
        ex.kernel_slider.value, ex.stride_slider.value, ex.padding_slider.value = 2, 2, 0
        ex.shift_slider.value = 1
    img = demo_image("checkerboard", 24)
    expected = _pool_ref("max", data.shifted(img, 0, 1), 2, 2, 0)
    np.testing.assert_allclose(ex.output, expected)
    fraction = np.isclose(expected, _pool_ref("max", img, 2, 2, 0)).mean()
    assert ex.unchanged == pytest.approx(fraction) and 0 < ex.unchanged < 1
    assert f"pooled outputs {fraction:.0%}" in ex.info and "shift 1 px" in ex.info
    ex.shift_slider.value = 0
    assert ex.unchanged == 1.0


def test_pooling_student_functions():
    def my_max(x, kernel_size, stride=None, padding=0):
        return pool.max_pool2d(x, kernel_size, stride, padding)

    def broken_avg(x, kernel_size, stride=None, padding=0):
        raise RuntimeError("not implemented yet")

    ex = PoolingExplorer(pool_fn={"max": my_max, "avg": broken_avg}, size=16)
    np.testing.assert_allclose(ex.output, _pool_ref("max", ex.image, 2, 2, 0))
    ex.mode_toggle.value = "avg"  # must not raise
    assert ex.output is None and "RuntimeError" in ex.info and "not implemented yet" in ex.info
    single = PoolingExplorer(pool_fn=broken_avg, size=16, mode="avg")
    assert single.output is None and "pool_fn['avg'] raised RuntimeError" in single.info
    single.mode_toggle.value = "max"  # the other mode falls back to the reference
    np.testing.assert_allclose(single.output, _pool_ref("max", single.image, 2, 2, 0))
    with pytest.raises(ValueError, match="'max' and/or 'avg'"):
        PoolingExplorer(pool_fn={"mean": my_max})


def test_callback_time_printed(playground, explorer):
    """Median redraw time (printed with -s; informative only, not asserted)."""
    timings = {}
    for name, slider, values in (
        ("KernelPlayground(size=32)", playground.stride_slider, [2, 1] * 3),
        ("PoolingExplorer(size=24)", explorer.kernel_slider, [3, 2] * 3),
    ):
        times = []
        for v in values:
            start = time.perf_counter()
            slider.value = v
            times.append(time.perf_counter() - start)
        timings[name] = 1000 * statistics.median(times)
    print("median callback ms:", {k: round(v, 1) for k, v in timings.items()})
