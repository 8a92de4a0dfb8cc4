"""The building blocks of Chapter 8: VGG stages, NiN blocks, Inception modules, residual blocks,
Highway layers. Layout NCHW; every constructor returns an ``nn.Module`` whose parameters are
registered in the order the docstring lists (so weights can be copied by position).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "HighwayLayer", "InceptionV1", "PreActBlock", "asymmetric_conv",
           "basic_block", "bottleneck_block", "highway_layer", "inception_v1_module", "nin_block",
           "preact_block", "vgg_stage"]


def _positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def vgg_stage(in_channels: int, out_channels: int, num_convs: int) -> nn.Sequential:
    """One VGG stage: ``num_convs`` × (3×3 conv, padding 1 → ReLU), then 2×2 max pooling (stride 2).

    (N, C_in, H, W) → (N, C_out, H // 2, W // 2).
    """
    _positive(in_channels=in_channels, out_channels=out_channels, num_convs=num_convs)
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2))


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
              padding: int = 0) -> nn.Sequential:
    """Network-in-Network "mlpconv": a k×k conv → ReLU, then two 1×1 convs → ReLU (a tiny MLP per pixel)."""
    _positive(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=stride)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 1), nn.ReLU())


class InceptionV1(nn.Module):
    """GoogLeNet's Inception module with dimension reduction (Szegedy et al., 2014).

    Four branches, concatenated along channels (every conv is followed by ReLU):
    ``branch1`` 1×1; ``branch2`` 1×1 (reduce) → 3×3; ``branch3`` 1×1 (reduce) → 5×5;
    ``branch4`` 3×3 max pool (stride 1, padding 1) → 1×1 (pool projection).
    (N, C_in, H, W) → (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        _positive(in_channels=in_channels, ch1x1=ch1x1, ch3x3red=ch3x3red, ch3x3=ch3x3, ch5x5red=ch5x5red,
                  ch5x5=ch5x5, pool_proj=pool_proj)
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3red, 1), nn.ReLU(),
                                     nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5red, 1), nn.ReLU(),
                                     nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU())
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1),
                                     nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


def inception_v1_module(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) -> InceptionV1:
    """An :class:`InceptionV1` module (argument names as in torchvision's ``Inception``)."""
    return InceptionV1(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)


def asymmetric_conv(in_channels: int, out_channels: int, n: int) -> nn.Sequential:
    """Inception-v3's factorisation of an n×n conv: 1×n conv → ReLU → n×1 conv → ReLU ('same' size, n odd)."""
    _positive(in_channels=in_channels, out_channels=out_channels, n=n)
    if n % 2 == 0:
        raise ValueError(f"n must be odd so that the size is kept, got {n}")
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, (1, n), padding=(0, n // 2)), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, (n, 1), padding=(n // 2, 0)), nn.ReLU())


def _projection(in_channels: int, out_channels: int, stride: int, batch_norm: bool = True) -> nn.Module | None:
    """1×1 conv (stride) [+ BN] when the shortcut must change shape, else None (identity shortcut)."""
    if stride == 1 and in_channels == out_channels:
        return None
    conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels)) if batch_norm else conv


class BasicBlock(nn.Module):
    """ResNet's basic block (He et al., 2015), torchvision's layout.

    ``conv1`` 3×3 (stride) → ``bn1`` → ReLU → ``conv2`` 3×3 → ``bn2``; plus the shortcut
    (``downsample`` = 1×1 conv with stride + BN when the shape changes, else identity); then ReLU.
    Convs have no bias (BN follows). (N, C_in, H, W) → (N, C_out, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        _positive(in_channels=in_channels, out_channels=out_channels, stride=stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = _projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block, torchvision's "v1.5" layout (stride on the 3×3 conv).

    ``conv1`` 1×1 (C_in → mid) → ``bn1`` → ReLU → ``conv2`` 3×3 (stride) → ``bn2`` → ReLU →
    ``conv3`` 1×1 (mid → 4·mid) → ``bn3``; plus the shortcut (``downsample`` as in :class:`BasicBlock`);
    then ReLU. (N, C_in, H, W) → (N, 4·mid, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    expansion = 4

    def __init__(self, in_channels: int, mid_channels: int, stride: int = 1):
        super().__init__()
        _positive(in_channels=in_channels, mid_channels=mid_channels, stride=stride)
        out_channels = mid_channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = _projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al., 2016, "Identity Mappings in Deep Residual Networks").

    ``bn1`` → ReLU → ``conv1`` 3×3 (stride) → ``bn2`` → ReLU → ``conv2`` 3×3, added to the shortcut,
    with **nothing after the addition**. The shortcut is the identity, or (when the shape changes) a
    1×1 conv ``shortcut`` with stride applied to the *pre-activated* input relu(bn1(x)).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        _positive(in_channels=in_channels, out_channels=out_channels, stride=stride)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = _projection(in_channels, out_channels, stride, batch_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + identity


class HighwayLayer(nn.Module):
    """A Highway layer (Srivastava, Greff & Schmidhuber, 2015) on (N, D) inputs.

    y = H(x)·T(x) + x·(1 − T(x)), with H(x) = ReLU(``transform``(x)) and the transform gate
    T(x) = sigmoid(``gate``(x)); ``transform`` and ``gate`` are ``nn.Linear(D, D)``. The gate's bias
    starts at ``gate_bias`` (negative: the layer starts close to the identity, carrying x through).
    """

    def __init__(self, features: int, gate_bias: float = -2.0):
        super().__init__()
        _positive(features=features)
        self.transform = nn.Linear(features, features)
        self.gate = nn.Linear(features, features)
        with torch.no_grad():
            self.gate.bias.fill_(gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return torch.relu(self.transform(x)) * t + x * (1 - t)


def basic_block(in_channels: int, out_channels: int, stride: int = 1) -> BasicBlock:
    """A :class:`BasicBlock`."""
    return BasicBlock(in_channels, out_channels, stride)


def bottleneck_block(in_channels: int, mid_channels: int, stride: int = 1) -> Bottleneck:
    """A :class:`Bottleneck` with ``4 * mid_channels`` output channels."""
    return Bottleneck(in_channels, mid_channels, stride)


def preact_block(in_channels: int, out_channels: int, stride: int = 1) -> PreActBlock:
    """A :class:`PreActBlock`."""
    return PreActBlock(in_channels, out_channels, stride)


def highway_layer(features: int, gate_bias: float = -2.0) -> HighwayLayer:
    """A :class:`HighwayLayer`."""
    return HighwayLayer(features, gate_bias)
