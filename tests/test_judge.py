"""The out-of-kernel judge: record in one place, judge in another, trust only data."""

import dataclasses
import json
import re
import time

import numpy as np
import pytest
import torch

from autograder.verdicts import judge_notebook, judged_calls
from course_lib.testing import EXERCISES, judge
from course_lib.testing.core import CheckFailure, Expectation, Extra, _copy_args, run_exercise
from course_lib.testing.judge import _decode, _encode, record, record_path


@pytest.fixture
def recording(tmp_path, monkeypatch):
    monkeypatch.setattr(judge, "_DIR", tmp_path)
    return tmp_path


def _correct_forget_products(f):
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError("f should be 2-d")
    out = np.ones_like(f)
    for t in range(f.shape[0] - 2, -1, -1):
        out[t] = out[t + 1] * f[t + 1]
    return out


def test_values_round_trip_without_pickle():
    value = (np.arange(6.0).reshape(2, 3), None, 3, 2.5, float("nan"), np.float32(1.5), "text",
             [np.int64(4), {"a": np.zeros(2, dtype=np.float32)}], torch.ones(2))
    arrays = {}
    tree = _encode(value, arrays)
    json.dumps(tree)                                       # the structure is plain JSON
    back = _decode(tree, arrays)
    assert back[0].tolist() == value[0].tolist() and back[1] is None and back[2] == 3 and np.isnan(back[4])
    assert isinstance(back[5], np.float32) and back[6] == "text" and back[7][1]["a"].dtype == np.float32
    assert back[8].tolist() == [1.0, 1.0]
    with pytest.raises(judge._Unreadable):
        _encode(torch.nn.Linear(2, 2), {})


def test_correct_passes_wrong_fails_with_the_checks_message(recording):
    ex = EXERCISES["forget_gate_products"]
    record(ex, _correct_forget_products, hidden=True, seed=3)
    assert judge.judge(ex, recording, hidden=True, seed=3) is None
    record(ex, lambda f: _correct_forget_products(f) * 1.01, hidden=True, seed=3)
    assert "values are wrong" in judge.judge(ex, recording, hidden=True, seed=3)
    assert "no outputs were recorded" in judge.judge(ex, recording, hidden=True, seed=4)   # other seed


def test_raising_cases_and_student_errors(recording):
    ex = EXERCISES["forget_gate_products"]
    record(ex, lambda f: np.ones(np.shape(f)))             # wrong values first, and no ValueError for 1-d
    assert "values are wrong" in judge.judge(ex, recording)
    record(ex, lambda f: _correct_forget_products(np.atleast_2d(f)))
    assert "should raise ValueError" in judge.judge(ex, recording)

    def crashes(f):
        raise KeyError("boom")
    record(ex, crashes)
    assert "raised KeyError" in judge.judge(ex, recording)
    record(ex, "not a function")
    assert "Pass your function itself" in judge.judge(ex, recording)


def test_forged_or_broken_records_earn_nothing(recording):
    ex = EXERCISES["forget_gate_products"]
    path = record(ex, _correct_forget_products)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    meta["cases"] = meta["cases"][:-1]                     # fewer outputs than cases
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    assert "outputs were recorded for" in judge.judge(ex, recording)
    path.write_bytes(b"not an npz")
    assert "cannot be read" in judge.judge(ex, recording)
    np.savez(path, __meta__=np.array([object()], dtype=object), allow_pickle=True)   # a pickle: refused
    assert "cannot be read" in judge.judge(ex, recording)


def _in_kernel_verdict(ex, fn, seed):
    """What the notebook's own hidden check says (judging in the kernel, as before grading)."""
    torch.manual_seed(0)                                   # torch's initial weights appear in some messages
    try:
        run_exercise(ex, fn, hidden=True, seed=seed, quiet=True)
    except CheckFailure as failure:
        return str(failure)
    return None


def _judged_verdict(ex, fn, recording, seed):
    torch.manual_seed(0)
    record(ex, fn, hidden=True, seed=seed)
    return judge.judge(ex, recording, hidden=True, seed=seed)


