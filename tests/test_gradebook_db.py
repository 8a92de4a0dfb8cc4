"""`course grade --db`: the scores land in an nbgrader gradebook — SQLite, and a real PostgreSQL server.

The PostgreSQL server is Debian's ``postgresql`` package (``make test`` installs it), started here in a
temporary directory on a free port and stopped afterwards; as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

from tests._rows import autograded_rows
from tests.test_roundtrip import MISTAKES, _course, _solution_sources, _submission

CHAPTER = "ch03_pooling"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server; skipped (with the reason) only when PostgreSQL is not installed."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; `make test` does it)")
    bin_dir = Path(binaries[-1])
    data = Path(tempfile.mkdtemp(prefix="course-pg-", dir="/tmp"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w",
                    "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True,
                   capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def _scores(db_url: str) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        sub_nbs = {s.student.id: gb.find_submission_notebook(CHAPTER, CHAPTER, s.student.id)
                   for s in gb.find_assignment(CHAPTER).submissions}
        return {student: {g.name.removeprefix("test_"): float(g.score) for g in nb.grades
                          if not g.name.startswith("written_")}
                for student, nb in sub_nbs.items()}


def _grade(subs: Path, out: Path, db_url: str, build_env: dict) -> dict[str, dict[str, float]]:
    proc = _course("grade", str(subs), "--chapter", CHAPTER, "--out", str(out), "--workers", "2", "--no-feedback",
                   "--db", db_url, env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Published" in proc.stdout and "***" not in db_url
    csv_scores: dict[str, dict[str, float]] = {}
    for row in autograded_rows(out / "grades.csv"):
        csv_scores.setdefault(row["student"], {})[row["exercise"]] = float(row["score"])
    return csv_scores


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_grades_published_to_the_gradebook_and_replaced_on_regrade(backend, tmp_path, build_env, request):
    db_url = (f"sqlite:///{tmp_path / 'gradebook.db'}" if backend == "sqlite"
              else request.getfixturevalue("postgres_url"))
    solved = _solution_sources(CHAPTER)
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(_submission(CHAPTER, solved), subs / f"ada_{backend}.ipynb")
    nbformat.write(_submission(CHAPTER, {}), subs / f"bob_{backend}.ipynb")
    first = _grade(subs, tmp_path / "out1", db_url, build_env)
    stored = _scores(db_url)
    for student in (f"ada_{backend}", f"bob_{backend}"):
        assert stored[student] == first[student], student
    assert sum(stored[f"ada_{backend}"].values()) > 0 and sum(stored[f"bob_{backend}"].values()) == 0
    if backend == "sqlite":
        return  # the regrade below is the same code for both backends: run it once (time)
    # ada resubmits a notebook whose max_pool2d is wrong: her stored score is replaced, not kept
    gid, old, new = (MISTAKES[CHAPTER][k] for k in ("cell", "replace", "with"))
    nbformat.write(_submission(CHAPTER, dict(solved, **{gid: solved[gid].replace(old, new, 1)})),
                   subs / f"ada_{backend}.ipynb")
    second = _grade(subs, tmp_path / "out2", db_url, build_env)
    stored = _scores(db_url)
    assert stored[f"ada_{backend}"] == second[f"ada_{backend}"] and stored[f"ada_{backend}"][gid] == 0
    assert len(stored) >= 2


def test_passwords_are_not_printed():
    from autograder.gradebook import redact

    assert redact("postgresql://grader:s3cret@db.example:5432/grades") == "postgresql://grader:***@db.example:5432/grades"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"
