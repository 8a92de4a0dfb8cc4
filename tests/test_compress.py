"""course_lib.reference.compress against torch's quantization, torch autograd and the direct convolution."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import gradcheck
from course_lib.models import LeNet5
from course_lib.reference import compress, conv
from course_lib.testing import EXERCISES
from course_lib.testing.core import run_exercise

# torch marks its quantized tensors and observers as deprecated; the semantics are what we test against.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

SEEDS = st.integers(0, 2**32 - 1)


def _array(seed, shape, dtype=np.float32, spread_axis=None):
    """Normal values; with ``spread_axis``, slices along it scaled by factors from 0.01 to 10."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.uniform(0.1, 5)
    if spread_axis is not None:
        spread = np.exp(rng.uniform(-4.6, 2.3, size=shape[spread_axis]))
        x = x * spread.reshape([-1 if a == spread_axis else 1 for a in range(len(shape))])
    return x.astype(dtype)


def _assert_codes_match(ours, theirs, x, scale, zero_point):
    """Equal codes, except where x / scale is within 1e-4 of a rounding tie: there torch's float32
    ``x * (1 / scale)`` and our ``x / scale`` may round apart (by one step)."""
    ours, theirs = ours.astype(np.int64), theirs.astype(np.int64)
    ratio = x.astype(np.float64) / scale
    near_tie = np.abs(ratio - np.floor(ratio) - 0.5) < 1e-4
    assert np.all((ours == theirs) | (near_tie & (np.abs(ours - theirs) <= 1)))


# --------------------------------------------------------------------------- quantize vs torch

shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=SEEDS, symmetric=st.booleans(), widen=st.sampled_from([1.0, 1.5]))
def test_quantize_per_tensor_matches_torch(shape, seed, symmetric, widen):
    x = _array(seed, shape)
    scale, zero_point = compress.quant_params(x / widen, 8, symmetric)  # widen > 1: some values clamp
    dtype = torch.qint8 if symmetric else torch.quint8
    qt = torch.quantize_per_tensor(torch.from_numpy(x), scale, zero_point, dtype)
    ours = compress.quantize(x, scale, zero_point, 8, symmetric)
    assert ours.dtype == (np.int8 if symmetric else np.uint8) and ours.shape == x.shape
    _assert_codes_match(ours, qt.int_repr().numpy(), x, scale, zero_point)
    np.testing.assert_allclose(compress.dequantize(qt.int_repr().numpy(), scale, zero_point), qt.dequantize().numpy(),
                               rtol=1e-6, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple), seed=SEEDS, symmetric=st.booleans(),
       data=st.data())
def test_quantize_per_channel_matches_torch(shape, seed, symmetric, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = _array(seed, shape, spread_axis=axis)
    scale, zero_point = compress.quant_params(x, 8, symmetric, axis=axis)
    expected_shape = tuple(n if a == axis else 1 for a, n in enumerate(shape))
    assert scale.shape == zero_point.shape == expected_shape
    assert scale.dtype == np.float64 and zero_point.dtype == np.int64
    qt = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scale.ravel()),
                                    torch.from_numpy(zero_point.ravel()), axis,
                                    torch.qint8 if symmetric else torch.quint8)
    ours = compress.quantize(x, scale, zero_point, 8, symmetric)
    _assert_codes_match(ours, qt.int_repr().numpy(), x, scale, zero_point)
    np.testing.assert_allclose(compress.dequantize(ours, scale, zero_point),
                               torch.dequantize(qt).numpy(), rtol=1e-6, atol=1e-6 * float(scale.max()))


def test_ties_round_to_even_like_torch():
    x = ((np.arange(-8, 9) + 0.5) * 0.25).astype(np.float32)  # x / 0.25 = -7.5 ... 8.5, exact in binary
    for symmetric, dtype, zp in ((True, torch.qint8, 0), (False, torch.quint8, 100)):
        expected = torch.quantize_per_tensor(torch.from_numpy(x), 0.25, zp, dtype).int_repr().numpy()
        np.testing.assert_array_equal(compress.quantize(x, 0.25, zp, 8, symmetric), expected)
    np.testing.assert_array_equal(compress.quantize(np.array([0.5, 1.5, 2.5, -0.5, -2.5]), 1.0, 0, symmetric=True),
                                  [0, 2, 2, 0, -2])


