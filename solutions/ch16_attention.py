# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 16 — Attention and Vision Transformers
#
# A convolution mixes each pixel with a fixed, small neighbourhood. **Attention** (注意力) lets every
# element of a sequence decide, from the data, which other elements to read from — near or far. The
# Transformer (Vaswani et al., 2017, *Attention is all you need*) is built from nothing else but
# attention, small MLPs, layer normalization and residual connections; the **Vision Transformer**
# (ViT; Dosovitskiy et al., 2021, *An image is worth 16×16 words*) applies it to images by cutting
# them into patches: a 224×224 image in 16×16 patches becomes a "sentence" of 196 tokens. The lecture
# notes sum it up as "混联电池组结构 + 自注意力机制 = transformer" (stacked blocks + self-attention),
# call it "适用于多场景, 打榜强手" (good at many tasks, tops the leaderboards), and add that thanks to
# self-attention the model is more interpretable — we will look at its attention maps and judge.
#
# In this chapter you write attention in numpy, check it against PyTorch's
# `F.scaled_dot_product_attention` and `nn.MultiheadAttention`, then build a ViT in PyTorch, train a
# tiny one on the 8×8 digits and compare it with Chapter 7's LeNet-5.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `masked_softmax` — softmax over the unmasked entries | 2 |
# | 2 | `causal_mask` — "no peeking at the future" | 1 |
# | 3 | `scaled_dot_product_attention` — like `F.scaled_dot_product_attention`, with masks | 3 |
# | 4 | `split_heads` — (N, L, E) → (N, H, L, E/H) | 1 |
# | 5 | `merge_heads` — and back | 1 |
# | 6 | `multi_head_attention` — `nn.MultiheadAttention`'s forward with its own weights | 3 |
# | 7 | `sinusoidal_encoding` — the Transformer's positional encoding | 2 |
# | 8 | `patchify` — an image as a sequence of patches | 2 |
# | 9 | `EncoderBlock` — a pre-norm Transformer block (PyTorch) | 3 |
# | 10 | `VisionTransformer` — patch embedding, [class] token, positions, blocks, head (PyTorch) | 2 |
#
# Each exercise has a `check_*` cell that explains the first thing that is wrong. While your numpy
# functions are checked, `torch`, `scipy` and the course's reference implementations are switched
# off; for the two PyTorch modules only the course's references are.
#
# Shapes: N batch, L queries (sequence length), S keys, E or D embedding width, H heads, P patch side.
#
# **Key terms** ([glossary](../../docs/glossary.md)): attention 注意力 · self-attention 自注意力机制 · query, key, value 查询、键、值 · scaled dot-product attention 缩放点积注意力 · attention mask 注意力掩码 · causal mask 因果掩码 · multi-head attention 多头注意力 · positional encoding 位置编码 · patch embedding 图像块嵌入 · class token 分类标记 · encoder block 编码器块 · Vision Transformer (ViT) 视觉 Transformer · layer normalization 层归一化 · object query 目标查询 · bipartite matching 二分图匹配

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import digits_split
from course_lib.models import LeNet5, count_params, digits_to_32
from course_lib.reference import attention as ref
from course_lib.testing import (
    check_causal_mask,
    check_encoder_block,
    check_masked_softmax,
    check_merge_heads,
    check_multi_head_attention,
    check_patchify,
    check_scaled_dot_product_attention,
    check_sinusoidal_encoding,
    check_split_heads,
    check_vision_transformer,
)
from course_lib.train import evaluate, fit, plot_histories
from course_lib.viz.attention import AttentionExplorer

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread beats two that wait for each other on a busy machine

# %% [markdown]
# ## 1. Attention is a soft dictionary look-up
#
# A Python dict returns the value whose key *equals* the query. Attention returns a *blend* of all
# values, weighted by how well each key matches the query. With queries $Q$ (L×E), keys $K$ (S×E) and
# values $V$ (S×Ev):
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\Big(\frac{QK^\top}{\sqrt{E}}\Big)\,V$$
#
# Row $i$ of the L×S score matrix $QK^\top$ holds the dot products of query $i$ with every key; the
# softmax turns each row into weights that sum to 1; the output row $i$ is the weighted mean of the
# value rows. In **self-attention** (自注意力) Q, K and V are three linear projections of the same
# sequence, so every token reads from every other token.
#
# Why divide by $\sqrt{E}$? If the entries of q and k are independent with variance 1, $q\cdot k$ has
# variance $E$: with E = 64 the scores have a spread of 8, the softmax saturates to a one-hot vector
# and its gradient vanishes. Dividing by $\sqrt{E}$ brings the spread back to 1 (we measure it below).
#
# **Masks** switch some query–key pairs off: padding tokens in a batch of sentences of different
# lengths, or "the future" in a language model. A masked score must get weight exactly 0 — set it to
# $-\infty$ before the softmax.
#
# **Exercise 1.** `masked_softmax(x, mask=None, axis=-1)`: the softmax of `x` along `axis` over the
# entries where the boolean `mask` is True (it broadcasts to x's shape); masked entries get 0. Subtract
# the maximum first (a score of 1000 must not overflow). A slice in which *everything* is masked
# returns zeros, not NaN (PyTorch's `scaled_dot_product_attention` does the same). Raise `ValueError`
# for a mask that is not boolean.

