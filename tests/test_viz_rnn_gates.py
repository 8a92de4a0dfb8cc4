"""The LSTM gate explorer, driven headless with a small untrained LSTM."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.viz.rnn_gates import LSTMGateExplorer  # noqa: E402


def test_gate_explorer_follows_the_markers_and_reports_errors():
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(2, 6), torch.nn.Linear(6, 1)
    ex = LSTMGateExplorer(lstm, head=head, length=20, units=4)
    assert ex.view.widget.value[:4] == b"\x89PNG" and ex.error is None
    assert len(ex.units) == 4 and set(ex.trace) == set("ifgohc") and ex.trace["c"].shape == (20, 1, 6)
    with torch.no_grad():    # the prediction shown is the head on the last hidden state, same weights in torch
        x = torch.zeros(20, 1, 2)
        x[:, 0, 0] = torch.from_numpy(np.random.default_rng(0).random(20))
        x[ex.first_slider.value, 0] = torch.tensor([ex.value1_slider.value, 1.0])
        x[ex.second_slider.value, 0] = torch.tensor([ex.value2_slider.value, 1.0])
        out, _ = lstm(x)
        assert ex.prediction == pytest.approx(float(head(out[-1])[0, 0]), abs=1e-5)
    assert "target sum 1.10" in ex.info and "LSTM predicts" in ex.info
    png, trace = ex.view.widget.value, ex.trace
    ex.first_slider.value = 2
    assert ex.view.widget.value != png and not np.allclose(ex.trace["i"], trace["i"])
    ex.value2_slider.value = 0.9
    assert "target sum 1.70" in ex.info

    def broken(*args):
        raise ValueError("oops")
    bad = LSTMGateExplorer(lstm, length=10, gate_trace=broken)
    assert bad.error is not None and "gate_trace raised ValueError" in bad.info


def test_gate_explorer_rejects_other_modules():
    with pytest.raises(ValueError, match="one-layer"):
        LSTMGateExplorer(torch.nn.LSTM(2, 4, num_layers=2))
    with pytest.raises(ValueError, match="2 features"):
        LSTMGateExplorer(torch.nn.LSTM(3, 4))
