"""Quantization explorer (Chapter 15): quantize one layer of a trained model and see what it costs."""

from __future__ import annotations

import copy
import html

import numpy as np
from matplotlib.ticker import MaxNLocator

from course_lib.viz._common import ControlPanel, FigureView, dropdown, int_slider

__all__ = ["QuantizationExplorer"]


def _reference():
    """``course_lib.reference.compress``, imported when a widget first draws, not with this module: widgets
    are tools and import without the answers (the grader's judge process has none)."""
    from course_lib.reference import compress

    return compress


_BITS = tuple(range(2, 9))
_COLORS = {"per-tensor": "#1f77b4", "per-channel": "#d62728"}


class QuantizationExplorer(ControlPanel):
    """Post-training quantization of one layer's weights: grid, error per channel, test accuracy.

    The weights of the chosen layer are replaced by ``dequantize(quantize(w))`` (per tensor, or per
    output channel along axis 0) and the model is evaluated; all other layers stay in float32.

    Args:
        model: a trained torch ``nn.Module``; it is not modified (the explorer works on a copy).
        X, y: evaluation inputs in the form the model takes (e.g. ``digits_to_32(X_test)``) and int labels.
        layers: names (as in ``model.named_modules()``) of the Conv2d/Linear layers offered; default all.
        bits: initial number of bits (2..8).
        per_channel: initial per-channel toggle.
        symmetric: initial scheme, symmetric (True) or affine.

    Attributes:
        widget: the top-level ipywidgets container (the notebook displays this).
        bits_slider, per_channel_toggle, scheme_toggle, layer_dropdown: the controls.
        float_accuracy: test accuracy of the unquantized model.
        accuracy: test accuracy with the chosen layer quantized as set.
        error: relative error ``||w_q - w|| / ||w||`` of the chosen layer.
        channel_errors: (F,) relative error of every output channel.
        curves: ``{"per-tensor": [...], "per-channel": [...]}`` accuracy for bits 2..8 (chosen layer, scheme).
        info: the summary line as plain text.
    """

    def __init__(self, model, X, y, layers=None, bits=4, per_channel=False, symmetric=True):
        import ipywidgets as widgets
        import torch
        from torch import nn

        self._torch = torch
        self.model = copy.deepcopy(model).eval()
        modules = dict(self.model.named_modules())
        weighted = [name for name, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
        layers = weighted if layers is None else list(layers)
        unknown = [name for name in layers if name not in weighted]
        if not layers or unknown:
            raise ValueError(f"layers must name Conv2d/Linear modules of the model; unknown {unknown}, "
                             f"valid: {', '.join(weighted)}")
        if bits not in _BITS:
            raise ValueError(f"bits must be an int in 2..8, got {bits!r}")
        self._modules = {name: modules[name] for name in layers}
        self._originals = {name: m.weight.detach().clone() for name, m in self._modules.items()}
        self._X = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not isinstance(X, torch.Tensor) else X.float()
        self._y = torch.as_tensor(np.asarray(y)).long()
        if len(self._X) != len(self._y):
            raise ValueError(f"X has {len(self._X)} examples but y has {len(self._y)}")
        self._cache = {}
        super().__init__(info_height="2.6em")
        self.float_accuracy = self._accuracy()

        self.bits_slider = int_slider("bits", _BITS[0], _BITS[-1], bits)
        self.per_channel_toggle = widgets.Checkbox(value=bool(per_channel), description="per-channel",
                                                   indent=False, layout=widgets.Layout(width="140px"))
        self.scheme_toggle = widgets.ToggleButtons(options=["symmetric", "affine"],
                                                   value="symmetric" if symmetric else "affine",
                                                   style={"button_width": "90px"})
        self.layer_dropdown = dropdown("layer", layers, layers[min(1, len(layers) - 1)])
        self.view = FigureView(figsize=(12.0, 3.5))
        fig = self.view.figure
        self.ax_hist, self.ax_err, self.ax_acc = (fig.add_axes(r) for r in
                                                  ((0.05, 0.17, 0.27, 0.68), (0.39, 0.17, 0.27, 0.68),
                                                   (0.72, 0.17, 0.27, 0.68)))
        self.ax_channel = self.ax_hist.twinx()
        for control in (self.bits_slider, self.per_channel_toggle, self.scheme_toggle, self.layer_dropdown):
            control.observe(self._on_change, names="value")
        controls = widgets.HBox([self.layer_dropdown, self.bits_slider, self.per_channel_toggle, self.scheme_toggle])
        self.widget = widgets.VBox([controls, self.view.widget, self.info_widget])
        self.update()

    # ----------------------------------------------------------------- computation
    def _accuracy(self):
        with self._torch.no_grad():
            return float((self.model(self._X).argmax(1) == self._y).float().mean())

    def _quantized(self, name, bits, per_channel, symmetric):
        w = self._originals[name].numpy()
        return _reference().fake_quantize(w, bits, symmetric, axis=0 if per_channel else None)

    def _accuracy_with(self, name, wq):
        layer = self._modules[name]
        with self._torch.no_grad():
            layer.weight.copy_(self._torch.from_numpy(wq))
            try:
                return self._accuracy()
            finally:
                layer.weight.copy_(self._originals[name])

    def _curves(self, name, symmetric):
        key = (name, symmetric)
        if key not in self._cache:
            self._cache[key] = {mode: [self._accuracy_with(name, self._quantized(name, b, mode == "per-channel",
                                                                                   symmetric)) for b in _BITS]
                                for mode in _COLORS}
        return self._cache[key]

    @staticmethod
    def _channel_errors(w, wq):
        f = w.shape[0]
        diff = np.linalg.norm((wq - w).reshape(f, -1), axis=1)
        return diff / np.maximum(np.linalg.norm(w.reshape(f, -1), axis=1), 1e-12)

    # ----------------------------------------------------------------- drawing
    def update(self):
        """Quantize the chosen layer with the current settings, evaluate and redraw."""
        name, bits = self.layer_dropdown.value, self.bits_slider.value
        per_channel, symmetric = self.per_channel_toggle.value, self.scheme_toggle.value == "symmetric"
        mode = "per-channel" if per_channel else "per-tensor"
        w = self._originals[name].numpy()
        wq = self._quantized(name, bits, per_channel, symmetric)
        other = self._quantized(name, bits, not per_channel, symmetric)
        self.channel_errors = self._channel_errors(w, wq)
        self.error = float(np.linalg.norm(wq - w) / np.linalg.norm(w))
        self.curves = self._curves(name, symmetric)
        self.accuracy = self.curves[mode][_BITS.index(bits)]
        self._draw_hist(w, bits, per_channel, symmetric, mode)
        self._draw_errors(w, other, mode)
        self._draw_accuracy(bits, mode)
        self.view.refresh()
        scheme = "symmetric" if symmetric else "affine"
        self.info_widget.value = (
            f"<b>{html.escape(name)}</b> {tuple(w.shape)}, {w.size:,} weights · {bits}-bit {scheme} {mode} · "
            f"weights {w.size * 4:,} B in float32 → {-(-w.size * bits // 8):,} B · relative error "
            f"<b>{self.error:.2%}</b> · test accuracy <b>{self.accuracy:.1%}</b> (float {self.float_accuracy:.1%})")

    def _draw_hist(self, w, bits, per_channel, symmetric, mode):
        ax, ax_c = self.ax_hist, self.ax_channel
        ax.clear()
        ax_c.clear()
        flat = w.reshape(len(w), -1)
        c = int(np.argmin(np.abs(flat).max(axis=1)))  # the filter that per-tensor scales hurt most
        bins = np.linspace(w.min(), w.max(), 81)
        ax.hist(w.ravel(), bins=bins, color="0.75", histtype="stepfilled", label="all weights")
        ax_c.hist(flat[c], bins=bins, color="#2ca02c", histtype="step", lw=1.5, label=f"channel {c} (smallest range)")
        ax_c.set_yticks([])
        scale, zero_point = _reference().quant_params(w[c] if per_channel else w, bits, symmetric)
        qmin, qmax = _reference().qrange(bits, symmetric)
        levels = (np.arange(qmin, qmax + 1) - zero_point) * scale
        alpha = float(np.clip(24 / len(levels), 0.15, 0.8))
        grid = f"grid of channel {c}" if per_channel else "grid of the tensor"
        ax.vlines(levels, 0, 1, transform=ax.get_xaxis_transform(), color=_COLORS[mode], lw=0.8, alpha=alpha,
                  label=f"{grid}: {len(levels)} levels, step {scale:.2g}")
        span = max(w.max(), levels.max()) - min(w.min(), levels.min())
        ax.set_xlim(min(w.min(), levels.min()) - 0.05 * span, max(w.max(), levels.max()) + 0.05 * span)
        ax.set_title("weights and the quantization grid", fontsize=10)
        ax.set_xlabel("weight value", fontsize=9)
        handles = ax.get_legend_handles_labels()[0] + ax_c.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=7, loc="upper left")

    def _draw_errors(self, w, other, mode):
        ax = self.ax_err
        ax.clear()
        f = len(w)
        other_mode = "per-tensor" if mode == "per-channel" else "per-channel"
        ax.bar(np.arange(f), 100 * self.channel_errors, width=0.8, color=_COLORS[mode], label=mode)
        ax.plot(np.arange(f), 100 * self._channel_errors(w, other), "o", color=_COLORS[other_mode], ms=3,
                label=other_mode)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("output channel", fontsize=9)
        ax.set_ylabel("%", fontsize=9)
        ax.set_title("relative error ‖w_q − w‖ / ‖w‖ per channel", fontsize=10)
        ax.legend(fontsize=7)

    def _draw_accuracy(self, bits, mode):
        ax = self.ax_acc
        ax.clear()
        for m, accs in self.curves.items():
            ax.plot(_BITS, np.array(accs) * 100, "o-", color=_COLORS[m], ms=3, label=m)
        ax.axhline(self.float_accuracy * 100, color="k", ls="--", lw=0.8, label="float32")
        ax.plot([bits], [self.accuracy * 100], "o", ms=11, mfc="none", mec="k", mew=1.5)
        ax.set_xlabel("bits", fontsize=9)
        ax.set_ylabel("test accuracy (%)", fontsize=9)
        ax.set_title("accuracy with this layer quantized", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
