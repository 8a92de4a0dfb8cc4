"""Judging outside the student's kernel.

While a notebook is graded, anything in the student's kernel can be changed by the student's own
code — ``np.allclose``, ``course_lib.testing.compare``, ``hidden_check`` itself, the reference.
So in grading mode (the grader sets ``COURSE_JUDGE_RECORD`` to a directory) the check cells do not
judge: :func:`record` calls the student's function on the cases and *saves what it returned* (numpy
``.npz``, no pickle) together with what it raised. The grader then runs :func:`judge` in its own
process, where it regenerates the same cases, computes the reference and compares. A record that
is missing, malformed or for other cases earns nothing.

Only data crosses from the kernel to the judge: arrays, numbers, strings, None, and tuples, lists
and dicts of those. Where the answer itself is not data (a torch module in Chapters 8 and 16, the
WGAN-GP penalty's graph in Chapter 13), the reference returns an
:class:`~course_lib.testing.core.Expectation`: the kernel records what its ``probe`` measures of the
student's answer (layer outputs with agreed weights, gradients), and the judge calls its ``verify``.
Hidden :class:`~course_lib.testing.core.Extra` checks (speed, statistics, whole optimiser runs) are
split the same way. What the kernel *reports as a failure* is taken as it is: it can only cost points.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .core import (
    CheckFailure,
    Exercise,
    Expectation,
    _arg_names,
    _call_student,
    _copy_args,
    _describe_value,
    _expect_output,
    describe_call,
)

__all__ = ["RECORD_ENV", "judge", "record", "record_path", "recording_dir"]

#: Environment variable with the directory the grading kernel writes its records to.
RECORD_ENV = "COURSE_JUDGE_RECORD"
_DIR: Path | None = None


def recording_dir() -> Path | None:
    """The record directory in grading mode (fixed at first use, so a later ``os.chdir`` cannot move it)."""
    global _DIR
    if _DIR is None and os.environ.get(RECORD_ENV):
        _DIR = Path(os.environ[RECORD_ENV]).absolute()
    return _DIR


def record_path(directory: Path, name: str, hidden: bool, seed: int) -> Path:
    return Path(directory) / f"{name}.{'hidden' if hidden else 'visible'}.{int(seed) if hidden else 0}.npz"


class _Unreadable(Exception):
    pass


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return {"v": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"int" if isinstance(value, int) else "float": value if np.isfinite(value) else repr(value)}
    if isinstance(value, (np.ndarray, np.generic)) or type(value).__module__.startswith("torch"):
        if type(value).__module__.startswith("torch"):
            if not hasattr(value, "detach"):
                raise _Unreadable(type(value).__name__)
            value = value.detach().cpu().numpy()
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise _Unreadable("array of Python objects")
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return {"array": key, "scalar": isinstance(value, np.generic)}
    if isinstance(value, (tuple, list)):
        return {type(value).__name__: [_encode(v, arrays) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, arrays) for k, v in value.items()}}
    raise _Unreadable(type(value).__name__)


def _decode(node: Any, arrays: Any) -> Any:
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise _Unreadable("malformed record")
    if "v" in node:
        return node["v"]
    if "int" in node:
        return int(node["int"])
    if "float" in node:
        return float(node["float"])
    if "array" in node:
        arr = arrays[node["array"]]
        return arr[()] if node.get("scalar") else arr
    if "tuple" in node:
        return tuple(_decode(v, arrays) for v in node["tuple"])
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    if "dict" in node:
        return {k: _decode(v, arrays) for k, v in node["dict"].items()}
    raise _Unreadable("malformed record")


def _probes(ex: Exercise) -> bool:
    """Whether the exercise's reference returns :class:`Expectation` objects."""
    case = next((c for c in ex.visible() if c.raises is None), None)
    if case is None:
        return False
    args, kwargs = _copy_args(case)
    return isinstance(ex.reference(*args, **kwargs), Expectation)


def _failure(err: Exception) -> dict:
    """A kernel-side exception, by class names (for Case.raises) and message."""
    return {"raised": [c.__name__ for c in type(err).__mro__], "message": str(err)[:2000]}


