"""Grading cost, measured side by side in one run (issue: grader at classroom scale).

    .venv/bin/python benchmarks/bench_grading.py [CHAPTER] [--students 30] [--workers 2]

1. plain execution of the same work — the instructor notebook (solutions + hidden tests) — with
   ``jupyter nbconvert --execute``, a command like ``course grade`` (both pay their Python start-up);
2. ``course grade`` of that one notebook (nbgrader autograde with SafeExecute, the judge process,
   gradebook, reasons) — sandboxed, as a class is graded, when this machine can sandbox;
3. ``course grade`` of ``--students`` copies with ``--workers`` in parallel.

Prints the ratio grade/plain (target ≤ 1.3) and the batch time (target: 30 notebooks ≤ 120 s on 2
cores). Exit 1 if a target is missed. Both are ratios/timings of the same machine in the same run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.build import ensure_source  # noqa: E402
from autograder.course import Course, nbgrader_env  # noqa: E402
from autograder.grading import autograde, discover  # noqa: E402
from tests.test_roundtrip import _solution_sources, _submission  # noqa: E402

RATIO_TARGET = 1.3
BATCH_TARGET_S = 120.0


def plain(path: Path) -> float:
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "notebook",
                    "--output", str(path.with_suffix(".executed.ipynb")), str(path)],
                   env=nbgrader_env(), check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    print(f"  plain execution: CPU {_children_cpu() - cpu:.1f} s")
    return elapsed


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def grade(course: Course, folder: Path, chapter: str, workers: int, work: Path, sandbox: bool) -> float:
    subs = discover(folder, course, chapter)
    start, cpu = time.perf_counter(), _children_cpu()
    results = autograde(course, subs, work, workers=workers, progress=False, sandbox=sandbox)
    elapsed = time.perf_counter() - start
    bad = [r.student for r in results if r.score < r.max_score]
    if bad:
        raise SystemExit(f"correct notebooks lost points: {bad}")
    # Where the CPU went, per notebook: the jails' cgroups count the kernel and the judge; the
    # nbgrader processes (and, unsandboxed, everything) are this process's children.
    judged = [nbformat.read(p, as_version=4).metadata.get("course", {}).get("judge", {})
              for p in work.glob(f"**/autograded/*/{chapter}/{chapter}.ipynb")]
    kernel = [j["kernel_cpu_seconds"] for j in judged if j.get("kernel_cpu_seconds") is not None]
    judge = [j["cpu_seconds"] for j in judged if j.get("cpu_seconds") is not None]
    others = (_children_cpu() - cpu) / max(len(subs), 1)
    if kernel and judge:
        print(f"  {len(subs)} notebook(s), CPU per notebook: kernel {sum(kernel) / len(kernel):.1f} s, judge "
              f"{sum(judge) / len(judge):.1f} s, nbgrader and grader {others:.1f} s")
    else:
        print(f"  {len(subs)} notebook(s), CPU per notebook (unsandboxed: all of it) {others:.1f} s")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapter", nargs="?", default="ch03_pooling")
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--unsafe", action="store_true", help="grade without the sandbox")
    args = ap.parse_args()
    from autograder.sandbox import available

    why = available()
    sandbox = not args.unsafe and why is None
    print(f"grading {'in the sandbox' if sandbox else 'WITHOUT the sandbox' + (f' ({why})' if why else '')}")
    course = Course(ROOT)
    chapter = course.resolve_chapter(args.chapter)
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        one, many = tmp / "one", tmp / "many"
        one.mkdir()
        many.mkdir()
        nb = _submission(chapter, _solution_sources(chapter))
        nbformat.write(nb, one / "student.ipynb")
        for k in range(args.students):
            nbformat.write(nb, many / f"student{k:02d}.ipynb")
        grade(course, one, chapter, 1, tmp / "warm", sandbox)  # warm the file cache and build the source once
        shutil.copy2(ensure_source(course, chapter), tmp / f"{chapter}.ipynb")
        t_plain = plain(tmp / f"{chapter}.ipynb")
        t_one = grade(course, one, chapter, 1, tmp / "w1", sandbox)
        t_many = grade(course, many, chapter, args.workers, tmp / "wN", sandbox)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = t_one / t_plain
    print(f"{chapter}: plain execution {t_plain:.1f} s, graded {t_one:.1f} s  → ratio {ratio:.2f} "
          f"(target ≤ {RATIO_TARGET})")
    print(f"{args.students} notebooks with {args.workers} workers: {t_many:.0f} s "
          f"({t_many / args.students:.1f} s per notebook; target ≤ {BATCH_TARGET_S:.0f} s for 30)")
    ok = ratio <= RATIO_TARGET and (args.students != 30 or t_many <= BATCH_TARGET_S)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
