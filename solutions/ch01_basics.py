# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 1 — Neural-network basics
#
# In 1958 Frank Rosenblatt described the **perceptron** (感知机; a 1957 Cornell report is the date
# the lecture notes give): a single artificial neuron that adds up weighted inputs, fires when the sum
# passes a threshold, and *learns its weights from its mistakes*. His Mark I machine learned to tell
# simple shapes apart from a 20×20 grid of photocells, and the press promised thinking machines.
#
# In 1969 Marvin Minsky and Seymour Papert's book *Perceptrons* showed what one such neuron can never
# do: anything that is not linearly separable — the simplest example is **XOR** (exclusive or). Stacking
# neurons into layers fixes that, but nobody knew how to train the hidden ones, and the field went into
# its "ice age" (冰河期 in the notes). The revival came with **backpropagation** (反向传播): Rumelhart,
# Hinton & Williams (1986) showed that the chain rule gives every weight of a multi-layer network its
# share of the error, so gradient descent (梯度下降) can train hidden layers (隐藏层).
#
# In this chapter you retrace that story in numpy and check every piece against PyTorch:
#
# | # | you write | points |
# |---|---|---|
# | 1 | `perceptron_predict` — the threshold neuron | 1 |
# | 2 | `perceptron_train` — Rosenblatt's learning rule | 2 |
# | 3 | `affine` — a fully-connected layer, like `torch.nn.functional.linear` | 1 |
# | 4 | `affine_backward` — its gradients by the chain rule | 2 |
# | 5 | `numerical_gradient` — central differences, to check any gradient | 2 |
# | 6 | `softmax_cross_entropy` — the classification loss and its gradient | 3 |
# | 7 | `mlp_loss_and_grads` — forward and backward through a two-layer network | 4 |
#
# Then you train your network on handwritten digits (≥ 95 % test accuracy in a second or two) and
# watch a hidden layer bend the decision boundary that a single perceptron must keep straight.
#
# Each exercise has a `check_*` cell: run it after writing your code. It explains the first thing
# that is wrong (shape, dtype, which element, expected vs got). Grading runs the same checks on more,
# randomised cases. While your function is checked, `torch`, `scipy` and the course's reference
# implementations are switched off: write the numpy yourself.
#
# Shapes follow PyTorch: a batch of inputs is `(N, D)` (samples, features); a layer's weight is
# `(D_out, D_in)` like `torch.nn.Linear.weight`; H is the number of hidden units, K of classes.
#
# **Key terms** ([glossary](../../docs/glossary.md)): fully-connected layer 全连接层 · backpropagation 反向传播 · gradient checking 梯度检验 · activation function 激活函数 · step function 阶跃函数 · perceptron 感知机 · error-driven learning 错误驱动 · feed-forward neural network 前馈神经网络 · multi-layer perceptron (MLP) 多层感知机 · hidden layer 隐藏层 · credit assignment problem 贡献度分配问题 · gradient descent 梯度下降

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from tqdm.auto import trange

from course_lib.data import digits_split, make_moons, make_separable, make_xor
from course_lib.gradcheck import gradcheck, rel_error
from course_lib.reference.mlp import init_mlp  # this chapter's answer, used for the experiments
from course_lib.testing import (
    check_affine,
    check_affine_backward,
    check_mlp_loss_and_grads,
    check_numerical_gradient,
    check_perceptron_predict,
    check_perceptron_train,
    check_softmax_cross_entropy,
)

np.set_printoptions(precision=4, suppress=True)
CLASS_COLORS = ["#1f77b4", "#d62728"]


def plot_regions(ax, predict, X, y, title="", pad=0.6, steps=200):
    """Colour the plane by ``predict(points)`` (class 0 blue, class 1 red) and scatter (X, y) on top."""
    (x0, y0), (x1, y1) = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(x0, x1, steps), np.linspace(y0, y1, steps))
    grid = np.column_stack([gx.ravel(), gy.ravel()])                      # (steps², 2)
    regions = np.asarray(predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, regions, levels=[-0.5, 0.5, 1.5], cmap=ListedColormap(["#c6dbef", "#fcbba1"]))
    for k in (0, 1):
        ax.scatter(*X[y == k].T, s=18, c=CLASS_COLORS[k], edgecolors="k", linewidths=0.4, label=f"class {k}")
    accuracy = np.mean(np.asarray(predict(X)) == y)
    ax.set_title(f"{title}\naccuracy {accuracy:.0%}", fontsize=10)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


# %% [markdown]
# ## 1. The perceptron: a neuron with a threshold
#
# A perceptron computes a weighted sum of its inputs plus a bias, the **score** $z = w\cdot x + b$,
# and passes it through a step function (阶跃函数): it outputs 1 when $z > 0$ and 0 otherwise. The
# set $w\cdot x + b = 0$ is a straight line in 2-D (a hyperplane in D dimensions) — the **decision
# boundary** — with class 1 on the side $w$ points to.
#
# With hand-picked weights one perceptron computes AND, OR or NAND of two binary inputs (the notes:
# "当调整 w, b 时,可以得到不同的变体逻辑运算(比如与或非)"). For AND, $w = (1, 1)$, $b = -1.5$: the sum
# passes 1.5 only when both inputs are 1.
#
# **Exercise 1.** Classify a whole batch at once: `X` is `(N, D)`, `w` is `(D,)`, `b` a float. Return
# an int array of 0s and 1s of shape `(N,)`. A score of exactly 0 is class 0.