def record(ex: Exercise, fn, *, hidden: bool = False, seed: int = 0) -> Path:
    """Kernel side: run ``fn`` on the cases and save its outputs and exceptions (no comparison)."""
    cases = ex.hidden(np.random.default_rng(seed)) if hidden else ex.visible()
    names = _arg_names(ex.reference)
    entries, arrays = [], {}
    probes = bool(cases) and callable(fn) and _probes(ex)
    for case in cases:
        call = describe_call(ex.name, case.args, case.kwargs, names)
        try:
            expectation = None
            if probes and case.raises is None:
                args, kwargs = _copy_args(case)
                expectation = ex.reference(*args, **kwargs)
            got = _call_student(ex, fn, case, call) if callable(fn) else None
            if isinstance(expectation, Expectation):
                entries.append({"probe": _encode(expectation.probe(got), arrays)})
            else:
                entries.append({"out": _encode(got, arrays)})
        except _Unreadable as what:
            entries.append({"unreadable": str(what)})
        except Exception as err:
            entries.append(_failure(err))
    extra = extra_probe = None
    if hidden and ex.extra is not None and callable(fn):
        try:
            extra_probe = _encode(ex.extra.probe(ex, fn), arrays)
        except _Unreadable as what:
            extra = f"{ex.name}: the extra hidden check got a {what} where it expected numbers or arrays"
        except Exception as err:
            extra = (str(err) if isinstance(err, CheckFailure) else f"{type(err).__name__}: {err}")[:2000]
    meta = {"exercise": ex.name, "hidden": hidden, "seed": seed, "callable": callable(fn), "cases": entries,
            "extra": extra, "extra_probe": extra_probe}
    path = record_path(recording_dir() or Path("."), ex.name, hidden, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    return path


def _verify(call: str, check, *args) -> None:
    """Run a verify step on recorded data: a CheckFailure is the verdict; anything else means the
    record does not fit what the check expects (the grader never crashes on a forged record)."""
    try:
        check(*args)
    except CheckFailure:
        raise
    except Exception as err:
        raise CheckFailure(f"{call}: the recorded outputs do not fit this check "
                           f"({type(err).__name__}: {str(err)[:300]})") from None


def judge(ex: Exercise, directory: Path, *, hidden: bool = False, seed: int = 0) -> str | None:
    """Grader side: None if the recorded outputs match the reference on every case, else the reason."""
    path = record_path(directory, ex.name, hidden, seed)
    kind = "hidden" if hidden else "visible"
    if not path.exists():
        return f"{ex.name}: no outputs were recorded for the {kind} checks (the check cell did not run to the end)"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
        entries = meta["cases"]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        return f"{ex.name}: the recorded outputs cannot be read ({type(err).__name__})"
    if not meta.get("callable", False):
        return f"Pass your function itself, e.g. check_{ex.name}({ex.name})."
    cases = ex.hidden(np.random.default_rng(seed)) if hidden else ex.visible()
    if len(entries) != len(cases):
        return f"{ex.name}: {len(entries)} outputs were recorded for {len(cases)} {kind} cases"
    names = _arg_names(ex.reference)
    try:
        for case, entry in zip(cases, entries, strict=True):
            call = describe_call(ex.name, case.args, case.kwargs, names)
            about = f" ({case.note})" if case.note else ""
            if "raised" in entry:
                if case.raises is not None and case.raises.__name__ in entry["raised"]:
                    continue
                message = entry.get("message", "")
                raise CheckFailure(message if entry["raised"][0] in ("CheckFailure", "ForbiddenError")
                                   else f"{call}{about} raised {entry['raised'][0]}: {message}")
            if "unreadable" in entry:
                raise CheckFailure(f"{call}{about} returned a {entry['unreadable']}; expected numbers or arrays")
            if case.raises is not None:
                got = _decode(entry["out"], arrays) if "out" in entry else "a value"
                raise CheckFailure(f"{call}{about} should raise {case.raises.__name__}, "
                                   f"but returned {_describe_value(got)}.")
            args, kwargs = _copy_args(case)
            expected = ex.reference(*args, **kwargs)
            if isinstance(expected, Expectation):
                if "probe" not in entry:
                    raise CheckFailure(f"{call}{about}: no measurements of your answer were recorded")
                _verify(call, expected.verify, _decode(entry["probe"], arrays))
            else:
                _expect_output(ex, expected, _decode(entry["out"], arrays), call, about)
    except CheckFailure as failure:
        return str(failure)
    except (_Unreadable, KeyError, TypeError, IndexError) as err:
        return f"{ex.name}: the recorded outputs are malformed ({type(err).__name__})"
    if hidden and ex.extra is not None:
        if meta.get("extra"):
            return str(meta["extra"])
        if meta.get("extra_probe") is None:
            return f"{ex.name}: nothing was recorded for the extra hidden check"
        try:
            _verify(ex.name, ex.extra.verify, ex, _decode(meta["extra_probe"], arrays))
        except CheckFailure as failure:
            return str(failure)
        except (_Unreadable, KeyError, TypeError, IndexError) as err:
            return f"{ex.name}: the recorded outputs are malformed ({type(err).__name__})"
    return None
