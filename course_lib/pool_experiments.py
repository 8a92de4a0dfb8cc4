"""Chapter 3's experiment: max pooling, average pooling or a strided convolution inside LeNet-5.

Not a reference module (students may use it freely): it trains :class:`course_lib.models.LeNet5` with
each way of downsampling on the same digits split, the same seed and the same budget, and reports
the test accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from course_lib.data import digits_split
from course_lib.models import LeNet5, count_params, digits_to_32
from course_lib.train import evaluate, fit

__all__ = ["DownsamplingRun", "compare_downsampling"]

#: LeNet5's ``pool`` argument → what the table calls it.
DOWNSAMPLING = {"max": "max pooling 2×2", "avg": "average pooling 2×2", "conv": "strided conv 2×2, stride 2"}


@dataclass
class DownsamplingRun:
    """One trained LeNet-5: how it downsamples, its parameters, test accuracy and training time."""

    pool: str
    label: str
    params: int
    test_acc: float
    train_acc: float
    seconds: float


def compare_downsampling(pools=("max", "avg", "conv"), epochs: int = 5, seed: int = 0, lr: float = 2e-3,
                         progress: bool = True) -> list[DownsamplingRun]:
    """Train LeNet-5 on the 8×8 digits (upsampled to 32×32) once per way of downsampling.

    Every run uses the same stratified split (:func:`course_lib.data.digits_split`, 20 % test), the
    same seed for the initial weights and the shuffles, Adam and ``epochs`` epochs of batches of 64.

    Args:
        pools: values of ``LeNet5(pool=...)``: "max", "avg", "conv".
        epochs, seed, lr: the training budget.
        progress: show a progress bar per run.

    Returns:
        One :class:`DownsamplingRun` per entry of ``pools``, in order.
    """
    import torch

    X_train, y_train, X_test, y_test = digits_split()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: one thread is faster than two fighting over a shared machine
    try:
        return [_run(pool, X_train, y_train, X_test, y_test, epochs, seed, lr, progress) for pool in pools]
    finally:
        torch.set_num_threads(threads)


def _run(pool, X_train, y_train, X_test, y_test, epochs, seed, lr, progress) -> DownsamplingRun:
    """Train one LeNet-5 downsampling with ``pool``; score it on the training and test sets."""
    import torch

    torch.manual_seed(seed)
    model = LeNet5(pool=pool)
    start = time.perf_counter()
    fit(model, (X_train, y_train), epochs=epochs, lr=lr, transform=digits_to_32, seed=seed, progress=progress,
        desc=f"LeNet-5, {DOWNSAMPLING.get(pool, pool)}")
    seconds = time.perf_counter() - start
    _, test_acc = evaluate(model, digits_to_32(X_test), y_test)
    _, train_acc = evaluate(model, digits_to_32(X_train), y_train)
    return DownsamplingRun(pool, DOWNSAMPLING.get(pool, pool), count_params(model), float(test_acc),
                           float(train_acc), seconds)
