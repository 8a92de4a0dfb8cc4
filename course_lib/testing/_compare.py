"""What a failed check says: the failures, one-line descriptions of calls and values, and the
comparison that explains the *first* difference (shape, dtype, which element, expected vs got)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["CheckFailure", "ForbiddenError", "compare", "describe_call"]


class CheckFailure(AssertionError):
    """A check found a difference; the message says what it is and how to find it."""


class ForbiddenError(CheckFailure):
    """The student's function used a module that is switched off for this exercise."""


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
