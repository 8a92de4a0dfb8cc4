"""Neural-network basics in numpy: the perceptron, affine layers, softmax cross-entropy and a
two-layer MLP trained by backpropagation and mini-batch SGD.

Layers follow ``torch.nn.functional``: ``affine(x, weight, bias)`` is ``F.linear`` (weight of shape
(D_out, D_in), ``out = x @ weight.T + bias``) and ``softmax_cross_entropy`` is ``F.cross_entropy``
with its default mean reduction. Backward functions take the forward's arguments:
``affine_backward(dout, x, weight, bias) -> (dx, dw, db)``.

Shape glossary: N batch, D / D_in input features, D_out output features, H hidden units, K classes.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "affine",
    "affine_backward",
    "init_mlp",
    "mlp_forward",
    "mlp_loss_and_grads",
    "mlp_predict",
    "numerical_gradient",
    "perceptron_predict",
    "perceptron_train",
    "relu",
    "relu_backward",
    "softmax_cross_entropy",
    "train_mlp",
]

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _array(value, name):
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(value).__name__}")
    return value


def _check_matrix(x, name, axes="(N, D)"):
    _array(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape {axes}, got shape {x.shape}")


def _check_labels(y, n, name="y", num_classes=None):
    """Integer labels of shape (N,), each in [0, num_classes) when num_classes is given."""
    _array(y, name)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape (N,) = ({n},), got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if num_classes is not None and n and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise ValueError(f"{name} has label {bad} but the scores have K={num_classes} classes "
                         f"(labels must be in 0..{num_classes - 1})")


# --------------------------------------------------------------------------- perceptron

def perceptron_predict(X, w, b):
    """Rosenblatt's threshold unit: 1 where ``X @ w + b > 0``, else 0.

    Args:
        X: inputs of shape (N, D).
        w: weights of shape (D,).
        b: bias (a float).

    Returns:
        int64 array of shape (N,) with values in {0, 1} (a score of exactly 0 gives 0).
    """
    _check_matrix(X, "X")
    _array(w, "w")
    if w.shape != (X.shape[1],):
        raise ValueError(f"w must have shape (D,) = ({X.shape[1]},) for X of shape {X.shape}, got {w.shape}")
    return (X @ w + b > 0).astype(np.int64)  # (N,)


def perceptron_train(X, y, epochs=20, lr=1.0, seed=None):
    """Rosenblatt's perceptron learning rule, one sample at a time.

    Starts from ``w = 0`` (float64) and ``b = 0.0``. Every epoch visits the samples in order
    (``seed=None``) or in the order ``rng.permutation(N)``, where ``rng = np.random.default_rng(seed)``
    is created once before the first epoch. For each sample, ``ŷ = perceptron_predict(x_i, w, b)``
    and, if ``ŷ != y_i``: ``w += lr·(y_i − ŷ)·x_i`` and ``b += lr·(y_i − ŷ)`` (an error). Training
    stops after the first epoch without errors, or after ``epochs`` epochs.

    Converges in finitely many updates on linearly separable data (Novikoff, 1962); never on XOR.

    Args:
        X: inputs of shape (N, D).
        y: labels of shape (N,) with values in {0, 1}.
        epochs: the largest number of passes over the data (int >= 1).
        lr: learning rate (> 0).
        seed: None for a fixed order, or an int to shuffle every epoch.

    Returns:
        ``(w, b, errors)``: weights (D,) float64, bias as a float, and an int64 array of shape
        (E,) with the number of errors (updates) in each of the E <= ``epochs`` epochs run.
    """
    _check_matrix(X, "X")
    n, d = X.shape
    _check_labels(y, n)
    if n and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"perceptron labels must be 0 or 1, got values {np.unique(y)[:5].tolist()} "
                         "(for ±1 labels use (y + 1) // 2)")
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    w, b = np.zeros(d), 0.0
    rng = None if seed is None else np.random.default_rng(seed)
    errors = []
    for _ in range(int(epochs)):
        order = range(n) if rng is None else rng.permutation(n)
        mistakes = 0
        for i in order:
            update = y[i] - (X[i] @ w + b > 0)  # +1, -1 or 0
            if update:
                w += lr * update * X[i]
                b += lr * update
                mistakes += 1
        errors.append(mistakes)
        if mistakes == 0:
            break
    return w, float(b), np.array(errors, dtype=np.int64)


# --------------------------------------------------------------------------- layers

def _check_affine(x, weight, bias):
    _array(x, "x")
    _array(weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"weight must have shape (D_out, D_in), got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x has D_in={x.shape[-1] if x.ndim else None} features (x shape {x.shape}) "
                         f"but weight expects {weight.shape[1]} (weight shape {weight.shape})")
    if bias is not None and (not isinstance(bias, np.ndarray) or bias.shape != (weight.shape[0],)):
        seen = f"shape {bias.shape}" if isinstance(bias, np.ndarray) else type(bias).__name__
        raise ValueError(f"bias must have shape (D_out,) = ({weight.shape[0]},) for weight shape "
                         f"{weight.shape}, got {seen}")


def affine(x, weight, bias=None):
    """Fully-connected (affine) layer, same as ``torch.nn.functional.linear``.

    Args:
        x: input of shape (N, D_in) (any leading dimensions (..., D_in) work too).
        weight: (D_out, D_in).
        bias: (D_out,) or None.

    Returns:
        ``x @ weight.T + bias`` of shape (N, D_out).
    """
    _check_affine(x, weight, bias)
    out = x @ weight.T  # (N, D_out)
    return out if bias is None else out + bias


def affine_backward(dout, x, weight, bias=None):
    """Gradients of :func:`affine`.

    Args:
        dout: upstream gradient of shape (N, D_out).
        x, weight, bias: the arguments of the forward call.

    Returns:
        ``(dx, dw, db)`` of shapes (N, D_in), (D_out, D_in) and (D_out,); ``db`` is None when
        ``bias`` is None.
    """
    _check_affine(x, weight, bias)
    _array(dout, "dout")
    expected = (*x.shape[:-1], weight.shape[0])
    if dout.shape != expected:
        raise ValueError(f"dout must have the output's shape (N, D_out) = {expected}, got shape {dout.shape}")
    dout2 = dout.reshape(-1, weight.shape[0])  # (N, D_out), leading dimensions flattened
    x2 = x.reshape(-1, weight.shape[1])  # (N, D_in)
    dx = dout @ weight  # (N, D_in)
    dw = dout2.T @ x2  # (D_out, D_in)
    db = None if bias is None else dout2.sum(axis=0)  # (D_out,)
    return dx, dw, db


def relu(x):
    """``max(x, 0)`` element-wise, same as ``torch.relu``."""
    return np.maximum(x, 0)


def relu_backward(dout, x):
    """Gradient of :func:`relu`: ``dout`` where ``x > 0``, else 0 (torch's choice at 0)."""
    return dout * (x > 0)


def softmax_cross_entropy(scores, y):
    """Mean softmax cross-entropy and its gradient, same as ``F.cross_entropy(scores, y)``.

    ``loss = −mean_i log softmax(scores_i)[y_i]``, computed stably by subtracting each row's max.

    Args:
        scores: raw class scores (logits) of shape (N, K).
        y: integer labels of shape (N,), each in 0..K−1.

    Returns:
        ``(loss, dscores)``: the loss as a float and ∂loss/∂scores of shape (N, K),
        ``(softmax(scores) − onehot(y)) / N``.
    """
    _check_matrix(scores, "scores", "(N, K)")
    n, k = scores.shape
    if n == 0:
        raise ValueError("scores is empty: need at least one sample (N >= 1)")
    _check_labels(y, n, num_classes=k)
    shifted = scores - scores.max(axis=1, keepdims=True)  # (N, K), row max is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, K)
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dscores = np.exp(log_probs)  # softmax, (N, K)
    dscores[rows, y] -= 1
    return float(loss), dscores / n


# --------------------------------------------------------------------------- two-layer MLP

def _check_params(X, params):
    if not isinstance(params, dict) or any(k not in params for k in PARAM_NAMES):
        raise ValueError(f"params must be a dict with keys {PARAM_NAMES}, got "
                         f"{sorted(params) if isinstance(params, dict) else type(params).__name__}")
    W1, b1, W2, b2 = (_array(params[k], f"params[{k!r}]") for k in PARAM_NAMES)
    if W1.ndim != 2 or W2.ndim != 2:
        raise ValueError(f"W1 and W2 must be 2-D, got shapes {W1.shape} and {W2.shape}")
    h, d = W1.shape
    k = W2.shape[0]
    expected = {"W1": (h, d), "b1": (h,), "W2": (k, h), "b2": (k,)}
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(f"params[{name!r}] has shape {params[name].shape}, expected {shape} "
                             f"(W1 shape {W1.shape} means H={h} hidden units, D={d} inputs)")
    x = _array(X, "X").reshape(len(X), -1)  # (N, D): images are flattened
    if x.shape[1] != d:
        raise ValueError(f"X has D={x.shape[1]} features (X shape {X.shape}) but W1 expects {d} "
                         f"(W1 shape {W1.shape})")
    return x


def mlp_forward(X, params):
    """Scores of the two-layer net affine → ReLU → affine.

    Args:
        X: inputs of shape (N, D), or (N, ...) flattened to (N, D).
        params: dict with ``W1`` (H, D), ``b1`` (H,), ``W2`` (K, H), ``b2`` (K,).

    Returns:
        Class scores of shape (N, K).
    """
    x = _check_params(X, params)
    hidden = relu(affine(x, params["W1"], params["b1"]))  # (N, H)
    return affine(hidden, params["W2"], params["b2"])  # (N, K)


def mlp_predict(X, params):
    """Predicted classes (N,) of the two-layer net: the arg-max of :func:`mlp_forward`."""
    return mlp_forward(X, params).argmax(axis=1)


def mlp_loss_and_grads(X, y, params, reg=0.0):
    """Loss and gradients of the two-layer net affine → ReLU → affine → softmax cross-entropy.

    ``loss = softmax_cross_entropy(scores, y) + reg/2 · (‖W1‖² + ‖W2‖²)``: the L2 term's gradient
    ``reg · W`` is what ``torch.optim.SGD(weight_decay=reg)`` adds. Biases are not regularised.

    Args:
        X: inputs of shape (N, D), or (N, ...) flattened to (N, D).
        y: integer labels of shape (N,), each in 0..K−1.
        params: dict with ``W1`` (H, D), ``b1`` (H,), ``W2`` (K, H), ``b2`` (K,).
        reg: L2 regularisation strength (>= 0).

    Returns:
        ``(loss, grads)``: the loss as a float and a dict with the gradients of ``W1``, ``b1``,
        ``W2``, ``b2`` (same shapes as the parameters).
    """
    x = _check_params(X, params)
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    z1 = affine(x, W1, b1)  # (N, H)
    h = relu(z1)  # (N, H)
    scores = affine(h, W2, b2)  # (N, K)
    loss, dscores = softmax_cross_entropy(scores, y)
    loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dh, dW2, db2 = affine_backward(dscores, h, W2, b2)  # (N, H), (K, H), (K,)
    dz1 = relu_backward(dh, z1)  # (N, H)
    _, dW1, db1 = affine_backward(dz1, x, W1, b1)  # (H, D), (H,)
    return float(loss), {"W1": dW1 + reg * W1, "b1": db1, "W2": dW2 + reg * W2, "b2": db2}


def init_mlp(d_in, d_hidden, d_out, seed=0):
    """Random parameters of a two-layer net: He-normal ``W1`` (std √(2/D)), ``W2`` with std √(1/H),
    zero biases, all float64.

    Returns:
        dict with ``W1`` (H, D), ``b1`` (H,), ``W2`` (K, H), ``b2`` (K,).
    """
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((d_hidden, d_in)) * np.sqrt(2.0 / d_in), "b1": np.zeros(d_hidden),
            "W2": rng.standard_normal((d_out, d_hidden)) * np.sqrt(1.0 / d_hidden), "b2": np.zeros(d_out)}


