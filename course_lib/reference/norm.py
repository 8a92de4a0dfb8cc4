"""Normalisation and regularisation layers in numpy, same semantics as ``torch.nn.functional``.

* :func:`batch_norm` (Ioffe & Szegedy, 2015) normalises every channel over the batch (and the
  spatial positions); in training mode it also updates the running statistics *in place*, with
  torch's meaning of ``momentum``: ``running = (1 - momentum) * running + momentum * batch``.
* :func:`layer_norm` (Ba, Kiros & Hinton, 2016) normalises every sample over its last dimensions.
* :func:`dropout` (Srivastava et al., 2014) is *inverted* dropout: kept units are scaled by
  ``1 / (1 - p)`` at training time, so evaluation is the identity.
* :func:`local_response_norm` (Krizhevsky et al., 2012, AlexNet) divides each activation by a
  power of the summed squares of its neighbouring channels.

Backward functions take the forward's arguments (no opaque caches) and return one gradient per
array argument. Shape glossary: N batch, C channels, H/W height/width, D features; ``*`` any
number of further axes.
"""

from numbers import Integral, Real

import numpy as np

__all__ = [
    "batch_norm",
    "batch_norm_backward",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "layer_norm",
    "layer_norm_backward",
    "local_response_norm",
]


# --------------------------------------------------------------------------- helpers

def _check_array(x, name, min_ndim, layout):
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape {layout}, got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got dtype {x.dtype}")


def _check_vector(v, name, shape, x_shape, allow_none=True):
    """``v`` must be None (if allowed) or an array of ``shape``; the message names both shapes."""
    if v is None and allow_none:
        return
    if not isinstance(v, np.ndarray) or v.shape != tuple(shape):
        seen = f"shape {v.shape}" if isinstance(v, np.ndarray) else type(v).__name__
        raise ValueError(f"{name} must have shape {tuple(shape)} for x of shape {x_shape}, got {seen}")


def _check_eps(eps):
    if not isinstance(eps, Real) or isinstance(eps, bool) or not eps >= 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")


def _channel_axes(x):
    """Axes BN reduces over: all but the channel axis 1, e.g. (0, 2, 3) for (N, C, H, W)."""
    return (0, *range(2, x.ndim))


def _per_channel(v, ndim):
    """(C,) -> (1, C, 1, ..., 1), broadcastable against an input with ``ndim`` axes."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _affine(xhat, weight, bias, shape):
    out = xhat
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _normalize_backward(g, xhat, inv_std, axes):
    """dx of ``xhat = (x - mean(x)) * inv_std`` given ``g = dL/dxhat``, both stats over ``axes``.

    The compact form: dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)).
    """
    g_mean = g.mean(axis=axes, keepdims=True)
    gx_mean = (g * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (g - g_mean - xhat * gx_mean)


# --------------------------------------------------------------------------- batch norm

def _check_batch_norm(x, running_mean, running_var, weight, bias, eps):
    _check_array(x, "x", 2, "(N, C) or (N, C, *)")
    c = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if v is not None and isinstance(v, np.ndarray) and v.shape != (c,):
            raise ValueError(f"x has C={c} channels (x shape {x.shape}) but {name} has shape {v.shape}; "
                             f"expected ({c},)")
        _check_vector(v, name, (c,), x.shape)
    if (running_mean is None) != (running_var is None):
        raise ValueError("pass both running_mean and running_var, or neither")
    _check_eps(eps)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation, same semantics as ``torch.nn.functional.batch_norm``.

    Training mode normalises every channel with the mean and the *biased* variance of the batch
    (over N and all spatial positions) and, if running statistics are given, updates them **in
    place** with torch's momentum::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)   # unbiased

    where m = N·H·W values per channel. Evaluation mode normalises with the running statistics and
    changes nothing.

    Args:
        x: input of shape (N, C) or (N, C, H, W) (any (N, C, *) works).
        running_mean: (C,) float array updated in place when ``training``; None is allowed in
            training mode only (then nothing is tracked).
        running_var: (C,) float array, as ``running_mean``.
        weight: gamma, (C,) or None (= ones).
        bias: beta, (C,) or None (= zeros).
        training: use batch statistics (and update the running ones) instead of running statistics.
        momentum: weight of the *new* batch statistic, a number in [0, 1] (torch's meaning; Keras'
            ``momentum=0.99`` is torch's 0.01). ``None`` (torch's cumulative average, which needs a
            batch counter) is not supported: pass ``momentum=1 / num_batches_seen`` yourself.
        eps: added to the variance before the square root.

    Returns:
        Array with the shape and dtype of ``x``.

    Raises:
        ValueError: channel counts that disagree, one running statistic without the other,
            no running statistics in evaluation mode, a single value per channel in training
            mode, ``momentum`` None or outside [0, 1].
    """
    _check_batch_norm(x, running_mean, running_var, weight, bias, eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)  # (1, C, 1, ..., 1)
    if training:
        axes = _channel_axes(x)
        m = x.size // x.shape[1]  # values per channel: N * H * W
        if m <= 1:
            raise ValueError(f"expected more than 1 value per channel when training, got x of shape {x.shape}")
        mean = x.mean(axis=axes)  # (C,)
        var = x.var(axis=axes)  # (C,), biased: used to normalise
        if running_mean is not None:
            if momentum is None:
                raise ValueError("momentum=None (cumulative moving average) is not supported: it needs a "
                                 "count of the batches seen; pass momentum=1 / num_batches_seen instead")
            if not isinstance(momentum, Real) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
                raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
            for name, v in (("running_mean", running_mean), ("running_var", running_var)):
                if not np.issubdtype(v.dtype, np.floating) or not v.flags.writeable:
                    raise ValueError(f"{name} must be a writeable float array (it is updated in place)")
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))  # unbiased estimate of the variance
    else:
        if running_mean is None:
            raise ValueError("running_mean and running_var must be given in evaluation mode (training=False)")
        mean, var = running_mean, running_var
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)  # (N, C, *)
    return _affine(xhat, weight, bias, shape).astype(x.dtype, copy=False)


