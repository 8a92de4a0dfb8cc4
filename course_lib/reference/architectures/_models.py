"""Whole networks of Chapter 8, in torchvision's layouts where torchvision has them (so that the
parameter counts match the published figures): AlexNet, VGG, NiN, GoogLeNet, ResNet, and a small
plain/residual network for the degradation experiment on the 8×8 digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import BasicBlock, Bottleneck, InceptionV1, PreActBlock, nin_block, vgg_stage

__all__ = ["INCEPTION_V1", "AlexNet", "GoogLeNet", "ResNet", "VGG", "VGG_STAGES", "DigitsNet", "alexnet", "googlenet",
           "googlenet_loss", "nin", "resnet", "vgg", "vgg_param_count"]


class AlexNet(nn.Module):
    """AlexNet as in torchvision (the single-GPU "one weird trick" variant, 64-192-384-256-256 filters).

    ``features``: conv 11×11/4 (64) → ReLU → [LRN] → max pool 3/2 → conv 5×5 (192) → ReLU → [LRN] →
    max pool 3/2 → conv 3×3 (384) → ReLU → conv 3×3 (256) → ReLU → conv 3×3 (256) → ReLU → max pool 3/2;
    ``avgpool``: adaptive average pool to 6×6; ``classifier``: dropout → FC 9216→4096 → ReLU →
    dropout → FC 4096→4096 → ReLU → FC 4096→``num_classes``. 61,100,840 parameters for 1000 classes.
    ``lrn=True`` adds local response normalisation after the first two ReLUs, with the paper's n = 5,
    α = 1e-4, β = 0.75, k = 2 — ``alpha=5e-4`` in PyTorch, which divides alpha by size. No parameters.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, lrn: bool = False):
        super().__init__()
        norm = [nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if lrn else []  # paper's α = 1e-4
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), *norm, nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), *norm, nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def alexnet(num_classes: int = 1000, dropout: float = 0.5, lrn: bool = False) -> AlexNet:
    """An :class:`AlexNet`."""
    return AlexNet(num_classes, dropout, lrn)


#: VGG's configurations A, B, D, E as (out_channels, num_convs) per stage.
VGG_STAGES = {
    "vgg11": ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2)),
    "vgg13": ((64, 2), (128, 2), (256, 2), (512, 2), (512, 2)),
    "vgg16": ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
    "vgg19": ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)),
}


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman, 2014) in torchvision's layout: ``features`` (one :func:`vgg_stage` per
    entry of ``stages``), ``avgpool`` (adaptive, 7×7), ``classifier`` FC→4096→4096→``num_classes``
    with ReLU and dropout. VGG-16: 138,357,544 parameters."""

    def __init__(self, stages, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        blocks, c = [], in_channels
        for out_channels, num_convs in stages:
            blocks.append(vgg_stage(c, out_channels, num_convs))
            c = out_channels
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(c * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg(name_or_stages="vgg16", num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """A :class:`VGG` from a name in :data:`VGG_STAGES` or a sequence of (out_channels, num_convs)."""
    stages = VGG_STAGES[name_or_stages] if isinstance(name_or_stages, str) else name_or_stages
    return VGG(stages, num_classes, in_channels)


def vgg_param_count(stages, num_classes: int = 1000, in_channels: int = 3) -> int:
    """Parameters of ``VGG(stages, num_classes, in_channels)``, counted without allocating any weights."""
    stages = [tuple(s) for s in stages]
    if not stages or any(len(s) != 2 or min(s) < 1 for s in stages):
        raise ValueError(f"stages must be a non-empty list of (out_channels ≥ 1, num_convs ≥ 1), got {stages}")
    with torch.device("meta"):
        model = VGG(stages, num_classes, in_channels)
    return sum(p.numel() for p in model.parameters())


def nin(num_classes: int = 1000, in_channels: int = 3) -> nn.Sequential:
    """Network in Network (Lin, Chen & Yan, 2013) for 224×224 inputs, as in d2l: four mlpconv blocks,
    max pooling, and global average pooling over ``num_classes`` maps instead of FC layers."""
    return nn.Sequential(
        nin_block(in_channels, 96, 11, 4, 0), nn.MaxPool2d(3, 2),
        nin_block(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
        nin_block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5),
        nin_block(384, num_classes, 3, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


class _AuxClassifier(nn.Module):
    """GoogLeNet's auxiliary classifier: 5×5/3 average pool → 1×1 conv (128) → FC 1024 → dropout 0.7 → FC."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)   # 14×14 → 4×4
        self.conv = nn.Conv2d(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(torch.relu(self.conv(self.pool(x))), 1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


#: GoogLeNet's nine Inception modules: (in, 1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool proj).
INCEPTION_V1 = {"3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
                "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
                "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
                "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
                "5b": (832, 384, 192, 384, 48, 128, 128)}


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception-v1 as in the paper's Table 1 (ReLU after every conv, no BN).

    In training mode with ``aux_logits=True`` the forward returns ``(logits, aux1, aux2)`` (classifiers
    on the outputs of 4a and 4d), otherwise the logits. ``inception`` builds each module (default
    :class:`InceptionV1`; pass your own ``inception_v1_module``).
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, inception=InceptionV1):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2, ceil_mode=True))
        self.inception = nn.ModuleDict({name: inception(*cfg) for name, cfg in INCEPTION_V1.items()})
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.aux1 = _AuxClassifier(512, num_classes) if aux_logits else None
        self.aux2 = _AuxClassifier(528, num_classes) if aux_logits else None
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor):
        x, aux = self.stem(x), []
        for name, module in self.inception.items():
            x = module(x)
            if name in ("3b", "4e"):
                x = self.pool(x)
            if name in ("4a", "4d") and self.training and self.aux1 is not None:
                aux.append((self.aux1 if name == "4a" else self.aux2)(x))
        logits = self.fc(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
        return (logits, *aux) if aux else logits


def googlenet(num_classes: int = 1000, aux_logits: bool = False, inception=InceptionV1) -> GoogLeNet:
    """A :class:`GoogLeNet`."""
    return GoogLeNet(num_classes, aux_logits, inception)


def googlenet_loss(outputs, target: torch.Tensor, aux_weight: float = 0.3) -> torch.Tensor:
    """Cross-entropy of the main logits plus ``aux_weight`` × that of each auxiliary classifier."""
    if isinstance(outputs, torch.Tensor):
        return F.cross_entropy(outputs, target)
    main, *aux = outputs
    return F.cross_entropy(main, target) + aux_weight * sum(F.cross_entropy(a, target) for a in aux)


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck, "preact": PreActBlock}