# %% nbgrader={"grade": false, "grade_id": "perceptron_predict", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perceptron_predict(X, w, b):
    """Threshold unit: 1 where X @ w + b > 0, else 0.

    Args:
        X: inputs of shape (N, D).
        w: weights of shape (D,).
        b: bias (float).

    Returns:
        int array of shape (N,) with values in {0, 1}.
    """
    ### BEGIN SOLUTION
    return (X @ w + b > 0).astype(np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_perceptron_predict", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "perceptron_predict", "seed": 101}
check_perceptron_predict(perceptron_predict)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("perceptron_predict", perceptron_predict, seed=101)
### END HIDDEN TESTS

# %% [markdown]
# Three logic gates, one perceptron each:

# %%
truth = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
gates = {"AND": (np.array([1.0, 1.0]), -1.5), "OR": (np.array([1.0, 1.0]), -0.5),
         "NAND": (np.array([-1.0, -1.0]), 1.5)}
print("x1 x2 | " + "  ".join(f"{g:>4}" for g in gates))
for row, x in enumerate(truth):
    outputs = [perceptron_predict(truth, w, b)[row] for w, b in gates.values()]
    print(f" {x[0]:.0f}  {x[1]:.0f} | " + "  ".join(f"{o:>4}" for o in outputs))

# %% [markdown]
# ## 2. Learning from mistakes: Rosenblatt's rule
#
# Choosing weights by hand does not scale. Rosenblatt's rule is **error-driven** (错误驱动): start from
# $w = 0, b = 0$, visit the samples one by one, and whenever the prediction $\hat y$ is wrong, move the
# boundary towards the right answer:
#
# $$w \leftarrow w + \eta\,(y - \hat y)\,x, \qquad b \leftarrow b + \eta\,(y - \hat y)$$
#
# ($y - \hat y$ is +1 for a missed positive, −1 for a false positive, and 0 — no change — when
# correct). Repeat epochs (passes over the data) until an epoch makes no mistake. The notes' five steps:
# initialise the weights; take a sample; compute the output; apply the rule; go back to step 2 until
# every output equals its target.
#
# The **perceptron convergence theorem** (Novikoff, 1962): if some line separates the classes with a
# margin γ and every $\|x\| \le R$, the rule makes at most $(R/\gamma)^2$ mistakes — whatever the order.
#
# **Exercise 2.** Implement the rule. `epochs` is the largest number of passes; stop early after the
# first epoch without errors. With `seed=None` visit the samples in order 0, 1, …, N−1; with an int
# seed, create `rng = np.random.default_rng(seed)` once and visit `rng.permutation(N)` in each epoch.
# Return `(w, b, errors)`: float64 weights `(D,)`, the bias as a float, and an int array with the number
# of mistakes of each epoch that ran. Raise `ValueError` if the labels are not all 0 or 1 (a common
# mix-up: ±1 labels).

# %% nbgrader={"grade": false, "grade_id": "perceptron_train", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perceptron_train(X, y, epochs=20, lr=1.0, seed=None):
    """Rosenblatt's perceptron learning rule.

    Args:
        X: inputs of shape (N, D).
        y: labels of shape (N,) in {0, 1}.
        epochs: largest number of passes over the data.
        lr: learning rate η.
        seed: None (fixed order) or an int (shuffle every epoch).

    Returns:
        (w, b, errors): w (D,) float64, b float, errors int array (E,), E ≤ epochs.
    """
    ### BEGIN SOLUTION
    n, d = X.shape
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, expected ({n},)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got {np.unique(y)}")
    w, b = np.zeros(d), 0.0
    rng = None if seed is None else np.random.default_rng(seed)
    errors = []
    for _ in range(epochs):
        order = range(n) if rng is None else rng.permutation(n)
        mistakes = 0
        for i in order:
            y_hat = perceptron_predict(X[i:i + 1], w, b)[0]
            if y_hat != y[i]:
                w += lr * (y[i] - y_hat) * X[i]
                b += lr * (y[i] - y_hat)
                mistakes += 1
        errors.append(mistakes)
        if mistakes == 0:
            break
    return w, float(b), np.array(errors, dtype=np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_perceptron_train", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "perceptron_train", "seed": 102}
check_perceptron_train(perceptron_train)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("perceptron_train", perceptron_train, seed=102)
### END HIDDEN TESTS

# %% [markdown]
# Watch it learn on a linearly separable toy set. The first epoch visits the samples in order, so the
# state after the first m samples is `perceptron_train(X[:m], y[:m], epochs=1)`: each faint line is
# the boundary right after one of the mistakes of epoch 1; the thick line is where training stops.

# %%
X_sep, y_sep = make_separable(40, margin=0.15, seed=10)
w, b, errors = perceptron_train(X_sep, y_sep, epochs=50)
print(f"errors per epoch: {errors.tolist()} → converged after {len(errors)} epochs; w = {w}, b = {b:.1f}")


def boundary(ax, w, b, **style):
    """Draw the line w·x + b = 0 across the current x-range."""
    xs = np.array(ax.get_xlim())
    if abs(w[1]) > 1e-12:
        ax.plot(xs, -(w[0] * xs + b) / w[1], **style)
    elif abs(w[0]) > 1e-12:
        ax.axvline(-b / w[0], **style)


fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
for k in (0, 1):
    ax.scatter(*X_sep[y_sep == k].T, c=CLASS_COLORS[k], edgecolors="k", linewidths=0.4, label=f"class {k}")
ax.set_xlim(X_sep[:, 0].min() - 0.5, X_sep[:, 0].max() + 0.5)
ax.set_ylim(X_sep[:, 1].min() - 0.5, X_sep[:, 1].max() + 0.5)
previous, updates = np.zeros(2), 0
for m in range(1, len(X_sep) + 1):
    w_m, b_m, _ = perceptron_train(X_sep[:m], y_sep[:m], epochs=1)
    if not np.array_equal(w_m, previous):                    # sample m − 1 was a mistake
        updates += 1
        boundary(ax, w_m, b_m, color="gray", alpha=0.25 + 0.6 * updates / errors[0], lw=1,
                 label="after each mistake of epoch 1" if updates == 1 else None)
    previous = w_m
boundary(ax, w, b, color="k", lw=2.5, label=f"final (epoch {len(errors)})")
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
ax.set_title("The perceptron's decision line as it learns")
ax_err.bar(np.arange(1, len(errors) + 1), errors, color="#555")
ax_err.set_xlabel("epoch")
ax_err.set_ylabel("mistakes (= updates)")
ax_err.set_title("Separable data: the mistakes stop")
ax_err.set_xticks(np.arange(1, len(errors) + 1))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. XOR: why one neuron is not enough
#
# XOR is 1 when exactly one input is 1. The two 1s sit on one diagonal of the unit square and the
# two 0s on the other: no straight line separates them. Minsky and Papert's argument in one line:
# class 1 needs $w_1 + b > 0$ and $w_2 + b > 0$, class 0 needs $b \le 0$ and $w_1 + w_2 + b \le 0$; adding
# the first two gives $w_1 + w_2 + 2b > 0$, adding the last two $w_1 + w_2 + 2b \le 0$. Contradiction.
# The learning rule therefore never stops making mistakes:

# %%
X_xor, y_xor = make_xor()          # the truth table: (0,0)→0, (0,1)→1, (1,0)→1, (1,1)→0
w_xor, b_xor, errors_xor = perceptron_train(X_xor, y_xor, epochs=30)
print(f"XOR, 30 epochs: mistakes per epoch {errors_xor.tolist()}")
print(f"never 0 → the perceptron cycles for ever; final predictions {perceptron_predict(X_xor, w_xor, b_xor)} "
      f"vs targets {y_xor}")

# %% [markdown]
# A **hidden layer** (隐藏层) solves it. XOR = (x₁ OR x₂) AND NOT (x₁ AND x₂) = AND(OR, NAND): two
# hidden perceptrons compute OR and NAND, an output perceptron takes their AND. This 2-2-1 network is
# a tiny **multi-layer feed-forward network** (多层前馈神经网络): every layer's output is the next
# layer's input, nothing flows back. Each hidden unit draws one line; the output combines the two
# half-planes into the band between them — a region no single line can make.

# %%
def xor_net(X):
    """A hand-wired 2-2-1 network of perceptrons: OR and NAND in the hidden layer, AND on top."""
    hidden = np.column_stack([perceptron_predict(X, *gates["OR"]),
                              perceptron_predict(X, *gates["NAND"])])    # (N, 2)
    return perceptron_predict(hidden, *gates["AND"])                      # (N,)


X_cloud, y_cloud = make_xor(200, noise=0.12, seed=1)                     # XOR with noise, 200 points
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
plot_regions(axes[0], lambda P: perceptron_predict(P, w_xor, b_xor), X_cloud, y_cloud,
             "one perceptron, 30 epochs on the XOR truth table")
plot_regions(axes[1], xor_net, X_cloud, y_cloud, "2-2-1 network: AND(OR, NAND)")
axes[1].legend(loc="center left", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Here *we* chose the hidden units' weights. The rule of Section 2 cannot: it needs the target of
# every unit, and a hidden unit has none — which share of the output's error is its fault? (The notes
# call this the **credit assignment problem**, 贡献度分配问题.) The answer is to replace the step by
# functions with useful derivatives and let the chain rule hand the error back, layer by layer. The
# rest of the chapter builds exactly that.
#
# ## 4. The affine (fully-connected) layer
#
# A layer of D_out neurons, each connected to all D_in inputs (a **fully-connected layer**, 全连接层),
# is one matrix product for the whole batch:
#
# $$\text{out} = x\,W^\top + b, \qquad x: (N, D_{in}),\; W: (D_{out}, D_{in}),\; b: (D_{out},),\;
# \text{out}: (N, D_{out})$$
#
# Row $j$ of $W$ holds the weights of neuron $j$; this is PyTorch's layout (`nn.Linear(D_in, D_out).weight`
# has shape `(D_out, D_in)`), and the function is `torch.nn.functional.linear`.
#
# **Exercise 3.** Implement it; `bias` may be `None`. Raise `ValueError` when `x`'s number of features
# is not `weight`'s D_in (say both shapes in the message).

# %% nbgrader={"grade": false, "grade_id": "affine", "locked": false, "schema_version": 3, "solution": true, "task": false}
def affine(x, weight, bias=None):
    """Fully-connected layer, same as torch.nn.functional.linear.

    Args:
        x: input of shape (N, D_in).
        weight: (D_out, D_in).
        bias: (D_out,) or None.

    Returns:
        Array of shape (N, D_out).
    """
    ### BEGIN SOLUTION
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[-1]} features (shape {x.shape}) but weight expects "
                         f"{weight.shape[1]} (shape {weight.shape})")
    out = x @ weight.T
    if bias is not None:
        out = out + bias
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_affine", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "affine", "seed": 103}
check_affine(affine)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("affine", affine, seed=103)
### END HIDDEN TESTS

# %% [markdown]
# Same numbers as PyTorch's `nn.Linear` with the same weights:

# %%
layer = torch.nn.Linear(5, 3).double()
x_demo = np.random.default_rng(0).standard_normal((4, 5))
with torch.no_grad():
    expected = layer(torch.from_numpy(x_demo)).numpy()
ours = affine(x_demo, layer.weight.detach().numpy(), layer.bias.detach().numpy())
print(f"nn.Linear(5, 3): weight {tuple(layer.weight.shape)}, max |yours − torch| = {np.abs(ours - expected).max():.1e}")

# %% [markdown]
# ## 5. Backpropagation through the affine layer
#
# Backpropagation is the chain rule organised by layers. A layer receives `dout` = ∂L/∂out (same shape
# as its output) from the layer above and returns the gradients with respect to its inputs and
# parameters. For $\text{out}_{nj} = \sum_i x_{ni} W_{ji} + b_j$:
#
# * $\partial L/\partial x_{ni} = \sum_j \text{dout}_{nj} W_{ji}$, i.e. **dx = dout · W** — shape (N, D_in);
# * $\partial L/\partial W_{ji} = \sum_n \text{dout}_{nj} x_{ni}$, i.e. **dW = doutᵀ · x** — shape (D_out, D_in);
# * $\partial L/\partial b_j = \sum_n \text{dout}_{nj}$, i.e. **db = dout summed over the batch**.
#
# A quick sanity rule: every gradient has the shape of the array it belongs to, and there is only one
# way to multiply the available matrices to get that shape.
#
# **Exercise 4.** Return `(dx, dw, db)`; `db` is `None` when `bias` is `None`.

# %% nbgrader={"grade": false, "grade_id": "affine_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def affine_backward(dout, x, weight, bias=None):
    """Gradients of the affine layer.

    Args:
        dout: upstream gradient of shape (N, D_out).
        x, weight, bias: the arguments of the forward call.

    Returns:
        (dx, dw, db) with the shapes of x, weight and bias (db is None when bias is None).
    """
    ### BEGIN SOLUTION
    dx = dout @ weight                                   # (N, D_in)
    dw = dout.T @ x                                      # (D_out, D_in)
    db = dout.sum(axis=0) if bias is not None else None  # (D_out,)
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_affine_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "affine_backward", "seed": 104}
check_affine_backward(affine_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("affine_backward", affine_backward, seed=104)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Trust, but verify: numerical gradients
#
# Backward passes are easy to get subtly wrong. The independent check is the definition of the
# derivative. For a scalar function $L$ of an array $x$, nudge one element at a time:
#
# $$\frac{\partial L}{\partial x_i} \approx \frac{L(x + h\,e_i) - L(x - h\,e_i)}{2h}$$
#
# The **central** difference has error $O(h^2)$ (the one-sided $(L(x+h)-L(x))/h$ only $O(h)$); with
# $h = 10^{-5}$ in float64 a correct gradient agrees to about 7–10 significant digits. When `f`
# returns an array instead of a scalar, check the scalar $L = \sum f(x) \cdot \text{dout}$ for some
# `dout`: its gradient is exactly what a backward function returns (**gradient checking**, 梯度检验).
#
# **Exercise 5.** `numerical_gradient(f, x, dout=None, h=1e-5)`: perturb `x` **in place**, one element
# at a time (`np.ndindex(x.shape)` visits every index of any shape), and compute $L$ with `f(x)` (when
# `dout` is None `f` returns a scalar) or `np.sum(f(x) * dout)`. Save each element's old value and put
# it back exactly — the checks verify that `x` is unchanged afterwards. (Careful: `f` may return `x`
# itself; compute $L$ from `f(x)` before you change `x` again.) Return a float64 array shaped like `x`.

# %% nbgrader={"grade": false, "grade_id": "numerical_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def numerical_gradient(f, x, dout=None, h=1e-5):
    """Central-difference gradient of sum(f(x) * dout) (or of f(x) if dout is None) w.r.t. x.

    Args:
        f: function of the array x.
        x: float array, perturbed in place and restored.
        dout: array of the shape of f(x), or None if f returns a scalar.
        h: step.

    Returns:
        float64 array of the shape of x.
    """
    ### BEGIN SOLUTION
    def loss():
        out = f(x)
        return out if dout is None else np.sum(out * dout)

    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = loss()
        x[idx] = old - h
        minus = loss()
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_numerical_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "numerical_gradient", "seed": 105}
check_numerical_gradient(numerical_gradient)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("numerical_gradient", numerical_gradient, seed=105)
### END HIDDEN TESTS

