"""course_lib.reference.losses against torch.nn.functional (forward and autograd), a transcription of
torchvision's focal loss, numerical gradients, and the errors' messages."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import gradcheck
from course_lib.reference import losses as L
from course_lib.testing import CheckFailure, check

reductions = st.sampled_from(["none", "mean", "sum"])
seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
SETTINGS = settings(max_examples=40, deadline=None)


def t(a):
    return torch.from_numpy(np.array(a))  # a copy; keeps 0-d arrays 0-d


def autograd(torch_fn, x, *args, seed=0, **kwargs):
    """(torch forward as numpy, dout, torch's d x) for a random upstream gradient."""
    xt = t(x).requires_grad_()
    out = torch_fn(xt, *args, **kwargs)
    dout = np.random.default_rng(seed).uniform(0.5, 2.0, tuple(out.shape))
    out.backward(t(dout))
    return out.detach().numpy(), (dout if out.ndim else float(dout)), xt.grad.numpy()


def assert_close(got, expected, rtol=1e-10, atol=1e-12):
    got = np.asarray(got)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- cross_entropy


@st.composite
def class_cases(draw):
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(seeds))
    x = draw(st.sampled_from([1.0, 5.0, 100.0])) * rng.standard_normal((n, k))
    return x, rng.integers(0, k, n)


@SETTINGS
@given(case=class_cases(), reduction=reductions, smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       ignore=st.sampled_from([None, 0, -100]), seed=seeds)
def test_cross_entropy_matches_torch(case, reduction, smoothing, ignore, seed):
    x, target = case
    if ignore == -100 and len(target) > 1:
        target = target.copy()
        target[0] = -100
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore is not None:
        kwargs["ignore_index"] = ignore
    expected, dout, dx = autograd(F.cross_entropy, x, t(target), seed=seed, **kwargs)
    assert_close(L.cross_entropy(x, target, **kwargs), expected)
    assert_close(L.cross_entropy_backward(dout, x, target, **kwargs), dx)


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    x, target = np.zeros((2, 3)), np.array([-100, -100])
    assert np.isnan(F.cross_entropy(t(x), t(target)).item())
    assert np.isnan(L.cross_entropy(x, target))
    assert_close(L.cross_entropy(x, target, reduction="sum"), 0.0)
    _, dout, dx = autograd(F.cross_entropy, x, t(target))
    assert_close(L.cross_entropy_backward(dout, x, target), dx)  # torch: zero gradient, not nan
    assert_close(dx, np.zeros((2, 3)))


