"""Reference CNN architectures in torch, with parameter counting.

Chapter 7's capstone trains :class:`LeNet5` on the digits; later chapters add AlexNet, VGG, NiN,
GoogLeNet, ResNet and Highway networks here. Layout NCHW.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["LeNet5", "count_params", "digits_to_32"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_POOLS = {"max": lambda c: nn.MaxPool2d(2), "avg": lambda c: nn.AvgPool2d(2),
          "conv": lambda c: nn.Conv2d(c, c, 2, stride=2)}  # each takes the channels C, halves H and W


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) for 32×32 inputs: 61,706 parameters.

    conv 5×5 (6) → pool 2 → conv 5×5 (16) → pool 2 → FC 120 → FC 84 → FC ``num_classes``.
    The original used tanh-like squashing and average ("sub-sampling") pooling and a connection
    table between C3 and S2; this version connects all channels, as modern re-implementations do.

    Args:
        num_classes: outputs of the last layer (K).
        in_channels: C of the input (N, C, 32, 32).
        activation: "relu" (default, trains faster), "tanh" or "sigmoid".
        pool: "max" (default), "avg" (the original's sub-sampling) or "conv": a learned 2×2 convolution
            with stride 2 (C → C channels) in place of each pooling layer, as in the all-convolutional
            net (Springenberg et al., 2015); it adds 150 + 1,040 parameters.
        batch_norm: insert BatchNorm2d/BatchNorm1d after each conv/hidden FC layer (Chapter 5).
        dropout: dropout probability before each hidden FC layer (0 = none).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, activation: str = "relu", pool: str = "max",
                 batch_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {sorted(_POOLS)}, got {pool!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        act, pooling = _ACTIVATIONS[activation], _POOLS[pool]

        def conv(c_in, c_out):
            layers = [nn.Conv2d(c_in, c_out, 5)]
            layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
            return [*layers, act(), pooling(c_out)]

        def dense(d_in, d_out):
            layers = [nn.Dropout(dropout)] if dropout else []
            layers += [nn.Linear(d_in, d_out)]
            layers += [nn.BatchNorm1d(d_out)] if batch_norm else []
            return [*layers, act()]

        self.features = nn.Sequential(*conv(in_channels, 6), *conv(6, 16))      # (N, 16, 5, 5)
        self.classifier = nn.Sequential(nn.Flatten(), *dense(16 * 5 * 5, 120), *dense(120, 84),
                                        nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(f"LeNet5 expects (N, C, 32, 32) inputs, got {tuple(x.shape)}; "
                             "for the 8×8 digits use course_lib.models.digits_to_32")
        return self.classifier(self.features(x))


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def digits_to_32(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Upsample (N, C, 8, 8) digits to LeNet's (N, C, 32, 32) input by bilinear interpolation."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    if t.ndim != 4:
        raise ValueError(f"expected digits of shape (N, C, H, W), got {tuple(t.shape)}")
    return nn.functional.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False)
