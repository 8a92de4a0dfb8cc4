"""``course review GRADED``: nbgrader's formgrader on a grading run, for manual review.

Formgrader reads nbgrader's layout under one course directory: the gradebook, ``source/<chapter>/``
and ``autograded/<student>/<chapter>/<chapter>.ipynb``; and it must sit inside the folder Jupyter
serves. ``course grade --out GRADED`` keeps every graded notebook in ``GRADED/autograded/`` (the
grading itself runs in scratch directories), so ``GRADED`` is that course directory: this module
adds the chapters' sources and a gradebook, writes ``GRADED/nbgrader_config.py`` and starts
JupyterLab there on ``/formgrader``.

The gradebook is ``--db URL`` when the run was published with ``course grade --db URL`` (staff
then review where the scores already are), otherwise ``GRADED/gradebook.db``, filled from
``grades.csv``. Only submissions whose rows changed since the last ``course review`` are written
again, so manual scores and comments given in formgrader survive a regrade of other students (a
submission counts as changed when its autograded rows or the text of its written answers changed).

``course export GRADED`` (:func:`export_grades`) reads the gradebook back: ``GRADED/export/grades.csv``
has the rows of ``GRADED/grades.csv`` with the scores staff gave — written answers, and any test cell
whose score they overrode — and their comments. ``GRADED/grades.csv`` itself stays what the grader
decided, so ``course review`` never mistakes a person's score for a regrade.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .course import Course, CourseError
from .exchange import exchange_root
from .grading import AWAITING, NO_ANSWER, ExerciseResult, StudentResult, grade_id, read_csv, write_csv
from .lab import start_jupyterlab, write_nbgrader_config

__all__ = ["export_grades", "prepare_review", "read_grades", "review"]

#: Which rows of grades.csv each submission in GRADED/gradebook.db was written from.
_STAMP = ".review-published.json"


def read_grades(path: Path) -> list[StudentResult]:
    """The results in a ``grades.csv`` written by ``course grade`` (one per student and chapter)."""
    if not path.exists():
        raise CourseError(f"{path} not found: run `course grade ... --out {path.parent}` first")
    results: dict[tuple[str, str], StudentResult] = {}
    for row in read_csv(path):
        try:
            key = (row["student"], row["chapter"])
            score = float(row["score"]) if row["score"] else None  # empty: a written answer awaiting a person
            ex = ExerciseResult(row["exercise"], score, float(row["max"]), row["reason"] or "")
        except (KeyError, TypeError, ValueError) as err:
            raise CourseError(f"{path}: not a grades.csv written by `course grade` ({err!r} in {row})") from None
        results.setdefault(key, StudentResult(*key)).exercises.append(ex)
    return list(results.values())


def _answers(graded: Path, result: StudentResult) -> list[str]:
    """The text of the written answers in the graded notebook (empty without written questions)."""
    import nbformat

    from .grading import written_cells

    path = graded / "autograded" / result.student / result.chapter / f"{result.chapter}.ipynb"
    if not any(e.written for e in result.exercises) or not path.exists():
        return []
    nb = nbformat.read(path, as_version=4)
    ids = {gid for gid, _ in written_cells(nb)}
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in ids]


def _digest(result: StudentResult, answers: list[str] | None = None) -> str:
    rows = [(e.exercise, e.score, e.max_score, e.reason) for e in result.exercises]
    if answers:  # without written answers the digest is the one earlier versions stamped
        rows.append(answers)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def prepare_review(course: Course, graded: Path, db_url: str | None = None) -> tuple[str, list[str]]:
    """Make ``graded`` an nbgrader course directory formgrader can serve.

    Returns the gradebook URL and the submissions written to it now ("student/chapter")."""
    from .build import ensure_source
    from .gradebook import publish

    graded = graded.resolve()
    results = read_grades(graded / "grades.csv")
    chapters = sorted({r.chapter for r in results})
    for chapter in chapters:
        source = ensure_source(course, chapter)
        target = graded / "source" / chapter / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    missing = [f"{r.student}/{r.chapter}" for r in results
               if not (graded / "autograded" / r.student / r.chapter / f"{r.chapter}.ipynb").exists()]
    if missing and len(missing) == len(results):
        raise CourseError(f"{graded}/autograded/ holds no graded notebooks: grade again with this version of "
                          "`course grade` (it keeps them for review)")
    written: list[str] = []
    if db_url is None:
        db_url = f"sqlite:///{graded / 'gradebook.db'}"
        stamp_path = graded / _STAMP
        stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() and (graded / "gradebook.db").exists() else {}
        digests = {f"{r.student}/{r.chapter}": _digest(r, _answers(graded, r)) for r in results}
        changed = [r for r in results if stamp.get(f"{r.student}/{r.chapter}") != digests[f"{r.student}/{r.chapter}"]]
        if changed:
            publish(course, changed, db_url)
            stamp.update({f"{r.student}/{r.chapter}": digests[f"{r.student}/{r.chapter}"] for r in changed})
            stamp_path.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
            written = [f"{r.student}/{r.chapter}" for r in changed]
    write_nbgrader_config(graded, exchange_root(), {"CourseDirectory.root": str(graded),
                                                    "CourseDirectory.db_url": db_url})
    if missing:
        print(f"No graded notebook for {', '.join(missing)} (not a valid notebook?): formgrader shows "
              "their scores only.")
    return db_url, written


def export_grades(course: Course, graded: Path, db_url: str | None = None,
                  out: Path | None = None) -> tuple[Path, str, int]:
    """Write ``graded/export/grades.csv`` (or ``out``): the rows of ``graded/grades.csv`` with the
    scores and comments staff gave in formgrader.

    A written answer keeps an empty score while no one has scored it; a test cell keeps the grader's
    score unless staff overrode it (the reason then says so). Returns the path, the gradebook URL and
    how many written answers still await manual grading."""
    from nbgrader.api import Gradebook, MissingEntry

    from .course import COURSE_ID

    graded = graded.resolve()
    results = read_grades(graded / "grades.csv")
    if db_url is None:
        if not (graded / "gradebook.db").exists():
            raise CourseError(f"{graded}/gradebook.db not found: run `course review {graded}` first (or pass --db)")
        db_url = f"sqlite:///{graded / 'gradebook.db'}"
    pending = 0
    with Gradebook(db_url, course_id=COURSE_ID) as gb:
        for r in results:
            for ex in r.exercises:
                try:
                    grade = gb.find_grade(grade_id(ex.exercise), r.chapter, r.chapter, r.student)
                except MissingEntry:
                    continue  # not published (the notebook could not be graded): the grader's row stands
                try:
                    comment = gb.find_comment(ex.exercise, r.chapter, r.chapter, r.student).manual_comment
                except MissingEntry:
                    comment = None
                comment = " ".join((comment or "").split())
                if ex.written:
                    if grade.manual_score is not None:
                        ex.score, ex.reason = float(grade.manual_score), comment
                    elif grade.auto_score is not None:
                        ex.score, ex.reason = float(grade.auto_score), comment or NO_ANSWER
                    else:
                        ex.score, ex.reason = None, AWAITING
                elif grade.manual_score is not None and float(grade.manual_score) != ex.score:
                    ex.reason = "; ".join(t for t in (
                        f"score set by staff (the grader gave {ex.score:g})", comment, ex.reason) if t)
                    ex.score = float(grade.manual_score)
                elif comment:
                    ex.reason = "; ".join(t for t in (f"staff: {comment}", ex.reason) if t)
                pending += ex.pending
    path = out or graded / "export" / "grades.csv"
    write_csv(results, path)
    return path, db_url, pending


def review(course: Course, graded: Path, db_url: str | None, jupyter_args: list[str]) -> None:
    """Prepare ``graded`` (see :func:`prepare_review`), then replace this process by JupyterLab on formgrader."""
    from .gradebook import redact

    graded = graded.resolve()
    db_url, written = prepare_review(course, graded, db_url)
    if written:
        print(f"Wrote {len(written)} submission(s) into the gradebook {redact(db_url)}")
    print(f"Formgrader on {graded}: Nbgrader → Formgrader in JupyterLab, or the /formgrader page. "
          "Manual scores and comments go into the gradebook.", flush=True)
    # started in `graded`: formgrader also reads ./nbgrader_config.py
    start_jupyterlab(graded, graded, jupyter_args, ("--LabApp.default_url=/formgrader",))