# %% nbgrader={"grade": false, "grade_id": "masked_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_softmax(x, mask=None, axis=-1):
    """Softmax along ``axis`` over the entries where ``mask`` is True.

    Args:
        x: scores, any shape.
        mask: boolean array broadcastable to x (True = keep), or None.
        axis: the axis along which the result sums to 1.

    Returns:
        Array of x's shape; masked entries 0; fully masked slices all 0.
    """
    ### BEGIN SOLUTION
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(f"mask must be boolean, got {mask.dtype}")
        x = np.where(mask, x, -np.inf)
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    e = np.exp(x - peak)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_masked_softmax", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "masked_softmax", "seed": 1601}
check_masked_softmax(masked_softmax)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("masked_softmax", masked_softmax, seed=1601)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** `causal_mask(L, S=None)`: a boolean (L, S) array, True where query i may attend to
# key j, i.e. j ≤ i (S defaults to L). With L ≠ S it is aligned at the top-left, as PyTorch's
# `is_causal=True`. Raise `ValueError` if L or S is smaller than 1.

# %% nbgrader={"grade": false, "grade_id": "causal_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def causal_mask(L, S=None):
    """Boolean (L, S) mask, True on and below the diagonal."""
    ### BEGIN SOLUTION
    S = L if S is None else S
    if L < 1 or S < 1:
        raise ValueError(f"L and S must be ≥ 1, got {L}, {S}")
    return np.tril(np.ones((L, S), dtype=bool))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_causal_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "causal_mask", "seed": 1602}
check_causal_mask(causal_mask)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("causal_mask", causal_mask, seed=1602)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3.** `scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False,
# scale=None)` with the semantics of `torch.nn.functional.scaled_dot_product_attention`:
#
# - inputs `(..., L, E)`, `(..., S, E)`, `(..., S, Ev)` — any leading batch/head axes; output `(..., L, Ev)`;
# - `scale` defaults to $1/\sqrt{E}$;
# - a **boolean** `attn_mask` (broadcastable to `(..., L, S)`) says where attention is *allowed* (True);
#   a **float** `attn_mask` is *added* to the scores (use $-\infty$ or a large negative number to block);
# - `is_causal=True` uses your `causal_mask`; passing both `attn_mask` and `is_causal` is a `ValueError`,
#   and so are query and key of different widths E, or key and value of different lengths S.
#
# Use your `masked_softmax`; `np.swapaxes(key, -1, -2)` transposes the last two axes whatever the batch axes.

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False, scale=None):
    """softmax(Q Kᵀ · scale + mask) V.

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev).
        attn_mask: boolean (True = may attend) or float (added), broadcastable to (..., L, S).
        is_causal: apply causal_mask(L, S).
        scale: defaults to 1/sqrt(E).

    Returns:
        (..., L, Ev).
    """
    ### BEGIN SOLUTION
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query {query.shape} and key {key.shape} must have the same E")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key {key.shape} and value {value.shape} must have the same S")
    if attn_mask is not None and is_causal:
        raise ValueError("pass attn_mask or is_causal, not both")
    scale = 1 / np.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ np.swapaxes(key, -1, -2) * scale          # (..., L, S)
    keep = None
    if is_causal:
        keep = causal_mask(query.shape[-2], key.shape[-2])
    elif attn_mask is not None and attn_mask.dtype == bool:
        keep = attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    return masked_softmax(scores, keep) @ value                # (..., L, Ev)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "scaled_dot_product_attention", "seed": 1603}
check_scaled_dot_product_attention(scaled_dot_product_attention)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("scaled_dot_product_attention", scaled_dot_product_attention, seed=1603)
### END HIDDEN TESTS

# %% [markdown]
# Your function against PyTorch's on random inputs with a causal mask, and the $\sqrt{E}$ argument
# measured: the spread of the raw scores grows like $\sqrt{E}$, and without scaling the softmax of a
# row is almost one-hot (its largest weight near 1).

# %%
rng = np.random.default_rng(0)
q, k, v = rng.standard_normal((2, 4, 6, 8)), rng.standard_normal((2, 4, 6, 8)), rng.standard_normal((2, 4, 6, 8))
ours = scaled_dot_product_attention(q, k, v, is_causal=True)
theirs = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), is_causal=True).numpy()
print(f"max |ours − torch| = {np.abs(ours - theirs).max():.1e}")
for E in (4, 64, 512):
    s = rng.standard_normal((200, E)) @ rng.standard_normal((E, 50))             # raw scores q·k
    top_raw, top_scaled = masked_softmax(s).max(-1).mean(), masked_softmax(s / np.sqrt(E)).max(-1).mean()
    print(f"E = {E:3d}: std of q·k = {s.std():5.1f} (√E = {np.sqrt(E):4.1f}); mean largest weight "
          f"of a row: unscaled {top_raw:.2f}, scaled {top_scaled:.2f}")

