"""Optimisers, learning-rate schedules, weight initialisation and mini-batching in numpy, with the
exact semantics of ``torch.optim``, ``torch.optim.lr_scheduler`` and ``torch.nn.init``.

Update rules are pure functions with explicit state, in the style of torch's functional optimisers
(``torch.optim._functional``) and of optax: each takes the parameter, its gradient and the state of
the previous step and returns the new parameter and the new state. Nothing is modified in place, so
every step can be compared with ``torch.optim`` (state names follow ``optimizer.state[p]``):

    >>> w, buf = np.ones(3), None
    >>> for _ in range(3):
    ...     w, buf = sgd_step(w, 2 * w, buf, lr=0.1, momentum=0.9)      # minimise ||w||²

Schedules are pure functions of the epoch (the lr used *during* epoch ``epoch``, 0-based, i.e. after
``epoch`` calls of ``scheduler.step()`` in torch). Initialisers take a shape and a numpy
``Generator`` and return a float64 array.

Shape glossary: ``w`` and ``dw`` (and every state array) share one shape, whatever it is.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ReduceOnPlateau",
    "adam_step",
    "calculate_gain",
    "cosine_lr",
    "fan_in_and_fan_out",
    "gaussian_init",
    "kaiming_normal",
    "kaiming_uniform",
    "minibatches",
    "rmsprop_step",
    "sgd_step",
    "step_decay",
    "uniform_init",
    "warmup",
    "warmup_cosine",
    "xavier_normal",
    "xavier_uniform",
]


# --------------------------------------------------------------------------- update rules

def _check_pair(w, dw, *others):
    w, dw = np.asarray(w), np.asarray(dw)
    if w.shape != dw.shape:
        raise ValueError(f"w and dw must have the same shape, got w {w.shape} and dw {dw.shape}")
    for name, arr in others:
        if arr is not None and np.shape(arr) != w.shape:
            raise ValueError(f"{name} must have the shape of w {w.shape}, got {np.shape(arr)}")
    return w, dw


def _check_nonneg(**values):
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be ≥ 0, got {value}")


def sgd_step(w, dw, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0):
    """One step of ``torch.optim.SGD`` (momentum, dampening, Nesterov, L2 weight decay).

    ``g = dw + weight_decay·w``; with momentum, ``buf = g`` on the first step (torch does not
    dampen it) and ``buf = momentum·buf + (1 − dampening)·g`` afterwards; the step direction is
    ``buf``, or ``g + momentum·buf`` with Nesterov; ``w_new = w − lr·direction``.

    Args:
        w: parameter, any shape.
        dw: gradient of the loss w.r.t. ``w``, same shape.
        momentum_buffer: the buffer returned by the previous step, or None on the first step.
        lr, momentum, dampening, weight_decay: as in ``torch.optim.SGD`` (all ≥ 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening = 0).

    Returns:
        ``(w_new, momentum_buffer)``, both of w's shape; the buffer is None when momentum is 0.
    """
    _check_nonneg(lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0, "
                         f"got momentum={momentum}, dampening={dampening}")
    w, dw = _check_pair(w, dw, ("momentum_buffer", momentum_buffer))
    g = dw + weight_decay * w if weight_decay else dw
    buf = None
    if momentum:
        buf = g.copy() if momentum_buffer is None else momentum * momentum_buffer + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return w - lr * g, buf


def rmsprop_step(w, dw, square_avg, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    """One step of ``torch.optim.RMSprop`` (no momentum, not centred).

    ``g = dw + weight_decay·w``; ``square_avg = alpha·square_avg + (1 − alpha)·g²``;
    ``w_new = w − lr·g / (√square_avg + eps)`` — eps is added *after* the square root.

    Args:
        w: parameter, any shape.
        dw: its gradient, same shape.
        square_avg: running average of squared gradients from the previous step (zeros at first).
        lr, alpha, eps, weight_decay: as in ``torch.optim.RMSprop``.

    Returns:
        ``(w_new, square_avg)``, both of w's shape.
    """
    _check_nonneg(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay)
    w, dw = _check_pair(w, dw, ("square_avg", square_avg))
    g = dw + weight_decay * w if weight_decay else dw
    square_avg = alpha * square_avg + (1 - alpha) * g * g
    return w - lr * g / (np.sqrt(square_avg) + eps), square_avg


def adam_step(w, dw, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """One step of ``torch.optim.Adam`` (Kingma & Ba, 2014), bias correction as in torch.

    ``g = dw + weight_decay·w``; ``m = β1·m + (1 − β1)·g``; ``v = β2·v + (1 − β2)·g²``;
    ``w_new = w − lr · (m / (1 − β1^t)) / (√v / √(1 − β2^t) + eps)``.

    Args:
        w: parameter, any shape.
        dw: its gradient, same shape.
        exp_avg, exp_avg_sq: first and second moment estimates m, v from the previous step
            (zeros before the first step).
        step: number t of this step, 1 for the first (torch's ``state["step"]`` after the step).
        lr, betas, eps, weight_decay: as in ``torch.optim.Adam`` (L2 decay added to the gradient).

    Returns:
        ``(w_new, exp_avg, exp_avg_sq)``, all of w's shape.
    """
    beta1, beta2 = betas
    _check_nonneg(lr=lr, eps=eps, weight_decay=weight_decay)
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"betas must be in [0, 1), got {betas}")
    if step < 1:
        raise ValueError(f"step counts from 1 (the first step), got {step}")
    w, dw = _check_pair(w, dw, ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq))
    g = dw + weight_decay * w if weight_decay else dw
    m = beta1 * exp_avg + (1 - beta1) * g
    v = beta2 * exp_avg_sq + (1 - beta2) * g * g
    bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
    denom = np.sqrt(v) / math.sqrt(bias2) + eps
    return w - (lr / bias1) * m / denom, m, v


# --------------------------------------------------------------------------- learning-rate schedules

def _check_epoch(epoch):
    if epoch < 0:
        raise ValueError(f"epoch must be ≥ 0, got {epoch}")


def step_decay(epoch, lr0, step_size, gamma=0.1):
    """``StepLR``: multiply the lr by ``gamma`` every ``step_size`` epochs: lr0·gamma^⌊epoch/step_size⌋."""
    _check_epoch(epoch)
    if step_size < 1:
        raise ValueError(f"step_size must be ≥ 1, got {step_size}")
    return lr0 * gamma ** (epoch // step_size)


def cosine_lr(epoch, lr0, total, lr_min=0.0):
    """Clamped cosine annealing: lr_min + (lr0 − lr_min)(1 + cos(π·min(epoch, total)/total))/2.

    For epochs 0…total this is ``CosineAnnealingLR(T_max=total, eta_min=lr_min)``; after ``total`` it
    stays at ``lr_min``. Torch's scheduler does not clamp: it keeps following the cosine, which has
    period 2·total, so its rate climbs back to lr0 at epoch 2·total.
    """
    _check_epoch(epoch)
    if total < 1:
        raise ValueError(f"total must be ≥ 1, got {total}")
    return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * min(epoch, total) / total)) / 2


def warmup(epoch, lr0, warmup_epochs, start_factor=1 / 3):
    """``LinearLR(start_factor, end_factor=1, total_iters=warmup_epochs)``: from lr0·start_factor up to
    lr0 in ``warmup_epochs`` epochs, then constant."""
    _check_epoch(epoch)
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be ≥ 0, got {warmup_epochs}")
    if not 0 < start_factor <= 1:
        raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")
    if warmup_epochs == 0:
        return lr0
    return lr0 * (start_factor + (1 - start_factor) * min(epoch, warmup_epochs) / warmup_epochs)


def warmup_cosine(epoch, lr0, total, warmup_epochs, lr_min=0.0, start_factor=1 / 3):
    """Linear warm-up for ``warmup_epochs``, then cosine decay to ``lr_min`` at ``total``:
    ``SequentialLR([LinearLR, CosineAnnealingLR(T_max=total − warmup_epochs)], [warmup_epochs])``."""
    _check_epoch(epoch)
    if not 0 <= warmup_epochs < total:
        raise ValueError(f"need 0 ≤ warmup_epochs < total, got warmup_epochs={warmup_epochs}, total={total}")
    if epoch < warmup_epochs:
        return warmup(epoch, lr0, warmup_epochs, start_factor)
    return cosine_lr(epoch - warmup_epochs, lr0, total - warmup_epochs, lr_min)


class ReduceOnPlateau:
    """"Divide the lr by 10 when the loss stops going down": ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    Call :meth:`step` once per epoch with the monitored value; it returns the lr for the next epoch.

    Args:
        lr: the initial learning rate.
        factor: multiply the lr by this when the metric has not improved for more than
            ``patience`` epochs.
        patience, threshold, threshold_mode ("rel" | "abs"), mode ("min" | "max"), cooldown, min_lr,
            eps: as in torch.
    """

    def __init__(self, lr, factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel", mode="min",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        _check_nonneg(patience=patience, cooldown=cooldown)
        self.lr, self.factor, self.patience, self.threshold = lr, factor, patience, threshold
        self.threshold_mode, self.mode, self.cooldown, self.min_lr, self.eps = \
            threshold_mode, mode, cooldown, min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def _is_better(self, a):
        if self.threshold_mode == "rel":
            scale = 1 - self.threshold if self.mode == "min" else 1 + self.threshold
            return a < self.best * scale if self.mode == "min" else a > self.best * scale
        return a < self.best - self.threshold if self.mode == "min" else a > self.best + self.threshold

    def step(self, metric):
        """Record this epoch's ``metric``; return the (possibly reduced) lr."""
        current = float(metric)
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.lr


# --------------------------------------------------------------------------- initialisation

_LINEAR = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """``torch.nn.init.calculate_gain``: 1 (linear, conv, sigmoid), 5/3 (tanh), √2 (relu),
    √(2 / (1 + slope²)) (leaky_relu, slope ``param`` defaulting to 0.01), 3/4 (selu)."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; use one of linear, sigmoid, tanh, relu, "
                     "leaky_relu, selu or a conv name")


def fan_in_and_fan_out(shape):
    """(fan_in, fan_out) of a weight of ``shape`` as torch computes them.

    Linear weights are (D_out, D_in); conv weights (F, C, KH, KW): the receptive field
    KH·KW multiplies both, fan_in = C·KH·KW and fan_out = F·KH·KW.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def gaussian_init(shape, rng=None, mean=0.0, std=1.0):
    """Normal(mean, std²) weights, like ``torch.nn.init.normal_`` (the notes' "Gaussian × a small number")."""
    _check_nonneg(std=std)
    return np.random.default_rng(rng).normal(mean, std, size=tuple(shape))


def uniform_init(shape, rng=None, a=0.0, b=1.0):
    """Uniform(a, b) weights, like ``torch.nn.init.uniform_``."""
    if b < a:
        raise ValueError(f"need a ≤ b, got a={a}, b={b}")
    return np.random.default_rng(rng).uniform(a, b, size=tuple(shape))


def xavier_uniform(shape, rng=None, gain=1.0):
    """Glorot & Bengio (2010): Uniform(−b, b) with b = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).uniform(-bound, bound, size=tuple(shape))


def xavier_normal(shape, rng=None, gain=1.0):
    """Glorot & Bengio (2010): Normal(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).normal(0.0, std, size=tuple(shape))


def kaiming_uniform(shape, rng=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): Uniform(−b, b) with b = √3·gain/√fan (gain from :func:`calculate_gain`)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    bound = math.sqrt(3.0) * std
    return np.random.default_rng(rng).uniform(-bound, bound, size=tuple(shape))


def kaiming_normal(shape, rng=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): Normal(0, std²) with std = gain/√fan; for ReLU gain = √2, std = √(2/fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return np.random.default_rng(rng).normal(0.0, std, size=tuple(shape))


# --------------------------------------------------------------------------- mini-batches

def minibatches(n, batch_size, rng=None, shuffle=True, drop_last=False):
    """Index arrays of the mini-batches of one epoch over ``n`` examples.

    Args:
        n: number of examples.
        batch_size: examples per batch (the last one may be smaller unless ``drop_last``).
        rng: numpy Generator (or seed) used for ``rng.permutation(n)`` when ``shuffle``.
        shuffle: a new random order every epoch; False keeps 0, 1, …, n − 1.
        drop_last: drop the last, incomplete batch (like ``DataLoader(drop_last=True)``).

    Returns:
        list of int64 arrays; together they hold each index once (ceil(n / batch_size) batches).
    """
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]
