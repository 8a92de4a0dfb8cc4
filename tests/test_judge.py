"""The judge (autograder/judge.py): the grader calls the student's functions in a process of its own.

Fast tests of its pieces: the wire format against malformed and oversized frames, the cells a judge
process runs, secret seeds, the reference modules' absence, and verdicts on correct, blank, wrong
and hostile code — without nbgrader (the round trip and tests/test_hostile.py grade whole notebooks).
"""

from __future__ import annotations

import json
import os
import secrets
import struct

import jupytext
import nbformat
import numpy as np
import pytest

from autograder.judge import (
    JudgeProcess,
    JudgeStopped,
    absent_modules,
    check_calls,
    code_cells,
    exercise_seed,
    judge_notebook,
    judge_view,
)
from autograder.wire import FrameError, Opaque, decode, decode_frame, encode, encode_frame, read_frame
from course_lib.testing import EXERCISES
from course_lib.testing.core import REFERENCE_MODULES
from tests.test_roundtrip import COURSE

SOURCE = jupytext.read(COURSE.solutions / "ch03_pooling.py")


def _with(replace: dict[str, str], added: list[str] = ()) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(SOURCE)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell.source = replace[gid]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in added]
    return nb


# --------------------------------------------------------------------------- wire

def test_values_round_trip_as_data():
    value = (np.arange(6.0).reshape(2, 3), {"a": [1, 2.5, None, "x", True], "b": np.float32(3)}, np.array(7),
             float("nan"), 2**70, np.zeros((0, 3), dtype=np.int64), np.ones(2, dtype=np.complex128))
    arrays: list = []
    body = encode_frame({"v": encode(value, arrays)}, arrays)
    message, got_arrays = decode_frame(body[8:])
    got = decode(message["v"], got_arrays)
    assert isinstance(got, tuple) and isinstance(got[1]["a"], list)
    np.testing.assert_array_equal(got[0], value[0])
    assert got[1]["b"].dtype == np.float32 and got[2].shape == () and np.isnan(got[3]) and got[4] == 2**70
    assert got[5].shape == (0, 3) and got[6].dtype == np.complex128
    assert decode(encode(object(), []), []) == Opaque("object")


@pytest.mark.parametrize("mutate, why", [
    (lambda h: h["arrays"][0].update(nbytes=10**12), "sizes"),          # claims more than it sent
    (lambda h: h["arrays"][0].update(dtype="|O"), "dtype"),             # object arrays (pickle) refused
    (lambda h: h["arrays"][0].update(shape=[10**9, 10**9]), "sizes"),
    (lambda h: h["arrays"][0].update(offset=-5), "sizes"),
    (lambda h: h.update(message=[1]), "header"),
])
def test_malformed_frames_are_refused_before_anything_is_built(mutate, why):
    arrays = [np.arange(4.0)]
    header = {"message": {"out": {"array": 0, "scalar": False}},
              "arrays": [{"dtype": "<f8", "shape": [4], "offset": 0, "nbytes": 32}]}
    mutate(header)
    raw = json.dumps(header).encode()
    body = struct.pack(">I", len(raw)) + raw + arrays[0].tobytes()
    with pytest.raises(FrameError, match=why):
        decode_frame(body)


def test_a_frame_over_the_limit_is_refused_unread():
    read, write = os.pipe()
    os.write(write, struct.pack(">Q", 10**12))  # announces a terabyte, sends nothing more
    with pytest.raises(FrameError, match="over the limit"):
        read_frame(read, max_bytes=1 << 20)
    os.close(read)
    os.close(write)


def test_a_huge_header_is_refused():
    raw = b"[" + b"1," * (9 << 20) + b"1]"
    with pytest.raises(FrameError, match="header"):
        decode_frame(struct.pack(">I", len(raw)) + raw)


def test_deep_or_pickled_values_are_refused():
    deep = {"v": None}
    for _ in range(200):
        deep = {"list": [deep]}
    with pytest.raises(FrameError):
        decode(deep, [])
    with pytest.raises(FrameError):  # a pickle from the judge process is never loaded by the grader
        decode({"pickled": 0}, [np.frombuffer(b"cos\nsystem\n(S'true'\ntR.", dtype=np.uint8)])


# --------------------------------------------------------------------------- what runs where

