"""Checking an exercise whose answer is a torch module (used by Chapter 8's specs).

A module is checked against the reference in three steps, and the first difference is explained:

1. its parameters and buffers, in the order the module registers them, must have the reference's
   shapes (the message names the first entry that differs, and the totals);
2. with the *same* weights (random ones copied into both, by position), both run on the same random
   input — in evaluation mode, then in training mode with the same random seed (so dropout masks
   agree) — and every layer's input and output is compared, in the order the reference runs them:
   the message names the layer;
3. the final outputs are compared.

The engine compares a result with ``got == expected``; the reference side returns a
:class:`ModuleExpectation` whose ``__eq__`` runs these checks and raises :class:`CheckFailure`.
When a notebook is graded the two halves run apart (see :class:`~course_lib.testing.core.Expectation`):
the student's kernel only records what the module computes, the grader compares.
"""

from __future__ import annotations

import contextlib
import math
import zlib

import numpy as np
import torch
from torch import nn

from .core import CheckFailure, Expectation, describe_call

__all__ = ["ModuleExpectation", "ModuleReference", "probe_threads", "same_threads"]


def probe_threads() -> int:
    """The kernel's torch thread count, recorded with a probe."""
    return torch.get_num_threads()


@contextlib.contextmanager
def same_threads(recorded):
    """Run the reference with the thread count the probe ran with. Float sums depend on it, and a
    deep network (ResNet-18, batch norm over 2×2 maps) turns those last-bit differences into a few
    ×10⁻⁴ — a grader using more threads than the one-thread grading kernel failed correct answers."""
    before = torch.get_num_threads()
    if type(recorded) is int and 1 <= recorded <= 1024 and recorded != before:
        torch.set_num_threads(recorded)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _entries(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return list(module.state_dict(keep_vars=True).items())


def _owner(key: str) -> str:
    return key.rpartition(".")[0]


class ModuleExpectation(Expectation):
    """What a module-building exercise should return; ``got == expectation`` checks ``got``.

    :meth:`probe` (the student's kernel) records the module's registered tensors, then loads the
    agreed random weights and records every layer's input and output on the agreed inputs;
    :meth:`verify` (the grader) builds the reference, runs it the same way and compares.
    """

    def __init__(self, call: str, build, inputs, seed: int = 0, order_hint: str = "", constants=None):
        self.call, self.build, self.inputs, self.seed = call, build, inputs, seed
        self.order_hint, self.constants = order_hint, constants or {}
        self._skeleton = None

    def __repr__(self) -> str:
        return f"the module {self.call} should return"

    def skeleton(self) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
        """The reference's registered tensors (name, shape) and parameter count, built on torch's meta device."""
        if self.build is None:
            return self._skeleton
        with torch.device("meta"):
            ref = self.build()
        return _shapes(_entries(ref)), sum(p.numel() for p in ref.parameters())

    def __getstate__(self) -> dict:
        """What travels to the grader's judge process: the reference's skeleton as data, never its builder
        (the judge process holding the student's code has no reference to call)."""
        state = dict(self.__dict__)
        state["_skeleton"], state["build"] = self.skeleton(), None
        return state

    def _passes(self) -> list[tuple[tuple, bool]]:
        """(input shape, training?) of each forward pass: every shape in evaluation mode, then the
        first in training mode (batch statistics, dropout)."""
        return [(tuple(s), False) for s in self.inputs] + [(tuple(self.inputs[0]), True)]

    # ------------------------------------------------------------------ 1. registered tensors
    def _match_entries(self, mine, theirs, n_got: int, n_ref: int, constants) -> None:
        """``mine``/``theirs``: (name, shape) in registration order; ``constants``: ref key → the
        student's initial values of the entry in that position."""
        __tracebackhide__ = True
        totals = f"In total your module has {n_got:,} parameters, the reference {n_ref:,}."
        for i in range(max(len(mine), len(theirs))):
            if i >= len(mine):
                name, shape = theirs[i]
                raise CheckFailure(f"{self.call}: your module is missing `{name}` {shape} (entry #{i + 1} "
                                   f"of the reference's parameters and buffers). {totals} {self.order_hint}".strip())
            if i >= len(theirs):
                name, shape = mine[i]
                raise CheckFailure(f"{self.call}: your module has an extra `{name}` {shape} (entry #{i + 1}); "
                                   f"the reference has only {len(theirs)} parameters and buffers. {totals} "
                                   f"{self.order_hint}".strip())
            (name, shape), (ref_name, ref_shape) = mine[i], theirs[i]
            if shape != ref_shape:
                raise CheckFailure(
                    f"{self.call}: parameter/buffer #{i + 1} in registration order is your `{name}` "
                    f"{shape}, but the reference's is `{ref_name}` {ref_shape}. {totals} "
                    f"{self.order_hint}".strip())
        ref_keys = [k for k, _ in theirs]
        for ref_key, value in self.constants.items():
            name = mine[ref_keys.index(ref_key)][0]
            t = torch.as_tensor(constants[ref_key])
            if not torch.all(t == value):
                raise CheckFailure(f"{self.call}: `{name}` should start with every value equal to {value} "
                                   f"(the reference's `{ref_key}`), got {t.flatten()[:4].tolist()}...")

    # ------------------------------------------------------------------ 2. same weights
    def _weights(self, ref_entries, is_float) -> list[torch.Tensor | None]:
        """The agreed random value of each entry (by the reference's name and shape); None for the
        entries that are not floating point (counters), which keep the student's values."""
        gen = torch.Generator().manual_seed(self.seed)
        values = []
        for (ref_name, shape), flt in zip(ref_entries, is_float, strict=True):
            if not flt:
                values.append(None)
            elif ref_name.endswith("running_var"):
                values.append(torch.rand(shape, generator=gen) + 0.5)
            elif len(shape) > 1:                        # conv / linear weights, scaled by 1/sqrt(fan_in)
                values.append(torch.randn(shape, generator=gen) / max(1, math.prod(shape[1:])) ** 0.5)
            else:                                       # biases, BN's beta and running mean; BN's gamma > 0
                value = torch.randn(shape, generator=gen) * 0.5
                values.append(value.abs() + 0.5 if ref_name.endswith(".weight") else value)
        return values

    # ------------------------------------------------------------------ kernel side
    def probe(self, got) -> dict:
        __tracebackhide__ = True
        if isinstance(got, ModuleExpectation):   # the exercise's own reference, run as a submission
            got = got.build()
        if not isinstance(got, nn.Module):
            raise CheckFailure(f"{self.call} should return an nn.Module (an nn.Sequential or an instance of "
                               f"your class), got {type(got).__name__}. Did you forget a `return`?")
        theirs, ref_params = self.skeleton()
        mine = _entries(got)
        is_float = [t.is_floating_point() for _, t in mine]
        data = {"entries": [[name, list(t.shape), flt] for (name, t), flt in zip(mine, is_float, strict=True)],
                "n_params": sum(p.numel() for p in got.parameters()),
                "fixed": {name: t.detach().clone() for (name, t), flt in zip(mine, is_float, strict=True) if not flt},
                "constants": {}, "passes": [], "threads": probe_threads()}
        ref_keys = [k for k, _ in theirs]
        for ref_key in self.constants:
            i = ref_keys.index(ref_key)
            if i < len(mine):
                data["constants"][ref_key] = mine[i][1].detach().clone()
        try:
            self._match_entries(_shapes(mine), theirs, data["n_params"], ref_params, data["constants"])
        except (CheckFailure, KeyError):
            return data                          # the grader finds the same difference in the entries
        values = self._weights(theirs, is_float)
        with torch.no_grad():
            got.load_state_dict({name: v for (name, _), v in zip(mine, values, strict=True) if v is not None},
                                strict=False)
        ref_to_mine = _ref_to_mine([k for k, _ in mine], ref_keys)
        for shape, training in self._passes():
            data["passes"].append(self._observe(got, ref_to_mine, shape, training))
        return data

    def _observe(self, got, ref_to_mine, shape, training) -> dict:
        """One forward pass of the student's module: every mapped layer's first input and output."""
        modules = dict(got.named_modules())
        rec: dict[str, list] = {}
        hooks = []
        for my_name in dict.fromkeys(ref_to_mine.values()):
            def hook(mod, args, out, my_name=my_name):
                if my_name not in rec and args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
                    rec[my_name] = [args[0].detach().clone(), out.detach().clone()]
            hooks.append(modules[my_name].register_forward_hook(hook))
        error, out = None, None
        try:
            got.train(training)
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(self.seed)                # the same dropout masks as the reference's
                out = got(self._input(shape))
        except Exception as err:
            error = f"{type(err).__name__}: {err}"[:2000]
        finally:
            for h in hooks:
                h.remove()
        return {"error": error, "layers": rec, "out": out.detach() if isinstance(out, torch.Tensor) else None,
                "out_type": type(out).__name__}

    def _input(self, shape) -> torch.Tensor:
        return torch.randn(shape, generator=torch.Generator().manual_seed(self.seed + 1))

    # ------------------------------------------------------------------ grader side
    def verify(self, data: dict) -> None:
        __tracebackhide__ = True
        with torch.device("meta"):
            ref = self.build()
        theirs = _shapes(_entries(ref))
        mine = [(str(name), tuple(int(s) for s in shape)) for name, shape, _ in data["entries"]]
        is_float = [bool(flt) for _, _, flt in data["entries"]]
        self._match_entries(mine, theirs, int(data["n_params"]), sum(p.numel() for p in ref.parameters()),
                            data["constants"])
        values = self._weights(theirs, is_float)
        ref.load_state_dict({ref_name: torch.as_tensor(data["fixed"][name]) if v is None else v
                             for (ref_name, _), (name, _), v in zip(theirs, mine, values, strict=True)}, assign=True)
        ref_to_mine = _ref_to_mine([k for k, _ in mine], [k for k, _ in theirs])
        passes = data["passes"]
        if len(passes) != len(self._passes()):
            raise CheckFailure(f"{self.call}: {len(passes)} forward passes were recorded, "
                               f"expected {len(self._passes())}.")
        with same_threads(data.get("threads")):
            for (shape, training), observed in zip(self._passes(), passes, strict=True):
                self._compare_forward(ref, ref_to_mine, shape, training, observed)

    # ------------------------------------------------------------------ 3. layer by layer
    def _compare_forward(self, ref, ref_to_mine, shape, training, observed):
        __tracebackhide__ = True
        ref_modules = dict(ref.named_modules())
        seen_ref: list[str] = []
        rec_ref: dict[str, tuple] = {}
        hooks = []
        for ref_name in ref_to_mine:
            def ref_hook(mod, args, out, ref_name=ref_name):
                if ref_name not in rec_ref:
                    seen_ref.append(ref_name)
                    rec_ref[ref_name] = (args[0].detach().clone(), out.detach().clone())  # before in-place ops
            hooks.append(ref_modules[ref_name].register_forward_hook(ref_hook))
        try:
            ref.train(training)
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(self.seed)                # the same dropout masks in both
                expected = ref(self._input(shape))
        finally:
            for h in hooks:
                h.remove()
        if observed["error"] is not None:
            raise CheckFailure(f"{self.call}: calling the module on an input of shape {tuple(shape)} "
                               f"raised {observed['error']}")
        rec_got = {k: tuple(torch.as_tensor(np.asarray(a)) for a in v) for k, v in observed["layers"].items()}
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
        if observed["out"] is None:
            raise CheckFailure(f"{self.call}: the module's forward should return a tensor, "
                               f"got {observed['out_type']}.")
        out = torch.as_tensor(np.asarray(observed["out"]))
        if out.shape != expected.shape or not _close(out, expected):
            what = (f"has shape {tuple(out.shape)}, expected {tuple(expected.shape)}" if out.shape != expected.shape
                    else f"has the wrong values ({_first_diff(out, expected)})")
            raise CheckFailure(f"{self.call}: {where}, every layer with weights computes the right values, but "
                               f"the module's output {what}: look at what happens after the layers — the "
                               f"residual addition, the final activation, the order of the concatenation.")


def _shapes(entries) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(t.shape)) for name, t in entries]


def _ref_to_mine(my_keys, ref_keys) -> dict[str, str]:
    """The reference's layer → the student's layer that plays its part (by registration order)."""
    pairs: dict[str, str] = {}
    for name, ref_name in zip(my_keys, ref_keys, strict=True):
        pairs.setdefault(_owner(ref_name), _owner(name))
    return pairs


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

    @property
    def __code__(self):
        return self.builder.__code__  # looked up when first needed: the builder is an answer, imported late

    def __call__(self, *args, **kwargs):
        names = self.__code__.co_varnames[:self.__code__.co_argcount]
        call = describe_call(self.name, args, kwargs, names)
        constants = self.constants(*args, **kwargs) if callable(self.constants) else self.constants
        return ModuleExpectation(call, lambda: self.builder(*args, **kwargs), self.inputs(*args, **kwargs),
                                 seed=zlib.crc32(call.encode()) % 1000, order_hint=self.order_hint, constants=constants)
