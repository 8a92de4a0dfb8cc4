"""Written questions (graded by people) and the "differs from the lecture notes" box, in every chapter;
and how grading reports written answers: awaiting manual grading — never 0 — until staff score them."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from autograder.build import _check_written, leaked_lines
from autograder.course import Course, CourseError
from autograder.grading import (
    AWAITING,
    ExerciseResult,
    StudentResult,
    format_table,
    grade_id,
    read_csv,
    write_csv,
    written_cells,
)
from autograder.report import summarise
from autograder.review import read_grades

COURSE = Course(__import__("pathlib").Path(__file__).resolve().parents[1])
CHAPTERS = COURSE.chapter_names()
BOX = "Where this chapter differs from the lecture notes"


def _cells(chapter: str):
    return jupytext.read(COURSE.solutions / f"{chapter}.py", fmt="py:percent").cells


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_the_box_and_two_or_three_written_questions(chapter):
    cells = _cells(chapter)
    boxes = [c for c in cells if c.cell_type == "markdown" and BOX in c.source]
    assert len(boxes) == 1, f"{chapter}: one '{BOX}' box"
    assert len(re.findall(r"^> \* ", boxes[0].source, re.M)) >= 1, "the box lists at least one difference"
    answers = [(i, c) for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(
        "written_")]
    assert 2 <= len(answers) <= 3, f"{chapter}: 2-3 written questions, found {len(answers)}"
    for i, cell in answers:
        meta = cell.metadata["nbgrader"]
        assert cell.cell_type == "markdown" and meta["grade"] and meta["solution"] and not meta["locked"]
        assert meta["points"] > 0 and meta["schema_version"] == 3
        _check_written(COURSE.solutions / f"{chapter}.py", cell)  # the build's own rule
        assert "**Model answer.**" in cell.source and "**Rubric" in cell.source, f"{meta['grade_id']}: rubric"
        question = cells[i - 1]
        assert question.cell_type == "markdown" and "**Question" in question.source, "the question comes first"
        assert f"({meta['points']:g} point" in question.source, "the question states its points"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_release_keeps_the_questions_and_drops_answers_and_rubrics(chapter):
    nb = nbformat.read(COURSE.chapter_notebook(chapter), as_version=4)
    written = {gid for gid, _ in written_cells(nb)}
    assert len(written) in (2, 3), "chapters/ is out of date: run `course build`"
    text = "\n".join(c.source for c in nb.cells)
    assert BOX in text and "**Question 1**" in text
    assert "Model answer" not in text and "Rubric" not in text
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in written:
            assert cell.source.strip() == "YOUR ANSWER HERE"
    assert leaked_lines(COURSE.solutions / f"{chapter}.py", text) == []


def test_the_build_refuses_malformed_written_cells(tmp_path):
    good = {"grade": True, "grade_id": "written_x", "locked": False, "points": 2, "schema_version": 3,
            "solution": True, "task": False}
    ok = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nanswer\n### END SOLUTION", metadata={"nbgrader": good})
    _check_written(tmp_path / "s.py", ok)
    for change, source in [({"grade_id": "x"}, ok.source), ({"points": 0}, ok.source), ({"solution": False}, ok.source),
                           ({}, "an answer without markers")]:
        cell = nbformat.v4.new_markdown_cell(source, metadata={"nbgrader": {**good, **change}})
        with pytest.raises(CourseError):
            _check_written(tmp_path / "s.py", cell)
    code = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {**good, "solution": False}})
    with pytest.raises(CourseError, match="written_"):
        _check_written(tmp_path / "s.py", code)


def _result() -> StudentResult:
    return StudentResult("ada", "ch12_lstm_gru", [
        ExerciseResult("lstm_cell_forward", 3.0, 3.0),
        ExerciseResult("gru_cell_forward", 1.0, 3.0, "CheckFailure: values are wrong"),
        ExerciseResult("written_forget_bias", None, 2.0, AWAITING),
        ExerciseResult("written_cell_path", 0.0, 2.0, "no answer written"),
    ])


def test_pending_written_points_are_apart_from_the_autograded_score(tmp_path):
    r = _result()
    assert (r.score, r.max_score) == (4.0, 6.0)  # the autograded part, exactly as without written questions
    assert (r.written_score, r.written_max, r.pending) == (0.0, 4.0, 2.0)
    assert r.total_text() == "4/6 + written 0/4 (2 awaiting manual grading)"
    assert grade_id("gru_cell_forward") == "test_gru_cell_forward" and grade_id("written_x") == "written_x"
    table = format_table(r)
    line = next(ln for ln in table.splitlines() if ln.startswith("written_forget_bias"))
    assert "?/2" in line and AWAITING in line and "✘" not in line
    assert "(2 awaiting manual grading)" in table.splitlines()[-1]

    path = tmp_path / "grades.csv"
    write_csv([r], path)
    rows = {row["exercise"]: row for row in read_csv(path)}
    assert rows["written_forget_bias"]["score"] == "" and rows["written_forget_bias"]["reason"] == AWAITING
    assert rows["written_cell_path"]["score"] == "0"
    (back,) = read_grades(path)
    assert [(e.exercise, e.score) for e in back.exercises] == [(e.exercise, e.score) for e in r.exercises]
    stats, _ = summarise(read_csv(path))
    assert {s.exercise for s in stats} == {"lstm_cell_forward", "gru_cell_forward", "written_cell_path"}