fig, axes = plt.subplots(1, 3, figsize=(10, 3))
w_plain = masked_softmax(q[0, 0] @ k[0, 0].T / np.sqrt(8))
w_causal = masked_softmax(q[0, 0] @ k[0, 0].T / np.sqrt(8), causal_mask(6))
for ax, w, title in zip(axes, (w_plain, causal_mask(6), w_causal),
                        ("attention weights", "causal mask (True = may attend)", "weights with the causal mask")):
    ax.imshow(w, cmap="viridis")
    ax.set(title=title, xlabel="key j", ylabel="query i")
fig.tight_layout()

# %% [markdown]
# ## 2. Multi-head attention
#
# One attention map can express one kind of relation. **Multi-head attention** (多头注意力) runs H
# attentions side by side on H slices of width E/H, each with its own projections, and mixes their
# outputs with a last linear layer — for the same cost as one attention of width E:
#
# $$\operatorname{head}_h = \operatorname{Attention}(QW_h^Q, KW_h^K, VW_h^V),\qquad
# \operatorname{MHA}(Q,K,V) = [\operatorname{head}_1, \dots, \operatorname{head}_H]\,W^O$$
#
# In practice one projects to width E once and *splits* the features into heads: head h gets features
# h·E/H … (h+1)·E/H − 1. The original Transformer used E = 512 and H = 8 heads of 64.
#
# **Exercise 4.** `split_heads(x, num_heads)`: (N, L, E) → (N, H, L, E/H). A plain `reshape` to
# (N, H, L, E/H) would scramble tokens and features: reshape to (N, L, H, E/H) first, then move the
# head axis. Raise `ValueError` if H does not divide E or x is not 3-D.

# %% nbgrader={"grade": false, "grade_id": "split_heads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_heads(x, num_heads):
    """(N, L, E) → (N, H, L, E/H)."""
    ### BEGIN SOLUTION
    if x.ndim != 3:
        raise ValueError(f"x must be (N, L, E), got {x.shape}")
    n, length, e = x.shape
    if e % num_heads:
        raise ValueError(f"num_heads={num_heads} must divide E={e}")
    return x.reshape(n, length, num_heads, e // num_heads).transpose(0, 2, 1, 3)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_split_heads", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "split_heads", "seed": 1604}
check_split_heads(split_heads)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("split_heads", split_heads, seed=1604)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 5.** `merge_heads(x)`: (N, H, L, Dh) → (N, L, H·Dh), the inverse of `split_heads`. Raise
# `ValueError` unless x is 4-D.

# %% nbgrader={"grade": false, "grade_id": "merge_heads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def merge_heads(x):
    """(N, H, L, Dh) → (N, L, H·Dh)."""
    ### BEGIN SOLUTION
    if x.ndim != 4:
        raise ValueError(f"x must be (N, H, L, Dh), got {x.shape}")
    n, h, length, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, length, h * dh)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_merge_heads", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "merge_heads", "seed": 1605}
check_merge_heads(merge_heads)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("merge_heads", merge_heads, seed=1605)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 6.** `multi_head_attention(...)` computes what `nn.MultiheadAttention(E, H,
# batch_first=True)` computes, from the tensors in its `state_dict()`:
#
# - `in_proj_weight` (3E, E) stacks the rows of $W^Q$, $W^K$, $W^V$ (split it in three); `in_proj_bias`
#   (3E,) likewise (or None); then $q = \text{query}\,W^{Q\top} + b^Q$ like `nn.Linear`, and so on;
# - split q, k, v into heads, attend in each head with scale $1/\sqrt{E/H}$ (the *head* width), merge,
#   and apply `out_proj_weight` (E, E) and `out_proj_bias`;
# - return `(out, weights)`: out (N, L, E); weights (N, H, L, S), or their mean over the heads
#   (N, L, S) if `average_attn_weights` (the default, as in torch).
#
# **Careful — the masks of `nn.MultiheadAttention` mean the opposite of SDPA's.** Here a boolean
# `attn_mask` (L, S) is True where attention is **not** allowed; `key_padding_mask` (N, S) is True for
# keys that are padding (ignored by every query of that sample). A float `attn_mask` is added to the
# scores. You cannot use your `scaled_dot_product_attention` directly because you also need the weights:
# compute the scores and call `masked_softmax` with the combined "keep" mask.

