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
import os
import pkgutil
from collections.abc import Callable

from .core import Case, CheckFailure, Exercise, ForbiddenError, compare, forbidden, run_exercise


def _collect() -> dict[str, Exercise]:
    """Every ``EXERCISES`` dict of the topic modules in this package (conv, pool, ...)."""
    found: dict[str, Exercise] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "core":
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except ModuleNotFoundError as err:
            # In the grader's judge process the references (and torch, where forbidden) do not exist:
            # the checks of those topics are not available there, and nothing there needs them.
            if os.environ.get(ABSENT_ENV) and err.name and err.name.split(".")[0] in ("course_lib", "torch", "scipy",
                                                                                        "sklearn", "skimage"):
                continue
            raise
        for name, ex in getattr(module, "EXERCISES", {}).items():
            if name in found:
                raise RuntimeError(f"exercise {name!r} is defined twice (course_lib.testing.{info.name})")
            found[name] = ex
    return found


#: Set by the grader: the notebook's kernel runs for feedback only, the grader's judge decides.
GRADING_ENV = "COURSE_GRADING"
#: Set in the grader's judge process: the modules that are absent there.
ABSENT_ENV = "COURSE_JUDGE_ABSENT"


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

    While a notebook is being graded (``$COURSE_GRADING`` is set) nothing is checked here: the
    grader calls your functions in a process of its own and decides there."""
    __tracebackhide__ = True
    if os.environ.get(GRADING_ENV):
        print(f"{name}: checked by the grader")
        return
    _run(_exercise(name), fn)


def hidden_check(name: str, fn: Callable, seed: int = 0) -> None:
    """Run the randomised hidden checks of exercise ``name`` on ``fn`` with ``seed``.

    The grader does not use ``seed`` as it is: it draws secret seeds for each grading run, so the
    cases it grades with cannot be computed in advance."""
    __tracebackhide__ = True
    if os.environ.get(GRADING_ENV):
        print(f"{name}: hidden checks run by the grader")
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

__all__ = ["ABSENT_ENV", "GRADING_ENV", "Case", "CheckFailure", "EXERCISES", "Exercise", "ForbiddenError", "check",
           "compare",
           "forbidden", "hidden_check", "run_exercise", *(f"check_{n}" for n in EXERCISES)]
