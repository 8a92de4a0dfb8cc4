"""Exercise specifications for Chapter 14 (neural style transfer).

The losses are checked on numpy arrays (torch switched off); written with the operations numpy
and torch share, the same functions then drive the optimisation on tensors.
"""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, Exercise, answers

style = answers("style")  # the answers, imported when first used

__all__ = ["EXERCISES"]


def _feats(rng, n, c, h, w, dtype=np.float64):
    return np.maximum(randn(rng, n, c, h, w, dtype=dtype), 0)  # ReLU features are ≥ 0


def _gram_visible():
    rng = np.random.default_rng(1401)
    return [
        Case((np.ones((1, 1, 2, 2)),), note="one channel of ones: G = Σ 1·1 / (H·W) = 1"),
        Case((np.arange(8.0).reshape(1, 2, 2, 2),), note="two channels: G[i, j] = Σ_p F_i(p) F_j(p) / (H·W)"),
        Case((_feats(rng, 2, 3, 4, 5),), note="N=2, C=3, H=4, W=5: divide by H·W = 20, not by C·H·W"),
        Case((_feats(rng, 1, 4, 3, 3, np.float32),), note="float32 stays float32"),
        Case((randn(rng, 3, 4, 5),), raises=ValueError, note="3-d input: expected (N, C, H, W)"),
    ]


def _gram_hidden(rng):
    return [Case((_feats(rng, *(int(v) for v in rng.integers(1, 6, size=4))),)) for _ in range(8)]


def _content_visible():
    rng = np.random.default_rng(1402)
    f = _feats(rng, 1, 3, 4, 4)
    return [
        Case((f, f.copy()), note="identical features: 0"),
        Case((np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))), note="½ Σ (1 − 0)² over 4 values = 2"),
        Case((f, _feats(rng, 1, 3, 4, 4)), note="a sum over all elements, times ½ (Gatys' eq. 1) — not a mean"),
        Case((f, _feats(rng, 1, 3, 2, 2)), raises=ValueError, note="different shapes"),
    ]


def _content_hidden(rng):
    cases = []
    for _ in range(6):
        shape = tuple(int(v) for v in rng.integers(1, 5, size=4))
        cases.append(Case((_feats(rng, *shape), _feats(rng, *shape))))
    return cases


def _grams(rng, n, c):
    return [style.gram_matrix(_feats(rng, n, c, 3, 3)) for _ in range(2)]


def _layer_visible():
    rng = np.random.default_rng(1403)
    g, a = _grams(rng, 1, 3)
    return [
        Case((g, g.copy()), note="identical Gram matrices: 0"),
        Case((np.ones((1, 2, 2)), np.zeros((1, 2, 2))), note="C = 2: Σ 1 over 4 entries / (4·C²) = 4 / 16"),
        Case((g, a), note="C = 3: divide the sum of squares by 4·C² = 36"),
        Case((g, np.zeros((1, 2, 2))), raises=ValueError, note="Gram matrices of different layers"),
    ]


def _layer_hidden(rng):
    cases = []
    for _ in range(6):
        n, c = int(rng.integers(1, 3)), int(rng.integers(1, 6))
        cases.append(Case(tuple(_grams(rng, n, c))))
    return cases


