"""Checking an exercise whose answer is a torch module (used by Chapter 8's specs).

A module is checked against the reference in three steps, and the first difference is explained:

1. its parameters and buffers, in the order the module registers them, must have the reference's
   shapes (the message names the first entry that differs, and the totals);
2. with the *same* weights (random ones copied into both, by position; for very large tensors the
   student's own), both run on the same random input — in evaluation mode, then in training mode
   with the same random seed (so dropout masks agree) — and every layer's input and output is
   compared, in the order the reference runs them: the message names the layer;
3. the final outputs are compared.

The engine compares a result with ``got == expected``; the reference side returns a
:class:`ModuleExpectation` whose ``__eq__`` runs these checks and raises :class:`CheckFailure`.
"""

from __future__ import annotations

import zlib

import torch
from torch import nn

from .core import CheckFailure, describe_call

__all__ = ["ModuleExpectation", "ModuleReference"]

_BIG = 2_000_000   # tensors larger than this keep the student's own values (no time spent on random fills)


def _entries(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return list(module.state_dict(keep_vars=True).items())


def _owner(key: str) -> str:
    return key.rpartition(".")[0]


def _fmt_shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


class ModuleExpectation:
    """What a module-building exercise should return; ``got == expectation`` checks ``got``."""

    def __init__(self, call: str, build, inputs, seed: int = 0, order_hint: str = "", constants=None):
        self.call, self.build, self.inputs, self.seed = call, build, inputs, seed
        self.order_hint, self.constants = order_hint, constants or {}

    __hash__ = None

    def __repr__(self) -> str:
        return f"the module {self.call} should return"

    def __eq__(self, got) -> bool:
        __tracebackhide__ = True
        self.check(got)
        return True

    # ------------------------------------------------------------------ 1. registered tensors
    def _match_entries(self, got: nn.Module, ref: nn.Module):
        __tracebackhide__ = True
        mine, theirs = _entries(got), _entries(ref)
        n_got = sum(p.numel() for p in got.parameters())
        n_ref = sum(p.numel() for p in ref.parameters())
        totals = f"In total your module has {n_got:,} parameters, the reference {n_ref:,}."
        for i in range(max(len(mine), len(theirs))):
            if i >= len(mine):
                name, t = theirs[i]
                raise CheckFailure(f"{self.call}: your module is missing `{name}` {_fmt_shape(t)} (entry #{i + 1} "
                                   f"of the reference's parameters and buffers). {totals} {self.order_hint}".strip())
            if i >= len(theirs):
                name, t = mine[i]
                raise CheckFailure(f"{self.call}: your module has an extra `{name}` {_fmt_shape(t)} (entry #{i + 1}); "
                                   f"the reference has only {len(theirs)} parameters and buffers. {totals} "
                                   f"{self.order_hint}".strip())
            (name, t), (ref_name, r) = mine[i], theirs[i]
            if t.shape != r.shape:
                raise CheckFailure(
                    f"{self.call}: parameter/buffer #{i + 1} in registration order is your `{name}` "
                    f"{_fmt_shape(t)}, but the reference's is `{ref_name}` {_fmt_shape(r)}. {totals} "
                    f"{self.order_hint}".strip())
        for ref_key, value in self.constants.items():
            i = [k for k, _ in theirs].index(ref_key)
            name, t = mine[i]
            if not torch.all(t.detach() == value):
                raise CheckFailure(f"{self.call}: `{name}` should start with every value equal to {value} "
                                   f"(the reference's `{ref_key}`), got {t.detach().flatten()[:4].tolist()}...")
        return mine, theirs

    # ------------------------------------------------------------------ 2. same weights
    def _share_weights(self, got, ref, mine, theirs):
        gen = torch.Generator().manual_seed(self.seed)
        new_mine, new_ref = {}, {}
        for (name, t), (ref_name, _) in zip(mine, theirs, strict=True):
            if not t.is_floating_point() or t.numel() > _BIG:
                new_ref[ref_name] = t.detach()          # shared: the reference uses the student's tensor
                continue
            if ref_name.endswith("running_var"):
                value = torch.rand(t.shape, generator=gen) + 0.5
            elif t.ndim > 1:                            # conv / linear weights, scaled by 1/sqrt(fan_in)
                value = torch.randn(t.shape, generator=gen) / t[0].numel() ** 0.5
            else:                                       # biases, BN's beta and running mean; BN's gamma > 0
                value = torch.randn(t.shape, generator=gen) * 0.5
                if ref_name.endswith(".weight"):
                    value = value.abs() + 0.5
            new_mine[name], new_ref[ref_name] = value, value
        with torch.no_grad():
            got.load_state_dict(new_mine, strict=False)
        ref.load_state_dict(new_ref, assign=True)

    # ------------------------------------------------------------------ 3. layer by layer
    def _compare_forward(self, got, ref, mine, theirs, shape, training=False):
        __tracebackhide__ = True
        ref_to_mine = {}
        for (name, _), (ref_name, _) in zip(mine, theirs, strict=True):
            ref_to_mine.setdefault(_owner(ref_name), _owner(name))
        got_modules, ref_modules = dict(got.named_modules()), dict(ref.named_modules())
        seen_ref: list[str] = []
        rec_ref: dict[str, tuple] = {}
        rec_got: dict[str, tuple] = {}
        hooks = []
        for ref_name, my_name in ref_to_mine.items():
            def ref_hook(mod, args, out, ref_name=ref_name):
                if ref_name not in rec_ref:
                    seen_ref.append(ref_name)
                    rec_ref[ref_name] = (args[0].detach(), out.detach())

            def got_hook(mod, args, out, my_name=my_name):
                if my_name not in rec_got and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
                    rec_got[my_name] = (args[0].detach(), out.detach())
            hooks += [ref_modules[ref_name].register_forward_hook(ref_hook),
                      got_modules[my_name].register_forward_hook(got_hook)]
        x = torch.randn(shape, generator=torch.Generator().manual_seed(self.seed + 1))
        try:
            got.train(training)
            ref.train(training)
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(self.seed)                # the same dropout masks in both
                expected = ref(x)
                torch.manual_seed(self.seed)
                try:
                    out = got(x.clone())
                except Exception as err:
                    raise CheckFailure(f"{self.call}: calling the module on an input of shape {tuple(shape)} "
                                       f"raised {type(err).__name__}: {err}") from err
        finally:
            for h in hooks:
                h.remove()
        where = (f"on an input of shape {tuple(shape)} ("
                 + ("training mode: batch statistics and the same dropout masks" if training else "evaluation mode")
                 + ", the same weights in both)")
        for ref_name in seen_ref:
            my_name = ref_to_mine[ref_name]
            kind = type(ref_modules[ref_name]).__name__
            if my_name not in rec_got:
                raise CheckFailure(f"{self.call}: {where}, your `{my_name}` ({kind}) is never called in forward; "
                                   f"it plays the part of the reference's `{ref_name}`.")
            (gi, go), (ri, ro) = rec_got[my_name], rec_ref[ref_name]
            label = f"`{my_name}`" + (f" (the reference's `{ref_name}`, {kind})" if my_name != ref_name
                                      else f" ({kind})")
            if gi.shape != ri.shape or not _close(gi, ri):
                what = (f"has shape {tuple(gi.shape)}, expected {tuple(ri.shape)}" if gi.shape != ri.shape
                        else f"has the wrong values ({_first_diff(gi, ri)})")
                raise CheckFailure(f"{self.call}: {where}, the input of {label} {what}. Every layer that runs "
                                   f"before it matches, so look at what feeds it: activation, pooling, dropout, "
                                   f"padding, concatenation, the shortcut path, or the order of the layers.")
            if go.shape != ro.shape or not _close(go, ro):
                what = (f"has shape {tuple(go.shape)}, expected {tuple(ro.shape)}" if go.shape != ro.shape
                        else f"has the wrong values ({_first_diff(go, ro)})")
                raise CheckFailure(f"{self.call}: {where}, the output of {label} {what} although its input "
                                   f"is right: check its stride and padding.")
        if not isinstance(out, torch.Tensor):
            raise CheckFailure(f"{self.call}: the module's forward should return a tensor, got {type(out).__name__}.")
        if out.shape != expected.shape or not _close(out, expected):
            what = (f"has shape {tuple(out.shape)}, expected {tuple(expected.shape)}" if out.shape != expected.shape
                    else f"has the wrong values ({_first_diff(out, expected)})")
            raise CheckFailure(f"{self.call}: {where}, every layer with weights computes the right values, but "
                               f"the module's output {what}: look at what happens after the layers — the "
                               f"residual addition, the final activation, the order of the concatenation.")

    def check(self, got) -> None:
        __tracebackhide__ = True
        if isinstance(got, ModuleExpectation):   # the exercise's own reference, run as a submission
            got = got.build()
        if not isinstance(got, nn.Module):
            raise CheckFailure(f"{self.call} should return an nn.Module (an nn.Sequential or an instance of "
                               f"your class), got {type(got).__name__}. Did you forget a `return`?")
        with torch.device("meta"):
            ref = self.build()
        mine, theirs = self._match_entries(got, ref)
        self._share_weights(got, ref, mine, theirs)
        for shape in self.inputs:
            self._compare_forward(got, ref, mine, theirs, shape)
        self._compare_forward(got, ref, mine, theirs, self.inputs[0], training=True)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = float(b.abs().max()) if b.numel() else 1.0
    return bool(torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5 * max(1.0, scale)))


