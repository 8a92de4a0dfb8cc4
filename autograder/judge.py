"""The judge: the grader calls the student's functions in a process of its own and decides alone.

For each submission the grader starts a fresh interpreter (:mod:`autograder.judge_worker`), in the
sandbox of :mod:`autograder.jail` when grading a class. That process holds only the notebook's
code — the instructor's setup cells taken from the source notebook, then the student's solution
cells and any cells the student added or changed (a failing added cell is reported, not fatal) —
and none of the instructor's test or experiment cells. The course's reference implementations are
absent from it, and so are torch, scipy and sklearn wherever the exercise forbids them.

The grader then runs each test cell's checks *in its own process* with the ordinary engine
(:func:`course_lib.testing.core.run_exercise`): it generates the cases (the hidden ones from a
seed drawn for this grading run, never shipped), computes the reference, and calls a
:class:`RemoteFunction` that sends the arguments over the pipe and reads the student's output back
(:mod:`autograder.wire`: data only, sizes checked, with deadlines). It times the calls itself (the
Chapter 2 speed check), so nothing the student's code does can decide a grade except computing the
right outputs.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from course_lib.testing.core import CheckFailure

from .wire import FrameError, decode, encode, read_frame, write_frame

__all__ = ["JudgeProcess", "JudgeStopped", "NotebookVerdict", "RemoteFunction", "CheckCall", "code_cells",
           "exercise_seed", "judge_notebook", "check_calls"]

#: Seconds one call of a student's function may take before the grader stops the judge process.
CALL_LIMIT = 60.0
#: Seconds the notebook's cells may take to load in the judge process, and one cell of them.
LOAD_LIMIT = 120.0
CELL_LIMIT = 30.0
#: Fresh judge processes one notebook may use (one is restarted after a call that hung or crashed).
MAX_STARTS = 4


@dataclass(frozen=True)
class CheckCall:
    """One check of a test cell: the visible ``check_<exercise>(<function>)`` or the hidden one."""

    exercise: str
    function: str
    hidden: bool
    seed: int = 0  # the source's seed: only an offset to the grading run's secret seed


def check_calls(cell) -> list[CheckCall]:
    """The checks of a test cell, from its ``course`` metadata in the instructor's source (never the
    student's copy): ``{"exercise": name, "function": name-in-the-notebook (default: the exercise's
    name), "seed": offset of the hidden cases}``. Points and kind (autograded or written) are
    nbgrader's own metadata. ``course build`` checks that the cell's code makes exactly these calls."""
    meta = cell.get("metadata", {}).get("course", {}) or {}
    if not isinstance(meta, dict) or not meta.get("exercise"):
        return []
    exercise = str(meta["exercise"])
    function = str(meta.get("function") or exercise)
    return [CheckCall(exercise, function, False), CheckCall(exercise, function, True, int(meta.get("seed", 0)))]


def exercise_seed(run_seed: int, exercise: str, offset: int) -> int:
    """The seed of one hidden check in a grading run: secret because ``run_seed`` is."""
    digest = hashlib.sha256(f"{int(run_seed)}|{exercise}|{int(offset)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def code_cells(source: nbformat.NotebookNode, submitted: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """(kind, label, code) of the cells the judge process runs, in the submission's order.

    kind is ``setup`` (an instructor's locked cell, its code taken from ``source``), ``solution``
    (an answer cell), ``helpers`` (one of the instructor's unlocked cells, left as it was: only its
    definitions run — functions, classes, imports and UPPER_CASE constants — never its experiments)
    or ``added`` (a cell without nbgrader metadata that is not one of the source's: the student's).
    Test cells are never run there."""
    setup = {_meta(c)["grade_id"]: c.source for c in source.cells if c.cell_type == "code"
             and _meta(c).get("locked") and not _meta(c).get("grade") and not _meta(c).get("solution")
             and _meta(c).get("grade_id")}
    solutions = {_meta(c)["grade_id"] for c in source.cells if _meta(c).get("solution") and _meta(c).get("grade_id")}
    instructors = {c.source.strip() for c in source.cells if c.cell_type == "code"}
    cells, seen = [], set()
    for index, cell in enumerate(submitted.cells):
        if cell.get("cell_type") != "code":
            continue
        meta, gid = _meta(cell), _meta(cell).get("grade_id")
        if gid in setup and gid not in seen:
            cells.append(("setup", gid, setup[gid]))
            seen.add(gid)
        elif gid in solutions and meta.get("solution"):
            cells.append(("solution", gid, str(cell.get("source", ""))))
        elif not gid and str(cell.get("source", "")).strip() in instructors:
            cells.append(("helpers", f"cell {index + 1}", str(cell.get("source", ""))))
        elif not gid:
            cells.append(("added", f"cell {index + 1}", str(cell.get("source", ""))))
    missing = [("setup", gid, code) for gid, code in setup.items() if gid not in seen]
    return missing + cells


def _python_code(source: str) -> str:
    """A cell's source with IPython syntax (magics, ``!cmd``) turned into Python calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _course_imports(module: str) -> set[str]:
    """The ``course_lib`` modules a course module imports (read from its source, not run)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return set()
    files = [Path(spec.origin)]
    if spec.submodule_search_locations:  # a package: every module in it
        files = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py"))
    found = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found.update(n for n in names if n.startswith("course_lib."))
    return found


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def absent_modules(forbid: Iterable[str], allow: Iterable[str] = ()) -> list[str]:
    """What must not exist in an exercise's judge process: what it forbids, except what it allows
    (Chapter 3 may use Chapter 2's ``course_lib.reference.conv``) and the answers those import.

    A forbidden package of which nothing is needed stays one name (``course_lib.reference``);
    otherwise it is split into its modules that are not needed."""
    from course_lib.testing.core import REFERENCE_MODULES

    allow = tuple(allow)
    needed, todo = set(), [m for m in REFERENCE_MODULES if _under(m, allow)]
    while todo:
        module = todo.pop()
        if module in needed:
            continue
        needed.add(module)
        todo += [ref for name in _course_imports(module) for ref in REFERENCE_MODULES
                 if (name == ref or name.startswith(ref + ".")) and ref not in needed]
    absent = set()
    for name in forbid:
        inside = [m for m in REFERENCE_MODULES if _under(m, [name]) and m != name]
        if inside and any(m in needed for m in inside):
            absent.update(m for m in inside if m not in needed)
        elif name not in needed and not _under(name, allow):
            absent.add(name)
    return sorted(absent)


def _leaves_out(name: str, absent_top: set[str]) -> bool:
    """Whether a site-packages entry belongs to one of the absent top-level packages
    (``torch``, ``torch-2.13.0.dist-info``, ``scipy.libs``, ``_cffi.cpython-311-x86_64-linux-gnu.so``)."""
    stem = re.split(r"[-.]", name, maxsplit=1)[0]
    return stem in absent_top


@dataclass(frozen=True)
class View:
    """What a jail may read (``readable``), and what inside it is covered (``hidden``)."""

    readable: list[Path]
    hidden: list[Path]


def judge_view(absent: Iterable[str]) -> View:
    """What a jailed judge process may read (besides the system directories ``autograder.jail``
    always shows): the Python installation and environment with the absent packages covered,
    ``course_lib`` with the absent modules (the answers in ``course_lib/reference/``, as a whole or
    one by one) and the compiled copies next to them covered, and the three files of the judge
    itself. Nothing else of the course: no solutions, build, gradebook or git."""
    import importlib.util
    import site
    import sysconfig

    absent = set(absent)
    absent_top = {a for a in absent if "." not in a}
    base, prefix = Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()
    readable, hidden = [base], []
    if prefix != base:  # a virtual environment
        readable.append(prefix)
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    on_path = {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()}
    site_dirs = {Path(p).resolve() for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                                               sysconfig.get_paths()["platlib"]] if Path(p).is_dir()}
    for name in ("site-packages", "dist-packages"):  # the base's own packages, when a venv is used
        if (stdlib / name).is_dir() and (stdlib / name).resolve() not in on_path:
            hidden.append(stdlib / name)
    course_lib = Path(next(iter(importlib.util.find_spec("course_lib").submodule_search_locations))).resolve()
    for directory in sorted(site_dirs & on_path):
        hidden += [entry for entry in sorted(directory.iterdir()) if _leaves_out(entry.name, absent_top)]
    readable.append(course_lib)
    for name in sorted(a for a in absent if a.startswith("course_lib.")):
        path = course_lib.joinpath(*name.split(".")[1:])
        if path.is_dir():  # a package (all the answers): covered whole, its compiled copies with it
            hidden.append(path)
            continue
        if not path.with_suffix(".py").is_file():
            continue
        # The grader itself imports the answers later and may write their compiled copies into a
        # ``__pycache__`` that did not exist yet, under a mount the judge already sees: make sure
        # there is a directory to cover now. Where it cannot be made, nobody can write pyc files there.
        try:
            (path.parent / "__pycache__").mkdir(mode=0o755, exist_ok=True)
        except OSError:
            pass
        hidden += [entry for entry in (path.with_suffix(".py"), path.parent / "__pycache__")
                   if entry.exists() and entry not in hidden]
    here = Path(__file__).resolve().parent
    readable += [here / "__init__.py", here / "wire.py", here / "judge_worker.py"]
    return View([p for p in readable if p.exists()], hidden)


class JudgeStopped(CheckFailure):
    """The judge process hung, died or sent something unreadable; it is restarted for what is left.
    (A CheckFailure, so that the check engine passes it on as it is.)"""


class CellStopped(JudgeStopped):
    """A notebook cell hung or ended the judge process while it loaded."""

    def __init__(self, label: str, why: str) -> None:
        super().__init__(why)
        self.label = label


class JudgeProcess:
    """One judge process: start it with the notebook's cells, then call functions in it.

    ``absent`` are module names (and their submodules) that must not exist in it. With
    ``sandbox``, the process runs in :func:`autograder.jail.spawn` (allow-list file system, no
    network, an unprivileged user, cgroup limits on memory, processes and CPU) and those modules
    are not mounted at all; without it (self-study ``course check``, ``--unsafe``) an import hook
    refuses them — which keeps an honest student honest and stops nobody else.
    """

    def __init__(self, cells: Sequence[tuple[str, str, str]], absent: Iterable[str], *, sandbox: bool = False,
                 limits=None):
        self.cells = list(cells)
        self.absent = sorted(set(absent))
        self.sandbox = sandbox
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self.cgroup = None
        self.cell_errors: list[list[str]] = []
        self.skipped: dict[str, str] = {}  # label of a cell that hung or crashed the process → why
        self.cpu_seconds: float | None = 0.0 if sandbox else None  # from its cgroups (sandboxed only)

    # ------------------------------------------------------------------ life cycle
    def _command(self) -> list[str]:
        return [sys.executable, "-I", "-m", "autograder.judge_worker"]

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1", "COURSE_JUDGE_ABSENT": ",".join(self.absent),
               "LANG": "C.UTF-8"}
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if key in os.environ:
                env[key] = os.environ[key]
        return env

    def start(self, deadline: float, cell_limit: float = 30.0) -> list[list[str]]:
        """Start the process and run the cells; returns each cell's errors. A cell that runs longer
        than ``cell_limit`` or ends the process raises :class:`CellStopped` (start again: it is
        skipped from then on)."""
        self.close()
        if self.sandbox:
            from .jail import Limits, spawn

            view = judge_view(self.absent)
            self.proc, self.cgroup = spawn(self._command(), limits=self.limits or Limits(), readable=view.readable,
                                           hidden=view.hidden, cwd="/tmp", env=self._env(),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        else:
            self.proc = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=self._env(), cwd=os.getcwd())
        os.set_blocking(self.proc.stdout.fileno(), False)
        cells = [{"label": f"{kind} {label}", "kind": kind, "source": _python_code(code)}
                 for kind, label, code in self.cells if label not in self.skipped]
        running = None
        try:
            reply, _ = self.request({"op": "cells", "cells": cells}, [], min(deadline, time.monotonic() + cell_limit))
            while "progress" in reply:  # the worker starts cell number reply["progress"]
                index = reply["progress"]
                running = cells[index]["label"].split(" ", 1)[1] if type(index) is int and 0 <= index < len(
                    cells) else None
                reply, _ = self.read(min(deadline, time.monotonic() + cell_limit))
        except JudgeStopped as why:
            if running is not None and running not in self.skipped and time.monotonic() < deadline:
                raise CellStopped(running, str(why)) from None
            raise
        errors = reply.get("cells")
        if not isinstance(errors, list) or len(errors) != len(cells):
            self.close()
            raise JudgeStopped("the judge process answered the notebook's cells with something else"
                               + (f" ({str(reply['error'])[-200:]})" if "error" in reply else ""))
        loaded = iter(errors)
        self.cell_errors = [([str(e)[:2000] for e in next(loaded) or []] if label not in self.skipped
                             else [self.skipped[label]]) for _, label, _ in self.cells]
        return self.cell_errors

    def read(self, deadline: float) -> tuple[dict, list]:
        """One more frame from the process (see :meth:`request`)."""
        return self._guard(lambda: read_frame(self.proc.stdout.fileno(), deadline))

    def request(self, message: dict, arrays: list, deadline: float) -> tuple[dict, list]:
        """Send one request and read the first frame of the answer, by ``deadline``."""
        if self.proc is None or self.proc.poll() is not None:
            raise JudgeStopped("the judge process is not running")

        def exchange():
            write_frame(self.proc.stdin.fileno(), message, arrays, deadline)
            return read_frame(self.proc.stdout.fileno(), deadline)

        return self._guard(exchange)

    def _guard(self, exchange):
        try:
            return exchange()
        except TimeoutError:
            self.close()
            raise JudgeStopped("time limit") from None
        except EOFError:
            code = self.proc.wait(timeout=10) if self.proc is not None else None
            oom = self.cgroup is not None and self.cgroup.oom_killed()
            self.close()
            raise JudgeStopped("the memory limit was reached" if oom else
                               f"the process running your code ended (exit code {code})") from None
        except FrameError as err:
            self.close()
            raise JudgeStopped(f"unreadable answer: {err}") from None

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None
        if self.cgroup is not None:
            used = self.cgroup.cpu_time()
            if used is not None and self.cpu_seconds is not None:
                self.cpu_seconds += used
            self.cgroup.close()
            self.cgroup = None

    def __enter__(self) -> JudgeProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_BY_VALUE: set[str] = set()


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` crosses as data (numpy, numbers, strings and containers of those)."""
    import numpy as np

    if depth > 32:
        return False
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return not isinstance(value, np.ndarray) or value.dtype.kind in "biufc"
    if isinstance(value, (tuple, list)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def to_judge(value: Any) -> bytes:
    """Pickle what the grader sends down to a judge process (arguments that are not data, the
    probes of module exercises). The check helpers (``course_lib.testing``) travel by value, so a
    probe never depends on what the judge process may import; it names the answers it refers to
    (:class:`~course_lib.testing.core.Answer`, pickled by name) and carries the reference's skeleton
    as data, never the reference (``__getstate__`` of the module checks).
    Only ever loaded there."""
    import cloudpickle

    for name, module in list(sys.modules.items()):
        if name.startswith("course_lib.testing") and name not in _BY_VALUE and module is not None:
            cloudpickle.register_pickle_by_value(module)
            _BY_VALUE.add(name)
    return cloudpickle.dumps(value)


def _rebuild(reply: Mapping, name: str, forbid: Sequence[str]) -> BaseException:
    """The exception a remote call raised, as an exception of the grader's (never a CheckFailure the
    student wrote: only the builtin class it derives from, under its own name)."""
    from course_lib.testing.core import CheckFailure, ForbiddenError

    message = str(reply.get("message", ""))[:2000]
    absent = str(reply.get("absent", ""))
    if absent and any(absent == p or absent.startswith(p + ".") or p.startswith(absent + ".") for p in forbid):
        top = absent.split(".")[0] if not absent.startswith("course_lib") else absent
        return ForbiddenError(f"{name} used `{top}`. This exercise is about implementing it yourself with numpy: "
                              f"`{top}` is not available while {name} is graded.")
    if reply.get("probe_failure"):
        return CheckFailure(message)
    names = [str(n) for n in reply.get("raised", [])][:64] or ["Exception"]
    base = next((cls for n in names if isinstance(cls := getattr(builtins, n, None), type)
                 and issubclass(cls, Exception)), RuntimeError)
    if base is AssertionError:  # CheckFailure is one: a student's AssertionError stays a plain error
        base = RuntimeError
    cls = base if names[0] == base.__name__ else type(re.sub(r"\W", "_", names[0])[:80] or "Error", (base,), {})
    return cls(message)


class RemoteFunction:
    """The student's function ``name``, called in a judge process; used in the grader exactly like a
    local function by :func:`~course_lib.testing.core.run_exercise` and the extra checks."""

    remote_judged = True  # course_lib.testing._forbid.forbidden() leaves the grader's modules alone

    def __init__(self, session: JudgeSession, name: str, exercise) -> None:
        self.session, self.exercise = session, exercise
        self.__name__ = self.__qualname__ = name
        self.__module__ = "__main__"

    def __repr__(self) -> str:
        return f"<your function {self.__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import numpy as np

        from course_lib.testing.core import CheckFailure, Expectation, Probed

        arrays: list = []
        if self.session.probes(self.exercise):
            # the probe and the arguments travel in one pickle: the reference's critic is the one
            # the student's function is given (its gradients are what the probe measures)
            try:
                expectation = self.exercise.reference(*args, **kwargs)
            except Exception:
                expectation = None
            if not isinstance(expectation, Expectation):
                expectation = None
            payload = (tuple(args), dict(kwargs)) if expectation is None else (tuple(args), dict(kwargs), expectation)
            arrays.append(np.frombuffer(to_judge(payload), dtype=np.uint8))
            message = {"op": "call", "name": self.__name__, "args": {"pickled": 0}, "packed": True}
        elif _plain((args, kwargs)):
            message = {"op": "call", "name": self.__name__, "args": encode(tuple(args), arrays),
                       "kwargs": encode(dict(kwargs), arrays)}
        else:  # torch tensors, modules, generators, functions: pickled together (a layer stays in its model)
            arrays.append(np.frombuffer(to_judge((tuple(args), dict(kwargs))), dtype=np.uint8))
            message = {"op": "call", "name": self.__name__, "args": {"pickled": 0}, "packed": True}
        reply, out = self.session.call(message, arrays)
        if reply.get("missing"):
            raise CheckFailure(self.session.missing_reason(self.__name__))
        if "notcallable" in reply:
            raise CheckFailure(f"`{self.__name__}` in your notebook is a {reply['notcallable']}, not a function.")
        for key, value in (reply.get("mutated") or {}).items():  # show the in-place change to the engine
            target = args[int(key)] if str(key).isdigit() and int(key) < len(args) else kwargs.get(key)
            try:
                new = decode(value, out)
                if hasattr(target, "shape") and getattr(new, "shape", None) == target.shape:
                    target[...] = new
            except (FrameError, ValueError, TypeError):
                pass
        if "raised" in reply:
            raise _rebuild(reply, self.__name__, self.exercise.forbid)
        if "error" in reply:
            raise CheckFailure(f"the grader could not call {self.__name__}: {str(reply['error'])[-300:]}")
        if "probe" in reply:
            return Probed(decode(reply["probe"], out))
        return decode(reply.get("out"), out)


class JudgeSession:
    """The judge processes of one notebook, one per set of absent modules, started on first use and
    restarted (at most :data:`MAX_STARTS` times in all) after a call that hung or crashed."""

    def __init__(self, cells, *, sandbox: bool, limits, deadline: float, cell_limit: float = 30.0) -> None:
        self.cells, self.sandbox, self.limits, self.deadline = cells, sandbox, limits, deadline
        self.cell_limit = cell_limit
        self.processes: dict[tuple[str, ...], JudgeProcess] = {}
        self.current: JudgeProcess | None = None
        self.starts = 0
        self.notes: list[str] = []
        self._probes: dict[str, bool] = {}

    def use(self, exercise) -> None:
        key = tuple(absent_modules(exercise.forbid, exercise.allow))
        process = self.processes.get(key)
        if process is None:
            process = self.processes[key] = JudgeProcess(self.cells, key, sandbox=self.sandbox, limits=self.limits)
        if process.proc is None:
            if self.starts >= MAX_STARTS:
                raise JudgeStopped(f"your code was stopped {MAX_STARTS} times; the remaining checks are not run")
            if time.monotonic() >= self.deadline:
                raise JudgeStopped("time limit: the notebook's grading time ran out")
            while True:
                self.starts += 1
                try:
                    errors = process.start(min(self.deadline, time.monotonic() + LOAD_LIMIT), self.cell_limit)
                    break
                except CellStopped as stopped:  # run the notebook again without that cell
                    why = (f"did not finish within {self.cell_limit:.0f} s" if str(stopped) == "time limit"
                           else f"stopped the process running it ({stopped})")
                    process.skipped[stopped.label] = f"it {why} when graded, and was skipped"
                    self.notes.append(f"your cell {stopped.label} {why} when graded: the grader ran your notebook "
                                      "again without it")
                    if self.starts >= MAX_STARTS:
                        raise JudgeStopped(f"your notebook's code did not load in the grader: cell {stopped.label} "
                                           f"{why}") from None
                except JudgeStopped as why:
                    raise JudgeStopped(f"your notebook's code did not load in the grader: {why}") from None
            self._note_cells(errors)
        self.current = process

    def _note_cells(self, errors: list[list[str]]) -> None:
        for (kind, label, _), errs in zip(self.cells, errors, strict=True):
            if kind == "added" and errs:  # reported, not fatal: it may be a scratch comparison with torch
                note = f"your added {label} failed when graded: {errs[-1][:300]}"
                if note not in self.notes:
                    self.notes.append(note)

    def probes(self, exercise) -> bool:
        if exercise.name not in self._probes:
            from course_lib.testing.core import Expectation

            case = next((c for c in exercise.visible() if c.raises is None), None)
            sample = exercise.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)) \
                if case is not None else None
            self._probes[exercise.name] = isinstance(sample, Expectation)
        return self._probes[exercise.name]

    def call(self, message: dict, arrays: list) -> tuple[dict, list]:
        assert self.current is not None
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.current.close()
            raise JudgeStopped("time limit: the notebook's grading time ran out")
        try:
            return self.current.request(message, arrays, time.monotonic() + min(left, CALL_LIMIT))
        except JudgeStopped as why:
            if str(why) == "time limit":
                raise JudgeStopped(f"time limit: {message['name']} did not return within "
                                   f"{min(left, CALL_LIMIT):.0f} s") from None
            raise

    def missing_reason(self, name: str) -> str:
        process = self.current
        failed = [(label, errs[-1]) for (kind, label, _), errs in zip(process.cells, process.cell_errors, strict=True)
                  if kind == "solution" and errs and not errs[-1].startswith(("ModuleNotFoundError", "ImportError"))]
        why = f" (your cell {failed[0][0]} failed: {failed[0][1][:600]})" if failed else ""
        return f"`{name}` is not defined in your notebook when it is graded{why}."

    def close(self) -> None:
        for process in self.processes.values():
            process.close()

    def cpu_seconds(self) -> float | None:
        """CPU seconds the judge processes used (sandboxed: read from their cgroups), or None."""
        used = [p.cpu_seconds for p in self.processes.values()]
        return None if not used or None in used else round(sum(used), 2)


@dataclass
class NotebookVerdict:
    """The judge's verdict on one notebook."""

    verdicts: dict[str, str | None] = field(default_factory=dict)  # test cell grade_id → None (passed) or reason
    notes: list[str] = field(default_factory=list)  # failed added cells, ...
    seconds: float = 0.0
    cpu_seconds: float | None = None  # of the judge processes, when sandboxed (their cgroups count it)


def judge_notebook(source: nbformat.NotebookNode, submitted: nbformat.NotebookNode, *, run_seed: int,
                   sandbox: bool = False, limits=None, timeout: float = 300.0,
                   exercises: Mapping[str, Any] | None = None,
                   progress: Callable[[str], None] | None = None) -> NotebookVerdict:
    """Judge every test cell of ``source`` on the code of ``submitted``.

    A test cell keeps its points only when all its checks pass; the reason of the first failure is
    its verdict. A check the grader cannot run (its reference failed) costs the points, never earns them.
    """
    from course_lib.testing import EXERCISES
    from course_lib.testing.core import CheckFailure, run_exercise

    exercises = EXERCISES if exercises is None else exercises
    start = time.monotonic()
    result = NotebookVerdict()
    session = JudgeSession(code_cells(source, submitted), sandbox=sandbox, limits=limits, deadline=start + timeout,
                           cell_limit=max(5.0, min(CELL_LIMIT, timeout / 4)))
    try:
        for cell in source.cells:
            meta = _meta(cell)
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue  # only autograded test cells (written answers are graded by people)
            calls = check_calls(cell)
            if not calls:  # never the kernel's word: an undeclared test cell earns nothing
                result.verdicts[meta["grade_id"]] = "the grader has no checks declared for this test cell"
                continue
            verdict = None
            for call in calls:
                ex = exercises.get(call.exercise)
                if ex is None:
                    verdict = f"the grader does not know the exercise {call.exercise!r}"
                    break
                if progress is not None:
                    progress(call.exercise)
                try:
                    session.use(ex)
                    fn = RemoteFunction(session, call.function, ex)
                    seed = exercise_seed(run_seed, call.exercise, call.seed)
                    run_exercise(ex, fn, hidden=call.hidden, seed=seed, quiet=True)
                except JudgeStopped as why:
                    verdict = f"{call.exercise}: {why}"
                except CheckFailure as failure:
                    verdict = str(failure)
                except Exception as err:  # the reference or a case generator failed: never a free pass
                    verdict = f"the grader could not judge {call.exercise} ({type(err).__name__}: {str(err)[:300]})"
                if verdict is not None:
                    break
            result.verdicts[meta["grade_id"]] = verdict
    finally:
        session.close()
    result.notes = session.notes
    result.cpu_seconds = session.cpu_seconds()
    result.seconds = time.monotonic() - start
    return result