# %% [markdown]
# Now check your `affine_backward` with your `numerical_gradient`. The **relative error**
# $\max |a - n| / (|a| + |n|)$ is the number to read: ~1e-10 means correct, 1e-2 or worse means a bug.
# The course's `gradcheck` does the same for every input at once (and raises if one is off).

# %%
rng = np.random.default_rng(1)
x_gc, w_gc, b_gc = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
dout_gc = rng.standard_normal((4, 3))
dx, dw, db = affine_backward(dout_gc, x_gc, w_gc, b_gc)
print("your numerical_gradient vs your affine_backward:")
for name, analytic, arr in [("dx", dx, x_gc), ("dw", dw, w_gc), ("db", db, b_gc)]:
    numeric = numerical_gradient(lambda _: affine(x_gc, w_gc, b_gc), arr, dout_gc)
    print(f"  {name}: relative error {rel_error(analytic, numeric):.2e}")
errors = gradcheck(affine, {"x": x_gc, "weight": w_gc, "bias": b_gc}, {"x": dx, "weight": dw, "bias": db}, dout_gc)
print("course_lib.gradcheck:", {k: f"{v:.1e}" for k, v in errors.items()})

# %% [markdown]
# ## 7. Non-linearity and a loss for classification
#
# Stacking affine layers alone gains nothing: $W_2(W_1x + b_1) + b_2$ is again one affine map. Between
# them goes a non-linear **activation function** (激活函数). The step function has derivative 0
# everywhere (and none at 0), so no gradient can flow through it; modern networks use the **ReLU**
# $\max(0, z)$, whose gradient is 1 where $z > 0$ and 0 elsewhere (the notes: "多层神经网络一般使用relu").
# Here it is (activations get their own chapter):

