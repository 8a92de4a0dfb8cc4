"""The judge process: runs a student's code and calls their functions on what the grader sends.

Started by :class:`autograder.judge.JudgeProcess` as ``python -I -m autograder.judge_worker``, in a
sandbox (:mod:`autograder.jail`) where the course's reference implementations — and torch, scipy or
sklearn where an exercise forbids them — do not exist. It holds only the notebook's code: the
instructor's setup cells (from the source notebook) and the student's solution and added cells.

Everything in this process is the student's: it judges nothing. It speaks :mod:`autograder.wire`
frames on the pipes it was started with (moved off fds 0 and 1 first, so that ``print`` cannot
corrupt them) and answers three requests:

- ``cells``: run these cells, statement by statement; an import that fails (the module is absent
  here) skips that statement only; other errors end the cell. Replies with each cell's errors.
- ``call``: call the function ``name`` of the notebook on the arguments sent; reply with its output
  (or the exception it raised) and any input array it changed in place.
- ``probe``: the same call, then the grader's :class:`~course_lib.testing.core.Expectation` (sent
  pickled: grader → judge only) measures the answer; reply with the measurements.
"""

from __future__ import annotations

import ast
import io
import os
import sys
import traceback
import types
from typing import Any

import numpy as np

from .wire import decode, encode, read_frame, write_frame

_MESSAGE = 2000
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


#: Imported only when first used: a notebook's setup imports pyplot for its plots, which the judge
#: never draws — 0.6 s of CPU per judged notebook (about half of the judge's).
_LAZY = frozenset({"matplotlib", "matplotlib.pyplot"})


class _LazyModule(types.ModuleType):
    """Stands for a module of :data:`_LAZY` until an attribute is used; then imports it."""

    def __getattr__(self, attr: str) -> Any:
        import importlib

        module = importlib.import_module(self.__name__)
        try:
            return getattr(module, attr)
        except AttributeError:
            return importlib.import_module(f"{self.__name__}.{attr}")  # matplotlib.pyplot, used as an attribute


def _lazy_import(node: ast.stmt, namespace: dict) -> bool:
    """Bind ``import matplotlib.pyplot as plt`` (and the like) lazily; False if ``node`` is another statement."""
    if not isinstance(node, ast.Import) or not all(a.name in _LAZY for a in node.names):
        return False
    for alias in node.names:
        if alias.asname:
            namespace[alias.asname] = sys.modules.get(alias.name) or _LazyModule(alias.name)
        else:
            top = alias.name.split(".")[0]
            namespace[top] = sys.modules.get(top) or _LazyModule(top)
    return True


class _NoIPython:
    """``get_ipython()`` for magics in notebook cells: they are not run by the grader."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


class _Sink(io.TextIOBase):
    """Where the student's prints go while judged: nowhere."""

    def write(self, s: str) -> int:
        return len(s)

    def writable(self) -> bool:
        return True


def _describe(err: BaseException) -> dict:
    return {"raised": [c.__name__ for c in type(err).__mro__], "message": str(err)[:_MESSAGE]}


