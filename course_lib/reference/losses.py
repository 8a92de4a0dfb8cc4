"""Loss functions and their gradients in numpy, same semantics as ``torch.nn.functional``.

``sigmoid_focal_loss`` follows ``torchvision.ops.sigmoid_focal_loss`` (RetinaNet). Every loss takes
``reduction``: ``"none"`` (one value per element / sample), ``"mean"`` or ``"sum"`` (a 0-d array).
Every backward function ``name_backward(dout, input, target, ...)`` takes the forward's arguments
and the upstream gradient ``dout`` (a scalar for ``"mean"``/``"sum"``, the shape of the unreduced
loss for ``"none"``) and returns d input. Options that torch places after its deprecated
``size_average``/``reduce`` arguments are keyword-only here.

Shape glossary: N batch, K classes; ``...`` any shape (element-wise losses).
"""

import numpy as np

from course_lib.reference._utils import as_float

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "l1_loss",
    "l1_loss_backward",
    "log_softmax",
    "mse_loss",
    "mse_loss_backward",
    "multi_margin_loss",
    "multi_margin_loss_backward",
    "sigmoid",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_backward",
    "smooth_l1_loss",
    "smooth_l1_loss_backward",
    "softplus",
]

_REDUCTIONS = ("none", "mean", "sum")


# --------------------------------------------------------------------------- helpers

def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _pair(input, target, reduction):
    """Validate an element-wise loss's arguments; return (input, target, result dtype)."""
    _check_reduction(reduction)
    input, target = as_float(input, "input", convert="biu"), as_float(target, "target", convert="biu")
    if input.shape != target.shape:
        raise ValueError(f"input and target must have the same shape, got {input.shape} and {target.shape}")
    return input, target, np.result_type(input, target)


