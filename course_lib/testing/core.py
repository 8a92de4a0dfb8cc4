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

It is split along its concerns: the answers and what is switched off by default (:mod:`._answers`),
failures and comparisons (:mod:`._compare`), switching modules off (:mod:`._forbid`); this module
holds the exercise model and runs the cases, and re-exports the rest (``from .core import ...``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._answers import DEFAULT_FORBIDDEN, REFERENCE_MODULES, REFERENCE_PACKAGE, Answer, answers
from ._compare import CheckFailure, ForbiddenError, _arg_names, _describe_value, compare, describe_call
from ._forbid import _is_forbidden, forbidden

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
    visible: bool = False  # also run by the visible check (e.g. statistics of a random output)

    def __call__(self, ex: Exercise, fn: Callable) -> None:
        __tracebackhide__ = True
        self.verify(ex, self.probe(ex, fn))


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
    if ex.extra is not None and (hidden or ex.extra.visible):
        ex.extra(ex, fn)
    if not quiet:
        kind = "hidden" if hidden else "visible"
        print(f"✔ {ex.name}: all {len(cases)} {kind} checks passed "
              f"({time.perf_counter() - start:.2f} s).")
    return len(cases)
