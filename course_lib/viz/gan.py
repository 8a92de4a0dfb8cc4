"""GAN training monitor (Chapter 13): losses, D(x) and D(G(z)), and the generator's samples.

Pass a :class:`GANMonitor` to a training loop (``course_lib.gan_experiments.train_ring_gan(...,
monitor=m)``); the loop calls :meth:`GANMonitor.record` with the samples of a fixed batch of noise
every few steps. Displayed before training, the monitor redraws while training runs (at most about
every 2 s); afterwards the snapshot slider moves back through training. Samples are 2-D points
(``kind="points"``, drawn over the mixture's centres) or images (``kind="images"``, a grid).
"""

from __future__ import annotations

import time

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView

__all__ = ["GANMonitor"]


def _smooth(values, window):
    """Moving average (the first values average what is there)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0 or window <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    n = np.arange(1, len(v) + 1)
    lo = np.maximum(0, n - window)
    return (c[n] - c[lo]) / (n - lo)


def _mosaic(images, ncols=8):
    """(N, 1, H, W) or (N, H, W) images → one (rows·(H+1) − 1, ncols·(W+1) − 1) array with 1-pixel gaps."""
    imgs = np.asarray(images, dtype=np.float64)
    imgs = imgs[:, 0] if imgs.ndim == 4 else imgs                       # (N, H, W)
    n, h, w = imgs.shape
    rows = int(np.ceil(n / ncols))
    out = np.full((rows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = img
    return out


class GANMonitor(ControlPanel):
    """A live, then replayable, view of a GAN's training.

    Args:
        kind: "points" (2-D samples) or "images" ((N, 1, H, W) samples, the first ``max_images`` shown).
        centers: (K, 2) mixture centres drawn under the points; with ``std`` the info line reports
            the mode coverage (:func:`course_lib.reference.gan.mode_coverage`) of every snapshot.
        std: the mixture's standard deviation.
        title: shown above the figure.
        smooth: moving-average window of the per-step curves.
        min_interval: seconds between two redraws while training (the last snapshot is always drawn
            by :meth:`finish`, and whenever the slider moves).
        max_images: images shown for ``kind="images"``.

    Attributes:
        widget: the ipywidgets container (display it, or make the monitor the last line of a cell).
        snapshots: list of dicts with keys ``step``, ``samples``, ``upto`` (number of per-step
            records at that time).
        history: dict of the per-step lists ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``.
        snapshot_slider: selects the snapshot shown.
        view: the :class:`FigureView`; ``info``: the numbers of the snapshot shown, as text.
    """

    def __init__(self, kind="points", centers=None, std=None, title="", smooth=25, min_interval=2.0,
                 max_images=32):
        import ipywidgets as widgets

        if kind not in ("points", "images"):
            raise ValueError(f"kind must be 'points' or 'images', got {kind!r}")
        super().__init__(info_height="2.2em")
        self.kind, self.title, self.smooth = kind, title, int(smooth)
        self.centers = None if centers is None else np.asarray(centers, dtype=np.float64)
        self.std, self.min_interval, self.max_images = std, float(min_interval), int(max_images)
        self.snapshots: list[dict] = []
        self.history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
        self._last_draw = 0.0
        self.snapshot_slider = widgets.IntSlider(
            value=0, min=0, max=0, description="snapshot", continuous_update=False,
            style={"description_width": "70px"}, layout=widgets.Layout(width="420px"))
        self._watch(self.snapshot_slider)
        self.view = FigureView(figsize=(12, 3.4), dpi=72)
        axes = self.view.figure.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
        self.ax_loss, self.ax_d, self.ax_samples = axes
        self.view.figure.subplots_adjust(left=0.05, right=0.98, bottom=0.15, top=0.85, wspace=0.25)
        if title:
            self.view.figure.suptitle(title, fontsize=10)
        self._lines = {}                                  # artists made once, updated in place (fast redraws)
        for ax, keys in ((self.ax_loss, (("d_loss", "D (critic) loss", "#1f77b4"), ("g_loss", "G loss", "#d62728"))),
                         (self.ax_d, (("d_real", "D(x)", "#2ca02c"), ("d_fake", "D(G(z))", "#ff7f0e")))):
            for key, label, colour in keys:
                (self._lines[key],) = ax.plot([], [], color=colour, label=label)
            ax.legend(fontsize=8, loc="upper right")
        self.ax_loss.set(xlabel="step", title="losses (moving average)")
        self.ax_d.set(xlabel="step", title="D(x) and D(G(z)) (moving average)")
        self.ax_d.axhline(0.5, color="gray", lw=0.8, ls=":")
        self._marks = [ax.axvline(0, color="k", lw=0.8, ls="--") for ax in (self.ax_loss, self.ax_d)]
        self.ax_samples.set_title("G(z), fixed z")
        if kind == "points":
            if self.centers is not None:
                self.ax_samples.scatter(*self.centers.T, marker="x", s=60, color="k", zorder=3)
            self._points = self.ax_samples.scatter(np.zeros(0), np.zeros(0), s=3, alpha=0.4, color="#d62728")
            lim = 3.0 if self.centers is None else float(np.abs(self.centers).max()) * 1.5
            self.ax_samples.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        else:
            self._image = self.ax_samples.imshow(np.full((8, 8), np.nan), cmap="gray", vmin=0, vmax=1)
            self.ax_samples.set_axis_off()
        self.widget = widgets.VBox([self.snapshot_slider, self.info_widget, self.view.widget])
        self.update()

    # ------------------------------------------------------------------ feeding
    def record(self, step, samples, d_loss=(), g_loss=(), d_real=(), d_fake=()):
        """Add a snapshot: the step, the generator's samples, and the per-step lists so far.

        The lists are the full histories (they are copied); the snapshot remembers how long they were.
        """
        samples = np.array(samples, dtype=np.float64)
        if self.kind == "points" and (samples.ndim != 2 or samples.shape[1] != 2):
            raise ValueError(f"kind='points' needs samples of shape (N, 2), got {samples.shape}")
        if self.kind == "images" and samples.ndim not in (3, 4):
            raise ValueError(f"kind='images' needs samples of shape (N, 1, H, W) or (N, H, W), got {samples.shape}")
        for key, values in (("d_loss", d_loss), ("g_loss", g_loss), ("d_real", d_real), ("d_fake", d_fake)):
            self.history[key] = [float(v) for v in values]
        upto = max((len(v) for v in self.history.values()), default=0)
        self.snapshots.append({"step": int(step), "samples": samples[: self.max_images] if self.kind == "images"
                               else samples, "upto": upto})
        self._hold += 1                                  # move the slider without a redraw ...
        try:
            self.snapshot_slider.max = len(self.snapshots) - 1
            self.snapshot_slider.value = len(self.snapshots) - 1
        finally:
            self._hold -= 1
        if time.perf_counter() - self._last_draw >= self.min_interval:   # ... then redraw, at most so often
            self.update()

    def finish(self):
        """Show the last snapshot (call after training)."""
        with self.hold():
            self.snapshot_slider.value = max(0, len(self.snapshots) - 1)

    # ------------------------------------------------------------------ drawing
    def coverage(self, index=None):
        """(counts, modes, high_quality) of a snapshot (default: the one shown); needs centers and std."""
        if self.centers is None or self.std is None or not self.snapshots:
            return None
        snap = self.snapshots[self.snapshot_slider.value if index is None else index]
        # Imported here: widgets import without the answers (the grader's judge process has none).
        from course_lib.reference.gan import mode_coverage

        return mode_coverage(snap["samples"], self.centers, self.std)

    def update(self):
        self._last_draw = time.perf_counter()
        if not self.snapshots:
            self.info_widget.value = "no snapshots yet: pass this monitor to a training loop"
            self.view.refresh()
            return
        snap = self.snapshots[self.snapshot_slider.value]
        h = {k: v[: snap["upto"]] for k, v in self.history.items()}
        for key, line in self._lines.items():
            line.set_data(np.arange(1, len(h[key]) + 1), _smooth(h[key], self.smooth))
        for ax in (self.ax_loss, self.ax_d):
            ax.relim()
            ax.autoscale_view()
        for mark in self._marks:
            mark.set_xdata([snap["step"], snap["step"]])
        x = snap["samples"]
        text = f"step {snap['step']} (snapshot {self.snapshot_slider.value + 1} of {len(self.snapshots)})"
        if h["d_loss"]:
            text += (f": D loss {h['d_loss'][-1]:.3f}, G loss {h['g_loss'][-1]:.3f}, "
                     f"D(x) {h['d_real'][-1]:.3f}, D(G(z)) {h['d_fake'][-1]:.3f}")
        if self.kind == "points":
            self._points.set_offsets(x)
            cov = self.coverage()
            if cov is not None:
                text += f"; modes covered {cov[1]}/{len(self.centers)}, high-quality samples {cov[2]:.0%}"
        else:
            mosaic = _mosaic(x)
            self._image.set_data(mosaic)
            self._image.set_extent((-0.5, mosaic.shape[1] - 0.5, mosaic.shape[0] - 0.5, -0.5))
        self.info_widget.value = text
        self.view.refresh()
