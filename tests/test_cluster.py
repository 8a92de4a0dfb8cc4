"""``course grade --cluster`` on a real Dask cluster: a scheduler and `course worker` processes on
this machine (no mocks). The grades equal the local path's; a worker killed mid-batch loses nothing;
a worker with another course build never grades."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.test_roundtrip import MISTAKES, ROOT, _course, _solution_sources, _submission

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]

CHAPTER = "ch03_pooling"


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Cluster:
    """A scheduler and worker processes, each in its own process group."""

    def __init__(self, folder: Path):
        self.folder, self.procs = folder, []
        self.env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")
        info = folder / "scheduler.json"
        self._start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(info),
                     "--port", "0", "--dashboard-address", ":0"], "scheduler")
        self.address = _wait(lambda: info.exists() and json.loads(info.read_text() or "{}").get("address"), 60,
                             "the scheduler")

    def _start(self, cmd: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env or self.env, cwd=self.folder)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, env: dict | None = None) -> subprocess.Popen:
        return self._start([sys.executable, "-m", "autograder.cli", "worker", self.address, "--processes", "1",
                            "--name", name], name, env)

    def workers(self) -> dict[str, int]:
        """Worker name → pid of its process, as the scheduler sees them."""
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            return {client.scheduler_info()["workers"][a]["name"]: pid for a, pid in client.run(os.getpid).items()}

    def close(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.close()


def _batch(folder: Path) -> None:
    """Correct, blank, with a mistake, and hostile (calls the reference): one of each."""
    solved = _solution_sources(CHAPTER)
    gid, old, new = (MISTAKES[CHAPTER][k] for k in ("cell", "replace", "with"))
    answers = ("from course_lib.reference.pool import max_pool2d as _answer\n"
               "def max_pool2d(*args, **kwargs):\n    return _answer(*args, **kwargs)\n")
    folder.mkdir()
    for student, replace in {"correct": solved, "blank": {}, "mistake": dict(solved, **{gid: solved[gid].replace(
            old, new, 1)}), "hostile": dict(solved, max_pool2d=answers)}.items():
        nbformat.write(_submission(CHAPTER, replace), folder / f"{student}.ipynb")


def _rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open() as f:
        return sorted(csv.DictReader(f), key=lambda r: (r["student"], r["exercise"]))


def _grade(subs: Path, out: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return _course("grade", str(subs), "--chapter", CHAPTER, "--out", str(out), "--timeout", "120", *extra, env=env)


def test_a_cluster_grades_like_the_local_path(cluster, tmp_path, build_env):
    cluster.worker("w1")
    cluster.worker("w2")
    _wait(lambda: len(cluster.workers()) == 2, 120, "two workers")
    subs = tmp_path / "subs"
    _batch(subs)
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps({CHAPTER: 20261207}))
    remote = _grade(subs, tmp_path / "remote", build_env, "--cluster", cluster.address, "--seeds", str(seeds))
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert "dashboard" in remote.stdout
    local = _grade(subs, tmp_path / "local", build_env, "--workers", "2", "--seeds", str(seeds))
    assert local.returncode == 0, local.stdout + local.stderr
    assert _rows(tmp_path / "remote") == _rows(tmp_path / "local")
    by = {}
    for r in _rows(tmp_path / "remote"):
        if r["score"]:
            by.setdefault(r["student"], []).append(float(r["score"]) == float(r["max"]))
    assert all(by["correct"]) and not any(by["blank"]) and not all(by["mistake"]) and not all(by["hostile"])
    for student in ("correct", "blank", "mistake", "hostile"):   # the client wrote what the workers sent back
        assert (tmp_path / "remote" / "feedback" / student / f"{CHAPTER}.html").exists()
        assert (tmp_path / "remote" / "autograded" / student / CHAPTER / f"{CHAPTER}.ipynb").exists()


def test_a_worker_killed_mid_batch_loses_nothing(cluster, tmp_path, build_env):
    from distributed import Client

    cluster.worker("w1")
    cluster.worker("w2")
    _wait(lambda: len(cluster.workers()) == 2, 120, "two workers")
    subs = tmp_path / "subs"
    _batch(subs)
    for k in range(2):   # six notebooks: both workers are busy when one dies
        shutil.copy(subs / "correct.ipynb", subs / f"correct{k}.ipynb")
    out = tmp_path / "out"
    grading = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(subs), "--chapter", CHAPTER,
                                "--out", str(out), "--timeout", "120", "--cluster", cluster.address],
                               cwd=ROOT, env=build_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with Client(cluster.address, timeout="30s") as client:
        def busy_worker():
            running = {a: keys for a, keys in client.processing().items() if keys}
            names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
            return next((names[a] for a in running if names.get(a) == "w1"), None)

        _wait(busy_worker, 300, "w1 to grade a notebook")
        os.killpg(os.getpgid(cluster.workers()["w1"]), signal.SIGKILL)
    stdout, _ = grading.communicate(timeout=900)
    assert grading.returncode == 0, stdout
    rows = _rows(out)
    students = {"correct", "correct0", "correct1", "blank", "mistake", "hostile"}
    per_student = {s: [r for r in rows if r["student"] == s] for s in students}
    exercises = {r["exercise"] for r in per_student["correct"]}
    for student, mine in per_student.items():   # every submission graded, exactly once
        assert sorted(r["exercise"] for r in mine) == sorted(exercises), student
    for student in ("correct", "correct0", "correct1"):
        assert all(float(r["score"]) == float(r["max"]) for r in per_student[student] if r["score"]), student


def test_a_worker_with_another_course_build_is_refused(cluster, tmp_path, build_env):
    other = tmp_path / "other-build"
    for package in ("course_lib", "autograder"):
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__", "build"))
    with (other / "course_lib" / "reference" / "pool.py").open("a") as f:
        f.write("\n# another version of the answers\n")
    cluster.worker("stale", env=dict(cluster.env, PYTHONPATH=str(other)))
    _wait(lambda: len(cluster.workers()) == 1, 120, "the stale worker")
    subs = tmp_path / "subs"
    _batch(subs)
    proc = _grade(subs, tmp_path / "out", build_env, "--cluster", cluster.address)
    assert proc.returncode != 0
    assert "Refused worker" in proc.stdout and "is not this one's" in proc.stdout, proc.stdout
    assert "no worker with this course build" in proc.stdout + proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()      # nothing was graded by the stale build
