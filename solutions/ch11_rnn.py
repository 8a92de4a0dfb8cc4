# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 11 — Recurrent neural networks
#
# Text, speech and video arrive as sequences whose elements are not independent: the next character
# depends on the ones before it. A recurrent neural network (循环神经网络, RNN) handles a sequence of
# any length with one small network applied at every time step, carrying a **hidden state** (隐藏状态)
# from step to step. The lecture notes write it as
#
# $$h^{(t)} = f\big(W h^{(t-1)} + U x^{(t)} + b\big),\qquad f = \tanh \text{ (or ReLU)},$$
#
# with the *same* W and U at every time step (sequence, recurrence, memory). They also name its
# weakness: trained by backpropagation through time (BPTT), a plain RNN in practice learns only
# short-term dependencies, because gradients vanish or explode — which is what LSTM and GRU
# (Chapter 12) fix. In this chapter you build the plain RNN in numpy, check every piece against
# PyTorch, *see* the vanishing and exploding gradients, and train a small character-level language
# model on Python's own source code.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `rnn_cell_forward` — one time step, like `nn.RNNCell` | 2 |
# | 2 | `rnn_forward` — a whole sequence, like `nn.RNN` | 2 |
# | 3 | `rnn_backward` — backpropagation through time, verified numerically | 4 |
# | 4 | `birnn_forward` — the bidirectional RNN | 2 |
# | 5 | `rnn_jacobian_norms` — how far a gradient travels back in time | 2 |
# | 6 | `clip_grad_norm` — gradient clipping by the global norm | 2 |
# | 7 | `sample_with_temperature` — generating text | 2 |
#
# Each exercise has a `check_*` cell: run it after writing your code. It explains the first thing
# that is wrong (shape, dtype, which element, expected vs got). Grading runs the same checks on more,
# randomised cases. While your function is checked, `torch` and the course's reference
# implementations are switched off: write the numpy yourself.
#
# Shapes and names follow `torch.nn.RNN` (with its default `batch_first=False`): a sequence is
# `(T, N, D)` (time, batch, features), a hidden state `(N, H)`, `weight_ih` is `(H, D)`, `weight_hh`
# is `(H, H)`, `bias_ih` and `bias_hh` are `(H,)` (or None for `bias=False`).
#
# **Key terms** ([glossary](../../docs/glossary.md)): recurrent neural network (RNN) 循环神经网络 · hidden state 隐藏状态 · backpropagation through time (BPTT) 通过时间反向传播 · bidirectional RNN 双向循环神经网络 · vanishing gradient 梯度消失 · exploding gradient 梯度爆炸 · gradient clipping 梯度裁剪 · spectral radius 谱半径 · language model 语言模型 · sampling temperature 采样温度 · sequence data 序列数据 · encoder–decoder 编码器–解码器

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.gradcheck import gradcheck
from course_lib.sequences import CharVocab, char_batches, load_stdlib_text, scaled_orthogonal
from course_lib.testing import (
    check_birnn_forward,
    check_clip_grad_norm,
    check_rnn_backward,
    check_rnn_cell_forward,
    check_rnn_forward,
    check_rnn_jacobian_norms,
    check_sample_with_temperature,
)
from course_lib.viz.rnn import TemperatureSampler

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)


def torch_rnn_weights(module, suffix="_l0"):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of a torch RNN layer as float64 numpy arrays."""
    get = lambda name: getattr(module, name + suffix).detach().double().numpy()  # noqa: E731
    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")


# %% [markdown]
# ## 1. One time step
#
# At step t the cell mixes the new input $x_t$ (N, D) with the previous state $h_{t-1}$ (N, H):
#
# $$h_t = \tanh\big(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}\big)$$
#
# (PyTorch keeps two biases, `bias_ih` and `bias_hh`; only their sum matters, but we keep both so
# that the weights can be copied from `nn.RNN` one to one.)
#
# **Exercise 1.** Implement the step. Either bias may be None. Raise a `ValueError` that says the
# expected and the actual shape when `h_prev` is not `(N, H)`. Keep the dtype (float32 in → float32 out).

# %% nbgrader={"grade": false, "grade_id": "rnn_cell_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of a tanh RNN, like ``torch.nn.RNNCell``.

    Args:
        x: input (N, D). h_prev: previous hidden state (N, H).
        weight_ih: (H, D). weight_hh: (H, H). bias_ih, bias_hh: (H,) or None.

    Returns:
        h_next of shape (N, H).
    """
    ### BEGIN SOLUTION
    n, h = x.shape[0], weight_hh.shape[0]
    if h_prev.shape != (n, h):
        raise ValueError(f"h_prev should have shape (N, H) = {(n, h)}, got {h_prev.shape}")
    a = x @ weight_ih.T + h_prev @ weight_hh.T
    if bias_ih is not None:
        a = a + bias_ih
    if bias_hh is not None:
        a = a + bias_hh
    return np.tanh(a)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_cell_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "rnn_cell_forward", "seed": 1101}
