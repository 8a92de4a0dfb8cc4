"""Fast unit tests of the `course` command's pieces (the slow end-to-end runs are in test_roundtrip)."""

from __future__ import annotations

import csv
import os

import nbformat
import pytest

from autograder.build import release_text, student_work
from autograder.cli import main
from autograder.course import Course, CourseError
from autograder.grading import (
    ExerciseResult,
    StudentResult,
    _last_error,
    discover,
    format_table,
    reasons_from_notebook,
)
from tests.test_roundtrip import COURSE, ROOT


def test_resolve_chapter_accepts_short_names():
    assert COURSE.resolve_chapter("2") == "ch02_convolution"
    assert COURSE.resolve_chapter("ch03") == "ch03_pooling"
    assert COURSE.resolve_chapter("pooling") == "ch03_pooling"
    with pytest.raises(CourseError, match="unknown chapter 'ch99'; chapters: .*ch02_convolution, ch03_pooling"):
        COURSE.resolve_chapter("ch99")


def test_build_never_overwrites_a_students_work(tmp_path):
    fresh = COURSE.chapter_notebook("ch02_convolution").read_text()
    assert student_work(COURSE.chapter_notebook("ch02_convolution"), fresh) == []
    assert student_work(tmp_path / "missing.ipynb", fresh) == []
    nb = nbformat.reads(fresh, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    cell.source = cell.source.replace("raise NotImplementedError()", "return 42")
    cell.outputs = [nbformat.v4.new_output("stream", text="hi")]
    edited = tmp_path / "edited.ipynb"
    nbformat.write(nb, edited)
    assert student_work(edited, fresh) == ["1 edited exercise cell(s)", "executed outputs"]
    edited.write_text("{ broken")
    assert student_work(edited, fresh) == ["the file is not a valid notebook"]


def test_release_text_strips_outputs(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=3,
                                                                     outputs=[nbformat.v4.new_output(
                                                                         "execute_result", {"text/plain": "2"},
                                                                         execution_count=3)])])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    again = nbformat.reads(release_text(path), as_version=4)
    assert again.cells[0].outputs == [] and again.cells[0].execution_count is None


def test_discover_explains_empty_and_unknown(tmp_path):
    with pytest.raises(CourseError, match="no notebooks found"):
        discover(tmp_path, COURSE)
    with pytest.raises(CourseError, match="does not exist"):
        discover(tmp_path / "missing", COURSE)
    (tmp_path / "eve.ipynb").write_text("not json")
    (sub,) = discover(tmp_path, COURSE)
    assert sub.student == "eve" and sub.chapter == ""  # the grader then asks for --chapter


def test_discover_finds_misnamed_notebooks_and_says_so(tmp_path, capsys):
    chapter = "ch03_pooling"
    folder = tmp_path / "submitted" / "ada" / chapter
    folder.mkdir(parents=True)
    for name in ("Untitled.ipynb", "ch03_pooling-Copy1.ipynb"):
        (folder / name).write_text("{}")
    (sub,) = discover(tmp_path / "submitted", COURSE)
    assert (sub.student, sub.chapter, sub.path.name) == ("ada", chapter, "Untitled.ipynb")
    assert sub.note == f"graded `Untitled.ipynb` (expected {chapter}.ipynb); ignored `ch03_pooling-Copy1.ipynb`"
    (folder / f"{chapter}.ipynb").write_text("{}")
    (sub,) = discover(tmp_path / "submitted", COURSE)
    assert sub.path.name == f"{chapter}.ipynb" and "expected" not in sub.note and "Untitled.ipynb" in sub.note

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "bob.ipynb").write_text("{}")
    (plain / "bob.ipynb.bak").write_text("{}")
    (plain / "carol.pdf").write_bytes(b"%PDF")
    (plain / ".DS_Store").write_bytes(b"")
    assert [s.student for s in discover(plain, COURSE)] == ["bob"]      # no chapter: carol.pdf is not guessed
    err = capsys.readouterr().err
    assert "ignored bob.ipynb.bak: bob.ipynb is graded" in err and "ignored carol.pdf" in err
    subs = discover(plain, COURSE, chapter="ch03")
    assert [(s.student, s.path.name) for s in subs] == [("bob", "bob.ipynb"), ("carol", "carol.pdf")]
    assert subs[1].note == "graded `carol.pdf` as carol's notebook (expected carol.ipynb)"


def test_reasons_and_last_error():
    cell = nbformat.v4.new_code_cell("check_x(x)", metadata={"nbgrader": {"grade": True, "grade_id": "test_x"}})
    cell.outputs = [nbformat.v4.new_output("error", ename="CheckFailure", evalue="\x1b[31mshape (2,) expected (3,)",
                                           traceback=[])]
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert reasons_from_notebook(nb) == {"test_x": "CheckFailure: shape (2,) expected (3,)"}
    log = ("[AutogradeApp | ERROR] Traceback...\n    raise DeadKernelError('Kernel died')\n"
           "nbclient.exceptions.DeadKernelError: Kernel died\n"
           "[AutogradeApp | ERROR] Please see the the above traceback for details")
    assert _last_error(log).startswith("the kernel died while running the notebook")
    assert _last_error(log).endswith("[nbclient.exceptions.DeadKernelError: Kernel died]")


def test_format_table_wraps_reasons_and_totals():
    result = StudentResult("you", "ch02", [ExerciseResult("conv2d", 0, 3, "x " * 100), ExerciseResult("pad", 1, 1)])
    table = format_table(result)
    assert "conv2d" in table and "✘" in table and "✔" in table and "total" in table and "1/4" in table
    assert all(len(line) <= 130 for line in table.splitlines())


