"""The engine behind every ``check_*`` helper and every hidden test.

An :class:`Exercise` pairs a reference function with cases. :func:`run_exercise` calls the
student's function on each case and compares it with the reference, and explains the *first*
difference in words a student can act on (shape, dtype, which element, expected vs got).

While the student's function runs, the modules that would give the answer away (``torch``,
``scipy``, the answers in ``course_lib.reference``) are switched off: importing or calling them
raises :class:`ForbiddenError`, except what the exercise declares it may use (``allow``). So a
hidden test earns nothing for a solution that just calls the reference.

The references are named, not imported (:func:`answers`): this module and the exercise modules
import without ``course_lib.reference``, which is loaded only when an expected value is computed.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_FORBIDDEN",
    "REFERENCE_MODULES",
    "REFERENCE_PACKAGE",
    "Answer",
    "Case",
    "CheckFailure",
    "Exercise",
    "Expectation",
    "Extra",
    "ForbiddenError",
    "Probed",
    "compare",
    "describe_call",
    "forbidden",
    "answers",
    "run_exercise",
]

#: The package of the answers: every reference implementation, and nothing the notebooks use as a tool.
REFERENCE_PACKAGE = "course_lib.reference"

#: Its modules, one per topic (a test checks that this is every module of the package).
REFERENCE_MODULES = tuple(f"{REFERENCE_PACKAGE}.{m}" for m in (
    "_utils", "activations", "architectures", "attention", "autoencoders", "compress", "conv", "detection",
    "detection_metrics", "gan", "interpret", "losses", "mlp", "norm", "optim", "pool", "rnn", "rnn_gates",
    "style"))

#: Modules switched off while a student's from-scratch function runs: the answers as a whole, and the
#: libraries that have them. An exercise gives back what it may use in its ``allow`` list (Chapter 3's
#: pooling may use Chapter 2's ``course_lib.reference.conv``).
DEFAULT_FORBIDDEN = ("torch", "scipy", "sklearn", "skimage", "cv2", REFERENCE_PACKAGE)


class Answer:
    """A reference named, not imported: ``Answer("conv", "conv2d")`` stands for
    ``course_lib.reference.conv.conv2d`` and imports it on first use (a call, or an attribute such as
    ``__code__``). So the check harness imports without the answers, which a judge process lacks.

    Pickled by name only, never with the answer it resolved."""

    def __init__(self, module: str, name: str) -> None:
        self.__dict__.update(_module=module, _name=name, _target=None)

    def resolve(self) -> Any:
        target = self.__dict__.get("_target")
        if target is None:
            module = importlib.import_module(f"{REFERENCE_PACKAGE}.{self.__dict__['_module']}")
            target = getattr(module, self.__dict__["_name"])
            self.__dict__["_target"] = target
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if "_module" not in self.__dict__ or attr in ("__getstate__", "__setstate__", "__reduce_ex__"):
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __getstate__(self) -> dict:
        return {"_module": self.__dict__["_module"], "_name": self.__dict__["_name"], "_target": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<answer {REFERENCE_PACKAGE}.{self.__dict__['_module']}.{self.__dict__['_name']}>"


class _Answers:
    """``answers("conv").conv2d`` is ``Answer("conv", "conv2d")`` (one per name)."""

    def __init__(self, module: str) -> None:
        self.__dict__.update(_module=module, _cache={})

    def __getattr__(self, name: str) -> Answer:
        if name.startswith("__") or "_cache" not in self.__dict__:
            raise AttributeError(name)
        cache = self.__dict__["_cache"]
        if name not in cache:
            cache[name] = Answer(self.__dict__["_module"], name)
        return cache[name]


def answers(module: str) -> _Answers:
    """The answers of ``course_lib.reference.<module>`` by name, each imported when first used:
    ``conv = answers("conv")`` then ``Exercise("conv2d", conv.conv2d, ...)``."""
    return _Answers(module)


class CheckFailure(AssertionError):
    """A check found a difference; the message says what it is and how to find it."""


class ForbiddenError(CheckFailure):
    """The student's function used a module that is switched off for this exercise."""