def test_cross_entropy_is_stable_where_a_naive_softmax_is_not():
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]])
    target = np.array([0, 2])
    assert_close(L.cross_entropy(x, target, reduction="none"), [0.0, 1000.0])
    assert_close(L.cross_entropy(x, target, reduction="none"), F.cross_entropy(t(x), t(target), reduction="none"))
    assert_close(L.cross_entropy_backward(1.0, x, target), [[0, 0, 0], [0, 0.5, -0.5]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = -np.log(np.exp(x[0, 0]) / np.exp(x[0]).sum())
    assert np.isnan(naive)


def test_cross_entropy_float32_and_0d_results():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    target = np.array([0, 1, 3])
    assert L.cross_entropy(x, target).dtype == np.float32
    assert L.cross_entropy(x, target).shape == ()
    assert L.cross_entropy(x, target, reduction="none").dtype == np.float32
    assert L.cross_entropy_backward(1.0, x, target).dtype == np.float32
    assert_close(L.cross_entropy(x, target), F.cross_entropy(t(x), t(target)), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- binary cross-entropy with logits


@st.composite
def binary_cases(draw, soft=True, scale=(1.0, 5.0, 30.0)):
    shape = draw(shapes)
    rng = np.random.default_rng(draw(seeds))
    x = draw(st.sampled_from(scale)) * rng.standard_normal(shape)
    target = rng.uniform(0, 1, shape) if soft and draw(st.booleans()) else rng.integers(0, 2, shape).astype(float)
    return x, target, rng


@SETTINGS
@given(case=binary_cases(), reduction=reductions, use_pw=st.booleans(), use_w=st.booleans(), seed=seeds)
def test_bce_with_logits_matches_torch(case, reduction, use_pw, use_w, seed):
    x, target, rng = case
    kwargs = {"reduction": reduction}
    if use_pw:
        kwargs["pos_weight"] = rng.uniform(0.1, 5, x.shape[-1])
    if use_w:
        kwargs["weight"] = rng.uniform(0, 2, x.shape[-1:] if rng.random() < 0.5 else x.shape)
    torch_kwargs = {k: t(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    expected, dout, dx = autograd(F.binary_cross_entropy_with_logits, x, t(target), seed=seed, **torch_kwargs)
    assert_close(L.binary_cross_entropy_with_logits(x, target, **kwargs), expected)
    assert_close(L.binary_cross_entropy_with_logits_backward(dout, x, target, **kwargs), dx)


def test_bce_with_logits_at_huge_logits():
    x, target = np.array([1000.0, -1000.0, 1000.0, -1000.0]), np.array([1.0, 0.0, 0.0, 1.0])
    expected = F.binary_cross_entropy_with_logits(t(x), t(target), reduction="none").numpy()
    assert_close(L.binary_cross_entropy_with_logits(x, target, reduction="none"), expected)
    assert_close(expected, [0, 0, 1000, 1000])
    pw = np.array([2.0, 2.0, 2.0, 2.0])
    assert_close(L.binary_cross_entropy_with_logits(x, target, reduction="none", pos_weight=pw), [0, 0, 1000, 2000])
    assert_close(L.binary_cross_entropy_with_logits_backward(1.0, x, target, reduction="sum"), [0, 0, 1, -1])


# --------------------------------------------------------------------------- regression losses


@st.composite
def regression_cases(draw):
    shape = draw(shapes)
    rng = np.random.default_rng(draw(seeds))
    return draw(st.sampled_from([0.3, 1.0, 4.0])) * rng.standard_normal(shape), rng.standard_normal(shape)


@SETTINGS
@given(case=regression_cases(), reduction=reductions, seed=seeds)
def test_mse_and_l1_match_torch(case, reduction, seed):
    x, y = case
    for ours, back, theirs in [(L.mse_loss, L.mse_loss_backward, F.mse_loss),
                               (L.l1_loss, L.l1_loss_backward, F.l1_loss)]:
        expected, dout, dx = autograd(theirs, x, t(y), seed=seed, reduction=reduction)
        assert_close(ours(x, y, reduction=reduction), expected)
        assert_close(back(dout, x, y, reduction=reduction), dx)


@SETTINGS
@given(case=regression_cases(), reduction=reductions, beta=st.one_of(st.just(0.0), st.floats(0.01, 5.0)),
       seed=seeds)
def test_smooth_l1_matches_torch(case, reduction, beta, seed):
    x, y = case
    expected, dout, dx = autograd(F.smooth_l1_loss, x, t(y), seed=seed, reduction=reduction, beta=beta)
    assert_close(L.smooth_l1_loss(x, y, reduction=reduction, beta=beta), expected)
    assert_close(L.smooth_l1_loss_backward(dout, x, y, reduction=reduction, beta=beta), dx)


def test_smooth_l1_special_betas_and_kinks():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    zeros = np.zeros_like(x)
    assert_close(L.smooth_l1_loss(x, zeros, reduction="none", beta=0.0), L.l1_loss(x, zeros, reduction="none"))
    assert_close(L.smooth_l1_loss(x, zeros, reduction="none"), [2.5, 0.5, 0.125, 0, 0.125, 0.5, 2.5])
    # at the kinks (|d| = β, d = 0) the gradient follows torch's convention
    for beta in (0.0, 1.0, 0.5):
        _, dout, dx = autograd(F.smooth_l1_loss, x, t(zeros), reduction="sum", beta=beta)
        assert_close(L.smooth_l1_loss_backward(dout, x, zeros, reduction="sum", beta=beta), dx)


# --------------------------------------------------------------------------- focal loss


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """A direct transcription of torchvision.ops.sigmoid_focal_loss (torchvision is not installed)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


@SETTINGS
@given(case=binary_cases(scale=(1.0, 3.0, 8.0)), reduction=reductions,
       alpha=st.one_of(st.just(-1.0), st.just(0.25), st.floats(0, 1)),
       gamma=st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.5, 5)), seed=seeds)
def test_sigmoid_focal_loss_matches_torchvision(case, reduction, alpha, gamma, seed):
    x, target, _ = case
    expected, dout, dx = autograd(torchvision_sigmoid_focal_loss, x, t(target), alpha, gamma, reduction, seed=seed)
    assert_close(L.sigmoid_focal_loss(x, target, alpha, gamma, reduction), expected, rtol=1e-9)
    assert_close(L.sigmoid_focal_loss_backward(dout, x, target, alpha, gamma, reduction), dx, rtol=1e-8)


def test_focal_loss_special_cases():
    rng = np.random.default_rng(0)
    x, target = 3 * rng.standard_normal((4, 5)), (rng.random((4, 5)) < 0.3).astype(float)
    bce = L.binary_cross_entropy_with_logits(x, target, reduction="none")
    assert_close(L.sigmoid_focal_loss(x, target, alpha=-1, gamma=0), bce)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    assert_close(L.sigmoid_focal_loss(x, target, gamma=0), alpha_t * bce)
    assert np.all(L.sigmoid_focal_loss(x, target, alpha=-1) <= bce)
    huge, labels = np.array([1000.0, -1000.0, 1000.0, -1000.0]), np.array([1.0, 0.0, 0.0, 1.0])
    expected = torchvision_sigmoid_focal_loss(t(huge), t(labels)).numpy()
    assert_close(L.sigmoid_focal_loss(huge, labels), expected)
    assert_close(expected, [0, 0, 750, 250])
    assert np.all(np.isfinite(L.sigmoid_focal_loss_backward(np.ones(4), huge, labels)))


# --------------------------------------------------------------------------- multi-margin loss


@SETTINGS
@given(case=class_cases(), reduction=reductions, p=st.sampled_from([1, 2]), margin=st.floats(0, 3),
       use_w=st.booleans(), seed=seeds)
def test_multi_margin_matches_torch(case, reduction, p, margin, use_w, seed):
    x, target = case
    weight = np.random.default_rng(seed).uniform(0.1, 2, x.shape[1]) if use_w else None
    tw = None if weight is None else t(weight)
    expected, dout, dx = autograd(F.multi_margin_loss, x, t(target), p, margin, tw, reduction=reduction, seed=seed)
    assert_close(L.multi_margin_loss(x, target, p, margin, weight, reduction=reduction), expected)
    assert_close(L.multi_margin_loss_backward(dout, x, target, p, margin, weight, reduction=reduction), dx)


def test_multi_margin_cs231n_example():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    assert_close(3 * L.multi_margin_loss(scores, labels, reduction="none"), [2.9, 0.0, 12.9])


# --------------------------------------------------------------------------- numerical gradients


GRAD_CASES = ["cross_entropy", "bce", "bce_weighted", "mse", "l1", "smooth_l1", "focal", "focal_soft",
              "multi_margin_p1", "multi_margin_p2"]


def _grad_case(name, rng):
    """(forward, backward, x, target, options) for one loss, with x away from the loss's kinks."""
    x = rng.standard_normal((4, 5))
    labels = rng.integers(0, 5, 4)
    binary = (rng.random((4, 5)) < 0.4).astype(float)
    soft = rng.uniform(0, 1, (4, 5))
    y = rng.standard_normal((4, 5))
    cases = {
        "cross_entropy": (L.cross_entropy, L.cross_entropy_backward, labels, {"label_smoothing": 0.1}),
        "bce": (L.binary_cross_entropy_with_logits, L.binary_cross_entropy_with_logits_backward, binary, {}),
        "bce_weighted": (L.binary_cross_entropy_with_logits, L.binary_cross_entropy_with_logits_backward, soft,
                         {"pos_weight": rng.uniform(0.5, 3, 5), "weight": rng.uniform(0.5, 2, (4, 5))}),
        "mse": (L.mse_loss, L.mse_loss_backward, y, {}),
        "l1": (L.l1_loss, L.l1_loss_backward, y, {}),
        "smooth_l1": (L.smooth_l1_loss, L.smooth_l1_loss_backward, y, {"beta": 0.7}),
        "focal": (L.sigmoid_focal_loss, L.sigmoid_focal_loss_backward, binary, {}),
        "focal_soft": (L.sigmoid_focal_loss, L.sigmoid_focal_loss_backward, soft, {"alpha": -1, "gamma": 1.5}),
        "multi_margin_p1": (L.multi_margin_loss, L.multi_margin_loss_backward, labels, {"margin": 0.8}),
        "multi_margin_p2": (L.multi_margin_loss, L.multi_margin_loss_backward, labels, {"p": 2}),
    }
    forward, backward, target, options = cases[name]
    if name in ("l1", "smooth_l1"):
        kinks = np.abs(np.abs(x - y)[..., None] - np.array([0.0, 0.7]))  # |d| = 0 and |d| = β
    elif name.startswith("multi_margin"):
        kinks = np.abs(options.get("margin", 1.0) - x[np.arange(4), labels][:, None] + x)  # hinge = 0
    else:
        kinks = np.ones(1)
    return forward, backward, x, target, options, kinks.min() > 1e-3


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradcheck(name, reduction):
    rng = np.random.default_rng(GRAD_CASES.index(name))
    while True:  # redraw until no element sits on a kink (where the derivative does not exist)
        forward, backward, x, target, options, smooth = _grad_case(name, rng)
        if smooth:
            break
    kw = {"reduction": reduction, **options}
    out = forward(x, target, **kw)
    dout = rng.uniform(0.5, 2.0, out.shape) if reduction == "none" else float(rng.uniform(0.5, 2.0))
    dx = backward(dout, x, target, **kw)
    errors = gradcheck(lambda input: forward(input, target, **kw), {"input": x}, {"input": dx}, dout)
    assert errors["input"] < 1e-7, errors


# --------------------------------------------------------------------------- errors


def test_class_index_errors_name_the_index_and_k():
    x = np.zeros((3, 4))
    for fn in (L.cross_entropy, L.multi_margin_loss):
        with pytest.raises(ValueError) as info:
            fn(x, np.array([0, 5, 1]))
        assert str(info.value) == "target[1] = 5 is out of range: class indices must satisfy 0 <= target < K = 4"
        with pytest.raises(ValueError, match=r"target\[2\] = -1 .* K = 4"):
            fn(x, np.array([0, 1, -1]))
    with pytest.raises(ValueError, match=r"target\[0\] = -100"):
        L.multi_margin_loss(x, np.array([-100, 1, 1]))  # no ignore_index there
    with pytest.raises(ValueError, match="integer class indices"):
        L.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(N,\) = \(3,\) .* got \(2,\)"):
        L.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"logits of shape \(N, K\), got shape \(4,\)"):
        L.cross_entropy(np.zeros(4), np.array([0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        L.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="p = 1 or p = 2"):
        L.multi_margin_loss(x, np.array([0, 1, 2]), p=3)
    with pytest.raises(ValueError, match=r"weight must have shape \(K,\) = \(4,\)"):
        L.multi_margin_loss(x, np.array([0, 1, 2]), weight=np.ones(3))


def test_binary_target_errors():
    x = np.zeros((2, 3))
    for fn in (L.binary_cross_entropy_with_logits, L.sigmoid_focal_loss):
        with pytest.raises(ValueError, match=r"target values must lie in \[0, 1\].*\[0, 1.5\]"):
            fn(x, np.array([[0, 1, 1.5], [0, 0, 1]]))
        with pytest.raises(ValueError, match=r"\[-0.2, 1\]"):
            fn(x, np.array([[0, 1, -0.2], [0, 0, 1]]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) does not broadcast to the input shape \(2, 3\)"):
        L.binary_cross_entropy_with_logits(x, np.zeros((2, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        L.sigmoid_focal_loss(x, np.zeros((2, 3)), gamma=-1)


ELEMENTWISE = [L.binary_cross_entropy_with_logits, L.mse_loss, L.l1_loss, L.smooth_l1_loss, L.sigmoid_focal_loss]
ALL_FORWARD = [L.cross_entropy, L.multi_margin_loss, *ELEMENTWISE]


@pytest.mark.parametrize("fn", ELEMENTWISE)
def test_shape_mismatch(fn):
    with pytest.raises(ValueError) as info:
        fn(np.zeros((2, 3)), np.zeros((3, 2)))
    assert str(info.value) == "input and target must have the same shape, got (2, 3) and (3, 2)"


@pytest.mark.parametrize("fn", ALL_FORWARD)
def test_unknown_reduction(fn):
    x = np.zeros((2, 3))
    target = np.array([0, 1]) if fn in (L.cross_entropy, L.multi_margin_loss) else np.zeros((2, 3))
    with pytest.raises(ValueError) as info:
        fn(x, target, reduction="avg")
    assert str(info.value) == "reduction must be 'none', 'mean' or 'sum', got 'avg'"


def test_smooth_l1_negative_beta_and_dout_shapes():
    x, y = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="beta must be >= 0, got -1"):
        L.smooth_l1_loss(x, y, beta=-1)
    with pytest.raises(ValueError, match=r"dout must have the loss's shape \(3,\) for reduction='none', got \(\)"):
        L.mse_loss_backward(1.0, x, y, reduction="none")
    with pytest.raises(ValueError, match=r"dout must be a scalar for reduction='mean', got shape \(3,\)"):
        L.mse_loss_backward(np.ones(3), x, y)
    with pytest.raises(ValueError, match=r"input must be a real-valued \(float\) array, got dtype <U1"):
        L.mse_loss(np.array(["a"]), np.array(["b"]))


def test_reductions_are_0d_arrays_and_int_inputs_become_float():
    out = L.mse_loss(np.array([1, 2, 3]), np.array([1, 1, 1]))
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64
    assert_close(out, 5 / 3)
    assert_close(L.mse_loss(np.array([1.0, 3.0]), np.zeros(2), reduction="sum"), 10.0)


# --------------------------------------------------------------------------- the visible checks catch classic mistakes


def test_visible_checks_catch_naive_and_classic_mistakes():
    def naive_cross_entropy(input, target, *, reduction="mean", label_smoothing=0.0):
        p = np.exp(input) / np.exp(input).sum(axis=1, keepdims=True)
        loss = -(1 - label_smoothing) * np.log(p[np.arange(len(target)), target]) - label_smoothing * np.log(p).mean(1)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    with np.errstate(all="ignore"), pytest.raises(CheckFailure, match="NaN|expected"):
        check("cross_entropy", naive_cross_entropy)

    def naive_bce(input, target, *, reduction="mean", pos_weight=None):
        s = 1 / (1 + np.exp(-input))
        loss = -(target * np.log(s) + (1 - target) * np.log(1 - s))
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    with np.errstate(all="ignore"), pytest.raises(CheckFailure):
        check("binary_cross_entropy_with_logits", naive_bce)

    def smooth_l1_without_beta(input, target, *, reduction="mean", beta=1.0):
        d = np.abs(input - target)
        loss = np.where(d < beta, 0.5 * d**2, d - 0.5 * beta)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    with pytest.raises(CheckFailure, match="β = 0.5"):
        check("smooth_l1_loss", smooth_l1_without_beta)