def test_cli_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    assert main(["--root", str(ROOT), "check", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("course check:") and "not found" in err and "Traceback" not in err
    assert main(["--root", str(tmp_path), "build"]) == 2
    assert "course build is for instructors" in capsys.readouterr().err.replace("`", "")


def test_course_list(capsys):
    assert main(["--root", str(ROOT), "list"]) == 0
    out = capsys.readouterr().out
    assert "ch02_convolution: 8 exercises, 17 points" in out and "conv2d_backward" in out


def test_course_without_solutions_is_classroom_mode(tmp_path):
    (tmp_path / "chapters" / "ch02_convolution").mkdir(parents=True)
    assert not Course(tmp_path).has_solutions
    assert Course(tmp_path).chapter_names() == ["ch02_convolution"]


def test_feedback_preprocessor_hides_hidden_tests():
    from autograder.feedback import HideHiddenTests, strip_hidden

    src = 'check_x(x)\n### BEGIN HIDDEN TESTS\nhidden_check("x", x, seed=1)\n### END HIDDEN TESTS\n'
    assert strip_hidden(src) == "check_x(x)\n# (hidden tests ran here)"
    cell = nbformat.v4.new_code_cell(src, metadata={"nbgrader": {"grade": True, "grade_id": "test_x"}})
    cell.outputs = [nbformat.v4.new_output("error", ename="CheckFailure", evalue="x is wrong",
                                           traceback=['----> 3 hidden_check("x", x, seed=1)'])]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert "hidden_check" not in cell.source + "".join(cell.outputs[0].traceback)
    assert cell.outputs[0].traceback == ["CheckFailure: x is wrong"]
    assert HideHiddenTests().enabled


def test_instructor_report(tmp_path, capsys):
    from autograder.cli import main
    from autograder.report import reason_group

    grades = tmp_path / "grades.csv"
    rows = ["student,chapter,exercise,score,max,reason"]
    for i in range(4):  # 4 students: one full, two with the same mistake at different sizes, one blank
        wrong = f"CheckFailure: the result of f(x=array ({i}, 2)): {i + 1} of 72 values are wrong. First at ({i}, 0)"
        score, reason = ("3", "") if i == 0 else ("0", "NotImplementedError: not implemented yet") if i == 3 else \
            ("0", wrong)
        rows += [f"s{i},ch02_convolution,f,{score},3,\"{reason}\"", f"s{i},ch02_convolution,g,1,2,AssertionError: x"]
    grades.write_text("\n".join(rows) + "\n")
    assert main(["report", str(grades)]) == 0
    out = capsys.readouterr().out
    assert "2 × ch02 f: CheckFailure: the result of f: N of N values are wrong." in out
    report = tmp_path / "report"
    exercises = list(csv.DictReader((report / "exercises.csv").open()))
    f = next(r for r in exercises if r["exercise"] == "f")
    assert (f["submissions"], f["mean"], f["full_marks_%"], f["zero_%"]) == ("4", "0.75", "25", "75")
    g = next(r for r in exercises if r["exercise"] == "g")
    assert g["partial_%"] == "100"
    assert (report / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert reason_group("TimeLimit: ran 300 s") == "TimeLimit: ran N s"
    assert main(["report", str(tmp_path / "missing.csv")]) == 2


def test_review_explains_a_folder_that_is_not_a_graded_run(tmp_path, capsys):
    assert main(["--root", str(ROOT), "review", str(tmp_path)]) == 2
    assert "grades.csv not found: run `course grade" in capsys.readouterr().err
    (tmp_path / "grades.csv").write_text("name,points\nada,3\n")
    assert main(["--root", str(ROOT), "review", str(tmp_path)]) == 2
    assert "not a grades.csv written by `course grade`" in capsys.readouterr().err


def test_a_test_cells_declared_exercise_must_match_its_checks(tmp_path):
    from autograder.build import _read_solution, calls_in_code

    code = 'check_max_pool2d(max_pool2d)\nhidden_check("max_pool2d", max_pool2d, seed=301)\n'
    assert calls_in_code(code) == [("max_pool2d", "max_pool2d", False, 0), ("max_pool2d", "max_pool2d", True, 301)]
    header = '# %% nbgrader={"grade": true, "grade_id": "t", "locked": true, "points": 1, "schema_version": 3, ' \
             '"solution": false, "task": false}'
    good = tmp_path / "ch99_good.py"
    good.write_text(f'{header} course={{"exercise": "max_pool2d", "seed": 301}}\n{code}')
    assert _read_solution(good).cells[0].metadata["course"] == {"exercise": "max_pool2d", "seed": 301}
    for bad in (f'{header} course={{"exercise": "max_pool2d", "seed": 302}}\n{code}',   # another hidden seed
                f'{header} course={{"exercise": "avg_pool2d", "seed": 301}}\n{code}',   # another exercise
                f'{header}\n{code}'):                                                    # nothing declared
        path = tmp_path / "ch99_bad.py"
        path.write_text(bad)
        with pytest.raises(CourseError, match="test cell 't' declares"):
            _read_solution(path)


def test_the_grading_kernel_skips_experiments_tagged_skip_when_grading():
    from autograder.safe_execute import SKIP_TAG, SKIPPED, SafeExecute

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("raise RuntimeError('a long training run')", metadata={"tags": [SKIP_TAG]}),
        nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb, _ = SafeExecute(notebook_timeout=120).preprocess(nb, {"metadata": {"path": "."}})
    assert "COURSE_GRADING" not in os.environ      # only the kernel grades: this process's checks still check
    assert nb.cells[0].outputs[0]["text"] == SKIPPED
    assert nb.cells[1].outputs[0]["text"] == "42\n"