@dataclass
class Case:
    """One call of the function under test.

    Attributes:
        args: positional arguments (arrays are copied before each call).
        kwargs: keyword arguments.
        raises: an exception type the call must raise (then no output is compared).
        note: what this case is about, shown when it fails ("stride 2 with padding").
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    raises: type[BaseException] | None = None
    note: str = ""


@dataclass
class Exercise:
    """A graded exercise: the reference, its visible and hidden cases, and how to compare.

    Attributes:
        name: the function name the student implements.
        reference: the trusted implementation.
        visible: returns the fixed cases that ``check_<name>`` runs.
        hidden: ``hidden(rng)`` returns randomised cases for the hidden tests.
        rtol, atol: tolerances for floating-point outputs.
        output_names: names of the parts of a tuple output, e.g. ``("dx", "dw", "db")``.
        hint: one line added to shape failures (e.g. the output-size formula).
        forbid: modules switched off while the student's function runs (with their submodules).
        allow: modules under ``forbid`` the student's function may use all the same (the one declared
            list of what an exercise may import back, e.g. an earlier chapter's answers).
        extra: optional :class:`Extra` hidden check (e.g. speed against the loops).
    """

    name: str
    reference: Callable
    visible: Callable[[], list[Case]]
    hidden: Callable[[np.random.Generator], list[Case]]
    rtol: float = 1e-6
    atol: float = 1e-8
    output_names: Sequence[str] = ()
    hint: str = ""
    forbid: Sequence[str] = DEFAULT_FORBIDDEN
    allow: Sequence[str] = ()
    extra: Extra | None = None


class Expectation:
    """What the reference returns when the answer is not plain data (a torch module, a tensor whose
    graph matters), split in two so that grading never trusts the student's kernel:

    - :meth:`probe` runs in the student's kernel: it exercises the answer (loads agreed weights, runs
      it on agreed inputs, takes gradients) and returns only *plain data* — arrays, numbers, strings,
      None, and lists, tuples and str-keyed dicts of those. It may raise :class:`CheckFailure` for a
      difference it sees on its own (a missing ``return``): a failure can only cost points.
    - :meth:`verify` runs in the grader's own process on that data: it recomputes the reference and
      raises :class:`CheckFailure` explaining the first difference.

    In a notebook ``got == expectation`` does both, so a check cell reads like any other.
    """

    __hash__ = None

    def probe(self, got: Any) -> Any:
        raise NotImplementedError

    def verify(self, data: Any) -> None:
        raise NotImplementedError

    def __eq__(self, got: Any) -> bool:
        __tracebackhide__ = True
        self.verify(got.data if isinstance(got, Probed) else self.probe(got))
        return True


class Probed:
    """What an :class:`Expectation`'s probe measured of a student's answer in the grader's judge
    process (:mod:`autograder.judge`); comparing it with the expectation verifies those data."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __repr__(self) -> str:
        return "<measurements of your answer>"


@dataclass(frozen=True)
class Extra:
    """A hidden check beyond the cases (speed, statistics, a whole optimisation run), split like
    :class:`Expectation`: ``probe(exercise, fn)`` runs the student's function in the kernel and
    returns plain data; ``verify(exercise, data)`` judges that data in the grader's process."""

    probe: Callable[[Exercise, Callable], Any]
    verify: Callable[[Exercise, Any], None]

    def __call__(self, ex: Exercise, fn: Callable) -> None:
        __tracebackhide__ = True
        self.verify(ex, self.probe(ex, fn))


# --------------------------------------------------------------------------- descriptions