# %%
def relu(x):
    """max(x, 0) element-wise."""
    return np.maximum(x, 0)


def relu_backward(dout, x):
    """Gradient of relu: dout where x > 0, else 0."""
    return dout * (x > 0)


# %% [markdown]
# For K classes the network outputs K raw **scores** (logits) per sample. **Softmax** turns them into
# probabilities $p_k = e^{s_k} / \sum_j e^{s_j}$, and the **cross-entropy loss** (交叉熵损失) is the
# negative log-probability of the correct class, averaged over the batch:
#
# $$L = -\frac{1}{N}\sum_n \log p_{n, y_n}, \qquad \frac{\partial L}{\partial s_{nk}} = \frac{p_{nk} - [k = y_n]}{N}$$
#
# The gradient is beautifully simple: predicted probability minus the one-hot target (divided by N
# because the loss is a mean). Two practical points: $e^{1000}$ overflows, so subtract each row's
# maximum from the scores first (softmax does not change when a constant is added to a row); and
# compute $\log p$ as $s_k - \log\sum_j e^{s_j}$ rather than taking the log of a rounded probability.
#
# **Exercise 6.** `softmax_cross_entropy(scores, y)` → `(loss, dscores)`: the loss as a float (same as
# `F.cross_entropy(scores, y)`) and its gradient `(N, K)`. Raise `ValueError` when `y` does not have
# shape `(N,)` or a label is outside `0..K−1`.

