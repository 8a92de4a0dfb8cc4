"""The course's gradebook: publish a grading run's scores into nbgrader's database (SQLite or PostgreSQL).

``course grade`` grades in fresh per-worker SQLite gradebooks (so every score is from this run);
``course grade --db URL`` then publishes the results into one gradebook that staff and formgrader
read — ``sqlite:///path/gradebook.db`` or ``postgresql://user@host:port/dbname`` (psycopg 3). For
each chapter graded, the assignment's notebooks and cells are copied from the course build's
gradebook; for each student an earlier submission of that chapter is removed first (no stale
grades: a regrade that now fails replaces the old score) and a new one gets the auto scores, the
reasons as auto comments and the time of grading. A written answer awaiting manual grading is stored
as nbgrader's autograde stores one (no auto score, needs a manual grade); one left blank gets 0.
"""

from __future__ import annotations

import datetime
import os
import re
import warnings
from collections.abc import Iterable

from .course import COURSE_ID, Course, nbgrader_env

__all__ = ["publish", "redact"]


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def _copy_assignment(source, target, chapter: str) -> None:
    """The assignment's notebooks and cells, from the build's gradebook into ``target``."""
    assignment = source.find_assignment(chapter)
    target.update_or_create_assignment(chapter, course_id=COURSE_ID, duedate=assignment.duedate)
    for nb in assignment.notebooks:
        target.update_or_create_notebook(nb.name, chapter)
        for cell in nb.grade_cells:
            target.update_or_create_grade_cell(cell.name, nb.name, chapter, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
        for cell in nb.solution_cells:
            target.update_or_create_solution_cell(cell.name, nb.name, chapter)
        for cell in nb.source_cells:
            target.update_or_create_source_cell(cell.name, nb.name, chapter, cell_type=cell.cell_type,
                                                locked=cell.locked, source=cell.source, checksum=cell.checksum)


def publish(course: Course, results: Iterable, db_url: str) -> int:
    """Write ``results`` (``grading.StudentResult``) into the gradebook at ``db_url``; returns how many
    submissions were written. Results without exercises (nothing could be graded) are written with 0."""
    from nbgrader.api import Gradebook, MissingEntry

    from .grading import grade_id

    os.environ["PATH"] = nbgrader_env()["PATH"]  # a new gradebook runs `alembic` by name (it is in our bin/)
    results = list(results)
    now = datetime.datetime.now(datetime.UTC)
    with warnings.catch_warnings():
        # nbgrader's remove_submission/add_submission make SQLAlchemy warn about its own session handling
        warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")
        with Gradebook(f"sqlite:///{course.build / 'gradebook.db'}", course_id=COURSE_ID) as source, \
                Gradebook(db_url, course_id=COURSE_ID) as gb:
            for chapter in sorted({r.chapter for r in results}):
                _copy_assignment(source, gb, chapter)
            for r in results:
                gb.update_or_create_student(r.student)
                try:
                    gb.remove_submission(r.chapter, r.student)
                except MissingEntry:
                    pass
                gb.add_submission(r.chapter, r.student, timestamp=now)
                for ex in r.exercises:
                    try:
                        grade = gb.find_grade(grade_id(ex.exercise), r.chapter, r.chapter, r.student)
                    except MissingEntry:
                        continue
                    grade.auto_score = ex.score  # None: a written answer for staff to score
                    grade.needs_manual_grade = ex.pending  # as nbgrader's autograde leaves the cell
                    try:
                        comment = gb.find_comment(ex.exercise, r.chapter, r.chapter, r.student)
                        comment.auto_comment = None if ex.pending else ex.reason or None
                    except MissingEntry:
                        pass
                gb.db.commit()
    return len(results)