def _style_args(rng, widths, weights):
    feats = [_feats(rng, 1, c, 6 // (i + 1), 6 // (i + 1)) for i, c in enumerate(widths)]
    targets = [style.gram_matrix(_feats(rng, 1, c, 3, 3)) for c in widths]
    return feats, targets, weights


def _style_visible():
    rng = np.random.default_rng(1404)
    return [
        Case(_style_args(rng, [3], [1.0]), note="one layer, weight 1: style_layer_loss(gram_matrix(F), A)"),
        Case(_style_args(rng, [2, 4], [1.0, 0.5]), note="two layers: the weighted sum of their losses"),
        Case(_style_args(rng, [2, 4, 3], [0.0, 1.0, 0.0]), note="weight 0 switches a layer off"),
        Case(_style_args(rng, [2, 4], [1.0]), raises=ValueError, note="one weight for two layers"),
    ]


def _style_hidden(rng):
    cases = []
    for _ in range(6):
        k = int(rng.integers(1, 4))
        widths = [int(v) for v in rng.integers(1, 5, size=k)]
        cases.append(Case(_style_args(rng, widths, [float(v) for v in rng.uniform(0, 2, size=k)])))
    return cases


def _tv_visible():
    rng = np.random.default_rng(1405)
    ramp = np.tile(np.arange(4.0)[:, None], (1, 3))[None, None]
    return [
        Case((np.full((1, 3, 4, 4), 0.7),), note="a constant image: 0"),
        Case((ramp,), note="a vertical ramp (rows 0, 1, 2, 3): 3 row steps × 3 columns × 1² = 9, no horizontal term"),
        Case((ramp.swapaxes(2, 3),), note="the same ramp, horizontal: 9"),
        Case((rng.random((2, 3, 5, 4)),), note="N=2, C=3, H=5, W=4: sum over images and channels too"),
        Case((rng.random((3, 5, 4)),), raises=ValueError, note="3-d input: expected (N, C, H, W)"),
    ]


def _tv_hidden(rng):
    return [Case((rng.random(tuple(int(v) for v in rng.integers(1, 6, size=4))),)) for _ in range(6)]


def _objective_args(rng, alpha, beta, gamma, layers=("relu1_1", "relu2_1"), content="relu2_1"):
    image = rng.random((1, 3, 8, 8))
    widths = {"pixels": 3, "relu1_1": 4, "relu2_1": 5, "relu3_1": 6}
    sizes = {"pixels": 8, "relu1_1": 8, "relu2_1": 4, "relu3_1": 2}
    feats = {k: _feats(rng, 1, widths[k], sizes[k], sizes[k]) for k in widths}
    target = _feats(rng, *feats.get(content, feats["relu2_1"]).shape)
    grams = {k: style.gram_matrix(_feats(rng, 1, widths[k], 3, 3)) for k in layers}
    weights = {k: float(w) for k, w in zip(layers, rng.uniform(0.5, 1.5, size=len(layers)), strict=True)}
    return (feats, target, grams, image, content, weights, alpha, beta, gamma)


def _objective_visible():
    rng = np.random.default_rng(1406)
    return [
        Case(_objective_args(rng, 1.0, 0.0, 0.0), note="β = γ = 0: only the content loss at content_layer"),
        Case(_objective_args(rng, 0.0, 1.0, 0.0), note="α = γ = 0: only the weighted style loss"),
        Case(_objective_args(rng, 0.0, 0.0, 1.0), note="α = β = 0: only the total variation of the image"),
        Case(_objective_args(rng, 1.0, 1e3, 0.5, layers=("pixels", "relu1_1", "relu3_1")), note="all three terms"),
        Case(_objective_args(rng, 1.0, 1.0, 0.0, content="relu4_2"), raises=ValueError,
             note="a content layer that is not among the features"),
    ]


def _objective_hidden(rng):
    cases = []
    for _ in range(6):
        layers = tuple(k for k in ("pixels", "relu1_1", "relu2_1", "relu3_1") if rng.random() < 0.6) or ("relu1_1",)
        cases.append(Case(_objective_args(rng, *(float(v) for v in rng.uniform(0, 2, size=3)), layers=layers,
                                          content=str(rng.choice(["relu1_1", "relu2_1", "relu3_1"])))))
    return cases


EXERCISES = {
    "gram_matrix": Exercise("gram_matrix", style.gram_matrix, _gram_visible, _gram_hidden, rtol=1e-5, atol=1e-7,
                            hint="G is (N, C, C): F (N, C, H·W) @ F.swapaxes(1, 2), divided by H·W."),
    "content_loss": Exercise("content_loss", style.content_loss, _content_visible, _content_hidden,
                             hint="One number: ½ · the sum of squared differences."),
    "style_layer_loss": Exercise("style_layer_loss", style.style_layer_loss, _layer_visible, _layer_hidden,
                                 hint="One number: Σ (G − A)² / (4 C²)."),
    "style_loss": Exercise("style_loss", style.style_loss, _style_visible, _style_hidden,
                           hint="One number: Σ over layers of w_l · style_layer_loss(gram_matrix(F_l), A_l)."),
    "tv_loss": Exercise("tv_loss", style.tv_loss, _tv_visible, _tv_hidden,
                        hint="One number: squared differences of vertical plus horizontal neighbours."),
    "transfer_objective": Exercise("transfer_objective", style.transfer_objective, _objective_visible,
                                   _objective_hidden, hint="One number: α·content + β·style + γ·TV."),
}
