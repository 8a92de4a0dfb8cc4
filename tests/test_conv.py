"""course_lib.reference.conv against torch.nn.functional, numerical gradients and hand-computed values."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import data
from course_lib.gradcheck import gradcheck
from course_lib.reference import conv

ints_or_pairs = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
paddings = st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)))


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@st.composite
def conv_cases(draw):
    """(x, weight, bias or None, stride, padding) with a kernel that fits the padded input."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, padding = draw(ints_or_pairs), draw(paddings)
    ph, pw = _pair(padding)
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    bias = rng.standard_normal(f) if draw(st.booleans()) else None
    return x, weight, bias, stride, padding


def torch_conv(x, weight, bias, stride, padding):
    b = None if bias is None else torch.from_numpy(bias)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), b, stride, padding).numpy()


@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_conv2d_and_naive_match_torch(case):
    x, weight, bias, stride, padding = case
    expected = torch_conv(x, weight, bias, stride, padding)
    fast = conv.conv2d(x, weight, bias, stride, padding)
    naive = conv.conv2d_naive(x, weight, bias, stride, padding)
    assert fast.shape == naive.shape == expected.shape
    np.testing.assert_allclose(fast, expected, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(naive, expected, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_backward_matches_torch_autograd(case, seed):
    x, weight, bias, stride, padding = case
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(weight).requires_grad_()
    bt = None if bias is None else torch.from_numpy(bias).requires_grad_()
    out = F.conv2d(xt, wt, bt, stride, padding)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(torch.from_numpy(dout))
    dx, dw, db = conv.conv2d_backward(dout, x, weight, bias, stride, padding)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-7, atol=1e-10)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 1), (0, 2))])
def test_conv2d_backward_gradcheck(stride, padding):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    dout = rng.standard_normal(conv.conv2d(x, w, b, stride, padding).shape)
    dx, dw, db = conv.conv2d_backward(dout, x, w, b, stride, padding)

    def f(x, weight, bias):
        return conv.conv2d(x, weight, bias, stride, padding)

    errors = gradcheck(f, {"x": x, "weight": w, "bias": b}, {"x": dx, "weight": dw, "bias": db}, dout)
    assert max(errors.values()) < 1e-7, errors


def test_dtypes():
    rng = np.random.default_rng(0)
    x32, w32 = rng.standard_normal((1, 2, 5, 5)).astype(np.float32), rng.standard_normal((3, 2, 3, 3))
    assert conv.conv2d(x32, w32.astype(np.float32)).dtype == np.float32
    assert conv.conv2d(x32, w32).dtype == np.float64
    assert conv.conv2d_naive(x32, w32.astype(np.float32)).dtype == np.float32
    dx, dw, db = conv.conv2d_backward(
        np.ones((1, 3, 3, 3), np.float32), x32, w32.astype(np.float32), np.zeros(3, np.float32)
    )
    assert dx.dtype == dw.dtype == db.dtype == np.float32


def test_conv2d_float32_close_to_torch():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 3, 16, 16)).astype(np.float32), rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    np.testing.assert_allclose(conv.conv2d(x, w, b, 2, 1), torch_conv(x, w, b, 2, 1), rtol=1e-5, atol=1e-5)


# --- conv_output_size ---------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(in_size=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 5), padding=st.integers(0, 3))
def test_conv_output_size_matches_torch(in_size, kernel, stride, padding):
    if kernel > in_size + 2 * padding:
        with pytest.raises(ValueError, match="kernel_size"):
            conv.conv_output_size(in_size, kernel, stride, padding)
        return
    x, w = torch.zeros(1, 1, in_size, 1), torch.zeros(1, 1, kernel, 1)
    expected = F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0)).shape[2]
    assert conv.conv_output_size(in_size, kernel, stride, padding) == expected
    fits = (in_size - kernel + 2 * padding) % stride == 0
    if fits:
        assert conv.conv_output_size(in_size, kernel, stride, padding, strict=True) == expected
    else:
        with pytest.raises(ValueError, match="stride"):
            conv.conv_output_size(in_size, kernel, stride, padding, strict=True)


def test_conv_output_size_known_values():
    assert conv.conv_output_size(227, 11, 4) == 55  # AlexNet conv1
    assert conv.conv_output_size(32, 5) == 28  # LeNet-5 C1
    assert conv.conv_output_size(224, 3, 1, 1) == 224  # VGG 'same'
    assert conv.conv_output_size(224, 7, 2, 3) == 112  # ResNet stem (floor)


