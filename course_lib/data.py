"""Offline datasets: sklearn's 8x8 digits and the sample photos bundled with sklearn / matplotlib.

Nothing here touches the network: every image ships inside an installed package.

Shape glossary: N batch, C channels, H/W height/width.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "CLASSIC_KERNELS",
    "PHOTOS",
    "SHAPE_CLASSES",
    "digits_split",
    "load_digits",
    "make_moons",
    "make_separable",
    "make_xor",
    "load_photo",
    "photo_batch",
    "ring_centers",
    "sample_ring",
    "shapes_classification",
    "shapes_detection",
    "shifted",
]

#: Names accepted by :func:`load_photo`: two sklearn sample images and matplotlib's Grace Hopper portrait.
PHOTOS = ("china", "flower", "grace_hopper")


@functools.lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    X = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8), pixel values 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)  # (1797,)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def load_digits(flat=False):
    """The 1797 handwritten 8x8 digits bundled with scikit-learn.

    Args:
        flat: return each image as a 64-vector instead of a (1, 8, 8) image.

    Returns:
        ``(X, y)``: ``X`` float32 in [0, 1] of shape (1797, 1, 8, 8), or (1797, 64) if ``flat``;
        ``y`` int64 labels 0..9 of shape (1797,).
    """
    X, y = _digits()
    X = X.reshape(len(X), -1) if flat else X  # (N, 64) or (N, 1, 8, 8)
    return X.copy(), y.copy()


def digits_split(test_fraction=0.2, seed=0):
    """A stratified, deterministic train/test split of :func:`load_digits`.

    Args:
        test_fraction: fraction of the samples (of every class) put in the test set, in (0, 1).
        seed: random seed; the same seed always gives the same split.

    Returns:
        ``(X_train, y_train, X_test, y_test)`` with ``X_*`` float32 of shape (N_*, 1, 8, 8) and
        ``y_*`` int64 of shape (N_*,).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.model_selection import train_test_split

    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return X_train, y_train, X_test, y_test


def _photo_path(name):
    if name in ("china", "flower"):
        from importlib.resources import files

        return str(files("sklearn.datasets").joinpath("images", f"{name}.jpg"))
    if name == "grace_hopper":
        from matplotlib import cbook

        return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    raise ValueError(f"unknown photo name {name!r}; valid names are: {', '.join(PHOTOS)}")


@functools.cache  # decoded originals: a few MB in all
def _original(name):
    """Decoded original photo as a read-only uint8 array of shape (H, W, 3)."""
    from PIL import Image

    with Image.open(_photo_path(name)) as img:
        arr = np.asarray(img.convert("RGB"))  # (H, W, 3) uint8
    arr.flags.writeable = False
    return arr


@functools.lru_cache(maxsize=32)
def _prepared(name, size, gray):
    """Resized, cropped, converted photo (read-only float64), cached per (name, size, gray)."""
    from PIL import Image

    img = Image.fromarray(_original(name))
    if gray:
        img = img.convert("L")
    if size is not None:
        w, h = img.size
        scale = size / min(w, h)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((new_w, new_h), Image.LANCZOS)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.float64) / 255.0  # (H, W) or (H, W, 3)
    if not gray:
        arr = arr.transpose(2, 0, 1)  # (3, H, W) channel-first
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def load_photo(name="china", size=128, gray=True):
    """One of the sample photos bundled with scikit-learn or matplotlib (no download).

    The shorter side is resized to ``size`` with Lanczos filtering (aspect ratio kept), then the
    centre square ``size x size`` is cropped.

    Args:
        name: one of :data:`PHOTOS` (``"china"``, ``"flower"``, ``"grace_hopper"``).
        size: side of the square result in pixels, or ``None`` for the original resolution.
        gray: return a single luminance channel instead of RGB.

    Returns:
        float64 array in [0, 1] of shape (H, W) if ``gray`` else (3, H, W); H = W = ``size``
        unless ``size`` is None (china and flower are 427 x 640, grace_hopper 600 x 512).

    Raises:
        ValueError: for an unknown ``name`` (the message lists the valid names) or a bad ``size``.
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo name {name!r}; valid names are: {', '.join(PHOTOS)}")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"size must be a positive int or None, got {size!r}")
        size = int(size)
    return _prepared(name, size, bool(gray)).copy()


def photo_batch(names=PHOTOS, size=64, gray=True):
    """Several photos stacked into one NCHW batch.

    Args:
        names: iterable of names from :data:`PHOTOS`.
        size: side of each square image (must be an int so that the images stack).
        gray: one channel (C = 1) instead of RGB (C = 3).

    Returns:
        float64 array in [0, 1] of shape (N, C, size, size).
    """
    if isinstance(names, str):
        names = (names,)
    if size is None:
        raise ValueError("photo_batch needs an int size: the original photos have different shapes")
    images = [load_photo(name, size=size, gray=gray) for name in names]
    if not images:
        raise ValueError("names is empty")
    batch = np.stack(images)  # (N, H, W) or (N, 3, H, W)
    return batch[:, None] if gray else batch  # (N, C, H, W)


def shifted(image, dy, dx):
    """Translate an image by whole pixels, filling the uncovered border with zeros.

    Positive ``dy`` moves the content down, positive ``dx`` moves it right; content that leaves
    the frame is lost (no wrap-around, unlike ``np.roll``).

    Args:
        image: array of shape (..., H, W); leading dimensions (N, C, ...) are kept.
        dy: vertical shift in pixels (int).
        dx: horizontal shift in pixels (int).

    Returns:
        Array of the same shape and dtype, ``out[..., i, j] = image[..., i - dy, j - dx]`` (0 outside).
    """
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"image must have shape (..., H, W), got shape {image.shape}")
    if int(dy) != dy or int(dx) != dx:
        raise ValueError(f"dy and dx must be integers, got dy={dy!r}, dx={dx!r}")
    dy, dx = int(dy), int(dx)
    H, W = image.shape[-2:]
    out = np.zeros_like(image)
    if abs(dy) >= H or abs(dx) >= W:
        return out
    src_y, dst_y = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
    out[..., dst_y, dst_x] = image[..., src_y, src_x]
    return out


#: Category names of :func:`shapes_detection`, by COCO category id 1, 2, 3.
SHAPE_CLASSES = ("circle", "square", "triangle")


def _shape_mask(kind, cx, cy, r, size):
    """Boolean (size, size) mask of a shape with centre (cx, cy) and half-side r (pixel centres)."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    if kind == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if kind == "square":
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    # upright triangle: apex (cx, cy − r), base from (cx − r, cy + r) to (cx + r, cy + r)
    return (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)


