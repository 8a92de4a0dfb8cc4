"""Attention-map explorer (Chapter 16): where does each patch of a Vision Transformer look?

Pick an image, a layer, a head (or the mean over heads) and a query token — the [class] token or
one patch. Left: the image with the patch grid and the query patch outlined. Middle: the query's
attention weights over the patches, as a heatmap laid over the image (the weight on the [class]
token is printed). Right: the layer's full attention matrix (1+L)×(1+L) with the query's row
outlined; row i holds the weights with which token i mixes the values of all tokens.
"""

from __future__ import annotations

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, dropdown, int_slider

__all__ = ["AttentionExplorer"]


class AttentionExplorer(ControlPanel):
    """Attention maps of a ViT-like model on a few images.

    Args:
        model: a model accepted by :func:`course_lib.reference.attention.attention_maps` (e.g.
            :class:`course_lib.reference.attention.VisionTransformer`), with square patches.
        images: (N, C, H, W) array or tensor, 1 ≤ N ≤ 200.
        labels: optional (N,) true labels, shown with the model's prediction.

    Attributes:
        widget: the ipywidgets container to display.
        maps: all attention weights, (depth, N, heads, 1+L, 1+L).
        matrix: the displayed attention matrix (1+L, 1+L).
        heatmap: the query's weights over the patches, (H/P, W/P).
        predictions: the model's class for each image (N,).
        image_slider, layer_slider, head_dropdown, query_dropdown: the controls.
    """

    def __init__(self, model, images, labels=None):
        import ipywidgets as widgets
        import torch

        x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        if x.ndim != 4 or not 1 <= len(x) <= 200:
            raise ValueError(f"images must have shape (N, C, H, W) with 1 ≤ N ≤ 200, got {tuple(x.shape)}")
        self.images = x.numpy()
        self.labels = None if labels is None else np.asarray(labels)
        # Imported here: widgets import without the answers (the grader's judge process has none).
        from course_lib.reference.attention import attention_maps

        self.maps = attention_maps(model, x)                        # (depth, N, heads, T, T)
        with torch.no_grad():
            self.predictions = model(x).argmax(1).numpy()
        depth, n, heads, tokens, _ = self.maps.shape
        self.grid = int(round(np.sqrt(tokens - 1)))
        if self.grid ** 2 != tokens - 1:
            raise ValueError(f"expected 1 + a square number of tokens, got {tokens}")
        super().__init__(info_height="2.4em")
        self.image_slider = int_slider("image", 0, n - 1, 0)
        self.layer_slider = int_slider("layer", 0, depth - 1, depth - 1)
        self.head_dropdown = dropdown("head", ["mean", *range(heads)], "mean")
        queries = [("[class]", 0)] + [(f"patch {i // self.grid},{i % self.grid}", i + 1) for i in range(tokens - 1)]
        self.query_dropdown = dropdown("query", queries, 0)
        self.view = FigureView(figsize=(10.5, 3.6))
        self._build_axes()
        self._watch(self.image_slider, self.layer_slider, self.head_dropdown, self.query_dropdown)
        controls = widgets.HBox([widgets.VBox([self.image_slider, self.layer_slider]),
                                 widgets.VBox([self.head_dropdown, self.query_dropdown])])
        self.widget = widgets.VBox([controls, self.view.widget, self.info_widget])
        self.update()

    def _build_axes(self):
        from matplotlib.patches import Rectangle

        fig = self.view.figure
        self.ax_img, self.ax_heat, self.ax_mat = fig.subplots(1, 3)
        h, w = self.images.shape[-2:]
        blank = np.zeros((h, w))
        self.im_img = self.ax_img.imshow(blank, cmap="gray", vmin=0, vmax=1)
        self.im_base = self.ax_heat.imshow(blank, cmap="gray", vmin=0, vmax=1)
        grid = np.zeros((self.grid, self.grid))
        self.im_heat = self.ax_heat.imshow(grid, cmap="inferno", alpha=0.6, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                                           interpolation="nearest")
        tokens = self.grid ** 2 + 1
        self.im_mat = self.ax_mat.imshow(np.zeros((tokens, tokens)), cmap="viridis", vmin=0)
        ph, pw = h / self.grid, w / self.grid
        for ax in (self.ax_img, self.ax_heat):
            for k in range(1, self.grid):
                ax.axhline(k * ph - 0.5, color="#4fc3f7", lw=0.6)
                ax.axvline(k * pw - 0.5, color="#4fc3f7", lw=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
        self.box_img = Rectangle((0, 0), pw, ph, fill=False, ec="#ff1744", lw=2)
        self.box_heat = Rectangle((0, 0), pw, ph, fill=False, ec="#ff1744", lw=2)
        self.box_row = Rectangle((-0.5, -0.5), tokens, 1, fill=False, ec="#ff1744", lw=1.5)
        self.ax_img.add_patch(self.box_img)
        self.ax_heat.add_patch(self.box_heat)
        self.ax_mat.add_patch(self.box_row)
        self.ax_mat.set_xlabel("key token (0 = [class])")
        self.ax_mat.set_ylabel("query token")
        self.cbar = fig.colorbar(self.im_heat, ax=self.ax_heat, fraction=0.046, pad=0.04)
        fig.subplots_adjust(left=0.02, right=0.98, wspace=0.35, bottom=0.15)

    def update(self):
        i, layer, q = self.image_slider.value, self.layer_slider.value, self.query_dropdown.value
        head = self.head_dropdown.value
        maps = self.maps[layer, i]                                   # (heads, T, T)
        self.matrix = maps.mean(0) if head == "mean" else maps[head]  # (T, T)
        row = self.matrix[q]
        self.heatmap = row[1:].reshape(self.grid, self.grid)
        img = self.images[i].mean(0)
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else img * 0
        self.im_img.set_data(img)
        self.im_base.set_data(img)
        self.im_heat.set_data(self.heatmap)
        self.im_heat.set_clim(0, max(float(self.heatmap.max()), 1e-6))
        self.im_mat.set_data(self.matrix)
        self.im_mat.set_clim(0, float(self.matrix.max()))
        h, w = self.images.shape[-2:]
        ph, pw = h / self.grid, w / self.grid
        for box in (self.box_img, self.box_heat):
            box.set_visible(q > 0)
            if q > 0:
                box.set_xy(((q - 1) % self.grid * pw - 0.5, (q - 1) // self.grid * ph - 0.5))
        self.box_row.set_y(q - 0.5)
        query = self.query_dropdown.label
        label = "" if self.labels is None else f", label {self.labels[i]}"
        self.ax_img.set_title(f"image {i}: predicted {self.predictions[i]}{label}", fontsize=9)
        self.ax_heat.set_title(f"{query} attends to the patches", fontsize=9)
        self.ax_mat.set_title(f"layer {layer}, head {head}: attention matrix", fontsize=9)
        self.info_widget.value = (
            f"Query <b>{query}</b>, layer {layer}, head {head}: weight on the [class] token "
            f"<b>{row[0]:.3f}</b>, on the patches {row[1:].sum():.3f}; most attended patch "
            f"{int(np.argmax(row[1:])) // self.grid},{int(np.argmax(row[1:])) % self.grid} "
            f"({row[1:].max():.3f}). Uniform attention would give {1 / len(row):.3f} to every token.")
        self.view.refresh()