def _seeded_dropout(x, p=0.5, training=True, rng=None):
    keep = np.random.default_rng(0 if rng is None else rng).random(np.shape(x)) >= p
    return np.where(keep, x / (1 - p), 0).astype(x.dtype, copy=False) if training else x


def _sgd(w, dw, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    g, buf = dw + weight_decay * w, momentum_buffer
    if momentum:
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return w - lr * g, buf


def _modules_and_extras():
    """(exercise, student's answer, words of the verdict or None for a pass, only the Extra check?)"""
    from tests import test_architectures as ta
    from tests import test_attention as tt
    from tests import test_gan as tg

    block = tt._notebook(tt.BLOCK)["EncoderBlock"]
    relu = tt._notebook(tt.BLOCK.replace("nn.GELU()", "nn.ReLU()"))["EncoderBlock"]
    return [
        ("basic_block", lambda *a, **k: ta._NoFinalRelu(*a, **k), "after the layers", False),
        ("preact_block", lambda *a, **k: ta._PreActShortcutFromX(*a, **k), "the input of `shortcut`", False),
        ("basic_block", lambda *a, **k: ta._WrongOrder(*a, **k), "registration order", False),
        ("highway_layer", lambda d, gate_bias=-2.0: ta._highway(d), "should start with every value equal to", False),
        ("inception_v1_module", lambda *a: ta._SwappedConcat(*a), "order of the concatenation", False),
        ("encoder_block", block, None, False),
        ("encoder_block", relu, "ReLU instead of GELU", False),
        ("gradient_penalty", tg._gp(), None, False),
        ("gradient_penalty", tg._gp(detach=True), "no graph", False),
        ("gradient_penalty", tg._gp(per_axis=True), "over *all* other axes", False),
        ("dropout", _seeded_dropout, "gave the same mask twice", True),
        ("sgd_step", _sgd, None, True),
        ("sgd_step", lambda w, dw, buf=None, lr=1e-3, **hp: (w - lr * dw, buf), "feeding your own", True),
        ("conv2d", lambda x, w, b=None, stride=1, padding=0: time.sleep(0.2), "at least 5× faster", True),
        ("relu", lambda x: np.maximum(x, 0), None, True),
        ("relu", lambda x: np.maximum(x, np.zeros(x.shape)), "returned dtype float64", True),
    ]


def _words(message):
    return None if message is None else re.sub(r"\d+\.\d+", "#", message)


def test_every_exercise_is_judged_by_the_grader():
    """The judge trusts no verdict of the kernel: every reference returns plain data or an Expectation
    (probed in the kernel, verified by the grader), and every extra check is an Extra."""
    for name, ex in EXERCISES.items():
        assert ex.extra is None or isinstance(ex.extra, Extra), name
        for case in ex.visible():
            if case.raises is None:
                args, kwargs = _copy_args(case)
                expected = ex.reference(*args, **kwargs)
                if not isinstance(expected, Expectation):
                    _encode(expected, {})            # raises _Unreadable for anything else


def test_module_and_extra_checks_are_judged_by_the_grader_with_the_notebooks_message(recording):
    """Modules (Ch8, Ch16), the penalty's graph (Ch13) and the extra checks (speed, statistics, whole
    runs) get the grader's verdict from recorded data — in the words the notebook's own check prints."""
    for name, fn, message, extra_only in _modules_and_extras():
        ex = EXERCISES[name]
        if extra_only:
            ex = dataclasses.replace(ex, hidden=lambda rng: [])
        judged = _judged_verdict(ex, fn, recording, seed=7)
        in_kernel = _in_kernel_verdict(ex, fn, seed=7)
        assert _words(judged) == _words(in_kernel), name     # timings differ between the two runs

        assert (judged is None) if message is None else (message in judged), (name, judged)


def test_a_kernel_that_switches_the_checks_off_earns_nothing(recording, monkeypatch):
    """The student's kernel makes every Expectation and Extra pass and the engine's comparison a no-op:
    the records are still of the student's wrong answers, and the grader judges them itself."""
    from course_lib.testing import core
    from tests import test_architectures as ta

    def never_drops(x, p=0.5, training=True, rng=None):      # checks p, then keeps every unit
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p}")
        return x

    wrong = [("basic_block", lambda *a, **k: ta._NoFinalRelu(*a, **k)), ("dropout", never_drops)]
    with monkeypatch.context() as kernel:
        kernel.setattr(core.Expectation, "verify", lambda self, data: None)
        kernel.setattr(core.Extra, "__call__", lambda self, ex, fn: None)
        kernel.setattr(core, "compare", lambda *a, **k: None)
        for name, fn in wrong:
            assert _in_kernel_verdict(EXERCISES[name], fn, seed=2) is None   # the cheat works in the kernel
            record(EXERCISES[name], fn, hidden=True, seed=2)
    for name, _ in wrong:
        assert judge.judge(EXERCISES[name], recording, hidden=True, seed=2), name