# %% nbgrader={"grade": false, "grade_id": "multi_head_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, attn_mask=None, key_padding_mask=None, average_attn_weights=True):
    """``nn.MultiheadAttention(E, num_heads, batch_first=True)`` forward with the given weights.

    Args:
        query: (N, L, E); key, value: (N, S, E).
        in_proj_weight: (3E, E); in_proj_bias: (3E,) or None.
        out_proj_weight: (E, E); out_proj_bias: (E,) or None.
        attn_mask: (L, S) boolean (True = NOT allowed) or float (added); or None.
        key_padding_mask: (N, S) boolean, True = padding; or None.
        average_attn_weights: return the weights averaged over the heads.

    Returns:
        (out (N, L, E), weights (N, L, S) or (N, H, L, S)).
    """
    ### BEGIN SOLUTION
    e = query.shape[-1]
    w_q, w_k, w_v = np.split(in_proj_weight, 3)
    b_q, b_k, b_v = np.split(in_proj_bias, 3) if in_proj_bias is not None else (0, 0, 0)
    q = split_heads(query @ w_q.T + b_q, num_heads)           # (N, H, L, Dh)
    k = split_heads(key @ w_k.T + b_k, num_heads)             # (N, H, S, Dh)
    v = split_heads(value @ w_v.T + b_v, num_heads)           # (N, H, S, Dh)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(e // num_heads)   # (N, H, L, S)
    keep = np.ones(scores.shape, dtype=bool)
    if attn_mask is not None and attn_mask.dtype == bool:
        keep &= ~attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    if key_padding_mask is not None:
        keep &= ~key_padding_mask[:, None, None, :]
    weights = masked_softmax(scores, keep)
    out = merge_heads(weights @ v) @ out_proj_weight.T
    if out_proj_bias is not None:
        out = out + out_proj_bias
    return out, weights.mean(axis=1) if average_attn_weights else weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "multi_head_attention", "seed": 1606}
check_multi_head_attention(multi_head_attention)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("multi_head_attention", multi_head_attention, seed=1606)
### END HIDDEN TESTS

# %% [markdown]
# The same weights in PyTorch's module and in your function. The one-line difference in mask
# conventions is a classic bug: passing SDPA's "True = allowed" causal mask to `nn.MultiheadAttention`
# silently turns it into an "anti-causal" mask (each query sees only the future, and the last row
# sees nothing at all: NaN).

# %%
torch.manual_seed(0)
mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True).double()
sd = {name: t.detach().numpy() for name, t in mha.state_dict().items()}
print({name: t.shape for name, t in sd.items()})
x = np.random.default_rng(1).standard_normal((2, 5, 8))
future = ~causal_mask(5)                                         # True = not allowed: the future
ours, ours_w = multi_head_attention(x, x, x, 2, sd["in_proj_weight"], sd["in_proj_bias"], sd["out_proj.weight"],
                                    sd["out_proj.bias"], attn_mask=future)
theirs, theirs_w = mha(*(torch.from_numpy(x),) * 3, attn_mask=torch.from_numpy(future))
print(f"max |ours − nn.MultiheadAttention|: output {np.abs(ours - theirs.detach().numpy()).max():.1e}, "
      f"weights {np.abs(ours_w - theirs_w.detach().numpy()).max():.1e}")
_, wrong = mha(*(torch.from_numpy(x),) * 3, attn_mask=torch.from_numpy(causal_mask(5)))
print("weights of sample 0 with SDPA's mask passed to nn.MultiheadAttention by mistake:\n", wrong[0].detach().numpy())

# %% [markdown]
# ## 3. Where is each token? Positional encodings
#
# Attention is **permutation-equivariant**: shuffle the tokens and the outputs are shuffled the same
# way — nothing in $\operatorname{softmax}(QK^\top)V$ knows the order. Position has to be *added* to
# the tokens. The Transformer used fixed sinusoids of geometrically spaced wavelengths (from $2\pi$ to
# $10000 \cdot 2\pi$):
#
# $$PE_{p,\,2i} = \sin\!\big(p / 10000^{2i/D}\big),\qquad PE_{p,\,2i+1} = \cos\!\big(p / 10000^{2i/D}\big)$$
#
# Each pair of columns is a point on a circle turning at its own speed, so moving k positions is a
# rotation: $PE_{p+k}$ is a linear function of $PE_p$, and the dot product $PE_p \cdot PE_{p+k}$
# depends only on the offset k. ViT instead **learns** its positional embeddings (a trainable
# (1+L)×D parameter); we look at what it learns in section 6.
#
# **Exercise 7.** `sinusoidal_encoding(num_positions, dim, base=10000.0)` returns the
# (num_positions, dim) float64 array above. Raise `ValueError` for an odd `dim` (or one below 2) or
# `num_positions < 1`.

# %% nbgrader={"grade": false, "grade_id": "sinusoidal_encoding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sinusoidal_encoding(num_positions, dim, base=10000.0):
    """(num_positions, dim) sinusoidal positional encoding."""
    ### BEGIN SOLUTION
    if num_positions < 1 or dim < 2 or dim % 2:
        raise ValueError(f"need num_positions ≥ 1 and an even dim ≥ 2, got {num_positions}, {dim}")
    pos = np.arange(num_positions)[:, None]
    freq = base ** (-np.arange(0, dim, 2) / dim)
    pe = np.zeros((num_positions, dim))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq)
    return pe
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sinusoidal_encoding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "sinusoidal_encoding", "seed": 1607}
check_sinusoidal_encoding(sinusoidal_encoding)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("sinusoidal_encoding", sinusoidal_encoding, seed=1607)
### END HIDDEN TESTS

