"""Execution time of every solution notebook (target: ≤ 60 s each on 2 cores).

    .venv/bin/python benchmarks/bench_notebooks.py [ch02 ...]

Executes the instructor notebook built from solutions/ (solutions + hidden tests) with nbclient,
prints the wall time per chapter and the slowest cells, and exits 1 if a chapter misses the target
or raises.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.course import Course, nbgrader_env  # noqa: E402

TARGET_S = 60.0


def run(chapter: str) -> tuple[float, list[tuple[float, str]]]:
    nb = jupytext.read(ROOT / "solutions" / f"{chapter}.py")
    cell_times = []
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "chapters" / chapter)}})
    start = time.perf_counter()
    with client.setup_kernel(env=nbgrader_env()):
        for i, cell in enumerate(nb.cells):
            t0 = time.perf_counter()
            client.execute_cell(cell, i)
            cell_times.append((time.perf_counter() - t0, cell.source.splitlines()[0][:60] if cell.source else ""))
    return time.perf_counter() - start, sorted(cell_times, reverse=True)[:3]


def main(argv: list[str]) -> int:
    course = Course(ROOT)
    chapters = [course.resolve_chapter(a) for a in argv] or course.chapter_names()
    failed = False
    for chapter in chapters:
        total, slowest = run(chapter)
        ok = total <= TARGET_S
        failed |= not ok
        print(f"{chapter:<22} {total:6.1f} s  ({total / TARGET_S:.2f} of the {TARGET_S:.0f} s target) "
              f"{'ok' if ok else 'TOO SLOW'}")
        for t, first_line in slowest:
            print(f"    {t:6.2f} s  {first_line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
