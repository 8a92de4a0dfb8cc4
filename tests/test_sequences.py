"""course_lib.sequences: the stdlib character corpus, the vocabulary and the batches."""

import numpy as np
import pytest

from course_lib.sequences import CharVocab, char_batches, load_stdlib_text


def test_corpus_is_deterministic_and_limited():
    a, b = load_stdlib_text(5000), load_stdlib_text(5000)
    assert a == b and len(a) == 5000
    assert "def " in load_stdlib_text(50_000)
    with pytest.raises(ValueError, match="max_chars"):
        load_stdlib_text(0)
    with pytest.raises(FileNotFoundError):
        load_stdlib_text(100, files=("no_such_module_xyz.py",))


def test_vocab_roundtrip_and_errors():
    text = "def f(x):\n    return x\n"
    vocab = CharVocab(text)
    assert vocab.chars == sorted(set(text)) and len(vocab) == len(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and vocab.decode(ids) == text
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("é")
    with pytest.raises(ValueError, match=r"ids must be in \[0"):
        vocab.decode([len(vocab)])
    with pytest.raises(ValueError):
        CharVocab("")


def test_char_batches_shift_by_one():
    ids = np.arange(100)
    x, y = char_batches(ids, 7, 5, np.random.default_rng(0))
    assert x.shape == y.shape == (7, 5) and x.dtype == np.int64
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.diff(x, axis=0), 1)       # contiguous windows, time first
    x2, _ = char_batches(ids, 7, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ValueError, match="too short"):
        char_batches(np.arange(5), 5, 1, np.random.default_rng(0))