class Worker:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__,
                                          "get_ipython": _NoIPython, "display": lambda *a, **k: None}
        self.skipped: dict[str, str] = {}  # name an import would have bound → the module that is absent

    # ------------------------------------------------------------------ cells
    def _skip(self, node: ast.stmt, err: ImportError) -> None:
        module = err.name or "?"
        for alias in getattr(node, "names", []):
            bound = alias.asname or alias.name.split(".")[0]
            self.skipped[bound] = module

    def run_cell(self, label: str, source: str, kind: str = "added") -> list[str]:
        """Run one cell; returns its errors ("ModuleNotFoundError: No module named 'torch'", ...).

        An import of an absent module skips that statement. Any other error ends a student's cell,
        as in Python; an instructor's setup cell goes on (its later definitions do not depend on
        what failed: a plot, a torch seed)."""
        try:
            tree = ast.parse(source, filename=f"<{label}>")
        except SyntaxError as err:
            return [f"SyntaxError: {err.msg} (line {err.lineno})"]
        errors = []
        if kind == "helpers":  # the instructor's own cell: its definitions, not its experiments
            tree.body = [n for n in tree.body if isinstance(n, _DEFINITIONS) or (
                isinstance(n, (ast.Assign, ast.AnnAssign)) and all(
                    isinstance(t, ast.Name) and t.id.isupper()
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])))]
        for node in tree.body:
            if _lazy_import(node, self.namespace):
                continue
            code = compile(ast.Module([node], type_ignores=[]), f"<{label}>", "exec")
            try:
                exec(code, self.namespace)
            except ImportError as err:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    self._skip(node, err)
                    errors.append(f"{type(err).__name__}: {err}"[:_MESSAGE])
                    continue
                errors.append(f"{type(err).__name__}: {err}"[:_MESSAGE])
                break
            except BaseException as err:  # noqa: BLE001 - the student's code may raise anything, SystemExit too
                errors.append(f"{type(err).__name__}: {err}"[:_MESSAGE])
                if kind not in ("setup", "helpers"):
                    break
        return errors

    # ------------------------------------------------------------------ calls
    def call(self, message: dict, arrays: list[np.ndarray]) -> tuple[dict, list[np.ndarray]]:
        fn = self.namespace.get(message["name"])
        if fn is None:
            return {"missing": True}, []
        if not callable(fn):
            return {"notcallable": type(fn).__name__}, []
        expectation = None
        if message.get("packed"):  # the grader's pickle (never one of ours read back up)
            try:
                args, kwargs, *rest = decode(message["args"], arrays, unpickle=True)
            except Exception as err:
                return {"error": f"the check's inputs cannot be loaded here ({type(err).__name__}: {err})"}, []
            expectation = rest[0] if rest else None
        else:
            args, kwargs = decode(message["args"], arrays), decode(message["kwargs"], arrays)
        before = {str(i): a.copy() for i, a in enumerate(args) if isinstance(a, np.ndarray)}
        before.update({k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)})
        out: list[np.ndarray] = []
        try:
            got = fn(*args, **kwargs)
            reply = {"out": encode(got, out)} if expectation is None else None
        except BaseException as err:  # noqa: BLE001 - the student's code may raise anything, SystemExit too
            reply = _describe(err)
            if isinstance(err, NameError) and getattr(err, "name", None) in self.skipped:
                reply["absent"] = self.skipped[err.name]
            elif isinstance(err, ImportError) and err.name:
                reply["absent"] = err.name
        if reply is None:  # the probe measures the answer (a module, a graph); its failure is a check's
            try:
                reply = {"probe": encode(expectation.probe(got), out)}
            except BaseException as err:  # noqa: BLE001
                reply = dict(_describe(err), probe_failure=type(err).__name__ in ("CheckFailure", "ForbiddenError"))
        mutated = {}
        for key, value in before.items():
            now = args[int(key)] if key.isdigit() else kwargs[key]
            if isinstance(now, np.ndarray) and now.shape == value.shape and not np.array_equal(
                    now, value, equal_nan=True):
                mutated[key] = encode(now, out)
        if mutated:
            reply["mutated"] = mutated
        return reply, out


class _Absent:
    """A meta-path finder refusing the modules that must not exist in the judge process. In the
    sandbox they are not even on disk; without it (self-study) this keeps an honest student honest."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path=None, target=None):
        if any(fullname == n or fullname.startswith(n + ".") for n in self.names):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def main() -> None:
    absent = [n for n in os.environ.get("COURSE_JUDGE_ABSENT", "").split(",") if n]
    if absent:
        sys.meta_path.insert(0, _Absent(absent))
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = io.StringIO()
    sys.stdout = sys.stderr = _Sink()
    worker = Worker()
    while True:
        try:
            message, arrays = read_frame(proto_in)
        except (EOFError, OSError):
            return
        op = message.get("op")
        try:
            if op == "cells":  # a progress frame before each cell: the grader knows which one hung
                errors = []
                for index, c in enumerate(message["cells"]):
                    write_frame(proto_out, {"progress": index})
                    errors.append(worker.run_cell(c["label"], c["source"], str(c.get("kind"))))
                reply, out = {"cells": errors}, []
            elif op == "call":
                reply, out = worker.call(message, arrays)
            elif op == "exit":
                return
            else:
                reply, out = {"error": f"unknown request {op!r}"}, []
        except Exception:  # a request the worker could not serve: say so, never hang the grader
            reply, out = {"error": traceback.format_exc(limit=3)[-_MESSAGE:]}, []
        write_frame(proto_out, reply, out)


if __name__ == "__main__":
    main()
