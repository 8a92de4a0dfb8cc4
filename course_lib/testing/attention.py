"""Exercise specifications for Chapter 16 (attention and Vision Transformers).

The numpy exercises are compared with :mod:`course_lib.reference.attention` value by value. The two torch
exercises return modules (:class:`EncoderBlock`, :class:`VisionTransformer`) and are checked by the
course's one module check (:mod:`course_lib.testing._modules`, as Chapter 8's are): the same random
weights in both modules (paired by the names of their parameters), both run on the same input, layer
by layer, and, when the outputs differ, which common mistake (post-norm, a missing residual, ReLU
for GELU, ...) the output matches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._cases import randn
from ._modules import ModuleReference
from .core import REFERENCE_PACKAGE, Case, Exercise, answers

att = answers("attention")  # the answers, imported when first used

__all__ = ["EXERCISES"]

_TORCH_FORBID = (REFERENCE_PACKAGE,)      # torch is allowed for the modules, the course's references are not


# --------------------------------------------------------------------------- masked softmax

def _softmax_visible():
    rng = np.random.default_rng(1601)
    x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    return [
        Case((x,), note="no mask: an ordinary softmax of each row"),
        Case((x, np.array([[True, True, False], [True, False, True]])), note="masked entries get exactly 0"),
        Case((np.array([[1000.0, 1001.0, -1000.0]]),), note="large scores: subtract the row maximum first"),
        Case((x, np.array([[False, False, False], [True, True, True]])),
             note="a fully masked row gives zeros, not NaN"),
        Case((randn(rng, 2, 3, 4), np.tril(np.ones((3, 4), dtype=bool))), note="mask (L, S) broadcast over N"),
        Case((randn(rng, 3, 4),), {"axis": 0}, note="axis=0: the columns sum to 1"),
    ]


def _softmax_hidden(rng):
    cases = []
    for _ in range(10):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        mask = rng.random(shape) < 0.7 if rng.random() < 0.7 else None
        cases.append(Case((randn(rng, *shape) * 5, mask), {"axis": int(rng.integers(-len(shape), len(shape)))}))
    cases.append(Case((np.zeros((2, 3)), np.zeros((2, 3), dtype=bool)), note="everything masked"))
    cases.append(Case((randn(rng, 2, 3) + 800.0,), note="large scores"))
    return cases


# --------------------------------------------------------------------------- causal mask

def _causal_visible():
    return [Case((4,), note="square: query i sees keys 0..i"), Case((1,), note="one position"),
            Case((2, 5), note="L=2 queries, S=5 keys: aligned at the top-left, like torch's is_causal"),
            Case((0,), raises=ValueError, note="L must be ≥ 1")]


def _causal_hidden(rng):
    return [Case((int(rng.integers(1, 9)), int(rng.integers(1, 9)))) for _ in range(8)] + [
        Case((int(rng.integers(1, 9)),)) for _ in range(4)]


# --------------------------------------------------------------------------- scaled dot-product attention

def _sdpa_case(rng, batch, L, S, E, Ev, mask=None, note="", **kwargs):
    q, k, v = randn(rng, *batch, L, E), randn(rng, *batch, S, E), randn(rng, *batch, S, Ev)
    if mask == "bool":
        kwargs["attn_mask"] = rng.random((L, S)) < 0.7
    elif mask == "float":
        kwargs["attn_mask"] = randn(rng, L, S)
    return Case((q, k, v), kwargs, note=note)


def _sdpa_visible():
    rng = np.random.default_rng(1603)
    eye = np.eye(3)
    return [
        Case((eye, eye, np.arange(6.0).reshape(3, 2)), note="one-hot queries and keys: each query prefers its own key"),
        _sdpa_case(rng, (2,), 3, 5, 4, 6, note="L=3 queries, S=5 keys, Ev=6"),
        _sdpa_case(rng, (2, 2), 4, 4, 8, 8, note="batch and heads (N, H, L, E); scale 1/√8"),
        _sdpa_case(rng, (1,), 4, 4, 3, 3, is_causal=True, note="is_causal=True"),
        _sdpa_case(rng, (2,), 3, 5, 4, 4, mask="bool", note="boolean attn_mask: True = may attend"),
        _sdpa_case(rng, (2,), 3, 5, 4, 4, mask="float", note="float attn_mask: added to the scores"),
        _sdpa_case(rng, (1,), 3, 3, 4, 4, scale=1.0, note="scale=1.0 instead of 1/√E"),
        Case((randn(rng, 3, 4), randn(rng, 5, 3), randn(rng, 5, 2)), raises=ValueError,
             note="query has E=4 but key has E=3"),
    ]


def _sdpa_hidden(rng):
    cases = []
    for _ in range(12):
        batch = tuple(int(v) for v in rng.integers(1, 4, size=int(rng.integers(0, 3))))
        L, S, E, Ev = (int(v) for v in rng.integers(1, 7, size=4))
        kind = rng.choice(["none", "bool", "float", "causal", "scale"])
        kw = ({"is_causal": True} if kind == "causal"
              else {"scale": float(rng.uniform(0.1, 2))} if kind == "scale" else {})
        cases.append(_sdpa_case(rng, batch, L, S, E, Ev, mask=kind if kind in ("bool", "float") else None, **kw))
    cases.append(Case((randn(rng, 2, 4), randn(rng, 3, 4), randn(rng, 2, 4)), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- heads

def _split_visible():
    rng = np.random.default_rng(1604)
    return [Case((np.arange(12.0).reshape(1, 2, 6), 3), note="E=6, 3 heads: head h gets features 2h, 2h+1"),
            Case((randn(rng, 2, 5, 8), 2), note="(N=2, L=5, E=8) → (2, 2, 5, 4)"),
            Case((randn(rng, 2, 5, 8), 1), note="one head"),
            Case((randn(rng, 2, 5, 8), 3), raises=ValueError, note="3 heads do not divide E=8")]


def _split_hidden(rng):
    cases = []
    for _ in range(10):
        h, dh = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        cases.append(Case((randn(rng, int(rng.integers(1, 4)), int(rng.integers(1, 6)), h * dh), h)))
    cases.append(Case((randn(rng, 1, 2, 5), 2), raises=ValueError))
    return cases


def _merge_visible():
    rng = np.random.default_rng(1605)
    return [Case((np.arange(12.0).reshape(1, 3, 2, 2),), note="3 heads of 2 features, L=2"),
            Case((randn(rng, 2, 4, 5, 3),), note="(N=2, H=4, L=5, Dh=3) → (2, 5, 12)"),
            Case((randn(rng, 5, 12),), raises=ValueError, note="needs a 4-D input (N, H, L, Dh)")]


def _merge_hidden(rng):
    return [Case((randn(rng, *(int(v) for v in rng.integers(1, 5, size=4))),)) for _ in range(10)]


# --------------------------------------------------------------------------- multi-head attention

def _mha_case(rng, n, L, S, E, H, bias=True, note="", self_attn=False, **kwargs):
    q = randn(rng, n, L, E)
    k, v = (q, q) if self_attn else (randn(rng, n, S, E), randn(rng, n, S, E))
    w_in, w_out = randn(rng, 3 * E, E) / np.sqrt(E), randn(rng, E, E) / np.sqrt(E)
    b_in, b_out = (randn(rng, 3 * E), randn(rng, E)) if bias else (None, None)
    return Case((q, k, v, H, w_in, b_in, w_out, b_out), kwargs, note=note)


def _mha_visible():
    rng = np.random.default_rng(1606)
    pad = np.array([[False, False, False, True], [False, False, False, False]])
    allowed = ~np.tril(np.ones((4, 4), dtype=bool))
    return [
        _mha_case(rng, 1, 3, 3, 4, 1, self_attn=True, note="one head, self-attention"),
        _mha_case(rng, 2, 3, 5, 8, 2, note="2 heads, L=3 queries, S=5 keys"),
        _mha_case(rng, 2, 4, 4, 8, 4, self_attn=True, average_attn_weights=False,
                  note="average_attn_weights=False: weights (N, H, L, S)"),
        _mha_case(rng, 2, 3, 4, 6, 3, key_padding_mask=pad, note="key_padding_mask: True = padding, ignored"),
        _mha_case(rng, 1, 4, 4, 6, 2, self_attn=True, attn_mask=allowed,
                  note="boolean attn_mask, torch's MHA convention: True = may NOT attend (causal here)"),
        _mha_case(rng, 1, 3, 3, 4, 2, bias=False, self_attn=True, note="bias=False: both biases None"),
    ]


def _mha_hidden(rng):
    cases = []
    for _ in range(8):
        n, L, S, H, dh = (int(v) for v in rng.integers(1, 5, size=5))
        kw = {"average_attn_weights": bool(rng.random() < 0.5)}
        if rng.random() < 0.4:
            kw["key_padding_mask"] = np.zeros((n, S), dtype=bool)
            kw["key_padding_mask"][:, 1:] = rng.random((n, S - 1)) < 0.4
        elif rng.random() < 0.5:
            kw["attn_mask"] = randn(rng, L, S)
        cases.append(_mha_case(rng, n, L, S, H * dh, H, bias=bool(rng.random() < 0.8), **kw))
    return cases


# --------------------------------------------------------------------------- positions and patches

def _sin_visible():
    return [Case((4, 2), note="dim 2: sin(p), cos(p)"), Case((10, 8), note="10 positions, dim 8"),
            Case((6, 4), {"base": 100.0}, note="base 100"), Case((5, 3), raises=ValueError, note="odd dim")]


def _sin_hidden(rng):
    return [Case((int(rng.integers(1, 60)), 2 * int(rng.integers(1, 20))), {"base": float(rng.choice([1e4, 100.0]))})
            for _ in range(8)] + [Case((3, 7), raises=ValueError)]


def _patch_visible():
    rng = np.random.default_rng(1608)
    return [Case((np.arange(16.0).reshape(1, 1, 4, 4), 2), note="one 4×4 image, 2×2 patches, row by row"),
            Case((randn(rng, 2, 3, 4, 6), 2), note="3 channels: each patch flattened in (C, P, P) order"),
            Case((randn(rng, 2, 1, 8, 8), 4), note="8×8 digits, 4×4 patches: 4 tokens of 16"),
            Case((randn(rng, 1, 1, 6, 6), 4), raises=ValueError, note="4 does not divide 6")]


def _patch_hidden(rng):
    cases = []
    for _ in range(10):
        p = int(rng.integers(1, 4))
        cases.append(Case((randn(rng, int(rng.integers(1, 3)), int(rng.integers(1, 4)), p * int(rng.integers(1, 4)),
                                p * int(rng.integers(1, 4))), p)))
    cases.append(Case((randn(rng, 1, 1, 5, 4), 2), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- torch modules

def _mlp(block, h, act=nn.functional.gelu):
    lin1, lin2 = (m for m in block.mlp if isinstance(m, nn.Linear))
    return lin2(act(lin1(h)))


def _attn(block, h):
    return block.attn(h, h, h, need_weights=False)[0]


#: Common ways to get the block wrong, computed with the reference's weights.
_BLOCK_VARIANTS = {
    "a post-norm block, x = LN(x + attn(x)) (the original Transformer); this chapter's block is pre-norm, "
    "x = x + attn(LN(x))": lambda b, x: b.norm2((y := b.norm1(x + _attn(b, x))) + _mlp(b, y)),
    "a block without the attention's residual connection (x = attn(LN(x)) instead of x + attn(LN(x)))":
        lambda b, x: (y := _attn(b, b.norm1(x))) + _mlp(b, b.norm2(y)),
    "a block without the MLP's residual connection": lambda b, x: _mlp(b, b.norm2(x + _attn(b, b.norm1(x)))),
    "a block with ReLU instead of GELU in the MLP":
        lambda b, x: (y := x + _attn(b, b.norm1(x))) + _mlp(b, b.norm2(y), nn.functional.relu),
    "a block that uses norm1 for the MLP too (norm2 is never used)":
        lambda b, x: (y := x + _attn(b, b.norm1(x))) + _mlp(b, b.norm1(y)),
    "a block that feeds the MLP with LN of the block's input x instead of the updated x":
        lambda b, x: x + _attn(b, b.norm1(x)) + _mlp(b, b.norm2(x)),
}


def _vit_tail(model, t):
    for block in model.blocks:
        t = block(t)
    return t


_VIT_VARIANTS = {
    "a ViT that never adds pos_embed": lambda m, x: m.head(m.norm(_vit_tail(m, torch.cat(
        [m.cls_token.expand(len(x), -1, -1), m.patch_embed(x).flatten(2).transpose(1, 2)], 1))[:, 0])),
    "a ViT that classifies the mean of all tokens instead of the [class] token (index 0)":
        lambda m, x: m.head(m.norm(_vit_tail(m, att.vit_tokens(m, x)).mean(1))),
    "a ViT that classifies the last token instead of the [class] token (index 0)":
        lambda m, x: m.head(m.norm(_vit_tail(m, att.vit_tokens(m, x))[:, -1])),
    "a ViT without the final LayerNorm `norm` before the head":
        lambda m, x: m.head(_vit_tail(m, att.vit_tokens(m, x))[:, 0]),
    "a ViT whose patches are flattened as (N, D, L) — transpose to (N, L, D) tokens": lambda m, x: m.head(m.norm(
        _vit_tail(m, torch.cat([m.cls_token.expand(len(x), -1, -1), m.patch_embed(x).flatten(2).reshape(
            len(x), -1, m.cls_token.shape[-1])], 1) + m.pos_embed)[:, 0])),
}


def _vit_inputs(*args, **kwargs) -> list[tuple[int, ...]]:
    """The input shape of ``VisionTransformer(...)``'s forward pass: three images."""
    import inspect

    bound = inspect.signature(att.VisionTransformer.resolve()).bind(*args, **kwargs)
    bound.apply_defaults()
    size, channels = bound.arguments["image_size"], bound.arguments["in_channels"]
    return [(3, channels, size, size)]