@pytest.mark.skipif(not hasattr(torch.ao.quantization, "PerChannelMinMaxObserver"), reason="observers removed")
@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple), seed=SEEDS, per_channel=st.booleans())
def test_affine_params_match_torch_observers(shape, seed, per_channel):
    """Affine quant_params is torch's MinMaxObserver / PerChannelMinMaxObserver for quint8."""
    x = _array(seed, shape, spread_axis=0)
    q = torch.ao.quantization
    observer = (q.PerChannelMinMaxObserver(ch_axis=0, dtype=torch.quint8, qscheme=torch.per_channel_affine)
                if per_channel else q.MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine))
    observer(torch.from_numpy(x))
    t_scale, t_zp = (t.numpy() for t in observer.calculate_qparams())
    scale, zero_point = compress.quant_params(x, 8, symmetric=False, axis=0 if per_channel else None)
    np.testing.assert_allclose(np.ravel(scale), t_scale.ravel(), rtol=1e-5)
    assert np.abs(np.ravel(zero_point) - t_zp.ravel()).max() <= 1  # float32 rounding at ties, else equal
    assert np.mean(np.ravel(zero_point) == t_zp.ravel()) >= 0.8


def test_symmetric_params_use_127_not_127_5():
    """Documented difference from torch's symmetric observer (max / 127.5): ±max|x| map to ±127 exactly."""
    x = np.array([-2.0, 0.5, 1.27])
    scale, zero_point = compress.quant_params(x, symmetric=True)
    assert scale == pytest.approx(2.0 / 127) and zero_point == 0
    np.testing.assert_array_equal(compress.quantize(x, scale, zero_point, symmetric=True), [-127, 32, 81])
    scale4, _ = compress.quant_params(x, bits=4, symmetric=True)
    assert scale4 == pytest.approx(2.0 / 7)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=SEEDS, bits=st.sampled_from([2, 3, 4, 8, 12, 16]), symmetric=st.booleans(),
       per_channel=st.booleans())
def test_round_trip_error_is_at_most_half_a_step(shape, seed, bits, symmetric, per_channel):
    x = _array(seed, shape, dtype=np.float64, spread_axis=0)
    axis = 0 if per_channel else None
    scale, zero_point = compress.quant_params(x, bits, symmetric, axis)
    q = compress.quantize(x, scale, zero_point, bits, symmetric)
    qmin, qmax = compress.qrange(bits, symmetric)
    assert q.min() >= qmin and q.max() <= qmax
    back = compress.dequantize(q, scale, zero_point).astype(np.float64)
    bound = np.broadcast_to(scale, x.shape) * (0.5 + 1e-5) + 1e-6 * np.abs(x)
    assert np.all(np.abs(back - x) <= bound)
    np.testing.assert_allclose(compress.fake_quantize(x, bits, symmetric, axis), back, rtol=1e-6, atol=1e-7)
    assert compress.fake_quantize(x.astype(np.float32), bits, symmetric, axis).dtype == np.float32


def test_zero_is_exact_and_range_contains_zero():
    x = np.array([0.5, 1.0, 2.0, 0.0])  # all >= 0: lo becomes 0
    scale, zero_point = compress.quant_params(x)
    assert zero_point == 0 and scale == pytest.approx(2.0 / 255)
    assert compress.fake_quantize(x)[3] == 0.0
    x = np.array([-3.0, -1.0, 0.0])  # all <= 0: hi becomes 0, zero point at the top
    scale, zero_point = compress.quant_params(x)
    assert zero_point == 255 and compress.fake_quantize(x)[2] == 0.0
    assert compress.quant_params(np.zeros((2, 3))) == (1.0, 0)
    s, z = compress.quant_params(np.zeros((2, 3)), axis=1, symmetric=True)
    np.testing.assert_array_equal(s, np.ones((1, 3)))
    np.testing.assert_array_equal(z, np.zeros((1, 3)))


def test_dequantize_uint8_below_zero_point_does_not_wrap():
    q = np.array([0, 64, 255], dtype=np.uint8)
    np.testing.assert_allclose(compress.dequantize(q, 0.5, 64), [-32.0, 0.0, 95.5])
    assert compress.dequantize(q, 0.5, 64).dtype == np.float32


def test_qrange():
    assert compress.qrange(8, True) == (-128, 127) and compress.qrange(8) == (0, 255)
    assert compress.qrange(2, True) == (-2, 1) and compress.qrange(16) == (0, 65535)


