"""An LSTM gate explorer for the adding problem: pick a sequence, watch the gates and the cell state."""

from __future__ import annotations

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, format_error, int_slider

__all__ = ["LSTMGateExplorer"]

_PANELS = (("i", "input gate i", "viridis", (0, 1)), ("f", "forget gate f", "viridis", (0, 1)),
           ("o", "output gate o", "viridis", (0, 1)), ("g", "candidate g", "RdBu_r", (-1, 1)),
           ("c", "cell state c", "RdBu_r", None), ("h", "hidden state h", "RdBu_r", (-1, 1)))


def _weights(lstm):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of a one-layer torch LSTM as float64 arrays."""
    get = lambda name: getattr(lstm, name, None)  # noqa: E731
    if get("weight_ih_l0") is None or getattr(lstm, "num_layers", 1) != 1 or getattr(lstm, "bidirectional", False):
        raise ValueError("LSTMGateExplorer needs a one-layer, one-direction torch.nn.LSTM")
    return tuple(None if get(n + "_l0") is None else get(n + "_l0").detach().double().numpy()
                 for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


class LSTMGateExplorer(ControlPanel):
    """Heatmaps (units × time) of an LSTM's gates and states on one adding-problem sequence.

    Args:
        lstm: a trained one-layer ``torch.nn.LSTM(2, H)`` (inputs: value, marker).
        head: optional module mapping the last hidden state (1, H) to the predicted sum (1, 1).
        length: sequence length T. units: how many hidden units to show — the ones whose cell state
            jumps most at the two marked steps of a reference sequence (relative to its other steps),
            most responsive first; chosen
            once so pictures stay comparable. The line plot follows the first three.
        gate_trace: ``gate_trace(x, hc0, *weights) -> dict`` of (T, N, H) arrays ``i f g o c h``;
            None uses the course's reference ``lstm_gate_trace``.
    """

    def __init__(self, lstm, head=None, length=50, units=8, gate_trace=None, seed=0):
        import ipywidgets as widgets

        super().__init__()
        if gate_trace is None:
            from course_lib.reference.rnn_gates import lstm_gate_trace as gate_trace
        self.weights, self.head, self.gate_trace = _weights(lstm), head, gate_trace
        if self.weights[0].shape[1] != 2:
            raise ValueError(f"the LSTM should read 2 features (value, marker), not {self.weights[0].shape[1]}")
        self.length = int(length)
        half = self.length // 2
        self.first_slider = int_slider("1st marker", 0, half - 1, min(5, half - 1))
        self.second_slider = int_slider("2nd marker", half, self.length - 1, min(self.length - 1, half + 15))
        self.value1_slider = widgets.FloatSlider(value=0.8, min=0, max=1, step=0.05, description="1st value",
                                                 continuous_update=False, layout=widgets.Layout(width="260px"))
        self.value2_slider = widgets.FloatSlider(value=0.3, min=0, max=1, step=0.05, description="2nd value",
                                                 continuous_update=False, layout=widgets.Layout(width="260px"))
        self.seed_slider = int_slider("noise seed", 0, 20, seed)
        self.trace, self.prediction = None, None
        self.units = np.arange(min(units, self.weights[1].shape[1]))
        x = self._sequence()
        reference = self._trace(x)
        if reference is not None:
            step = np.abs(np.diff(reference["c"][:, 0], axis=0))        # |c_t − c_{t−1}|, t = 1 … T−1
            marked = x[1:, 0, 1] > 0
            score = step[marked].mean(axis=0) / (step[~marked].mean(axis=0) + 1e-3)
            self.units = np.argsort(score, kind="stable")[::-1][:units]
        self.view = FigureView((9.5, 5.6))
        grid = self.view.figure.add_gridspec(3, 3, height_ratios=[1, 1, 0.9])
        self.axes = [self.view.figure.add_subplot(grid[r, c]) for r in range(2) for c in range(3)]
        self.line_ax = self.view.figure.add_subplot(grid[2, :])
        controls = [self.first_slider, self.value1_slider, self.second_slider, self.value2_slider, self.seed_slider]
        self._watch(*controls)
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox(controls[:3]), widgets.VBox(controls[3:])]),
                                    self.info_widget, self.view.widget])
        self.update()

    def _sequence(self):
        """x (T, 1, 2): random values from the seed, the two marked steps set by the sliders."""
        rng = np.random.default_rng(int(self.seed_slider.value))
        x = np.zeros((self.length, 1, 2))
        x[:, 0, 0] = rng.random(self.length)
        for pos, val in ((self.first_slider.value, self.value1_slider.value),
                         (self.second_slider.value, self.value2_slider.value)):
            x[int(pos), 0] = (float(val), 1.0)
        return x

    def _trace(self, x):
        try:
            trace = self.gate_trace(x, None, *self.weights)
        except Exception as err:  # the student's function
            self.error = err
            self.info_widget.value = format_error(err, "gate_trace")
            return None
        self.error = None
        return trace

    def update(self):
        x = self._sequence()
        trace = self._trace(x)
        if trace is None:
            return
        self.trace = trace
        target = float(self.value1_slider.value + self.value2_slider.value)
        text = f"target sum {target:.2f}"
        if self.head is not None:
            import torch

            with torch.no_grad():
                h_last = torch.as_tensor(trace["h"][-1, :1], dtype=next(self.head.parameters()).dtype)
                self.prediction = float(self.head(h_last).reshape(-1)[0])
            text += f", LSTM predicts {self.prediction:.2f} (error {self.prediction - target:+.2f})"
        self.info_widget.value = text + f" · showing units {', '.join(map(str, self.units))}"
        self._draw(x)

    def _draw(self, x):
        marks = np.flatnonzero(x[:, 0, 1])
        for ax, (key, title, cmap, lim) in zip(self.axes, _PANELS, strict=True):
            data = self.trace[key][:, 0, self.units].T
            ax.clear()
            vmax = lim[1] if lim else max(float(np.abs(data).max()), 1e-6)
            ax.imshow(data, aspect="auto", cmap=cmap, vmin=lim[0] if lim else -vmax, vmax=vmax,
                      interpolation="nearest")
            for m in marks:
                ax.axvline(m, color="k", lw=0.8, ls=":")
            ax.set_title(title, fontsize=9)
            ax.set_yticks(range(len(self.units)), [str(u) for u in self.units], fontsize=6)
            ax.tick_params(axis="x", labelsize=7)
        self.line_ax.clear()
        self.line_ax.plot(x[:, 0, 0], color="0.7", lw=0.8, label="input value")
        for u in self.units[:3]:
            self.line_ax.plot(self.trace["c"][:, 0, u], lw=1.2, label=f"c, unit {u}")
        for m in marks:
            self.line_ax.axvline(m, color="k", lw=0.8, ls=":")
        self.line_ax.set_xlabel("time step t (dotted: the marked steps); rows and lines: the units whose cell "
                                "state jumps most at the markers", fontsize=8)
        self.line_ax.legend(fontsize=7, ncol=4, loc="upper left")
        self.line_ax.tick_params(labelsize=7)
        self.view.figure.tight_layout()
        self.view.refresh()
