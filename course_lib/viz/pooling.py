"""Pooling explorer (Chapter 3): max / average pooling windows, output size, translation invariance."""

from __future__ import annotations

import numpy as np

from course_lib import data
from course_lib.viz._common import (
    Explorer,
    FigureView,
    format_error,
    int_slider,
    set_image,
    size_formula_html,
)

__all__ = ["PoolingExplorer"]

_MODES = ("max", "avg")
_HIGHLIGHT = ("#e6550d", "#31a354", "#3182bd", "#f2c80f", "#d62ad6", "#17becf", "#ff9896", "#9467bd", "#8c564b")


def _resolve_pool_fns(pool_fn, mode):
    """{"max": fn, "avg": fn} from None, a dict (missing modes use the reference) or one callable."""
    from course_lib.reference import pool  # imported here so that the kernel playground works on its own

    fns = {"max": pool.max_pool2d, "avg": pool.avg_pool2d}
    if pool_fn is None:
        return fns
    if callable(pool_fn):
        return {**fns, mode: pool_fn}
    if isinstance(pool_fn, dict):
        unknown = set(pool_fn) - set(_MODES)
        if unknown:
            raise ValueError(f"pool_fn keys must be 'max' and/or 'avg', got {sorted(unknown)}")
        return {**fns, **pool_fn}
    raise ValueError(f"pool_fn must be None, a callable or a dict {{'max': ..., 'avg': ...}}, got {pool_fn!r}")


def _window_verts(rows, cols, k, s, p):
    """Corners (in pixel-centre coordinates) of the pooling windows (i, j) for i in rows, j in cols."""
    verts = []
    for i in rows:
        for j in cols:
            y0, x0 = i * s - p - 0.5, j * s - p - 0.5
            verts.append([(x0, y0), (x0 + k, y0), (x0 + k, y0 + k), (x0, y0 + k)])
    return verts