# %% nbgrader={"grade": false, "grade_id": "softmax_cross_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_cross_entropy(scores, y):
    """Mean softmax cross-entropy loss and its gradient.

    Args:
        scores: class scores of shape (N, K).
        y: integer labels of shape (N,) in 0..K-1.

    Returns:
        (loss, dscores): loss as a float, dscores of shape (N, K).
    """
    ### BEGIN SOLUTION
    n, k = scores.shape
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, expected ({n},) for scores of shape {scores.shape}")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must be in 0..{k - 1}, got {y}")
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores /= n
    return float(loss), dscores
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_softmax_cross_entropy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "softmax_cross_entropy", "seed": 106}
check_softmax_cross_entropy(softmax_cross_entropy)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("softmax_cross_entropy", softmax_cross_entropy, seed=106)
### END HIDDEN TESTS

# %% [markdown]
# PyTorch agrees, loss and gradient (from autograd). Note the untrained value: with K equal scores
# the loss is $\log K$ — for 10 classes 2.303, the number to expect at the start of training.

# %%
scores_demo = np.random.default_rng(2).standard_normal((6, 10))
y_demo = np.array([3, 1, 4, 1, 5, 9])
loss, dscores = softmax_cross_entropy(scores_demo, y_demo)
s_t = torch.from_numpy(scores_demo).requires_grad_()
loss_t = F.cross_entropy(s_t, torch.from_numpy(y_demo))
loss_t.backward()
print(f"loss: yours {loss:.6f}, torch {loss_t.item():.6f};  dscores rel. error {rel_error(dscores, s_t.grad.numpy()):.1e}")
print(f"all-zero scores, K=10: loss {softmax_cross_entropy(np.zeros((1, 10)), np.array([0]))[0]:.4f} = log 10")