def _describe_value(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array {value.dtype} {tuple(value.shape)}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_describe_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"{type(value).__name__} of length {len(value)}"
    if type(value).__module__.startswith("torch"):
        return f"torch {type(value).__name__}"
    return repr(value)


def describe_call(name: str, args: Sequence = (), kwargs: dict | None = None,
                  arg_names: Sequence[str] = ()) -> str:
    """``conv2d(x=array float64 (2, 3, 5, 5), weight=..., stride=2)`` — a call in one line."""
    parts = []
    for i, value in enumerate(args):
        label = f"{arg_names[i]}=" if i < len(arg_names) else ""
        parts.append(label + _describe_value(value))
    parts += [f"{k}={_describe_value(v)}" for k, v in (kwargs or {}).items()]
    return f"{name}({', '.join(parts)})"


def _arg_names(fn: Callable) -> tuple[str, ...]:
    code = getattr(fn, "__code__", None)
    return tuple(code.co_varnames[:code.co_argcount]) if code else ()


# --------------------------------------------------------------------------- comparison

def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, (float, np.floating)) else repr(v)


def compare(got: Any, expected: Any, what: str = "output", rtol: float = 1e-6, atol: float = 1e-8,
            hint: str = "") -> None:
    """Raise :class:`CheckFailure` explaining the first way ``got`` differs from ``expected``.

    Handles numpy arrays (type, shape, dtype, NaN, values with the first wrong index), tuples
    (compared part by part), dicts (key by key), ``None`` and scalars.
    """
    __tracebackhide__ = True  # IPython shows the student the message, not our frames
    if expected is None:
        if got is not None:
            raise CheckFailure(f"{what} should be None, but got {_describe_value(got)}.")
        return
    if got is None:
        raise CheckFailure(f"{what} is None. Did you forget a `return` statement?")
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            raise CheckFailure(f"{what} should be a dict with keys {list(expected)}, got {_describe_value(got)}.")
        missing = [k for k in expected if k not in got]
        if missing:
            raise CheckFailure(f"{what} has no entry for {missing}: it needs the keys {list(expected)}, "
                               f"got {list(got)}.")
        head, sep, tail = what.partition(" of ")  # "grads of f(...)" → "grads['W1'] of f(...)"
        for key, value in expected.items():
            compare(got[key], value, f"{head}[{key!r}]{sep}{tail}", rtol, atol, hint)
        return
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise CheckFailure(f"{what} should be a tuple of {len(expected)} values, "
                               f"got {_describe_value(got)}.")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            compare(g, e, what if len(expected) == 1 else f"{what}[{i}]", rtol, atol, hint)
        return
    if isinstance(expected, np.ndarray):
        _compare_arrays(got, expected, what, rtol, atol, hint)
        return
    if isinstance(expected, (bool, np.bool_)):
        ok = isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected)
    elif isinstance(expected, (int, np.integer)):
        ok = isinstance(got, (int, np.integer)) and not isinstance(got, bool) and int(got) == int(expected)
        if not ok and isinstance(got, (float, np.floating)) and float(got) == int(expected):
            raise CheckFailure(f"{what} is the float {got!r}; it should be the int {expected!r} "
                               "(use // for integer division).")
    elif isinstance(expected, (float, np.floating)):
        ok = isinstance(got, (int, float, np.integer, np.floating)) and bool(
            np.isclose(got, expected, rtol=rtol, atol=atol))
    else:
        ok = got == expected
    if not ok:
        raise CheckFailure(f"{what} is {_fmt(got)}, expected {_fmt(expected)}.")