def test_forged_module_records_are_refused_not_crashed_on(recording):
    from tests import test_architectures as ta

    ex = EXERCISES["basic_block"]
    path = record(ex, lambda *a, **k: ta._NoFinalRelu(*a, **k), hidden=True, seed=1)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    meta["cases"][0]["probe"]["dict"]["passes"] = {"list": [{"v": "nonsense"}] * 3}
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    assert "do not fit this check" in judge.judge(ex, recording, hidden=True, seed=1)
    del meta["cases"][0]["probe"]
    meta["cases"][0]["out"] = {"v": None}
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    assert "no measurements of your answer" in judge.judge(ex, recording, hidden=True, seed=1)


def test_test_cells_are_read_from_the_source(recording):
    import nbformat

    src = ('check_forget_gate_products(forget_gate_products)\n### BEGIN HIDDEN TESTS\n'
           'from course_lib.testing import hidden_check\n\n'
           'hidden_check("forget_gate_products", forget_gate_products, seed=1204)\n### END HIDDEN TESTS\n')
    assert judged_calls(src) == [("forget_gate_products", False, 0), ("forget_gate_products", True, 1204)]
    meta = {"nbgrader": {"grade": True, "grade_id": "test_forget_gate_products", "points": 2}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src, metadata=meta)])
    assert "no outputs were recorded" in judge_notebook(nb, recording)["test_forget_gate_products"]
    record(EXERCISES["forget_gate_products"], _correct_forget_products)
    assert "hidden checks" in judge_notebook(nb, recording)["test_forget_gate_products"]   # visible alone: no
    record(EXERCISES["forget_gate_products"], _correct_forget_products, hidden=True, seed=1204)
    assert judge_notebook(nb, recording) == {"test_forget_gate_products": None}
    assert record_path(recording, "x", True, 5).name == "x.hidden.5.npz"


def test_graded_notebook_shows_the_verdict_not_the_recording(tmp_path):
    import nbformat

    from autograder.verdicts import apply_to_notebook

    recorded = nbformat.v4.new_output("stream", name="stdout", text="f: visible outputs recorded for the grader\n")
    cells = [nbformat.v4.new_code_cell("check_f(f)", metadata={"nbgrader": {"grade": True, "grade_id": gid}},
                                       outputs=[recorded]) for gid in ("test_a", "test_b", "test_c")]
    path = tmp_path / "graded.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    apply_to_notebook(path, {"test_a": None, "test_b": "the result of f(…) is 1, expected 2."})
    a, b, c = nbformat.read(path, as_version=4).cells
    assert [o["text"] for o in a.outputs] == ["✔ all visible and hidden checks passed (judged by the grader)\n"]
    assert [(o["output_type"], o["ename"], o["evalue"]) for o in b.outputs] == [
        ("error", "CheckFailure", "the result of f(…) is 1, expected 2.")]
    assert c.outputs == [recorded]                      # not judged (e.g. it failed in the kernel): untouched


def test_the_grader_runs_the_reference_with_the_kernels_thread_count(recording):
    """A correct ResNet recorded in a one-thread kernel (as graded) passes in a grader with more threads:
    float sums depend on the thread count and a deep network amplifies the last bits past the tolerance."""
    ex = EXERCISES["resnet"]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        record(ex, ex.reference, hidden=True, seed=0)     # the reference, run as a submission
        torch.set_num_threads(max(before, 2))
        assert judge.judge(ex, recording, hidden=True, seed=0) is None
    finally:
        torch.set_num_threads(before)