# %% [markdown]
# ## 8. A two-layer network, forward and backward
#
# The network of this chapter (a **multi-layer perceptron**, MLP — 多层感知机 — with one hidden layer):
#
# ```
#  X (N, D) ─affine(W1, b1)→ z1 (N, H) ─relu→ h (N, H) ─affine(W2, b2)→ scores (N, K) ─softmax CE→ L
# ```
#
# The **forward pass** computes and keeps every intermediate value. The **backward pass** walks the
# same graph in reverse, each layer turning the gradient of its output into gradients of its inputs
# and parameters:
#
# ```
#  loss:      ∂L/∂scores               ← softmax_cross_entropy (the gradient it returns)
#  affine 2:  ∂L/∂h, ∂L/∂W2, ∂L/∂b2    ← affine_backward of ∂L/∂scores, with the forward's h, W2, b2
#  ReLU:      ∂L/∂z1                   ← relu_backward of ∂L/∂h, at z1
#  affine 1:  ∂L/∂X, ∂L/∂W1, ∂L/∂b1    ← affine_backward of ∂L/∂z1, with X, W1, b1
# ```
#
# That is all backpropagation is: "把输出层误差反向传播到隐藏层" (the notes) — the output layer's error
# passed back to the hidden layer through the same weights that carried the signal forward.
#
# **L2 regularisation** (weight decay) adds $\frac{\lambda}{2}(\|W_1\|^2 + \|W_2\|^2)$ to the loss, whose
# gradient is $\lambda W$ — exactly what `torch.optim.SGD(weight_decay=λ)` adds. Biases are not
# regularised.
#
# **Exercise 7.** `mlp_loss_and_grads(X, y, params, reg=0.0)` → `(loss, grads)`; `params` and `grads`
# are dicts with keys `"W1"` (H, D), `"b1"` (H,), `"W2"` (K, H), `"b2"` (K,). Use your functions above.

# %% nbgrader={"grade": false, "grade_id": "mlp_loss_and_grads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mlp_loss_and_grads(X, y, params, reg=0.0):
    """Loss and gradients of affine → ReLU → affine → softmax cross-entropy.

    Args:
        X: inputs of shape (N, D).
        y: labels of shape (N,) in 0..K-1.
        params: dict with W1 (H, D), b1 (H,), W2 (K, H), b2 (K,).
        reg: L2 strength λ; adds λ/2 (‖W1‖² + ‖W2‖²) to the loss.

    Returns:
        (loss, grads): loss as a float, grads a dict with the keys and shapes of params.
    """
    ### BEGIN SOLUTION
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z1 = affine(X, W1, b1)
    h = relu(z1)
    scores = affine(h, W2, b2)
    loss, dscores = softmax_cross_entropy(scores, y)
    loss += 0.5 * reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    dh, dW2, db2 = affine_backward(dscores, h, W2, b2)
    dz1 = relu_backward(dh, z1)
    _, dW1, db1 = affine_backward(dz1, X, W1, b1)
    grads = {"W1": dW1 + reg * W1, "b1": db1, "W2": dW2 + reg * W2, "b2": db2}
    return float(loss), grads
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mlp_loss_and_grads", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} course={"exercise": "mlp_loss_and_grads", "seed": 107}
check_mlp_loss_and_grads(mlp_loss_and_grads)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("mlp_loss_and_grads", mlp_loss_and_grads, seed=107)
### END HIDDEN TESTS

# %% [markdown]
# Two independent verifications of your backward pass: numerical gradients of the whole network
# (`course_lib.gradcheck`), and PyTorch's autograd on the same network with the same weights.

# %%
rng = np.random.default_rng(3)
X_small, y_small = rng.standard_normal((5, 4)), np.array([0, 2, 1, 2, 0])
params_small = init_mlp(4, 6, 3, seed=3)
params_small["b1"] = rng.standard_normal(6) * 0.1
loss, grads = mlp_loss_and_grads(X_small, y_small, params_small, reg=0.05)
errors = gradcheck(lambda **p: mlp_loss_and_grads(X_small, y_small, p, reg=0.05)[0], params_small, grads, None)
print("numerical vs backprop, relative errors:", {k: f"{v:.1e}" for k, v in errors.items()})

net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
with torch.no_grad():
    for layer, (w_name, b_name) in zip((net[0], net[2]), [("W1", "b1"), ("W2", "b2")]):
        layer.weight.copy_(torch.from_numpy(params_small[w_name]))
        layer.bias.copy_(torch.from_numpy(params_small[b_name]))
