"""A hostile class: one submission per way in that issue #18 lists, graded in one sandboxed batch.

Every hostile notebook is a *correct* Chapter 3 notebook with one attack on ``max_pool2d`` (or an
attack on the grading machine in a cell of its own). Each must get 0 for the exercise it attacks
and keep every other point; the batch always completes; files outside the grading output keep their
checksums and modes; no process is left behind, nothing is left in /dev/shm, and a decoy "other
course" on the machine is not readable from the kernel or the judge.
"""

from __future__ import annotations

import hashlib
import html as html_module
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.course import Course
from tests._rows import autograded_rows

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
CHAPTER = "ch03_pooling"
MARKER = "hostile-daemon-7f3a"  # in the command line of every process a hostile notebook leaves behind

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile")]


def _available() -> str | None:
    from autograder.sandbox import available

    return available()


def _solutions(chapter: str) -> dict[str, str]:
    import jupytext

    nb = jupytext.read(COURSE.solutions / f"{chapter}.py")
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _notebook(chapter: str, replace: dict[str, str], added: list[str] = (), markdown: list[str] = ()):
    nb = nbformat.read(COURSE.chapter_notebook(chapter), as_version=4)
    solved = dict(_solutions(chapter), **replace)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solved:
            cell.source = solved[gid]
    nb.cells += [nbformat.v4.new_markdown_cell(m) for m in markdown]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in added]
    return nb


def _precomputed_table(name: str, source_seed: int) -> str:
    """Row 4: the hidden cases of the public seed, computed offline with the reference, as a lookup."""
    import inspect

    from course_lib.testing import EXERCISES

    ex = EXERCISES[name]
    table = {}
    for case in [*ex.visible(), *ex.hidden(np.random.default_rng(source_seed))]:
        if case.raises is not None:
            continue
        bound = inspect.signature(ex.reference).bind(*case.args, **case.kwargs)
        bound.apply_defaults()
        params = repr(tuple(bound.arguments[k] for k in ("kernel_size", "stride", "padding")))
        key = hashlib.sha1(case.args[0].tobytes() + params.encode()).hexdigest()
        table[key] = ex.reference(*case.args, **case.kwargs).tolist()
    assert len(table) > 10
    return (f"import hashlib, json\nimport numpy as np\n_TABLE = json.loads({json.dumps(table)!r})\n"
            f"def {name}(x, kernel_size, stride=None, padding=0):\n"
            "    key = hashlib.sha1(x.tobytes() + repr((kernel_size, stride, padding)).encode()).hexdigest()\n"
            "    if key in _TABLE:\n"
            "        return np.array(_TABLE[key], dtype=x.dtype)\n"
            "    return np.zeros((x.shape[0], x.shape[1], 1, 1), dtype=x.dtype)\n")


def _finder(name: str, how: str) -> str:
    """A ``name`` that calls the reference found at call time (``how``: gc, modules or exec)."""
    if how == "gc":
        find = (f"next(o for o in gc.get_objects() if callable(o) and getattr(o, '__module__', '') == "
                f"'course_lib.reference.pool' and getattr(o, '__name__', '') == '{name}')")
    elif how == "modules":
        find = (f"next(v for m in list(sys.modules.values()) for v in list(vars(m).values()) "
                f"if getattr(v, '__module__', '') == 'course_lib.reference.pool' "
                f"and getattr(v, '__name__', '') == '{name}')")
    else:  # exec the reference's source file
        find = ("(lambda ns: (exec(open(os.path.join(os.path.dirname(course_lib.__file__), 'reference', "
                "'pool.py')).read(), ns), "
                f"ns['{name}'])[1])({{'__name__': 'course_lib.reference.pool', "
                "'__package__': 'course_lib.reference'})")
    return (f"import gc, os, sys, course_lib, course_lib.viz\n"
            f"def {name}(*args, **kwargs):\n    return {find}(*args, **kwargs)\n")


