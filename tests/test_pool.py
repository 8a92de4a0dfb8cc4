"""course_lib.reference.pool against torch.nn.functional (forward and autograd) and numerical gradients."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import gradcheck
from course_lib.reference import pool


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@st.composite
def pool_cases(draw):
    """(x, kernel_size, stride or None, padding) valid for torch: padding <= kernel / 2, output >= 1."""
    kernel = draw(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    kh, kw = _pair(kernel)
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(
        st.one_of(st.integers(0, min(kh, kw) // 2), st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)))
    )
    ph, pw = _pair(padding)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), 10))
    w = draw(st.integers(max(1, kw - 2 * pw), 10))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((n, c, h, w))
    return x, kernel, stride, padding


PAIRS = [
    (pool.max_pool2d, pool.max_pool2d_backward, F.max_pool2d),
    (pool.avg_pool2d, pool.avg_pool2d_backward, F.avg_pool2d),
]
IDS = ["max", "avg"]


def check_against_torch(forward, backward, torch_fn, x, kernel, stride, padding, seed=0):
    xt = torch.from_numpy(x).requires_grad_()
    out = torch_fn(xt, kernel, stride, padding)
    np.testing.assert_allclose(forward(x, kernel, stride, padding), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(torch.from_numpy(dout))
    dx = backward(dout, x, kernel, stride, padding)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("forward, backward, torch_fn", PAIRS, ids=IDS)
@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_pool_matches_torch(forward, backward, torch_fn, case):
    check_against_torch(forward, backward, torch_fn, *case)


@pytest.mark.parametrize("forward, backward, torch_fn", PAIRS, ids=IDS)
@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [
        ((2, 3, 13, 13), 3, 2, 0),  # AlexNet overlapping pooling
        ((2, 3, 12, 11), 3, 2, 1),  # overlapping + padding (ResNet stem)
        ((1, 2, 8, 8), 2, None, 0),  # stride defaults to kernel_size
        ((1, 2, 7, 9), (3, 2), (1, 2), (1, 1)),
    ],
)
def test_pool_named_cases(forward, backward, torch_fn, shape, kernel, stride, padding):
    x = np.random.default_rng(1).standard_normal(shape)
    check_against_torch(forward, backward, torch_fn, x, kernel, stride, padding)


def test_max_pool_backward_accumulates_on_overlap():
    x = np.zeros((1, 1, 3, 5))
    x[0, 0, 1, 2] = 1.0  # the max of both overlapping 3x3 windows (stride 2)
    dx = pool.max_pool2d_backward(np.ones((1, 1, 1, 2)), x, 3, 2)
    assert dx[0, 0, 1, 2] == 2.0 and dx.sum() == 2.0


def test_max_pool_backward_ties_go_to_first_max_like_torch():
    x = np.ones((1, 1, 4, 4))
    xt = torch.from_numpy(x).requires_grad_()
    F.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(pool.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2), xt.grad.numpy())


@pytest.mark.parametrize("name", ["max", "avg"])
def test_pool_backward_gradcheck(name):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 7, 7))
    forward, backward = {"max": PAIRS[0][:2], "avg": PAIRS[1][:2]}[name]
    dout = rng.standard_normal(forward(x, 3, 2, 1).shape)
    dx = backward(dout, x, 3, 2, 1)
    errors = gradcheck(lambda x: forward(x, 3, 2, 1), {"x": x}, {"x": dx}, dout)
    assert errors["x"] < 1e-7


def test_max_pool_integer_and_float32_inputs():
    x = np.arange(16, dtype=np.int64).reshape(1, 1, 4, 4) - 8
    np.testing.assert_array_equal(
        pool.max_pool2d(x, 2, padding=1), F.max_pool2d(torch.from_numpy(x).double(), 2, padding=1).numpy()
    )
    x32 = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    assert pool.max_pool2d(x32, 2).dtype == pool.avg_pool2d(x32, 2).dtype == np.float32


# --- global, adaptive and pyramid pooling --------------------------------------------------------


def test_global_avg_pool2d():
    x = np.random.default_rng(3).standard_normal((2, 5, 7, 3))
    out = pool.global_avg_pool2d(x)
    assert out.shape == (2, 5, 1, 1)
    np.testing.assert_allclose(out, F.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy(), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    output_size=st.one_of(st.integers(1, 7), st.tuples(st.integers(1, 7), st.integers(1, 7))),
)
def test_adaptive_pools_match_torch(h, w, output_size):
    x = np.random.default_rng(h * 100 + w).standard_normal((2, 3, h, w))
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(
        pool.adaptive_max_pool2d(x, output_size), F.adaptive_max_pool2d(xt, output_size).numpy()
    )
    np.testing.assert_allclose(
        pool.adaptive_avg_pool2d(x, output_size), F.adaptive_avg_pool2d(xt, output_size).numpy(), rtol=1e-12
    )


def test_adaptive_pool_none_keeps_input_size():
    x = np.random.default_rng(4).standard_normal((1, 2, 5, 6))
    out = pool.adaptive_avg_pool2d(x, (None, 3))
    np.testing.assert_allclose(out, F.adaptive_avg_pool2d(torch.from_numpy(x), (None, 3)).numpy(), rtol=1e-12)
    assert out.shape == (1, 2, 5, 3)


def torch_spp(x, levels, mode, bins="adaptive"):
    """The pyramid composed from torch: adaptive pools, or max/avg_pool2d with SPP-net's windows."""
    xt, parts = torch.from_numpy(x), []
    h, w = x.shape[-2:]
    for n in levels:
        if bins == "adaptive":
            fn = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
            parts.append(fn(xt, n).flatten(1))
        else:
            fn = F.max_pool2d if mode == "max" else F.avg_pool2d
            kernel, stride = (math.ceil(h / n), math.ceil(w / n)), (h // n, w // n)
            parts.append(fn(xt, kernel, stride).flatten(1))
    return torch.cat(parts, 1).numpy()


def paper_windows_fit(size, n):
    """SPP-net's ⌈a/n⌉ windows with stride ⌊a/n⌋ give exactly n bins."""
    return size >= n and (size - math.ceil(size / n)) // (size // n) + 1 == n


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("hw", [(4, 4), (13, 13), (7, 10), (32, 21), (1, 1), (3, 2)])
def test_spatial_pyramid_pool_adaptive_matches_torch_and_has_fixed_length(mode, hw):
    x = np.random.default_rng(5).standard_normal((2, 3, *hw))
    out = pool.spatial_pyramid_pool(x, levels=(1, 2, 4), bins="adaptive", mode=mode)
    assert out.shape == (2, 3 * 21)
    np.testing.assert_allclose(out, torch_spp(x, (1, 2, 4), mode), rtol=1e-12)
    np.testing.assert_allclose(
        pool.spatial_pyramid_pool(x, levels=[3, 1], bins="adaptive", mode=mode), torch_spp(x, (3, 1), mode),
        rtol=1e-12,
    )


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), levels=st.lists(st.integers(1, 7), min_size=1, max_size=4),
       mode=st.sampled_from(["max", "avg"]))
