"""Kernel playground (Chapter 2): apply a 3x3 kernel to an image and watch the feature map."""

from __future__ import annotations

import math

import numpy as np

from course_lib.data import CLASSIC_KERNELS
from course_lib.viz._common import (
    Explorer,
    FigureView,
    dropdown,
    format_error,
    int_slider,
    set_image,
    size_formula_html,
)

__all__ = ["KernelPlayground"]

_CUSTOM = "custom"


class KernelPlayground(Explorer):
    """Interactive 3x3 convolution: pick an image and a kernel, edit it, vary stride and padding.

    Args:
        image: ``None``, a demo image name (see ``course_lib.viz._common.IMAGE_NAMES``) or an array
            (H, W) / (C, H, W) (averaged to gray).
        conv_fn: a function with the signature of :func:`course_lib.reference.conv.conv2d`,
            ``conv_fn(x, weight, bias, stride, padding)`` with x (1, 1, H, W) and weight (1, 1, 3, 3);
            defaults to the reference. Errors it raises are shown in the widget.
        size: side in pixels of the demo images.

    Attributes:
        widget: the top-level ipywidgets container (the notebook displays this).
        output: last feature map, float64 (H_out, W_out), or None if ``conv_fn`` failed.
        kernel: a copy of the current (3, 3) kernel.
        info: the output-size formula and any error, as plain text.
        image_dropdown, preset_dropdown, sliders (3x3 list of FloatSlider), stride_slider,
        padding_slider: the controls.
    """

    def __init__(self, image=None, conv_fn=None, size=128):
        import ipywidgets as widgets

        super().__init__(image=image, size=size)
        if conv_fn is None:
            # The notebook passes the student's conv2d; without one the answer is the default. Imported
            # here so that widgets import without the answers (the grader's judge has none).
            from course_lib.reference.conv import conv2d as conv_fn
        self.conv_fn = conv_fn
        self._kernel = np.array(CLASSIC_KERNELS["sobel x"], dtype=np.float64)
        names = [*CLASSIC_KERNELS, _CUSTOM]
        self.preset_dropdown = dropdown("kernel", names, "sobel x")
        self.sliders = [
            [
                widgets.FloatSlider(
                    value=self._kernel[i, j], min=-4.0, max=4.0, step=0.05, continuous_update=False,
                    readout_format=".3g", layout=widgets.Layout(width="150px"),
                )
                for j in range(3)
            ]
            for i in range(3)
        ]
        self.stride_slider = int_slider("stride", 1, 4, 1)
        self.padding_slider = int_slider("padding", 0, 3, 1)

        self.view = FigureView(figsize=(8.4, 3.7))
        self._build_axes()

        for i in range(3):
            for j in range(3):
                self.sliders[i][j].observe(self._on_slider(i, j), names="value")
        self.preset_dropdown.observe(self._on_preset, names="value")
        self._watch(self.image_dropdown, self.stride_slider, self.padding_slider)

        grid = widgets.GridBox(
            [s for row in self.sliders for s in row],
            layout=widgets.Layout(grid_template_columns="repeat(3, 155px)", grid_gap="2px 4px"),
        )
        left = widgets.VBox([self.image_dropdown, self.preset_dropdown, self.stride_slider, self.padding_slider])
        right = widgets.VBox([widgets.HTML("<b>kernel weights</b> (pick a preset, then edit)"), grid])
        self.widget = widgets.VBox([widgets.HBox([left, right]), self.view.widget, self.info_widget])
        self.update()

    # ----------------------------------------------------------------- kernel <-> controls
    @property
    def kernel(self):
        """A copy of the current (3, 3) kernel."""
        return self._kernel.copy()

    def set_kernel(self, name_or_array):
        """Set the kernel from a preset name (case-insensitive) or a (3, 3) array, update the sliders.

        Raises:
            ValueError: unknown preset name (lists the valid ones) or an array that is not (3, 3).
        """
        if isinstance(name_or_array, str):
            key = name_or_array.lower()
            if key not in CLASSIC_KERNELS:
                raise ValueError(
                    f"unknown kernel {name_or_array!r}; valid names are: {', '.join(CLASSIC_KERNELS)}"
                )
            kernel = CLASSIC_KERNELS[key]
        else:
            kernel = np.asarray(name_or_array, dtype=np.float64)
            if kernel.shape != (3, 3):
                raise ValueError(f"kernel must have shape (3, 3), got {kernel.shape}")
        self._kernel = np.array(kernel, dtype=np.float64)
        limit = max(4.0, math.ceil(np.abs(self._kernel).max()))
        with self.hold():
            for i in range(3):
                for j in range(3):
                    slider = self.sliders[i][j]
                    if slider.max < limit:
                        slider.max, slider.min = limit, -limit
                    slider.value = self._kernel[i, j]
            self._sync_preset()

    def _preset_name(self):
        for name, k in CLASSIC_KERNELS.items():
            if np.allclose(k, self._kernel, rtol=0, atol=1e-12):
                return name
        return _CUSTOM

    def _sync_preset(self):
        with self.hold():
            self.preset_dropdown.value = self._preset_name()

    def _on_preset(self, change):
        if self._hold == 0 and change["new"] != _CUSTOM:
            self.set_kernel(change["new"])

    def _on_slider(self, i, j):
        def handler(change):
            if self._hold == 0:
                self._kernel[i, j] = change["new"]
                self._sync_preset()  # ends with one update()

        return handler

    # ----------------------------------------------------------------- drawing
    def _build_axes(self):
        fig = self.view.figure
        self.ax_in = fig.add_axes((0.02, 0.05, 0.40, 0.80))
        self.ax_out = fig.add_axes((0.48, 0.05, 0.40, 0.80))
        cax = fig.add_axes((0.895, 0.05, 0.018, 0.80))
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray", interpolation="nearest")
        self.im_out = self.ax_out.imshow(np.zeros((2, 2)), cmap="gray", interpolation="nearest")
        self.colorbar = fig.colorbar(self.im_out, cax=cax)
        self.colorbar.ax.tick_params(labelsize=8)
        for ax in (self.ax_in, self.ax_out):
            ax.set_xticks([])
            ax.set_yticks([])

    def update(self):
        """Recompute the feature map with ``conv_fn`` and redraw (errors go to ``.info``)."""
        img = self.image  # (H, W)
        s, p = self.stride_slider.value, self.padding_slider.value
        (h_out, w_out), formula = size_formula_html(img.shape, 3, s, p)
        message = ""
        self.error = None
        try:
            x, w = img[None, None].copy(), self._kernel[None, None].copy()  # (1, 1, H, W), (1, 1, 3, 3)
            out = self.conv_fn(x, w, None, s, p)  # (1, 1, H_out, W_out)
            out = np.asarray(out, dtype=np.float64)
            if out.shape != (1, 1, h_out, w_out):
                raise ValueError(f"conv_fn returned shape {out.shape}, expected (1, 1, {h_out}, {w_out})")
            self.output = out[0, 0]
        except Exception as exc:  # a student's function: report, never crash the widget
            self.error = exc
            self.output = None
            message = "<br>" + format_error(exc, "conv_fn")

        lo, hi = float(img.min()), float(img.max())
        set_image(self.ax_in, self.im_in, img, pad=p)
        self.im_in.set_clim(lo, hi if hi > lo else lo + 1)
        self.ax_in.set_facecolor(self.im_in.cmap(self.im_in.norm(0.0)))  # the zero padding
        pad_txt = f" + zero padding {p}" if p else ""
        self.ax_in.set_title(f"input {img.shape[0]}×{img.shape[1]}{pad_txt}", fontsize=10)
        if self.output is not None:
            out = self.output
            lo, hi = float(out.min()), float(out.max())
            if lo < 0 < hi:  # signed response (edges): 0 is mid-gray, symmetric limits
                lo, hi = -max(-lo, hi), max(-lo, hi)
            set_image(self.ax_out, self.im_out, out)
            self.im_out.set_clim(lo, hi if hi > lo else lo + 1e-9)
            title = f"output {out.shape[0]}×{out.shape[1]}  ({self.preset_dropdown.value}, stride {s})"
        else:
            set_image(self.ax_out, self.im_out, np.full((h_out or 1, w_out or 1), np.nan))
            title = "output: conv_fn failed (see below)"
        self.ax_out.set_title(title, fontsize=10)
        self.view.refresh()
        self.info_widget.value = f"<span style='font-family:monospace'>{formula}</span>{message}"
