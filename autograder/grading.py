"""Autograding with nbgrader: lay out submissions, run ``nbgrader autograde`` per student, read
scores from the gradebook and reasons from the graded notebooks, write feedback and grades.csv.

Each student runs in its own nbgrader process with a time limit, so one bad notebook never stops
the batch. Every run grades into a fresh copy of the gradebook: a score is always from this run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from .build import ensure_source
from .course import DEFAULT_MEMORY_LIMIT, Course, CourseError, run_nbgrader, write_config

__all__ = ["AWAITING", "NO_ANSWER", "ExerciseResult", "StudentResult", "Submission", "autograde", "csv_safe",
           "discover", "draw_seeds", "exercise_name", "grade_id", "is_written", "read_csv", "read_submitted",
           "graded_cells", "reasons_from_notebook", "restore_missing_cells", "write_csv", "written_cells",
           "format_table"]

#: The reason of a written answer no person has scored yet (its score is ``None``, never 0).
AWAITING = "awaiting manual grading"
#: The reason of a written answer left as released (nbgrader scores an unchanged answer cell 0 itself).
NO_ANSWER = "no answer written"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Submission:
    student: str
    chapter: str
    path: Path
    note: str = ""  # how the file was found, when it is not where or what it should be


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


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt))\b:?.*$")


#: Errors of the grading machinery, in words a student understands.
_EXPLAINED = {
    "DeadKernelError": "the kernel died while running the notebook (os._exit, a crash or running out of memory)",
    "CellTimeoutError": "a cell ran longer than the per-cell time limit",
}


def _last_error(log: str) -> str:
    """The most specific error line of an nbgrader log (not its generic closing remark)."""
    lines = [ln.strip() for ln in _ANSI.sub("", log).splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    last = (errors or lines or ["no output"])[-1][:300]
    for name, words in _EXPLAINED.items():
        if name in last:
            return f"{words} [{last}]"
    return last


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


def draw_seeds(chapters: Iterable[str]) -> dict[str, int]:
    """A fresh secret seed per chapter for one grading run: the hidden cases cannot be computed in
    advance (the case generators ship with course_lib; the seeds in the source notebooks are public)."""
    return {chapter: secrets.randbits(32) for chapter in sorted(set(chapters))}


def _prepare(course: Course, work: Path, chapters: Iterable[str], timeout: float, sandbox: bool,
             seeds: dict[str, int], memory_limit: int | None) -> None:
    # classroom mode (sandbox): every grading kernel in autograder.sandbox, every judge in autograder.jail
    write_config(work, notebook_timeout=timeout, seeds=seeds, sandbox=sandbox,
                 kernel_memory=memory_limit if sandbox else None)
    for chapter in chapters:
        ensure_source(course, chapter)
        shutil.copytree(course.build / "source" / chapter, work / "source" / chapter)
    shutil.copy2(course.build / "gradebook.db", work / "gradebook.db")


def _zero(result: StudentResult, cells: list[tuple[str, float]], reason: str) -> StudentResult:
    result.problem = reason
    result.exercises = [ExerciseResult(exercise_name(gid), 0.0, pts, reason) for gid, pts in cells]
    return result


#: Seconds nbgrader may take beyond the notebook's own time limit (start-up, saving) before it is killed.
_STARTUP_MARGIN = 120.0


def _stage(work: Path, sub: Submission, cells: list[tuple[str, float]]) -> StudentResult:
    """Validate ``sub``, put back deleted test cells and copy it into ``work/submitted``.
    The result has ``problem`` set when the notebook cannot be graded at all."""
    result = StudentResult(sub.student, sub.chapter, notes=[sub.note] if sub.note else [])
    try:
        notebook = nbformat.reads(read_submitted(sub.path), as_version=4)
        nbformat.validate(notebook)
    except Exception as err:
        return _zero(result, cells, f"not a valid notebook ({type(err).__name__}: {str(err).splitlines()[0][:200]})")
    source = nbformat.read(work / "source" / sub.chapter / f"{sub.chapter}.ipynb", as_version=4)
    restored = restore_missing_cells(notebook, source)
    if restored:
        result.notes.append(f"restored deleted cell(s) from the source: {', '.join(restored)}")
    dest = work / "submitted" / sub.student / sub.chapter / f"{sub.chapter}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, dest)
    return result


def _collect(work: Path, sub: Submission, result: StudentResult, cells: list[tuple[str, float]]) -> bool:
    """Scores from the gradebook and reasons from the graded notebook; False if nbgrader graded nothing."""
    from nbgrader.api import Gradebook, MissingEntry

    graded = work / "autograded" / sub.student / sub.chapter / f"{sub.chapter}.ipynb"
    if not graded.exists():
        return False
    try:
        with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
            sub_nb = gb.find_submission_notebook(sub.chapter, sub.chapter, sub.student)
            scores = {g.name: (float(g.score or 0.0), float(g.max_score or 0.0)) for g in sub_nb.grades}
            manual = {g.name: None if g.auto_score is None and g.manual_score is None else float(g.score or 0.0)
                      for g in sub_nb.grades}
    except MissingEntry:
        return False
    notebook = nbformat.read(graded, as_version=4)
    reasons = reasons_from_notebook(notebook)  # the judge's verdicts, written by JudgeVerdicts
    judged = notebook.metadata.get("course", {}).get("judge")
    if not isinstance(judged, dict):
        return False  # the judge did not run: nbgrader's scores alone are the kernel's, never trusted
    result.notes += [str(n) for n in judged.get("notes", [])]
    result.exercises = []
    for gid, pts in cells:
        if is_written(gid):  # scored by people: nbgrader gives 0 to an answer left as released, else nothing
            score = manual.get(gid)
            reason = AWAITING if score is None else NO_ANSWER if score == 0 else ""
            result.exercises.append(ExerciseResult(exercise_name(gid), score, pts, reason))
            continue
        score, max_score = scores.get(gid, (0.0, pts))
        reason = reasons.get(gid, "") if score < max_score else ""
        if score < max_score and not reason:
            reason = "test cell did not pass (no error message recorded)"
        result.exercises.append(ExerciseResult(exercise_name(gid), score, max_score, reason))
    return True


#: Seconds nbgrader may take beyond the notebooks' own time limits (start-up, saving) before it is killed.
_STARTUP_MARGIN = 120.0


def _grade_batch(work: Path, subs: list[Submission], cells: dict[str, list[tuple[str, float]]], timeout: float,
                 memory_limit: int | None, done: Callable[[StudentResult], None]) -> list[StudentResult]:
    """Grade ``subs`` in one ``nbgrader autograde`` per chapter (its start-up paid once, not per
    student); SafeExecute keeps each notebook to ``timeout``. A student nbgrader could not grade
    in the batch is graded alone, so that the reason is theirs."""
    results = [_stage(work, sub, cells[sub.chapter]) for sub in subs]
    for r in results:
        if r.problem:
            done(r)
    pending = {(s.student, s.chapter): (s, r) for s, r in zip(subs, results, strict=True) if not r.problem}
    writes: dict[str, int] = {}

    def on_line(line: str) -> None:  # nbgrader writes each graded notebook twice: sanitized, then executed
        found = re.search(r"Writing \d+ bytes to .*/autograded/([^/]+)/([^/]+)/", line)
        if found and (key := (found[1], found[2])) in pending:
            writes[key] = writes.get(key, 0) + 1
            if writes[key] == 2:
                sub, result = pending[key]
                if _collect(work, sub, result, cells[sub.chapter]):
                    done(result)

    for chapter in sorted({c for _, c in pending}):
        n = sum(c == chapter for _, c in pending)
        try:
            run_nbgrader(work, "autograde", chapter, "--force", timeout=n * (timeout + _STARTUP_MARGIN),
                         memory_limit=memory_limit, on_line=on_line)
        except subprocess.TimeoutExpired:
            pass  # whatever was graded is in the gradebook; the rest is retried one by one below
    for (student, chapter), (sub, result) in pending.items():
        if writes.get((student, chapter), 0) >= 2 and result.exercises:
            continue
        if not _collect(work, sub, result, cells[chapter]):
            _grade_alone(work, sub, result, cells[chapter], timeout, memory_limit)
        done(result)
    return results


def _grade_alone(work: Path, sub: Submission, result: StudentResult, cells: list[tuple[str, float]],
                 timeout: float, memory_limit: int | None) -> None:
    try:
        proc = run_nbgrader(work, "autograde", sub.chapter, "--student", sub.student, "--force",
                            timeout=timeout + _STARTUP_MARGIN, memory_limit=memory_limit)
    except subprocess.TimeoutExpired:
        _zero(result, cells, f"time limit: grading stopped after {timeout + _STARTUP_MARGIN:.0f} s")
        return
    if proc.returncode != 0 or not _collect(work, sub, result, cells):
        _zero(result, cells, f"autograding failed: {_last_error(proc.stdout)}")


def _cache_key(sub: Submission, work: Path, timeout: float, memory_limit: int | None, sandbox: bool = False,
               seed: int = 0) -> str:
    """Changes when the submission, the chapter's source (tests), the run's seed or the limits change."""
    digest = hashlib.sha256()
    try:  # never blocks or follows a link: a FIFO or a link to /dev/zero is keyed by why it is unreadable
        digest.update(read_submitted(sub.path).encode())
    except (ValueError, UnicodeDecodeError) as err:
        digest.update(f"unreadable: {err}".encode())
    digest.update((work / "source" / sub.chapter / f"{sub.chapter}.ipynb").read_bytes())
    digest.update(f"{sub.student}|{sub.chapter}|{timeout}|{memory_limit}|{sandbox}|{seed}|{CACHE_VERSION}".encode())
    return digest.hexdigest()


#: Bump when grading semantics change: cached results of older graders are then not reused.
CACHE_VERSION = 6


def _cached(cache_dir: Path | None, key: str, feedback_dir: Path | None) -> StudentResult | None:
    if cache_dir is None or not (cache_dir / f"{key}.json").exists():
        return None
    data = json.loads((cache_dir / f"{key}.json").read_text())
    result = StudentResult(data["student"], data["chapter"], [ExerciseResult(**e) for e in data["exercises"]],
                           data["problem"], data["notes"], cached=True)
    if feedback_dir is not None:
        html = feedback_dir / result.student / f"{result.chapter}.html"
        if not html.exists():
            return None  # regrade to regenerate the feedback
        result.feedback = html
    return result


def _store(cache_dir: Path | None, key: str, result: StudentResult) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    data = {"student": result.student, "chapter": result.chapter, "problem": result.problem, "notes": result.notes,
            "exercises": [vars(e) for e in result.exercises]}
    (cache_dir / f"{key}.json").write_text(json.dumps(data, indent=1))


def autograde(course: Course, submissions: list[Submission], work: Path, *, timeout: float = 300,
              feedback_dir: Path | None = None, progress: bool = True,
              memory_limit: int | None = DEFAULT_MEMORY_LIMIT, workers: int = 1,
              cache_dir: Path | None = None, sandbox: bool = False,
              autograded_dir: Path | None = None, seeds: dict[str, int] | None = None) -> list[StudentResult]:
    """Grade ``submissions`` in the nbgrader course directory ``work`` (recreated).

    ``workers`` notebooks are graded at once, each worker in its own copy of the course directory
    (its own gradebook: no SQLite lock contention). With ``cache_dir``, a submission graded before
    with the same notebook, tests and limits is not graded again (resumable batches). With
    ``sandbox``, each kernel runs in :mod:`autograder.sandbox`: file systems read-only, and the
    solutions, the course build, git history, the grading and output folders and the other
    submissions hidden, and each judge process runs in :mod:`autograder.jail`. With ``autograded_dir``,
    each graded notebook is kept there as ``<student>/<chapter>/<chapter>.ipynb`` (nbgrader's layout,
    for formgrader: ``course review``). ``seeds`` (chapter → seed) are the run's secret hidden-case
    seeds: drawn fresh when not given; pass a run's recorded seeds to reproduce its grades.
    """
    unknown = [s for s in submissions if not s.chapter]
    if unknown:
        raise CourseError("cannot tell which chapter these notebooks belong to: "
                          + ", ".join(str(s.path) for s in unknown) + " — pass --chapter")
    chapters = sorted({s.chapter for s in submissions})
    workers = max(1, min(int(workers), len(submissions)))
    dirs = [work / f"worker-{k}" for k in range(workers)] if workers > 1 else [work]
    if work.exists():
        shutil.rmtree(work)
    if sandbox:
        from .sandbox import available

        if (why := available()) is not None:
            raise CourseError(f"cannot sandbox the grading here: {why}. `course grade --unsafe` grades without "
                              "the sandbox (only for notebooks you trust)")
    seeds = {**draw_seeds(chapters), **(seeds or {})}
    for d in dirs:
        _prepare(course, d, chapters, timeout, sandbox, seeds, memory_limit)
    sources = {ch: nbformat.read(dirs[0] / "source" / ch / f"{ch}.ipynb", as_version=4) for ch in chapters}
    cells = {ch: graded_cells(nb) + written_cells(nb) for ch, nb in sources.items()}
    results: list[StudentResult | None] = [None] * len(submissions)
    graded_in: dict[int, Path] = {}
    todo = []
    for i, sub in enumerate(submissions):
        key = _cache_key(sub, dirs[0], timeout, memory_limit, sandbox, seeds[sub.chapter])
        results[i] = _cached(cache_dir, key, feedback_dir)
        if results[i] is None:
            todo.append((i, sub, key))
    bar = tqdm(total=len(submissions), initial=len(submissions) - len(todo), desc="grading", unit="notebook",
               disable=not progress)
    lock = threading.Lock()

    def done(result: StudentResult) -> None:
        with lock:
            bar.set_postfix_str(f"{result.student} / {result.chapter}")
            bar.update()

    shares = [todo[k::workers] for k in range(workers)]  # round robin: each worker grades its share in one batch
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_grade_batch, d, [sub for _, sub, _ in share], cells, timeout, memory_limit, done):
                   (d, share) for d, share in zip(dirs, shares, strict=True) if share}
        for future in as_completed(futures):
            d, share = futures[future]
            for (i, _, _), result in zip(share, future.result(), strict=True):
                results[i] = result
                graded_in[i] = d
    bar.close()
    if feedback_dir is not None:
        for d in dirs:
            mine = [i for i, wd in graded_in.items() if wd == d]
            if mine:
                _feedback(d, sorted({submissions[i].chapter for i in mine}), [results[i] for i in mine], feedback_dir)
    if autograded_dir is not None:
        for i, d in graded_in.items():
            _keep_autograded(d, results[i], autograded_dir)
    for i, _, key in todo:  # after the feedback: a cached result always has its feedback file
        _store(cache_dir, key, results[i])
    return results


def _keep_autograded(work: Path, result: StudentResult, out: Path) -> None:
    """Copy the graded notebook out of the (recreated) work directory; drop an older one if this
    grading produced none (an invalid notebook): manual review must not show a stale copy."""
    name = f"{result.chapter}.ipynb"
    source = work / "autograded" / result.student / result.chapter / name
    target = out / result.student / result.chapter / name
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    else:
        target.unlink(missing_ok=True)


def _feedback(work: Path, chapters: list[str], results: list[StudentResult], out: Path) -> None:
    for chapter in chapters:
        run_nbgrader(work, "generate_feedback", chapter, "--force")
    for r in results:
        html = work / "feedback" / r.student / r.chapter / f"{r.chapter}.html"
        if html.exists():
            target = out / r.student / f"{r.chapter}.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(html, target)
            r.feedback = target


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