@pytest.mark.parametrize("call, match", [
    (lambda: compress.quant_params(np.ones(3), bits=1), "bits"),
    (lambda: compress.quant_params(np.ones(3), bits=17), "bits"),
    (lambda: compress.quant_params(np.ones(3), bits=8.0), "bits"),
    (lambda: compress.quant_params(np.ones((2, 2)), axis=2), "axis"),
    (lambda: compress.quant_params(np.ones((2, 2)), axis=1.0), "axis"),
    (lambda: compress.quant_params(np.arange(3), 8), "floating-point"),
    (lambda: compress.quant_params(np.array([1.0, np.nan])), "NaN"),
    (lambda: compress.quant_params(np.zeros(0)), "empty"),
    (lambda: compress.quantize(np.ones(3), 0.0, 0), "scale"),
    (lambda: compress.quantize(np.ones(3), -1.0, 0), "scale"),
    (lambda: compress.quantize(np.ones(3), 0.1, 300), "zero_point"),
    (lambda: compress.quantize(np.ones(3), 0.1, 1.5), "zero_point"),
    (lambda: compress.quantize(np.ones(3), 0.1, -1), "zero_point"),
    (lambda: compress.quantize(np.ones((2, 3)), np.ones(2), 0), r"scale of shape \(2,\) does not broadcast"),
    (lambda: compress.dequantize(np.ones(3), 0.1, 0), "integer"),
])
def test_quantization_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- integer linear layer

def _int_layer(seed, n, d, f, per_channel):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n, d)), 0).astype(np.float32)  # ReLU outputs
    w = (rng.standard_normal((f, d)) * np.exp(rng.uniform(-2, 0, size=(f, 1)))).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    xs, xz = compress.quant_params(x)
    ws, wz = compress.quant_params(w, symmetric=True, axis=0 if per_channel else None)
    y = x @ w.T + b
    ys, yz = compress.quant_params(y)
    xq, wq = compress.quantize(x, xs, xz), compress.quantize(w, ws, wz, symmetric=True)
    return x, w, b, y, (xq, wq, xs, xz, ws, wz, b, ys, yz)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 20), d=st.integers(1, 64), f=st.integers(1, 12), per_channel=st.booleans())
def test_quantized_linear_is_the_integer_form_of_the_float_layer(seed, n, d, f, per_channel):
    x, w, b, y, args = _int_layer(seed, n, d, f, per_channel)
    xq, wq, xs, xz, ws, wz, _, ys, yz = args
    yq = compress.quantized_linear(*args)
    assert yq.shape == (n, f) and yq.dtype == np.uint8
    # the same arithmetic in float64 (exact for these integers); only the last rounding may differ by 1
    ws_f = np.broadcast_to(np.ravel(ws), (f,))
    acc = (xq.astype(np.float64) - xz) @ (wq.astype(np.float64) - np.ravel(wz)[:, None]).T
    acc += np.rint(b / (xs * ws_f))
    expected = np.clip(np.rint(acc * xs * ws_f / ys) + yz, 0, 255)
    assert np.abs(yq.astype(np.int64) - expected).max() <= 1
    # and close to the float layer: output rounding plus the propagated input/weight rounding
    x_hat = compress.dequantize(xq, xs, xz).astype(np.float64)
    w_hat = compress.dequantize(wq, ws, wz).astype(np.float64)
    propagated = np.abs(x_hat - x) @ np.abs(w.T) + np.abs(x_hat) @ np.abs(w_hat - w).T + 0.5 * xs * ws_f
    in_range = (y >= -yz * ys) & (y <= (255 - yz) * ys)
    err = np.abs(compress.dequantize(yq, ys, yz) - y)
    assert np.all(err[in_range] <= (ys + propagated + 1e-5)[in_range])


def test_quantized_linear_errors():
    xq, wq = np.zeros((2, 3), np.uint8), np.zeros((4, 5), np.int8)
    with pytest.raises(ValueError, match="D=3 features but w_q expects 5"):
        compress.quantized_linear(xq, wq, 0.1, 0, 0.1, 0, None, 0.1, 0)
    with pytest.raises(ValueError, match="integer"):
        compress.quantized_linear(xq.astype(float), wq[:, :3], 0.1, 0, 0.1, 0, None, 0.1, 0)
    big = np.full((1, 70_000), 255, np.uint8)
    with pytest.raises(ValueError, match="overflow"):
        compress.quantized_linear(big, np.full((1, 70_000), 127, np.int8), 1.0, 0, 1.0, 0, None, 1e6, 0)