# %%
pe = sinusoidal_encoding(64, 32)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].imshow(pe.T, cmap="RdBu", aspect="auto")
axes[0].set(title="sinusoidal encoding (columns = positions)", xlabel="position p", ylabel="feature")
sim = pe @ pe.T
axes[1].imshow(sim, cmap="viridis")
axes[1].set(title="PE_p · PE_q: constant along diagonals", xlabel="q", ylabel="p")
fig.tight_layout()
print("PE_3·PE_10 =", round(sim[3, 10], 6), " PE_20·PE_27 =", round(sim[20, 27], 6), "(same offset 7)")
perm = np.random.default_rng(2).permutation(5)
out = scaled_dot_product_attention(x[0], x[0], x[0])
print("self-attention without positions is permutation-equivariant:",
      np.allclose(scaled_dot_product_attention(x[0][perm], x[0][perm], x[0][perm]), out[perm]))

# %% [markdown]
# ## 4. An image is a sequence of patches
#
# ViT cuts an image into P×P patches, flattens each (C·P·P numbers) and maps it linearly to width D:
# the **patch embedding** (图像块嵌入). A linear map of non-overlapping patches is exactly a convolution
# with kernel P and stride P — which is how every implementation writes it (`nn.Conv2d(C, D, P,
# stride=P)`). ViT-B/16 on 224×224 images: (224/16)² = 196 patches of 3·16·16 = 768 numbers each.
#
# **Exercise 8.** `patchify(x, patch_size)`: (N, C, H, W) → (N, (H/P)·(W/P), C·P·P). Patches are
# numbered row by row (left to right, then top to bottom), and each is flattened in (C, P, P) order —
# the order of a conv weight `(D, C, P, P).reshape(D, -1)`, so that `patchify(x, P) @ w.reshape(D, -1).T`
# equals the convolution. Raise `ValueError` if P does not divide H and W. Hint: one reshape to
# (N, C, H/P, P, W/P, P), one transpose, one reshape.