def batch_norm_backward(dout, x, weight=None, bias=None, eps=1e-5):
    """Gradients of training-mode :func:`batch_norm` (batch statistics), compact formula.

    With xhat = (x - mean) / sqrt(var + eps) and g = dout * weight, per channel over its m values::

        dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)

    (The running statistics do not influence the training-mode output, so they are not arguments.
    In evaluation mode the layer is affine and dx = dout * weight / sqrt(running_var + eps).)

    Args:
        dout: upstream gradient, shape of ``x``.
        x, weight, bias, eps: the arguments of the forward call.

    Returns:
        (dx, dweight, dbias) with the shapes of x, weight and bias; dweight (dbias) is None when
        weight (bias) is None.
    """
    _check_batch_norm(x, None, None, weight, bias, eps)
    _check_vector(dout, "dout", x.shape, x.shape, allow_none=False)
    axes = _channel_axes(x)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)  # (1, C, 1, ..., 1)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    g = dout * weight.reshape(shape) if weight is not None else dout
    dx = _normalize_backward(g, xhat, inv_std, axes)
    dweight = (dout * xhat).sum(axis=axes) if weight is not None else None
    dbias = dout.sum(axis=axes) if bias is not None else None
    return dx, dweight, dbias


# --------------------------------------------------------------------------- layer norm

def _norm_shape(x, normalized_shape, weight, bias, eps):
    """Validate layer_norm arguments; return (normalized_shape as a tuple, reduced axes)."""
    _check_array(x, "x", 1, "(*, *normalized_shape)")
    if isinstance(normalized_shape, Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    try:
        if isinstance(normalized_shape, (str, bytes)) or not all(
                isinstance(d, Integral) and not isinstance(d, bool) for d in normalized_shape):
            raise TypeError
        normalized_shape = tuple(int(d) for d in normalized_shape)
    except TypeError:
        raise ValueError(f"normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}") from None
    k = len(normalized_shape)
    if k == 0 or k > x.ndim or x.shape[x.ndim - k:] != normalized_shape:
        raise ValueError(f"normalized_shape {normalized_shape} must equal the last dimensions of x, "
                         f"but x has shape {x.shape}")
    _check_vector(weight, "weight", normalized_shape, x.shape)
    _check_vector(bias, "bias", normalized_shape, x.shape)
    _check_eps(eps)
    return normalized_shape, tuple(range(x.ndim - k, x.ndim))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation, same semantics as ``torch.nn.functional.layer_norm``.

    Every sample is normalised with the mean and (biased) variance of its last
    ``len(normalized_shape)`` dimensions; no batch statistics, so training and evaluation agree
    and N = 1 is fine.

    Args:
        x: input of shape (*, *normalized_shape), e.g. (N, D) or (N, C, H, W).
        normalized_shape: int D or tuple, the trailing shape to normalise over.
        weight: gamma of shape ``normalized_shape`` or None.
        bias: beta of shape ``normalized_shape`` or None.
        eps: added to the variance before the square root.

    Returns:
        Array with the shape and dtype of ``x``.
    """
    shape, axes = _norm_shape(x, normalized_shape, weight, bias, eps)
    mean = x.mean(axis=axes, keepdims=True)  # (*, 1, ..., 1)
    xhat = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)  # (*, *normalized_shape)
    return _affine(xhat, weight, bias, shape).astype(x.dtype, copy=False)


def layer_norm_backward(dout, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Gradients of :func:`layer_norm`.

    Args:
        dout: upstream gradient, shape of ``x``.
        x, normalized_shape, weight, bias, eps: the arguments of the forward call.

    Returns:
        (dx, dweight, dbias) with the shapes of x, weight and bias (None where those are None).
    """
    _, axes = _norm_shape(x, normalized_shape, weight, bias, eps)
    _check_vector(dout, "dout", x.shape, x.shape, allow_none=False)
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    g = dout * weight if weight is not None else dout
    dx = _normalize_backward(g, xhat, inv_std, axes)
    batch_axes = tuple(range(x.ndim - len(axes)))  # the leading (*) axes
    dweight = (dout * xhat).sum(axis=batch_axes) if weight is not None else None
    dbias = dout.sum(axis=batch_axes) if bias is not None else None
    return dx, dweight, dbias


# --------------------------------------------------------------------------- dropout

def _check_p(p):
    if not isinstance(p, Real) or isinstance(p, bool) or not 0 <= p < 1:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p!r}")