# --------------------------------------------------------------------------- pruning

@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=SEEDS, sparsity=st.floats(0, 1), ties=st.booleans())
def test_magnitude_prune_exact_sparsity_and_ranking(shape, seed, sparsity, ties):
    w = _array(seed, shape, dtype=np.float64)
    if ties:
        w = np.round(w)
    mask = compress.magnitude_prune(w, sparsity)
    assert mask.dtype == bool and mask.shape == w.shape
    assert (~mask).sum() == round(sparsity * w.size)
    kept, pruned = np.abs(w[mask]), np.abs(w[~mask])
    if kept.size and pruned.size:
        assert pruned.max() <= kept.min()
    # ties: among equal magnitudes at the threshold, the earlier positions are pruned
    flat_mask, flat = mask.ravel(), np.abs(w).ravel()
    if pruned.size and kept.size:
        boundary = np.flatnonzero(flat == pruned.max())
        assert np.all(np.diff(flat_mask[boundary].astype(int)) >= 0)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n_layers=st.integers(1, 4), sparsity=st.floats(0, 1))
def test_magnitude_prune_global_uses_one_threshold(seed, n_layers, sparsity):
    rng = np.random.default_rng(seed)
    layers = [rng.standard_normal(tuple(rng.integers(1, 6, size=2))) * np.exp(rng.uniform(-3, 1))
              for _ in range(n_layers)]
    masks = compress.magnitude_prune(layers, sparsity)
    assert isinstance(masks, list) and [m.shape for m in masks] == [w.shape for w in layers]
    total = sum(w.size for w in layers)
    assert sum(int((~m).sum()) for m in masks) == round(sparsity * total)
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(layers, masks, strict=True)])
    pruned = np.concatenate([np.abs(w[~m]) for w, m in zip(layers, masks, strict=True)])
    if kept.size and pruned.size:
        assert pruned.max() <= kept.min()
    single = compress.magnitude_prune([layers[0]], sparsity)
    np.testing.assert_array_equal(single[0], compress.magnitude_prune(layers[0], sparsity))


def test_magnitude_prune_known_values_and_errors():
    w = np.array([0.5, -2.0, 0.1, 3.0, -0.3])
    np.testing.assert_array_equal(compress.magnitude_prune(w, 0.4), [True, True, False, True, False])
    zeros = np.array([0.0, 0.0, 1.0, 0.0, -1.0, 0.0])
    np.testing.assert_array_equal(compress.magnitude_prune(zeros, 0.5), [False, False, True, False, True, True])
    assert compress.magnitude_prune(w, 0).all() and not compress.magnitude_prune(w, 1).any()
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="sparsity"):
            compress.magnitude_prune(w, bad)
    with pytest.raises(ValueError, match="NaN"):
        compress.magnitude_prune(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ValueError, match="numpy array"):
        compress.magnitude_prune([], 0.5)


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple), seed=SEEDS,
       keep_ratio=st.floats(0.01, 1), signs=st.booleans())
def test_channel_prune_mask_keeps_largest_l1(shape, seed, keep_ratio, signs):
    w = _array(seed, shape, dtype=np.float64, spread_axis=0)
    if signs:
        w = np.sign(w)  # equal norms everywhere
    keep = compress.channel_prune_mask(w, keep_ratio)
    assert keep.dtype == bool and keep.shape == (shape[0],)
    assert keep.sum() == max(1, round(keep_ratio * shape[0]))
    norms = np.abs(w).reshape(shape[0], -1).sum(axis=1)
    if (~keep).any():
        assert norms[~keep].max() <= norms[keep].min()
        tied = np.flatnonzero(norms == norms[~keep].max())  # ties: lower indices kept first
        assert np.all(np.diff(keep[tied].astype(int)) <= 0)


def test_channel_prune_mask_known_values_and_errors():
    l1_vs_l2 = np.array([[3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(compress.channel_prune_mask(l1_vs_l2, 0.5), [False, True])
    ties = np.array([[1.0, -1.0], [2.0, 0.0], [0.0, -2.0], [0.5, 0.5]])
    np.testing.assert_array_equal(compress.channel_prune_mask(ties, 0.5), [True, True, False, False])
    assert compress.channel_prune_mask(np.ones((6, 2, 3, 3)), 0.01).sum() == 1
    for bad in (0.0, 1.2, -0.5, True):
        with pytest.raises(ValueError, match="keep_ratio"):
            compress.channel_prune_mask(np.ones((3, 2)), bad)
    with pytest.raises(ValueError, match="at least 2 dims"):
        compress.channel_prune_mask(np.ones(3), 0.5)


# --------------------------------------------------------------------------- distillation

def torch_distillation(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean")
    return soft * T * T * alpha + (1 - alpha) * F.cross_entropy(s, y)


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 8), k=st.integers(2, 10), T=st.floats(0.5, 20), alpha=st.floats(0, 1),
       spread=st.sampled_from([1.0, 5.0, 100.0]))
def test_distillation_loss_and_gradient_match_torch(seed, n, k, T, alpha, spread):
    rng = np.random.default_rng(seed)
    s, t = rng.standard_normal((n, k)) * spread, rng.standard_normal((n, k)) * spread
    y = rng.integers(0, k, size=n)
    st_ = torch.from_numpy(s).requires_grad_()
    expected = torch_distillation(st_, torch.from_numpy(t), torch.from_numpy(y), T, alpha)
    expected.backward()
    loss = compress.distillation_loss(s, t, y, T, alpha)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected.item(), rel=1e-9, abs=1e-10)
    grad = compress.distillation_loss_backward(1.0, s, t, y, T, alpha)
    np.testing.assert_allclose(grad, st_.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(compress.distillation_loss_backward(2.5, s, t, y, T, alpha), 2.5 * grad)


def test_distillation_gradcheck_and_t_squared():
    rng = np.random.default_rng(0)
    s, t, y = rng.standard_normal((4, 5)), 3 * rng.standard_normal((4, 5)), rng.integers(0, 5, size=4)
    errors = gradcheck(lambda student_logits: compress.distillation_loss(student_logits, t, y, 3.0, 0.7),
                       {"student_logits": s}, {"student_logits": compress.distillation_loss_backward(1.0, s, t, y, 3.0,
                                                                                                   0.7)}, None)
    assert max(errors.values()) < 1e-7
    # alpha = 1: the loss is T² times the KL divergence of the softened distributions
    kl = compress.distillation_loss(s, t, y, T=1.0, alpha=1.0)
    assert compress.distillation_loss(s / 2, t / 2, y, T=1.0, alpha=1.0) * 4 == pytest.approx(
        compress.distillation_loss(s, t, y, T=2.0, alpha=1.0))
    assert compress.distillation_loss(s, s, y, alpha=1.0) == pytest.approx(0.0, abs=1e-12) and kl > 0
    # alpha = 0: plain cross-entropy, whatever T
    ce = F.cross_entropy(torch.from_numpy(s), torch.from_numpy(y)).item()
    assert compress.distillation_loss(s, t, y, T=7.0, alpha=0.0) == pytest.approx(ce)


def test_distillation_is_stable_for_huge_logits():
    s, t = np.array([[0.0, 1.0, -1.0]]), np.array([[1000.0, -1000.0, 0.0]])
    loss = compress.distillation_loss(s, t, np.array([0]), T=1.0, alpha=0.5)
    assert np.isfinite(loss)
    assert np.isfinite(compress.distillation_loss_backward(1.0, s, t, np.array([0]), T=1.0, alpha=0.5)).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"teacher_logits": np.zeros((2, 4))}, "teacher_logits has shape"),
    ({"labels": np.array([0, 3, 1])}, "labels must be"),
    ({"labels": np.array([0, 1])}, "labels must be"),
    ({"labels": np.array([0.0, 1.0, 2.0])}, "labels must be"),
    ({"T": 0.0}, "T must be"),
    ({"alpha": 1.5}, "alpha must be"),
    ({"student_logits": np.zeros(3)}, r"\(N, K\)"),
])
def test_distillation_errors(kwargs, match):
    args = {"student_logits": np.zeros((3, 3)), "teacher_logits": np.zeros((3, 3)), "labels": np.array([0, 1, 2])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        compress.distillation_loss(**args)


# --------------------------------------------------------------------------- fast convolution

@st.composite
def stride1_cases(draw, kernel=None):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = (kernel, kernel) if kernel else (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))))
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    h, w = draw(st.integers(max(1, kh - 2 * ph), 13)), draw(st.integers(max(1, kw - 2 * pw), 13))
    rng = np.random.default_rng(draw(SEEDS))
    bias = rng.standard_normal(f) if draw(st.booleans()) else None
    return rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)), bias, padding


@settings(max_examples=60, deadline=None)
@given(case=stride1_cases())
def test_conv2d_fft_matches_direct(case):
    x, w, b, padding = case
    expected = conv.conv2d(x, w, b, 1, padding)
    out = compress.conv2d_fft(x, w, b, padding)
    assert out.shape == expected.shape and out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(case=stride1_cases(kernel=3))
def test_winograd_matches_direct(case):
    x, w, b, padding = case
    expected = conv.conv2d(x, w, b, 1, padding)
    out = compress.winograd_f2x2_3x3(x, w, b, padding)
    assert out.shape == expected.shape and out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-10)


def test_fast_convs_float32_and_torch():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 8, 17, 12)).astype(np.float32), rng.standard_normal((5, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1).numpy()
    for fn in (compress.winograd_f2x2_3x3, compress.conv2d_fft):
        out = fn(x, w, b, 1)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_winograd_one_tile_16_multiplies():
    """F(2×2, 3×3) on one 4×4 tile: the element-wise product of two 4×4 matrices (16 multiplies) gives the
    same 2×2 outputs as 36 direct multiplies."""
    bt, g, at = compress.WINOGRAD_BT, compress.WINOGRAD_G, compress.WINOGRAD_AT
    assert bt.shape == (4, 4) and g.shape == (4, 3) and at.shape == (2, 4)
    assert not bt.flags.writeable
    rng = np.random.default_rng(0)
    d, k = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    m = (g @ k @ g.T) * (bt @ d @ bt.T)
    assert m.size == 16 and 2 * 2 * k.size == 36
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * k) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(at @ m @ at.T, direct, atol=1e-12)
    assert set(np.unique(bt)) <= {-1.0, 0.0, 1.0} and set(np.unique(at)) <= {-1.0, 0.0, 1.0}  # additions only


def test_fast_conv_errors():
    x = np.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match="3×3"):
        compress.winograd_f2x2_3x3(x, np.zeros((1, 2, 5, 5)))
    for fn in (compress.winograd_f2x2_3x3, compress.conv2d_fft):
        with pytest.raises(ValueError, match="channels"):
            fn(x, np.zeros((1, 3, 3, 3)))
        with pytest.raises(ValueError, match="does not fit"):
            fn(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 3, 3)))
        with pytest.raises(ValueError, match="padding"):
            fn(x, np.zeros((1, 2, 3, 3)), padding=-1)


# --------------------------------------------------------------------------- sizes

def test_model_size_bytes():
    model = LeNet5(batch_norm=True)
    n_float = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for b in model.buffers() if b.is_floating_point())
    assert compress.model_size_bytes(model) == 4 * n_float == 250_440
    assert compress.model_size_bytes(model, bits=16) == 2 * n_float
    arrays = [np.array([0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0]), np.zeros(3, np.float32)]
    assert compress.model_size_bytes(arrays, bits=8) == 9 + 3
    assert compress.model_size_bytes(arrays, bits=4, n_scales=2) == 5 + 2 + 16  # ceil(9·4/8) + ceil(3·4/8)
    assert compress.model_size_bytes(arrays, sparse=True) == 3 * 4 + 2 + 0 + 1  # values + bitmaps
    assert compress.model_size_bytes([np.arange(5)]) == 0  # integer bookkeeping is not counted
    with pytest.raises(ValueError, match="bits"):
        compress.model_size_bytes(arrays, bits=0)


# --------------------------------------------------------------------------- the exercise specifications

NAMES = ["quant_params", "quantize", "dequantize", "magnitude_prune", "channel_prune_mask", "distillation_loss",
         "winograd_f2x2_3x3"]


@pytest.mark.parametrize("name", NAMES)
def test_exercise_specs_are_consistent(name):
    """The references pass their own visible and hidden cases (with nothing switched off): every expected
    ValueError is raised, and no case triggers a numpy warning."""
    ex = dataclasses.replace(EXERCISES[name], forbid=())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (overflow, invalid) in any case
        run_exercise(ex, ex.reference, quiet=True)
        for seed in (0, 1):
            run_exercise(ex, ex.reference, hidden=True, seed=seed, quiet=True)


def test_student_checks_block_the_reference():
    from course_lib.testing import CheckFailure, check_quantize

    with pytest.raises(CheckFailure, match="course_lib.reference.compress"):
        check_quantize(lambda x, scale, zero_point, bits=8, symmetric=False: compress.quantize(
            x, scale, zero_point, bits, symmetric))
