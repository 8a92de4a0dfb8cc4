"""The release round trip, per chapter: build → student notebook → `course grade` with a correct, a
blank and a wrong submission, plus `course check` in both modes.

The correct submission's autograde is also the proof that the solution notebook executes top to
bottom (no error output in any cell): one execution serves both, as DESIGN.md asks.
"""

from __future__ import annotations

import csv
import html as html_module
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.build import leaked_lines
from autograder.course import Course
from tests._rows import autograded_rows

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
CHAPTERS = COURSE.chapter_names()

#: A plausible mistake per chapter, in tests/mistakes/<chapter>.json:
#: {"cell": grade_id of a solution cell, "replace": text in its solution, "with": the mistake, "why": ...}
MISTAKES = {p.stem: json.loads(p.read_text()) for p in (ROOT / "tests" / "mistakes").glob("ch*.json")}

pytestmark = pytest.mark.slow


def _course(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, env=env)


def _solution_sources(chapter: str) -> dict[str, str]:
    """grade_id → source of every solution cell, read from the single source of truth."""
    import jupytext

    nb = jupytext.read(COURSE.solutions / f"{chapter}.py")
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _submission(chapter: str, replace: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(COURSE.chapter_notebook(chapter), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell.source = replace[gid]
    return nb


def _make_submissions(chapter: str, folder: Path) -> None:
    solved = _solution_sources(chapter)
    gid, old, new = (MISTAKES[chapter][k] for k in ("cell", "replace", "with"))
    assert old in solved[gid], f"the mistake for {chapter} no longer applies to its solution"
    wrong = dict(solved, **{gid: solved[gid].replace(old, new, 1)})
    folder.mkdir(parents=True)
    nbformat.write(_submission(chapter, solved), folder / "correct.ipynb")
    nbformat.write(_submission(chapter, {}), folder / "blank.ipynb")
    nbformat.write(_submission(chapter, wrong), folder / "wrong.ipynb")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_grade_correct_blank_wrong(chapter, tmp_path, build_env):
    subs = tmp_path / "submissions"
    _make_submissions(chapter, subs)
    (subs / "broken.ipynb").write_text("{ this is not json")
    out = tmp_path / "graded"
    proc = _course("grade", str(subs), "--out", str(out), "--chapter", chapter, env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert list(rows[0]) == ["student", "chapter", "exercise", "score", "max", "reason"]
    # written questions: scored by people — awaiting manual grading (empty score, never 0) when answered,
    # 0 when left as released; never part of the autograded totals below
    written = {(r["student"], r["exercise"]): r for r in rows if r["exercise"].startswith("written_")}
    assert 2 <= len({ex for _, ex in written}) <= 3, "each chapter ends with 2-3 written questions"
    for (student, _), row in written.items():
        if student in ("correct", "wrong"):
            assert row["score"] == "" and row["reason"] == "awaiting manual grading", row
        elif student == "blank":
            assert row["score"] == "0" and row["reason"] == "no answer written", row
    rows = [r for r in rows if not r["exercise"].startswith("written_")]
    by_student: dict[str, list[dict]] = {}
    for row in rows:
        by_student.setdefault(row["student"], []).append(row)
    total = {s: sum(float(r["score"]) for r in rs) for s, rs in by_student.items()}
    maximum = {s: sum(float(r["max"]) for r in rs) for s, rs in by_student.items()}
    assert len(by_student["correct"]) >= 5, "each chapter has at least 5 graded exercises"

    # correct: full marks, and the whole notebook ran without a single error output
    assert total["correct"] == maximum["correct"] > 0, by_student["correct"]
    # (with --workers > 1 each worker has its own nbgrader directory under out/nbgrader/)
    graded = nbformat.read(next((out / "nbgrader").glob(f"**/autograded/correct/{chapter}/{chapter}.ipynb")), 4)
    errors = [c.source[:80] for c in graded.cells if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert not errors, f"cells of the solution notebook raised: {errors}"

    # blank: zero, every reason says what to do, no crash
    assert total["blank"] == 0
    assert all("not implemented yet" in r["reason"] for r in by_student["blank"]), by_student["blank"]

    # wrong: partial marks, with a readable reason for what was lost
    assert 0 < total["wrong"] < maximum["wrong"]
    lost = [r for r in by_student["wrong"] if float(r["score"]) < float(r["max"])]
    assert lost and all(r["reason"] and "Traceback" not in r["reason"] for r in lost)
    assert any("expected" in r["reason"] for r in lost), lost

    # not a notebook: zero with a reason, and the batch went on
    assert total["broken"] == 0 and "not a valid notebook" in by_student["broken"][0]["reason"]

    for student in ("correct", "blank", "wrong"):
        html = (out / "feedback" / student / f"{chapter}.html").read_text()
        assert "hidden_check" not in html and "BEGIN HIDDEN TESTS" not in html, "feedback shows hidden tests"
    wrong_html = (out / "feedback" / "wrong" / f"{chapter}.html").read_text()
    reason_start = lost[0]["reason"].split(":", 1)[1].strip()[:40]
    assert reason_start in html_module.unescape(wrong_html), "the feedback lost the reason"
    assert "full marks" in proc.stdout and "not a valid notebook" in proc.stdout
    assert "awaiting manual grading" in proc.stdout


def test_nbgrader_layout_and_check_command(tmp_path, build_env):
    """`course grade` on nbgrader's submitted/<student>/<chapter>/ layout, and `course check` in the
    self-study (hidden tests) and classroom (visible only) modes."""
    chapter = CHAPTERS[0]
    plain = tmp_path / "plain"
    _make_submissions(chapter, plain)
    nested = tmp_path / "submitted" / "ada" / chapter
    nested.mkdir(parents=True)
    shutil.copy(plain / "wrong.ipynb", nested / "my_notebook.ipynb")
    out = tmp_path / "graded"
    proc = _course("grade", str(tmp_path / "submitted"), "--out", str(out), "--no-feedback", env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {r["student"] for r in rows} == {"ada"} and {r["chapter"] for r in rows} == {chapter}

    proc = _course("check", str(plain / "wrong.ipynb"), env=build_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Graded with the hidden tests" in proc.stdout
    gid = MISTAKES[chapter]["cell"]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(gid + " "))
    assert "✘" in line and "expected" in proc.stdout

    proc = _course("check", "--visible-only", str(plain / "correct.ipynb"), env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Visible tests only" in proc.stdout and "✘" not in proc.stdout


def test_chapters_are_up_to_date_and_deterministic(build_env):
    proc = _course("build", "--check", env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_solution_or_hidden_test_in_chapters(chapter):
    nb = nbformat.read(COURSE.chapter_notebook(chapter), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden_check("):
        assert marker not in text, f"{marker!r} leaked into chapters/{chapter}"
    assert leaked_lines(COURSE.solutions / f"{chapter}.py", text) == []
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "outputs are committed"
    assert json.loads(COURSE.chapter_notebook(chapter).read_text())["metadata"]["course"]["chapter"] == chapter


def test_every_solution_has_a_chapter_and_a_mistake():
    assert CHAPTERS == sorted(p.name for p in COURSE.chapters.iterdir() if p.is_dir())
    assert sorted(MISTAKES) == CHAPTERS, "add tests/mistakes/<chapter>.json for every chapter"


_SILENCE = """
import course_lib.testing
course_lib.testing.check = course_lib.testing.hidden_check = lambda *args, **kwargs: None
"""
_ALWAYS_EQUAL = """
import numpy
import course_lib.testing.core
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
for _name in ("compare", "_compare_in_call", "_expect_output", "_run_case"):
    setattr(course_lib.testing.core, _name, lambda *args, **kwargs: None)
"""


def _hostile_submissions(chapter: str, folder: Path) -> None:
    """Correct notebooks with one hostile or broken part each (see test_hostile_submissions)."""
    solved = _solution_sources(chapter)
    gid, old, new = (MISTAKES[chapter][k] for k in ("cell", "replace", "with"))
    wrong = dict(solved, **{gid: solved[gid].replace(old, new, 1)})
    loop = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    bomb = "chunks = []\nwhile True:\n    chunks.append(np.ones(1 << 27))\n"
    notebooks = {
        "looper": _submission(chapter, dict(solved, adaptive_max_pool2d=loop)),
        "crasher": _submission(chapter, dict(solved, global_avg_pool2d="import os\nos._exit(1)\n")),
        "bomb": _submission(chapter, dict(solved, avg_pool2d_backward=bomb)),
        "deleter": _submission(chapter, wrong),
        "editor": _submission(chapter, wrong),
        "blank": _submission(chapter, {}),
        # a wrong max_pool2d whose cell also tampers with the checks in the kernel: all earn nothing for it
        "silencer": _submission(chapter, dict(wrong, **{gid: wrong[gid] + _SILENCE})),
        "comparer": _submission(chapter, dict(wrong, **{gid: wrong[gid] + _ALWAYS_EQUAL})),
        "forger": _submission(chapter, dict(wrong, **{
            gid: wrong[gid] + f"\nimport course_lib.reference.pool\ncourse_lib.reference.pool.{gid} = {gid}\n"})),
    }
    notebooks["deleter"].cells = [c for c in notebooks["deleter"].cells
                                  if c.metadata.get("nbgrader", {}).get("grade_id") not in ("setup", f"test_{gid}")]
    for cell in notebooks["editor"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"test_{gid}":
            cell.source = "pass  # the test, edited away"
    folder.mkdir(parents=True)
    for student, nb in notebooks.items():
        nbformat.write(nb, folder / f"{student}.ipynb")
    (folder / "garbage.ipynb").write_text("{ not json")
    nbformat.write(_submission(chapter, solved), folder / "renamed.ipynb.txt")   # a notebook under a wrong name
    (folder / "essay.pdf").write_bytes(b"%PDF-1.4\n\x00\xff binary")             # not a notebook at all


def test_hostile_submissions(tmp_path, build_env):
    """Each hostile notebook loses exactly the points of what it broke; the batch goes on; nothing is left running.

    - a loop that ignores Ctrl-C: the notebook's time limit stops it; exercises before it keep their points;
    - os._exit() in a code cell: the exercises after it score 0 "the kernel died";
    - a memory bomb: MemoryError under the kernel's memory limit, that exercise 0, the machine safe;
    - a deleted test cell (and setup cell) is restored from the source and graded, never left to "manual grading";
    - an edited test cell is overwritten by the source's;
    - invalid JSON, or a file that is not a notebook: 0 with a reason; a notebook under a wrong file
      name is graded, with a note;
    - a wrong solution that silences the checks, makes every comparison succeed or replaces the reference
      in the kernel earns nothing: the grader calls the student's functions in its own judge process.
    """
    chapter = "ch03_pooling"  # short, no training: the time goes into the hostile cells
    assert MISTAKES[chapter]["cell"] == "max_pool2d"
    subs = tmp_path / "subs"
    _hostile_submissions(chapter, subs)
    # 60 s: the judge gives one cell a quarter of it, and a 3 GiB memory bomb must reach its MemoryError
    # within that on a busy machine
    args = ["grade", str(subs), "--chapter", chapter, "--out", str(tmp_path / "out"), "--timeout", "60",
            "--memory", "3G", "--workers", "2", "--no-feedback"]
    proc = _course(*args, env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows: dict[str, dict[str, dict]] = {}
    for r in autograded_rows(tmp_path / "out" / "grades.csv"):
        rows.setdefault(r["student"], {})[r["exercise"]] = r

    def lost(student):
        return {ex for ex, r in rows[student].items() if float(r["score"]) < float(r["max"])}

    # the judge runs the notebook's code again without a cell that hangs or ends its process: only the
    # exercises that need that cell lose points (SPP uses the student's adaptive_max_pool2d)
    assert lost("looper") == {"adaptive_max_pool2d", "spatial_pyramid_pool"}
    assert "did not finish" in rows["looper"]["adaptive_max_pool2d"]["reason"], rows["looper"]
    assert lost("crasher") == {"global_avg_pool2d"}
    assert "stopped the process" in rows["crasher"]["global_avg_pool2d"]["reason"], rows["crasher"]
    assert lost("bomb") == {"avg_pool2d_backward"}
    assert "MemoryError" in rows["bomb"]["avg_pool2d_backward"]["reason"]
    for student in ("deleter", "editor"):
        assert lost(student) == {"max_pool2d"}, student
        assert rows[student]["max_pool2d"]["reason"].startswith("CheckFailure"), rows[student]["max_pool2d"]
    for student in ("comparer", "forger", "silencer"):  # what they change is in their own process only
        assert lost(student) == {"max_pool2d"}, (student, rows[student])
        assert "values are wrong" in rows[student]["max_pool2d"]["reason"], rows[student]["max_pool2d"]
    assert "restored deleted cell(s) from the source: setup, test_max_pool2d" in proc.stdout
    assert all(float(r["score"]) == 0 for r in rows["blank"].values())
    assert all("not a valid notebook" in r["reason"] for r in rows["garbage"].values())
    assert all("not a valid notebook" in r["reason"] for r in rows["essay"].values())
    assert not lost("renamed"), rows["renamed"]
    assert "graded `renamed.ipynb.txt` as renamed's notebook (expected renamed.ipynb)" in proc.stdout
    assert not _kernels_under(tmp_path), "grading left a kernel running"
    assert "Most common reasons for lost points" in proc.stdout and (tmp_path / "out/report/reasons.csv").exists()
    # Resumable: a second run grades only what changed (here: nothing but the repaired garbage).
    nbformat.write(_submission(chapter, {}), subs / "garbage.ipynb")
    again = _course(*args, env=build_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "11 unchanged since an earlier run" in again.stdout, again.stdout


_SNOOP = """
import os, pathlib, socket
import course_lib
_found = []
_root = pathlib.Path(course_lib.__file__).resolve().parents[1]
if _seen := sorted(p.name for p in (_root / "solutions").glob("*.py")):
    _found.append(f"the grading kernel can read the solutions: {_seen[:2]}")
# (access() rather than writing: the run without the sandbox must not damage the course)
for _target in [_root / "course_lib", *(d / "gradebook.db" for d in pathlib.Path.cwd().parents)]:
    if _target.exists() and os.access(_target, os.W_OK):
        _found.append(f"the grading kernel could write {_target}")
if os.getuid() == 0:
    _found.append("the grading kernel runs as root")
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    _found.append("the grading kernel reached a server on the network")
except OSError:
    pass
assert not _found, "; ".join(_found)
"""


def test_sandbox_hides_solutions_and_blocks_writes_and_the_network(tmp_path, build_env):
    """The sandbox (the default): a correct notebook that also reads the solutions, writes into
    course_lib and the gradebook, and connects to a local server keeps full marks only because it
    sees nothing, writes nothing, is not root and has no network; with ``--unsafe`` the same
    notebook loses that exercise, for each of those reasons (so the test can fail)."""
    import socket

    from autograder.sandbox import available

    if (why := available()) is not None:
        pytest.skip(f"no sandbox on this machine: {why}")
    chapter = "ch03_pooling"
    solved = _solution_sources(chapter)
    subs = tmp_path / "subs"
    subs.mkdir()
    server = socket.create_server(("127.0.0.1", 0))             # stands in for a gradebook or the internet
    snoop = _SNOOP.replace("PORT", str(server.getsockname()[1]))
    nbformat.write(_submission(chapter, dict(solved, max_pool2d=snoop + solved["max_pool2d"])), subs / "snoop.ipynb")
    scores = {}
    with server:
        for mode in ("--sandbox", "--unsafe"):
            out = tmp_path / f"out{mode}"
            proc = _course("grade", str(subs), "--chapter", chapter, "--out", str(out), "--workers", "1",
                           "--no-feedback", mode, env=build_env)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            rows = {r["exercise"]: r for r in autograded_rows(out / "grades.csv")}
            scores[mode] = rows
    assert all(float(r["score"]) == float(r["max"]) for r in scores["--sandbox"].values()), scores["--sandbox"]
    assert float(scores["--unsafe"]["max_pool2d"]["score"]) == 0
    reason = scores["--unsafe"]["max_pool2d"]["reason"]
    for found in ("can read the solutions", "could write", "runs as root", "reached a server"):
        assert found in reason, (found, reason)


def _kernels_under(folder: Path) -> list[int]:
    """Kernels still running in ``folder`` (grading kernels run in the graded notebook's directory;
    other tests' kernels, e.g. on the other xdist worker, are elsewhere)."""
    import psutil

    pids = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmdline, cwd = proc.info["cmdline"] or [], proc.info["cwd"] or ""
        if any("ipykernel" in part for part in cmdline) and cwd.startswith(str(folder)):
            pids.append(proc.pid)
    return pids