def shapes_detection(n, size=48, seed=0, max_objects=3, min_side=10, max_side=22):
    """Seeded synthetic detection data: coloured circles, squares and triangles on a noisy background.

    Every image holds 1 … ``max_objects`` non-overlapping shapes of random colour and side
    (``min_side`` … ``max_side`` pixels). Boxes are the shapes' exact extents.

    Args:
        n: number of images.
        size: image side in pixels.
        seed: random seed (same seed → same data).
        max_objects: most shapes per image.
        min_side, max_side: range of shape sides in pixels.

    Returns:
        (images, coco): float32 images (n, 3, size, size) in [0, 1], and a COCO-format dict with
        "images" (ids 1 … n), "annotations" (bbox [x, y, w, h], area, iscrowd 0) and "categories"
        (1 circle, 2 square, 3 triangle).
    """
    if n < 1 or size < 2 * max_side or not 1 <= min_side <= max_side:
        raise ValueError(f"need n ≥ 1, size ≥ 2·max_side and 1 ≤ min_side ≤ max_side, got "
                         f"n={n}, size={size}, min_side={min_side}, max_side={max_side}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    coco = {"images": [], "annotations": [],
            "categories": [{"id": i + 1, "name": name} for i, name in enumerate(SHAPE_CLASSES)]}
    for k in range(n):
        img = 0.1 + 0.15 * rng.random(3)[:, None, None] + 0.05 * rng.standard_normal((3, size, size))
        boxes = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _attempt in range(20):
                side = float(rng.integers(min_side, max_side + 1))
                x1, y1 = (float(v) for v in rng.integers(0, size - side + 1, size=2))
                if all(x1 >= b[2] + 2 or b[0] >= x1 + side + 2 or y1 >= b[3] + 2 or b[1] >= y1 + side + 2
                       for b in boxes):
                    break
            else:
                continue
            cat = int(rng.integers(0, 3))
            mask = _shape_mask(SHAPE_CLASSES[cat], x1 + side / 2, y1 + side / 2, side / 2, size)
            colour = 0.45 + 0.55 * rng.random(3)
            img[:, mask] = colour[:, None] + 0.03 * rng.standard_normal((3, int(mask.sum())))
            boxes.append((x1, y1, x1 + side, y1 + side))
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": k + 1,
                                        "category_id": cat + 1, "bbox": [x1, y1, side, side],
                                        "area": side * side, "iscrowd": 0})
        images[k] = np.clip(img, 0, 1)
        coco["images"].append({"id": k + 1, "width": size, "height": size, "file_name": f"shapes_{k:04d}.png"})
    return images, coco