def test_test_calls_and_cells_come_from_the_source():
    cell = next(c for c in SOURCE.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_max_pool2d")
    calls = check_calls(cell)  # the exercise's identity is the cell's metadata, not a pattern in its code
    assert [(c.exercise, c.function, c.hidden, c.seed) for c in calls] == [
        ("max_pool2d", "max_pool2d", False, 0), ("max_pool2d", "max_pool2d", True, 301)]
    assert check_calls(nbformat.v4.new_code_cell('check_max_pool2d(max_pool2d)')) == []
    student = _with({"setup": "import os\nos._exit(1)  # the student's edit of a locked cell"}, added=["x = 1"])
    kinds = [(kind, label) for kind, label, _ in code_cells(SOURCE, student)]
    assert kinds[0] == ("setup", "setup") and ("added", f"cell {len(student.cells)}") in kinds
    setup = next(code for kind, _, code in code_cells(SOURCE, student) if kind == "setup")
    assert "os._exit" not in setup and "def pool_geometry" in setup          # the source's setup, never theirs
    tests = {c.source for c in SOURCE.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert not any(code in tests for _, _, code in code_cells(SOURCE, student))


def test_seeds_are_secret_per_run_and_reproducible():
    a, b = secrets.randbits(32), secrets.randbits(32)
    assert exercise_seed(a, "max_pool2d", 301) == exercise_seed(a, "max_pool2d", 301)
    assert exercise_seed(a, "max_pool2d", 301) != exercise_seed(b, "max_pool2d", 301)
    assert exercise_seed(a, "max_pool2d", 301) != exercise_seed(a, "avg_pool2d", 301)


def test_reference_modules_are_absent_except_what_an_exercise_may_use():
    absent = absent_modules(EXERCISES["max_pool2d"].forbid, EXERCISES["max_pool2d"].allow)
    assert "course_lib.reference.pool" in absent and "torch" in absent
    # Chapter 3 may use Chapter 2's answers, and what they import
    assert "course_lib.reference.conv" not in absent and "course_lib.reference._utils" not in absent
    view = judge_view(absent)
    hidden = {p.name for p in view.hidden}
    assert {"pool.py", "__pycache__", "torch"} <= hidden and "conv.py" not in hidden
    root = COURSE.root.resolve()
    assert [p for p in view.readable if root in p.parents] == [
        root / ".venv", root / "course_lib", root / "autograder" / "__init__.py", root / "autograder" / "wire.py",
        root / "autograder" / "judge_worker.py"] or not (root / ".venv").exists()
    assert set(REFERENCE_MODULES) - {"course_lib.reference._utils", "course_lib.reference.conv"} == {
        m for m in absent if m.startswith("course_lib.")}
    assert root / "course_lib" / "reference" / "pool.py" in view.hidden
    assert root / "course_lib" / "reference" / "__pycache__" in view.hidden


def test_an_exercise_that_allows_nothing_back_has_no_answers_at_all():
    absent = absent_modules(EXERCISES["conv2d"].forbid, EXERCISES["conv2d"].allow)
    assert "course_lib.reference" in absent and not any(m.startswith("course_lib.reference.") for m in absent)
    root = COURSE.root.resolve()
    assert root / "course_lib" / "reference" in judge_view(absent).hidden


# --------------------------------------------------------------------------- verdicts

def test_correct_blank_and_wrong_code():
    seed = secrets.randbits(32)
    assert all(v is None for v in judge_notebook(SOURCE, SOURCE, run_seed=seed).verdicts.values())
    blank = _with({"max_pool2d": "def max_pool2d(x, kernel_size, stride=None, padding=0):\n"
                                 "    raise NotImplementedError()\n"})
    verdicts = judge_notebook(SOURCE, blank, run_seed=seed).verdicts
    assert "not implemented yet" in verdicts["test_max_pool2d"]
    assert verdicts["test_avg_pool2d"] is None
    wrong = _with({"max_pool2d": "import numpy as np\ndef max_pool2d(x, kernel_size, stride=None, padding=0):\n"
                                 "    return np.zeros(1)\n"})
    assert "shape" in judge_notebook(SOURCE, wrong, run_seed=seed).verdicts["test_max_pool2d"]


def test_calling_the_reference_or_torch_earns_nothing_even_unsandboxed():
    seed = secrets.randbits(32)
    for code in ("from course_lib.reference.pool import max_pool2d\n",
                 "import torch.nn.functional as F, torch\n"
                 "def max_pool2d(x, kernel_size, stride=None, padding=0):\n"
                 "    return F.max_pool2d(torch.from_numpy(x), kernel_size, stride, padding).numpy()\n"):
        verdict = judge_notebook(SOURCE, _with({"max_pool2d": code}), run_seed=seed).verdicts["test_max_pool2d"]
        assert verdict is not None, code


def test_a_function_that_mutates_its_input_is_told_so():
    mutating = _with({"global_avg_pool2d": "def global_avg_pool2d(x):\n    x -= 0\n    x[...] = 0\n"
                                           "    return x.mean(axis=(2, 3), keepdims=True)\n"})
    verdict = judge_notebook(SOURCE, mutating, run_seed=1).verdicts["test_global_avg_pool2d"]
    assert verdict and "in place" in verdict


def test_a_hanging_call_is_stopped_and_the_rest_is_judged(monkeypatch):
    import autograder.judge as judge

    monkeypatch.setattr(judge, "CALL_LIMIT", 3.0)
    hang = _with({"avg_pool2d": "def avg_pool2d(*args, **kwargs):\n    while True:\n        pass\n"})
    verdicts = judge_notebook(SOURCE, hang, run_seed=5, timeout=120).verdicts
    assert "did not return within 3 s" in verdicts["test_avg_pool2d"]
    assert verdicts["test_max_pool2d"] is None and verdicts["test_spatial_pyramid_pool"] is None


def test_a_judge_process_speaks_only_frames():
    with JudgeProcess([("solution", "f", "def f(x):\n    print('noise')\n    return x * 2\n")], ()) as judge:
        import time

        assert judge.start(time.monotonic() + 60) == [[]]
        reply, arrays = judge.request({"op": "call", "name": "f", "args": encode((np.arange(3),), []),
                                       "kwargs": encode({}, [])}, [np.arange(3)], time.monotonic() + 30)
        np.testing.assert_array_equal(decode(reply["out"], arrays), [0, 2, 4])
        judge.close()
        with pytest.raises(JudgeStopped):
            judge.request({"op": "call", "name": "f"}, [], time.monotonic() + 5)


@pytest.mark.slow
def test_the_sandboxed_judge_gives_the_same_verdicts():
    from autograder.sandbox import available

    if (why := available()) is not None:
        pytest.skip(f"no sandbox on this machine: {why}")
    seed = secrets.randbits(32)
    snoop = _with({"max_pool2d": "import os, course_lib\n"
                                 "def max_pool2d(*args, **kwargs):\n"
                                 "    ns = {'__name__': 'course_lib.reference.pool',"
                                 " '__package__': 'course_lib.reference'}\n"
                                 "    here = os.path.dirname(course_lib.__file__)\n"
                                 "    exec(open(os.path.join(here, 'reference', 'pool.py')).read(),"
                                 " ns)\n    return ns['max_pool2d'](*args, **kwargs)\n"})
    plain = judge_notebook(SOURCE, SOURCE, run_seed=seed, sandbox=True).verdicts
    assert all(v is None for v in plain.values()), plain
    assert judge_notebook(SOURCE, snoop, run_seed=seed, sandbox=True).verdicts["test_max_pool2d"] is not None
    # the same exec works where the reference exists on disk (so the test can fail)
    assert judge_notebook(SOURCE, snoop, run_seed=seed).verdicts["test_max_pool2d"] is None


def test_module_probes_travel_without_the_reference(tmp_path):
    """The probes of the module exercises (Chapters 8, 13, 16) load in a process where the reference
    modules do not exist: they carry the reference's skeleton as data, never its builder or class."""
    import subprocess
    import sys

    from autograder.judge import to_judge

    for name in ("alexnet", "basic_block", "highway_layer", "encoder_block", "vision_transformer", "gradient_penalty"):
        ex = EXERCISES[name]
        case = ex.visible()[0]
        payload = tmp_path / f"{name}.pkl"
        payload.write_bytes(to_judge((case.args, case.kwargs, ex.reference(*case.args, **case.kwargs))))
        absent = absent_modules(ex.forbid, ex.allow)
        assert "course_lib.reference" in absent  # the answers as a whole
        code = ("import pickle, sys\nfrom autograder.judge_worker import _Absent\n"
                f"sys.meta_path.insert(0, _Absent({absent!r}))\n"
                f"args, kwargs, probe = pickle.loads(open({str(payload)!r}, 'rb').read())\n"
                "assert not any(m.startswith('course_lib.reference') for m in sys.modules), "
                "sorted(m for m in sys.modules if m.startswith('course_lib'))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])


def test_the_working_copy_is_emptied_without_following_links(tmp_path):
    from autograder.verdicts import clean_workdir

    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "gradebook.db").write_text("precious")
    (work / "ch03.ipynb").write_text("{}")
    (work / "zero").symlink_to("/dev/zero")
    (work / "db").symlink_to(outside / "gradebook.db")
    (work / "other").symlink_to(outside, target_is_directory=True)
    (work / "nested").mkdir()
    (work / "nested" / "link").symlink_to(outside / "gradebook.db")
    os.mkfifo(work / "pipe")
    removed = clean_workdir(work)
    assert sorted(removed) == ["ch03.ipynb", "db", "nested", "other", "pipe", "zero"]
    assert list(work.iterdir()) == [] and (outside / "gradebook.db").read_text() == "precious"


@pytest.mark.slow
def test_the_kernels_working_copy_is_handed_back_before_nbgrader_writes(tmp_path):
    from autograder.jail import Limits
    from autograder.sandbox import KernelJail, available

    if (why := available()) is not None:
        pytest.skip(f"no sandbox on this machine: {why}")
    work, sockets = tmp_path / "work", tmp_path / "sockets"
    work.mkdir(mode=0o755)
    sockets.mkdir()
    before = os.stat(work)
    jail = KernelJail(str(work), str(sockets), Limits())
    assert os.stat(work).st_uid == jail.uid != before.st_uid      # the kernel's user may write there...
    jail.close()
    after = os.stat(work)
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)


def test_the_judge_imports_pyplot_only_when_a_cell_uses_it():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        from autograder.judge_worker import Worker
        w = Worker()
        assert w.run_cell("setup", "import matplotlib.pyplot as plt\\nimport numpy as np\\n", "setup") == []
        assert "matplotlib.pyplot" not in sys.modules          # bound, not imported: the judge never plots
        assert w.run_cell("s", "fig = plt.figure()\\nimport matplotlib\\nx = matplotlib.pyplot.gcf()", "solution") == []
        assert "matplotlib.pyplot" in sys.modules and w.namespace["x"] is w.namespace["fig"]
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr
