"""Activation explorer (Chapter 4): an activation, its derivative, and what a deep stack does with it.

A batch of random inputs goes through ``depth`` fully-connected layers ``h_l = f(h_{l-1} W_l)``
(no biases, width D, weights drawn once with a fixed seed and scaled by the chosen initialisation);
then a random upstream gradient comes back down with the activation's backward function. The
explorer shows, per layer, the histogram of the activations and how large the signal (forward) and
the gradient (backward) still are.
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, dropdown, format_error, int_slider

__all__ = ["ACTIVATIONS", "INITS", "ActivationExplorer", "deep_stack"]

#: The activations offered by the dropdown (a notebook passes its own through ``fns``).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")


def _references() -> dict:
    """name -> (forward, backward) of the course's answers, for the activations a notebook did not pass.

    Imported here, not at module level: widgets are tools and never need the answers to import
    (the grader's judge process has none); only an explorer shown without ``fns`` uses them."""
    from course_lib.reference import activations as act

    return {name: (getattr(act, name), getattr(act, f"{name}_backward")) for name in ACTIVATIONS}

#: Weight initialisations: name -> (label, std as a function of the width D; the layers are D × D, so
#: fan_in = fan_out = D and Glorot's 2/(fan_in + fan_out) is 1/D).
INITS = {
    "xavier": ("Xavier/Glorot: std = √(2/(D + D)) = √(1/D)", lambda d: math.sqrt(2.0 / (d + d))),
    "he": ("He/Kaiming: std = √(2/D)", lambda d: math.sqrt(2.0 / d)),
    "small": ("small: std = 0.01", lambda d: 0.01),
}

_BINS = 60
_MAX_DEPTH = 30


def deep_stack(forward, backward, x, weights, dout):
    """Forward ``x`` through ``h_l = forward(h_{l-1} @ W_l)``, then back-propagate ``dout``.

    Args:
        forward: activation, ``forward(a) -> h`` element-wise.
        backward: its gradient, ``backward(dh, a) -> da``.
        x: input batch (N, D).
        weights: sequence of L matrices (D, D).
        dout: upstream gradient of the last activations (N, D).

    Returns:
        ``(pre, post, grads)``: lists of L arrays (N, D) — pre-activations ``a_l``, activations
        ``h_l`` and gradients ``dL/da_l`` (layer 1 first).
    """
    pre, post, h = [], [], x
    for w in weights:
        a = h @ w  # (N, D)
        h = np.asarray(forward(a), dtype=np.float64)
        if h.shape != a.shape:
            raise ValueError(f"the activation returned shape {h.shape} for input shape {a.shape}")
        pre.append(a)
        post.append(h)
    grads, dh = [None] * len(weights), dout
    for i in reversed(range(len(weights))):
        da = np.asarray(backward(dh, pre[i]), dtype=np.float64)  # (N, D)
        if da.shape != pre[i].shape:
            raise ValueError(f"the backward function returned shape {da.shape} for input shape {pre[i].shape}")
        grads[i] = da
        dh = da @ weights[i].T  # (N, D)
    return pre, post, grads


def _resolve_fns(fns):
    """name -> (forward, backward); a user's callable replaces the forward, a pair both."""
    out = _references()
    for name, value in (fns or {}).items():
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r} in fns; valid names are: {', '.join(ACTIVATIONS)}")
        if callable(value):
            out[name] = (value, out[name][1])
        elif isinstance(value, (tuple, list)) and len(value) == 2 and all(callable(v) for v in value):
            out[name] = tuple(value)
        else:
            raise ValueError(f"fns[{name!r}] must be a forward function or a (forward, backward) pair")
    return out


