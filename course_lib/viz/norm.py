"""Batch-norm explorer (Chapter 5): shift and scale a batch, watch BN undo it; train vs eval mode.

A batch of activations (N, C) with C channels of very different means and spreads goes through
``bn_fn`` (by default :func:`course_lib.reference.norm.batch_norm`). Histograms show every channel before
and after; the info table lists the batch and running statistics. In *train* mode the batch's own
statistics are used (the display never changes the running statistics — the *train steps* buttons
do, feeding fresh batches from the current input distribution); in *eval* mode the running
statistics are used, so an input that drifted since training is no longer normalised.
"""

from __future__ import annotations

import html
import re

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, dropdown, format_error, int_slider

__all__ = ["BatchNormExplorer"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_DISTRIBUTIONS = ("gaussian", "after ReLU", "skewed")
#: Each channel's own mean and spread before the shift/scale sliders act on it.
_BASE_MEAN = np.array([-1.0, 0.5, 2.5, -2.5, 1.5, 0.0])
_BASE_STD = np.array([0.4, 1.0, 2.0, 0.7, 1.5, 0.25])


def _float_slider(description, lo, hi, value, step):
    import ipywidgets as widgets

    return widgets.FloatSlider(
        value=value, min=lo, max=hi, step=step, description=description, continuous_update=False,
        readout_format=".2f", style={"description_width": "90px"}, layout=widgets.Layout(width="280px"),
    )


class BatchNormExplorer(ControlPanel):
    """Interactive batch normalisation of a batch of C-channel activations.

    Args:
        bn_fn: a function with the signature of :func:`course_lib.reference.norm.batch_norm`,
            ``bn_fn(x, running_mean, running_var, weight, bias, training, momentum, eps)`` with x of
            shape (N, C), updating the running statistics in place in training mode; defaults to
            the reference. Errors it raises are shown in the widget.
        num_channels: C, 1 to 6.
        batch_size: initial N (2 to 256).
        seed: seed of the random batches.

    Attributes:
        widget: the top-level ipywidgets container (the notebook displays this).
        batch: the current input batch, float64 (N, C).
        output: ``bn_fn``'s output for it (N, C), or None if ``bn_fn`` failed.
        running_mean, running_var: the running statistics (C,), changed only by :meth:`train_steps`
            and :meth:`reset`.
        steps: number of training batches fed since the last reset.
        error: the last exception raised by ``bn_fn`` (or None).
        info: the statistics table and any error, as plain text.
        shift_slider, scale_slider, gamma_slider, beta_slider, momentum_slider, batch_slider,
        dist_dropdown, mode_toggle, step_button, steps_button, reset_button: the controls.
    """

    def __init__(self, bn_fn=None, num_channels=3, batch_size=32, seed=0):
        import ipywidgets as widgets

        if not 1 <= int(num_channels) <= len(_BASE_MEAN):
            raise ValueError(f"num_channels must be in 1..{len(_BASE_MEAN)}, got {num_channels}")
        if not 2 <= int(batch_size) <= 256:
            raise ValueError(f"batch_size must be in 2..256, got {batch_size}")
        if bn_fn is None:
            # The notebook passes the student's batch_norm; without one the answer is the default. Imported
            # here so that widgets import without the answers (the grader's judge has none).
            from course_lib.reference.norm import batch_norm as bn_fn
        self.bn_fn = bn_fn
        self.num_channels = c = int(num_channels)
        self._seed = int(seed)
        super().__init__(info_height="7em")
        self.output = None

        self.shift_slider = _float_slider("input shift", -5.0, 5.0, 0.0, 0.1)
        self.scale_slider = _float_slider("input scale ×", 0.1, 5.0, 1.0, 0.1)
        self.gamma_slider = _float_slider("gamma (γ)", 0.0, 3.0, 1.0, 0.05)
        self.beta_slider = _float_slider("beta (β)", -3.0, 3.0, 0.0, 0.05)
        self.momentum_slider = _float_slider("momentum", 0.0, 1.0, 0.1, 0.01)
        self.batch_slider = int_slider("batch size N", 2, 256, int(batch_size), width="280px")
        self.dist_dropdown = dropdown("input", _DISTRIBUTIONS, "gaussian", width="280px")
        self.mode_toggle = widgets.ToggleButtons(
            options=["train", "eval"], value="train", description="mode",
            tooltips=["normalise with the batch's statistics", "normalise with the running statistics"],
            style={"description_width": "90px", "button_width": "70px"},
        )
        self.step_button = widgets.Button(description="train 1 step", layout=widgets.Layout(width="110px"))
        self.steps_button = widgets.Button(description="train 20 steps", layout=widgets.Layout(width="120px"))
        self.reset_button = widgets.Button(description="reset running stats", layout=widgets.Layout(width="150px"))
        self.step_button.on_click(lambda _: self.train_steps(1))
        self.steps_button.on_click(lambda _: self.train_steps(20))
        self.reset_button.on_click(lambda _: self.reset())

        self.running_mean, self.running_var = np.zeros(c), np.ones(c)
        self.steps = 0
        self._z = self._noise(0)  # the displayed batch's noise: sliders move it, never resample it

        self.view = FigureView(figsize=(9.6, 3.6))
        self._build_axes()
        for control in (self.shift_slider, self.scale_slider, self.gamma_slider, self.beta_slider,
                        self.momentum_slider, self.batch_slider, self.dist_dropdown, self.mode_toggle):
            control.observe(self._on_change, names="value")
        left = widgets.VBox([self.dist_dropdown, self.shift_slider, self.scale_slider, self.batch_slider])
        middle = widgets.VBox([self.mode_toggle, self.gamma_slider, self.beta_slider, self.momentum_slider])
        buttons = widgets.HBox([self.step_button, self.steps_button, self.reset_button])
        self.widget = widgets.VBox([widgets.HBox([left, middle]), buttons, self.view.widget, self.info_widget])
        self.update()

    # ----------------------------------------------------------------- batching
    def _noise(self, index):
        """Standard-normal noise (256, C) of batch number ``index`` (repeatable)."""
        return np.random.default_rng([self._seed, index]).standard_normal((256, self.num_channels))

    def _make_batch(self, z):
        """Input batch (N, C) from noise z: per-channel mean/spread, then the shift and scale sliders."""
        n = self.batch_slider.value
        z = z[:n]  # (N, C)
        dist = self.dist_dropdown.value
        if dist == "after ReLU":
            z = np.maximum(z + 0.3, 0.0) * 1.5 - 0.6  # half zeros, a long right tail
        elif dist == "skewed":
            z = np.exp(0.8 * z) - np.exp(0.32)  # log-normal, mean 0
        c = self.num_channels
        return _BASE_MEAN[:c] + self.shift_slider.value + _BASE_STD[:c] * self.scale_slider.value * z

    @property
    def batch(self):
        """The current input batch (a new array), float64 (N, C)."""
        return self._make_batch(self._z)

    @property
    def info(self):
        """The info table as plain text."""
        text = re.sub(r"</tr>|<br\s*/?>", "\n", self.info_widget.value)
        text = re.sub(r"</t[dh]>", " ", text)
        return html.unescape(re.sub(r"<[^>]+>", "", text))

    def _affine(self):
        c = self.num_channels
        return np.full(c, self.gamma_slider.value), np.full(c, self.beta_slider.value)

    def train_steps(self, n=1):
        """Feed ``n`` fresh batches of the current input distribution through ``bn_fn`` in training
        mode, updating the running statistics in place (as every training forward pass does)."""
        weight, bias = self._affine()
        self.error = None
        try:
            for _ in range(int(n)):
                self.steps += 1
                self._z = self._noise(self.steps)
                self.bn_fn(self.batch, self.running_mean, self.running_var, weight, bias, True,
                           self.momentum_slider.value, 1e-5)
        except Exception as exc:  # a student's function: report, never crash the widget
            self.error = exc
        self.update(keep_error=True)

    def reset(self):
        """Running statistics back to torch's initial values (mean 0, var 1), noise back to batch 0."""
        self.running_mean[:] = 0.0
        self.running_var[:] = 1.0
        self.steps = 0
        self._z = self._noise(0)
        self.update()

    # ----------------------------------------------------------------- drawing
    def _build_axes(self):
        fig = self.view.figure
        self.ax_in = fig.add_axes((0.05, 0.13, 0.42, 0.66))
        self.ax_out = fig.add_axes((0.56, 0.13, 0.42, 0.66))
        edges = np.linspace(0, 1, 2)
        self.stairs_in, self.stairs_out, self.run_marks = [], [], []
        for ch in range(self.num_channels):
            colour = _COLOURS[ch]
            self.stairs_in.append(self.ax_in.stairs([0], edges, fill=True, alpha=0.35, color=colour,
                                                    label=f"channel {ch}"))
            self.stairs_out.append(self.ax_out.stairs([0], edges, fill=True, alpha=0.35, color=colour))
            (mark,) = self.ax_in.plot([], [], color=colour, lw=3, solid_capstyle="butt")
            self.run_marks.append(mark)
        for ax, title in ((self.ax_in, "input batch (before BN)"), (self.ax_out, "output (after BN)")):
            ax.set_xlabel("activation value", fontsize=9)
            ax.set_ylabel("count", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.set_title(title, fontsize=10)
        fig.legend(loc="upper center", ncol=self.num_channels, fontsize=9, frameon=False, bbox_to_anchor=(0.5, 1.0))

    @staticmethod
    def _hist(stairs, values, ax):
        lo, hi = float(values.min()), float(values.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        edges = np.linspace(lo - pad, hi + pad, 31)
        top = 1
        for ch, st in enumerate(stairs):
            counts, _ = np.histogram(values[:, ch], bins=edges)
            st.set_data(counts, edges)
            top = max(top, int(counts.max()))
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, top * 1.25)
        return edges

    def update(self, keep_error=False):
        """Normalise the current batch with ``bn_fn`` and redraw (errors go to ``.info``)."""
        x = self.batch  # (N, C)
        training = self.mode_toggle.value == "train"
        weight, bias = self._affine()
        if not keep_error:
            self.error = None
        if self.error is None:
            try:
                rm, rv = self.running_mean.copy(), self.running_var.copy()  # the display changes nothing
                out = self.bn_fn(x.copy(), rm, rv, weight, bias, training, self.momentum_slider.value, 1e-5)
                out = np.asarray(out, dtype=np.float64)
                if out.shape != x.shape:
                    raise ValueError(f"bn_fn returned shape {out.shape}, expected {x.shape}")
                self.output = out
            except Exception as exc:  # a student's function: report, never crash the widget
                self.error = exc
        if self.error is not None:
            self.output = None
        self._draw(x, training)
        self.info_widget.value = self._table(x, training)

    def _draw(self, x, training):
        edges = self._hist(self.stairs_in, x, self.ax_in)
        top = self.ax_in.get_ylim()[1]
        for ch, mark in enumerate(self.run_marks):  # running mean ± running std as a bar on top
            m, s = self.running_mean[ch], np.sqrt(max(self.running_var[ch], 0.0))
            y = top * (0.93 - 0.05 * ch)
            mark.set_data([m - s, m + s], [y, y])
        run_std = np.sqrt(np.maximum(self.running_var, 0.0))
        lo = min(edges[0], float((self.running_mean - run_std).min()) - 0.2)
        hi = max(edges[-1], float((self.running_mean + run_std).max()) + 0.2)
        self.ax_in.set_xlim(lo, hi)
        self.ax_in.set_title(f"input batch (before BN), N = {len(x)}  —  bars: running mean ± std", fontsize=10)
        if self.output is not None:
            self._hist(self.stairs_out, self.output, self.ax_out)
            stats = "batch statistics" if training else "running statistics"
            self.ax_out.set_title(f"output (after BN, {'train' if training else 'eval'} mode: {stats})", fontsize=10)
        else:
            for st in self.stairs_out:
                st.set_data([0], [0, 1])
            self.ax_out.set_title("output: bn_fn failed (see below)", fontsize=10)
        self.view.refresh()

    def _table(self, x, training):
        head = ("<tr><th>channel</th><th>batch mean</th><th>batch std</th><th>out mean</th><th>out std</th>"
                "<th>running mean</th><th>running var</th></tr>")
        rows = []
        for ch in range(self.num_channels):
            out = (f"<td>{self.output[:, ch].mean():+.3f}</td><td>{self.output[:, ch].std():.3f}</td>"
                   if self.output is not None else "<td>–</td><td>–</td>")
            rows.append(f"<tr style='color:{_COLOURS[ch]}'><td>{ch}</td><td>{x[:, ch].mean():+.3f}</td>"
                        f"<td>{x[:, ch].std():.3f}</td>{out}<td>{self.running_mean[ch]:+.3f}</td>"
                        f"<td>{self.running_var[ch]:.3f}</td></tr>")
        table = f"<table style='font-family:monospace;font-size:90%'>{head}{''.join(rows)}</table>"
        mode = ("<b>train</b>: each channel is normalised with its own batch mean and (biased) variance"
                if training else "<b>eval</b>: each channel is normalised with the running mean and variance")
        lines = [table, f"{mode}; running statistics after {self.steps} training step(s)."]
        if self.error is not None:
            lines.append(format_error(self.error, "bn_fn"))
        return "<br>".join(lines)
