"""Helpers shared by the ipywidgets explorers: demo images, figure-in-a-widget, labelled controls.

Explorers draw into one ``matplotlib.figure.Figure`` that is *not* registered with pyplot (so it
never leaks, never shows up twice in a notebook and needs no ``plt.close``) and render it to PNG
inside an ``ipywidgets.Image``. This works with any matplotlib backend (inline, Agg, ipympl),
in JupyterLab 4 / ipywidgets 8, and headless in tests.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import traceback

import numpy as np

from course_lib import data

__all__ = [
    "IMAGE_NAMES",
    "ControlPanel",
    "Explorer",
    "FigureView",
    "demo_image",
    "dropdown",
    "int_slider",
    "set_image",
    "size_formula_html",
    "show_images",
]

#: Images offered by the explorers' dropdowns: the bundled photos plus three made on the spot.
IMAGE_NAMES = (*data.PHOTOS, "digit", "checkerboard", "circle")


def demo_image(name, size):
    """A grayscale demo image in [0, 1] of shape (size, size).

    Args:
        name: one of :data:`IMAGE_NAMES`; ``"digit"`` is an upscaled 8x8 digit from
            :func:`course_lib.data.load_digits`, ``"checkerboard"`` has 8 squares per side and
            ``"circle"`` is an anti-aliased disc; the others come from :func:`course_lib.data.load_photo`.
        size: side in pixels.

    Returns:
        float64 array of shape (size, size).
    """
    if name in data.PHOTOS:
        return data.load_photo(name, size=size, gray=True)
    if name == "digit":
        from PIL import Image

        X, y = data.load_digits()
        digit = X[int(np.flatnonzero(y == 5)[0]), 0]  # (8, 8) float32
        img = Image.fromarray(digit).resize((size, size), Image.BICUBIC)  # float32 -> PIL mode "F"
        return np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)
    if name == "checkerboard":
        cell = max(1, size // 8)
        idx = np.arange(size) // cell
        return ((idx[:, None] + idx[None, :]) % 2).astype(np.float64)
    if name == "circle":
        c = (size - 1) / 2
        yy, xx = np.mgrid[:size, :size]
        dist = np.hypot(yy - c, xx - c)
        return np.clip(0.35 * size - dist + 0.5, 0.0, 1.0)
    raise ValueError(f"unknown image {name!r}; valid names are: {', '.join(IMAGE_NAMES)}")


def as_gray_image(image):
    """Coerce a user image (H, W), (1, H, W) or (3, H, W) / (H, W, 3) to float64 (H, W)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.mean(axis=0)  # (C, H, W) -> (H, W)
    elif img.ndim == 3 and img.shape[-1] in (1, 3):
        img = img.mean(axis=-1)  # (H, W, C) -> (H, W)
    if img.ndim != 2:
        raise ValueError(f"image must have shape (H, W), (C, H, W) or (H, W, C), got {np.shape(image)}")
    return img


def _size_formula(axis, n, k, s, p):
    """``H_out = ⌊(128 − 3 + 2·1) / 2⌋ + 1 = 64`` (or the ValueError text if the kernel does not fit)."""
    # Imported here: widgets import without the answers (the grader's judge process has none).
    from course_lib.reference.conv import conv_output_size

    try:
        out = conv_output_size(n, k, s, p)
    except ValueError as exc:
        return None, f"{axis}_out: {html.escape(str(exc))}"
    frac = f"⌊({n} − {k} + 2·{p}) / {s}⌋" if s > 1 else f"({n} − {k} + 2·{p})"
    return out, f"{axis}_out = {frac} + 1 = <b>{out}</b>"


def size_formula_html(shape, kernel_size, stride, padding):
    """Output size formula with numbers for both axes (one line if H == W); returns (shape, html)."""
    (H, W), k = shape, kernel_size
    h_out, h_txt = _size_formula("H", H, k, stride, padding)
    if H == W:
        return (h_out, h_out), (h_txt.replace("H_out", "H_out = W_out", 1) if h_out else h_txt)
    w_out, w_txt = _size_formula("W", W, k, stride, padding)
    return (h_out, w_out), f"{h_txt}; &nbsp; {w_txt}"


def show_images(images, titles=None, cmap="gray", ncols=None, figsize=None):
    """Plot images in a grid with pyplot and return the figure.

    In a notebook the figure appears once at the end of the cell; end the call with ``;`` (or
    assign the result) when it is the last line, otherwise Jupyter shows the returned figure twice.

    Args:
        images: sequence (or array) of images, each (H, W), (1, H, W), (3, H, W) or (H, W, 3);
            a 4-D array is read as a batch (N, C, H, W).
        titles: optional sequence of titles, one per image.
        cmap: colormap for single-channel images.
        ncols: images per row; defaults to min(N, 8).
        figsize: (width, height) in inches; defaults to about 1.6 inches per image.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("images is empty")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = min(n, 8) if ncols is None else max(1, int(ncols))
    nrows = math.ceil(n / ncols)
    figsize = figsize or (1.6 * ncols, 1.6 * nrows + (0.25 * nrows if titles is not None else 0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = np.asarray(images[i], dtype=np.float64)
        if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
            img = img.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim == 3:
            ax.imshow(np.clip(img, 0, 1))
        else:
            ax.imshow(img, cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


class FigureView:
    """A pyplot-free matplotlib figure shown in an ``ipywidgets.Image``.

    Draw on ``.figure`` (create axes once, then update artists), then call :meth:`refresh`.

    Args:
        figsize: (width, height) in inches.
        dpi: resolution of the PNG sent to the browser.
    """

    def __init__(self, figsize, dpi=80):
        import ipywidgets as widgets
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        width = f"{figsize[0] * dpi:.0f}px"
        self.widget = widgets.Image(format="png", layout=widgets.Layout(width=width, max_width="100%"))

    def png(self):
        """Render the figure and return the PNG bytes."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", pil_kwargs={"compress_level": 1})  # fast over small
        return buf.getvalue()

    def refresh(self):
        """Re-render the figure into the image widget."""
        self.widget.value = self.png()

    def savefig(self, path, **kwargs):
        """Save the figure to ``path`` (e.g. a PNG for the docs)."""
        self.figure.savefig(path, **kwargs)


