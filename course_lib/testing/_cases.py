"""Small helpers shared by the exercise specifications: random arrays and hyper-parameters."""

from __future__ import annotations

import numpy as np

__all__ = ["randn", "maybe_pair", "fitting_size"]


def randn(rng: np.random.Generator, *shape: int, dtype=np.float64) -> np.ndarray:
    """Standard-normal array of ``shape`` and ``dtype``."""
    return rng.standard_normal(shape).astype(dtype)


def maybe_pair(rng: np.random.Generator, low: int, high: int):
    """An int in [low, high], or (half the time) a pair of such ints."""
    if rng.random() < 0.5:
        return int(rng.integers(low, high + 1))
    return (int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1)))


def fitting_size(rng: np.random.Generator, kernel: int, padding: int, extra: int = 6) -> int:
    """A spatial size at least as large as the kernel after padding."""
    return int(rng.integers(max(1, kernel - 2 * padding), max(1, kernel - 2 * padding) + extra + 1))