def test_spatial_pyramid_pool_paper_windows_match_torch_max_pool2d(h, w, levels, mode):
    x = np.random.default_rng(h * 100 + w).standard_normal((2, 3, h, w))
    if all(paper_windows_fit(h, n) and paper_windows_fit(w, n) for n in levels):
        out = pool.spatial_pyramid_pool(x, levels, bins="paper", mode=mode)
        assert out.shape == (2, 3 * sum(n * n for n in levels))
        # (atol: an average summed in another order differs in the last bits of a value near zero)
        np.testing.assert_allclose(out, torch_spp(x, levels, mode, bins="paper"), rtol=1e-12, atol=1e-15)
    else:
        with pytest.raises(ValueError, match="bins='adaptive'"):
            pool.spatial_pyramid_pool(x, levels, bins="paper", mode=mode)


def test_spatial_pyramid_pool_paper_setting_and_where_the_bins_differ():
    """SPP-net's 13×13 conv5 with levels (6, 3, 2, 1): 50 bins per channel, and here the paper's windows
    are exactly torch's adaptive bins. With H mod n ≥ 2 they differ: the paper's windows miss rows."""
    x = np.random.default_rng(7).standard_normal((1, 4, 13, 13))
    paper = pool.spatial_pyramid_pool(x)  # defaults: levels (6, 3, 2, 1), bins="paper"
    assert paper.shape == (1, 4 * 50)
    np.testing.assert_array_equal(paper, pool.spatial_pyramid_pool(x, bins="adaptive"))
    assert pool.spp_windows(13, 6) == (3, 2) and pool.spp_windows(13, 3) == (5, 4)
    # 14 rows, 4 bins: windows of 4 with stride 3 cover rows 0..12 only; the adaptive bins reach row 13
    y = np.zeros((1, 1, 14, 14))
    y[0, 0, 13, 13] = 1.0
    assert pool.spatial_pyramid_pool(y, (4,), bins="paper").max() == 0.0
    assert pool.spatial_pyramid_pool(y, (4,), bins="adaptive").max() == 1.0
    # the paper's 180-pixel network has 10×10 conv5 maps: level 6 would need 9 windows of 2 with stride 1
    with pytest.raises(ValueError, match=r"give 9; use bins='adaptive'"):
        pool.spatial_pyramid_pool(np.zeros((1, 1, 10, 10)))
    assert pool.spatial_pyramid_pool(np.zeros((1, 1, 10, 10)), bins="adaptive").shape == (1, 50)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [pool.max_pool2d, pool.avg_pool2d])
