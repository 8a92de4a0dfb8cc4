"""Autograding with nbgrader: lay out submissions, run ``nbgrader autograde`` per student, read
scores from the gradebook and reasons from the graded notebooks, write feedback and grades.csv.

Each student runs in its own nbgrader process with a time limit, so one bad notebook never stops
the batch. Every run grades into a fresh copy of the gradebook: a score is always from this run.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from .build import ensure_source
from .course import DEFAULT_MEMORY_LIMIT, Course, CourseError, run_nbgrader, write_config
from .results import (
    _ANSI,
    AWAITING,
    NO_ANSWER,
    ExerciseResult,
    StudentResult,
    csv_safe,
    exercise_name,
    format_table,
    grade_id,
    graded_cells,
    is_written,
    read_csv,
    reasons_from_notebook,
    write_csv,
    written_cells,
)
from .submissions import Submission, discover, read_submitted, restore_missing_cells

# grading.py runs nbgrader; results.py (scores, reasons, grades.csv) and submissions.py (finding and
# reading notebooks) are re-exported here for the command line and the tests.
__all__ = ["AWAITING", "NO_ANSWER", "ExerciseResult", "StudentResult", "Submission", "autograde", "csv_safe",
           "discover", "draw_seeds", "exercise_name", "grade_id", "is_written", "read_csv", "read_submitted",
           "graded_cells", "reasons_from_notebook", "restore_missing_cells", "write_csv", "written_cells",
           "format_table"]

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


def draw_seeds(chapters: Iterable[str]) -> dict[str, int]:
    """A fresh secret seed per chapter for one grading run: the hidden cases cannot be computed in
    advance (the case generators ship with course_lib; the seeds in the source notebooks are public)."""
    return {chapter: secrets.randbits(32) for chapter in sorted(set(chapters))}


def configure(work: Path, timeout: float, seeds: dict[str, int], sandbox: bool, memory_limit: int | None) -> None:
    """The nbgrader configuration of one grading folder (local or on a cluster worker). Classroom mode
    (``sandbox``): every grading kernel in autograder.sandbox and every judge in autograder.jail, both
    under the run's memory limit."""
    write_config(work, notebook_timeout=timeout, seeds=seeds, sandbox=sandbox,
                 kernel_memory=memory_limit if sandbox else None, judge_memory=memory_limit if sandbox else None)


def _prepare(course: Course, work: Path, chapters: Iterable[str], timeout: float, sandbox: bool,
             seeds: dict[str, int], memory_limit: int | None) -> None:
    configure(work, timeout, seeds, sandbox, memory_limit)
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
              autograded_dir: Path | None = None, seeds: dict[str, int] | None = None,
              cluster: str | None = None) -> list[StudentResult]:
    """Grade ``submissions`` in the nbgrader course directory ``work`` (recreated).

    ``workers`` notebooks are graded at once, each worker in its own copy of the course directory
    (its own gradebook: no SQLite lock contention). With ``cache_dir``, a submission graded before
    with the same notebook, tests and limits is not graded again (resumable batches). With
    ``sandbox``, each kernel runs in :mod:`autograder.sandbox`: file systems read-only, and the
    solutions, the course build, git history, the grading and output folders and the other
    submissions hidden, and each judge process runs in :mod:`autograder.jail`. With ``autograded_dir``,
    each graded notebook is kept there as ``<student>/<chapter>/<chapter>.ipynb`` (nbgrader's layout,
    for formgrader: ``course review``). ``seeds`` (chapter → seed) are the run's secret hidden-case
    seeds: drawn fresh when not given; pass a run's recorded seeds to reproduce its grades. With
    ``cluster`` (``tcp://host:port`` or ``local:N``), each submission is a task on that Dask cluster,
    graded by the same function (:mod:`autograder.cluster`); everything is written here, as locally.
    """
    unknown = [s for s in submissions if not s.chapter]
    if unknown:
        raise CourseError("cannot tell which chapter these notebooks belong to: "
                          + ", ".join(str(s.path) for s in unknown) + " — pass --chapter")
    chapters = sorted({s.chapter for s in submissions})
    workers = 1 if cluster else max(1, min(int(workers), len(submissions)))
    dirs = [work / f"worker-{k}" for k in range(workers)] if workers > 1 else [work]
    if work.exists():
        shutil.rmtree(work)
    if sandbox and not cluster:  # on a cluster, each worker checks its own machine
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

    if cluster:
        from .cluster import grade_on_cluster

        graded = grade_on_cluster(cluster, dirs[0], [(i, sub) for i, sub, _ in todo], seeds, timeout, memory_limit,
                                  sandbox, cells, done, progress)
        bar.close()
        for i, (result, notebook, html) in graded.items():
            results[i] = result
            _write_returned(result, notebook, html, feedback_dir, autograded_dir)
        for i, _, key in todo:
            _store(cache_dir, key, results[i])
        return results
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


def _write_returned(result: StudentResult, notebook: str | None, html: str | None, feedback_dir: Path | None,
                    autograded_dir: Path | None) -> None:
    """Write what a cluster worker sent back where the local path puts it (only the client writes)."""
    if feedback_dir is not None and html is not None:
        target = feedback_dir / result.student / f"{result.chapter}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html)
        result.feedback = target
    if autograded_dir is not None:
        target = autograded_dir / result.student / result.chapter / f"{result.chapter}.ipynb"
        if notebook is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(notebook)
        else:
            target.unlink(missing_ok=True)


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