def dropout_mask(shape, p=0.5, rng=None):
    """The keep-mask of :func:`dropout`: ``rng.random(shape) >= p`` (each unit dropped with probability p).

    Args:
        shape: shape of the input.
        p: probability of dropping a unit, in [0, 1).
        rng: a ``numpy.random.Generator`` (its state advances), an int seed, or None (fresh entropy).

    Returns:
        Boolean array of ``shape``, True where the unit is kept.
    """
    _check_p(p)
    return np.random.default_rng(rng).random(shape) >= p


def dropout(x, p=0.5, training=True, rng=None):
    """Inverted dropout, same semantics as ``torch.nn.functional.dropout`` (numpy's random numbers).

    Training: every element is zeroed with probability ``p`` and the kept ones are scaled by
    ``1 / (1 - p)``, so ``E[out] = x``. Evaluation: the identity (``x`` itself is returned, like torch).
    The mask is :func:`dropout_mask` ``(x.shape, p, rng)``: one call of ``rng.random(x.shape)``,
    kept where the draw is >= p. Pass the same int seed (or a generator in the same state) to
    :func:`dropout_backward` to get the same mask.

    Args:
        x: input of any shape.
        p: probability of dropping an element, in [0, 1).
        training: apply dropout (True) or return ``x`` unchanged (False).
        rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy, not repeatable).

    Returns:
        Array with the shape and dtype of ``x``.
    """
    _check_array(x, "x", 0, "(*)")
    _check_p(p)
    if not training:
        return x
    keep = dropout_mask(x.shape, p, rng)
    return np.where(keep, x / (1 - p), 0).astype(x.dtype, copy=False)


def dropout_backward(dout, x, p=0.5, training=True, rng=None):
    """Gradient of :func:`dropout`: the same mask and scale applied to ``dout``.

    The mask is drawn again from ``rng``, so pass the same int seed as the forward call (or a
    generator in the state it had then, e.g. ``copy.deepcopy(gen)`` taken before the forward).
    Frameworks do the same to save memory (FlashAttention stores the seed, not the mask).

    Args:
        dout: upstream gradient, shape of ``x``.
        x, p, training, rng: the arguments of the forward call.

    Returns:
        dx with the shape of ``x``.
    """
    _check_array(x, "x", 0, "(*)")
    _check_vector(dout, "dout", x.shape, x.shape, allow_none=False)
    return dropout(dout, p, training, rng)


# --------------------------------------------------------------------------- local response norm

def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels, same as ``torch.nn.functional.local_response_norm``.

    ::

        out[n, c] = x[n, c] / (k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} x[n, c']**2) ** beta

    Channels outside 0..C-1 count as zeros, and torch divides ``alpha`` by ``size``: AlexNet's
    n=5, α=1e-4, β=0.75, k=2 on the plain sum is ``size=5, alpha=5e-4, beta=0.75, k=2`` here.

    Args:
        x: input of shape (N, C, *), at least 3-D (e.g. (N, C, L) or (N, C, H, W)).
        size: number of neighbouring channels (including the channel itself), >= 1.
        alpha, beta, k: the constants of the formula.

    Returns:
        Array with the shape and dtype of ``x``.
    """
    _check_array(x, "x", 3, "(N, C, *) with at least 3 dimensions")
    if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be an int >= 1, got {size!r}")
    pad = [(0, 0)] * x.ndim
    pad[1] = (size // 2, (size - 1) // 2)
    sq = np.pad(x * x, pad)  # (N, C + size - 1, *)
    windows = np.lib.stride_tricks.sliding_window_view(sq, size, axis=1)  # (N, C, *, size)
    div = (k + alpha * windows.mean(axis=-1)) ** beta  # (N, C, *)
    return (x / div).astype(x.dtype, copy=False)