def _compare_arrays(got: Any, expected: np.ndarray, what: str, rtol: float, atol: float,
                    hint: str) -> None:
    __tracebackhide__ = True
    if type(got).__module__.startswith("torch"):
        raise CheckFailure(f"{what} is a torch {type(got).__name__}; return a numpy array.")
    if not isinstance(got, np.ndarray):
        if np.isscalar(got) and expected.ndim == 0:
            got = np.asarray(got)
        else:
            raise CheckFailure(f"{what} should be a numpy array of shape {expected.shape}, "
                               f"got {_describe_value(got)}.")
    if got.shape != expected.shape:
        msg = f"{what} has shape {got.shape}, expected {expected.shape}."
        raise CheckFailure(f"{msg} {hint}".strip())
    if got.dtype.kind != expected.dtype.kind and not (got.dtype.kind in "iu" and expected.dtype.kind in "iu"):
        raise CheckFailure(f"{what} has dtype {got.dtype}, expected {expected.dtype}. "
                           + ("Create the output with the input's dtype, e.g. "
                              "np.zeros(shape, dtype=x.dtype)." if expected.dtype.kind == "f" else ""))
    if expected.dtype.kind == "f" and got.dtype.itemsize < expected.dtype.itemsize:
        raise CheckFailure(f"{what} has dtype {got.dtype} but the inputs were {expected.dtype}: "
                           "keep the input's precision.")
    if expected.dtype.kind in "fc":
        nan_got, nan_exp = np.isnan(got), np.isnan(expected)
        if (nan_got & ~nan_exp).any():
            idx = tuple(int(i) for i in np.argwhere(nan_got & ~nan_exp)[0])
            raise CheckFailure(f"{what} contains NaN at index {idx} (expected {_fmt(expected[idx])}).")
        wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        wrong = got != expected
    if wrong.any():
        idx = tuple(int(i) for i in np.argwhere(wrong)[0])
        n, total = int(wrong.sum()), wrong.size
        msg = (f"{what}: {n} of {total} values are wrong. First wrong value at index {idx}: "
               f"expected {_fmt(expected[idx])}, got {_fmt(got[idx])}.")
        if expected.dtype.kind == "f":
            diff = np.abs(got.astype(np.float64) - expected)
            msg += f" Largest difference {np.nanmax(diff):.3g} (tolerance {atol:g} + {rtol:g}·|expected|)."
        raise CheckFailure(msg)


# --------------------------------------------------------------------------- forbidding

class _Blocked(types.ModuleType):
    """Stands in for a switched-off module or object: any use raises ForbiddenError."""

    def __init__(self, label: str, exercise: str):
        super().__init__(label)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_exercise", exercise)

    def _refuse(self, *_: Any, **__: Any):
        label, exercise = object.__getattribute__(self, "_label"), object.__getattribute__(self, "_exercise")
        raise ForbiddenError(
            f"{exercise} used `{label}`. This exercise is about implementing it yourself with numpy: "
            f"`{label}` is switched off while {exercise} is checked.")

    def __getattr__(self, _name: str):
        self._refuse()

    __call__ = _refuse


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_forbidden(value: Any, prefixes: Sequence[str], allow: Sequence[str] = ()) -> str | None:
    """Name of the forbidden module that ``value`` is or comes from (and is not allowed), else None."""
    if isinstance(value, _Blocked):
        return None
    if isinstance(value, types.ModuleType):
        mod = value.__name__
    else:
        mod = getattr(value, "__module__", None)
        if not isinstance(mod, str):
            return None
    if _under(mod, allow):
        return None
    for p in prefixes:
        if mod == p or mod.startswith(p + "."):
            return mod if isinstance(value, types.ModuleType) else f"{mod}.{getattr(value, '__name__', '?')}"
    return None


_LOADED_CACHE: dict[tuple[str, ...], tuple[int, list[str]]] = {}


def _loaded_under(prefixes: tuple[str, ...]) -> list[str]:
    """Names in ``sys.modules`` equal to or below ``prefixes``; cached while no module is imported
    (scanning ~1,000 modules per checked case cost 10-25 ms)."""
    size, names = _LOADED_CACHE.get(prefixes, (-1, []))
    if size != len(sys.modules):
        names = [n for n in list(sys.modules) if any(n == p or n.startswith(p + ".") for p in prefixes)]
        _LOADED_CACHE[prefixes] = (len(sys.modules), names)
    return [n for n in names if n in sys.modules]


def _closure_cells(fn: Callable) -> list[Any]:
    """Closure cells of ``fn`` and of the functions it closes over (one level deep is enough for
    the usual ``make()`` factory)."""
    cells = list(getattr(fn, "__closure__", None) or ())
    for cell in list(cells):
        try:
            inner = cell.cell_contents
        except ValueError:
            continue
        if isinstance(inner, types.FunctionType):
            cells += list(inner.__closure__ or ())
    return cells