check_rnn_cell_forward(rnn_cell_forward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("rnn_cell_forward", rnn_cell_forward, seed=1101)
### END HIDDEN TESTS

# %% [markdown]
# The same step in PyTorch, with the same weights:

# %%
torch.manual_seed(0)
cell = nn.RNNCell(4, 3).double()
x1, h1 = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
ours = rnn_cell_forward(x1.numpy(), h1.numpy(), *torch_rnn_weights(cell, suffix=""))
print("largest difference to nn.RNNCell:", np.abs(ours - cell(x1, h1).detach().numpy()).max())

# %% [markdown]
# ## 2. A whole sequence
#
# Unrolled in time, the RNN is a very deep network whose layers all share one set of weights:
#
# ```
#  h0 ─► [cell] ─► h1 ─► [cell] ─► h2 ─► … ─► [cell] ─► h_T
#          ▲               ▲                    ▲
#          x1              x2                   x_T
# ```
#
# `nn.RNN` returns two things: `output`, every hidden state (T, N, H) — what a tagger or a language
# model reads — and `h_n`, the last one — what a sentence classifier reads. (torch's `h_n` has an extra
# leading axis for layers × directions; with one layer ours is just (N, H).) The number of weights does
# not depend on T: an `nn.RNN(D, H)` has $H(D + H) + 2H$ parameters.
#
# **Exercise 2.** Run your cell over the sequence. `h0=None` means a zero initial state; raise a
# `ValueError` (expected vs got) when `h0` is not `(N, H)`. Return `(out, h_n)`.

# %% nbgrader={"grade": false, "grade_id": "rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A one-layer tanh RNN over a sequence, like ``torch.nn.RNN``.

    Args:
        x: (T, N, D). h0: (N, H) or None (zeros). Weights as in ``rnn_cell_forward``.

    Returns:
        (out, h_n): all hidden states (T, N, H) and the last one (N, H).
    """
    ### BEGIN SOLUTION
    t_len, n, _ = x.shape
    h = weight_hh.shape[0]
    dtype = np.result_type(x, weight_ih)
    if h0 is None:
        h0 = np.zeros((n, h), dtype=dtype)
    if h0.shape != (n, h):
        raise ValueError(f"h0 should have shape (N, H) = {(n, h)}, got {h0.shape}")
    out = np.zeros((t_len, n, h), dtype=dtype)
    state = h0
    for t in range(t_len):
        state = rnn_cell_forward(x[t], state, weight_ih, weight_hh, bias_ih, bias_hh)
        out[t] = state
    return out, out[-1].copy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "rnn_forward", "seed": 1102}
check_rnn_forward(rnn_forward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("rnn_forward", rnn_forward, seed=1102)
### END HIDDEN TESTS

# %%
torch.manual_seed(0)
layer = nn.RNN(input_size=10, hidden_size=20).double()
xs = torch.randn(7, 3, 10, dtype=torch.float64)
h0 = torch.randn(1, 3, 20, dtype=torch.float64)
out_t, hn_t = layer(xs, h0)
out_np, hn_np = rnn_forward(xs.numpy(), h0[0].numpy(), *torch_rnn_weights(layer))
n_params = sum(p.numel() for p in layer.parameters())
print(f"nn.RNN(10, 20): {n_params} parameters = 20·(10 + 20) + 2·20 = {20 * (10 + 20) + 2 * 20}, for any T")
print("largest difference to nn.RNN: output", np.abs(out_np - out_t.detach().numpy()).max(),
      " h_n", np.abs(hn_np - hn_t[0].detach().numpy()).max())

# %% [markdown]
# ### Inputs and outputs: four ways to wire the same cell
#
# The recurrence is always the one cell you wrote; what changes is **where the inputs go in and the
# outputs come out**. Karpathy's *The Unreasonable Effectiveness of Recurrent Neural Networks* (2015)
# drew the standard structures; an output is a linear layer on the hidden state, $y^{(t)} = V h^{(t)}$:
#
# | structure | in → out | what is read out | used for |
# |---|---|---|---|
# | **one-to-many** | one vector → a sequence | $y^{(t)}$ at every step, each fed back as the next input | image captioning (a CNN's image feature starts the caption; Vinyals et al., 2015), music generation |
# | **many-to-one** | a sequence → one vector | only the last hidden state $h^{(T)}$ | sentiment classification of a review, classifying a whole sequence |
# | **many-to-many, aligned** | T inputs → T outputs | $y^{(t)}$ at every step, one per input | tagging each word (part-of-speech, named entities), frame-by-frame video labels, this chapter's language model |
# | **many-to-many, unaligned (encoder–decoder)** | T inputs → T′ outputs | an *encoder* RNN reads the input; its last state starts a *decoder* RNN that writes the output | machine translation (Sutskever, Vinyals & Le, 2014; Cho et al., 2014), summarisation, speech recognition |
#
# Below, each in a few lines on your `rnn_cell_forward` / `rnn_forward` (random weights: this is about
# shapes and wiring, not training). N = 2 sequences, D = 5 input features, H = 8 hidden units,
# K = 3 output classes.

# %%
rng = np.random.default_rng(11)
N, D, H, K = 2, 5, 8, 3


def rnn_params(d_in):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of a small random RNN with H hidden units."""
    return (rng.normal(0, 0.5, (H, d_in)), rng.normal(0, 0.3, (H, H)), np.zeros(H), np.zeros(H))


cell_params, V = rnn_params(D), rng.normal(0, 0.5, (K, H))    # the RNN, and the read-out y = V h
embed = rng.normal(0, 0.5, (K, D))                            # an output class → the next input

# one-to-many (captioning): one input vector, T = 4 outputs, each output fed back as the next input
image_feature = rng.normal(size=(N, D))
h, x, caption = np.zeros((N, H)), image_feature, []
for _ in range(4):
    h = rnn_cell_forward(x, h, *cell_params)
    y = h @ V.T                                               # (N, K)
    caption.append(y)
    x = embed[y.argmax(axis=1)]                               # (N, D): the chosen word is the next input
one_to_many = np.stack(caption)                               # (T, N, K)

# many-to-one (sentiment): T = 6 inputs, one output from the last hidden state
review = rng.normal(size=(6, N, D))
_, h_last = rnn_forward(review, None, *cell_params)
many_to_one = h_last @ V.T                                    # (N, K)

# many-to-many aligned (tagging): one output per input
sentence = rng.normal(size=(6, N, D))
states, _ = rnn_forward(sentence, None, *cell_params)         # (T, N, H)
tags = states @ V.T                                           # (T, N, K)

# many-to-many unaligned (translation): encoder reads T = 6, decoder writes T' = 3 (its own weights)
decoder_params = rnn_params(D)
source, target_in = rng.normal(size=(6, N, D)), rng.normal(size=(3, N, D))  # target_in: the previous words
_, context = rnn_forward(source, None, *cell_params)          # (N, H): the whole source in one vector
dec_states, _ = rnn_forward(target_in, context, *decoder_params)
translation = dec_states @ V.T                                # (T', N, K)

for name, shape_in, out in [("one-to-many (captioning)", image_feature.shape, one_to_many),
                            ("many-to-one (sentiment)", review.shape, many_to_one),
                            ("many-to-many aligned (tagging)", sentence.shape, tags),
                            ("encoder–decoder (translation)", source.shape, translation)]:
    print(f"{name:<32} input {str(shape_in):<11} → output {out.shape}")

# %% [markdown]
# The encoder–decoder squeezes the whole source into one vector `context` (N, H); for long sentences that
# is the bottleneck that attention (Chapter 16) removes, by letting the decoder look back at every
# encoder state. (Decoders are trained with *teacher forcing* — the correct previous word as input, as
# `target_in` above — and generate by feeding back their own output, as the one-to-many loop does.)

# %% [markdown]
# ## 3. Backpropagation through time
#
# BPTT is ordinary backpropagation on the unrolled network. Walk backwards from t = T − 1 to 0 and
# keep one running gradient `dh_next`, the gradient flowing into $h_t$ from step t + 1. At step t
# the hidden state receives `dout[t]` (from whatever reads the outputs) plus `dh_next`; with
# $a_t$ the pre-activation and $\tanh' = 1 - h_t^2$:
#
# $$da_t = (dout_t + dh_{next}) \odot (1 - h_t^2), \qquad
# dx_t = da_t W_{ih},\qquad dh_{next} \leftarrow da_t W_{hh}$$
#
# $$dW_{ih} \mathrel{+}= da_t^\top x_t,\qquad dW_{hh} \mathrel{+}= da_t^\top h_{t-1},\qquad
# db_{ih} \mathrel{+}= \textstyle\sum_n da_t,\qquad db_{hh} \mathrel{+}= \textstyle\sum_n da_t$$
#
# The weight gradients are *sums over time* — one set of weights, used T times. After step 0,
# `dh_next` is `dh0`.
#
# **Exercise 3.** Implement it. Recompute the hidden states with your `rnn_forward` (no cache). Return
# `(dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)`, each with the shape of its array; a bias
# gradient is None when that bias is None. With `h0=None` return the gradient of the zero initial state.

# %% nbgrader={"grade": false, "grade_id": "rnn_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_backward(dout, x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Gradients of ``sum(rnn_forward(x, h0, ...)[0] * dout)``.

    Args:
        dout: (T, N, H), the gradient with respect to every hidden state.
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh: as in ``rnn_forward``.

    Returns:
        (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    """
    ### BEGIN SOLUTION
    out, _ = rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    t_len, n, h = out.shape
    if h0 is None:
        h0 = np.zeros((n, h), dtype=out.dtype)
    dx = np.zeros(x.shape, dtype=out.dtype)
    dw_ih, dw_hh = np.zeros_like(weight_ih), np.zeros_like(weight_hh)
    db = np.zeros(h, dtype=out.dtype)
    dh_next = np.zeros((n, h), dtype=out.dtype)
    for t in reversed(range(t_len)):
        h_prev = out[t - 1] if t > 0 else h0
        da = (dout[t] + dh_next) * (1 - out[t] ** 2)
        dx[t] = da @ weight_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ h_prev
        db += da.sum(axis=0)
        dh_next = da @ weight_hh
    db_ih = None if bias_ih is None else db.copy()
    db_hh = None if bias_hh is None else db.copy()
    return dx, dh_next, dw_ih, dw_hh, db_ih, db_hh
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} course={"exercise": "rnn_backward", "seed": 1103}
check_rnn_backward(rnn_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("rnn_backward", rnn_backward, seed=1103)
### END HIDDEN TESTS

# %% [markdown]
# Two independent checks: central differences (`course_lib.gradcheck`, float64, relative error
# < 1e-7), and torch's autograd on the same weights.

# %%
rng = np.random.default_rng(0)
T, N, D, H = 5, 2, 3, 4
g_inputs = {"x": rng.standard_normal((T, N, D)), "h0": rng.standard_normal((N, H)),
            "weight_ih": rng.standard_normal((H, D)) * 0.5, "weight_hh": rng.standard_normal((H, H)) * 0.5,
            "bias_ih": rng.standard_normal(H) * 0.5, "bias_hh": rng.standard_normal(H) * 0.5}
g_dout = rng.standard_normal((T, N, H))
grads = rnn_backward(g_dout, **g_inputs)
errors = gradcheck(lambda **kw: rnn_forward(**kw)[0], g_inputs, dict(zip(g_inputs, grads, strict=True)), g_dout)
print("relative errors vs central differences:", {k: f"{v:.1e}" for k, v in errors.items()})

params = [torch.tensor(g_inputs[k], requires_grad=True) for k in g_inputs]
ref = nn.RNN(D, H).double()
out_ref, _ = torch.func.functional_call(ref, dict(zip(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"],
                                                        params[2:], strict=True)), (params[0], params[1][None]))
out_ref.backward(torch.from_numpy(g_dout))
print("largest difference to torch autograd:",
      max(np.abs(g - p.grad.numpy()).max() for g, p in zip(grads, params, strict=True)))

# %% [markdown]
# ## 4. Bidirectional RNN
#
# A tagger deciding whether a word is a verb wants the words *after* it too. The bidirectional RNN
# (BRNN, lecture notes) runs two independent RNNs — one forwards, one over the reversed sequence —
# with separate weights (torch's `*_l0` and `*_l0_reverse`) and no connection between them, and
# concatenates their states at every t: $[\overrightarrow{h}_t ; \overleftarrow{h}_t]$, so each
# output sees the whole sequence. It costs about twice a plain RNN, and it cannot run online:
# the reverse direction needs the end of the sequence.
#
# **Exercise 4.** Use your `rnn_forward` twice. `h0` is `(2, N, H)` — `h0[0]` for the forward
# direction, `h0[1]` for the reverse — or None; raise a `ValueError` (expected vs got) otherwise.
# Return `out` (T, N, 2H) with the reverse states put back in time order, and `h_n` (2, N, H) = the
# forward state after the last step and the reverse state after the *first* step (its last step).

# %% nbgrader={"grade": false, "grade_id": "birnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def birnn_forward(x, h0, forward_params, backward_params):
    """A one-layer bidirectional tanh RNN, like ``torch.nn.RNN(..., bidirectional=True)``.

    Args:
        x: (T, N, D). h0: (2, N, H) or None.
        forward_params, backward_params: (weight_ih, weight_hh, bias_ih, bias_hh) of each direction.

    Returns:
        (out, h_n) of shapes (T, N, 2H) and (2, N, H).
    """
    ### BEGIN SOLUTION
    n, h = x.shape[1], forward_params[1].shape[0]
    if h0 is not None and h0.shape != (2, n, h):
        raise ValueError(f"h0 should have shape (2, N, H) = {(2, n, h)}, got {h0.shape}")
    h_f, h_b = (None, None) if h0 is None else (h0[0], h0[1])
    out_f, last_f = rnn_forward(x, h_f, *forward_params)
    out_b, last_b = rnn_forward(x[::-1], h_b, *backward_params)
    return np.concatenate([out_f, out_b[::-1]], axis=-1), np.stack([last_f, last_b])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_birnn_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "birnn_forward", "seed": 1104}
check_birnn_forward(birnn_forward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("birnn_forward", birnn_forward, seed=1104)
### END HIDDEN TESTS

# %%
torch.manual_seed(0)
bi = nn.RNN(3, 4, bidirectional=True).double()
xb = torch.randn(6, 2, 3, dtype=torch.float64)
out_t, hn_t = bi(xb)
out_np, hn_np = birnn_forward(xb.numpy(), None, torch_rnn_weights(bi), torch_rnn_weights(bi, "_l0_reverse"))
print("output", tuple(out_np.shape), "h_n", tuple(hn_np.shape), "— largest difference to torch:",
      max(np.abs(out_np - out_t.detach().numpy()).max(), np.abs(hn_np - hn_t.detach().numpy()).max()))

# %% [markdown]
# ## 5. Vanishing and exploding gradients
#
# How much does the state at the end, $h_{T-1}$, still depend on an earlier state $h_t$? By the
# chain rule through the unrolled network, with $\partial h_{s+1}/\partial h_s = \mathrm{diag}(1 - h_{s+1}^2)\,W_{hh}$:
#
# $$\frac{\partial h_{T-1}}{\partial h_t} = \prod_{s=t}^{T-2} \mathrm{diag}(1 - h_{s+1}^2)\, W_{hh}$$
#
# — the same matrix, T − 1 − t times. Without the tanh factors (which are ≤ 1) this is
# $W_{hh}^{T-1-t}$, whose size behaves like $\rho^{T-1-t}$ for the spectral radius ρ (the largest
# |eigenvalue|): ρ < 1 → the gradient **vanishes** exponentially (0.5²⁰ ≈ 1e-6), ρ > 1 → it can
# **explode** (1.5²⁰ ≈ 3,300). That is why a plain RNN learns only short-term dependencies, as the
# lecture notes say.
#
# **Exercise 5.** Given the hidden states `out` (T, H) of one sequence and `weight_hh`, return the
# Frobenius norms $\|\partial h_{T-1}/\partial h_t\|_F$ for t = 0 … T − 1 (float64, shape (T,); the
# last is $\|I\|_F = \sqrt{H}$). Start from the identity and multiply by one factor per step going
# back. Raise `ValueError` if `weight_hh` is not (H, H).

# %% nbgrader={"grade": false, "grade_id": "rnn_jacobian_norms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_jacobian_norms(out, weight_hh):
    """‖∂h_{T-1}/∂h_t‖_F for every t of one tanh-RNN sequence.

    Args:
        out: hidden states (T, H). weight_hh: (H, H).

    Returns:
        float64 array (T,).
    """
    ### BEGIN SOLUTION
    t_len, h = out.shape
    if weight_hh.shape != (h, h):
        raise ValueError(f"weight_hh should have shape {(h, h)}, got {weight_hh.shape}")
    norms = np.zeros(t_len)
    jac = np.eye(h)
    for t in range(t_len - 1, -1, -1):
        norms[t] = np.linalg.norm(jac)
        if t > 0:
            jac = jac @ (np.diag(1 - out[t] ** 2) @ weight_hh)
    return norms
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_jacobian_norms", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "rnn_jacobian_norms", "seed": 1105}
check_rnn_jacobian_norms(rnn_jacobian_norms)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("rnn_jacobian_norms", rnn_jacobian_norms, seed=1105)
### END HIDDEN TESTS

# %% [markdown]
# Three RNNs with H = 32 whose $W_{hh}$ is a scaled orthogonal matrix — every singular value equals
# ρ, so the linear case is exactly $\sqrt{H}\,\rho^{T-1-t}$. Small random inputs (×0.1) keep the
# tanh nearly linear at first.

# %%
T_long, H_big = 40, 32
rng = np.random.default_rng(1)
x_small = rng.standard_normal((T_long, 1, 8)) * 0.1
w_in = rng.standard_normal((H_big, 8)) / np.sqrt(8)
fig, ax = plt.subplots(figsize=(7, 3.5))
for rho, color in zip([0.5, 1.0, 1.5], ["C0", "C1", "C3"], strict=True):
    w_hh = scaled_orthogonal(H_big, rho, rng)
    states, _ = rnn_forward(x_small, None, w_in, w_hh)
    norms = rnn_jacobian_norms(states[:, 0], w_hh)
    linear = rnn_jacobian_norms(np.zeros((T_long, H_big)), w_hh)      # tanh' = 1: pure W_hh powers
    ax.semilogy(norms, color=color, label=f"ρ = {rho}: tanh RNN")
    ax.semilogy(linear, color=color, ls=":", label=f"ρ = {rho}: linear, √H·ρ^(T-1-t)")
    print(f"ρ = {rho}: ‖∂h_39/∂h_19‖ = {norms[19]:.3g} (tanh), {linear[19]:.3g} (linear; "
          f"√32·{rho}^20 = {np.sqrt(32) * rho ** 20:.3g})")
ax.set(xlabel="t", ylabel="‖∂h_{T-1} / ∂h_t‖_F", title="How much h_T still feels h_t")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# With ρ = 0.5 the dependence on 20 steps ago is ~1e-6 — nothing can be learned across that gap.
# With ρ = 1.5 the linear product explodes, but the tanh RNN's states grow until tanh saturates,
# $1 - h^2 \to 0$, and the gradient then *vanishes* too: the saturated tanh is another way to lose
# the gradient. Only near ρ ≈ 1 with unsaturated units does it survive — a knife's edge, which
# LSTM's additive cell state (Chapter 12) replaces with a robust mechanism.
#
# ## 6. Gradient clipping
#
# Exploding gradients have a cheap cure: if the gradient is too long, shorten it. Clipping by the
# **global norm** (Pascanu et al. 2013) treats all parameters' gradients as one long vector g:
#
# $$\|g\| = \sqrt{\textstyle\sum_i \|g_i\|^2},\qquad g_i \leftarrow g_i \cdot \min\Big(1, \frac{\text{max\_norm}}{\|g\| + 10^{-6}}\Big)$$
#
# The direction is kept; only the step length is capped. (Vanishing gradients have no such cure.)
#
# **Exercise 6.** Implement `torch.nn.utils.clip_grad_norm_` without the in-place update: return
# `(clipped, total_norm)` — a tuple of new arrays (same shapes and dtypes; do not change the inputs)
# and the norm *before* clipping as a float. Raise `ValueError` for a negative `max_norm`.

# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_grad_norm(grads, max_norm, eps=1e-6):
    """Scale a list of gradients so that their global L2 norm is at most ``max_norm``.

    Args:
        grads: a sequence of arrays. max_norm: float ≥ 0. eps: added to the norm before dividing.

    Returns:
        (clipped, total_norm).
    """
    ### BEGIN SOLUTION
    if max_norm < 0:
        raise ValueError(f"max_norm must be ≥ 0, got {max_norm}")
    total = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads)))
    scale = min(1.0, max_norm / (total + eps))
    return tuple(g * g.dtype.type(scale) for g in grads), total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "clip_grad_norm", "seed": 1106}
check_clip_grad_norm(clip_grad_norm)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("clip_grad_norm", clip_grad_norm, seed=1106)
### END HIDDEN TESTS

# %%
rng = np.random.default_rng(2)
g_np = [rng.standard_normal((4, 3)) * 5, rng.standard_normal(4) * 5]
t_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in g_np]
for p, g in zip(t_params, g_np, strict=True):
    p.grad = torch.from_numpy(g.copy())
t_norm = torch.nn.utils.clip_grad_norm_(t_params, max_norm=1.0)
clipped, norm = clip_grad_norm(g_np, 1.0)
print(f"total norm: ours {norm:.6f}, torch {float(t_norm):.6f}; clipped norm "
      f"{np.sqrt(sum((c ** 2).sum() for c in clipped)):.6f}; largest difference to torch "
      f"{max(np.abs(c - p.grad.numpy()).max() for c, p in zip(clipped, t_params, strict=True)):.1e}")

# %% [markdown]
# ## 7. A character-level language model on Python's source code
#
# A language model (语言模型) predicts the next token from the ones before it. At character level
# the vocabulary is tiny and no tokenizer is needed: the input is a window of characters, the target
# the same window shifted by one. Our corpus is Python's own standard library (a fixed list of its
# source files, read from this machine's Python — nothing is downloaded).
#
# The model: an embedding (one vector per character) → a one-layer `nn.RNN` (the plain tanh RNN
# you just wrote; `nn.GRU` would train faster, see Chapter 12) → a linear layer to logits over the
# vocabulary, with cross-entropy at every time step and gradient clipping at norm 1.

# %%
text = load_stdlib_text(max_chars=120_000)
vocab = CharVocab(text)
ids = vocab.encode(text)
split = int(0.9 * len(ids))
train_ids, val_ids = ids[:split], ids[split:]
print(f"{len(text):,} characters, vocabulary of {len(vocab)}; a sample:\n{text[1000:1200]}")


class CharRNN(nn.Module):
    """Embedding → nn.RNN → Linear, time first: ids (T, N) → logits (T, N, V)."""

    def __init__(self, vocab_size, embed=32, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = nn.RNN(embed, hidden)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids, h0=None):
        out, h_n = self.rnn(self.embed(ids), h0)
        return self.head(out), h_n


def val_loss(model, seq_len=64, batch=64):
    xb, yb = char_batches(val_ids, seq_len, batch, np.random.default_rng(0))
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(xb))
        return nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), torch.from_numpy(yb).reshape(-1)).item()


# %% [markdown]
# Training: Adam (lr 3e-3), batches of 32 windows of 64 characters, at most 400 steps or 12 s.
# A model that knows nothing scores ln V on average; the unigram frequencies alone give the entropy
# of the character distribution — the two lines to beat.

# %%
torch.manual_seed(0)
model = CharRNN(len(vocab))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
rng = np.random.default_rng(0)
freq = np.bincount(train_ids, minlength=len(vocab)) / len(train_ids)
unigram = -np.sum(freq[freq > 0] * np.log(freq[freq > 0]))
losses, norms_seen, val_curve = [], [], []
start = time.perf_counter()
for step in (bar := tqdm(range(400), desc="char-RNN")):
    xb, yb = char_batches(train_ids, 64, 32, rng)
    logits, _ = model(torch.from_numpy(xb))
    loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), torch.from_numpy(yb).reshape(-1))
    opt.zero_grad()
    loss.backward()
    norms_seen.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)))
    opt.step()
    losses.append(loss.item())
    if step % 50 == 49:
        val_curve.append((step, val_loss(model)))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", val=f"{val_curve[-1][1]:.3f}")
    if time.perf_counter() - start > 12:
        break
print(f"{len(losses)} steps in {time.perf_counter() - start:.1f} s; validation loss {val_loss(model):.3f} nats/char "
      f"(uniform ln V = {np.log(len(vocab)):.3f}, unigram entropy {unigram:.3f})")
print(f"gradient norms before clipping: median {np.median(norms_seen):.2f}, max {max(norms_seen):.2f}; "
      f"clipped in {np.mean(np.array(norms_seen) > 1):.0%} of the steps")

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(losses, lw=0.8, label="train (per batch)")
ax.plot(*zip(*val_curve, strict=True), "o-", label="validation")
ax.axhline(np.log(len(vocab)), color="gray", ls=":", label="uniform (ln V)")
ax.axhline(unigram, color="gray", ls="--", label="unigram entropy")
ax.set(xlabel="step", ylabel="cross-entropy (nats / char)", title="Character RNN on stdlib source")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 8. Sampling with a temperature
#
# To generate text, feed a prompt, turn the last logits into probabilities, draw a character, feed
# it back, repeat. The **temperature** τ reshapes the distribution before drawing:
# $p = \mathrm{softmax}(z / \tau)$. τ < 1 sharpens it (safe, repetitive text; τ → 0 is greedy argmax),
# τ > 1 flattens it (more varied, more mistakes; τ → ∞ is uniform).
#
# **Exercise 7.** Implement it so that it reproduces the reference *draw for draw* given the same
# random generator: compute $p$ stably (subtract the max of z / τ), then draw **one** uniform number
# per row — `u = rng.random()` for 1-d logits (V,), `u = rng.random(N)` for (N, V) — and return the
# number of cumulative probabilities ≤ u (`np.searchsorted(np.cumsum(p), u, side="right")`), capped
# at V − 1 against round-off. Return an `int` for (V,) logits, an int64 array (N,) for (N, V).
# Raise `ValueError` for τ ≤ 0.

# %% nbgrader={"grade": false, "grade_id": "sample_with_temperature", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sample_with_temperature(logits, temperature, rng):
    """Draw token ids from softmax(logits / temperature) by the inverse CDF.

    Args:
        logits: (V,) or (N, V). temperature: float > 0. rng: a numpy Generator.

    Returns:
        int for (V,) logits; int64 array (N,) for (N, V) logits.
    """
    ### BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    cdf = np.cumsum(p, axis=-1)
    v = p.shape[-1]
    if p.ndim == 1:
        return int(min(np.searchsorted(cdf, rng.random(), side="right"), v - 1))
    u = rng.random(p.shape[0])
    return np.array([min(np.searchsorted(c, ui, side="right"), v - 1) for c, ui in zip(cdf, u, strict=True)],
                    dtype=np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sample_with_temperature", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "sample_with_temperature", "seed": 1107}
check_sample_with_temperature(sample_with_temperature)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("sample_with_temperature", sample_with_temperature, seed=1107)
### END HIDDEN TESTS

# %% [markdown]
# Does it sample the right distribution? 20,000 draws at τ = 1 against the probabilities:

# %%
demo_logits = np.array([2.0, 1.0, 0.0, -1.0])
draws = sample_with_temperature(np.tile(demo_logits, (20_000, 1)), 1.0, np.random.default_rng(0))
p_demo = np.exp(demo_logits) / np.exp(demo_logits).sum()
print("softmax:", p_demo.round(4), " sampled frequencies:", (np.bincount(draws, minlength=4) / 20_000).round(4))
for tau in [0.5, 1.0, 1.5]:
    z = demo_logits / tau
    print(f"τ = {tau}: p = {(np.exp(z) / np.exp(z).sum()).round(3)}")

# %% [markdown]
# Now the trained model writes Python, one character at a time, at three temperatures (the same
# prompt and seed each time):

# %%
def generate(model, prompt, n_chars, temperature, seed=0):
    rng = np.random.default_rng(seed)
    model.eval()
    with torch.no_grad():
        logits, h = model(torch.from_numpy(vocab.encode(prompt))[:, None])
        chars = []
        for _ in range(n_chars):
            nxt = sample_with_temperature(logits[-1, 0].double().numpy(), temperature, rng)
            chars.append(nxt)
            logits, h = model(torch.tensor([[nxt]]), h)
    return prompt + vocab.decode(chars)


for tau in [0.5, 1.0, 1.5]:
    print(f"──── τ = {tau} " + "─" * 50)
    print(generate(model, "def ", 240, tau))

# %% [markdown]
# Try it yourself: move τ and the seed, or change the prompt. The bar chart is the model's
# distribution for the character after the prompt at the current τ; the text below it is sampled
# with *your* `sample_with_temperature`.

# %%
TemperatureSampler(model, vocab, sampler=sample_with_temperature, prompt="    def ", n_chars=240)

# %% [markdown]
# At τ = 0.5 the model repeats its favourite patterns (`self`, `return`, indentation); at 1.5 it
# invents character soup. After a few seconds of training a plain RNN already knows about
# indentation, `def name(...):`, keywords and balanced quotes at short range; longer structure needs
# more training and the gated cells of Chapter 12.
#
# ## Summary
#
# * An RNN applies one cell, $h_t = \tanh(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})$,
#   at every step with shared weights; `nn.RNN(D, H)` has H(D + H) + 2H parameters whatever T is.
# * BPTT is backprop through the unrolled graph; weight gradients are sums over time.
# * A bidirectional RNN concatenates a forward and a reversed RNN: every output sees the whole sequence.
# * $\partial h_T/\partial h_t$ is a product of T − t Jacobians: it vanishes (ρ < 1, or saturated
#   tanh) or explodes (ρ > 1) exponentially. Clipping by the global norm tames explosion; vanishing
#   needs a different architecture (LSTM/GRU).
# * Sampling with a temperature trades safety (τ < 1) for variety (τ > 1).

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **Two biases.** The notes write $h_t = f(W h_{t-1} + U x_t + b)$; the chapter follows PyTorch's `nn.RNN` — `weight_ih`, `weight_hh` and two biases `bias_ih`, `bias_hh`, whose sum is the notes' $b$.
# > * **"理论上记忆内容可以无限长".** The chapter measures how far a gradient really travels back ($\rho^{T-1-t}$ for the spectral radius ρ), which is what makes a plain RNN learn only short-term dependencies, as the notes also say.
# > * **Beyond the notes.** Gradient clipping and sampling with a temperature are the course's additions.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (5 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why does a gradient passed back through many steps of a plain RNN vanish or explode, and what does gradient clipping fix — and not fix?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bptt", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Each step back multiplies by $W_{hh}^\top \mathrm{diag}(1 - h^2)$; over k steps that behaves like $\rho^k$ for the spectral radius ρ of $W_{hh}$ (times tanh factors ≤ 1): it vanishes for ρ < 1 and can explode for ρ > 1. Clipping rescales the whole gradient to a maximum norm, keeping its direction: it stops explosions from wrecking the weights but does nothing for vanishing gradients (that needs gating: LSTM, GRU).
#
# **Rubric (2 points).** 1 pt: repeated multiplication by the same matrix (spectral radius). 1 pt: clipping fixes explosion only.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Sampling with temperature draws from $\mathrm{softmax}(z/T)$. What do T → 0, T = 1 and large T give, and why?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_temperature", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** T → 0 sharpens the distribution to the arg-max: greedy, repetitive text (loops). T = 1 samples the model's own distribution. Large T flattens it towards uniform: more diverse, then random characters. Dividing logits by T scales their differences, and the softmax depends only on differences.
#
# **Rubric (2 points).** 1 pt: the three regimes. 1 pt: why (scaling logit differences).
# ### END SOLUTION

# %% [markdown]
# **Question 3** (1 point). Why can a bidirectional RNN tag the words of a sentence but not generate text one character at a time?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_birnn", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Its backward half reads the sequence from the end, so each output depends on future inputs. Tagging has the whole sentence; generation has not produced the future yet.
#
# **Rubric (1 point).** 1 pt: the backward direction needs the future inputs.
# ### END SOLUTION
