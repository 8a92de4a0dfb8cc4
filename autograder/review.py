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
again, so manual scores and comments given in formgrader survive a regrade of other students.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .course import Course, CourseError
from .exchange import exchange_root
from .grading import ExerciseResult, StudentResult, read_csv
from .lab import start_jupyterlab, write_nbgrader_config

__all__ = ["prepare_review", "read_grades", "review"]

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
            ex = ExerciseResult(row["exercise"], float(row["score"]), float(row["max"]), row["reason"] or "")
        except (KeyError, TypeError, ValueError) as err:
            raise CourseError(f"{path}: not a grades.csv written by `course grade` ({err!r} in {row})") from None
        results.setdefault(key, StudentResult(*key)).exercises.append(ex)
    return list(results.values())


def _digest(result: StudentResult) -> str:
    rows = [(e.exercise, e.score, e.max_score, e.reason) for e in result.exercises]
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
        changed = [r for r in results if stamp.get(f"{r.student}/{r.chapter}") != _digest(r)]
        if changed:
            publish(course, changed, db_url)
            stamp.update({f"{r.student}/{r.chapter}": _digest(r) for r in changed})
            stamp_path.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
            written = [f"{r.student}/{r.chapter}" for r in changed]
    write_nbgrader_config(graded, exchange_root(), {"CourseDirectory.root": str(graded),
                                                    "CourseDirectory.db_url": db_url})
    if missing:
        print(f"No graded notebook for {', '.join(missing)} (not a valid notebook?): formgrader shows "
              "their scores only.")
    return db_url, written


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
