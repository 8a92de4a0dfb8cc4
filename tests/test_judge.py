"""The out-of-kernel judge: record in one place, judge in another, trust only data."""

import json

import numpy as np
import pytest
import torch

from autograder.verdicts import judge_notebook, judged_calls
from course_lib.testing import EXERCISES, judge
from course_lib.testing.judge import _decode, _encode, judged_in_kernel, record, record_path


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


def test_module_exercises_are_judged_in_the_kernel():
    assert judged_in_kernel(EXERCISES["basic_block"]) and judged_in_kernel(EXERCISES["gradient_penalty"])
    assert not judged_in_kernel(EXERCISES["lstm_cell_forward"])


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
