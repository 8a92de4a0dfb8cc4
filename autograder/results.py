"""What a grading run produces: each exercise's score and reason, per student; where they come from
in a graded notebook (test cells, written answers); and how they are written — grades.csv (one
reader and writer, formula-safe) and the console table."""

from __future__ import annotations

import csv
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["AWAITING", "NO_ANSWER", "ExerciseResult", "StudentResult", "csv_safe", "exercise_name", "format_table",
           "grade_id", "graded_cells", "is_written", "read_csv", "reasons_from_notebook", "write_csv", "written_cells"]

#: The reason of a written answer no person has scored yet (its score is ``None``, never 0).
AWAITING = "awaiting manual grading"

#: The reason of a written answer left as released (nbgrader scores an unchanged answer cell 0 itself).
NO_ANSWER = "no answer written"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class ExerciseResult:
    """One graded cell's result. ``score`` is ``None`` for a written answer awaiting manual grading."""

    exercise: str
    score: float | None
    max_score: float
    reason: str = ""

    @property
    def written(self) -> bool:
        """A written question, scored by people (in formgrader), not by the grader."""
        return is_written(self.exercise)

    @property
    def pending(self) -> bool:
        return self.score is None


@dataclass
class StudentResult:
    student: str
    chapter: str
    exercises: list[ExerciseResult] = field(default_factory=list)
    problem: str = ""  # what went wrong with the notebook as a whole (time limit, invalid JSON, ...)
    notes: list[str] = field(default_factory=list)  # what the grader repaired (e.g. restored test cells)
    feedback: Path | None = None
    cached: bool = False  # reused from an earlier run: same notebook, same tests, same limits

    @property
    def score(self) -> float:
        """Points of the autograded exercises (written answers are counted apart: :attr:`written_score`)."""
        return sum(e.score for e in self.exercises if not e.written)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises if not e.written)

    @property
    def written_score(self) -> float:
        """Points given so far to written answers (by staff, or 0 for an answer left blank)."""
        return sum(e.score for e in self.exercises if e.written and not e.pending)

    @property
    def written_max(self) -> float:
        return sum(e.max_score for e in self.exercises if e.written)

    @property
    def pending(self) -> float:
        """Points of written answers no person has scored yet."""
        return sum(e.max_score for e in self.exercises if e.pending)

    def total_text(self) -> str:
        """``12/15`` or ``12/15 + written 2/6 (4 awaiting manual grading)``."""
        text = f"{self.score:g}/{self.max_score:g}"
        if self.written_max:
            text += f" + written {self.written_score:g}/{self.written_max:g}"
            if self.pending:
                text += f" ({self.pending:g} {AWAITING})"
        return text


#: grade_id prefix of a written question's answer cell (a markdown cell graded by people).
WRITTEN_PREFIX = "written_"


def is_written(name: str) -> bool:
    """Whether an exercise name or grade_id is a written question (``written_…``)."""
    return name.startswith(WRITTEN_PREFIX)


def exercise_name(grade_id: str) -> str:
    """``test_conv2d_naive`` → ``conv2d_naive``; a written question keeps its id (``written_…``)."""
    return grade_id.removeprefix("test_")


def grade_id(exercise: str) -> str:
    """The grade cell of an exercise: ``conv2d_naive`` → ``test_conv2d_naive``, ``written_…`` unchanged."""
    return exercise if is_written(exercise) else f"test_{exercise}"


def graded_cells(notebook: nbformat.NotebookNode) -> list[tuple[str, float]]:
    """(grade_id, points) of the auto-graded cells of a notebook, in order."""
    cells = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cells.append((meta["grade_id"], float(meta.get("points", 0))))
    return cells


def written_cells(notebook: nbformat.NotebookNode) -> list[tuple[str, float]]:
    """(grade_id, points) of the written questions' answer cells (markdown, graded by people), in order."""
    cells = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown":
            cells.append((meta["grade_id"], float(meta.get("points", 0))))
    return cells


def _first_error(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            value = _ANSI.sub("", str(out.get("evalue", ""))).strip()
            return f"{out.get('ename', 'Error')}: {value}" if value else out.get("ename", "")
    return None


def reasons_from_notebook(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id → the error a graded cell ended with ("CheckFailure: ..."), for cells that failed.

    When the student's own code cell before it already failed (a MemoryError, a SyntaxError), that
    error is named first: it, not the NameError that follows, is what the student must fix.
    """
    reasons, earlier = {}, None
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        error = _first_error(cell)
        if not meta.get("grade"):
            if error and not error.startswith("NotRun"):
                earlier = (meta.get("grade_id") or "a code cell", error)
            continue
        if error:
            if earlier and not error.startswith(("NotRun", "TimeLimit", "KernelDied")):
                error = f"your cell {earlier[0]} failed first with {earlier[1]} — then {error}"
            reasons[meta["grade_id"]] = error
        earlier = None
    return reasons


def csv_safe(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ (or a tab or carriage
    return) would be read as a formula (``=HYPERLINK(...)``), so it gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_text(cell: str) -> str:
    """The text of a cell written by :func:`csv_safe`."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a grades.csv written by :func:`write_csv` (formula guards removed)."""
    with Path(path).open(newline="") as f:
        return [{k: _csv_text(v or "") for k, v in row.items()} for row in csv.DictReader(f)]


def write_csv(results: list[StudentResult], path: Path) -> None:
    """grades.csv: one row per student, chapter and exercise. A written answer no person has scored
    yet has an empty ``score`` (never 0) and the reason :data:`AWAITING`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "exercise", "score", "max", "reason"])
        for r in results:
            for e in r.exercises:
                writer.writerow([csv_safe(r.student), r.chapter, e.exercise, "" if e.pending else f"{e.score:g}",
                                 f"{e.max_score:g}",
                                 csv_safe(" ".join(e.reason.split()))])


def format_table(result: StudentResult, width: int = 110) -> str:
    """A per-exercise score table with the reason for each lost point (wrapped, never cut)."""
    name_w = max([len(e.exercise) for e in result.exercises] + [8])
    indent = " " * (name_w + 12)
    lines = [f"{'exercise':<{name_w}}  {'score':<8}  reason", f"{'-' * name_w}  {'-' * 8}  {'-' * 40}"]
    for e in result.exercises:
        mark = "…" if e.pending else "✔" if e.score >= e.max_score else "✘"
        reason = textwrap.wrap(" ".join(e.reason.split()), max(40, width - len(indent))) or [""]
        score = f"{'?' if e.pending else format(e.score, 'g'):>3}/{e.max_score:<3g}"
        lines.append(f"{e.exercise:<{name_w}}  {score} {mark} {reason[0]}".rstrip())
        lines += [indent + more for more in reason[1:]]
    lines.append(f"{'total':<{name_w}}  {result.score:>3g}/{result.max_score:<3g}"
                 + (f" autograded + written {result.written_score:g}/{result.written_max:g}"
                    + (f" ({result.pending:g} {AWAITING})" if result.pending else "")
                    if result.written_max else ""))
    return "\n".join(lines)