@pytest.mark.parametrize(
    "args, name",
    [
        ((0, 3), "in_size"),
        ((5, 0), "kernel_size"),
        ((5, 3, 0), "stride"),
        ((5, 3, 1, -1), "padding"),
        ((5, 8, 1, 1), "kernel_size"),
        ((5.0, 3), "in_size"),
        ((5, 3.0), "kernel_size"),
        ((5, 3, True), "stride"),
        ((5, 3, 1, 0.5), "padding"),
    ],
)
def test_conv_output_size_errors_name_the_argument(args, name):
    with pytest.raises(ValueError, match=name):
        conv.conv_output_size(*args)


def test_conv_output_size_strict_message_suggests_paddings():
    with pytest.raises(ValueError, match=r"does not fit.*paddings that would fit: 1, 4") as info:
        conv.conv_output_size(10, 3, 3, 0, strict=True)  # (10 - 3) % 3 = 1
    assert "10 - 3 + 2*0 = 7" in str(info.value)
    for p in (1, 4):
        assert conv.conv_output_size(10, 3, 3, p, strict=True) >= 1
    with pytest.raises(ValueError, match="no padding can fix"):
        conv.conv_output_size(32, 3, 2, 0, strict=True)  # even stride, odd in - k
    assert conv.conv_output_size(32, 3, 2, 0) == 15


# --- zero_pad2d, params, flops ------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(*[st.integers(1, 4)] * 4), padding=paddings)
def test_zero_pad2d_matches_f_pad(shape, padding):
    x = np.random.default_rng(0).standard_normal(shape)
    ph, pw = _pair(padding)
    expected = F.pad(torch.from_numpy(x), (pw, pw, ph, ph)).numpy()
    out = conv.zero_pad2d(x, padding)
    np.testing.assert_array_equal(out, expected)
    assert out is not x


def test_zero_pad2d_errors():
    with pytest.raises(ValueError, match="padding"):
        conv.zero_pad2d(np.zeros((1, 1, 2, 2)), -1)
    with pytest.raises(ValueError, match="padding"):
        conv.zero_pad2d(np.zeros((1, 1, 2, 2)), (1, 2, 3))
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        conv.zero_pad2d(np.zeros((2, 2)), 1)


@pytest.mark.parametrize(
    "c_in, c_out, k, bias", [(3, 96, 11, True), (1, 6, 5, True), (64, 128, 3, False), (16, 8, (3, 1), True)]
)
def test_conv_params_matches_torch(c_in, c_out, k, bias):
    layer = torch.nn.Conv2d(c_in, c_out, k, bias=bias)
    assert conv.conv_params(c_in, c_out, k, bias) == sum(p.numel() for p in layer.parameters())


def test_conv_flops_known_layers():
    # AlexNet conv1: 55*55 outputs x 96 filters x (11*11*3 + 1) multiply-accumulates.
    assert conv.conv_flops(3, 96, 11, 227, stride=4) == 55 * 55 * 96 * (11 * 11 * 3 + 1) == 105_705_600
    # 'same' padding, stride 1: equals the lecture formula In_w*In_h*(k_w*k_h*C_in + 1)*C_out.
    assert conv.conv_flops(64, 128, 3, (56, 28), padding=1) == 56 * 28 * (3 * 3 * 64 + 1) * 128
    assert conv.conv_flops(64, 128, 3, 56, padding=1, bias=False) == 56 * 56 * 3 * 3 * 64 * 128
    with pytest.raises(ValueError, match="kernel_size"):
        conv.conv_flops(3, 8, 9, 4)


# --- receptive field ----------------------------------------------------------------------------