def test_pool_errors(fn):
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"padding should be at most half of kernel_size"):
        fn(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"padding should be at most half"):
        fn(x, (4, 2), padding=(2, 2))
    for torch_fn in (F.max_pool2d, F.avg_pool2d):  # torch refuses the same argument
        with pytest.raises(RuntimeError, match="pad should be at most half"):
            torch_fn(torch.zeros(1, 2, 5, 5), 3, padding=2)
    with pytest.raises(ValueError, match=r"kernel_size \(6, 6\) does not fit"):
        fn(x, 6)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        fn(x, 0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        fn(x, 2, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        fn(x, 2, padding=-1)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        fn(x, 2.5)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\), got shape \(2, 5, 5\)"):
        fn(x[0], 2)


@pytest.mark.parametrize("backward", [pool.max_pool2d_backward, pool.avg_pool2d_backward])
def test_pool_backward_checks_dout_shape(backward):
    with pytest.raises(ValueError, match=r"dout must have .* = \(1, 2, 2, 2\), got shape \(1, 2, 5, 5\)"):
        backward(np.zeros((1, 2, 5, 5)), np.zeros((1, 2, 5, 5)), 2)


def test_adaptive_and_spp_errors():
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match="output_size"):
        pool.adaptive_max_pool2d(x, 0)
    with pytest.raises(ValueError, match="output_size"):
        pool.adaptive_avg_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        pool.spatial_pyramid_pool(x, mode="sum")
    with pytest.raises(ValueError, match="bins"):
        pool.spatial_pyramid_pool(x, bins="fixed")
    for levels in [(), (0,), (1, 2.0), (True,)]:
        with pytest.raises(ValueError, match="levels"):
            pool.spatial_pyramid_pool(x, levels=levels)
    with pytest.raises(ValueError, match=r"x must have shape"):
        pool.global_avg_pool2d(np.zeros((5, 5)))


# --- L2 and stochastic pooling -------------------------------------------------------------------

@given(case=pool_cases())
@settings(max_examples=40, deadline=None)
def test_l2_pool2d_matches_torch_lp_pool2d(case):
    x, kernel, stride, _ = case
    assume(x.shape[2] >= _pair(kernel)[0] and x.shape[3] >= _pair(kernel)[1])  # no padding here
    expected = F.lp_pool2d(torch.from_numpy(x), 2, kernel, stride)  # (Σ x²)^(1/2): the sum, not the mean
    np.testing.assert_allclose(pool.l2_pool2d(x, kernel, stride), expected.numpy(), rtol=1e-10, atol=1e-12)


def test_l2_pool2d_is_the_root_of_the_sum_of_squares():
    x = np.array([[[[3.0, 4.0], [0.0, 0.0]]]])
    assert pool.l2_pool2d(x, 2)[0, 0, 0, 0] == 5.0  # sqrt(9 + 16), not sqrt(25 / 4)


def _stochastic_torch(x, kernel, stride, training, u=None):
    """Zeiler & Fergus's definition written with torch: p = a / Σa per window; test time Σ p·a."""
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride or kernel)
    t = torch.from_numpy(x)
    n, c = t.shape[:2]
    cols = F.unfold(t.reshape(n * c, 1, *t.shape[2:]), (kh, kw), stride=(sh, sw))  # (N*C, KH*KW, L)
    total = cols.sum(1, keepdim=True)
    probs = torch.where(total > 0, cols / torch.where(total > 0, total, 1), 0)
    if not training:
        return (probs * cols).sum(1)
    return probs, cols


