"""Checking an exercise whose answer is a torch module — the one mechanism for every chapter that
has them (Chapter 8's architectures, Chapter 16's encoder block and ViT).

A module is checked against the reference in three steps, and the first difference is explained:

1. its parameters and buffers must have the reference's shapes. They are paired by name when the
   student used the reference's names (in any order), else in the order the module registers them;
   the message names the first entry that differs, and the totals;
2. with the *same* weights (random ones copied into both, entry by paired entry), both run on the
   same random input — in evaluation mode, then (unless the exercise says otherwise) in training
   mode with the same random seed, so dropout masks agree — and every layer's input and output is
   compared, in the order the reference runs them: the message names the layer;
3. the final outputs are compared. When they differ, the exercise's common mistakes (``variants``:
   each computed with the reference's weights) are tried, and a match is named.

The engine compares a result with ``got == expected``; the reference side returns a
:class:`ModuleExpectation` whose ``__eq__`` runs these checks and raises :class:`CheckFailure`.
When a notebook is graded the two halves run apart (see :class:`~course_lib.testing.core.Expectation`):
the student's kernel only records what the module computes, the grader compares.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import zlib

import numpy as np
import torch
from torch import nn

from .core import REFERENCE_PACKAGE, CheckFailure, Expectation, describe_call, forbidden

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

    def __init__(self, call: str, build, inputs, seed: int = 0, order_hint: str = "", constants=None,
                 variants=None, forbid: tuple[str, ...] = (), training: bool = True):
        self.call, self.build, self.inputs, self.seed = call, build, inputs, seed
        self.order_hint, self.constants = order_hint, constants or {}
        self.variants = variants or {}  # label → f(reference with the agreed weights, input): a common mistake
        self.forbid, self.training = tuple(forbid), training
        self._skeleton = None

    def __repr__(self) -> str:
        return f"the module {self.call} should return"

    def skeleton(self) -> tuple[list[tuple[str, tuple[int, ...]]], int, list[str]]:
        """The reference's registered tensors (name, shape), parameter count and class names (its own
        and its bases'), built on torch's meta device."""
        if self.build is None:
            return self._skeleton
        with torch.device("meta"):
            ref = self.build()
        return _shapes(_entries(ref)), sum(p.numel() for p in ref.parameters()), _type_names(type(ref))

    def __getstate__(self) -> dict:
        """What travels to the grader's judge process: the reference's skeleton as data, never its
        builder nor the variants, which run it (the judge process holding the student's code has no
        reference to call)."""
        state = dict(self.__dict__)
        state["_skeleton"], state["build"], state["variants"] = self.skeleton(), None, {}
        return state

    def _passes(self) -> list[tuple[tuple, bool]]:
        """(input shape, training?) of each forward pass: every shape in evaluation mode, then the
        first in training mode (batch statistics, dropout) unless the exercise has no training mode."""
        return [(tuple(s), False) for s in self.inputs] + ([(tuple(self.inputs[0]), True)] if self.training else [])

    # ------------------------------------------------------------------ 1. registered tensors
    def _match_entries(self, mine, theirs, n_got: int, n_ref: int, constants) -> None:
        """``mine``/``theirs``: (name, shape) in registration order; ``constants``: ref key → the
        student's initial values of the entry paired with it."""
        __tracebackhide__ = True
        totals = f"In total your module has {n_got:,} parameters, the reference {n_ref:,}."
        by_name = _by_name([k for k, _ in mine], [k for k, _ in theirs])
        if by_name:  # the reference's names, in any order: each entry's shape by its name
            shapes = dict(mine)
            for ref_name, ref_shape in theirs:
                if shapes[ref_name] != ref_shape:
                    raise CheckFailure(f"{self.call}: your `{ref_name}` has shape {shapes[ref_name]}, expected "
                                       f"{ref_shape}. {totals}")
        for i in range(0 if by_name else max(len(mine), len(theirs))):  # other names: by registration order
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
        pair = _pair([k for k, _ in mine], [k for k, _ in theirs])
        ref_keys = [k for k, _ in theirs]
        for ref_key, value in self.constants.items():
            name = mine[pair[ref_keys.index(ref_key)]][0]
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
        own_reference = isinstance(got, ModuleExpectation)  # the exercise's own reference, run as a submission
        if own_reference:
            got = got.build()
        if not isinstance(got, nn.Module):
            raise CheckFailure(f"{self.call} should return an nn.Module (an nn.Sequential or an instance of "
                               f"your class), got {type(got).__name__}. Did you forget a `return`?")
        theirs, ref_params, ref_types = self.skeleton()
        if REFERENCE_PACKAGE in self.forbid and ref_types[0].startswith(REFERENCE_PACKAGE + ".") \
                and ref_types[0] in _type_names(type(got)) and not own_reference:
            raise CheckFailure(f"{self.call} is (a subclass of) the course's reference, which is switched off for "
                               "this exercise: write your own class.")
        mine = _entries(got)
        is_float_mine = [t.is_floating_point() for _, t in mine]
        data = {"entries": [[name, list(t.shape), flt] for (name, t), flt in zip(mine, is_float_mine, strict=True)],
                "n_params": sum(p.numel() for p in got.parameters()),
                "fixed": {name: t.detach().clone() for (name, t), flt in zip(mine, is_float_mine, strict=True)
                          if not flt},
                "constants": {}, "passes": [], "threads": probe_threads()}
        ref_keys = [k for k, _ in theirs]
        try:
            pair = _pair([k for k, _ in mine], ref_keys)
            for ref_key in self.constants:
                i = ref_keys.index(ref_key)
                if i < len(pair) and pair[i] < len(mine):
                    data["constants"][ref_key] = mine[pair[i]][1].detach().clone()
            self._match_entries(_shapes(mine), theirs, data["n_params"], ref_params, data["constants"])
        except (CheckFailure, KeyError, IndexError):
            return data                          # the grader finds the same difference in the entries
        values = self._weights(theirs, [is_float_mine[j] for j in pair])
        with torch.no_grad():
            got.load_state_dict({mine[j][0]: v for j, v in zip(pair, values, strict=True) if v is not None},
                                strict=False)
        ref_to_mine = _ref_to_mine([k for k, _ in mine], ref_keys)
        for shape, training in self._passes():
            forbid = () if own_reference else self.forbid
            data["passes"].append(self._observe(got, ref_to_mine, shape, training, forbid))
        return data

    def _observe(self, got, ref_to_mine, shape, training, forbid=()) -> dict:
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
            with torch.no_grad(), torch.random.fork_rng(), \
                    forbidden(getattr(got.forward, "__func__", got.forward), forbid, self.call):
                torch.manual_seed(self.seed)                # the same dropout masks as the reference's
                out = got(self._input(shape))
        except CheckFailure:
            raise                                           # a forbidden module was used: said at once
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
        self._match_entries(mine, theirs, int(data["n_params"]), sum(p.numel() for p in ref.parameters()),
                            data["constants"])
        pair = _pair([k for k, _ in mine], [k for k, _ in theirs])
        is_float = [bool(data["entries"][j][2]) for j in pair]
        values = self._weights(theirs, is_float)
        ref.load_state_dict({ref_name: torch.as_tensor(data["fixed"][mine[j][0]]) if v is None else v
                             for (ref_name, _), j, v in zip(theirs, pair, values, strict=True)}, assign=True)
        ref_to_mine = _ref_to_mine([k for k, _ in mine], [k for k, _ in theirs])
        passes = data["passes"]
        if len(passes) != len(self._passes()):
            raise CheckFailure(f"{self.call}: {len(passes)} forward passes were recorded, "
                               f"expected {len(self._passes())}.")
        with same_threads(data.get("threads")):
            for (shape, training), observed in zip(self._passes(), passes, strict=True):
                try:
                    self._compare_forward(ref, ref_to_mine, shape, training, observed)
                except CheckFailure:
                    self._name_the_mistake(ref, shape, training, observed)
                    raise

    def _name_the_mistake(self, ref, shape, training, observed) -> None:
        """Raise a clearer failure when the student's output is that of one of the exercise's
        common mistakes (computed with the reference's modules and the same weights)."""
        __tracebackhide__ = True
        if not self.variants or training or observed.get("out") is None:
            return
        out = torch.as_tensor(np.asarray(observed["out"]))
        ref.eval()
        for label, variant in self.variants.items():
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(self.seed)
                try:
                    expected = variant(ref, self._input(shape))
                except Exception:  # a variant that does not apply to this configuration
                    continue
            if expected.shape == out.shape and _close(out, expected):
                raise CheckFailure(f"{self.call}: with the same weights your output is that of {label}.")

    # ------------------------------------------------------------------ 3. layer by layer
    def _compare_forward(self, ref, ref_to_mine, shape, training, observed):
        __tracebackhide__ = True
        ref_modules = dict(ref.named_modules())
        seen_ref: list[str] = []
        rec_ref: dict[str, tuple] = {}
        hooks = []
        for ref_name in ref_to_mine:
            def ref_hook(mod, args, out, ref_name=ref_name):
                if ref_name not in rec_ref and args and isinstance(args[0], torch.Tensor) \
                        and isinstance(out, torch.Tensor):  # (attention returns a tuple: its parts are compared)
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