class PoolingExplorer(Explorer):
    """Interactive 2-D pooling: windows drawn on the input, the pooled map, and what a shift changes.

    Args:
        image: ``None``, a demo image name (see ``course_lib.viz._common.IMAGE_NAMES``) or an array
            (H, W) / (C, H, W) (averaged to gray).
        pool_fn: ``None`` (the references ``course_lib.reference.pool.max_pool2d`` / ``avg_pool2d``), a dict
            ``{"max": my_max_pool, "avg": my_avg_pool}`` (missing modes use the reference), or one
            callable used for ``mode``. Called as ``fn(x, kernel_size, stride, padding)`` with
            x (1, 1, H, W); errors it raises are shown in the widget.
        size: side in pixels of the demo images.
        mode: initial mode, ``"max"`` or ``"avg"``.

    Attributes:
        widget: the top-level ipywidgets container.
        output: pooled map of the (shifted) input, float64 (H_out, W_out), or None on error.
        unchanged: fraction of output values equal to those of the unshifted input (1.0 at shift 0).
        info: output size, padding message, shift statistics and errors, as plain text.
        image_dropdown, mode_toggle, kernel_slider, stride_slider, padding_slider, shift_slider:
            the controls. The shift moves the input right by that many pixels (zero fill).
    """

    def __init__(self, image=None, pool_fn=None, size=64, mode="max"):
        import ipywidgets as widgets

        if mode not in _MODES:
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        super().__init__(image=image, size=size)
        self.pool_fns = _resolve_pool_fns(pool_fn, mode)
        self.unchanged = None
        self.mode_toggle = widgets.ToggleButtons(
            options=list(_MODES), value=mode, description="mode",
            style={"description_width": "80px", "button_width": "60px"},
        )
        self.kernel_slider = int_slider("kernel_size", 1, 6, 2)
        self.stride_slider = int_slider("stride", 1, 6, 2)
        self.padding_slider = int_slider("padding", 0, 3, 0)
        self.shift_slider = int_slider("shift (px →)", 0, 8, 0)

        self.view = FigureView(figsize=(9.6, 3.4))
        self._build_axes()
        self._watch(
            self.image_dropdown, self.mode_toggle, self.kernel_slider, self.stride_slider,
            self.padding_slider, self.shift_slider,
        )
        left = widgets.VBox([self.image_dropdown, self.mode_toggle, self.shift_slider])
        right = widgets.VBox([self.kernel_slider, self.stride_slider, self.padding_slider])
        self.widget = widgets.VBox([widgets.HBox([left, right]), self.view.widget, self.info_widget])
        self.update()

    def _build_axes(self):
        from matplotlib.collections import PolyCollection
        from matplotlib.colors import ListedColormap

        fig = self.view.figure
        self.ax_in = fig.add_axes((0.01, 0.03, 0.31, 0.84))
        self.ax_out = fig.add_axes((0.345, 0.03, 0.31, 0.84))
        self.ax_diff = fig.add_axes((0.68, 0.03, 0.31, 0.84))
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray", interpolation="nearest")
        self.im_out = self.ax_out.imshow(np.zeros((2, 2)), cmap="gray", interpolation="nearest")
        changed_cmap = ListedColormap(["#f2f2f2", "#e6550d"])
        self.im_diff = self.ax_diff.imshow(
            np.zeros((2, 2)), cmap=changed_cmap, vmin=0, vmax=1, interpolation="nearest"
        )
        self.grid = PolyCollection([], facecolors="none", edgecolors=(1, 1, 1, 0.45), linewidths=0.6)
        self.windows = PolyCollection([], facecolors="none", linewidths=2.0)
        self.cells = PolyCollection([], facecolors="none", linewidths=1.8)
        self.ax_in.add_collection(self.grid)
        self.ax_in.add_collection(self.windows)
        self.ax_out.add_collection(self.cells)
        for ax in (self.ax_in, self.ax_out, self.ax_diff):
            ax.set_xticks([])
            ax.set_yticks([])

    def _pool(self, x, mode, k, s, p, expected):
        out = self.pool_fns[mode](x[None, None].copy(), k, s, p)  # (1, 1, H, W) -> (1, 1, H_out, W_out)
        out = np.asarray(out, dtype=np.float64)
        if out.shape != (1, 1, *expected):
            raise ValueError(f"pool_fn returned shape {out.shape}, expected (1, 1, {expected[0]}, {expected[1]})")
        return out[0, 0]

    def update(self):
        """Pool the (shifted) input with the current settings and redraw (errors go to ``.info``)."""
        img = self.image  # (H, W)
        mode, k, s = self.mode_toggle.value, self.kernel_slider.value, self.stride_slider.value
        p_asked, shift = self.padding_slider.value, self.shift_slider.value
        p = min(p_asked, k // 2)
        lines = []
        if p != p_asked:
            lines.append(
                f"<span style='color:#a15c00'>padding {p_asked} is more than half the kernel "
                f"({k}/2): torch refuses that (a window could lie entirely in the padding); "
                f"using padding = {p}.</span>"
            )
        (h_out, w_out), formula = size_formula_html(img.shape, k, s, p)
        lines.insert(0, f"<span style='font-family:monospace'>{formula}</span>")
        x = data.shifted(img, 0, shift)  # (H, W), moved right, zero fill
        self.error, self.output, self.unchanged, same = None, None, None, None
        if h_out is not None and w_out is not None:
            try:
                base = self._pool(img, mode, k, s, p, (h_out, w_out))
                self.output = base if shift == 0 else self._pool(x, mode, k, s, p, (h_out, w_out))
                same = np.isclose(self.output, base, rtol=0, atol=1e-12)  # (H_out, W_out)
                self.unchanged = float(same.mean())
            except Exception as exc:  # a student's function: report, never crash the widget
                self.error = exc
                lines.append(format_error(exc, f"pool_fn[{mode!r}]"))
        if self.unchanged is not None and shift:
            px_same = float(np.mean(x == img))
            lines.append(
                f"shift {shift} px → unchanged: input pixels <b>{px_same:.0%}</b>, "
                f"pooled outputs <b>{self.unchanged:.0%}</b>"
            )
        elif self.unchanged is not None:
            lines.append("move <i>shift</i> to see how much of the pooled output survives a translation")
        if self.output is not None:
            lines.append("coloured squares: the first pooling windows and the output values they produce")
        self._draw(img, x, k, s, p, shift, same)
        self.info_widget.value = "<br>".join(lines)

    def _draw(self, img, x, k, s, p, shift, same):
        lo, hi = float(img.min()), float(img.max())
        hi = hi if hi > lo else lo + 1
        set_image(self.ax_in, self.im_in, x, pad=p)
        self.im_in.set_clim(lo, hi)
        self.ax_in.set_facecolor("#6baed6")  # padding region
        pad_txt = f", padding {p} (blue)" if p else ""
        shift_txt = f", shifted {shift} px" if shift else ""
        self.ax_in.set_title(f"input {img.shape[0]}×{img.shape[1]}{shift_txt}{pad_txt}", fontsize=9)
        if self.output is None:
            for coll in (self.grid, self.windows, self.cells):
                coll.set_verts([])
            set_image(self.ax_out, self.im_out, np.full((1, 1), np.nan))
            set_image(self.ax_diff, self.im_diff, np.full((1, 1), np.nan))
            self.ax_out.set_title("output: pool_fn failed (see below)", fontsize=9)
            self.ax_diff.set_title("", fontsize=9)
            self.view.refresh()
            return
        h_out, w_out = self.output.shape
        full = h_out <= 16 and w_out <= 16
        all_rows, all_cols = range(h_out), range(w_out)
        self.grid.set_verts(_window_verts(all_rows, all_cols, k, s, p) if full else [])
        rows, cols = range(min(3, h_out)), range(min(3, w_out))
        colours = [_HIGHLIGHT[(3 * i + j) % len(_HIGHLIGHT)] for i in rows for j in cols]
        self.windows.set_verts(_window_verts(rows, cols, k, s, p))
        self.windows.set_edgecolor(colours)
        self.cells.set_verts(_window_verts(rows, cols, 1, 1, 0))
        self.cells.set_edgecolor(colours)
        self.cells.set_linewidth(1.8 if h_out <= 24 else 1.0)

        set_image(self.ax_out, self.im_out, self.output)
        self.im_out.set_clim(lo, hi)
        mode = self.mode_toggle.value
        self.ax_out.set_title(f"{mode} pool → {h_out}×{w_out} (k={k}, stride={s})", fontsize=9)
        set_image(self.ax_diff, self.im_diff, (~same).astype(np.float64))
        what = f"changed by the shift: {1 - self.unchanged:.0%}" if shift else "changed by the shift (none)"
        self.ax_diff.set_title(what + " (orange)", fontsize=9)
        self.view.refresh()