def _first_diff(a: torch.Tensor, b: torch.Tensor) -> str:
    bad = ~torch.isclose(a.float(), b.float(), rtol=1e-4, atol=1e-5 * max(1.0, float(b.abs().max())))
    idx = tuple(int(i) for i in bad.nonzero()[0])
    return (f"{int(bad.sum())} of {bad.numel()} values differ; first at index {idx}: "
            f"expected {float(b[idx]):.6g}, got {float(a[idx]):.6g}")


class ModuleReference:
    """The reference of a module exercise: called like the student's function, returns a
    :class:`ModuleExpectation`. ``__code__`` is the builder's, so failure messages name the arguments."""

    def __init__(self, name, builder, inputs, order_hint="", constants=None):
        self.name, self.builder, self.inputs = name, builder, inputs
        self.order_hint, self.constants = order_hint, constants
        self.__code__ = builder.__code__

    def __call__(self, *args, **kwargs):
        names = self.__code__.co_varnames[:self.__code__.co_argcount]
        call = describe_call(self.name, args, kwargs, names)
        constants = self.constants(*args, **kwargs) if callable(self.constants) else self.constants
        return ModuleExpectation(call, lambda: self.builder(*args, **kwargs), self.inputs(*args, **kwargs),
                                 seed=zlib.crc32(call.encode()) % 1000, order_hint=self.order_hint, constants=constants)