def shapes_classification(n, size=48, seed=0, min_side=10, max_side=22):
    """One shape per image, for classification with a box to score localisation (Chapter 9).

    :func:`shapes_detection` with ``max_objects=1``: the label is the shape's class and the box is its
    exact extent, so a heatmap's peak can be checked against where the object really is.

    Args:
        n, size, seed, min_side, max_side: as in :func:`shapes_detection`.

    Returns:
        (images, labels, boxes): float32 (n, 3, size, size) in [0, 1]; int64 (n,) indices into
        :data:`SHAPE_CLASSES`; float64 (n, 4) boxes (x1, y1, x2, y2) in pixels, x2 = x1 + side.
    """
    images, coco = shapes_detection(n, size=size, seed=seed, max_objects=1, min_side=min_side, max_side=max_side)
    by_image = {a["image_id"]: a for a in coco["annotations"]}
    if len(by_image) != n:  # cannot happen: one shape always fits an empty image
        raise RuntimeError("an image without its shape")
    labels = np.array([by_image[k + 1]["category_id"] - 1 for k in range(n)], dtype=np.int64)
    boxes = np.array([by_image[k + 1]["bbox"] for k in range(n)], dtype=np.float64)  # (n, 4) x, y, w, h
    boxes[:, 2:] += boxes[:, :2]  # (n, 4) x1, y1, x2, y2
    return images, labels, boxes


def _kernel(rows, scale=1.0):
    k = np.array(rows, dtype=np.float64) * scale
    k.setflags(write=False)  # shared constants: copy before editing
    return k


CLASSIC_KERNELS = {
    "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "box blur": _kernel(np.ones((3, 3)), 1 / 9),
    "gaussian blur": _kernel(np.outer([1, 2, 1], [1, 2, 1]), 1 / 16),
    "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "sobel x": _kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel y": _kernel([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "laplacian": _kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "emboss": _kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}
"""Classic 3x3 image kernels (float64, read-only), applied as cross-correlation."""


# --------------------------------------------------------------------------- toy distributions (Chapter 13)

def ring_centers(k=8, radius=2.0):
    """The k means of the ring mixture: ``radius * (cos 2πi/k, sin 2πi/k)``, shape (k, 2)."""
    if int(k) < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    angles = 2 * np.pi * np.arange(int(k)) / int(k)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(n, k=8, radius=2.0, std=0.05, rng=None):
    """n samples of the mixture of k Gaussians (std ``std``) on a ring; float32 (n, 2)."""
    rng = np.random.default_rng(rng)
    centers = ring_centers(k, radius)
    idx = rng.integers(0, len(centers), size=int(n))
    return (centers[idx] + std * rng.standard_normal((int(n), 2))).astype(np.float32)


# --------------------------------------------------------------------------- toy classification sets (Chapter 1)

def make_separable(n=40, margin=0.3, seed=0):
    """Two linearly separable clouds in 2-D: points of N(0, 1.5²) labelled by the side of a random
    line, with those closer than ``margin`` to the line removed (so a perceptron must converge).

    Returns:
        ``(X, y)``: X float64 (n, 2), y int64 (n,) in {0, 1}.
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi)
    normal, offset = np.array([np.cos(angle), np.sin(angle)]), rng.uniform(-0.5, 0.5)
    points = []
    while len(points) < n:
        p = rng.normal(0, 1.5, size=2)
        if abs(p @ normal + offset) >= margin:
            points.append(p)
    X = np.array(points)
    return X, (X @ normal + offset > 0).astype(np.int64)


def make_xor(n=4, noise=0.0, seed=0):
    """XOR: the corners (0, 0), (0, 1), (1, 0), (1, 1) (repeated to n points) plus Gaussian noise;
    the label is ``x1 XOR x2``. ``make_xor()`` is the truth table.

    Returns:
        ``(X, y)``: X float64 (n, 2), y int64 (n,) in {0, 1}.
    """
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    X = corners[np.arange(n) % 4]  # (n, 2)
    y = (X[:, 0] != X[:, 1]).astype(np.int64)
    if noise:
        X = X + np.random.default_rng(seed).normal(0, noise, size=X.shape)
    return X, y


def make_moons(n=200, noise=0.1, seed=0):
    """Two interleaving half circles (like ``sklearn.datasets.make_moons``), generated with numpy.

    Returns:
        ``(X, y)``: X float64 (n, 2), y int64 (n,): 0 for the upper moon, 1 for the lower one.
    """
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    t = rng.uniform(0, np.pi, size=n)
    upper = np.stack([np.cos(t[:n_upper]), np.sin(t[:n_upper])], axis=1)
    lower = np.stack([1 - np.cos(t[n_upper:]), 0.5 - np.sin(t[n_upper:])], axis=1)
    X = np.concatenate([upper, lower]) + rng.normal(0, noise, size=(n, 2))
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n - n_upper, np.int64)])
    return X, y
