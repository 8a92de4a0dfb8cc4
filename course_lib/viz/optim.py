"""Optimizer race (Chapter 7): SGD, momentum, Nesterov, RMSProp and Adam on 2-D loss surfaces.

The update rules are the functional steps of :mod:`course_lib.reference.optim` (or the student's own, with the
same signatures): ``sgd_step(w, dw, buf, lr, momentum, nesterov=...) -> (w, buf)``,
``rmsprop_step(w, dw, square_avg, lr, ...) -> (w, square_avg)`` and
``adam_step(w, dw, m, v, t, lr, betas) -> (w, m, v)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from course_lib.viz._common import FigureView, dropdown, format_error, int_slider

__all__ = ["LANDSCAPES", "RULES", "Landscape", "OptimizerRace", "draw_contours", "race"]

#: The update rules the race knows, with their colours in every plot.
RULES = {"sgd": "#7f7f7f", "momentum": "#1f77b4", "nesterov": "#17becf", "rmsprop": "#2ca02c", "adam": "#d62728"}


@dataclass(frozen=True)
class Landscape:
    """A 2-D loss surface: ``f(w) -> (loss, grad)`` for w of shape (2,), a start, a view and default lrs."""

    f: Callable[[np.ndarray], tuple[float, np.ndarray]]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minimum: tuple[float, float]
    lrs: dict[str, float]
    log_levels: bool = False


def _valley(w):
    """½(x² + 50y²): curvature 1 along x and 50 along y (condition number 50)."""
    x, y = w
    return 0.5 * (x * x + 50.0 * y * y), np.array([x, 50.0 * y])


def _rotated_valley(w):
    """The same valley turned by 45°: its axes are no longer the coordinate axes."""
    x, y = w
    u, v = (x + y) / math.sqrt(2), (y - x) / math.sqrt(2)
    du, dv = u, 50.0 * v
    return 0.5 * (u * u + 50.0 * v * v), np.array([(du - dv) / math.sqrt(2), (du + dv) / math.sqrt(2)])


def _rosenbrock(w):
    """(1 − x)² + 100(y − x²)²: a curved, flat-bottomed valley; minimum at (1, 1)."""
    x, y = w
    r = y - x * x
    return (1 - x) ** 2 + 100.0 * r * r, np.array([-2.0 * (1 - x) - 400.0 * x * r, 200.0 * r])


def _saddle(w):
    """½x² − ½y² + ¼y⁴: a saddle at the origin between minima at (0, ±1)."""
    x, y = w
    return 0.5 * x * x - 0.5 * y * y + 0.25 * y ** 4, np.array([x, -y + y ** 3])


_VALLEY_LRS = {"sgd": 0.038, "momentum": 0.02, "nesterov": 0.02, "rmsprop": 0.05, "adam": 0.3}

#: The surfaces offered by :class:`OptimizerRace` (and used by the chapter's static race).
LANDSCAPES = {
    "ill-conditioned valley": Landscape(_valley, (-4.5, 1.2), (-5.0, 1.5), (-1.6, 1.6), (0.0, 0.0),
                                        _VALLEY_LRS),
    "rotated valley": Landscape(_rotated_valley, (-3.5, -2.0), (-4.5, 1.5), (-3.5, 1.5), (0.0, 0.0), _VALLEY_LRS),
    "rosenbrock": Landscape(_rosenbrock, (-1.5, 2.0), (-2.0, 2.0), (-1.0, 3.0), (1.0, 1.0),
                            {"sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "rmsprop": 1e-2, "adam": 0.1},
                            log_levels=True),
    "saddle": Landscape(_saddle, (-2.0, 1e-3), (-2.5, 2.5), (-1.6, 1.6), (0.0, 1.0),
                        {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 0.05, "adam": 0.1}),
}


def _default_steps():
    from course_lib.reference import optim

    return {"sgd": optim.sgd_step, "rmsprop": optim.rmsprop_step, "adam": optim.adam_step}


def race(rule, landscape, steps, lr, momentum=0.9, betas=(0.9, 0.999), step_fns=None):
    """Run one update rule from the landscape's start.

    Args:
        rule: one of :data:`RULES`.
        landscape: a :class:`Landscape` or a key of :data:`LANDSCAPES`.
        steps: number of updates.
        lr: learning rate; ``momentum`` is used by "momentum" and "nesterov", ``betas`` by "adam".
        step_fns: ``{"sgd": fn, "rmsprop": fn, "adam": fn}``; missing entries use course_lib.reference.optim.

    Returns:
        ``(path, losses)``: arrays of shape (T + 1, 2) and (T + 1,), T ≤ steps (a run that blows up
        stops at the first non-finite or huge value).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    land = LANDSCAPES[landscape] if isinstance(landscape, str) else landscape
    fns = {**_default_steps(), **(step_fns or {})}
    w = np.array(land.start, dtype=np.float64)
    loss, grad = land.f(w)
    path, losses = [w], [loss]
    state = {"sgd": [None], "momentum": [None], "nesterov": [None], "rmsprop": [np.zeros(2)],
             "adam": [np.zeros(2), np.zeros(2)]}[rule]
    for t in range(1, steps + 1):
        if rule == "adam":
            w, *state = fns["adam"](w, grad, *state, t, lr=lr, betas=betas)
        elif rule == "rmsprop":
            w, *state = fns["rmsprop"](w, grad, *state, lr=lr)
        else:
            mu = 0.0 if rule == "sgd" else momentum
            w, *state = fns["sgd"](w, grad, *state, lr=lr, momentum=mu, nesterov=rule == "nesterov")
        w = np.asarray(w, dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.abs(w).max() > 1e6:
            break
        loss, grad = land.f(w)
        path.append(w)
        losses.append(loss)
    return np.array(path), np.array(losses)


def _float_log_slider(description, value, lo=-4, hi=0):
    import ipywidgets as widgets

    return widgets.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.05, description=description,
                                  readout_format=".2g", continuous_update=False,
                                  style={"description_width": "80px"}, layout=widgets.Layout(width="300px"))


