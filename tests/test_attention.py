"""Chapter 16 references against torch: SDPA, nn.MultiheadAttention, conv patch embedding, modules."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import rel_error
from course_lib.reference import attention as att
from course_lib.reference.mlp import numerical_gradient
from course_lib.testing import CheckFailure, check

SETTINGS = settings(deadline=None, max_examples=25)
T = torch.from_numpy


@SETTINGS
@given(st.integers(0, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4),
       st.sampled_from(["none", "bool", "float", "causal"]), st.integers(0, 2 ** 16))
def test_sdpa_matches_torch(nb, L, S, E, Ev, mask, seed):
    rng = np.random.default_rng(seed)
    batch = tuple(rng.integers(1, 3, size=nb))
    q, k, v = (rng.standard_normal((*batch, n, d)) for n, d in ((L, E), (S, E), (S, Ev)))
    kw = {}
    if mask == "bool":
        kw["attn_mask"] = rng.random((L, S)) < 0.6            # fully masked rows included: zeros, like torch
    elif mask == "float":
        kw["attn_mask"] = rng.standard_normal((L, S))
    elif mask == "causal":
        kw["is_causal"] = True
    expected = F.scaled_dot_product_attention(T(q), T(k), T(v), **{
        key: T(val) if isinstance(val, np.ndarray) else val for key, val in kw.items()})
    np.testing.assert_allclose(att.scaled_dot_product_attention(q, k, v, **kw), expected.numpy(), atol=1e-12)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3),
       st.booleans(), st.booleans(), st.sampled_from(["none", "bool", "float", "padding"]), st.integers(0, 2 ** 16))
def test_multi_head_attention_matches_torch(n, L, S, H, dh, bias, average, mask, seed):
    rng = np.random.default_rng(seed)
    E = H * dh
    mha = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=True).double()
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape)))
    q, k, v = (rng.standard_normal((n, m, E)) for m in (L, S, S))
    kw = {}
    if mask == "bool":
        kw["attn_mask"] = ~np.tril(np.ones((L, S), dtype=bool))      # True = may not attend; row 0 keeps key 0
    elif mask == "float":
        kw["attn_mask"] = rng.standard_normal((L, S))
    elif mask == "padding":
        kw["key_padding_mask"] = np.concatenate([np.zeros((n, 1), bool), rng.random((n, S - 1)) < 0.5], 1)
    out, w = mha(T(q), T(k), T(v), average_attn_weights=average,
                 **{key: T(val) for key, val in kw.items()})
    sd = {key: val.detach().numpy() for key, val in mha.state_dict().items()}
    got_out, got_w = att.multi_head_attention(
        q, k, v, H, sd["in_proj_weight"], sd.get("in_proj_bias"), sd["out_proj.weight"], sd.get("out_proj.bias"),
        average_attn_weights=average, **kw)
    np.testing.assert_allclose(got_out, out.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(got_w, w.detach().numpy(), atol=1e-12)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 6), st.integers(0, 2 ** 16))
def test_patch_embedding_is_a_strided_convolution(n, c, p, gh, gw, d, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, c, p * gh, p * gw)), rng.standard_normal((d, c, p, p)), rng.standard_normal(d)
    expected = F.conv2d(T(x), T(w), T(b), stride=p).flatten(2).transpose(1, 2)   # (N, L, D)
    np.testing.assert_allclose(att.patch_embed(x, w, b), expected.numpy(), atol=1e-12)
    assert att.patchify(x, p).shape == (n, gh * gw, c * p * p)


def test_heads_round_trip_and_softmax():
    x = np.random.default_rng(0).standard_normal((2, 5, 12))
    s = att.split_heads(x, 3)
    assert s.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(s[:, 1], x[:, :, 4:8])
    np.testing.assert_array_equal(att.merge_heads(s), x)
    scores = np.random.default_rng(1).standard_normal((4, 6))
    np.testing.assert_allclose(att.masked_softmax(scores), torch.softmax(T(scores), -1).numpy())
    mask = np.zeros((4, 6), bool)
    mask[1, 2] = True
    p = att.masked_softmax(scores, mask)
    assert np.isfinite(p).all() and p[1, 2] == 1 and p.sum() == 1


def test_sdpa_gradient_matches_numerical():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    dout = rng.standard_normal((2, 3, 2))
    tq = T(q.copy()).requires_grad_()
    (F.scaled_dot_product_attention(tq, T(k), T(v), is_causal=False) * T(dout)).sum().backward()
    num = numerical_gradient(lambda z: att.scaled_dot_product_attention(z, k, v), q, dout)
    assert rel_error(num, tq.grad.numpy()) < 1e-7


def test_sinusoidal_encoding_matches_formula():
    pe = att.sinusoidal_encoding(50, 16)
    assert pe.shape == (50, 16)
    np.testing.assert_allclose(pe[0, 0::2], 0)
    np.testing.assert_allclose(pe[0, 1::2], 1)
    np.testing.assert_allclose(pe[7, 4], np.sin(7 / 10000 ** (4 / 16)))
    # PE(p + k) is a rotation of PE(p): the dot product depends only on the offset k
    np.testing.assert_allclose(pe[3] @ pe[10], pe[20] @ pe[27])


def test_modules_shapes_and_attention_maps():
    torch.manual_seed(0)
    model = att.VisionTransformer(dim=16, depth=2, num_heads=4, mlp_dim=32)
    x = torch.randn(3, 1, 8, 8)
    assert model(x).shape == (3, 10)
    maps = att.attention_maps(model, x)
    assert maps.shape == (2, 3, 4, 17, 17)
    np.testing.assert_allclose(maps.sum(-1), 1, atol=1e-5)
    block = model.blocks[0]
    t = torch.randn(2, 5, 16)
    h = block.norm1(t)
    a = att.multi_head_attention(h.detach().double().numpy(), *(h.detach().double().numpy(),) * 2, 4,
                                 *(block.attn.state_dict()[k].double().numpy() for k in
                                   ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")))[0]
    np.testing.assert_allclose(a, block.attn(h, h, h)[0].detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda: att.split_heads(np.zeros((1, 2, 5)), 2), "must divide"),
    (lambda: att.patchify(np.zeros((1, 1, 6, 6)), 4), "must divide"),
    (lambda: att.sinusoidal_encoding(4, 3), "even"),
    (lambda: att.scaled_dot_product_attention(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 1))), "agree on E"),
    (lambda: att.scaled_dot_product_attention(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 1)),
                                              attn_mask=np.ones((2, 2), bool), is_causal=True), "not both"),
    (lambda: att.masked_softmax(np.zeros((2, 3)), np.ones((2, 3))), "boolean"),
    (lambda: att.causal_mask(0), "≥ 1"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- the checks catch mistakes

def _notebook(src):
    ns = {"__name__": "__main__", "np": np, "torch": torch, "nn": torch.nn}
    exec(src, ns)
    return ns


def test_checks_explain_wrong_numpy_answers():
    ns = _notebook("""
