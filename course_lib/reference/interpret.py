"""What a CNN looks at: feature maps, saliency, CAM, Grad-CAM and occlusion (Chapter 9).

Every method answers "which pixels made the network say class c?" in a different way:

* **saliency** (Simonyan, Vedaldi & Zisserman, 2014): the gradient of the class score with respect
  to the input pixels, ``max_c |∂y_c/∂x|`` over colour channels;
* **CAM** (Zhou et al., 2016): for a network that ends in global average pooling (GAP) and one
  linear layer, ``M_c = Σ_k w[c, k] · A_k`` — the classifier's weights applied at every position;
* **Grad-CAM** (Selvaraju et al., 2017): any CNN, any conv layer; the weights are the spatially
  averaged gradients, ``α_k = mean_ij ∂y_c/∂A_k[i, j]``, and ``M_c = ReLU(Σ_k α_k A_k)``;
* **occlusion** (Zeiler & Fergus, 2014): slide a grey patch over the image and record how much the
  probability of class c drops.

Models are torch modules in evaluation mode; arrays are NCHW; every function returns numpy.
``target`` is an int array (N,) of classes, or ``None`` for each example's predicted class.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "GapNet",
    "activations_and_gradients",
    "class_activation_map",
    "feature_maps",
    "grad_cam",
    "grad_cam_map",
    "normalize_heatmap",
    "occlusion_sensitivity",
    "occlusion_output_size",
    "saliency_map",
    "upsample_heatmap",
]


class GapNet(nn.Module):
    """A small CNN that ends in global average pooling + one linear layer, so CAM applies.

    conv 3×3 (16) → BN → ReLU → max-pool 2 → conv 3×3 (32) → BN → ReLU → conv 3×3 (``width``) → BN →
    ReLU → GAP → FC. For (N, 1, 16, 16) inputs the last feature maps (the output of ``features``, i.e.
    of ``features[9]``) are (N, width, 8, 8).

    Args:
        num_classes: K.
        in_channels: C of the input.
        width: channels of the last conv layer (the CAM's feature maps).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gap(self.features(x)).flatten(1))


# --------------------------------------------------------------------------- helpers

def _as_input(x) -> torch.Tensor:
    t = x.detach().clone() if isinstance(x, torch.Tensor) else torch.as_tensor(np.array(x))
    if t.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(t.shape)}")
    return t if t.is_floating_point() else t.float()   # float64 stays float64 (for gradient checks)


def _targets(target, logits: torch.Tensor) -> torch.Tensor:
    """(N,) int64 classes: ``target`` checked against the logits (N, K), or the argmax."""
    n, k = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    t = torch.as_tensor(np.asarray(target, dtype=np.int64).reshape(-1))
    if t.shape != (n,):
        raise ValueError(f"target must have shape ({n},) (one class per example), got {tuple(t.shape)}")
    if (t < 0).any() or (t >= k).any():
        raise ValueError(f"target classes must be in 0..{k - 1}, got {t.tolist()}")
    return t


def _module(model: nn.Module, layer) -> nn.Module:
    if isinstance(layer, nn.Module):
        return layer
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"model has no layer {layer!r}; its layers are: {', '.join(n for n in modules if n)}")
    return modules[layer]


# --------------------------------------------------------------------------- feature maps

def feature_maps(model: nn.Module, x, names) -> dict[str, np.ndarray]:
    """Outputs of the named sub-modules of ``model`` for the input ``x``, via forward hooks.

    Args:
        model: any ``nn.Module``.
        x: input (N, C, H, W).
        names: names from ``model.named_modules()``, e.g. ``["features.0", "features.2"]``.

    Returns:
        ``{name: float32 array}`` with each layer's output (its first call if it runs twice).
    """
    xt = _as_input(x)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"model has no layer(s) {missing}; its layers are: {', '.join(n for n in modules if n)}")
    out: dict[str, np.ndarray] = {}

    def hook_for(name):
        def hook(module, args, output):
            out.setdefault(name, output.detach().numpy().copy())
        return hook

    hooks = [modules[n].register_forward_hook(hook_for(n)) for n in names]
    try:
        with torch.no_grad():
            model(xt)
    finally:
        for h in hooks:
            h.remove()
    return {n: out[n] for n in names}


# --------------------------------------------------------------------------- saliency

def saliency_map(model: nn.Module, x, target=None) -> np.ndarray:
    """Vanilla gradient saliency: ``max over channels of |∂ logit_target / ∂x|``.

    Args:
        model: classifier mapping (N, C, H, W) to logits (N, K), in evaluation mode.
        x: input (N, C, H, W).
        target: int array (N,) of classes, or None for the predicted classes.

    Returns:
        float32 array (N, H, W) ≥ 0.
    """
    xt = _as_input(x).requires_grad_(True)
    logits = model(xt)                                   # (N, K)
    t = _targets(target, logits.detach())
    score = logits.gather(1, t[:, None]).sum()           # examples are independent: one backward
    (grad,) = torch.autograd.grad(score, xt)
    return grad.abs().amax(dim=1).numpy()                # (N, H, W)


# --------------------------------------------------------------------------- CAM / Grad-CAM

def class_activation_map(features: np.ndarray, fc_weight: np.ndarray, target) -> np.ndarray:
    """CAM (Zhou et al., 2016): ``M[n] = Σ_k fc_weight[target[n], k] · features[n, k]``.

    Args:
        features: last conv feature maps (N, K, h, w), the input of global average pooling.
        fc_weight: weight (num_classes, K) of the linear layer after the pooling.
        target: int array (N,) of classes.

    Returns:
        Array (N, h, w) in the features' dtype; its spatial mean plus the bias is the logit.
    """
    features, fc_weight = np.asarray(features), np.asarray(fc_weight)
    if features.ndim != 4:
        raise ValueError(f"features must have shape (N, K, h, w), got {features.shape}")
    n, k = features.shape[:2]
    if fc_weight.ndim != 2 or fc_weight.shape[1] != k:
        raise ValueError(f"fc_weight must have shape (num_classes, {k}), got {fc_weight.shape}")
    target = np.asarray(target).reshape(-1)
    if target.shape != (n,):
        raise ValueError(f"target must have shape ({n},), got {target.shape}")
    w = fc_weight[target]                                # (N, K)
    return np.einsum("nk,nkhw->nhw", w, features).astype(features.dtype)


def grad_cam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM from a layer's activations A and the gradients ∂y_c/∂A, both (N, K, h, w).

    ``α[n, k] = mean_ij gradients[n, k, i, j]``; ``M[n] = ReLU(Σ_k α[n, k] · A[n, k])``.

    Returns:
        Array (N, h, w) ≥ 0 in the activations' dtype.
    """
    activations, gradients = np.asarray(activations), np.asarray(gradients)
    if activations.ndim != 4 or activations.shape != gradients.shape:
        raise ValueError(f"activations and gradients must have the same shape (N, K, h, w), got "
                         f"{activations.shape} and {gradients.shape}")
    alpha = gradients.mean(axis=(2, 3))                  # (N, K)
    cam = np.einsum("nk,nkhw->nhw", alpha, activations)
    return np.maximum(cam, 0).astype(activations.dtype)


def activations_and_gradients(model: nn.Module, layer, x, target=None) -> tuple[np.ndarray, np.ndarray]:
    """A layer's output A and the gradient of the target logits with respect to it.

    Args:
        model: classifier (N, C, H, W) → logits (N, K), in evaluation mode.
        layer: a sub-module of ``model`` (or its name in ``named_modules()``) with a 4-D output.
        x: input (N, C, H, W).
        target: int array (N,) of classes, or None for the predicted classes.

    Returns:
        ``(A, dA)``: float32 arrays of the layer's output shape; dA = ∂(Σ_n logit[n, target[n]])/∂A.
    """
    xt = _as_input(x)
    module = _module(model, layer)
    saved = {}

    def hook(mod, args, output):
        if "A" not in saved:
            output.retain_grad()
            saved["A"] = output

    handle = module.register_forward_hook(hook)
    try:
        logits = model(xt)
    finally:
        handle.remove()
    if "A" not in saved:
        raise ValueError(f"layer {layer!r} is not called by model's forward")
    t = _targets(target, logits.detach())
    (grad,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), saved["A"])
    return saved["A"].detach().numpy().copy(), grad.numpy()


def grad_cam(model: nn.Module, layer, x, target=None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) of ``layer`` for the targets: (N, h, w) ≥ 0."""
    return grad_cam_map(*activations_and_gradients(model, layer, x, target))


# --------------------------------------------------------------------------- occlusion

def occlusion_output_size(size: int, patch_size: int, stride: int) -> int:
    """Number of patch positions along one axis: ``(size - patch_size) // stride + 1``."""
    if patch_size > size or patch_size < 1 or stride < 1:
        raise ValueError(f"need 1 <= patch_size <= {size} and stride >= 1, got patch_size={patch_size}, "
                         f"stride={stride}")
    return (size - patch_size) // stride + 1


def occlusion_sensitivity(model: nn.Module, x, target=None, patch_size: int = 4, stride: int = 2,
                          fill: float = 0.0) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus, 2014).

    For every patch position (i, j) the square ``[i*stride : i*stride+patch_size]`` ×
    ``[j*stride : j*stride+patch_size]`` of all channels is set to ``fill`` and the image is
    classified again; the result is ``p(target | x) - p(target | occluded x)`` (softmax).

    Args:
        model: classifier (N, C, H, W) → logits (N, K), in evaluation mode.
        x: input (N, C, H, W).
        target: int array (N,), or None for the predicted classes on the clean images.
        patch_size, stride: ints; the patch must fit into the image.
        fill: value written into the patch.

    Returns:
        float32 array (N, H_out, W_out), H_out = (H - patch_size) // stride + 1; large = important.
    """
    xt = _as_input(x)
    N, C, H, W = xt.shape
    h_out, w_out = occlusion_output_size(H, patch_size, stride), occlusion_output_size(W, patch_size, stride)
    with torch.no_grad():
        logits = model(xt)
        t = _targets(target, logits)
        p_clean = logits.softmax(dim=1).gather(1, t[:, None])[:, 0]            # (N,)
        out = torch.empty(N, h_out, w_out)
        for i in range(h_out):
            row = []
            for j in range(w_out):
                occluded = xt.clone()
                occluded[:, :, i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = fill
                row.append(occluded)
            probs = model(torch.cat(row)).softmax(dim=1).view(w_out, N, -1)   # one batch per row
            out[:, i] = (p_clean[None] - probs.gather(2, t[None, :, None].expand(w_out, N, 1))[..., 0]).T
    return out.numpy()


# --------------------------------------------------------------------------- display

def normalize_heatmap(m: np.ndarray) -> np.ndarray:
    """Scale each map (..., h, w) to [0, 1] by its own min and max; a constant map becomes zeros."""
    m = np.asarray(m)
    if m.ndim < 2:
        raise ValueError(f"heatmaps must have shape (..., h, w), got {m.shape}")
    lo = m.min(axis=(-2, -1), keepdims=True)
    span = m.max(axis=(-2, -1), keepdims=True) - lo
    return np.where(span > 0, (m - lo) / np.where(span > 0, span, 1), 0).astype(m.dtype)


def upsample_heatmap(m: np.ndarray, size) -> np.ndarray:
    """Bilinear upsampling of maps (N, h, w) to (N, *size) (``align_corners=False``), for overlays."""
    m = np.asarray(m)
    if m.ndim != 3:
        raise ValueError(f"heatmaps must have shape (N, h, w), got {m.shape}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    t = torch.as_tensor(m, dtype=torch.float32)[:, None]
    return nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()
