"""Exercise specifications for Chapter 9 (visualising what CNNs learn).

The torch exercises (feature maps, saliency, activations and gradients, occlusion) may use torch:
only the course's reference modules are switched off. Models are small random CNNs in evaluation
mode, built from a seed, so every case is repeatable.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .core import REFERENCE_PACKAGE, Case, Exercise, answers

interpret = answers("interpret")  # the answers, imported when first used

__all__ = ["EXERCISES", "small_cnn"]

_FORBID = (REFERENCE_PACKAGE,)   # torch allowed; the answers (course_lib.reference.interpret) are not
_TORCH_TOL = {"rtol": 1e-4, "atol": 1e-6}


def small_cnn(seed: int, in_channels: int = 1, num_classes: int = 3, width: int = 6) -> nn.Sequential:
    """conv 3×3 (4) → ReLU → max-pool 2 → conv 3×3 (width) → ReLU → GAP → flatten → linear (num_classes).

    Layers by name: "0" conv, "1" ReLU, "2" pool, "3" conv, "4" ReLU, "5" GAP, "6" flatten, "7" FC.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(width, num_classes))
        with torch.no_grad():
            model[7].weight.mul_(4.0)   # confident-ish logits, so softmax probabilities really move
    return model.eval()


def _x(rng: np.random.Generator, n: int, c: int, h: int, w: int | None = None) -> np.ndarray:
    return rng.random((n, c, h, h if w is None else w)).astype(np.float32)


def _target(rng: np.random.Generator, n: int, k: int = 3) -> np.ndarray:
    return rng.integers(0, k, size=n).astype(np.int64)


# --------------------------------------------------------------------------- feature maps

def _fm_visible():
    rng = np.random.default_rng(90)
    m = small_cnn(0)
    return [Case((m, _x(rng, 1, 1, 8), ["0"]), note="one conv layer"),
            Case((m, _x(rng, 2, 1, 8), ["1", "2", "4"]), note="ReLU, pool and a later ReLU"),
            Case((small_cnn(1, in_channels=3), _x(rng, 2, 3, 6, 10), ["3", "5"]), note="RGB, non-square")]


def _fm_hidden(rng):
    cases = []
    for i in range(4):
        c = int(rng.choice([1, 3]))
        names = sorted(rng.choice(["0", "1", "2", "3", "4", "5"], size=int(rng.integers(1, 4)), replace=False))
        cases.append(Case((small_cnn(int(rng.integers(1000)), in_channels=c),
                           _x(rng, int(rng.integers(1, 4)), c, int(rng.integers(4, 11))), list(names)),
                          note=f"random case {i}"))
    return cases


# --------------------------------------------------------------------------- saliency

def _sal_visible():
    rng = np.random.default_rng(91)
    return [Case((small_cnn(0), _x(rng, 1, 1, 8), np.array([2])), note="one image"),
            Case((small_cnn(1), _x(rng, 3, 1, 8), np.array([0, 1, 2])), note="a batch: one target each"),
            Case((small_cnn(2), _x(rng, 2, 1, 10), None), note="target=None: the predicted classes"),
            Case((small_cnn(3, in_channels=3), _x(rng, 2, 3, 8), np.array([1, 1])),
                 note="RGB: the maximum of |gradient| over the 3 channels")]


def _sal_hidden(rng):
    cases = []
    for i in range(5):
        n, c = int(rng.integers(1, 5)), int(rng.choice([1, 3]))
        target = None if i == 4 else _target(rng, n)
        cases.append(Case((small_cnn(int(rng.integers(1000)), in_channels=c), _x(rng, n, c, int(rng.integers(4, 13))),
                           target), note=f"random case {i}"))
    return cases


# --------------------------------------------------------------------------- CAM

def _cam_case(rng, n, k, h, w, classes=10, dtype=np.float64):
    features = rng.random((n, k, h, w)).astype(dtype)
    weight = rng.standard_normal((classes, k)).astype(dtype)
    return features, weight, _target(rng, n, classes)


def _cam_visible():
    rng = np.random.default_rng(92)
    f, w, _ = _cam_case(rng, 2, 3, 4, 4)
    return [Case((f[:1, :1], w[:, :1], np.array([4])), note="one feature map: the weight times the map"),
            Case(_cam_case(rng, 2, 3, 4, 4), note="3 feature maps"),
            Case(_cam_case(rng, 3, 8, 5, 7, dtype=np.float32), note="float32, non-square"),
            Case((f, w[:, :2], np.array([0, 1])), raises=ValueError,
                 note="fc_weight has 2 columns for 3 feature maps")]


def _cam_hidden(rng):
    return [Case(_cam_case(rng, int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(rng.integers(1, 8)),
                           int(rng.integers(1, 8)), int(rng.integers(2, 11))), note=f"random case {i}")
            for i in range(5)] + [Case((rng.random((2, 4, 3, 3)), rng.random((5, 3)), np.array([0, 1])),
                                       raises=ValueError, note="K = 4 feature maps but fc_weight (5, 3)")]


# --------------------------------------------------------------------------- Grad-CAM

def _gc_case(rng, n, k, h, w, dtype=np.float64):
    return (rng.random((n, k, h, w)).astype(dtype), rng.standard_normal((n, k, h, w)).astype(dtype))


def _gc_visible():
    rng = np.random.default_rng(93)
    a, g = _gc_case(rng, 1, 1, 3, 3)
    return [Case((a, np.abs(g)), note="one map, positive gradients"),
            Case((a, -np.abs(g)), note="one map, negative gradients: the ReLU gives zeros"),
            Case(_gc_case(rng, 2, 5, 4, 6), note="a batch of 2, 5 channels"),
            Case(_gc_case(rng, 3, 4, 5, 5, np.float32), note="float32"),
            Case((a, g[:, :, :2]), raises=ValueError, note="gradients of another shape")]


def _gc_hidden(rng):
    return [Case(_gc_case(rng, int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(rng.integers(1, 8)),
                          int(rng.integers(1, 8))), note=f"random case {i}") for i in range(5)]


# --------------------------------------------------------------------------- activations and gradients

def _ag_case(seed, rng, n, c, h, layer_index, target):
    model = small_cnn(seed, in_channels=c)
    return Case((model, model[layer_index], _x(rng, n, c, h), target),
                note=f"layer {layer_index} ({type(model[layer_index]).__name__})")


def _ag_visible():
    rng = np.random.default_rng(94)
    return [_ag_case(0, rng, 1, 1, 8, 3, np.array([1])), _ag_case(1, rng, 2, 1, 8, 4, np.array([0, 2])),
            _ag_case(2, rng, 2, 1, 8, 0, None), _ag_case(3, rng, 3, 3, 6, 2, np.array([2, 0, 1]))]


def _ag_hidden(rng):
    cases = []
    for i in range(5):
        n, c = int(rng.integers(1, 4)), int(rng.choice([1, 3]))
        cases.append(_ag_case(int(rng.integers(1000)), rng, n, c, int(rng.integers(4, 11)),
                              int(rng.choice([0, 1, 2, 3, 4])), None if i == 0 else _target(rng, n)))
    return cases


# --------------------------------------------------------------------------- occlusion

def _occ_visible():
    rng = np.random.default_rng(95)
    return [Case((small_cnn(0), _x(rng, 1, 1, 8), np.array([1]), 4, 4, 0.0), note="4 patches that tile the image"),
            Case((small_cnn(1), _x(rng, 2, 1, 8), np.array([0, 2]), 3, 1, 0.0),
                 note="overlapping patches, stride 1"),
            Case((small_cnn(2), _x(rng, 1, 1, 9, 7), None, 3, 2, 0.5), note="non-square, grey fill, target=None"),
            Case((small_cnn(3, in_channels=3), _x(rng, 2, 3, 8), np.array([1, 1]), 2, 3, 0.0),
                 note="RGB: the patch covers all channels; the last column is never reached")]


def _occ_hidden(rng):
    cases = []
    for i in range(4):
        n, c, h = int(rng.integers(1, 3)), int(rng.choice([1, 3])), int(rng.integers(6, 11))
        k, s = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        cases.append(Case((small_cnn(int(rng.integers(1000)), in_channels=c), _x(rng, n, c, h),
                           None if i == 0 else _target(rng, n), k, s, float(rng.choice([0.0, 0.5]))),
                          note=f"random case {i}"))
    return cases


# --------------------------------------------------------------------------- normalisation

def _norm_visible():
    rng = np.random.default_rng(96)
    return [Case((np.array([[0.0, 2.0], [1.0, 4.0]]),), note="one 2×2 map"),
            Case((rng.standard_normal((3, 4, 5)),), note="3 maps, each scaled by its own min and max"),
            Case((np.stack([np.full((3, 3), 7.0), rng.random((3, 3))]),), note="a constant map becomes zeros"),
            Case((rng.standard_normal((2, 2, 3, 3)).astype(np.float32),), note="(N, C, h, w) float32")]


def _norm_hidden(rng):
    cases = [Case((rng.standard_normal(tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(2, 5))))),),
                  note=f"random case {i}") for i in range(4)]
    return cases + [Case((np.zeros((2, 4, 4)),), note="all zeros")]


EXERCISES = {
    "collect_feature_maps": Exercise("collect_feature_maps", interpret.feature_maps, _fm_visible, _fm_hidden,
                                     forbid=_FORBID, **_TORCH_TOL),
    "saliency_map": Exercise("saliency_map", interpret.saliency_map, _sal_visible, _sal_hidden,
                             forbid=_FORBID, **_TORCH_TOL),
    "class_activation_map": Exercise("class_activation_map", interpret.class_activation_map, _cam_visible,
                                     _cam_hidden, forbid=_FORBID, rtol=1e-5, atol=1e-6,
                                     hint="CAM keeps the spatial size of the feature maps: (N, h, w)."),
    "grad_cam_map": Exercise("grad_cam_map", interpret.grad_cam_map, _gc_visible, _gc_hidden, forbid=_FORBID,
                             rtol=1e-5, atol=1e-6, hint="One map per example: (N, h, w)."),
    "activations_and_gradients": Exercise(
        "activations_and_gradients", interpret.activations_and_gradients, _ag_visible, _ag_hidden,
        forbid=_FORBID, output_names=("A", "dA"), **_TORCH_TOL),
    "occlusion_sensitivity": Exercise(
        "occlusion_sensitivity", interpret.occlusion_sensitivity, _occ_visible, _occ_hidden, forbid=_FORBID,
        rtol=1e-4, atol=1e-5, hint="H_out = (H - patch_size) // stride + 1, the same along W."),
    "normalize_heatmap": Exercise("normalize_heatmap", interpret.normalize_heatmap, _norm_visible, _norm_hidden,
                                  forbid=_FORBID),
}