@contextlib.contextmanager
def forbidden(fn: Callable, prefixes: Sequence[str], exercise: str, allow: Sequence[str] = ()) -> Iterator[None]:
    """Switch off ``prefixes`` (module names) but not ``allow`` for the duration of a call of ``fn``.

    Replaces, and restores afterwards: the entries of ``sys.modules`` (so ``import torch`` inside
    the function gets a blocker), names in ``fn``'s global namespace, closure and defaults that are
    or come from those modules (``F = torch.nn.functional``, ``from course_lib.reference.pool import
    max_pool2d``), and the attributes that lead to them from their parent packages
    (``course_lib.reference``, or only ``course_lib.reference.pool`` where a sibling is allowed).
    This stops honest shortcuts, not a determined attacker: grading isolation is the grader's job.
    A function the grader calls in its judge process (``remote_judged``) is left alone: there the
    modules are absent, and the grader's own modules must stay as they are.
    """
    if getattr(fn, "remote_judged", False) is True:
        yield
        return
    saved_modules: dict[str, Any] = {}
    saved_globals: dict[str, Any] = {}
    saved_attrs: list[tuple[Any, str, Any]] = []
    saved_cells: list[tuple[Any, Any]] = []
    saved_defaults = saved_kwdefaults = None
    namespaces = [getattr(fn, "__globals__", None)]
    namespaces = [ns for ns in namespaces if isinstance(ns, dict)]
    try:
        allow = tuple(allow)
        # an allowed module's parent packages stay: ``import course_lib.reference.conv`` goes through them
        keep = {a.rsplit(".", i)[0] for a in allow for i in range(1, a.count(".") + 1)}
        blocked = [n for n in _loaded_under(tuple(prefixes)) if not _under(n, allow) and n not in keep]
        for name in blocked:
            saved_modules[name] = sys.modules[name]
            sys.modules[name] = _Blocked(name, exercise)
        for p in dict.fromkeys([*prefixes, *blocked]):
            parent_name, _, child = p.rpartition(".")
            if p in keep or _under(p, allow) or (p not in prefixes and parent_name not in keep):
                continue  # kept, or hidden already by its blocked parent
            parent = saved_modules.get(parent_name) or sys.modules.get(parent_name)
            if parent_name and parent is not None and hasattr(parent, child):
                saved_attrs.append((parent, child, getattr(parent, child)))
                setattr(parent, child, _Blocked(p, exercise))
        for ns in namespaces:
            for key, value in list(ns.items()):
                label = _is_forbidden(value, prefixes, allow)
                if label:
                    saved_globals[key] = value
                    ns[key] = _Blocked(label, exercise)
        for cell in _closure_cells(fn):
            try:
                label = _is_forbidden(cell.cell_contents, prefixes, allow)
            except ValueError:  # an empty cell
                continue
            if label:
                saved_cells.append((cell, cell.cell_contents))
                cell.cell_contents = _Blocked(label, exercise)
        defaults = getattr(fn, "__defaults__", None)
        if defaults:
            saved_defaults = defaults
            fn.__defaults__ = tuple(_Blocked(lb, exercise) if (lb := _is_forbidden(d, prefixes, allow)) else d
                                    for d in defaults)
        kwdefaults = getattr(fn, "__kwdefaults__", None)
        if kwdefaults:
            saved_kwdefaults = dict(kwdefaults)
            fn.__kwdefaults__ = {k: _Blocked(lb, exercise) if (lb := _is_forbidden(v, prefixes, allow)) else v
                                 for k, v in kwdefaults.items()}
        yield
    finally:
        if saved_defaults is not None:
            fn.__defaults__ = saved_defaults
        if saved_kwdefaults is not None:
            fn.__kwdefaults__ = saved_kwdefaults
        for cell, value in saved_cells:
            cell.cell_contents = value
        for ns in namespaces:
            ns.update(saved_globals)
        for parent, child, value in reversed(saved_attrs):
            setattr(parent, child, value)
        sys.modules.update(saved_modules)


# --------------------------------------------------------------------------- running cases

def _copy_args(case: Case) -> tuple[tuple, dict]:
    return copy.deepcopy(case.args), copy.deepcopy(case.kwargs)


