"""Student-facing checks: ``check_<exercise>(your_function)``.

Every check runs your function on a few small cases, compares it with the course's reference and,
at the first difference, tells you what is wrong: the shape, the dtype, which element, expected vs
got. Hidden tests (used for grading) run the same comparison on randomised cases via
:func:`hidden_check`.

Example:
    >>> from course_lib.testing import check_conv2d_naive
    >>> check_conv2d_naive(conv2d_naive)          # doctest: +SKIP
    ✔ conv2d_naive: all 6 visible checks passed (0.01 s).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from . import judge
from .core import Case, CheckFailure, Exercise, ForbiddenError, compare, forbidden, run_exercise


def _collect() -> dict[str, Exercise]:
    """Every ``EXERCISES`` dict of the topic modules in this package (conv, pool, ...)."""
    found: dict[str, Exercise] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in ("core", "judge"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, ex in getattr(module, "EXERCISES", {}).items():
            if name in found:
                raise RuntimeError(f"exercise {name!r} is defined twice (course_lib.testing.{info.name})")
            found[name] = ex
    return found


#: Every graded exercise of the course, by the name of the function the student writes.
EXERCISES: dict[str, Exercise] = _collect()


def _exercise(name: str) -> Exercise:
    try:
        return EXERCISES[name]
    except KeyError:
        raise ValueError(f"unknown exercise {name!r}; known: {', '.join(sorted(EXERCISES))}") from None


# check() and hidden_check() return None on purpose: nbgrader reads a number left as the result of a
# test cell as *partial credit*, so a count of passed cases would become the score.

def _run(ex: Exercise, fn: Callable, **kwargs) -> None:
    __tracebackhide__ = True
    try:
        run_exercise(ex, fn, **kwargs)
    except CheckFailure as failure:
        # The engine's frames say nothing to a student: show the message (and, chained, their own error).
        raise failure.with_traceback(None)  # noqa: B904 - the cause, if any, is already attached


def check(name: str, fn: Callable) -> None:
    """Run the visible checks of exercise ``name`` on ``fn``; print a line when all pass.

    While a notebook is being graded (``judge.recording_dir()`` is set) the outputs are only
    recorded; the grader judges them in its own process."""
    __tracebackhide__ = True
    if judge.recording_dir() is not None:
        judge.record(_exercise(name), fn)
        print(f"{name}: visible outputs recorded for the grader")
        return
    _run(_exercise(name), fn)


def hidden_check(name: str, fn: Callable, seed: int = 0) -> None:
    """Run the randomised hidden checks of exercise ``name`` on ``fn`` (used by the grader)."""
    __tracebackhide__ = True
    if judge.recording_dir() is not None:
        judge.record(_exercise(name), fn, hidden=True, seed=seed)
        print(f"{name}: hidden outputs recorded for the grader")
        return
    _run(_exercise(name), fn, hidden=True, seed=seed)


def _make_check(name: str) -> Callable:
    def check_fn(fn: Callable) -> None:
        __tracebackhide__ = True
        check(name, fn)

    check_fn.__name__ = check_fn.__qualname__ = f"check_{name}"
    check_fn.__doc__ = (f"Check your ``{name}`` on a few small cases against the reference; "
                        "raises CheckFailure explaining the first difference.")
    return check_fn


for _name in EXERCISES:
    globals()[f"check_{_name}"] = _make_check(_name)

__all__ = ["Case", "CheckFailure", "EXERCISES", "Exercise", "ForbiddenError", "check", "compare",
           "forbidden", "hidden_check", "run_exercise", *(f"check_{n}" for n in EXERCISES)]