class OptimizerRace:
    """Interactive race of five update rules on a 2-D loss surface.

    Args:
        step_fns: ``{"sgd": sgd_step, "rmsprop": rmsprop_step, "adam": adam_step}`` (yours); missing
            entries use ``course_lib.reference.optim``. Errors they raise are shown under the plot.
        landscape: initial key of :data:`LANDSCAPES`.
        steps: initial number of updates.

    Attributes:
        widget: the top-level ipywidgets container.
        paths, losses: ``{rule: array}`` of the last run (rules that are switched off are absent).
        info: final losses and messages as plain text.
        landscape_dropdown, steps_slider, momentum_slider, beta1_slider, lr_sliders, show: the controls
            (``show`` and ``lr_sliders`` are dicts keyed by rule).
    """

    def __init__(self, step_fns=None, landscape="ill-conditioned valley", steps=100):
        import ipywidgets as widgets

        if landscape not in LANDSCAPES:
            raise ValueError(f"unknown landscape {landscape!r}; valid names are: {', '.join(LANDSCAPES)}")
        self.step_fns = dict(step_fns or {})
        unknown = set(self.step_fns) - {"sgd", "rmsprop", "adam"}
        if unknown:
            raise ValueError(f"step_fns keys must be 'sgd', 'rmsprop' and/or 'adam', got {sorted(unknown)}")
        self.paths, self.losses, self.errors = {}, {}, {}
        self._hold = False
        self.landscape_dropdown = dropdown("surface", LANDSCAPES, landscape, width="300px")
        self.steps_slider = int_slider("steps", 10, 500, steps, width="300px")
        self.momentum_slider = widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="momentum",
                                                   continuous_update=False, style={"description_width": "80px"},
                                                   layout=widgets.Layout(width="300px"))
        self.beta1_slider = widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="Adam β1",
                                                continuous_update=False, style={"description_width": "80px"},
                                                layout=widgets.Layout(width="300px"))
        lrs = LANDSCAPES[landscape].lrs
        self.lr_sliders = {r: _float_log_slider(f"lr {r}", lrs[r]) for r in RULES}
        self.show = {r: widgets.Checkbox(value=True, description=r, indent=False, layout=widgets.Layout(width="95px"))
                     for r in RULES}
        self.info_widget = widgets.HTML(layout=widgets.Layout(min_height="3em"))
        self.view = FigureView(figsize=(10, 3.8))
        fig = self.view.figure
        self.ax_path = fig.add_axes((0.06, 0.13, 0.42, 0.78))
        self.ax_loss = fig.add_axes((0.57, 0.13, 0.41, 0.78))
        self.landscape_dropdown.observe(self._on_landscape, names="value")
        for control in (self.steps_slider, self.momentum_slider, self.beta1_slider, *self.lr_sliders.values(),
                        *self.show.values()):
            control.observe(self._on_change, names="value")
        left = widgets.VBox([self.landscape_dropdown, self.steps_slider, self.momentum_slider, self.beta1_slider,
                             widgets.HBox(list(self.show.values()))])
        right = widgets.VBox(list(self.lr_sliders.values()))
        self.widget = widgets.VBox([widgets.HBox([left, right]), self.view.widget, self.info_widget])
        self.update()

    @property
    def info(self):
        import html
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.info_widget.value.replace("<br>", "\n")))

    def _on_landscape(self, change):
        self._hold = True
        try:
            for rule, slider in self.lr_sliders.items():
                slider.value = LANDSCAPES[change["new"]].lrs[rule]
        finally:
            self._hold = False
        self.update()

    def _on_change(self, change):
        if not self._hold:
            self.update()

    def update(self):
        """Re-run every selected rule with the current settings and redraw."""
        land = LANDSCAPES[self.landscape_dropdown.value]
        self.paths, self.losses, self.errors = {}, {}, {}
        lines = []
        for rule in RULES:
            if not self.show[rule].value:
                continue
            try:
                self.paths[rule], self.losses[rule] = race(
                    rule, land, self.steps_slider.value, self.lr_sliders[rule].value, self.momentum_slider.value,
                    (self.beta1_slider.value, 0.999), self.step_fns)
            except Exception as exc:  # a student's function: report, never crash the widget
                self.errors[rule] = exc
                lines.append(format_error(exc, rule))
                continue
            n, final = len(self.losses[rule]) - 1, self.losses[rule][-1]
            blew_up = n < self.steps_slider.value
            lines.append(f"<span style='color:{RULES[rule]}'><b>{rule}</b></span>: "
                         + (f"<b>diverged</b> after {n} steps (lr too large)" if blew_up
                            else f"loss {final:.3g} after {n} steps"))
        self.info_widget.value = "<br>".join(lines)
        self._draw(land)

    def _draw(self, land):
        ax, axl = self.ax_path, self.ax_loss
        ax.clear()
        axl.clear()
        draw_contours(ax, land)
        for rule, path in self.paths.items():
            ax.plot(path[:, 0], path[:, 1], ".-", color=RULES[rule], lw=1.2, ms=3, label=rule)
            axl.plot(np.maximum(self.losses[rule], 1e-16), color=RULES[rule], label=rule)
        ax.set_xlim(land.xlim)
        ax.set_ylim(land.ylim)
        ax.set_title(f"{self.landscape_dropdown.value}: paths from the start (black dot)", fontsize=9)
        axl.set_yscale("log")
        axl.set_xlabel("step")
        axl.set_ylabel("loss (log scale)")
        axl.set_title("loss per step", fontsize=9)
        if self.paths:
            axl.legend(fontsize=8)
        self.view.refresh()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def savefig(self, path, **kwargs):
        """Save the current figure (e.g. ``/tmp/race.png``)."""
        self.view.savefig(path, **kwargs)


def draw_contours(ax, land, n=200):
    """Contours of a :class:`Landscape` with its start (black dot) and minimum (star) on ``ax``."""
    xs = np.linspace(*land.xlim, n)
    ys = np.linspace(*land.ylim, n)
    X, Y = np.meshgrid(xs, ys)                                         # (n, n) each
    Z = land.f(np.stack([X, Y]))[0]                                    # (n, n): the surfaces broadcast
    if land.log_levels:
        levels = np.logspace(-1, math.log10(max(Z.max(), 1.0)), 14)
    else:
        levels = np.linspace(Z.min(), np.percentile(Z, 90), 14)
    ax.contour(X, Y, Z, levels=levels, colors="#bbbbbb", linewidths=0.7)
    ax.plot(*land.start, "ko", ms=5)
    ax.plot(*land.minimum, "k*", ms=10)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