loss_t = F.cross_entropy(net(torch.from_numpy(X_small)), torch.from_numpy(y_small))
loss_t = loss_t + 0.05 / 2 * (net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum())
loss_t.backward()
torch_grads = {"W1": net[0].weight.grad, "b1": net[0].bias.grad, "W2": net[2].weight.grad, "b2": net[2].bias.grad}
print(f"loss: yours {loss:.8f}, torch {loss_t.item():.8f}")
print("torch autograd vs yours, relative errors:",
      {k: f"{rel_error(grads[k], g.numpy()):.1e}" for k, g in torch_grads.items()})

# %% [markdown]
# ## 9. Training on handwritten digits: mini-batch gradient descent
#
# **Gradient descent** (梯度下降) moves every parameter a small step against its gradient,
# $p \leftarrow p - \eta\,\partial L/\partial p$. Computing the gradient on the whole training set for
# every step is wasteful; **mini-batch stochastic gradient descent** (SGD) uses a random batch of, say,
# 64 samples per step and reshuffles the data every epoch. The loop below is the whole algorithm —
# read it, it uses your `mlp_loss_and_grads`.
#
# The data: scikit-learn's 1,797 handwritten digits, 8×8 pixels in [0, 1], flattened to D = 64
# features; 80 % for training, 20 % held out for testing. The network: 64 → 64 hidden ReLUs → 10 classes.

# %%
X_train, y_train, X_test, y_test = digits_split(test_fraction=0.2, seed=0)
X_train = X_train.reshape(len(X_train), -1).astype(np.float64)     # (1437, 64)
X_test = X_test.reshape(len(X_test), -1).astype(np.float64)        # (360, 64)


def predict(X, params):
    """Predicted classes (N,): the arg-max of the network's scores."""
    hidden = relu(affine(X, params["W1"], params["b1"]))
    return affine(hidden, params["W2"], params["b2"]).argmax(axis=1)


def sgd(params, X, y, epochs=30, batch_size=64, lr=0.5, reg=1e-4, seed=0, X_val=None, y_val=None,
        progress=True):
    """Mini-batch SGD on mlp_loss_and_grads; returns the trained parameters and a history."""
    params = {k: v.copy() for k, v in params.items()}
    rng = np.random.default_rng(seed)
    history = {"loss": [], "val_acc": []}
    for _ in trange(epochs, desc="epochs", disable=not progress):
        order = rng.permutation(len(X))                      # reshuffle every epoch
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]            # one mini-batch
            loss, grads = mlp_loss_and_grads(X[idx], y[idx], params, reg)
            for name in params:
                params[name] -= lr * grads[name]             # the gradient-descent step
            history["loss"].append(loss)
        if X_val is not None:
            history["val_acc"].append(np.mean(predict(X_val, params) == y_val))
    return params, history


start = time.perf_counter()
digits_params, history = sgd(init_mlp(64, 64, 10, seed=0), X_train, y_train, X_val=X_test, y_val=y_test)
seconds = time.perf_counter() - start
test_acc = np.mean(predict(X_test, digits_params) == y_test)
print(f"trained in {seconds:.1f} s ({len(history['loss'])} SGD steps); first loss {history['loss'][0]:.3f} "
      f"(log 10 = {np.log(10):.3f}), test accuracy {test_acc:.1%}")