def _classes(input, target, reduction, ignore_index=None):
    """Validate logits (N, K) and int targets (N,); return (input, safe target, valid mask)."""
    _check_reduction(reduction)
    input, target = as_float(input, "input", convert="biu"), np.asarray(target)
    if input.ndim != 2:
        raise ValueError(f"input must be logits of shape (N, K), got shape {input.shape}")
    n, k = input.shape
    if target.dtype.kind not in "iu":
        raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != (n,):
        raise ValueError(f"target must have shape (N,) = ({n},) for input shape {input.shape}, got {target.shape}")
    valid = target != ignore_index if ignore_index is not None else np.ones(n, dtype=bool)
    bad = np.flatnonzero(valid & ((target < 0) | (target >= k)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"target[{i}] = {int(target[i])} is out of range: class indices must satisfy "
                         f"0 <= target < K = {k}")
    return input, np.where(valid, target, 0), valid


def _reduce(loss, reduction, count=None):
    """Apply the reduction; ``count`` replaces ``loss.size`` as the divisor of "mean"."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # nothing to average: nan, like torch
            total = total / (loss.size if count is None else count)
    return np.asarray(total, dtype=loss.dtype)


def _upstream(dout, reduction, shape, dtype, count=None):
    """``dout`` as a factor for every element of the unreduced loss (shape ``shape``)."""
    dout = np.asarray(dout, dtype=dtype)
    if reduction == "none":
        if dout.shape != shape:
            raise ValueError(f"dout must have the loss's shape {shape} for reduction='none', got {dout.shape}")
        return dout
    if dout.size != 1:
        raise ValueError(f"dout must be a scalar for reduction={reduction!r}, got shape {dout.shape}")
    dout = dout.reshape(())
    if reduction == "mean":
        count = np.prod(shape) if count is None else count
        return dout / dtype.type(count) if count else np.zeros((), dtype)  # nothing counted: 0, like torch
    return dout


def _check_binary_target(target):
    if np.any((target < 0) | (target > 1)):
        raise ValueError(f"target values must lie in [0, 1] (labels or probabilities), "
                         f"found values in [{np.nanmin(target):g}, {np.nanmax(target):g}]")


def _broadcast_weight(w, shape, name, dtype):
    if w is None:
        return None
    w = np.asarray(w, dtype=dtype)
    try:
        ok = np.broadcast_shapes(w.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} of shape {w.shape} does not broadcast to the input shape {shape}")
    return w


def softplus(x):
    """``log(1 + exp(x))`` without overflow, element-wise."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    """``1 / (1 + exp(-x))`` without overflow, element-wise (exp of a non-positive number only)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(x):
    """Stable log-softmax over the last axis: ``x - max - log(sum(exp(x - max)))``."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------- classification

def cross_entropy(input, target, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits, same as ``torch.nn.functional.cross_entropy``.

    ``loss_n = (1 − ε)·(−log p[n, y_n]) + ε·mean_k(−log p[n, k])`` with ``p = softmax(input)`` and
    ``ε = label_smoothing``; samples whose target is ``ignore_index`` get loss 0 and do not count
    in the mean.

    Args:
        input: logits of shape (N, K).
        target: int class indices of shape (N,), each in [0, K) or ``ignore_index``.
        ignore_index: target value to skip.
        reduction: "none" → (N,), "mean" (over non-ignored samples) or "sum" → 0-d.
        label_smoothing: ε in [0, 1].

    Returns:
        Array (N,) or 0-d, dtype of ``input``.
    """
    input, safe, valid = _classes(input, target, reduction, ignore_index)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    logp = log_softmax(input)  # (N, K)
    nll = -logp[np.arange(len(safe)), safe]  # (N,)
    loss = (1 - label_smoothing) * nll - label_smoothing * logp.mean(axis=1)
    return _reduce(np.where(valid, loss, 0).astype(input.dtype), reduction, valid.sum())


def cross_entropy_backward(dout, input, target, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Gradient of :func:`cross_entropy`: ``softmax(input) − smoothed one-hot``, scaled by dout (/N for mean).

    Returns:
        d input of shape (N, K).
    """
    input, safe, valid = _classes(input, target, reduction, ignore_index)
    n, k = input.shape
    grad = np.exp(log_softmax(input)) - label_smoothing / k  # (N, K)
    grad[np.arange(n), safe] -= 1 - label_smoothing
    up = _upstream(dout, reduction, (n,), input.dtype, valid.sum())
    return (grad * (valid * up)[..., None]).astype(input.dtype)


def _bce_args(input, target, weight, pos_weight, reduction):
    """Validate BCE arguments; return (input, target, dtype, weight or None, coefficient of softplus(−x))."""
    input, target, dtype = _pair(input, target, reduction)
    _check_binary_target(target)
    weight = _broadcast_weight(weight, input.shape, "weight", dtype)
    pos_weight = _broadcast_weight(pos_weight, input.shape, "pos_weight", dtype)
    return input, target, dtype, weight, 1 if pos_weight is None else 1 + (pos_weight - 1) * target


def binary_cross_entropy_with_logits(input, target, *, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable step, as ``F.binary_cross_entropy_with_logits``.

    ``loss = −w·[pw·t·log σ(x) + (1 − t)·log(1 − σ(x))] = w·[(1 − t)·x + (1 + (pw − 1)·t)·softplus(−x)]``.

    Args:
        input: logits x of any shape (...).
        target: t in [0, 1], same shape.
        weight: optional rescaling w, broadcastable to the input.
        reduction: "none" → (...), "mean" or "sum" → 0-d.
        pos_weight: optional weight pw of the positive term, broadcastable (e.g. (K,) for (N, K)).

    Returns:
        Array of the input's shape or 0-d.
    """
    input, target, dtype, weight, coef = _bce_args(input, target, weight, pos_weight, reduction)
    loss = ((1 - target) * input + coef * softplus(-input)) * (1 if weight is None else weight)
    return _reduce(loss.astype(dtype), reduction)


def binary_cross_entropy_with_logits_backward(dout, input, target, *, weight=None, reduction="mean",
                                              pos_weight=None):
    """Gradient of :func:`binary_cross_entropy_with_logits`: ``w·[(1 − t) − (1 + (pw − 1)·t)·σ(−x)]``
    (``σ(x) − t`` without weights). Returns d input of the input's shape."""
    input, target, dtype, weight, coef = _bce_args(input, target, weight, pos_weight, reduction)
    grad = ((1 - target) - coef * sigmoid(-input)) * (1 if weight is None else weight)
    return (grad * _upstream(dout, reduction, input.shape, dtype)).astype(dtype)


def _focal_args(inputs, targets, gamma, reduction):
    """Validate; return (inputs, targets, dtype, BCE (...), q = 1 − p_t (...))."""
    inputs, targets, dtype = _pair(inputs, targets, reduction)
    _check_binary_target(targets)
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    ce = (1 - targets) * inputs + softplus(-inputs)  # BCE with logits, (...)
    q = sigmoid(inputs) * (1 - targets) + sigmoid(-inputs) * targets  # 1 − p_t without cancellation
    return inputs, targets, dtype, ce, q


def _alpha_t(alpha, targets):
    return alpha * targets + (1 - alpha) * (1 - targets) if alpha >= 0 else 1.0


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """Focal loss of RetinaNet, same as ``torchvision.ops.sigmoid_focal_loss`` (note its defaults).

    ``loss = α_t·(1 − p_t)^γ·BCE(x, t)`` with ``p = σ(x)``, ``p_t = p·t + (1 − p)·(1 − t)`` and
    ``α_t = α·t + (1 − α)·(1 − t)``; ``alpha < 0`` means no α weighting. ``1 − p_t`` is computed as
    ``p·(1 − t) + σ(−x)·t`` (no cancellation when p ≈ 1).

    Args:
        inputs: logits of any shape (...).
        targets: labels in [0, 1] (0 background, 1 object), same shape.
        alpha: weight of the positives in [0, 1], or negative for none.
        gamma: focusing exponent γ >= 0 (γ = 0 gives α-balanced cross-entropy).
        reduction: "none" (default, as torchvision) → (...), "mean" or "sum" → 0-d.

    Returns:
        Array of the inputs' shape or 0-d.
    """
    inputs, targets, dtype, ce, q = _focal_args(inputs, targets, gamma, reduction)
    return _reduce((_alpha_t(alpha, targets) * ce * q**gamma).astype(dtype), reduction)


def sigmoid_focal_loss_backward(dout, inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """Gradient of :func:`sigmoid_focal_loss`:
    ``α_t·[(p − t)·q^γ + BCE·γ·q^(γ−1)·(1 − 2t)·p·(1 − p)]`` with ``q = 1 − p_t``. Returns d inputs."""
    inputs, targets, dtype, ce, q = _focal_args(inputs, targets, gamma, reduction)
    p, p_neg = sigmoid(inputs), sigmoid(-inputs)  # σ(x), 1 − σ(x)
    dq = (1 - 2 * targets) * p * p_neg  # dq/dx
    with np.errstate(divide="ignore", invalid="ignore"):
        dmod = np.where(q > 0, gamma * q ** (gamma - 1) * dq, 0.0) if gamma != 0 else 0.0
    grad = _alpha_t(alpha, targets) * (((1 - targets) - p_neg) * q**gamma + ce * dmod)
    return (grad * _upstream(dout, reduction, inputs.shape, dtype)).astype(dtype)


def _margins(input, target, p, margin, weight, reduction):
    """Shared part of the multi-margin loss: (input, target, hinge (N, K) with 0 at the targets, w_y)."""
    input, target, _ = _classes(input, target, reduction)
    if p not in (1, 2):
        raise ValueError(f"only p = 1 or p = 2 is supported, got p={p!r}")
    n, k = input.shape
    rows = np.arange(n)
    hinge = np.maximum(margin - input[rows, target][:, None] + input, 0)  # (N, K)
    hinge[rows, target] = 0
    w_y = 1.0
    if weight is not None:
        weight = np.asarray(weight, dtype=input.dtype)
        if weight.shape != (k,):
            raise ValueError(f"weight must have shape (K,) = ({k},), got {weight.shape}")
        w_y = weight[target][:, None]  # (N, 1)
    return input, target, hinge, w_y


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, *, reduction="mean"):
    """Multi-class hinge (SVM) loss, same as ``torch.nn.functional.multi_margin_loss``.

    ``loss_n = Σ_{j ≠ y_n} w[y_n]·max(0, margin − x[n, y_n] + x[n, j])^p / K``.

    Args:
        input: scores of shape (N, K).
        target: int class indices (N,) in [0, K).
        p: 1 (hinge) or 2 (squared hinge).
        margin: the score gap the true class must win by.
        weight: optional class weights (K,).
        reduction: "none" → (N,), "mean" or "sum" → 0-d.

    Returns:
        Array (N,) or 0-d.
    """
    input, _, hinge, w_y = _margins(input, target, p, margin, weight, reduction)
    loss = (w_y * hinge**p).sum(axis=1) / input.shape[1]
    return _reduce(loss.astype(input.dtype), reduction)


def multi_margin_loss_backward(dout, input, target, p=1, margin=1.0, weight=None, *, reduction="mean"):
    """Gradient of :func:`multi_margin_loss`: every violated class j gets +w·p·h^(p−1)/K, the true
    class minus their sum (h the hinge; 0 where h = 0). Returns d input (N, K)."""
    input, target, hinge, w_y = _margins(input, target, p, margin, weight, reduction)
    n, k = input.shape
    dh = w_y * (hinge > 0) * (1.0 if p == 1 else 2 * hinge) / k  # (N, K)
    dh[np.arange(n), target] = -dh.sum(axis=1)
    return (dh * _upstream(dout, reduction, (n,), input.dtype)[..., None]).astype(input.dtype)


# --------------------------------------------------------------------------- regression

def mse_loss(input, target, *, reduction="mean"):
    """Squared error ``(x − y)²``, same as ``torch.nn.functional.mse_loss`` (shapes must match)."""
    input, target, dtype = _pair(input, target, reduction)
    return _reduce(((input - target) ** 2).astype(dtype), reduction)


def mse_loss_backward(dout, input, target, *, reduction="mean"):
    """Gradient of :func:`mse_loss`: ``2·(x − y)``. Returns d input."""
    input, target, dtype = _pair(input, target, reduction)
    return (2 * (input - target) * _upstream(dout, reduction, input.shape, dtype)).astype(dtype)


def l1_loss(input, target, *, reduction="mean"):
    """Absolute error ``|x − y|``, same as ``torch.nn.functional.l1_loss`` (shapes must match)."""
    input, target, dtype = _pair(input, target, reduction)
    return _reduce(np.abs(input - target).astype(dtype), reduction)


def l1_loss_backward(dout, input, target, *, reduction="mean"):
    """Gradient of :func:`l1_loss`: ``sign(x − y)`` (0 at x = y, like torch). Returns d input."""
    input, target, dtype = _pair(input, target, reduction)
    return (np.sign(input - target) * _upstream(dout, reduction, input.shape, dtype)).astype(dtype)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):
    """Smooth L1 (Fast R-CNN), same as ``torch.nn.functional.smooth_l1_loss``.

    With d = x − y: ``0.5·d²/β`` where ``|d| < β``, else ``|d| − 0.5·β``; β = 0 is the L1 loss.

    Args:
        input: predictions of any shape (...).
        target: same shape.
        reduction: "none" → (...), "mean" or "sum" → 0-d.
        beta: width β >= 0 of the quadratic zone.

    Returns:
        Array of the input's shape or 0-d.
    """
    input, target, dtype = _pair(input, target, reduction)
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    d = input - target
    loss = np.abs(d) if beta == 0 else np.where(np.abs(d) < beta, 0.5 * d**2 / (beta or 1), np.abs(d) - 0.5 * beta)
    return _reduce(loss.astype(dtype), reduction)


def smooth_l1_loss_backward(dout, input, target, *, reduction="mean", beta=1.0):
    """Gradient of :func:`smooth_l1_loss`: ``d/β`` inside the quadratic zone, ``sign(d)`` outside."""
    input, target, dtype = _pair(input, target, reduction)
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    d = input - target
    grad = np.sign(d) if beta == 0 else np.where(np.abs(d) < beta, d / (beta or 1), np.sign(d))
    return (grad * _upstream(dout, reduction, input.shape, dtype)).astype(dtype)
