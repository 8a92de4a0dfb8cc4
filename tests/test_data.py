"""Offline datasets: shapes, dtypes, ranges, determinism, error messages."""

import numpy as np
import pytest

from course_lib import data


def test_load_digits_shapes_and_range():
    X, y = data.load_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    Xf, yf = data.load_digits(flat=True)
    assert Xf.shape == (1797, 64) and Xf.dtype == np.float32
    np.testing.assert_array_equal(Xf.reshape(X.shape), X)
    np.testing.assert_array_equal(yf, y)


def test_load_digits_returns_independent_copies():
    X, _ = data.load_digits()
    X[0] = 99.0
    assert data.load_digits()[0].max() == 1.0


def test_digits_split_stratified_and_deterministic():
    X_tr, y_tr, X_te, y_te = data.digits_split(test_fraction=0.2, seed=0)
    assert X_tr.shape[1:] == (1, 8, 8) and X_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert len(X_tr) + len(X_te) == 1797 and len(X_tr) == len(y_tr) and len(X_te) == len(y_te)
    assert abs(len(X_te) - 0.2 * 1797) <= 1
    # stratified: every class has (almost) the same share in the test set
    shares = np.bincount(y_te, minlength=10) / np.bincount(data.load_digits()[1], minlength=10)
    assert np.all(np.abs(shares - 0.2) < 0.02)
    again = data.digits_split(test_fraction=0.2, seed=0)
    for a, b in zip((X_tr, y_tr, X_te, y_te), again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = data.digits_split(test_fraction=0.2, seed=1)
    assert not np.array_equal(y_te, other[3])
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits_split(test_fraction=1.5)


@pytest.mark.parametrize("name", data.PHOTOS)
def test_load_photo_shapes_and_range(name):
    gray = data.load_photo(name, size=32)
    assert gray.shape == (32, 32) and gray.dtype == np.float64
    assert 0.0 <= gray.min() and gray.max() <= 1.0 and gray.std() > 0.05
    colour = data.load_photo(name, size=32, gray=False)
    assert colour.shape == (3, 32, 32) and colour.dtype == np.float64
    assert 0.0 <= colour.min() and colour.max() <= 1.0
    original = data.load_photo(name, size=None)
    assert original.ndim == 2 and min(original.shape) > 300


def test_load_photo_original_sizes():
    assert data.load_photo("china", size=None).shape == (427, 640)
    assert data.load_photo("grace_hopper", size=None, gray=False).shape == (3, 600, 512)


def test_load_photo_returns_copies_and_is_deterministic():
    a = data.load_photo("flower", size=48)
    a[:] = -1.0
    b = data.load_photo("flower", size=48)
    assert b.min() >= 0.0
    np.testing.assert_array_equal(b, data.load_photo("flower", size=48))


def test_load_photo_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        data.load_photo("lena")
    message = str(info.value)
    assert "'lena'" in message
    for name in data.PHOTOS:
        assert name in message


@pytest.mark.parametrize("size", [0, -3, 2.5, "64"])
def test_load_photo_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        data.load_photo("china", size=size)


def test_photo_batch():
    batch = data.photo_batch(size=16)
    assert batch.shape == (len(data.PHOTOS), 1, 16, 16) and batch.dtype == np.float64
    np.testing.assert_array_equal(batch[2, 0], data.load_photo(data.PHOTOS[2], size=16))
    colour = data.photo_batch(("china", "flower"), size=16, gray=False)
    assert colour.shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="valid names"):
        data.photo_batch(("china", "nope"), size=16)


def test_shifted_moves_content_with_zero_fill():
    img = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    out = data.shifted(img, 1, 2)
    expected = np.zeros_like(img)
    expected[1:, 2:] = img[:-1, :-2]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(data.shifted(img, -1, -1)[:-1, :-1], img[1:, 1:])
    np.testing.assert_array_equal(data.shifted(img, 0, 0), img)
    assert not np.any(data.shifted(img, 3, 0)) and not np.any(data.shifted(img, 0, -4))
    assert data.shifted(img, 1, 1) is not img


def test_shifted_keeps_leading_dims_and_dtype():
    x = np.random.default_rng(0).random((2, 3, 5, 6)).astype(np.float32)
    out = data.shifted(x, 2, -1)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 2:, :-1], x[..., :-2, 1:])
    assert not np.any(out[..., :2, :]) and not np.any(out[..., :, -1])
    with pytest.raises(ValueError, match="integers"):
        data.shifted(x, 0.5, 0)
    with pytest.raises(ValueError, match="shape"):
        data.shifted(np.zeros(5), 1, 1)


def test_shapes_classification_one_shape_per_image_with_its_box():
    from course_lib.data import SHAPE_CLASSES, shapes_classification, shapes_detection

    images, labels, boxes = shapes_classification(20, seed=3)
    same, coco = shapes_detection(20, seed=3, max_objects=1)
    np.testing.assert_array_equal(images, same)
    assert images.shape == (20, 3, 48, 48) and labels.shape == (20,) and boxes.shape == (20, 4)
    assert set(labels) <= set(range(len(SHAPE_CLASSES)))
    for k, a in enumerate(coco["annotations"]):
        x, y, w, h = a["bbox"]
        np.testing.assert_array_equal(boxes[k], [x, y, x + w, y + h])
        assert labels[k] == a["category_id"] - 1
        inside = images[k][:, int(y):int(y + h), int(x):int(x + w)].mean()
        assert inside > images[k].mean()  # the shape is brighter than the background
