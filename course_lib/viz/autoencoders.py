"""Latent-space explorer (Chapter 17): two sliders pick a 2-D latent code, the decoder draws it live.

Left: the codes of real images (e.g. the VAE's means of the test digits) coloured by class, with a
cross at the current code. Right: what the decoder makes of that code. Moving through the gaps
between the clusters shows whether the latent space is smooth (a VAE) or full of holes (a plain
autoencoder).
"""

from __future__ import annotations

import html

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, format_error

__all__ = ["LatentExplorer", "decode_with"]


def decode_with(model):
    """A numpy decode function for a torch model with ``.decode(z)`` returning logits:
    ``z`` (N, D) → images ``sigmoid(logits)`` as float64 (N, ...)."""
    import torch

    def decode(z):
        with torch.no_grad():
            logits = model.decode(torch.as_tensor(np.asarray(z, dtype=np.float32)))
            return torch.sigmoid(logits).double().numpy()

    return decode


def _float_slider(description, limit, value):
    import ipywidgets as widgets

    return widgets.FloatSlider(value=value, min=-limit, max=limit, step=limit / 50, description=description,
                               continuous_update=True, readout_format=".2f",
                               style={"description_width": "40px"}, layout=widgets.Layout(width="300px"))


class LatentExplorer(ControlPanel):
    """Sliders over a 2-D latent code; the decoded image updates as they move.

    Args:
        decoder: a torch model with ``.decode(z)`` (logits; a sigmoid is applied) or a function
            ``decode(z)`` mapping a float64 array (1, 2) to an image batch (1, ...) with H·W values.
        codes: optional (N, 2) codes of real examples, drawn as a scatter plot.
        labels: optional (N,) int classes colouring ``codes``.
        limit: the sliders run over [-limit, limit]; default: a bit beyond the codes (or 3).
        image_shape: (H, W) of a decoded image.

    Attributes:
        widget: the ipywidgets container to display.
        z: the current code, float64 (2,).
        image: the decoded image (H, W), or None if the decoder failed.
        error: the last exception raised by the decoder (or None).
        z1_slider, z2_slider: the controls.
    """

    def __init__(self, decoder, codes=None, labels=None, limit=None, image_shape=(8, 8)):
        import ipywidgets as widgets

        self.decode = decode_with(decoder) if hasattr(decoder, "decode") else decoder
        if not callable(self.decode):
            raise ValueError(f"decoder must be a model with .decode or a function, got {type(decoder).__name__}")
        self.codes = None if codes is None else np.asarray(codes, dtype=np.float64)
        if self.codes is not None and (self.codes.ndim != 2 or self.codes.shape[1] != 2):
            raise ValueError(f"codes must have shape (N, 2), got {self.codes.shape}")
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and (self.codes is None or len(self.labels) != len(self.codes)):
            raise ValueError("labels need codes of the same length")
        if limit is None:
            limit = 3.0 if self.codes is None else float(np.ceil(np.abs(self.codes).max() * 1.1))
        self.limit = float(limit)
        self.image_shape = tuple(image_shape)
        super().__init__(info_height="1.6em")
        self.image = None
        self.z1_slider = _float_slider("z₁", self.limit, 0.0)
        self.z2_slider = _float_slider("z₂", self.limit, 0.0)
        self.view = FigureView(figsize=(7.2, 3.4))
        self._build_axes()
        self._watch(self.z1_slider, self.z2_slider)
        self.widget = widgets.VBox([widgets.HBox([self.z1_slider, self.z2_slider]), self.view.widget,
                                    self.info_widget])
        self.update()

    def _build_axes(self):
        fig = self.view.figure
        self._ax_latent, self._ax_image = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        ax = self._ax_latent
        if self.codes is not None:
            colours = self.labels if self.labels is not None else "tab:gray"
            sc = ax.scatter(self.codes[:, 0], self.codes[:, 1], c=colours, cmap="tab10", s=6, alpha=0.6,
                            vmin=0, vmax=9)
            if self.labels is not None:
                for k in np.unique(self.labels):  # the class name at each cluster's median
                    mid = np.median(self.codes[self.labels == k], axis=0)
                    ax.annotate(str(k), mid, fontsize=11, weight="bold", ha="center", va="center",
                                color=sc.cmap(sc.norm(k)))
        self._cross = ax.plot([0], [0], "x", color="black", ms=12, mew=3)[0]
        ax.set_xlim(-self.limit, self.limit)
        ax.set_ylim(-self.limit, self.limit)
        ax.set_xlabel("z₁")
        ax.set_ylabel("z₂")
        ax.set_title("latent space", fontsize=10)
        self._im = self._ax_image.imshow(np.zeros(self.image_shape), cmap="gray", vmin=0, vmax=1)
        self._ax_image.set_axis_off()
        self._ax_image.set_title("decoded", fontsize=10)
        fig.tight_layout()

    @property
    def z(self):
        """The current latent code (2,)."""
        return np.array([self.z1_slider.value, self.z2_slider.value], dtype=np.float64)

    def set_z(self, z1, z2):
        """Move both sliders at once (one redraw)."""
        with self.hold():
            self.z1_slider.value, self.z2_slider.value = float(z1), float(z2)

    def update(self):
        z = self.z
        self._cross.set_data([z[0]], [z[1]])
        self.error = None
        try:
            out = np.asarray(self.decode(z[None]), dtype=np.float64)
            if out.size != int(np.prod(self.image_shape)):
                raise ValueError(f"the decoder returned shape {out.shape}, expected {self.image_shape} values")
            self.image = out.reshape(self.image_shape)
            self._im.set_data(self.image)
            text = f"z = ({z[0]:.2f}, {z[1]:.2f})"
            if self.codes is not None and self.labels is not None:
                nearest = int(np.argmin(np.sum((self.codes - z) ** 2, axis=1)))
                text += f"; nearest real code: a {self.labels[nearest]}"
            self.info_widget.value = html.escape(text)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised
            self.error, self.image = exc, None
            self._im.set_data(np.zeros(self.image_shape))
            self.info_widget.value = format_error(exc, "decoder")
        self.view.refresh()