#: The two module exercises, checked like every module exercise of the course (``_modules``):
#: parameters paired by name, the same random weights in both, layer by layer in evaluation mode
#: (neither block has dropout), and a named common mistake when the output is one of them.
_ENCODER_BLOCK = ModuleReference("EncoderBlock", att.EncoderBlock, lambda dim, num_heads, mlp_dim: [(2, 5, dim)],
                                 variants=_BLOCK_VARIANTS, forbid=_TORCH_FORBID, training=False)
_VISION_TRANSFORMER = ModuleReference("VisionTransformer", att.VisionTransformer, _vit_inputs,
                                      variants=_VIT_VARIANTS, forbid=_TORCH_FORBID, training=False)


def _block_visible():
    return [Case((8, 2, 16), note="dim 8, 2 heads, MLP 16"), Case((12, 3, 24), note="dim 12, 3 heads")]


def _block_hidden(rng):
    return [Case((int(h * rng.integers(1, 5)), int(h), int(rng.integers(4, 40))))
            for h in rng.integers(1, 5, size=4)]


def _vit_visible():
    return [Case(kwargs={"image_size": 8, "patch_size": 2, "dim": 16, "depth": 1, "num_heads": 2, "mlp_dim": 32},
                 note="8×8 digits, 2×2 patches (16 tokens + [class])"),
            Case(kwargs={"image_size": 8, "patch_size": 4, "in_channels": 3, "num_classes": 5, "dim": 12,
                         "depth": 2, "num_heads": 3, "mlp_dim": 24}, note="3 channels, 4×4 patches, 2 blocks")]