def _type_names(cls: type) -> list[str]:
    """``module.QualName`` of a class and of its bases (compared by name, without importing them)."""
    return [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]


def _by_name(my_keys, ref_keys) -> bool:
    """Did the student register the reference's names (in whatever order)?"""
    return len(my_keys) == len(ref_keys) and set(my_keys) == set(ref_keys)


def _pair(my_keys, ref_keys) -> list[int]:
    """For each of the reference's entries, the index of the student's entry that plays its part:
    the one of the same name when the student used the reference's names, else the one in the same
    position of registration order."""
    if _by_name(my_keys, ref_keys):
        index = {k: i for i, k in enumerate(my_keys)}
        return [index[k] for k in ref_keys]
    return list(range(min(len(my_keys), len(ref_keys))))


def _ref_to_mine(my_keys, ref_keys) -> dict[str, str]:
    """The reference's layer → the student's layer that plays its part (see :func:`_pair`). The
    module itself (the owner of a top-level parameter such as ViT's ``cls_token``) is left out: its
    output is the final output, compared last."""
    pairs: dict[str, str] = {}
    for ref_index, my_index in enumerate(_pair(my_keys, ref_keys)):
        ref_owner = _owner(ref_keys[ref_index])
        if ref_owner:
            pairs.setdefault(ref_owner, _owner(my_keys[my_index]))
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
    """The reference of a module exercise: called like the student's function (or class), returns a
    :class:`ModuleExpectation`. ``__code__`` names the builder's arguments, so failure messages do too.

    ``inputs(*args, **kwargs)`` gives the input shapes of the forward passes; ``variants`` the
    exercise's common mistakes (see :class:`ModuleExpectation`); ``forbid`` what the student's
    forward may not use; ``training=False`` for exercises without a training mode."""

    def __init__(self, name, builder, inputs, order_hint="", constants=None, variants=None, forbid=(),
                 training=True):
        self.name, self.builder, self.inputs = name, builder, inputs
        self.order_hint, self.constants = order_hint, constants
        self.variants, self.forbid, self.training = variants, tuple(forbid), training

    @property
    def __code__(self):
        # looked up when first needed: the builder is an answer, imported late
        target = self.builder.resolve() if hasattr(type(self.builder), "resolve") else self.builder
        if not isinstance(target, type):
            return target.__code__
        names = [p.name for p in inspect.signature(target).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]  # a class: its __init__'s, without self
        namespace: dict = {}
        exec(f"def {target.__name__}({', '.join(names)}): pass", namespace)  # our own names, never input
        return namespace[target.__name__].__code__

    def __call__(self, *args, **kwargs):
        names = self.__code__.co_varnames[:self.__code__.co_argcount]
        call = describe_call(self.name, args, kwargs, names)
        constants = self.constants(*args, **kwargs) if callable(self.constants) else self.constants
        return ModuleExpectation(call, lambda: self.builder(*args, **kwargs), self.inputs(*args, **kwargs),
                                 seed=zlib.crc32(call.encode()) % 1000, order_hint=self.order_hint, constants=constants,
                                 variants=self.variants, forbid=self.forbid, training=self.training)