def brute_force_receptive_field(layers, length=64):
    """Backprop a one-hot at the output centre through all-ones 1-D convs; measure the input support."""
    x = torch.zeros(1, 1, length, dtype=torch.float64, requires_grad=True)
    out = x
    for layer in layers:
        k, s = (layer, 1) if isinstance(layer, int) else layer
        out = F.conv1d(out, torch.ones(1, 1, k, dtype=torch.float64), stride=s)
    onehot = torch.zeros_like(out)
    onehot[..., out.shape[-1] // 2] = 1
    out.backward(onehot)
    support = torch.nonzero(x.grad[0, 0]).flatten()
    return int(support.max() - support.min() + 1)


def test_receptive_field_known_values():
    assert conv.receptive_field([3, 3]) == 5
    assert conv.receptive_field([3, 3, 3]) == 7
    assert conv.receptive_field([]) == 1
    assert conv.receptive_field([(11, 4), (3, 2), 5]) == 1 + 10 + 2 * 4 + 4 * 8  # AlexNet-ish
    layers = [(3, 2), 3, (5, 2), (2, 2), 3]
    assert conv.receptive_field(layers) == brute_force_receptive_field(layers) == 35


@settings(max_examples=40, deadline=None)
@given(
    layers=st.lists(
        st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 2))), min_size=1, max_size=4
    )
)
def test_receptive_field_matches_gradient_support(layers):
    assert conv.receptive_field(layers) == brute_force_receptive_field(layers)


@pytest.mark.parametrize("layers", [[0], [(3, 0)], ["3"], [(3, 2, 1)], [True], [3.0], [(3.0, 1)]])
def test_receptive_field_errors(layers):
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        conv.receptive_field(layers)


# --- kernels and input validation ----------------------------------------------------------------


def test_classic_kernels():
    expected = {"identity", "box blur", "gaussian blur", "sharpen", "sobel x", "sobel y", "laplacian", "emboss"}
    assert set(data.CLASSIC_KERNELS) == expected
    for name, k in data.CLASSIC_KERNELS.items():
        assert k.shape == (3, 3) and k.dtype == np.float64, name
        assert name == name.lower()
        assert not k.flags.writeable
    sums = {"identity": 1, "box blur": 1, "gaussian blur": 1, "sharpen": 1, "sobel x": 0, "sobel y": 0}
    for name, total in sums.items():
        assert data.CLASSIC_KERNELS[name].sum() == pytest.approx(total)
    assert data.CLASSIC_KERNELS["laplacian"].sum() == 0
    np.testing.assert_array_equal(data.CLASSIC_KERNELS["sobel y"], data.CLASSIC_KERNELS["sobel x"].T)
    img = np.random.default_rng(0).standard_normal((1, 1, 6, 6))
    ident = data.CLASSIC_KERNELS["identity"][None, None]
    np.testing.assert_allclose(conv.conv2d(img, ident, padding=1), img)


FORWARDS = [conv.conv2d, conv.conv2d_naive]


@pytest.mark.parametrize("fn", FORWARDS)
def test_conv_input_errors(fn):
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((8, 4, 3, 3))
    with pytest.raises(ValueError) as info:
        fn(x, w)
    assert str(info.value) == "x has C=3 channels but weight expects 4 (weight shape (8, 4, 3, 3))"
    w = np.zeros((8, 3, 3, 3))
    with pytest.raises(ValueError, match=r"bias must have shape \(F,\) = \(8,\).*got shape \(4,\)"):
        fn(x, w, np.zeros(4))
    with pytest.raises(ValueError, match=r"bias"):
        fn(x, w, [0.0] * 8)
    with pytest.raises(ValueError, match=r"kernel \(KH, KW\) = \(7, 7\).*\(5, 5\)"):
        fn(x, np.zeros((8, 3, 7, 7)))
    assert fn(x, np.zeros((8, 3, 7, 7)), padding=1).shape == (2, 8, 1, 1)
    with pytest.raises(ValueError) as info:
        fn(np.zeros((3, 5, 5)), w)
    assert str(info.value) == "x must have shape (N, C, H, W), got shape (3, 5, 5)"
    with pytest.raises(ValueError, match=r"weight must be .*\(F, C, KH, KW\), got shape \(3, 3, 3\)"):
        fn(x, np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="x must be a numpy array"):
        fn(torch.zeros(2, 3, 5, 5), w)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        fn(x, w, stride=0)
    with pytest.raises(ValueError, match="stride"):
        fn(x, w, stride=1.5)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        fn(x, w, padding=(0, -1))


def test_conv2d_backward_errors():
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((8, 3, 3, 3))
    with pytest.raises(ValueError, match=r"dout must have .* = \(2, 8, 3, 3\), got shape \(2, 8, 5, 5\)"):
        conv.conv2d_backward(np.zeros((2, 8, 5, 5)), x, w)
    with pytest.raises(ValueError, match="channels"):
        conv.conv2d_backward(np.zeros((2, 8, 3, 3)), x, np.zeros((8, 2, 3, 3)))
