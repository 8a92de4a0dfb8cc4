"""Character data for the RNN chapters: text from Python's own standard library (no download).

The corpus is a fixed list of standard-library source files, read in that order and cut at
``max_chars``; so it is the same on every machine with the same Python version.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np

__all__ = ["STDLIB_FILES", "CharVocab", "char_batches", "load_stdlib_text", "scaled_orthogonal"]

#: Standard-library modules that exist on every CPython 3.x, read in this order.
STDLIB_FILES = ("textwrap.py", "shlex.py", "fnmatch.py", "bisect.py", "heapq.py", "string.py",
                "glob.py", "colorsys.py", "keyword.py", "functools.py", "copy.py", "random.py")


def load_stdlib_text(max_chars: int = 200_000, files=STDLIB_FILES) -> str:
    """The concatenated source of ``files`` from the running Python's standard library.

    Args:
        max_chars: cut the text after this many characters (≥ 1).
        files: file names relative to ``sysconfig.get_paths()["stdlib"]``; missing ones are skipped.

    Returns:
        A str of at most ``max_chars`` characters.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be ≥ 1, got {max_chars}")
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for name in files:
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size >= max_chars:
            break
    if not parts:
        raise FileNotFoundError(f"none of {list(files)} found in {root}")
    return "".join(parts)[:max_chars]


class CharVocab:
    """A character vocabulary: the sorted distinct characters of a text, id = position."""

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharVocab needs a non-empty text")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of the characters of ``text``; unknown characters raise ValueError."""
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown[:10]}")
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of a sequence of ids (0 ≤ id < len(vocab))."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.chars)):
            raise ValueError(f"ids must be in [0, {len(self.chars)}), got min {ids.min()}, max {ids.max()}")
        return "".join(self.chars[i] for i in ids)


def char_batches(ids, seq_len: int, batch_size: int, rng: np.random.Generator):
    """One random batch of windows for next-character prediction.

    Returns:
        (inputs, targets): int64 arrays (seq_len, batch_size) — time first, like ``nn.RNN`` —
        where ``targets[t, n]`` is the character after ``inputs[t, n]``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if seq_len < 1 or batch_size < 1:
        raise ValueError(f"seq_len and batch_size must be ≥ 1, got {seq_len} and {batch_size}")
    if ids.size < seq_len + 1:
        raise ValueError(f"a text of {ids.size} ids is too short for windows of seq_len + 1 = {seq_len + 1}")
    starts = rng.integers(0, ids.size - seq_len, size=batch_size)
    window = starts[None, :] + np.arange(seq_len)[:, None]
    return ids[window], ids[window + 1]


def scaled_orthogonal(h, radius, rng):
    """An (H, H) matrix with every singular value (and so the spectral radius) equal to ``radius``."""
    q, r = np.linalg.qr(rng.standard_normal((h, h)))
    return radius * q * np.sign(np.diag(r))
