"""A style-transfer explorer: weights and layers as controls, a short optimisation on every change."""

from __future__ import annotations

import html

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, dropdown, format_error

__all__ = ["StyleTransferExplorer"]


class StyleTransferExplorer(ControlPanel):
    """Re-run a short style transfer (``steps`` Adam steps at ``size`` pixels) whenever a control moves.

    Args:
        extractor: a feature extractor from :mod:`course_lib.reference.style` (random filters or VGG-19).
        objective: your ``transfer_objective`` (None: the course's reference).
        content, styles: the content image name and the style image names offered
            (``course_lib.reference.style.style_image``).
    """

    def __init__(self, extractor, objective=None, content="china", styles=("swirls", "flower", "grace_hopper"),
                 size=64, steps=40):
        import ipywidgets as widgets

        from course_lib.reference import style

        super().__init__()
        self.extractor, self.objective, self.size, self.steps = extractor, objective, int(size), int(steps)
        self.content = style.style_image(content, self.size)
        relus = [k for k in extractor.layers if k != "pixels"]
        self.style_dropdown = dropdown("style image", list(styles), styles[0])
        self.content_dropdown = dropdown("content layer", relus, relus[min(len(relus) - 1, 3)])
        self.layers_select = widgets.SelectMultiple(options=extractor.layers, value=tuple(extractor.layers),
                                                    description="style layers", rows=min(6, len(extractor.layers)),
                                                    layout=widgets.Layout(width="260px"))
        self.beta_slider = widgets.FloatLogSlider(value=1e5, base=10, min=2, max=7, step=0.5,
                                                  description="style weight β", continuous_update=False,
                                                  style={"description_width": "100px"},
                                                  layout=widgets.Layout(width="300px"))
        self.gamma_slider = widgets.FloatLogSlider(value=1.0, base=10, min=-2, max=3, step=0.5,
                                                   description="TV weight γ", continuous_update=False,
                                                   style={"description_width": "100px"},
                                                   layout=widgets.Layout(width="300px"))
        self.result, self.history = None, None
        self.view = FigureView((8.4, 2.6))
        self.axes = [self.view.figure.add_subplot(1, 4, k + 1) for k in range(4)]
        controls = [self.style_dropdown, self.content_dropdown, self.layers_select, self.beta_slider, self.gamma_slider]
        self._watch(*controls)
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox(controls[:3]), widgets.VBox(controls[3:])]),
                                    self.info_widget, self.view.widget])
        self.update()

    def update(self):
        import time

        from course_lib.reference import style

        chosen = list(self.layers_select.value)
        if not chosen:
            self.info_widget.value = "Pick at least one style layer."
            return
        style_img = style.style_image(self.style_dropdown.value, self.size)
        start = time.perf_counter()
        try:
            self.result, self.history = style.transfer(
                self.content, style_img, self.extractor, self.content_dropdown.value, {k: 1.0 for k in chosen},
                beta=float(self.beta_slider.value), gamma=float(self.gamma_slider.value), steps=self.steps,
                objective=self.objective, progress=False)
        except Exception as err:  # the student's objective
            self.error = err
            self.info_widget.value = format_error(err, "transfer_objective")
            return
        self.error = None
        seconds = time.perf_counter() - start
        h = self.history
        self.info_widget.value = html.escape(
            f"{self.steps} Adam steps at {self.size}×{self.size} in {seconds:.1f} s — content loss "
            f"{h['content'][-1]:.3g}, style loss {h['style'][0]:.3g} → {h['style'][-1]:.3g}")
        self._draw(style_img)

    def _draw(self, style_img):
        pictures = [("content", self.content), ("style", style_img), ("result", self.result)]
        for ax, (title, img) in zip(self.axes, pictures, strict=False):
            ax.clear()
            ax.imshow(np.clip(img[0].permute(1, 2, 0).numpy(), 0, 1))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        ax = self.axes[3]
        ax.clear()
        for key in ("total", "style"):
            values = np.asarray(self.history[key])
            ax.semilogy(values / values[0], label=f"{key} / start")
        ax.set_title("losses", fontsize=9)
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
        self.view.figure.tight_layout()
        self.view.refresh()