@given(case=pool_cases())
@settings(max_examples=40, deadline=None)
def test_stochastic_pool2d_test_time_is_the_expectation(case):
    x, kernel, stride, _ = case
    assume(x.shape[2] >= _pair(kernel)[0] and x.shape[3] >= _pair(kernel)[1])  # no padding here
    x = np.maximum(x, 0)  # after a ReLU: some windows are all zero
    out = pool.stochastic_pool2d(x, kernel, stride, training=False)
    expected = _stochastic_torch(x, kernel, stride, training=False)
    np.testing.assert_allclose(out.reshape(-1), expected.reshape(x.shape[0], x.shape[1], -1).numpy().reshape(-1),
                               rtol=1e-10, atol=1e-12)


def test_stochastic_pool2d_samples_follow_the_probabilities():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((3, 2, 6, 6)), 0)
    draws = np.stack([pool.stochastic_pool2d(x, 3, 3, rng=rng) for _ in range(4000)])  # (4000, N, C, 2, 2)
    probs, cols = _stochastic_torch(x, 3, 3, training=True)  # (N*C, 9, L)
    probs, cols = probs.numpy(), cols.numpy()
    flat = draws.reshape(4000, x.shape[0] * x.shape[1], -1)  # (draws, N*C, L)
    for (i, l) in np.ndindex(flat.shape[1:]):
        window, p = cols[i, :, l], probs[i, :, l]
        if window.sum() == 0:
            assert (flat[:, i, l] == 0).all()
            continue
        assert np.isin(flat[:, i, l], window).all()
        for value in np.unique(window[window > 0]):
            assert abs(np.mean(flat[:, i, l] == value) - p[window == value].sum()) < 0.04
    mean = draws.mean(axis=0)  # the expectation of the samples is the test-time output
    np.testing.assert_allclose(mean, pool.stochastic_pool2d(x, 3, 3, training=False), atol=0.08)


def test_stochastic_pool2d_seed_protocol_and_errors():
    x = np.abs(np.random.default_rng(1).standard_normal((2, 3, 4, 4)))
    np.testing.assert_array_equal(pool.stochastic_pool2d(x, 2, rng=5), pool.stochastic_pool2d(x, 2, rng=5))
    u = np.random.default_rng(5).random((2, 3, 2, 2))  # the stated protocol: one rng.random(out_shape)
    win = x.reshape(2, 3, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 4)
    cum = np.cumsum(win / win.sum(-1, keepdims=True), -1)
    idx = (cum <= u[..., None]).sum(-1)
    np.testing.assert_array_equal(pool.stochastic_pool2d(x, 2, rng=5),
                                  np.take_along_axis(win, idx[..., None], -1)[..., 0])
    assert pool.stochastic_pool2d(x.astype(np.float32), 2, rng=0).dtype == np.float32
    with pytest.raises(ValueError, match="non-negative"):
        pool.stochastic_pool2d(-x, 2)


def _choice_sampler(x, kernel_size, stride=None, training=True, rng=None):
    """A correct stochastic pooling that samples differently from the reference (Generator.choice per window)."""
    if (x < 0).any():
        raise ValueError("x must be non-negative")
    if not training:
        return pool.stochastic_pool2d(x, kernel_size, stride, training=False)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    gen = np.random.default_rng(rng)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    win = win.reshape(*win.shape[:4], -1)
    out = np.zeros(win.shape[:4], dtype=x.dtype)
    for idx in np.ndindex(out.shape):
        a = win[idx]
        if a.sum() > 0:
            out[idx] = gen.choice(a, p=a / a.sum())
    return out


def test_stochastic_pool2d_check_accepts_other_samplers_and_rejects_wrong_ones():
    import dataclasses

    from course_lib.testing import EXERCISES, CheckFailure, run_exercise

    ex = dataclasses.replace(EXERCISES["stochastic_pool2d"], forbid=())
    run_exercise(ex, _choice_sampler, quiet=True)
    run_exercise(ex, _choice_sampler, hidden=True, seed=1, quiet=True)

    def averages(x, kernel_size, stride=None, training=True, rng=None):
        return _choice_sampler(x, kernel_size, stride, training=False)

    def takes_max(x, kernel_size, stride=None, training=True, rng=None):
        averages(x, kernel_size, stride)  # validates x
        return averages(x, kernel_size, stride) if not training else pool.max_pool2d(x, kernel_size, stride)

    def fixed_seed(x, kernel_size, stride=None, training=True, rng=None):
        return _choice_sampler(x, kernel_size, stride, training, 0 if rng is None else rng)

    for wrong, says in [(averages, "picked"), (takes_max, "picked"), (fixed_seed, "rng=None")]:
        with pytest.raises(CheckFailure, match=says):
            run_exercise(ex, wrong, quiet=True)