def train_mlp(X, y, params, epochs=20, batch_size=64, lr=0.1, reg=0.0, seed=0, X_val=None, y_val=None):
    """Mini-batch stochastic gradient descent on :func:`mlp_loss_and_grads`.

    Every epoch shuffles the training set with ``np.random.default_rng(seed)`` and takes one step
    ``p ← p − lr · ∂loss/∂p`` per batch. ``params`` is not modified: a trained copy is returned.

    Args:
        X, y: training inputs (N, D) (or (N, ...)) and labels (N,).
        params: initial parameters, e.g. from :func:`init_mlp`.
        epochs, batch_size, lr, reg, seed: the usual hyper-parameters.
        X_val, y_val: optional validation set, scored after every epoch.

    Returns:
        ``(params, history)``; ``history`` has ``loss`` (one value per step) and ``train_acc``,
        ``val_acc`` (one value per epoch; ``val_acc`` empty without a validation set).
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    rng = np.random.default_rng(seed)
    history = {"loss": [], "train_acc": [], "val_acc": []}
    n = len(X)
    for _ in range(int(epochs)):
        order = rng.permutation(n)
        for start in range(0, n, int(batch_size)):
            idx = order[start:start + int(batch_size)]
            loss, grads = mlp_loss_and_grads(X[idx], y[idx], params, reg)
            for k in PARAM_NAMES:
                params[k] -= lr * grads[k]
            history["loss"].append(loss)
        history["train_acc"].append(float(np.mean(mlp_predict(X, params) == y)))
        if X_val is not None:
            history["val_acc"].append(float(np.mean(mlp_predict(X_val, params) == y_val)))
    return params, history


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to the array ``x``.

    ``x`` is perturbed in place, one element at a time, and every element is restored exactly.

    Args:
        f: function of ``x`` returning an array (or a scalar when ``dout`` is None).
        x: float array, perturbed in place.
        dout: upstream gradient with the shape of ``f(x)``; None if ``f`` returns a scalar.
        h: step size.

    Returns:
        Array of the shape of ``x``: d sum(f(x) * dout) / dx.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a float numpy array (it is perturbed in place), got {type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable: numerical_gradient perturbs it in place")

    def objective():
        out = np.array(f(x), dtype=np.float64)  # a copy: f may return a view of x
        if dout is None:
            if out.ndim != 0 and out.size != 1:
                raise ValueError(f"f returned shape {out.shape}; pass dout, or make f return a scalar")
            return float(out.reshape(()))
        if out.shape != np.shape(dout):
            raise ValueError(f"dout has shape {np.shape(dout)} but f(x) has shape {out.shape}")
        return float(np.sum(out * dout))

    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx].copy()
        x[idx] = old + h
        plus = objective()
        x[idx] = old - h
        minus = objective()
        x[idx] = old  # exact restore
        grad[idx] = (plus - minus) / (2 * h)
    return grad