def set_image(ax, im, arr, pad=0):
    """Put a new (H, W) array, of any size, into an existing ``AxesImage`` (no new artists).

    ``pad`` widens the view by that many pixels on each side (to show the padding region).
    """
    H, W = arr.shape
    im.set_data(arr)
    im.set_extent((-0.5, W - 0.5, H - 0.5, -0.5))
    ax.set_xlim(-0.5 - pad, W - 0.5 + pad)
    ax.set_ylim(H - 0.5 + pad, -0.5 - pad)


def int_slider(description, lo, hi, value, width="260px"):
    """A labelled IntSlider over ``lo..hi`` that fires only on release (``continuous_update=False``)."""
    import ipywidgets as widgets

    return widgets.IntSlider(
        value=value, min=lo, max=hi, step=1, description=description, continuous_update=False,
        style={"description_width": "80px"}, layout=widgets.Layout(width=width),
    )


def dropdown(description, options, value, width="260px"):
    """A labelled Dropdown."""
    import ipywidgets as widgets

    return widgets.Dropdown(
        options=list(options), value=value, description=description,
        style={"description_width": "80px"}, layout=widgets.Layout(width=width),
    )


def format_error(exc, who):
    """One readable HTML line for an exception raised by a student's function."""
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (line {last[0].lineno} in {last[0].name})" if last else ""
    return (
        f"<span style='color:#b00020'><b>{html.escape(who)} raised {type(exc).__name__}</b>{where}: "
        f"{html.escape(str(exc))}</span>"
    )


class ControlPanel:
    """What every explorer shares: ``.widget``, the info line, batched updates, display, savefig.

    Subclasses build their controls, call :meth:`_watch` on them (or route their own observers to
    :meth:`_on_change`) and implement :meth:`update`.

    Args:
        info_height: minimum height of the info line, e.g. "3.2em" (one or two lines of text).
    """

    widget = None
    output = None
    view = None

    def __init__(self, info_height="3.2em"):
        import ipywidgets as widgets

        self.info_widget = widgets.HTML(value="", layout=widgets.Layout(min_height=info_height))
        self.error = None
        self._hold = 0

    @property
    def info(self):
        """The info line as plain text (output size formula, messages, errors)."""
        import re

        text = re.sub(r"<br\s*/?>", "\n", self.info_widget.value)
        return html.unescape(re.sub(r"<[^>]+>", "", text))

    @contextlib.contextmanager
    def hold(self):
        """Change several controls at once with a single :meth:`update` at the end."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
        if self._hold == 0:
            self.update()

    def _watch(self, *controls):
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, change):
        if self._hold == 0:
            self.update()

    def update(self):
        """Recompute the output from the current controls and redraw."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def savefig(self, path, **kwargs):
        """Save the current figure (e.g. ``/tmp/explorer.png``)."""
        self.view.savefig(path, **kwargs)


class Explorer(ControlPanel):
    """An explorer of an input image: the image dropdown on top of :class:`ControlPanel`.

    Args:
        image: ``None`` (first of :data:`IMAGE_NAMES`), a name from :data:`IMAGE_NAMES`, or an
            array (H, W) / (C, H, W) offered as ``"custom"`` in the dropdown.
        size: side in pixels of the named demo images.
    """

    def __init__(self, image=None, size=64):
        super().__init__()
        self.size = int(size)
        self._images = {}
        options = list(IMAGE_NAMES)
        if image is None:
            image = IMAGE_NAMES[0]
        elif not isinstance(image, str):
            self._images["custom"] = np.array(as_gray_image(image))  # (H, W), our own copy
            self._images["custom"].flags.writeable = False
            options.insert(0, "custom")
            image = "custom"
        elif image not in IMAGE_NAMES:
            raise ValueError(f"unknown image {image!r}; valid names are: {', '.join(IMAGE_NAMES)}")
        self.image_dropdown = dropdown("image", options, image)

    @property
    def image(self):
        """A copy of the current input image, float64 of shape (H, W)."""
        name = self.image_dropdown.value
        if name not in self._images:
            img = demo_image(name, self.size)
            img.flags.writeable = False  # cached: functions under test get copies
            self._images[name] = img
        return self._images[name].copy()

