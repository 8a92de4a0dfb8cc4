"""What a network costs: parameters and multiply-accumulates per layer, and the shape after every
stage, measured with forward hooks. Models built on ``torch.device("meta")`` are measured without
allocating a single weight (shapes propagate through meta tensors).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["LayerCost", "Profile", "profile", "stage_shapes"]


@dataclass
class LayerCost:
    """One Conv2d or Linear layer: its name, type, output shape (batch 1), parameters and MACs."""

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class Profile:
    """Per-layer costs of one forward pass of a single image."""

    layers: list[LayerCost] = field(default_factory=list)
    total_params: int = 0

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def table(self, top: int | None = None) -> str:
        """The layers as a text table (the ``top`` most expensive ones if given)."""
        rows = sorted(self.layers, key=lambda r: -r.macs)[:top] if top else self.layers
        lines = [f"{'layer':<28}{'type':<8}{'output':>20}{'params':>14}{'MACs':>16}"]
        lines += [f"{r.name:<28}{r.kind:<8}{str(r.out_shape):>20}{r.params:>14,}{r.macs:>16,}" for r in rows]
        lines.append(f"{'total':<56}{self.total_params:>14,}{self.total_macs:>16,}")
        return "\n".join(lines)


def _layer_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        if module.dilation != (1, 1) or isinstance(module.padding, str):
            raise ValueError(f"{module}: dilation and string padding are not supported by the counter")
        # one dot product of length KH·KW·C_in/groups (+ 1 for the bias) per output value: the count of
        # conv_flops (Chapter 2), read off the output this layer produced
        kh, kw = module.kernel_size
        return out[0].numel() * (kh * kw * module.in_channels // module.groups + (module.bias is not None))
    # nn.Linear: one dot product of length in_features (+ 1 for the bias) per output value
    return out[0].numel() * (module.in_features + (module.bias is not None))


def profile(model: nn.Module, input_size=(3, 224, 224)) -> Profile:
    """Parameters and multiply-accumulates (MACs) of ``model`` on one (C, H, W) image.

    Counts Conv2d layers as ``conv_flops`` of Chapter 2 does (H_out·W_out·C_out·(KH·KW·C_in/groups + 1),
    the +1 only with a bias) and Linear layers (D_out·(D_in + 1)); pooling, activations and
    normalisation are not counted (they cost < 1 % in these networks). Runs on the model's device: on
    ``meta`` nothing is computed or allocated.
    """
    device = next(model.parameters()).device
    result = Profile(total_params=sum(p.numel() for p in model.parameters()))
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            def hook(mod, args, out, name=name):
                result.layers.append(LayerCost(name, type(mod).__name__, tuple(out.shape), sum(
                    p.numel() for p in mod.parameters()), _layer_macs(mod, args[0], out)))
            hooks.append(module.register_forward_hook(hook))
    _dry_run(model, input_size, device, hooks)
    return result


def stage_shapes(model: nn.Module, input_size=(3, 224, 224), stages=None) -> dict[str, tuple[int, ...]]:
    """Output shape (batch 1) of each stage: the named sub-modules in ``stages`` (default: the model's
    direct children, or the children of a Sequential), in the order they run."""
    device = next(model.parameters()).device
    if stages is None:
        stages = [name for name, _ in model.named_children()]
    modules = dict(model.named_modules())
    missing = [s for s in stages if s not in modules]
    if missing:
        raise ValueError(f"no sub-module named {missing}; the model has {list(modules)[1:12]}...")
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [modules[s].register_forward_hook(
        lambda mod, args, out, s=s: shapes.__setitem__(s, tuple(out.shape))) for s in stages]
    _dry_run(model, input_size, device, hooks)
    return shapes


def _dry_run(model: nn.Module, input_size, device, hooks) -> None:
    """One forward pass of a zero image (batch 1) in evaluation mode, for the ``hooks``; then remove
    them and restore the model's mode."""
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_size), device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
