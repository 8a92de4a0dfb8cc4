"""Finding and reading what students submitted: which file is whose notebook of which chapter
(nbgrader's layout or a flat folder), read without following links and within a size limit, with
deleted test cells put back from the source."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import Course, CourseError
from .results import graded_cells

__all__ = ["MAX_NOTEBOOK_BYTES", "Submission", "discover", "read_submitted", "restore_missing_cells"]


@dataclass(frozen=True)
class Submission:
    student: str
    chapter: str
    path: Path
    note: str = ""  # how the file was found, when it is not where or what it should be


def _student_id(name: str) -> str:
    sid = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "student"
    return sid


def _pick(notebooks: list[Path], chapter: str | None) -> tuple[Path, str]:
    """The notebook of a submitted chapter folder, and a note when it was not the obvious one."""
    expected = f"{chapter}.ipynb" if chapter else None
    chosen = next((p for p in notebooks if p.name == expected), notebooks[0])
    notes = []
    if expected and chosen.name != expected:
        notes.append(f"graded `{chosen.name}` (expected {expected})")
    if len(notebooks) > 1:
        notes.append("ignored " + ", ".join(f"`{p.name}`" for p in notebooks if p != chosen))
    return chosen, "; ".join(notes)


def _chapter_of(path: Path, course: Course) -> str | None:
    """The chapter a notebook belongs to, from its metadata or its graded cells."""
    try:
        nb = nbformat.reads(read_submitted(path), as_version=4)
    except Exception:
        return None
    chapter = nb.metadata.get("course", {}).get("chapter")
    if chapter in course.chapter_names():
        return chapter
    ids = {gid for gid, _ in graded_cells(nb)}
    for ch in course.chapter_names():
        if ids and ids <= set(_chapter_grade_ids(course, ch)):
            return ch
    return None


def _chapter_grade_ids(course: Course, chapter: str) -> list[str]:
    nb_path = course.chapter_notebook(chapter)
    if not nb_path.exists():
        return []
    return [gid for gid, _ in graded_cells(nbformat.read(nb_path, as_version=4))]


def discover(submissions: Path, course: Course, chapter: str | None = None) -> list[Submission]:
    """Find submissions in either layout.

    - nbgrader's ``submitted/<student>/<chapter>/<notebook>.ipynb``;
    - a plain folder of ``<student>.ipynb`` files (chapter from ``chapter``, else from each
      notebook's metadata).
    A single ``.ipynb`` path is one submission by ``you``.
    """
    submissions = Path(submissions)
    if not submissions.exists():
        raise CourseError(f"{submissions} does not exist")
    if chapter:
        chapter = course.resolve_chapter(chapter)
    found: list[Submission] = []
    strays: list[Submission] = []  # files that are not <student>.ipynb, listed last
    if submissions.is_file():
        files = [("you", submissions)]
    else:
        files = [(p.stem, p) for p in sorted(submissions.glob("*.ipynb"))]
        for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
                notebooks = sorted(p for p in assignment_dir.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
                if notebooks:
                    ch = chapter or (assignment_dir.name if assignment_dir.name in course.chapter_names() else None)
                    found.append(Submission(_student_id(student_dir.name), ch or "", *_pick(notebooks, ch)))
        # a notebook under the wrong name (alice.ipynb.txt, alice.json) or something else entirely:
        # graded like a notebook — it scores 0 with a reason unless it is one — never silently skipped
        named = {student for student, _ in files}
        for path in sorted(p for p in submissions.iterdir() if p.is_file() and p.suffix != ".ipynb"
                           and not p.name.startswith(".")):
            student = path.name.split(".")[0]
            if student in named:
                print(f"ignored {path.name}: {student}.ipynb is graded", file=sys.stderr)
            elif ch := chapter or _chapter_of(path, course):
                note = f"graded `{path.name}` as {student}'s notebook (expected {student}.ipynb)"
                strays.append(Submission(_student_id(student), ch, path, note))
            else:
                print(f"ignored {path.name}: not a notebook of this course (with --chapter it is graded as one, "
                      "and scores 0 if it is not a notebook)", file=sys.stderr)
    for student, path in files:
        found.append(Submission(_student_id(student), chapter or _chapter_of(path, course) or "", path))
    found += strays
    if not found:
        raise CourseError(f"no notebooks found in {submissions} (expected <student>.ipynb files or "
                          "submitted/<student>/<chapter>/<notebook>.ipynb)")
    return found


#: Largest notebook file the grader reads (a chapter with its outputs is well under 10 MB).
MAX_NOTEBOOK_BYTES = 50 << 20


def read_submitted(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> str:
    """The text of a submitted notebook, read without following a link, only from a regular file
    and only up to ``limit`` bytes: a link to /dev/zero, a FIFO or a device is refused at once."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        why = "a symbolic link" if Path(path).is_symlink() else err.strerror
        raise ValueError(f"{Path(path).name} cannot be read as a notebook ({why})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{Path(path).name} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{Path(path).name} is {info.st_size:,} bytes (the limit is {limit:,})")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{Path(path).name} is over {limit:,} bytes")
        return data.decode("utf-8")
    finally:
        os.close(fd)


def restore_missing_cells(notebook: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Put back the test and read-only cells a student deleted (nbgrader alone would silently leave
    their points to manual grading). Each goes after the cell that precedes it in the source.
    Returns the grade_ids restored."""
    def gid(cell):
        return cell.metadata.get("nbgrader", {}).get("grade_id")

    present = {gid(c) for c in notebook.cells} - {None}
    restored, previous = [], None
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and meta["grade_id"] not in present and (meta.get("grade") or meta.get("locked")) \
                and not meta.get("solution"):
            at = 0
            if previous is not None:
                at = next(i for i, c in enumerate(notebook.cells) if gid(c) == previous) + 1
            notebook.cells.insert(at, nbformat.from_dict(dict(cell, outputs=[]) if cell.cell_type == "code" else cell))
            present.add(meta["grade_id"])
            restored.append(meta["grade_id"])
        if meta.get("grade_id") in present:
            previous = meta["grade_id"]
    return restored