def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False, scale=None):
    s = query @ np.swapaxes(key, -1, -2)                   # forgot the 1/sqrt(E) scale
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True) @ value
def split_heads(x, num_heads):
    n, l, e = x.shape
    return x.reshape(n, num_heads, l, e // num_heads)       # a reshape is not a transpose
def patchify(x, patch_size):
    return np.zeros((1,))
""")
    with pytest.raises(CheckFailure, match=r"values are wrong"):
        check("scaled_dot_product_attention", ns["scaled_dot_product_attention"])
    with pytest.raises(CheckFailure, match=r"First wrong value"):
        check("split_heads", ns["split_heads"])
    with pytest.raises(CheckFailure, match=r"shape \(1,\), expected \(1, 4, 4\)"):
        check("patchify", ns["patchify"])


def test_checks_forbid_torch_in_numpy_exercises():
    ns = _notebook("""
def masked_softmax(x, mask=None, axis=-1):
    return torch.softmax(torch.from_numpy(x), axis).numpy()
""")
    with pytest.raises(CheckFailure, match="switched off"):
        check("masked_softmax", ns["masked_softmax"])


BLOCK = """
class EncoderBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h)[0]
        return x + self.mlp(self.norm2(x))
"""


def test_module_checks_pass_a_right_block_and_name_the_mistakes():
    check("encoder_block", _notebook(BLOCK)["EncoderBlock"])
    post = _notebook(BLOCK.replace("""        h = self.norm1(x)
        x = x + self.attn(h, h, h)[0]
        return x + self.mlp(self.norm2(x))""", """        x = self.norm1(x + self.attn(x, x, x)[0])
        return self.norm2(x + self.mlp(x))"""))
    with pytest.raises(CheckFailure, match="post-norm"):
        check("encoder_block", post["EncoderBlock"])
    relu = _notebook(BLOCK.replace("nn.GELU()", "nn.ReLU()"))
    with pytest.raises(CheckFailure, match="ReLU instead of GELU"):
        check("encoder_block", relu["EncoderBlock"])
    # fair to other layouts: the reference's names registered in another order are paired by name,
    # other names in the reference's order by position; a wrong size is named either way
    reordered = _notebook(BLOCK.replace("""        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
""", """        self.norm2 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
"""))
    check("encoder_block", reordered["EncoderBlock"])
    check("encoder_block", _notebook(BLOCK.replace("self.mlp", "self.ffn"))["EncoderBlock"])
    wide = _notebook(BLOCK.replace("nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim)",
                                   "nn.Linear(dim, 2 * mlp_dim), nn.GELU(), nn.Linear(2 * mlp_dim, dim)"))
    with pytest.raises(CheckFailure, match=r"your `mlp\.0\.weight` has shape \(32, 8\), expected \(16, 8\)"):
        check("encoder_block", wide["EncoderBlock"])
    with pytest.raises(CheckFailure, match="switched off"):
        check("encoder_block", att.EncoderBlock)
