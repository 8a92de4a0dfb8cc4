"""A small, honest training loop for the notebooks: seeded, with a tqdm progress bar, a history,
optional live loss plot and early stopping.

    >>> hist = fit(model, (X_train, y_train), (X_test, y_test), epochs=10)   # doctest: +SKIP
    >>> hist.plot()                                                          # doctest: +SKIP
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["History", "as_tensors", "evaluate", "fit", "make_optimizer", "plot_histories"]


@dataclass
class History:
    """Per-epoch metrics of one training run."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def plot(self, axes=None, title: str = ""):
        """Loss and accuracy curves (train and validation); returns the figure."""
        import matplotlib.pyplot as plt

        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(9, 3))
        else:
            fig = axes[0].figure
        epochs = np.arange(1, self.epochs + 1)
        for ax, metric in zip(axes, ("loss", "acc"), strict=True):
            ax.clear()
            for split, style in (("train", "-"), ("val", "--")):
                values = getattr(self, f"{split}_{metric}")
                if values:
                    ax.plot(epochs[: len(values)], values, style, marker="o", ms=3, label=split)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss" if metric == "loss" else "accuracy")
            if self.best_epoch is not None:
                ax.axvline(self.best_epoch + 1, color="gray", lw=0.8, ls=":")
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig


def as_tensors(X, y=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """numpy or torch inputs → (float32 tensor, int64 tensor or None)."""
    xt = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not isinstance(X, torch.Tensor) else X.float()
    if y is None:
        return xt, None
    yt = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
    if len(xt) != len(yt):
        raise ValueError(f"X has {len(xt)} examples but y has {len(yt)}")
    return xt, yt.long() if not yt.is_floating_point() else yt


@torch.no_grad()
def evaluate(model: nn.Module, X, y, loss_fn: Callable = nn.functional.cross_entropy,
             batch_size: int = 512) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on (X, y) in evaluation mode."""
    xt, yt = as_tensors(X, y)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(xt), batch_size):
        out = model(xt[start:start + batch_size])
        target = yt[start:start + batch_size]
        total_loss += float(loss_fn(out, target, reduction="sum"))
        if out.ndim == 2 and not target.is_floating_point():
            correct += int((out.argmax(1) == target).sum())
    model.train(was_training)
    return total_loss / len(xt), correct / len(xt)


def make_optimizer(name: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
    """``"sgd"``, ``"momentum"`` (SGD, 0.9), ``"nesterov"``, ``"rmsprop"``, ``"adam"`` or ``"adamw"``."""
    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **kwargs)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=kwargs.pop("momentum", 0.9), nesterov=name == "nesterov",
                               **kwargs)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, **kwargs)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **kwargs)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, **kwargs)
    raise ValueError(f"unknown optimizer {name!r}; use sgd, momentum, nesterov, rmsprop, adam or adamw")


def fit(model: nn.Module, train, val=None, *, epochs: int = 10, batch_size: int = 64, optimizer="adam",
        lr: float = 1e-3, weight_decay: float = 0.0, scheduler: Callable | None = None,
        loss_fn: Callable = nn.functional.cross_entropy, transform: Callable | None = None,
        early_stopping: int | None = None, seed: int = 0, progress: bool = True, live_plot: bool = False,
        desc: str = "training") -> History:
    """Train ``model`` with mini-batches and return its :class:`History`.

    Args:
        model: any ``nn.Module`` mapping a batch of X to logits (or predictions for ``loss_fn``).
        train: (X, y) arrays or tensors.
        val: optional (X, y) evaluated after every epoch.
        epochs, batch_size, lr, weight_decay: the usual.
        optimizer: a name for :func:`make_optimizer` or a ``torch.optim.Optimizer`` already built on
            ``model.parameters()``.
        scheduler: ``scheduler(optimizer)`` → a torch lr scheduler, stepped once per epoch
            (``ReduceLROnPlateau`` is given the validation loss, or the training loss without ``val``).
        loss_fn: ``loss_fn(output, target)``; must accept ``reduction="sum"`` for :func:`evaluate`.
        transform: applied to every batch of X, training and validation (e.g. ``digits_to_32``).
        early_stopping: stop after this many epochs without a better validation loss, and restore
            the best weights (needs ``val``).
        seed: seeds the initial shuffle order and dropout, so runs are repeatable.
        progress: show a tqdm bar with the running loss.
        live_plot: redraw the loss/accuracy curves after every epoch (in a notebook).
    """
    if early_stopping is not None and val is None:
        raise ValueError("early_stopping needs validation data (val=(X, y))")
    torch.manual_seed(seed)
    xt, yt = as_tensors(*train)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay=weight_decay) \
        if isinstance(optimizer, str) else optimizer
    sched = scheduler(opt) if scheduler else None
    gen = torch.Generator().manual_seed(seed)
    hist, best_loss, best_state, bad_epochs = History(), float("inf"), None, 0
    display_handle = _live_display() if live_plot else None
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total, correct = 0.0, 0
        for i in range(0, len(xt), batch_size):
            idx = order[i:i + batch_size]
            xb, yb = xt[idx], yt[idx]
            if transform is not None:
                xb = transform(xb)
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            if out.ndim == 2 and not yb.is_floating_point():
                correct += int((out.argmax(1) == yb).sum())
        hist.train_loss.append(total / len(xt))
        hist.train_acc.append(correct / len(xt))
        hist.lr.append(opt.param_groups[0]["lr"])
        if val is not None:
            xv, yv = val
            vl, va = evaluate(model, transform(as_tensors(xv)[0]) if transform else xv, yv, loss_fn)
            hist.val_loss.append(vl)
            hist.val_acc.append(va)
            if vl < best_loss:
                best_loss, hist.best_epoch, bad_epochs = vl, epoch, 0
                best_state = copy.deepcopy(model.state_dict()) if early_stopping else None
            else:
                bad_epochs += 1
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):  # "divide by 10 on plateau"
            sched.step((hist.val_loss or hist.train_loss)[-1])
        elif sched is not None:
            sched.step()
        hist.seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{hist.train_loss[-1]:.4f}",
                        **({"val_acc": f"{hist.val_acc[-1]:.3f}"} if hist.val_acc else {}))
        if display_handle is not None:
            _redraw(display_handle, hist, desc)
        if early_stopping is not None and bad_epochs >= early_stopping:
            hist.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return hist


def _live_display():
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the course
        return None
    if get_ipython() is None:
        return None
    return display("", display_id=True)


def _redraw(handle, hist: History, title: str) -> None:
    import matplotlib.pyplot as plt

    fig = hist.plot(title=title)
    handle.update(fig)
    plt.close(fig)


def plot_histories(histories: dict[str, History], metric: str = "train_loss", ax=None, logy: bool = False):
    """One curve of ``metric`` per named run, e.g. ``{"with BN": h1, "without": h2}``; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for name, hist in histories.items():
        values = getattr(hist, metric)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax
