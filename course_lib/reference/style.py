"""Neural style transfer (Gatys, Ecker & Bethge 2016): losses, feature extractors, the optimisation.

The losses are written with operations numpy arrays and torch tensors share (``reshape``,
``swapaxes``, ``@``, ``sum``, slicing), so the same function is checked on numpy arrays and
optimised through with autograd on tensors. With F the (N, C, H·W) features of a layer:

* Gram matrix ``G = F Fᵀ / (H·W)`` (N, C, C) — channel correlations averaged over positions;
* content loss ``½ Σ (F − P)²`` (Gatys' eq. 1);
* one layer's style loss ``Σ (G − A)² / (4 C²)`` — Gatys' ``E_l = Σ (G′ − A′)² / (4 N_l² M_l²)`` with
  the unnormalised Gram G′ = M_l·G, M_l = H·W;
* style loss ``Σ_l w_l E_l``; total variation ``Σ (x[i+1, j] − x[i, j])² + Σ (x[i, j+1] − x[i, j])²``.

Feature extractors: :func:`vgg19_features` builds torchvision's VGG-19 ``features`` layout and loads
``vgg19-dcbb9e9d.pth`` from a local file (argument or ``$COURSE_VGG19_WEIGHTS``) — never downloaded;
:func:`random_features` is a small VGG-shaped CNN with random filters, which is known to capture
texture (Ustyuzhaninov et al. 2017; He, Wang & Hopcroft 2016) and runs offline in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["VGG19_WEIGHTS_ENV", "content_loss", "feature_extractor", "gram_matrix", "random_features",
           "style_image", "style_layer_loss", "style_loss", "transfer", "transfer_objective", "tv_loss",
           "vgg19_features"]

VGG19_WEIGHTS_ENV = "COURSE_VGG19_WEIGHTS"
#: torchvision's vgg19().features: channels per conv, "M" for max pooling (indices match its state dict).
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet statistics (VGG's input)


def _check4(x, name):
    if len(x.shape) != 4:
        raise ValueError(f"{name} should be 4-d (N, C, H, W), got shape {tuple(x.shape)}")


def gram_matrix(x):
    """(N, C, H, W) → (N, C, C): ``F Fᵀ / (H·W)`` with F = x reshaped to (N, C, H·W)."""
    _check4(x, "x")
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return f @ f.swapaxes(1, 2) / (h * w)


def content_loss(features, target):
    """½ Σ (features − target)², a scalar; both (N, C, H, W) of the same shape."""
    if tuple(features.shape) != tuple(target.shape):
        raise ValueError(f"features {tuple(features.shape)} and target {tuple(target.shape)} differ in shape")
    return 0.5 * ((features - target) ** 2).sum()


def style_layer_loss(gram, target_gram):
    """``Σ (G − A)² / (4 C²)`` for Gram matrices (N, C, C) of one layer (Gatys' E_l)."""
    if tuple(gram.shape) != tuple(target_gram.shape) or len(gram.shape) != 3 or gram.shape[1] != gram.shape[2]:
        raise ValueError(f"expected two Gram matrices of one shape (N, C, C), got {tuple(gram.shape)} "
                         f"and {tuple(target_gram.shape)}")
    c = gram.shape[1]
    return ((gram - target_gram) ** 2).sum() / (4 * c * c)


def style_loss(features, target_grams, weights):
    """``Σ_l w_l · style_layer_loss(gram_matrix(F_l), A_l)`` over equally long lists of layers."""
    if not len(features) == len(target_grams) == len(weights):
        raise ValueError(f"features, target_grams and weights must be equally long, got {len(features)}, "
                         f"{len(target_grams)} and {len(weights)}")
    total = 0.0
    for f, a, w in zip(features, target_grams, weights, strict=True):
        total = total + w * style_layer_loss(gram_matrix(f), a)
    return total


def tv_loss(x):
    """Total variation of images (N, C, H, W): squared differences of vertical and horizontal neighbours."""
    _check4(x, "x")
    return ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()


def transfer_objective(features, content_target, style_grams, image, content_layer, style_weights,
                       alpha=1.0, beta=1e3, gamma=0.0):
    """``α·L_content + β·L_style + γ·TV`` (Gatys' eq. 7 plus a smoothness term).

    Args:
        features: dict layer name → features of the image being optimised.
        content_target: features of the content image at ``content_layer``.
        style_grams: dict layer name → Gram matrix of the style image.
        image: the image being optimised (for the total variation).
        style_weights: dict layer name → w_l (the layers used for style).
    """
    missing = [k for k in [content_layer, *style_weights] if k not in features]
    if missing or any(k not in style_grams for k in style_weights):
        raise ValueError(f"layers missing: {missing or [k for k in style_weights if k not in style_grams]}")
    layers = list(style_weights)
    return (alpha * content_loss(features[content_layer], content_target)
            + beta * style_loss([features[k] for k in layers], [style_grams[k] for k in layers],
                                [style_weights[k] for k in layers])
            + gamma * tv_loss(image))


# --------------------------------------------------------------------------- feature extractors

def _extractor_class():
    import torch
    from torch import nn

    class FeatureExtractor(nn.Module):
        """``extractor(images (N, 3, H, W) in [0, 1], layers) -> {layer: features}``; frozen."""

        def __init__(self, body, names, kind):
            super().__init__()
            self.body, self.names, self.kind = body, list(names), kind
            self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
            for p in self.parameters():
                p.requires_grad_(False)
            self.eval()

        @property
        def layers(self):
            return ["pixels", *[n for n in self.names if n.startswith("relu")]]

        def forward(self, x, layers):
            unknown = [k for k in layers if k not in self.layers]
            if unknown:
                raise ValueError(f"unknown layers {unknown}; this {self.kind} extractor has {self.layers}")
            h = (x - self.mean) / self.std
            out = {"pixels": h} if "pixels" in layers else {}
            for module, name in zip(self.body, self.names, strict=True):
                if len(out) == len(set(layers)):
                    break
                h = module(h)
                if name in layers:
                    out[name] = h
            return out

    return FeatureExtractor


def vgg19_features(weights=None, pool="avg", device="cpu"):
    """VGG-19's convolutional part (torchvision's ``features`` indices) with layer names conv1_1 … relu5_4.

    Args:
        weights: path to torchvision's ``vgg19-dcbb9e9d.pth`` (or any state dict with ``features.N.*``
            keys); None uses ``$COURSE_VGG19_WEIGHTS``; ``"meta"`` builds it on the meta device
            (shapes and parameter counts, no memory). Nothing is ever downloaded.
        pool: ``"avg"`` replaces max pooling by average pooling, as Gatys et al. recommend.
    """
    import torch
    from torch import nn

    path = weights if weights is not None else os.environ.get(VGG19_WEIGHTS_ENV)
    if path is None:
        raise FileNotFoundError(f"no VGG-19 weights: pass weights=PATH or set ${VGG19_WEIGHTS_ENV} to a local "
                                "copy of torchvision's vgg19-dcbb9e9d.pth (this course never downloads)")
    layers, names, cin, block, k = [], [], 3, 1, 1
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
            names.append(f"pool{block}")
            block, k = block + 1, 1
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1, device="meta" if path == "meta" else device), nn.ReLU()]
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
            cin, k = v, k + 1
    body = nn.Sequential(*layers)
    if path != "meta":
        if not Path(path).is_file():
            raise FileNotFoundError(f"VGG-19 weights not found at {path}")
        state = torch.load(path, map_location=device, weights_only=True)
        state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        body.load_state_dict(state)
    return _extractor_class()(body, names, "VGG-19")


def random_features(widths=(64, 128, 256, 256), seed=0):
    """A small VGG-shaped CNN with random (He-normal) filters: per block one 3×3 conv + ReLU, then 2×2
    average pooling; layers ``relu1_1``, ``relu2_1``, … (and ``pixels``, the normalised input)."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    layers, names, cin = [], [], 3
    for i, w in enumerate(widths, start=1):
        conv = nn.Conv2d(cin, w, 3, padding=1, padding_mode="reflect")
        with torch.no_grad():
            conv.weight.normal_(0.0, float(np.sqrt(2.0 / (cin * 9))), generator=gen)
            conv.bias.zero_()
        layers += [conv, nn.ReLU()]
        names += [f"conv{i}_1", f"relu{i}_1"]
        if i < len(widths):
            layers.append(nn.AvgPool2d(2))
            names.append(f"pool{i}")
        cin = w
    return _extractor_class()(nn.Sequential(*layers), names, "random-filter")


def feature_extractor(weights=None):
    """VGG-19 when weights are given or ``$COURSE_VGG19_WEIGHTS`` is set, else :func:`random_features`."""
    if weights is not None or os.environ.get(VGG19_WEIGHTS_ENV):
        return vgg19_features(weights)
    return random_features()


# --------------------------------------------------------------------------- images and the optimisation

def _swirls(size, seed=0):
    """A two-colour "painting" of swirling stripes, made on the spot (a style image with a clear texture)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    angle = np.zeros_like(x)
    for _ in range(6):
        cx, cy, k = rng.random(), rng.random(), rng.uniform(-12, 12)
        angle += k * np.exp(-4 * (np.hypot(x - cx, y - cy) + 0.05))
    t = (np.sin(30 * (x * np.cos(angle) + y * np.sin(angle))) + 1) / 2
    blue, gold, sky = np.array([0.1, 0.2, 0.5]), np.array([0.95, 0.8, 0.2]), np.array([0.2, 0.5, 0.9])
    img = 0.8 * ((1 - t)[..., None] * blue + t[..., None] * gold) + 0.1 * sky * (np.sin(5 * angle)[..., None] + 1)
    return np.clip(img, 0, 1).transpose(2, 0, 1)