# %%
steps_per_epoch = len(history["loss"]) // len(history["val_acc"])
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
ax_loss.plot(history["loss"], lw=0.6, alpha=0.5, label="per mini-batch")
smooth = np.convolve(history["loss"], np.ones(steps_per_epoch) / steps_per_epoch, mode="valid")
ax_loss.plot(np.arange(steps_per_epoch - 1, len(history["loss"])), smooth, lw=2, label="moving average (1 epoch)")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("SGD step")
ax_loss.set_ylabel("training loss (log scale)")
ax_loss.set_title("Cross-entropy loss")
ax_loss.legend()
ax_acc.plot(np.arange(1, len(history["val_acc"]) + 1), np.array(history["val_acc"]) * 100, "o-", ms=3)
ax_acc.axhline(95, color="gray", ls="--", lw=1, label="95 %")
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("test accuracy (%)")
ax_acc.set_ylim(50, 100)
ax_acc.set_title(f"Held-out digits: {test_acc:.1%} after {len(history['val_acc'])} epochs")
ax_acc.legend(loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# What did the hidden layer learn? Each row of $W_1$ is a 64-vector — an 8×8 template that a hidden
# unit matches against the image (red: positive weight, blue: negative). And the digits it still gets
# wrong:

# %%
fig, axes = plt.subplots(2, 8, figsize=(10, 3.4))
for j, ax in enumerate(axes[0]):
    template = digits_params["W1"][j].reshape(8, 8)
    limit = np.abs(template).max()
    ax.imshow(template, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"unit {j}", fontsize=8)
pred_test = predict(X_test, digits_params)
wrong = np.flatnonzero(pred_test != y_test)[:8]
for ax, i in zip(axes[1], wrong):
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"true {y_test[i]}\nsaid {pred_test[i]}", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle("top: weights of 8 hidden units (W1 rows as 8×8)   bottom: misclassified test digits", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 10. Hidden units bend the boundary
#
# Back to two dimensions, where we can see the decision regions. With a hidden layer trained by
# backprop the network finds its own features for XOR — no hand-wiring — and on the "two moons" a
# few hidden ReLUs already give a bent, piecewise-linear boundary; more units make it smoother.
# (Every ReLU unit contributes one line, where it switches on; the boundary is built from those pieces.)

# %%
X_moons, y_moons = make_moons(200, noise=0.12, seed=0)
runs = [("XOR (noisy): MLP 2-8-2", X_cloud, y_cloud, 8),
        ("moons: MLP 2-2-2", X_moons, y_moons, 2),
        ("moons: MLP 2-32-2", X_moons, y_moons, 32)]
w_moon, b_moon, _ = perceptron_train(X_moons, y_moons, epochs=100)
fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
plot_regions(axes[0], lambda P: perceptron_predict(P, w_moon, b_moon), X_moons, y_moons, "moons: perceptron")
for ax, (title, X2, y2, hidden) in zip(axes[1:], runs):
    p2, _ = sgd(init_mlp(2, hidden, 2, seed=1), X2, y2, epochs=150, batch_size=32, lr=0.3, reg=0.0,
                progress=False)
    plot_regions(ax, lambda P, p2=p2: predict(P, p2), X2, y2, title)
axes[0].legend(loc="lower left", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **The perceptron's date.** The notes date it 1957 (Rosenblatt's Cornell report); the chapter uses 1958, the year of his *Psychological Review* paper, and names both.
# > * **Gradient checks.** The notes derive backpropagation in words ("把输出层误差反向传播到隐藏层"); the chapter also checks every gradient numerically, with central differences in float64 — a tool the notes do not have.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why can no single perceptron compute XOR, and why does one hidden layer fix it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_perceptron_xor", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** A perceptron outputs 1 where $w\cdot x + b > 0$: its decision boundary is a straight line. XOR needs (0,1) and (1,0) on one side and (0,0), (1,1) on the other: from $b \le 0$, $w_1 + b > 0$ and $w_2 + b > 0$ follows $w_1 + w_2 + b > -b \ge 0$, so (1,1) would fire too. Not linearly separable. Hidden units compute new features — e.g. OR and NAND — in which the classes *are* separable, and the output unit takes their AND.
#
# **Rubric (2 points).** 1 pt: the boundary is a line / XOR is not linearly separable (a picture or the contradiction). 1 pt: the hidden layer re-represents the input (OR + NAND → AND, or equivalent).
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Gradient checks use $(f(x+h) - f(x-h))/2h$ in float64 with $h \approx 10^{-5}$. Why the central difference, and why not a much smaller $h$ such as $10^{-12}$?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_central_difference", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** The central difference's error is $O(h^2)$ (the $f''$ terms cancel), the one-sided difference's $O(h)$. A smaller $h$ lowers that truncation error but raises the rounding error, about $\varepsilon\,|f|/h$ with $\varepsilon \approx 10^{-16}$ in float64: at $h = 10^{-12}$ the difference $f(x+h) - f(x-h)$ has lost most of its digits. $h \approx 10^{-5}$ balances the two (relative errors near $10^{-10}$); float32 ($\varepsilon \approx 10^{-7}$) cannot reach the course's $10^{-7}$ threshold at all.
#
# **Rubric (2 points).** 1 pt: truncation error $O(h^2)$ vs $O(h)$. 1 pt: cancellation / rounding error grows as $h$ shrinks, hence a middle $h$ (and float64).
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). The gradient of softmax cross-entropy with respect to the logits is $p - y$. What does that say about a confidently *wrong* prediction, compared with a sigmoid output trained with a squared error?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_softmax_gradient", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** With $p_y \approx 0$ the gradient on the right class's logit is $\approx -1$: as large as it can be, exactly when the model is most wrong, and never saturating. With $\sigma(z)$ and $(\sigma(z) - y)^2$ the gradient carries the factor $\sigma'(z) = \sigma(1 - \sigma) \approx 0$ when the output is saturated at the wrong end, so a confidently wrong unit hardly learns.
#
# **Rubric (2 points).** 1 pt: $p - y$ is bounded and largest for confident mistakes. 1 pt: the squared error through a sigmoid has a vanishing $\sigma'$ factor there.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * A perceptron is a thresholded weighted sum: one straight decision boundary. Rosenblatt's
#   error-driven rule finds a separating line whenever one exists, and cycles for ever on XOR.
# * A hidden layer makes XOR (and any bent boundary) possible; to *train* hidden layers we need
#   differentiable units (ReLU), a differentiable loss (softmax cross-entropy) and gradients.
# * Backpropagation is the chain rule layer by layer: affine backward is dx = dout·W, dW = doutᵀ·x,
#   db = Σ dout; ReLU passes dout where its input was positive; softmax CE gives (p − onehot)/N.
# * Numerical gradients (central differences) are the independent truth for every backward pass.
# * Mini-batch SGD on a 64-64-10 MLP reaches about 97 % on held-out digits in about a second.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch01")`.
#
# Check your whole notebook from a terminal with `course check chapters/ch01_basics/ch01_basics.ipynb`.