class ResNet(nn.Module):
    """ResNet in torchvision's layout: ``conv1`` 7×7/2 (64, no bias) → ``bn1`` → ReLU → ``maxpool`` 3/2 →
    ``layer1``..``layer4`` (``layers[i]`` blocks of width 64·2^i, the first of layers 2-4 with stride 2)
    → global average pool → ``fc``. ResNet-18 = ("basic", [2, 2, 2, 2]): 11,689,512 parameters;
    ResNet-50 = ("bottleneck", [3, 4, 6, 3]): 25,557,032. ``"preact"`` blocks add a final BN + ReLU
    (``post_bn``) before pooling, as in ResNet v2. ``make_block(in, width, stride)`` overrides the block.
    """

    def __init__(self, block: str = "basic", layers=(2, 2, 2, 2), num_classes: int = 1000, make_block=None):
        super().__init__()
        if block not in _BLOCKS:
            raise ValueError(f"block must be one of {sorted(_BLOCKS)}, got {block!r}")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be four positive ints, got {list(layers)}")
        make_block = make_block or _BLOCKS[block]
        expansion = _BLOCKS[block].expansion
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        c = 64
        for i, n in enumerate(layers):
            width = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(make_block(c, width, 2 if i > 0 and j == 0 else 1))
                c = width * expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.post_bn = nn.BatchNorm2d(c) if block == "preact" else None
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.post_bn is not None:
            x = torch.relu(self.post_bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet(block: str, layers, num_classes: int = 1000) -> ResNet:
    """A :class:`ResNet` with ``"basic"``, ``"bottleneck"`` or ``"preact"`` blocks."""
    return ResNet(block, layers, num_classes)


class DigitsNet(nn.Module):
    """A deep, narrow CNN for the 8×8 digits, with or without residual connections.

    3×3 conv (``width``) → BN → ReLU, then ``depth`` units of [3×3 conv → BN → ReLU → 3×3 conv → BN],
    each followed by ReLU — of its output alone (plain) or of output + input (residual). Then global
    average pooling and a linear classifier. Both variants have exactly the same parameters.
    """

    def __init__(self, depth: int, residual: bool, width: int = 16, num_classes: int = 10):
        super().__init__()
        self.residual = residual
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.units = nn.ModuleList(nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)) for _ in range(depth))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for unit in self.units:
            x = torch.relu(unit(x) + x) if self.residual else torch.relu(unit(x))
        return self.fc(x.mean(dim=(2, 3)))
