"""``course build``: solutions/chNN_*.py (jupytext) → nbgrader source → release → chapters/.

The build is deterministic: a second run changes no byte. It never overwrites a chapter notebook
that holds a student's work unless asked to.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

import jupytext
import nbformat

from .course import Course, CourseError, run_nbgrader, write_config

__all__ = ["build_course", "build_source", "ensure_source", "stale_chapters", "student_work", "release_text",
           "leaked_lines"]

_SOLUTION_RE = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
_HIDDEN_RE = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_solution(path: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["course"] = {"chapter": path.stem}
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    dupes = sorted({i for i in ids if i and ids.count(i) > 1})
    if dupes:
        raise CourseError(f"{path}: duplicate nbgrader grade_id(s): {', '.join(dupes)}")
    for cell in nb.cells:
        _check_written(path, cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"  # stable ids: a rebuild changes no byte
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ("nbgrader", "tags", "course")}
        _check_declared(path, cell)
    return nb


def calls_in_code(code: str) -> list[tuple[str, str, bool, int]]:
    """(exercise, function, hidden, seed) of each ``check_<exercise>(<function>)`` and
    ``hidden_check("<exercise>", <function>, seed=<n>)`` statement of a test cell's code."""
    import ast

    found = []
    for node in ast.walk(ast.parse(code)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        name, args = node.func.id, node.args
        if name == "hidden_check" and len(args) == 2 and isinstance(args[0], ast.Constant) \
                and isinstance(args[1], ast.Name):
            seed = next((k.value.value for k in node.keywords if k.arg == "seed" and isinstance(k.value, ast.Constant)),
                        0)
            found.append((str(args[0].value), args[1].id, True, int(seed)))
        elif name.startswith("check_") and len(args) == 1 and isinstance(args[0], ast.Name):
            found.append((name.removeprefix("check_"), args[0].id, False, 0))
    return found


def _check_declared(path: Path, cell) -> None:
    """A test cell's ``course`` metadata (its exercise, the function checked, the hidden seed) is
    what the grader judges; its code is what a student's own check runs. They must agree."""
    from .judge import check_calls

    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
        return  # not an autograded test cell (a manually graded answer is nbgrader's "solution" + "grade")
    declared = sorted((c.exercise, c.function, c.hidden, c.seed) for c in check_calls(cell))
    in_code = sorted(calls_in_code(cell.source))
    if declared != in_code or not declared:
        gid = cell.metadata["nbgrader"].get("grade_id")
        raise CourseError(f"{path}: test cell {gid!r} declares course={cell.metadata.get('course')} but its code "
                          f"checks {in_code or 'nothing'}; give the cell header course={{\"exercise\": ..., "
                          f"\"function\": ... (when it differs), \"seed\": ...}} matching its check calls")


def _check_written(path: Path, cell) -> None:
    """A written question's answer cell is a markdown cell nbgrader grades manually: ``solution`` and
    ``grade`` with points, its grade_id ``written_…`` (how grading tells it from an autograded test),
    and its model answer and rubric between the solution markers (nbgrader strips them from the release)."""
    meta = cell.metadata.get("nbgrader", {})
    gid = str(meta.get("grade_id", ""))
    if cell.cell_type == "markdown" and meta.get("grade"):
        if not (meta.get("solution") and gid.startswith("written_") and float(meta.get("points", 0)) > 0):
            raise CourseError(f"{path}: markdown grade cell {gid!r} must be a written question: solution true, "
                              "points > 0, grade_id starting with 'written_'")
        if "### BEGIN SOLUTION" not in cell.source or "### END SOLUTION" not in cell.source:
            raise CourseError(f"{path}: written question {gid}: put the model answer and rubric between "
                              "### BEGIN SOLUTION and ### END SOLUTION")
    elif gid.startswith("written_"):
        raise CourseError(f"{path}: {gid!r}: 'written_' ids are for markdown answer cells graded by people")


def build_source(course: Course, chapter: str, course_dir: Path | None = None) -> Path:
    """Write the nbgrader *source* notebook of ``chapter`` and run ``generate_assignment``.

    Returns the release notebook's path inside the nbgrader course directory.
    """
    course_dir = course_dir or course.build
    src = course.solutions / f"{chapter}.py"
    write_config(course_dir)
    target = course_dir / "source" / chapter / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(_read_solution(src), target)
    proc = run_nbgrader(course_dir, "generate_assignment", chapter, "--force", "--create")
    release = course_dir / "release" / chapter / f"{chapter}.ipynb"
    if proc.returncode != 0 or not release.exists():
        raise CourseError(f"nbgrader generate_assignment failed for {chapter}:\n{proc.stdout[-3000:]}")
    (course_dir / "source" / chapter / ".digest").write_text(_digest(src))
    return release


def ensure_source(course: Course, chapter: str) -> Path:
    """Build the nbgrader source of ``chapter`` unless it is up to date with its solution file."""
    stamp = course.build / "source" / chapter / ".digest"
    src = course.solutions / f"{chapter}.py"
    if not src.exists():
        raise CourseError(f"{src} not found: the full grader needs the solutions/ folder.")
    if not (stamp.exists() and stamp.read_text() == _digest(src) and (course.build / "gradebook.db").exists()):
        build_source(course, chapter)
    return course.build / "source" / chapter / f"{chapter}.ipynb"


def release_text(release: Path) -> str:
    """The student notebook as committed in chapters/: no outputs, no grader metadata, stable JSON."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("course", None)  # the grader's identity of a test cell: read from the source only
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def student_work(path: Path, fresh_text: str) -> list[str]:
    """Why overwriting ``path`` with ``fresh_text`` would lose a student's work (empty: nothing)."""
    if not path.exists():
        return []
    try:
        old = nbformat.read(path, as_version=4)
    except Exception:  # not a notebook any more: keep it safe
        return ["the file is not a valid notebook"]
    fresh = {c.get("id"): c for c in nbformat.reads(fresh_text, as_version=4).cells}
    reasons = []
    edited = [c for c in old.cells if c.metadata.get("nbgrader", {}).get("solution")
              and c.get("id") in fresh and c.source != fresh[c.get("id")].source]
    if edited:
        reasons.append(f"{len(edited)} edited exercise cell(s)")
    if any(c.cell_type == "code" and c.get("outputs") for c in old.cells):
        reasons.append("executed outputs")
    return reasons


def stale_chapters(course: Course) -> list[str]:
    """Chapters whose notebook in chapters/ is missing."""
    return [ch for ch in course.chapter_names() if not course.chapter_notebook(ch).exists()]


def build_course(course: Course, chapters: list[str] | None = None, *, out: Path | None = None,
                 force: bool = False, log=print) -> dict[str, Path]:
    """Build ``chapters`` (default: all) into ``out`` (default: the course's chapters/).

    Returns chapter → written notebook. Raises CourseError instead of overwriting a student's work
    (pass ``force=True`` to overwrite anyway).
    """
    if not course.has_solutions:
        raise CourseError("no solutions/chNN_*.py here: `course build` is for instructors; the student "
                          "notebooks in chapters/ are already built.")
    chapters = chapters or course.chapter_names()
    out = out or course.chapters
    written = {}
    with tempfile.TemporaryDirectory(prefix="course-build-") as tmp:
        for chapter in chapters:
            if out == course.chapters:
                release = build_source(course, chapter)
            else:  # a side build (e.g. the up-to-date test) must not touch the shared build dir
                release = build_source(course, chapter, Path(tmp) / "course")
            text = release_text(release)
            target = out / chapter / f"{chapter}.ipynb"
            if target.exists() and target.read_text() == text:
                log(f"  {chapter}: up to date")
                written[chapter] = target
                continue
            work = student_work(target, text)
            if work and not force:
                raise CourseError(f"{target} holds work ({', '.join(work)}); not overwriting it. "
                                  "Move it elsewhere or run `course build --force`.")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            assets = course.solutions / f"{chapter}_files"
            if assets.is_dir():
                shutil.copytree(assets, target.parent / assets.name, dirs_exist_ok=True)
            log(f"  {chapter}: built {target.relative_to(out.parent) if out.parent in target.parents else target}")
            written[chapter] = target
    return written


def leaked_lines(solution: Path, notebook_text: str) -> list[str]:
    """Lines of solution code or hidden tests (from ``solution``) that appear in ``notebook_text``
    (the notebook's cell sources joined)."""
    text = solution.read_text()
    leaks = []
    for block in _SOLUTION_RE.findall(text) + _HIDDEN_RE.findall(text):
        for line in block.splitlines():
            line = line.strip()
            if len(line) >= 12 and not line.startswith("#") and line in notebook_text:
                leaks.append(line)
    # markdown answer cells (written questions): their model answers and rubrics, as markdown
    for cell in jupytext.read(solution, fmt="py:percent").cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            for block in _SOLUTION_RE.findall(cell.source + "\n"):
                for line in block.splitlines():
                    line = line.strip().lstrip("*-• ").strip()
                    if len(line) >= 12 and line in notebook_text:
                        leaks.append(line)
    return leaks
