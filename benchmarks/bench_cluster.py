"""Cluster grading throughput, measured side by side in one run (issue: grading a MOOC on Dask).

    .venv/bin/python benchmarks/bench_cluster.py [CHAPTER] [--students 12]

Grades the same ``--students`` correct notebooks (sandboxed, as a class is graded):

1. locally with ``--workers 2`` (the default path: one nbgrader per worker for its whole share);
2. on a Dask cluster started here (a scheduler and ``course worker`` processes) with 1 worker process;
3. the same with 2 worker processes.

Prints notebooks per minute for each and the cluster's overhead per task against the local path at
equal cores (target ≤ 10 %). Exit 1 if the target is missed. All are timings of the same machine in
the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.build import ensure_source  # noqa: E402
from autograder.course import Course  # noqa: E402
from autograder.grading import autograde, discover  # noqa: E402
from tests.test_cluster import _wait  # noqa: E402
from tests.test_roundtrip import _solution_sources, _submission  # noqa: E402

OVERHEAD_TARGET = 0.10


def _cluster(folder: Path, processes: int) -> tuple[str, list[subprocess.Popen]]:
    from distributed import Client

    info = folder / f"scheduler-{processes}.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(info),
                               "--port", "0", "--dashboard-address", ":0"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    address = _wait(lambda: info.exists() and json.loads(info.read_text() or "{}").get("address"), 60, "the scheduler")
    procs.append(subprocess.Popen([sys.executable, "-m", "autograder.cli", "worker", address, "--processes",
                                   str(processes)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True))
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(processes, timeout=120)
    return address, procs


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _grade(course: Course, folder: Path, chapter: str, work: Path, **kw) -> float:
    subs = discover(folder, course, chapter)
    start = time.perf_counter()
    results = autograde(course, subs, work, progress=False, sandbox=True, seeds={chapter: 1}, **kw)
    elapsed = time.perf_counter() - start
    if any(r.score < r.max_score for r in results):
        raise SystemExit(f"correct notebooks lost points: {[r.student for r in results if r.score < r.max_score]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapter", nargs="?", default="ch03_pooling")
    ap.add_argument("--students", type=int, default=12)
    args = ap.parse_args()
    course = Course(ROOT)
    chapter = course.resolve_chapter(args.chapter)
    ensure_source(course, chapter)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "subs"
        folder.mkdir()
        nb = _submission(chapter, _solution_sources(chapter))
        for k in range(args.students):
            nbformat.write(nb, folder / f"student{k:02d}.ipynb")
        _grade(course, folder, chapter, tmp / "warm", workers=2)   # warm the file cache
        times = {"local, --workers 2": _grade(course, folder, chapter, tmp / "local", workers=2)}
        for processes in (1, 2):
            address, procs = _cluster(tmp, processes)
            try:
                times[f"cluster, {processes} worker process(es)"] = _grade(course, folder, chapter,
                                                                            tmp / f"c{processes}", cluster=address)
            finally:
                _stop(procs)
    for label, seconds in times.items():
        print(f"{label:32s} {seconds:6.1f} s  {args.students / seconds * 60:5.1f} notebooks/min")
    overhead = times["cluster, 2 worker process(es)"] / times["local, --workers 2"] - 1
    print(f"overhead per task of the cluster path at equal cores (2): {overhead:+.0%} "
          f"(target ≤ {OVERHEAD_TARGET:.0%})")
    return 0 if overhead <= OVERHEAD_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