class ActivationExplorer(ControlPanel):
    """Pick an activation, see f and f', and watch activations and gradients through a deep stack.

    Args:
        activation: initial activation, one of :data:`ACTIVATIONS`.
        fns: optional dict name -> your forward function, or name -> ``(forward, backward)``, e.g.
            ``{"sigmoid": (sigmoid, sigmoid_backward), "relu": (relu, relu_backward)}``; missing
            names use the course's references. Errors they raise are shown in the widget.
        init: initial weight initialisation, one of :data:`INITS`.
        depth: initial number of layers (1..30).
        width: units per layer D.
        batch: number of random inputs N.
        seed: seed of the inputs, weights and upstream gradient.

    Attributes:
        widget: the top-level ipywidgets container.
        x, y, dy: the curve grid on [-5, 5], f(x) and f'(x) (None on error).
        hist: (depth, 60) fraction of each layer's activations per bin; ``bin_edges`` (61,).
        layer_std: (depth,) standard deviation of the activations of each layer.
        grad_mean: (depth,) mean |dL/da_l| reaching each layer's pre-activations.
        dead_fraction: fraction of units (all layers) with a_l <= 0 for every input.
        info: a summary line (and any error) as plain text.
        activation_dropdown, init_dropdown, depth_slider, scale_slider: the controls.
    """

    def __init__(self, activation="relu", fns=None, init="xavier", depth=10, width=64, batch=128, seed=0):
        import ipywidgets as widgets

        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid names are: {', '.join(ACTIVATIONS)}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid names are: {', '.join(INITS)}")
        super().__init__()
        self.fns = _resolve_fns(fns)
        self.width, self.batch = int(width), int(batch)
        rng = np.random.default_rng(seed)
        self._x = rng.standard_normal((self.batch, self.width))  # (N, D)
        self._z = rng.standard_normal((_MAX_DEPTH, self.width, self.width))  # unit-variance weights
        self._dout = rng.standard_normal((self.batch, self.width))  # (N, D)
        self.x = np.linspace(-5, 5, 401)
        self.y = self.dy = self.hist = self.bin_edges = self.layer_std = self.grad_mean = None
        self.dead_fraction = None

        self.activation_dropdown = dropdown("activation", list(ACTIVATIONS), activation)
        self.init_dropdown = dropdown("init", [(label, key) for key, (label, _) in INITS.items()], init,
                                      width="330px")
        self.depth_slider = int_slider("depth", 1, _MAX_DEPTH, int(depth))
        self.scale_slider = widgets.FloatLogSlider(
            value=1.0, base=2, min=-2, max=2, step=0.25, description="weight ×", continuous_update=False,
            readout_format=".3g", style={"description_width": "80px"}, layout=widgets.Layout(width="330px"),
        )
        self.view = FigureView(figsize=(11.0, 3.5))
        self._build_axes()
        self._watch(self.activation_dropdown, self.init_dropdown, self.depth_slider, self.scale_slider)
        left = widgets.VBox([self.activation_dropdown, self.depth_slider])
        right = widgets.VBox([self.init_dropdown, self.scale_slider])
        self.widget = widgets.VBox([widgets.HBox([left, right]), self.view.widget, self.info_widget])
        self.update()

    @property
    def weight_std(self):
        """The standard deviation of every weight, from the init and the scale slider."""
        return INITS[self.init_dropdown.value][1](self.width) * self.scale_slider.value

    def weights(self):
        """The current L weight matrices (D, D)."""
        return [z * self.weight_std for z in self._z[: self.depth_slider.value]]

    # ----------------------------------------------------------------- drawing
    def _build_axes(self):
        from matplotlib.colors import PowerNorm

        fig = self.view.figure
        self.ax_fn = fig.add_axes((0.05, 0.15, 0.25, 0.72))
        self.ax_hist = fig.add_axes((0.37, 0.15, 0.25, 0.72))
        self.ax_stats = fig.add_axes((0.70, 0.15, 0.28, 0.72))
        (self.line_f,) = self.ax_fn.plot([], [], color="#1f77b4", lw=2, label="f(x)")
        (self.line_df,) = self.ax_fn.plot([], [], color="#d62728", lw=2, ls="--", label="f'(x)")
        self.ax_fn.axhline(0, color="0.6", lw=0.8)
        self.ax_fn.axvline(0, color="0.6", lw=0.8)
        self.ax_fn.set_xlim(-5, 5)
        self.ax_fn.set_xlabel("x")
        self.ax_fn.legend(loc="upper left", fontsize=8)
        self.im_hist = self.ax_hist.imshow(np.zeros((2, 2)), aspect="auto", origin="lower", cmap="viridis",
                                           norm=PowerNorm(gamma=0.5, vmin=0, vmax=1), interpolation="nearest")
        self.ax_hist.set_xlabel("activation value")
        self.ax_hist.set_ylabel("layer")
        (self.line_std,) = self.ax_stats.plot([], [], "o-", ms=3, color="#1f77b4", label="std of activations")
        (self.line_grad,) = self.ax_stats.plot([], [], "s-", ms=3, color="#d62728", label="mean |gradient|")
        self.ax_stats.set_yscale("log")
        self.ax_stats.set_xlabel("layer")
        self.ax_stats.legend(loc="best", fontsize=8)

    def update(self):
        """Recompute curve, stack statistics and redraw (errors go to ``.info``)."""
        name = self.activation_dropdown.value
        forward, backward = self.fns[name]
        self.error = None
        lines = []
        try:
            self.y = np.asarray(forward(self.x.copy()), dtype=np.float64)
            self.dy = np.asarray(backward(np.ones_like(self.x), self.x.copy()), dtype=np.float64)
            pre, post, grads = deep_stack(forward, backward, self._x, self.weights(), self._dout)
        except Exception as exc:  # a student's function: report, never crash the widget
            self.error = exc
            self.y = self.dy = self.hist = self.layer_std = self.grad_mean = self.dead_fraction = None
            self._draw_empty(name)
            self.info_widget.value = format_error(exc, name)
            return
        acts = np.stack(post)  # (L, N, D)
        finite = acts[np.isfinite(acts)]
        lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (-1.0, 1.0))
        lo, hi = min(float(lo), 0.0), max(float(hi), 1e-3)
        if name == "sigmoid":
            lo, hi = 0.0, 1.0
        elif name == "tanh":
            lo, hi = -1.0, 1.0
        self.bin_edges = np.linspace(lo, hi, _BINS + 1)
        clipped = np.clip(acts, lo, hi).reshape(len(post), -1)  # (L, N*D)
        self.hist = np.stack([np.histogram(row, self.bin_edges)[0] for row in clipped]) / clipped.shape[1]
        self.layer_std = acts.std(axis=(1, 2))
        self.grad_mean = np.array([np.abs(g).mean() for g in grads])
        self.dead_fraction = float(np.mean([(a <= 0).all(axis=0).mean() for a in pre]))
        self._draw(name)
        depth = len(post)
        ratio = self.grad_mean[0] / self.grad_mean[-1] if self.grad_mean[-1] > 0 else float("nan")
        lines.append(f"{name}, {depth} layers of {self.width} units, weight std {self.weight_std:.3g}: "
                     f"last-layer activation std <b>{self.layer_std[-1]:.3g}</b>; the gradient at layer 1 is "
                     f"<b>{ratio:.3g}×</b> the gradient at layer {depth}")
        if name in ("relu", "leaky_relu"):
            lines.append(f"units that are ≤ 0 for every input: <b>{self.dead_fraction:.0%}</b>"
                         + (" (dead for ReLU: no gradient ever reaches them)" if name == "relu" else ""))
        self.info_widget.value = "<br>".join(lines)

    def _draw_empty(self, name):
        self.line_f.set_data([], [])
        self.line_df.set_data([], [])
        self.im_hist.set_data(np.full((1, 1), np.nan))
        self.line_std.set_data([], [])
        self.line_grad.set_data([], [])
        self.ax_fn.set_title(f"{name}: failed (see below)", fontsize=10)
        self.view.refresh()

    def _draw(self, name):
        self.line_f.set_data(self.x, self.y)
        self.line_df.set_data(self.x, self.dy)
        ys = np.concatenate([self.y, self.dy])
        ys = ys[np.isfinite(ys)]
        lo, hi = (float(ys.min()), float(ys.max())) if ys.size else (-1.0, 1.0)
        pad = 0.08 * max(hi - lo, 1e-3)
        self.ax_fn.set_ylim(lo - pad, hi + pad)
        self.ax_fn.set_title(f"{name} and its derivative", fontsize=10)

        depth = self.hist.shape[0]
        self.im_hist.set_data(np.ma.masked_equal(self.hist, 0))  # empty bins: white background
        self.im_hist.set_extent((self.bin_edges[0], self.bin_edges[-1], 0.5, depth + 0.5))
        filled = self.hist[self.hist > 0]
        # ReLU's spike at 0 would take the whole colour range: let the top 2 % of bins saturate instead
        self.im_hist.set_clim(0, max(float(np.quantile(filled, 0.98)) if filled.size else 1.0, 1e-12))
        self.ax_hist.set_xlim(self.bin_edges[0], self.bin_edges[-1])
        self.ax_hist.set_ylim(0.5, depth + 0.5)
        self.ax_hist.set_title("histogram of activations per layer", fontsize=10)

        layers = np.arange(1, depth + 1)
        self.line_std.set_data(layers, self.layer_std)
        self.line_grad.set_data(layers, self.grad_mean)
        vals = np.concatenate([self.layer_std, self.grad_mean])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (1e-3, 1.0)
        self.ax_stats.set_ylim(lo / 2, hi * 2)
        self.ax_stats.set_xlim(0.5, depth + 0.5)
        self.ax_stats.set_title("forward signal and backward gradient", fontsize=10)
        self.view.refresh()
