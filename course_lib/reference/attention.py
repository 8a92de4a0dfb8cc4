"""Attention and Vision Transformers (Chapter 16): numpy references and small torch modules.

Numpy functions follow ``torch.nn.functional.scaled_dot_product_attention`` (boolean masks: True =
*may attend*) and ``torch.nn.MultiheadAttention`` with ``batch_first=True`` (boolean masks: True =
*may not attend* — the opposite convention, as in torch). The torch modules (:class:`EncoderBlock`,
:class:`VisionTransformer`) use ``nn.MultiheadAttention`` so that their weights have torch's layout.

Shapes: N batch, L query length, S key length, E/D embedding, H heads, P patch side.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "EncoderBlock",
    "VisionTransformer",
    "attention_maps",
    "causal_mask",
    "masked_softmax",
    "merge_heads",
    "multi_head_attention",
    "patch_embed",
    "patchify",
    "scaled_dot_product_attention",
    "sinusoidal_encoding",
    "split_heads",
    "vit_tokens",
]


# --------------------------------------------------------------------------- numpy: attention

def masked_softmax(x, mask=None, axis=-1):
    """Softmax along ``axis`` over the entries where ``mask`` is True; masked entries get 0.

    Args:
        x: scores, any shape.
        mask: boolean array broadcastable to x (True = keep), or None.
        axis: the axis that sums to 1.

    Returns:
        Array of x's shape and dtype. A slice with every entry masked is all zeros (as in
        ``F.scaled_dot_product_attention``), never NaN.
    """
    x = np.asarray(x)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise ValueError(f"mask must be boolean (True = keep), got dtype {mask.dtype}")
        try:
            mask = np.broadcast_to(mask, x.shape)
        except ValueError:
            raise ValueError(f"mask of shape {mask.shape} does not broadcast to x's shape {x.shape}") from None
        x = np.where(mask, x, -np.inf)
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)           # fully masked slices: avoid inf - inf
    e = np.exp(x - peak)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def causal_mask(L, S=None):
    """Boolean (L, S) mask, True on and below the diagonal: query i may attend to keys 0..i."""
    S = L if S is None else S
    if L < 1 or S < 1:
        raise ValueError(f"L and S must be ≥ 1, got L={L}, S={S}")
    return np.tril(np.ones((L, S), dtype=bool))


def _scores_mask(scores, attn_mask, is_causal):
    """Add a float mask / turn a boolean one into 'keep' (True = attend) for ``masked_softmax``."""
    if attn_mask is not None and is_causal:
        raise ValueError("pass either attn_mask or is_causal=True, not both (as in torch)")
    L, S = scores.shape[-2:]
    keep = causal_mask(L, S) if is_causal else None
    if attn_mask is not None:
        attn_mask = np.asarray(attn_mask)
        try:
            np.broadcast_shapes(attn_mask.shape, scores.shape)
        except ValueError:
            raise ValueError(f"attn_mask of shape {attn_mask.shape} does not broadcast to the scores' "
                             f"shape {scores.shape} (..., L, S)") from None
        if attn_mask.dtype == np.bool_:
            keep = attn_mask
        else:
            scores = scores + attn_mask
    return scores, keep


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False, scale=None):
    """softmax(Q Kᵀ · scale + mask) V, like ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: (..., L, E).
        key: (..., S, E).
        value: (..., S, Ev).
        attn_mask: boolean (True = may attend) or float (added to the scores), broadcastable to
            (..., L, S); or None.
        is_causal: use :func:`causal_mask` (L, S).
        scale: defaults to 1 / sqrt(E).

    Returns:
        (..., L, Ev). A query that may attend to no key gets zeros.
    """
    q, k, v = np.asarray(query), np.asarray(key), np.asarray(value)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"query (..., L, E) and key (..., S, E) must agree on E: got {q.shape} and {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"key (..., S, E) and value (..., S, Ev) must agree on S: got {k.shape} and {v.shape}")
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale              # (..., L, S)
    scores, keep = _scores_mask(scores, attn_mask, is_causal)
    return masked_softmax(scores, keep, axis=-1) @ v         # (..., L, Ev)


def split_heads(x, num_heads):
    """(N, L, E) → (N, H, L, E/H): head h gets features h·E/H … (h+1)·E/H − 1."""
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, L, E), got {x.shape}")
    n, length, e = x.shape
    if num_heads < 1 or e % num_heads:
        raise ValueError(f"num_heads={num_heads} must divide the embedding size E={e}")
    return x.reshape(n, length, num_heads, e // num_heads).transpose(0, 2, 1, 3)  # (N, H, L, E/H)


def merge_heads(x):
    """(N, H, L, Dh) → (N, L, H·Dh), the inverse of :func:`split_heads`."""
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, H, L, Dh), got {x.shape}")
    n, h, length, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, length, h * dh)   # (N, L, H·Dh)


def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, attn_mask=None, key_padding_mask=None, average_attn_weights=True):
    """``nn.MultiheadAttention(E, num_heads, batch_first=True)`` with the given weights.

    Args:
        query: (N, L, E); key, value: (N, S, E).
        in_proj_weight: (3E, E), the rows of W_q, W_k, W_v stacked; in_proj_bias: (3E,) or None.
        out_proj_weight: (E, E); out_proj_bias: (E,) or None.
        attn_mask: (L, S) or (N·H, L, S); boolean True = may *not* attend (torch's MHA convention),
            or float added to the scores.
        key_padding_mask: (N, S) boolean, True = this key is padding (ignored).
        average_attn_weights: average the weights over the heads.

    Returns:
        (out (N, L, E), weights (N, L, S) or (N, H, L, S) when not averaged).
    """
    n, length, e = query.shape
    s = key.shape[1]
    if in_proj_weight.shape != (3 * e, e):
        raise ValueError(f"in_proj_weight must have shape (3E, E) = {(3 * e, e)}, got {in_proj_weight.shape}")
    w_q, w_k, w_v = np.split(in_proj_weight, 3)
    b_q, b_k, b_v = np.split(in_proj_bias, 3) if in_proj_bias is not None else (0.0, 0.0, 0.0)
    q = split_heads(query @ w_q.T + b_q, num_heads)          # (N, H, L, Dh)
    k = split_heads(key @ w_k.T + b_k, num_heads)            # (N, H, S, Dh)
    v = split_heads(value @ w_v.T + b_v, num_heads)          # (N, H, S, Dh)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(e // num_heads)   # (N, H, L, S)
    keep = np.ones(scores.shape, dtype=bool)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        mask = mask.reshape(n, num_heads, length, s) if mask.ndim == 3 else mask  # (N·H, L, S) → (N, H, L, S)
        if mask.dtype == np.bool_:
            keep &= ~mask
        else:
            scores = scores + mask
    if key_padding_mask is not None:
        keep &= ~np.asarray(key_padding_mask, dtype=bool)[:, None, None, :]
    weights = masked_softmax(scores, keep)                   # (N, H, L, S)
    out = merge_heads(weights @ v) @ out_proj_weight.T        # (N, L, E)
    if out_proj_bias is not None:
        out = out + out_proj_bias
    return out, (weights.mean(axis=1) if average_attn_weights else weights)


# --------------------------------------------------------------------------- numpy: positions and patches

def sinusoidal_encoding(num_positions, dim, base=10000.0):
    """The Transformer's positional encoding (Vaswani et al., 2017), shape (num_positions, dim).

    PE[p, 2i] = sin(p / base^(2i/dim)) and PE[p, 2i+1] = cos(p / base^(2i/dim)); dim must be even.
    """
    if num_positions < 1 or dim < 2 or dim % 2:
        raise ValueError(f"need num_positions ≥ 1 and an even dim ≥ 2, got {num_positions}, {dim}")
    pos = np.arange(num_positions)[:, None]                   # (L, 1)
    freq = base ** (-np.arange(0, dim, 2) / dim)              # (D/2,)
    pe = np.empty((num_positions, dim))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq)
    return pe


def patchify(x, patch_size):
    """Cut images into non-overlapping P×P patches, row by row, each flattened in (C, P, P) order.

    Args:
        x: (N, C, H, W) with H and W multiples of P.
        patch_size: P.

    Returns:
        (N, (H/P)·(W/P), C·P·P) — the order of a conv weight ``(D, C, P, P).reshape(D, -1)``.
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    n, c, h, w = x.shape
    p = int(patch_size)
    if p < 1 or h % p or w % p:
        raise ValueError(f"patch_size={patch_size} must divide H={h} and W={w}")
    x = x.reshape(n, c, h // p, p, w // p, p).transpose(0, 2, 4, 1, 3, 5)   # (N, H/P, W/P, C, P, P)
    return x.reshape(n, (h // p) * (w // p), c * p * p)


def patch_embed(x, weight, bias=None):
    """Linear embedding of patches = ``F.conv2d(x, weight, bias, stride=P)`` flattened to tokens.

    Args:
        x: (N, C, H, W); weight: (D, C, P, P); bias: (D,) or None.

    Returns:
        (N, L, D) with L = (H/P)·(W/P).
    """
    d, c, p, p2 = weight.shape
    if p != p2 or x.shape[1] != c:
        raise ValueError(f"weight must have shape (D, C, P, P) with C = {x.shape[1]}, got {weight.shape}")
    out = patchify(x, p) @ weight.reshape(d, -1).T            # (N, L, D)
    return out if bias is None else out + bias


# --------------------------------------------------------------------------- torch modules

class EncoderBlock(nn.Module):
    """Pre-norm Transformer encoder block: x + MHA(LN(x)), then x + MLP(LN(x)), MLP = Linear-GELU-Linear.

    Args:
        dim: D; num_heads: H (divides D); mlp_dim: hidden width of the MLP; dropout: on the
            attention weights and on both branches before they are added (training only).
    """

    def __init__(self, dim, num_heads, mlp_dim, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
        self.drop = nn.Dropout(dropout)                        # no parameters: the layout stays mlp.0 / mlp.2

    def forward(self, x):                                      # (N, L, D) → (N, L, D)
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, h, need_weights=False)[0])
        return x + self.drop(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al., 2021): patch embedding, [class] token, learned positions, encoder, head.

    Args:
        image_size, patch_size, in_channels, num_classes: the task (P divides image_size).
        dim, depth, num_heads, mlp_dim, dropout: the encoder.
    """

    def __init__(self, image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=32, depth=2,
                 num_heads=4, mlp_dim=64, dropout=0.0):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
        num_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList([EncoderBlock(dim, num_heads, mlp_dim, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):                                      # (N, C, H, W) → (N, K)
        t = vit_tokens(self, x)                                # (N, 1 + L, D)
        for block in self.blocks:
            t = block(t)
        return self.head(self.norm(t[:, 0]))


def vit_tokens(model, x):
    """Embedded input sequence of a ViT-like ``model``: [class] token + patches, plus positions (N, 1+L, D)."""
    t = model.patch_embed(x).flatten(2).transpose(1, 2)     # (N, L, D)
    cls = model.cls_token.expand(len(t), -1, -1)              # (N, 1, D)
    return torch.cat([cls, t], dim=1) + model.pos_embed


@torch.no_grad()
def attention_maps(model, x):
    """Attention weights of every block of a ViT-like model, shape (depth, N, H, 1+L, 1+L).

    Works for any model with ``patch_embed``, ``cls_token``, ``pos_embed`` and ``blocks`` whose
    blocks have ``norm1`` and an ``nn.MultiheadAttention`` ``attn`` (batch_first), like
    :class:`VisionTransformer`.
    """
    model.eval()
    t = vit_tokens(model, torch.as_tensor(x, dtype=torch.float32))
    maps = []
    for block in model.blocks:
        h = block.norm1(t)
        maps.append(block.attn(h, h, h, need_weights=True, average_attn_weights=False)[1])
        t = block(t)
    return torch.stack(maps).numpy()