def _call_student(ex: Exercise, fn: Callable, case: Case, call: str) -> Any:
    __tracebackhide__ = True
    source = _is_forbidden(fn, ex.forbid, ex.allow)
    if source:
        raise ForbiddenError(f"{ex.name} is `{source}` itself, which is switched off for this exercise: "
                             "write your own function.")
    args, kwargs = _copy_args(case)
    try:
        with forbidden(fn, ex.forbid, ex.name, ex.allow):
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{ex.name} is not implemented yet: replace `raise NotImplementedError()` "
                           "with your code, run that cell, then run this check again.") from None
    except CheckFailure:
        raise
    except Exception as err:
        if case.raises is not None and isinstance(err, case.raises):
            raise
        raise CheckFailure(f"{call} raised {type(err).__name__}: {err}") from err
    finally:
        _check_inputs_unchanged(ex, case, args, kwargs, call)


def _check_inputs_unchanged(ex: Exercise, case: Case, args: tuple, kwargs: dict, call: str) -> None:
    __tracebackhide__ = True
    for label, before, after in ([(f"argument {i + 1}", b, a) for i, (b, a) in enumerate(zip(
            case.args, args, strict=True))] + [(k, case.kwargs[k], kwargs[k]) for k in case.kwargs]):
        if isinstance(before, np.ndarray) and isinstance(after, np.ndarray) and not np.array_equal(
                before, after, equal_nan=True):
            raise CheckFailure(f"{call} changed its input {label} in place. Work on a copy "
                               "(e.g. x.copy()) or write the result into a new array.")


def _run_case(ex: Exercise, fn: Callable, case: Case, names: Sequence[str]) -> None:
    __tracebackhide__ = True
    call = describe_call(ex.name, case.args, case.kwargs, names)
    about = f" ({case.note})" if case.note else ""
    if case.raises is not None:
        try:
            got = _call_student(ex, fn, case, call)
        except case.raises:
            return
        raise CheckFailure(f"{call}{about} should raise {case.raises.__name__}, "
                           f"but returned {_describe_value(got)}.")
    args, kwargs = _copy_args(case)
    expected = ex.reference(*args, **kwargs)
    got = _call_student(ex, fn, case, call)
    _expect_output(ex, expected, got, call, about)


def _expect_output(ex: Exercise, expected: Any, got: Any, call: str, about: str) -> None:
    """Compare one case's output with the reference's, part by part for named tuple outputs."""
    __tracebackhide__ = True
    if isinstance(expected, tuple) and ex.output_names:
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise CheckFailure(f"{call}{about} should return a tuple ({', '.join(ex.output_names)}), "
                               f"got {_describe_value(got)}.")
        for part, g, e in zip(ex.output_names, got, expected, strict=True):
            _compare_in_call(g, e, f"{part} of {call}{about}", ex)
    else:
        _compare_in_call(got, expected, f"the result of {call}{about}", ex)


def _compare_in_call(got: Any, expected: Any, what: str, ex: Exercise) -> None:
    __tracebackhide__ = True
    compare(got, expected, what=what, rtol=ex.rtol, atol=ex.atol, hint=ex.hint)


def run_exercise(ex: Exercise, fn: Callable, *, hidden: bool = False, seed: int = 0,
                 quiet: bool = False) -> int:
    """Run ``fn`` on the exercise's visible (or hidden, randomised) cases; return how many passed.

    Raises:
        CheckFailure: at the first failing case, with an explanation.
    """
    __tracebackhide__ = True  # IPython shows the student the message, not our frames
    if not callable(fn):
        raise CheckFailure(f"Pass your function itself, e.g. check_{ex.name}({ex.name}); "
                           f"got {_describe_value(fn)}.")
    cases = ex.hidden(np.random.default_rng(seed)) if hidden else ex.visible()
    names = _arg_names(ex.reference)
    start = time.perf_counter()
    for case in cases:
        _run_case(ex, fn, case, names)
    if hidden and ex.extra is not None:
        ex.extra(ex, fn)
    if not quiet:
        kind = "hidden" if hidden else "visible"
        print(f"✔ {ex.name}: all {len(cases)} {kind} checks passed "
              f"({time.perf_counter() - start:.2f} s).")
    return len(cases)