def style_image(name, size=96):
    """A (1, 3, size, size) float32 tensor in [0, 1]: ``"swirls"`` (made here) or a bundled photo
    (``"china"``, ``"flower"``, ``"grace_hopper"``, see :func:`course_lib.data.load_photo`)."""
    import torch

    from course_lib.data import load_photo

    arr = _swirls(size) if name == "swirls" else load_photo(name, size=size, gray=False)
    return torch.tensor(np.asarray(arr, dtype=np.float32))[None]


def transfer(content, style, extractor, content_layer, style_weights, *, alpha=1.0, beta=1e5, gamma=1.0,
             steps=150, lr=0.05, objective=None, init=None, progress=True):
    """Optimise an image (Adam on the pixels, kept in [0, 1]) to minimise :func:`transfer_objective`.

    Args:
        content, style: images (1, 3, H, W) in [0, 1]. extractor: a feature extractor (above).
        objective: the objective function (default: the reference :func:`transfer_objective`).
        init: the starting image (default: the content image).

    Returns:
        (image, history): the result (1, 3, H, W) and a dict of lists ``total, content, style, tv``.
    """
    import torch
    from tqdm.auto import tqdm

    objective = objective or transfer_objective
    layers = [content_layer, *style_weights]
    with torch.no_grad():
        target = extractor(content, [content_layer])[content_layer]
        grams = {k: gram_matrix(v) for k, v in extractor(style, list(style_weights)).items()}
    image = (content if init is None else init).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=lr)
    history = {"total": [], "content": [], "style": [], "tv": []}
    for _ in tqdm(range(steps), desc="style transfer", disable=not progress, leave=False):
        feats = extractor(image, layers)
        loss = objective(feats, target, grams, image, content_layer, style_weights, alpha, beta, gamma)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            image.clamp_(0, 1)
            history["total"].append(float(loss))
            history["content"].append(float(content_loss(feats[content_layer], target)))
            history["style"].append(float(style_loss([feats[k] for k in style_weights],
                                                     [grams[k] for k in style_weights], list(style_weights.values()))))
            history["tv"].append(float(tv_loss(image)))
    return image.detach(), history