def _attacks(decoy: Path, planted: Path) -> dict[str, tuple[nbformat.NotebookNode, set[str]]]:
    """student → (notebook, the exercises it attacks: exactly those must score 0)."""
    solved = _solutions(CHAPTER)
    blank = "def max_pool2d(x, kernel_size, stride=None, padding=0):\n    raise NotImplementedError()\n"
    daemon = ("import subprocess, sys\n"
              f"subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(0.2)', '{MARKER}'],"
              " start_new_session=True)\n")
    everything = {"max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward", "global_avg_pool2d",
                  "adaptive_max_pool2d", "spatial_pyramid_pool"}
    return {
        # --- 1. calling the answers through anything captured where they are loaded, one way per exercise;
        # torch where it is forbidden; sys.modules.update() in the function
        "answers": (_notebook(CHAPTER, {
            "max_pool2d": ("from course_lib.reference.pool import max_pool2d as _REF\n"
                           "def max_pool2d(x, kernel_size, stride=None, padding=0, _ref=_REF):\n"
                           "    return _ref(x, kernel_size, stride, padding)\n"),
            "avg_pool2d": ("from course_lib.testing import EXERCISES\n"
                           "avg_pool2d = EXERCISES['avg_pool2d'].reference\n"),
            "max_pool2d_backward": _finder("max_pool2d_backward", "gc"),
            "avg_pool2d_backward": _finder("avg_pool2d_backward", "exec"),
            "global_avg_pool2d": ("import torch, torch.nn.functional as F\n"
                                  "def global_avg_pool2d(x):\n"
                                  "    return F.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy()\n"),
            "adaptive_max_pool2d": ("import sys\n_saved = dict(sys.modules)\n"
                                    "def adaptive_max_pool2d(*args, **kwargs):\n"
                                    "    sys.modules.update(_saved)\n"
                                    "    import course_lib.reference.pool\n"
                                    "    return course_lib.reference.pool.adaptive_max_pool2d(*args, **kwargs)\n"),
            "spatial_pyramid_pool": _finder("spatial_pyramid_pool", "modules"),
        }), everything),
        "answers_2": (_notebook(CHAPTER, {
            "max_pool2d": "import functools, course_lib.reference.pool as _P\n"
                          "max_pool2d = functools.partial(_P.max_pool2d)\n",
            # --- 4. precomputed hidden cases (seed 302 is public in the source)
            "avg_pool2d": _precomputed_table("avg_pool2d", 302),
        }), {"max_pool2d", "avg_pool2d", "spatial_pyramid_pool"}),  # SPP pools with the student's max_pool2d
        # --- 2. rewriting the judge in the kernel; 3. forging the records the old grader read
        "tamper": (_notebook(CHAPTER, {"max_pool2d": blank}, added=[
            "import course_lib.testing as T, course_lib.testing.core as C, numpy\n"
            "C.compare = C._compare_in_call = C._expect_output = C.run_exercise = lambda *a, **k: None\n"
            "T.check = T.hidden_check = lambda *a, **k: None\nnumpy.allclose = lambda *a, **k: True\n",
            "import os, numpy as np, json\nos.makedirs('.judge', exist_ok=True)\n"
            "for name in ('max_pool2d.visible.0.npz', 'max_pool2d.hidden.301.npz'):\n"
            "    np.savez('.judge/' + name, __meta__=np.array(json.dumps({'cases': [], 'callable': True})))\n"]),
            {"max_pool2d", "spatial_pyramid_pool"}),
        # --- 7. resources: memory over several processes (three children of 3 GiB each, under the
        # per-process RLIMIT_AS: the answer is right only if all three got their memory), a huge answer,
        # a fork bomb, /dev/shm and a 30 MB line; 8. daemons, from the judge and from the kernel
        "resources": (_notebook(CHAPTER, {
            "max_pool2d": solved["max_pool2d"] + (
                "\nimport os\nimport numpy as np\n_real = max_pool2d\n"
                "def max_pool2d(*args, **kwargs):\n"
                "    kids = []\n"
                "    for _ in range(3):\n"
                "        pid = os.fork()\n"
                "        if pid == 0:\n"
                "            block = bytearray(3 << 30)\n"
                "            for i in range(0, len(block), 4096): block[i] = 1\n"
                "            os._exit(0)\n"
                "        kids.append(pid)\n"
                "    ok = all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in kids)\n"
                "    out = _real(*args, **kwargs)\n"
                "    return out if ok else np.zeros_like(out)\n"),
            "avg_pool2d": ("import numpy as np\ndef avg_pool2d(x, kernel_size, stride=None, padding=0):\n"
                           "    return np.ones(300 << 20, dtype=np.uint8)\n"),
            "max_pool2d_backward": solved["max_pool2d_backward"] + (
                "\nimport os\n_real_backward = max_pool2d_backward\n"
                "def max_pool2d_backward(*args, **kwargs):\n"
                "    for _ in range(2000):\n"
                "        if os.fork() == 0:\n"
                "            import time; time.sleep(60); os._exit(0)\n"
                "    return _real_backward(*args, **kwargs)\n"),
            "global_avg_pool2d": daemon + solved["global_avg_pool2d"],
        }, added=[daemon, f"open('/dev/shm/{MARKER}', 'w').write('x')\nprint('y' * 30_000_000)\n"]),
            {"max_pool2d", "avg_pool2d", "max_pool2d_backward", "spatial_pyramid_pool"}),
        # --- 6. links and special files in the working copy, the notebook itself replaced by a link;
        # 9. injection into the feedback and formgrader
        "machine": (_notebook(CHAPTER, {}, markdown=[
            "<script>window.pwned = 1</script> <img src=x onerror=\"window.pwned = 2\">"], added=[
            f"import os\nos.symlink('/dev/zero', 'zero.bin')\nos.symlink({str(planted)!r}, 'planted')\n"
            f"os.mkfifo('fifo')\nos.symlink({str(planted.parent)!r}, '.judge')\n"
            f"os.remove('{CHAPTER}.ipynb')\nos.symlink({str(planted)!r}, '{CHAPTER}.ipynb')\n",
            "from IPython.display import HTML, display, Javascript\n"
            "display(HTML('<script>window.pwned = 3</script><b>bold</b>'))\n"
            "display(Javascript('window.pwned = 4'))\n"]), set()),
        # --- 11. snooping: another course's solutions, world-readable on the machine
        "snoop": (_notebook(CHAPTER, {"max_pool2d": (
            "def max_pool2d(*args, **kwargs):\n"
            f"    ns = {{}}\n    exec(open({str(decoy)!r}).read(), ns)\n"
            "    return ns['max_pool2d'](*args, **kwargs)\n")},
            added=[f"print('DECOY:', 'def max_pool2d' in open({str(decoy)!r}).read())\n"]),
            {"max_pool2d", "spatial_pyramid_pool"}),
        "honest": (_notebook(CHAPTER, {}), set()),
    }


