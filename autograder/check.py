"""``course check``: a student's score table for one notebook, in seconds.

With solutions/ present (self-study) the notebook is autograded exactly as the instructor's grader
would (hidden tests restored). With only chapters/ (classroom) the visible tests run, like
nbgrader's Validate, and the table says that hidden tests decide the final score.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .course import Course, CourseError, nbgrader_env
from .grading import autograde
from .results import (
    AWAITING,
    ExerciseResult,
    StudentResult,
    exercise_name,
    graded_cells,
    reasons_from_notebook,
    written_cells,
)
from .submissions import Submission, _chapter_of

__all__ = ["check_notebook"]


def _visible_only(notebook: Path, chapter: str, cell_timeout: int) -> StudentResult:
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(notebook.parent)}}).execute(env=nbgrader_env())
    reasons = reasons_from_notebook(nb)
    result = StudentResult("you", chapter)
    for gid, pts in graded_cells(nb):
        failed = gid in reasons
        result.exercises.append(ExerciseResult(exercise_name(gid), 0.0 if failed else pts, pts,
                                               reasons.get(gid, "")))
    for gid, pts in written_cells(nb):
        result.exercises.append(ExerciseResult(exercise_name(gid), None, pts, AWAITING))
    return result


def check_notebook(course: Course, notebook: Path, *, chapter: str | None = None, visible_only: bool = False,
                   timeout: float = 300) -> tuple[StudentResult, str]:
    """Grade one notebook; returns the result and the mode ("full" or "visible")."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise CourseError(f"{notebook} not found")
    chapter = course.resolve_chapter(chapter) if chapter else _chapter_of(notebook, course)
    if chapter is None:
        raise CourseError(f"cannot tell which chapter {notebook} is; pass --chapter")
    if course.has_solutions and not visible_only:
        with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
            (result,) = autograde(course, [Submission("you", chapter, notebook)], Path(tmp) / "course",
                                  timeout=timeout, progress=False)
        return result, "full"
    return _visible_only(notebook, chapter, int(timeout)), "visible"
