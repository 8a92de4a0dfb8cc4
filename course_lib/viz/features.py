"""Feature-map explorer: what every conv / activation / pooling layer of *any* torch model computes.

Forward hooks on the layers record their outputs in one forward pass per image; the controls only
re-compose the pictures. Drawing goes straight from numpy arrays to a PNG through PIL (a colour
lookup table, integer upscaling, no matplotlib figure), so a redraw of a LeNet-sized model takes a
few milliseconds (``benchmarks/bench_widgets.py`` measures it; the target is a median ≤ 100 ms).
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import time

import numpy as np

from course_lib import data
from course_lib.viz._common import ControlPanel, dropdown, int_slider

__all__ = ["FeatureMapExplorer", "default_images", "find_layers"]

_GAP, _BG, _TITLE = 2, 255, 14   # pixels between tiles, background grey level, title band height


def _layer_types():
    from torch import nn

    return (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d,
            nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Tanh,
            nn.Sigmoid, nn.Hardswish, nn.Mish,
            nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


def _eval_forward(model, x, modules):
    """Run ``model(x)`` in eval mode without gradients; return (output, {name: first 4-D output})."""
    import torch

    seen = {}

    def hook_for(name):
        def hook(module, args, output):
            if name not in seen and isinstance(output, torch.Tensor) and output.ndim == 4:
                seen[name] = output.detach()[0].float().numpy()       # (C, h, w) of the only image
        return hook

    hooks = [m.register_forward_hook(hook_for(n)) for n, m in modules.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return out, seen


def find_layers(model, example):
    """Names of ``model``'s conv / activation / pooling sub-modules whose output for ``example``
    (a (1, C, H, W) tensor) is a 4-D feature map, in the order they run."""
    types = _layer_types()
    candidates = {n: m for n, m in model.named_modules() if n and isinstance(m, types)}
    _, seen = _eval_forward(model, example, candidates)
    return list(seen)


def default_images(size=(32, 32), channels=1):
    """The explorer's built-in inputs: one digit of each class (upsampled bilinearly, like
    ``course_lib.models.digits_to_32``) and the bundled photos, as float32 (C, H, W) in [0, 1]."""
    import torch
    from torch.nn import functional as F

    H, W = size
    X, y = data.load_digits()
    first = [int(np.flatnonzero(y == d)[0]) for d in range(10)]
    digits = F.interpolate(torch.as_tensor(X[first]), size=(H, W), mode="bilinear", align_corners=False).numpy()
    images = {f"digit {d}": np.repeat(digits[d], channels, axis=0) for d in range(10)}
    for name in data.PHOTOS:
        photo = data.load_photo(name, size=max(H, W), gray=channels != 3)[..., :H, :W]   # (H, W) or (3, H, W)
        photo = photo[None] if photo.ndim == 2 else photo
        images[f"photo {name}"] = np.repeat(photo, channels, axis=0) if channels not in (1, 3) else photo
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in images.items()}


def _lut(name="viridis"):
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)   # (256, 3)


def _upscale(img, factor):
    """Nearest-neighbour upscaling of (h, w[, 3]) by an integer factor."""
    return img if factor == 1 else np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def _tile(tiles, ncols, factor, selected=None):
    """Tiles (T, h, w, 3) uint8, upscaled by ``factor``, in a grid of ``ncols`` columns with white gaps;
    the ``selected`` tile gets a red frame."""
    T, h, w = tiles.shape[:3]
    th, tw, nrows = h * factor, w * factor, math.ceil(T / ncols)
    canvas = np.full((nrows * (th + _GAP) + _GAP, ncols * (tw + _GAP) + _GAP, 3), _BG, np.uint8)
    for t in range(T):
        r, q = divmod(t, ncols)
        y, x = _GAP + r * (th + _GAP), _GAP + q * (tw + _GAP)
        if t == selected:
            canvas[y - _GAP:y + th + _GAP, x - _GAP:x + tw + _GAP] = (220, 30, 30)
        canvas[y:y + th, x:x + tw] = _upscale(tiles[t], factor)
    return canvas


def _to_unit(a, lo, hi):
    return np.clip((a - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(a)


class FeatureMapExplorer(ControlPanel):
    """Look at the feature maps of any ``torch.nn.Module`` layer by layer, channel by channel.

    Stable public attributes (used by the tests and the browser test):

    * ``layer`` — ``ipywidgets.Dropdown`` of layer names (``model.named_modules()`` names of the
      conv / activation / pooling layers with a 4-D output, in the order they run);
    * ``channel`` — ``ipywidgets.IntSlider`` 0..C-1: the channel shown enlarged (outlined in the grid);
    * ``image`` — ``ipywidgets.Dropdown`` picking the input: ``"digit 0"``..``"digit 9"``, the bundled
      photos (``"photo china"``, ...), your own images and uploads (``"upload: <file name>"``);
    * ``upload`` — ``ipywidgets.FileUpload``: an image file, decoded with PIL, converted to the
      model's channels and resized to its input size, added to ``image`` and selected;
    * ``scale`` — ``ipywidgets.ToggleButtons``: colour scale shared by the ``"layer"`` or per ``"channel"``;
    * ``picture`` — the rendered ``ipywidgets.Image`` (PNG): input | grid of all channels | the
      chosen channel enlarged; its ``.value`` bytes change on every redraw;
    * ``filters`` — ``ipywidgets.Image`` of the first conv layer's filters (drawn once);
    * ``info`` — the text line below the picture (layer, shape, channel range, prediction);
    * ``activations`` — ``{layer name: (C, h, w) float32}`` for the current image;
    * ``input_array`` — the current model input (C, H, W); ``widget`` — the whole ``VBox``.

    Args:
        model: any ``nn.Module`` taking (N, C, H, W) images. It is run in eval mode without
            gradients (its train/eval flag is restored afterwards).
        images: ``None`` (digits and photos), a dict ``{name: array}`` or a batch (N, C, H, W) /
            (N, H, W); arrays in [0, 1]. Named images are added to the built-in ones.
        input_size: (H, W) or int of the model's input; default: that of ``images``, else 32.
        in_channels: C of the model's input; default: ``in_channels`` of the first ``Conv2d``, else 1.
        layers: names to offer instead of the automatically found ones.
        width: width in pixels of the channel grid.
    """

    def __init__(self, model, images=None, input_size=None, in_channels=None, layers=None, width=360):
        import ipywidgets as widgets
        import torch
        from torch import nn

        super().__init__(info_height="2.4em")
        self.model = model
        convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        self.in_channels = int(in_channels or (convs[0][1].in_channels if convs else 1))
        given = self._coerce_images(images)
        if input_size is None:
            input_size = next(iter(given.values())).shape[-2:] if given else (32, 32)
        self.input_size = (int(input_size), int(input_size)) if np.isscalar(input_size) else tuple(
            int(v) for v in input_size)
        self._images = default_images(self.input_size, self.in_channels)
        for name, img in given.items():
            self._images[name] = self._check_image(name, img)
        self._cache: dict[str, tuple] = {}
        self._lut = _lut()
        self.width = int(width)
        first = next(iter(given)) if given else "digit 3"
        example = torch.as_tensor(self._images[first])[None]
        self.layer_names = list(layers) if layers is not None else find_layers(model, example)
        if not self.layer_names:
            raise ValueError("found no conv / activation / pooling layer with a 4-D output in this model; "
                             "pass layers=[...] with names from model.named_modules()")
        named = dict(model.named_modules())
        missing = [n for n in self.layer_names if n not in named]
        if missing:
            raise ValueError(f"model has no layer(s) {missing}")
        self._modules = {n: named[n] for n in self.layer_names}
        self.first_conv = convs[0] if convs else None

        self.image = dropdown("image", list(self._images), first)
        self.layer = dropdown("layer", [(self._label(n), n) for n in self.layer_names], self.layer_names[0],
                              width="320px")
        self.channel = int_slider("channel", 0, 1, 0)
        self.scale = widgets.ToggleButtons(options=["layer", "channel"], value="layer", description="colours",
                                           style={"description_width": "60px", "button_width": "70px"})
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload image")
        self.picture = widgets.Image(format="png")
        self.filters = widgets.Image(format="png")
        self.redraws = 0
        self.seconds = 0.0
        self._watch(self.image, self.layer, self.channel, self.scale)
        self.upload.observe(self._on_upload, names="value")
        filters_box = []
        if self.first_conv is not None:
            name, conv = self.first_conv
            self.filters.value = self._png(self.filter_grid())
            filters_box = [widgets.HTML(f"<b>first-layer filters</b> <code>{html.escape(name)}</code> "
                                        f"{tuple(conv.weight.shape)} (blue = negative, yellow = positive)"),
                           self.filters]
        self.widget = widgets.VBox([widgets.HBox([self.image, self.upload]),
                                    widgets.HBox([self.layer, self.channel, self.scale]),
                                    self.picture, self.info_widget, *filters_box])
        self.update()

    # ------------------------------------------------------------------ images
    def _coerce_images(self, images):
        if images is None:
            return {}
        if isinstance(images, dict):
            return dict(images)
        arr = np.asarray(images, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[:, None]
        if arr.ndim != 4:
            raise ValueError(f"images must be a dict or a batch (N, C, H, W) / (N, H, W), got shape {arr.shape}")
        return {f"image {i}": a for i, a in enumerate(arr)}

    def _check_image(self, name, img):
        img = np.asarray(img, dtype=np.float32)
        if img.ndim == 2:
            img = img[None]
        if img.ndim != 3 or img.shape[0] != self.in_channels or img.shape[1:] != self.input_size:
            raise ValueError(f"image {name!r} must have shape ({self.in_channels}, {self.input_size[0]}, "
                             f"{self.input_size[1]}) (the model's input), got {img.shape}")
        return np.ascontiguousarray(img)

    def add_image(self, name, img, select=True):
        """Offer ``img`` ((C, H, W) or (H, W), the model's input size, values in [0, 1]) as ``name``."""
        self._images[name] = self._check_image(name, img)
        self._cache.pop(name, None)
        with self._quiet():
            self.image.options = list(self._images)
            self.image.value = name if select else self.image.value
        self.update()

    def add_image_bytes(self, name, content, select=True):
        """Decode an image file's bytes with PIL, convert and resize it to the model's input, add it."""
        from PIL import Image, UnidentifiedImageError

        try:
            pil = Image.open(io.BytesIO(bytes(content)))
            pil = pil.convert("RGB" if self.in_channels == 3 else "L")
        except (UnidentifiedImageError, OSError) as exc:
            self.info_widget.value = (f"<span style='color:#b00020'>could not read {html.escape(name)} as an "
                                      f"image: {html.escape(str(exc))}</span>")
            return
        H, W = self.input_size
        arr = np.asarray(pil.resize((W, H), Image.LANCZOS), dtype=np.float32) / 255.0
        arr = arr.transpose(2, 0, 1) if arr.ndim == 3 else np.repeat(arr[None], self.in_channels, axis=0)
        self.add_image(f"upload: {name}", arr, select=select)

    def _on_upload(self, change):
        for item in change["new"] or ():
            self.add_image_bytes(item["name"], item["content"])

    @property
    def input_array(self):
        """The current model input, float32 (C, H, W) (a copy)."""
        return self._images[self.image.value].copy()

    # ------------------------------------------------------------------ model
    def _label(self, name):
        return f"{name} ({type(dict(self.model.named_modules())[name]).__name__})"

    def _run(self, name):
        """(activations, prediction text) of image ``name``, computed once."""
        if name not in self._cache:
            import torch

            out, seen = _eval_forward(self.model, torch.as_tensor(self._images[name])[None], self._modules)
            pred = ""
            if isinstance(out, torch.Tensor) and out.ndim == 2:
                p = out[0].float().softmax(0)
                k = int(p.argmax())
                pred = f"prediction: class {k} (p = {float(p[k]):.2f})"
            self._cache[name] = (seen, pred)
        return self._cache[name]

    @property
    def activations(self):
        """``{layer name: (C, h, w) float32}`` for the current image."""
        return self._run(self.image.value)[0]

    # ------------------------------------------------------------------ drawing
    def _color(self, unit):
        return self._lut[(unit * 255).astype(np.uint8)]                       # (h, w) in [0,1] -> (h, w, 3)

    def _panel(self, title, rgb, height):
        """A panel: title band + the image, padded to ``height`` (uint8 (height + _TITLE, w, 3))."""
        h, w = rgb.shape[:2]
        w = max(w, 7 * len(title))
        panel = np.full((height + _TITLE, w, 3), _BG, np.uint8)
        panel[_TITLE:_TITLE + rgb.shape[0], :rgb.shape[1]] = rgb
        return panel, title

    def _grid(self, maps, selected):
        C, h, w = maps.shape
        ncols = min(C, max(4, math.ceil(math.sqrt(C))))
        if self.scale.value == "layer":
            units = _to_unit(maps, float(maps.min()), float(maps.max()))
        else:
            lo = maps.min(axis=(1, 2), keepdims=True)
            span = maps.max(axis=(1, 2), keepdims=True) - lo
            units = np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0)
        factor = max(1, (self.width // ncols - _GAP) // max(h, w))
        return _tile(self._color(units), ncols, factor, selected), units

    def _input_rgb(self, side=128):
        img = self._images[self.image.value]
        rgb = img.transpose(1, 2, 0) if img.shape[0] == 3 else np.repeat(img.mean(0)[..., None], 3, axis=2)
        rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
        return _upscale(rgb, max(1, side // max(img.shape[1:])))

    def _png(self, rgb, titles=()):
        from PIL import Image, ImageDraw

        pil = Image.fromarray(rgb)
        if titles:
            draw = ImageDraw.Draw(pil)
            for x, text in titles:
                draw.text((x + 2, 1), text, fill=(0, 0, 0))
        buf = io.BytesIO()
        pil.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def filter_grid(self):
        """The first conv layer's filters as one uint8 RGB picture (each filter scaled symmetrically
        around 0 by its own largest |weight|; more than 3 input channels are averaged)."""
        _, conv = self.first_conv
        w = conv.weight.detach().float().numpy()                            # (F, C, KH, KW)
        F_, C = w.shape[:2]
        if C != 3:
            w = w.mean(axis=1, keepdims=True)
        scale = np.abs(w).reshape(F_, -1).max(axis=1)[:, None, None, None]
        unit = 0.5 + 0.5 * w / np.where(scale > 0, scale, 1)
        tiles = (unit.transpose(0, 2, 3, 1) * 255).astype(np.uint8) if C == 3 else self._color(unit[:, 0])
        return _tile(tiles, min(F_, 16), max(1, 40 // max(w.shape[2:])))

    def render(self):
        """Compose the current picture; returns uint8 RGB (H, W, 3) and the titles' x positions."""
        acts, _ = self._run(self.image.value)
        name = self.layer.value
        maps = acts[name]                                                  # (C, h, w)
        c = min(self.channel.value, maps.shape[0] - 1)
        grid, units = self._grid(maps, c)
        big = self._color(units[c])
        big = _upscale(big, max(1, 128 // max(big.shape[:2])))
        inp = self._input_rgb()
        height = max(grid.shape[0], big.shape[0], inp.shape[0])
        panels = [self._panel("input", inp, height),
                  self._panel(f"{name}: {maps.shape[0]} channels", grid, height),
                  self._panel(f"channel {c}", big, height)]
        sep = np.full((height + _TITLE, 10, 3), _BG, np.uint8)
        parts, titles, x = [], [], 0
        for i, (panel, title) in enumerate(panels):
            parts += [sep] if i else []
            x += sep.shape[1] if i else 0
            titles.append((x, title))
            parts.append(panel)
            x += panel.shape[1]
        return np.concatenate(parts, axis=1), titles

    @contextlib.contextmanager
    def _quiet(self):
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1

    def update(self):
        """Sync the channel slider with the layer, redraw the picture and the info line."""
        start = time.perf_counter()
        acts, pred = self._run(self.image.value)
        maps = acts[self.layer.value]
        C = maps.shape[0]
        if self.channel.max != C - 1:
            with self._quiet():
                if self.channel.value > C - 1:
                    self.channel.value = C - 1
                self.channel.max = max(C - 1, 0)
                self.channel.disabled = C == 1
        rgb, titles = self.render()
        self.picture.value = self._png(rgb, titles)
        ch = maps[min(self.channel.value, C - 1)]
        self.info_widget.value = (
            f"<code>{html.escape(self.layer.value)}</code> output {tuple(maps.shape)} · channel "
            f"{self.channel.value}: min {ch.min():.3g}, max {ch.max():.3g}, "
            f"{100 * float((ch > 0).mean()):.0f}% positive · {pred}")
        self.redraws += 1
        self.seconds = time.perf_counter() - start