# %% nbgrader={"grade": false, "grade_id": "patchify", "locked": false, "schema_version": 3, "solution": true, "task": false}
def patchify(x, patch_size):
    """(N, C, H, W) → (N, (H/P)·(W/P), C·P·P)."""
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"patch_size {p} must divide H={h} and W={w}")
    x = x.reshape(n, c, h // p, p, w // p, p).transpose(0, 2, 4, 1, 3, 5)   # (N, H/P, W/P, C, P, P)
    return x.reshape(n, (h // p) * (w // p), c * p * p)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_patchify", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "patchify", "seed": 1608}
check_patchify(patchify)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("patchify", patchify, seed=1608)
### END HIDDEN TESTS

# %%
X_train, y_train, X_test, y_test = digits_split(test_fraction=0.2, seed=0)
digit = X_test[:1].astype(np.float64)                            # (1, 1, 8, 8)
patches = patchify(digit, 2)                                     # (1, 16, 4)
w = np.random.default_rng(3).standard_normal((6, 1, 2, 2))
conv = F.conv2d(torch.from_numpy(digit), torch.from_numpy(w), stride=2).flatten(2).transpose(1, 2).numpy()
print(f"{digit.shape} → {patches.shape}; |patchify @ W − conv2d(stride=P)| = "
      f"{np.abs(patches @ w.reshape(6, -1).T - conv).max():.1e}")
print("ViT-B/16 on 224×224:", patchify(np.zeros((1, 3, 224, 224)), 16).shape, "→ 196 patches + 1 [class] token = 197")
fig, axes = plt.subplots(1, 2, figsize=(7, 3), gridspec_kw={"width_ratios": [1, 2.3]})
axes[0].imshow(digit[0, 0], cmap="gray")
axes[0].set(title=f"a test digit ({y_test[0]}), 2×2 grid", xticks=[], yticks=[])
for k in range(1, 4):
    axes[0].axhline(2 * k - 0.5, color="c")
    axes[0].axvline(2 * k - 0.5, color="c")
axes[1].imshow(patches[0].T, cmap="gray")
axes[1].set(title="the 16 tokens (one column each, 4 pixels)", xlabel="token", yticks=[])
fig.tight_layout()

# %% [markdown]
# ## 5. The Transformer encoder block and the ViT, in PyTorch
#
# From here on we use PyTorch (your numpy attention is `nn.MultiheadAttention` — you checked that).
# ViT's encoder block is **pre-norm**: layer normalization (层归一化, Chapter 5) comes *before* each
# sub-layer, inside the residual branch (the original Transformer normalised after the addition,
# "post-norm", which needs a learning-rate warm-up to train deep stacks):
#
# $$x \leftarrow x + \operatorname{MHA}(\operatorname{LN}_1(x)),\qquad
#   x \leftarrow x + \operatorname{MLP}(\operatorname{LN}_2(x)),\qquad
#   \operatorname{MLP} = \operatorname{Linear}(D, D_{mlp}) \to \operatorname{GELU} \to \operatorname{Linear}(D_{mlp}, D)$$
#
# The residual connections (残差连接, Chapter 8) let the signal and the gradient pass straight through.
#
# **Exercise 9.** `EncoderBlock(dim, num_heads, mlp_dim)` — an `nn.Module` with exactly these layers
# (the check copies the same weights into yours and the reference's *by name*):
#
# | attribute | layer |
# |---|---|
# | `norm1`, `norm2` | `nn.LayerNorm` of width `dim` |
# | `attn` | `nn.MultiheadAttention` with `dim`, `num_heads` and `batch_first=True` |
# | `mlp` | `nn.Sequential` of `nn.Linear` (dim → mlp_dim), `nn.GELU`, `nn.Linear` (mlp_dim → dim) |
#
# `forward(x)` maps (N, L, D) to (N, L, D) with the formula above.
# `nn.MultiheadAttention` returns `(output, weights)`: keep the output.

# %% nbgrader={"grade": false, "grade_id": "EncoderBlock", "locked": false, "schema_version": 3, "solution": true, "task": false}
class EncoderBlock(nn.Module):
    """Pre-norm Transformer encoder block, (N, L, D) → (N, L, D)."""

    def __init__(self, dim, num_heads, mlp_dim):
        super().__init__()
        ### BEGIN SOLUTION
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_EncoderBlock", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "encoder_block", "function": "EncoderBlock", "seed": 1609}
check_encoder_block(EncoderBlock)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("encoder_block", EncoderBlock, seed=1609)
### END HIDDEN TESTS

# %% [markdown]
# **The Vision Transformer.** (1) patch embedding `self.patch_embed`, an `nn.Conv2d` from `in_channels`
# to `dim` channels with kernel and stride `patch_size`, whose (N, D, H/P, W/P) output becomes (N, L, D) tokens
# (`.flatten(2).transpose(1, 2)`); (2) a learned **[class] token** (分类标记) `self.cls_token`, an
# `nn.Parameter` of shape (1, 1, dim), put *in front* of the patches (borrowed from BERT: a token that
# belongs to no patch, whose final state summarises the image); (3) learned positional embeddings
# `self.pos_embed`, an `nn.Parameter` (1, 1 + L, dim), added to all tokens; (4) `depth` encoder blocks in an
# `nn.ModuleList` called `self.blocks`; (5) a final `nn.LayerNorm` called `self.norm` and a linear layer
# `self.head` from `dim` to `num_classes`, applied to the [class] token's output (token 0).
#
# **Exercise 10.** Write `VisionTransformer` with exactly these names, using your `EncoderBlock`
# (initial values do not matter for the check: it loads the same random weights into both models; use
# small random `pos_embed`, e.g. `torch.randn(...) * 0.02`, and zeros for `cls_token`).

# %% nbgrader={"grade": false, "grade_id": "VisionTransformer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class VisionTransformer(nn.Module):
    """ViT: (N, C, H, W) images → (N, num_classes) logits."""

    def __init__(self, image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=32, depth=2,
                 num_heads=4, mlp_dim=64):
        super().__init__()
        ### BEGIN SOLUTION
        num_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList([EncoderBlock(dim, num_heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        t = self.patch_embed(x).flatten(2).transpose(1, 2)            # (N, L, D)
        t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], dim=1) + self.pos_embed
        for block in self.blocks:
            t = block(t)
        return self.head(self.norm(t[:, 0]))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_VisionTransformer", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "vision_transformer", "function": "VisionTransformer", "seed": 1610}
check_vision_transformer(VisionTransformer)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("vision_transformer", VisionTransformer, seed=1610)
### END HIDDEN TESTS

# %% [markdown]
# How big is the real thing? ViT-B/16 (D = 768, 12 blocks of 12 heads, MLP 3072, 1000 classes) is
# reported with **86 M** parameters. We build the course's reference on PyTorch's "meta" device (shapes
# only, no memory) and count: almost all of it sits in the blocks, 12 · (4D² + 2·D·3072) ≈ 85 M.

# %%
with torch.device("meta"):
    vit_b16 = ref.VisionTransformer(image_size=224, patch_size=16, in_channels=3, num_classes=1000, dim=768,
                                    depth=12, num_heads=12, mlp_dim=3072)
n_blocks = count_params(vit_b16.blocks)
print(f"ViT-B/16: {count_params(vit_b16):,} parameters ({n_blocks:,} in the 12 blocks); "
      f"patch embedding {count_params(vit_b16.patch_embed):,}, positions {vit_b16.pos_embed.numel():,}")

# %% [markdown]
# ## 6. A tiny ViT on the digits, against LeNet-5
#
# ViT's authors found that Transformers, which lack the convolution's built-in assumptions (locality,
# translation equivariance), need *a lot* of data: trained on ImageNet alone (1.3 M images) ViT-B
# trailed ResNets, and only pre-training on 14 M – 300 M images put it ahead. Our data set has 1,437
# training images of 8×8 pixels — the worst case for a ViT. We train a tiny one anyway: 2×2 patches
# (16 tokens + [class]), D = 32, 2 blocks of 4 heads, AdamW with weight decay, dropout and label
# smoothing, a cosine learning-rate schedule (Chapter 7). The model is the course's reference
# (`course_lib.reference.attention.VisionTransformer`: your `VisionTransformer` with dropout), so the numbers do
# not depend on your code. Then Chapter 7's capstone on the same split: LeNet-5 with batch
# normalization on the digits upsampled to 32×32, 15 epochs of Adam with a cosine schedule.

# %%
VIT_CONFIG = dict(image_size=8, patch_size=2, dim=32, depth=2, num_heads=4, mlp_dim=64, dropout=0.1)
EPOCHS = 40


def train_vit(seed, progress=True):
    torch.manual_seed(seed)
    model = ref.VisionTransformer(**VIT_CONFIG)
    start = time.perf_counter()
    hist = fit(model, (X_train, y_train), (X_test, y_test), epochs=EPOCHS, batch_size=64, optimizer="adamw",
               lr=3e-3, weight_decay=0.05, seed=seed, progress=progress, desc="ViT",
               loss_fn=lambda out, target, **kw: F.cross_entropy(out, target, label_smoothing=0.1, **kw),
               scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS))
    return model, hist, time.perf_counter() - start


vit, vit_hist, vit_seconds = train_vit(seed=0)
vit_acc = evaluate(vit, X_test, y_test)[1]

torch.manual_seed(0)
lenet = LeNet5(batch_norm=True)                                   # Chapter 7's capstone, same settings
start = time.perf_counter()
lenet_hist = fit(lenet, (X_train, y_train), (X_test, y_test), epochs=15, batch_size=128, optimizer="adam",
                 lr=3e-3, scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15),
                 transform=digits_to_32, desc="LeNet-5")
lenet_seconds = time.perf_counter() - start
lenet_acc = evaluate(lenet, digits_to_32(X_test), y_test)[1]

print(f"| model | test accuracy | parameters | training time |\n|---|---|---|---|\n"
      f"| tiny ViT (2×2 patches, D=32, 2 blocks) | {vit_acc:.1%} | {count_params(vit):,} | {vit_seconds:.1f} s |\n"
      f"| LeNet-5 + BN (32×32 upsampled, Chapter 7) | {lenet_acc:.1%} | {count_params(lenet):,} | {lenet_seconds:.1f} s |")
assert vit_acc >= 0.95, f"the tiny ViT reached only {vit_acc:.1%}"
ax = plot_histories({"ViT": vit_hist, "LeNet-5": lenet_hist}, metric="val_acc")
ax.set_ylim(0.8, 1.0)
plt.show()

# %% [markdown]
# The ViT clears 95 % with a third of LeNet-5's parameters, but LeNet-5 is more accurate and trains
# several times faster: with no convolution, the ViT has to *learn* from 1,437 images that
# neighbouring pixels belong together, while LeNet-5 has that knowledge built in — the ViT paper's
# small-data finding in miniature. What did the ViT learn about positions? Below, each small image
# belongs to one patch and shows the cosine similarity of its learned positional embedding with all
# 16 patches' (the ViT paper's Figure 7 shows the same for ViT-L/32): neighbours and, often, the same
# row and column come out similar — the 2-D layout was learned from data.

# %%
pos = vit.pos_embed.detach()[0, 1:]                               # (16, D): patches only
pos = pos / pos.norm(dim=1, keepdim=True)
similarity = (pos @ pos.T).reshape(16, 4, 4).numpy()
fig, axes = plt.subplots(4, 4, figsize=(4.4, 4.4))
for i, ax in enumerate(axes.flat):
    ax.imshow(similarity[i], cmap="viridis", vmin=-1, vmax=1)
    ax.set(xticks=[], yticks=[])
fig.suptitle("learned positional embeddings: cosine similarity", fontsize=10)
fig.tight_layout()

# %% [markdown]
# ## 7. Where does the ViT look?
#
# The explorer shows the attention weights of the trained ViT on test digits: choose an image, a layer,
# a head (or the mean over heads) and a query — the [class] token or a patch (outlined in red). The
# middle panel lays the query's weights over the image; the right panel is the whole 17×17 attention
# matrix of that layer and head, the query's row outlined. Things to look for: heads that attend to
# the neighbouring patch (a learned "convolution"), heads of the [class] token that gather the strokes
# of the digit, and blank patches that the last layer ignores. A word of caution on "interpretable":
# attention weights say where information is *read* from, not why the model decides — a weight on a
# token whose value vector is small changes nothing.

# %%
AttentionExplorer(vit, X_test[:24], y_test[:24])

# %% [markdown]
# ## 8. Attention for detection: DETR
#
# The lecture notes list DETR and Deformable DETR as the Transformer branch of object detection.
# DETR (Carion et al., 2020) removes the hand-made parts of the detectors of Chapter 10 — anchors and
# non-maximum suppression. A CNN backbone's feature map, flattened to tokens with positional encodings,
# goes through a Transformer encoder; a decoder takes a fixed set of N = 100 learned **object queries**
# (目标查询) that attend to the image features (cross-attention) and to each other (self-attention,
# which lets them avoid predicting the same object twice), and each query's output is decoded by a
# small MLP into a class (or "no object") and a box. Training treats detection as **set prediction**:
# the Hungarian algorithm finds the **bipartite matching** (二分图匹配) between the N predictions and
# the ground-truth objects with the lowest total cost (class probability, L1 and generalised-IoU box
# distances); each object trains exactly one query, all others learn "no object" — so there are no
# duplicates to suppress. DETR reached Faster R-CNN's 42 AP on COCO with a ResNet-50, better on large
# objects and worse on small ones, and needed 500 epochs; Deformable DETR attends to a few sampled
# points per query and trains 10× faster.
#
# ```mermaid
# flowchart LR
#     img[image] --> cnn[CNN backbone] --> tok["feature tokens + positional encoding"]
#     tok --> enc[Transformer encoder]
#     enc --> dec[Transformer decoder]
#     q["N object queries (learned)"] --> dec
#     dec --> ffn[shared MLP per query]
#     ffn --> preds["N predictions: class or ∅, box"]
#     preds --> match{{"Hungarian matching with the ground truth"}}
#     gt[ground-truth boxes] --> match
#     match --> loss["loss: matched pairs + 'no object' for the rest"]
# ```
#
# The matching itself is one line with `scipy.optimize.linear_sum_assignment`: below, 5 queries and 3
# objects; the cost is the L1 distance of box centres (DETR adds class and IoU terms).

# %%
from scipy.optimize import linear_sum_assignment

pred_centres = np.array([[0.20, 0.30], [0.80, 0.20], [0.50, 0.50], [0.25, 0.35], [0.90, 0.90]])
true_centres = np.array([[0.82, 0.25], [0.22, 0.28], [0.88, 0.85]])
cost = np.abs(pred_centres[:, None] - true_centres[None]).sum(-1)   # (queries, objects)
rows, cols = linear_sum_assignment(cost)
for r, c in zip(rows, cols):
    print(f"query {r} ↔ object {c} (cost {cost[r, c]:.2f})")
print("unmatched queries, trained to say 'no object':", sorted(set(range(5)) - set(rows)))
print("query 3 is almost on object 1 too, but object 1 is taken by query 0: no duplicate, no NMS needed")

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **"可训练出可解释性的模型".** The notes credit self-attention with interpretability; the chapter draws the attention maps and adds a caution — attention weights show where information flows, not why the model decides.
# > * **The block.** The chapter's `EncoderBlock` is pre-norm (LayerNorm before attention and MLP, as ViT), not the original post-norm Transformer.
# > * **Detection.** DETR and Deformable DETR, which the notes list as the Transformer branch of detection, are only described.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why are attention scores divided by $\sqrt{d_k}$?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_sqrt_dk", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** For queries and keys with independent unit-variance components, $q\cdot k$ has variance $d_k$: with $d_k = 64$ the scores have a standard deviation of 8, the softmax saturates to nearly one-hot and its gradients become tiny. Dividing by $\sqrt{d_k}$ brings the variance back to 1.
#
# **Rubric (2 points).** 1 pt: the dot product's variance grows with $d_k$. 1 pt: saturated softmax → vanishing gradients.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why does a Transformer need positional encodings?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_positions", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Self-attention is permutation-equivariant: permuting the tokens permutes the outputs the same way, so without extra information the model cannot tell "dog bites man" from "man bites dog" or where a patch lies. Adding a position vector (sinusoidal, or learned as in ViT) to each token gives it that information.
#
# **Rubric (2 points).** 1 pt: attention is order-agnostic (permutation-equivariant). 1 pt: positions are added to the tokens.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). Why does a ViT need much more data (or augmentation) than a CNN to do as well?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_vit_data", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** A CNN builds in locality and translation equivariance (small shared kernels); a ViT has almost none — only the patch split — so it must learn them from data. Dosovitskiy et al.'s ViT falls behind ResNets when trained on ImageNet-1k alone and overtakes them after pre-training on ImageNet-21k or JFT-300M.
#
# **Rubric (2 points).** 1 pt: fewer inductive biases. 1 pt: must learn them from data (the paper's pre-training result or equivalent).
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# - Attention = softmax(QKᵀ/√E)V: a data-dependent weighted mean; the √E keeps the softmax from
#   saturating; masks set scores to −∞ (SDPA: True = allowed; `nn.MultiheadAttention`: True = blocked).
# - Multi-head attention splits the width into H heads that attend independently, then mixes them.
# - Attention ignores order: positions are added, as fixed sinusoids or learned embeddings.
# - ViT = strided-conv patch embedding + [class] token + positions + pre-norm encoder blocks. It has
#   fewer built-in assumptions than a CNN, so it needs more data or more training; on 1,437 tiny digits LeNet-5
#   wins on accuracy and on time, with three times the parameters.
# - DETR turns detection into set prediction: object queries, bipartite matching, no anchors, no NMS.
