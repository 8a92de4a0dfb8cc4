"""course_lib.reference.norm against torch.nn.functional, torch autograd and numerical gradients."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import gradcheck
from course_lib.reference import norm

TOL = {"rtol": 1e-7, "atol": 1e-10}


def _t(a):
    return None if a is None else torch.from_numpy(a)


@st.composite
def bn_cases(draw):
    """(x, weight or None, bias or None) with x of shape (N, C), (N, C, L) or (N, C, H, W), >= 2 values/channel."""
    c = draw(st.integers(1, 4))
    spatial = draw(st.sampled_from([(), (3,), (2, 3)]))
    n = draw(st.integers(2 if not spatial else 1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = np.exp(rng.uniform(-2, 2, c)).reshape((1, c) + (1,) * len(spatial))
    x = rng.standard_normal((n, c, *spatial)) * scale + rng.uniform(-3, 3, scale.shape)
    weight = rng.standard_normal(c) if draw(st.booleans()) else None
    bias = rng.standard_normal(c) if draw(st.booleans()) else None
    return x, weight, bias


# --------------------------------------------------------------------------- batch norm


def _assert_param_grads(*pairs):
    """Each (our gradient, torch parameter) pair: None when the parameter is None, else equal grads."""
    for ours, theirs in pairs:
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-7, atol=1e-9)

@settings(max_examples=40, deadline=None)
@given(case=bn_cases(), momentum=st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]), eps=st.sampled_from([1e-5, 0.1, 1.0]),
       steps=st.integers(1, 4))
def test_batch_norm_train_and_running_stats_match_torch(case, momentum, eps, steps):
    x, weight, bias = case
    c = x.shape[1]
    rm, rv = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    for step in range(steps):  # several steps on drifting batches: the running stats accumulate
        xs = x * (1 + step) + step
        out = norm.batch_norm(xs, rm, rv, weight, bias, training=True, momentum=momentum, eps=eps)
        expected = F.batch_norm(_t(xs), trm, trv, _t(weight), _t(bias), training=True, momentum=momentum, eps=eps)
        np.testing.assert_allclose(out, expected.numpy(), **TOL)
        np.testing.assert_allclose(rm, trm.numpy(), **TOL)
        np.testing.assert_allclose(rv, trv.numpy(), **TOL)
    out = norm.batch_norm(x, rm, rv, weight, bias, training=False, eps=eps)  # evaluation: running stats
    expected = F.batch_norm(_t(x), trm, trv, _t(weight), _t(bias), training=False, eps=eps)
    np.testing.assert_allclose(out, expected.numpy(), **TOL)


def test_batch_norm_eval_changes_nothing_and_train_without_running_stats():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2, 2))
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    before = rm.copy(), rv.copy()
    norm.batch_norm(x, rm, rv, training=False)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    out = norm.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(out, F.batch_norm(_t(x), None, None, training=True).numpy(), **TOL)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batch_norm_keeps_float32_and_updates_float32_stats():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    trm, trv = torch.zeros(4), torch.ones(4)
    out = norm.batch_norm(x, rm, rv, training=True)
    expected = F.batch_norm(torch.from_numpy(x), trm, trv, training=True)
    assert out.dtype == rm.dtype == rv.dtype == np.float32
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-5)


def test_running_var_is_unbiased_and_momentum_is_torch_style():
    x = np.array([[0.0], [2.0]])  # m = 2 values: biased var 1, unbiased var 2
    rm, rv = np.zeros(1), np.ones(1)
    norm.batch_norm(x, rm, rv, training=True, momentum=1.0)
    assert rm[0] == pytest.approx(1.0) and rv[0] == pytest.approx(2.0)
    rm, rv = np.zeros(1), np.ones(1)
    norm.batch_norm(x, rm, rv, training=True, momentum=0.1)  # 0.9·old + 0.1·new (Keras would be 0.1·old)
    assert rm[0] == pytest.approx(0.1) and rv[0] == pytest.approx(0.9 + 0.2)


@settings(max_examples=40, deadline=None)
@given(case=bn_cases(), eps=st.sampled_from([1e-5, 0.1]), seed=st.integers(0, 2**32 - 1))
def test_batch_norm_backward_matches_torch_autograd(case, eps, seed):
    x, weight, bias = case
    xt = torch.from_numpy(x).requires_grad_()
    wt = None if weight is None else torch.from_numpy(weight).requires_grad_()
    bt = None if bias is None else torch.from_numpy(bias).requires_grad_()
    out = F.batch_norm(xt, None, None, wt, bt, training=True, eps=eps)
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    out.backward(torch.from_numpy(dout))
    dx, dw, db = norm.batch_norm_backward(dout, x, weight, bias, eps)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-6, atol=1e-9)
    _assert_param_grads((dw, wt), (db, bt))


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 2, 2)])
def test_batch_norm_backward_gradcheck(shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 2 + 1
    c = shape[1]
    w, b, dout = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(shape)
    dx, dw, db = norm.batch_norm_backward(dout, x, w, b)

    def f(x, weight, bias):
        return norm.batch_norm(x, None, None, weight, bias, training=True)

    errors = gradcheck(f, {"x": x, "weight": w, "bias": b}, {"x": dx, "weight": dw, "bias": db}, dout)
    assert max(errors.values()) < 1e-7, errors


def test_batch_norm_errors():
    x = np.zeros((4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"x has C=3 channels .* running_mean has shape \(2,\)"):
        norm.batch_norm(x, np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match=r"weight has shape \(4,\)"):
        norm.batch_norm(x, np.zeros(3), np.ones(3), weight=np.ones(4))
    with pytest.raises(ValueError, match="evaluation mode"):
        norm.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        norm.batch_norm(x, np.zeros(3), None, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        norm.batch_norm(np.zeros((1, 3, 1, 1)), np.zeros(3), np.ones(3), training=True)
    with pytest.raises(ValueError, match="momentum=None"):
        norm.batch_norm(x, np.zeros(3), np.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match="momentum must be"):
        norm.batch_norm(x, np.zeros(3), np.ones(3), training=True, momentum=1.5)
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        norm.batch_norm(x, frozen, np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        norm.batch_norm(np.zeros(3), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="numpy array"):
        norm.batch_norm(torch.zeros(4, 3), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="eps"):
        norm.batch_norm(x, np.zeros(3), np.ones(3), eps=-1)
    with pytest.raises(ValueError, match="dout"):
        norm.batch_norm_backward(np.zeros((4, 3)), x)


# --------------------------------------------------------------------------- layer norm

@st.composite
def ln_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, len(shape)))
    ns = shape[len(shape) - k:]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape) * np.exp(rng.uniform(-2, 2)) + rng.uniform(-3, 3)
    weight = rng.standard_normal(ns) if draw(st.booleans()) else None
    bias = rng.standard_normal(ns) if draw(st.booleans()) else None
    arg = ns[0] if k == 1 and draw(st.booleans()) else ns
    return x, arg, ns, weight, bias


@settings(max_examples=50, deadline=None)
@given(case=ln_cases(), eps=st.sampled_from([1e-5, 0.5]), seed=st.integers(0, 2**32 - 1))
def test_layer_norm_and_backward_match_torch(case, eps, seed):
    x, arg, ns, weight, bias = case
    xt = torch.from_numpy(x).requires_grad_()
    wt = None if weight is None else torch.from_numpy(weight).requires_grad_()
    bt = None if bias is None else torch.from_numpy(bias).requires_grad_()
    expected = F.layer_norm(xt, ns, wt, bt, eps)
    np.testing.assert_allclose(norm.layer_norm(x, arg, weight, bias, eps), expected.detach().numpy(), **TOL)
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    expected.backward(torch.from_numpy(dout))
    dx, dw, db = norm.layer_norm_backward(dout, x, arg, weight, bias, eps)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-6, atol=1e-9)
    _assert_param_grads((dw, wt), (db, bt))


def test_layer_norm_backward_gradcheck():
    rng = np.random.default_rng(0)  # (an unlucky seed can put a ~1e-5 gradient where finite differences are noisy)
    x = rng.standard_normal((3, 2, 4)) * 3
    w, b, dout = rng.standard_normal((2, 4)), rng.standard_normal((2, 4)), rng.standard_normal(x.shape)
    dx, dw, db = norm.layer_norm_backward(dout, x, (2, 4), w, b)

    def f(x, weight, bias):
        return norm.layer_norm(x, (2, 4), weight, bias)

    errors = gradcheck(f, {"x": x, "weight": w, "bias": b}, {"x": dx, "weight": dw, "bias": db}, dout)
    assert max(errors.values()) < 1e-7, errors


def test_layer_norm_errors():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"normalized_shape \(3,\) must equal the last dimensions"):
        norm.layer_norm(x, 3)
    with pytest.raises(ValueError, match="normalized_shape"):
        norm.layer_norm(x, (1, 2, 3, 4))
    with pytest.raises(ValueError, match="normalized_shape must be an int or a tuple"):
        norm.layer_norm(x, "4")
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        norm.layer_norm(x, 4, np.ones(3))
    assert norm.layer_norm(x.astype(np.float32), [3, 4]).dtype == np.float32


# --------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8])
def test_dropout_statistics_and_scaling(p):
    x = np.random.default_rng(4).uniform(0.5, 1.5, (200, 500))
    out = norm.dropout(x, p, rng=0)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)
    assert abs((~kept).mean() - p) < 0.005
    assert abs(out.mean() / x.mean() - 1) < 5 * np.sqrt(p / (1 - p) / x.size) + 1e-12  # expectation preserved
    # the same as torch's formula for this mask
    mask = torch.from_numpy(kept.astype(np.float64))
    np.testing.assert_allclose(out, (torch.from_numpy(x) * mask / (1 - p)).numpy(), rtol=1e-15)
    if p > 0:  # torch's own dropout has the same statistics
        t_out = F.dropout(torch.from_numpy(x), p, training=True)
        assert abs((t_out == 0).double().mean().item() - (~kept).mean()) < 0.01


def test_dropout_eval_is_identity_and_rng_reproducible():
    x = np.random.default_rng(5).standard_normal((3, 4, 5))
    assert norm.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(torch.from_numpy(x), 0.5, training=False).numpy(), x)
    np.testing.assert_array_equal(norm.dropout(x, 0.5, rng=7), norm.dropout(x, 0.5, rng=7))
    gen = np.random.default_rng(7)
    np.testing.assert_array_equal(norm.dropout(x, 0.5, rng=copy.deepcopy(gen)), norm.dropout(x, 0.5, rng=7))
    first, second = norm.dropout(x, 0.5, rng=gen), norm.dropout(x, 0.5, rng=gen)  # the generator advances
    assert not np.array_equal(first, second)
    assert not np.array_equal(norm.dropout(x, 0.5), norm.dropout(x, 0.5))  # rng=None: fresh randomness
    np.testing.assert_array_equal(norm.dropout_mask(x.shape, 0.5, 7), np.random.default_rng(7).random(x.shape) >= 0.5)
    assert norm.dropout(x.astype(np.float32), 0.3, rng=1).dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), p=st.sampled_from([0.0, 0.3, 0.5, 0.9]),
       seed=st.integers(0, 2**32 - 1), training=st.booleans())
def test_dropout_backward_matches_autograd_with_the_same_mask(shape, p, seed, training):
    rng = np.random.default_rng(seed)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    out = norm.dropout(x, p, training, rng=seed)
    mask = torch.from_numpy(out != 0) if training else torch.ones(shape, dtype=torch.bool)
    xt = torch.from_numpy(x).requires_grad_()
    (xt * mask / (1 - p) if training else xt).backward(torch.from_numpy(dout))
    dx = norm.dropout_backward(dout, x, p, training, rng=seed)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-15)
    errors = gradcheck(lambda x: norm.dropout(x, p, training, rng=seed), {"x": x}, {"x": dx}, dout)
    assert errors["x"] < 1e-7


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, True, "0.5"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        norm.dropout(np.ones(3), p)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        norm.dropout(np.ones(3), p, training=False)


# --------------------------------------------------------------------------- local response norm

@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 9), spatial=st.sampled_from([(3,), (2, 3), (2, 2, 2)]),
       size=st.integers(1, 8), alpha=st.sampled_from([1e-4, 0.1, 1.0]), beta=st.sampled_from([0.5, 0.75, 1.0]),
       k=st.sampled_from([0.5, 1.0, 2.0]), seed=st.integers(0, 2**32 - 1))
def test_local_response_norm_matches_torch(n, c, spatial, size, alpha, beta, k, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, *spatial)) * 3
    expected = F.local_response_norm(torch.from_numpy(x), size, alpha, beta, k).numpy()
    np.testing.assert_allclose(norm.local_response_norm(x, size, alpha, beta, k), expected, **TOL)


def test_local_response_norm_alexnet_paper_formula():
    """The paper sums over the window; torch (and we) average: alpha_torch = size * alpha_paper."""
    x = np.maximum(np.random.default_rng(6).standard_normal((2, 12, 4, 4)) * 10, 0)
    c = x.shape[1]
    paper = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i - 2), min(c - 1, i + 2)
        paper[:, i] = x[:, i] / (2 + 1e-4 * (x[:, lo:hi + 1] ** 2).sum(axis=1)) ** 0.75
    np.testing.assert_allclose(norm.local_response_norm(x, 5, 5e-4, 0.75, 2.0), paper, rtol=1e-12)
    assert norm.local_response_norm(x.astype(np.float32), 5).dtype == np.float32


def test_alexnet_lrn_uses_the_paper_setting():
    """AlexNet(lrn=True) carries the paper's α = 1e-4, i.e. torch's alpha = 5e-4 (divided by size 5)."""
    from course_lib.reference.architectures import alexnet

    lrns = [m for m in alexnet(10, lrn=True).features if isinstance(m, torch.nn.LocalResponseNorm)]
    assert len(lrns) == 2
    assert all((m.size, m.alpha, m.beta, m.k) == (5, 5e-4, 0.75, 2.0) for m in lrns)


def test_local_response_norm_errors():
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        norm.local_response_norm(np.ones((2, 5)), 3)
    for size in (0, 2.5, True):
        with pytest.raises(ValueError, match="size must be an int >= 1"):
            norm.local_response_norm(np.ones((1, 5, 2)), size)


def test_all_is_complete():
    public = {name for name in dir(norm) if not name.startswith("_") and callable(getattr(norm, name))
              and getattr(getattr(norm, name), "__module__", "") == norm.__name__}
    assert public == set(norm.__all__)