def _snapshot(paths: list[Path]) -> dict[str, tuple]:
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(p.lstat().st_mode), p.lstat().st_uid)
            for p in paths}


def _leftovers() -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if MARKER.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                pass
    return found


def test_hostile_class(tmp_path, build_env, request):
    if (why := _available()) is not None:
        pytest.skip(f"no sandbox on this machine: {why}")
    # what must not change or be read: a root-only file, the course's own files, another course's solutions
    planted_dir = tmp_path / "root-only"
    planted_dir.mkdir(mode=0o700)
    planted = planted_dir / "secret.txt"
    planted.write_text("root's file\n")
    planted.chmod(0o600)
    # another course's checkout next to this one (not under /tmp, which a kernel has its own of anyway)
    other = ROOT.parent / f".decoy-course-{os.getpid()}-{tmp_path.name}"
    request.addfinalizer(lambda: shutil.rmtree(other, ignore_errors=True))
    (other / "solutions").mkdir(parents=True)
    decoy = other / "solutions" / "pool_answers.py"
    answers = ROOT / "course_lib" / "reference" / "pool.py"
    decoy.write_text(answers.read_text().replace("from .", "from course_lib.reference."))
    for path in (other, other / "solutions"):
        path.chmod(0o755)
    decoy.chmod(0o644)
    watched = [planted, decoy, *sorted((ROOT / "solutions").glob("ch0[23]*.py")), answers]
    before = _snapshot(watched)

    subs = tmp_path / "subs"
    subs.mkdir()
    attacks = _attacks(decoy, planted)
    for student, (nb, _) in attacks.items():
        nbformat.write(nb, subs / f"{student}.ipynb")
    os.symlink(planted, subs / "symlinked.ipynb")                          # row 6: the submission is a link
    os.mkfifo(subs / "fifo.ipynb")                                         # row 6: a FIFO that would hang a reader
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(subs), "--chapter", CHAPTER,
                           "--out", str(out), "--workers", "2", "--timeout", "120"],
                          capture_output=True, text=True, timeout=1500, env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    rows: dict[str, dict[str, dict]] = {}
    for r in autograded_rows(out / "grades.csv"):
        rows.setdefault(r["student"], {})[r["exercise"]] = r

    def lost(student: str) -> dict[str, str]:
        return {ex: r["reason"] for ex, r in rows[student].items() if float(r["score"]) < float(r["max"])}

    for student, (_, attacked) in attacks.items():
        assert set(lost(student)) == attacked, (student, lost(student))
    reasons = lost("answers")
    assert "torch" in reasons["global_avg_pool2d"], reasons  # (pool.py is there, empty: /dev/null over it)
    assert "over the limit" in lost("resources")["avg_pool2d"], lost("resources")
    assert "Resource temporarily unavailable" in lost("resources")["max_pool2d_backward"], lost("resources")
    assert "No such file" in lost("snoop")["max_pool2d"]
    for student in ("symlinked", "fifo"):
        assert all(float(r["score"]) == 0 for r in rows[student].values()), rows[student]
        assert all("not a valid notebook" in r["reason"] for r in rows[student].values()), rows[student]

    # the machine: nothing outside the output changed, nothing left running or in /dev/shm
    assert _snapshot(watched) == before
    assert not _leftovers(), "a hostile notebook left a process running"
    assert not Path(f"/dev/shm/{MARKER}").exists()
    feedback = out / "feedback"
    assert sorted(p.name for p in (feedback / "machine").iterdir()) == [f"{CHAPTER}.html"]
    sizes = {p.parent.name: p.stat().st_size for p in feedback.glob("*/*.html")}
    assert sizes["resources"] < 2 * sizes["honest"] + 200_000, sizes
    page = (feedback / "machine" / f"{CHAPTER}.html").read_text()
    for live in ("<script>window.pwned", "<img src=x", "<b>bold</b>"):
        assert live not in page, f"student HTML reached the feedback: {live}"
    assert html_module.escape("<script>window.pwned") in page  # shown as text
    machine = nbformat.read(out / "autograded" / "machine" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    added = [cell for cell in machine.cells if "display(HTML(" in cell.source]
    kinds = {kind for cell in added for o in cell.get("outputs", []) for kind in o.get("data", {})}
    assert len(added) == 1 and kinds == {"text/plain"}, kinds  # the HTML and Javascript displays became text
    graded = nbformat.read(out / "autograded" / "snoop" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    assert "DECOY: True" not in json.dumps(graded.cells[-1].get("outputs", [])), "the kernel read the decoy"
    seeds = json.loads((out / "seeds.json").read_text())
    assert set(seeds) == {CHAPTER} and seeds[CHAPTER] != 301


def test_speed_check_is_timed_by_the_grader(tmp_path, build_env):
    """Row 5: Chapter 2's speed check. The loop version submitted as conv2d, with the kernel's and the
    judge's clocks patched to report no time, still fails: the grader times the calls itself."""
    if (why := _available()) is not None:
        pytest.skip(f"no sandbox on this machine: {why}")
    chapter = "ch02_convolution"
    solved = _solutions(chapter)
    fake_clock = "import time\ntime.perf_counter = lambda: 0.0\ntime.perf_counter_ns = lambda: 0\n"
    slow = solved["conv2d_naive"].replace("def conv2d_naive", "def conv2d")
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(_notebook(chapter, {"conv2d": fake_clock + slow}, added=[fake_clock]), subs / "clock.ipynb")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(subs), "--chapter", chapter,
                           "--out", str(out), "--workers", "1", "--no-feedback"],
                          capture_output=True, text=True, timeout=900, env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["exercise"]: r for r in autograded_rows(out / "grades.csv")}
    lost = {ex for ex, r in rows.items() if float(r["score"]) < float(r["max"])}
    assert lost == {"conv2d"}, {ex: rows[ex]["reason"] for ex in lost}
    assert "Vectorise" in rows["conv2d"]["reason"]


def test_csv_cells_cannot_be_formulas(tmp_path):
    """Row 9: a reason or an id that starts like a formula lands in grades.csv as text."""
    from autograder.grading import ExerciseResult, StudentResult, read_csv, write_csv

    result = StudentResult("-alice", "ch03_pooling", [ExerciseResult("max_pool2d", 0, 3,
                                                                     '=HYPERLINK("http://x","click")')])
    write_csv([result], tmp_path / "grades.csv")
    raw = (tmp_path / "grades.csv").read_text()
    assert "'=HYPERLINK" in raw and "'-alice" in raw
    rows = read_csv(tmp_path / "grades.csv")
    assert rows[0]["student"] == "-alice" and rows[0]["reason"].startswith("=HYPERLINK")