def _vit_hidden(rng):
    cases = []
    for _ in range(3):
        p = int(rng.choice([1, 2, 4]))
        h = int(rng.integers(1, 4))
        cases.append(Case(kwargs={"image_size": 8, "patch_size": p, "in_channels": int(rng.integers(1, 4)),
                                  "num_classes": int(rng.integers(2, 11)), "dim": h * int(rng.integers(2, 6)),
                                  "depth": int(rng.integers(1, 3)), "num_heads": h,
                                  "mlp_dim": int(rng.integers(4, 30))}))
    return cases


EXERCISES = {
    "masked_softmax": Exercise("masked_softmax", att.masked_softmax, _softmax_visible, _softmax_hidden, rtol=1e-7,
                               atol=1e-12),
    "causal_mask": Exercise("causal_mask", att.causal_mask, _causal_visible, _causal_hidden),
    "scaled_dot_product_attention": Exercise(
        "scaled_dot_product_attention", att.scaled_dot_product_attention, _sdpa_visible, _sdpa_hidden,
        hint="The output has shape (..., L, Ev): one row per query, with the value's width."),
    "split_heads": Exercise("split_heads", att.split_heads, _split_visible, _split_hidden,
                            hint="(N, L, E) → (N, H, L, E/H): reshape to (N, L, H, E/H), then move H forward."),
    "merge_heads": Exercise("merge_heads", att.merge_heads, _merge_visible, _merge_hidden,
                            hint="(N, H, L, Dh) → (N, L, H·Dh): move H back next to Dh, then reshape."),
    "multi_head_attention": Exercise(
        "multi_head_attention", att.multi_head_attention, _mha_visible, _mha_hidden,
        output_names=("out", "weights"), rtol=1e-6, atol=1e-9,
        hint="out is (N, L, E); weights (N, L, S), or (N, H, L, S) with average_attn_weights=False."),
    "sinusoidal_encoding": Exercise("sinusoidal_encoding", att.sinusoidal_encoding, _sin_visible, _sin_hidden,
                                    atol=1e-10),
    "patchify": Exercise("patchify", att.patchify, _patch_visible, _patch_hidden,
                         hint="(N, C, H, W) → (N, (H/P)·(W/P), C·P·P)."),
    "encoder_block": Exercise("encoder_block", _ENCODER_BLOCK, _block_visible, _block_hidden,
                              forbid=_TORCH_FORBID),
    "vision_transformer": Exercise("vision_transformer", _VISION_TRANSFORMER, _vit_visible, _vit_hidden,
                                   forbid=_TORCH_FORBID),
}
