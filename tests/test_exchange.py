"""nbgrader's exchange, end to end through the `course` commands, for three simulated students:
release → fetch → (work) → submit → collect → grade → return → fetch-feedback."""

from __future__ import annotations

import os

import nbformat
import pytest

from tests._rows import autograded_rows
from tests.test_roundtrip import MISTAKES, _course, _solution_sources

pytestmark = pytest.mark.slow

CHAPTER = "ch03_pooling"


def _work(notebook, solutions: dict[str, str]) -> None:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell.source = solutions[gid]
    nbformat.write(nb, notebook)


def test_release_fetch_submit_collect_grade_return(tmp_path, build_env):
    env = dict(build_env, COURSE_EXCHANGE=str(tmp_path / "exchange"))

    def as_student(student):  # each student's nbgrader cache lives in their own home, as on a real machine
        return dict(env, JUPYTER_DATA_DIR=str(tmp_path / student / ".local"))

    solved = _solution_sources(CHAPTER)
    gid, old, new = (MISTAKES[CHAPTER][k] for k in ("cell", "replace", "with"))
    work = {"alice": solved, "bob": {}, "carol": dict(solved, **{gid: solved[gid].replace(old, new, 1)})}

    proc = _course("release", "ch03", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "exchange" / "dl-course" / "outbound" / CHAPTER / f"{CHAPTER}.ipynb").exists()

    for student, solutions in work.items():
        home = tmp_path / student
        proc = _course("fetch", "ch03", "--dir", str(home), env=as_student(student))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _work(home / CHAPTER / f"{CHAPTER}.ipynb", solutions)
        proc = _course("submit", "ch03", "--dir", str(home), "--student", student, env=as_student(student))
        assert proc.returncode == 0, proc.stdout + proc.stderr

    proc = _course("collect", "ch03", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Collected 3 submission(s)" in proc.stdout and "alice, bob, carol" in proc.stdout
    submitted = proc.stdout.split("into ", 1)[1].split("/:", 1)[0]

    graded = tmp_path / "graded"
    proc = _course("grade", submitted, "--chapter", "ch03", "--out", str(graded), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    totals: dict[str, float] = {}
    full = 0.0
    for row in autograded_rows(graded / "grades.csv"):
        totals[row["student"]] = totals.get(row["student"], 0) + float(row["score"])
        full += float(row["max"]) if row["student"] == "alice" else 0.0
    assert full > 0 and totals["alice"] == full and totals["bob"] == 0 and 0 < totals["carol"] < full, totals

    proc = _course("return", "ch03", "--graded", str(graded), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Returned feedback to 3 student(s)" in proc.stdout

    for student in work:
        proc = _course("fetch-feedback", "ch03", "--dir", str(tmp_path / student), "--student", student,
                       env=as_student(student))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        files = list((tmp_path / student / CHAPTER / "feedback").glob(f"*/{CHAPTER}.html"))
        assert len(files) == 1, proc.stdout
        html = files[0].read_text()
        assert "hidden_check" not in html, "feedback shows hidden tests"
        if student == "carol":
            assert "expected" in html, "carol's feedback lost the reason for her lost points"


def test_exchange_errors_are_explained(tmp_path, build_env):
    env = dict(build_env, COURSE_EXCHANGE=str(tmp_path / "exchange"))
    proc = _course("submit", "ch03", "--dir", str(tmp_path), env=env)
    assert proc.returncode == 2 and "run `course fetch" in proc.stderr
    os.makedirs(tmp_path / "graded" / "feedback")
    proc = _course("return", "ch03", "--graded", str(tmp_path / "graded"), env=env)
    assert proc.returncode == 2 and "no feedback" in proc.stderr


def test_collect_sets_aside_submissions_made_in_another_students_name(tmp_path):
    """Row 10 of #18: a submission in the inbound under student A's id but owned by user B (or a link)
    is reported and moved aside; A's own, and ids that are no user of this machine, are collected."""
    import os
    import pwd

    from autograder.exchange import verify_inbound

    if os.geteuid() != 0:
        pytest.skip("needs root to give the planted submissions their owners")
    nobody = pwd.getpwnam("nobody").pw_uid
    other = next(p.pw_uid for p in pwd.getpwall() if p.pw_uid not in (0, nobody))
    inbound = tmp_path / "dl-course" / "inbound"
    inbound.mkdir(parents=True)
    own = inbound / f"nobody+{CHAPTER}+2027-03-01 10:00:00.000000 UTC+abc"
    forged = inbound / f"nobody+{CHAPTER}+2027-03-01 11:00:00.000000 UTC+def"
    shared = inbound / f"carol+{CHAPTER}+2027-03-01 12:00:00.000000 UTC+ghi"
    for path, uid in ((own, nobody), (forged, other), (shared, other)):
        path.mkdir()
        os.chown(path, uid, uid)
    link = inbound / f"nobody+{CHAPTER}+2027-03-01 13:00:00.000000 UTC+jkl"
    link.symlink_to(own)

    problems = verify_inbound(CHAPTER, tmp_path)
    assert len(problems) == 2 and all("in the name of nobody" in p for p in problems), problems
    assert sorted(p.name for p in inbound.iterdir()) == sorted([own.name, shared.name])
    assert sorted(p.name for p in (tmp_path / "dl-course" / "quarantine").iterdir()) == sorted([forged.name, link.name])
