"""The answers, named rather than imported: ``course_lib.reference`` and how a check reaches it.

Every reference implementation lives in one package, :data:`REFERENCE_PACKAGE`. The check harness
names them (:func:`answers`) and imports one only when a check computes an expected value, so the
harness imports where the answers are absent (the grader's judge process).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_FORBIDDEN", "REFERENCE_MODULES", "REFERENCE_PACKAGE", "Answer", "answers"]

#: The package of the answers: every reference implementation, and nothing the notebooks use as a tool.
REFERENCE_PACKAGE = "course_lib.reference"

#: Its modules, one per topic (a test checks that this is every module of the package).
REFERENCE_MODULES = tuple(f"{REFERENCE_PACKAGE}.{m}" for m in (
    "_utils", "activations", "architectures", "attention", "autoencoders", "compress", "conv", "detection",
    "detection_metrics", "gan", "interpret", "losses", "mlp", "norm", "optim", "pool", "rnn", "rnn_gates",
    "style"))

#: Modules switched off while a student's from-scratch function runs: the answers as a whole, and the
#: libraries that have them. An exercise gives back what it may use in its ``allow`` list (Chapter 3's
#: pooling may use Chapter 2's ``course_lib.reference.conv``).
DEFAULT_FORBIDDEN = ("torch", "scipy", "sklearn", "skimage", "cv2", REFERENCE_PACKAGE)


class Answer:
    """A reference named, not imported: ``Answer("conv", "conv2d")`` stands for
    ``course_lib.reference.conv.conv2d`` and imports it on first use (a call, or an attribute such as
    ``__code__``). So the check harness imports without the answers, which a judge process lacks.

    Pickled by name only, never with the answer it resolved."""

    def __init__(self, module: str, name: str) -> None:
        self.__dict__.update(_module=module, _name=name, _target=None)

    def resolve(self) -> Any:
        target = self.__dict__.get("_target")
        if target is None:
            module = importlib.import_module(f"{REFERENCE_PACKAGE}.{self.__dict__['_module']}")
            target = getattr(module, self.__dict__["_name"])
            self.__dict__["_target"] = target
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if "_module" not in self.__dict__ or attr in ("__getstate__", "__setstate__", "__reduce_ex__"):
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __getstate__(self) -> dict:
        return {"_module": self.__dict__["_module"], "_name": self.__dict__["_name"], "_target": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<answer {REFERENCE_PACKAGE}.{self.__dict__['_module']}.{self.__dict__['_name']}>"


class _Answers:
    """``answers("conv").conv2d`` is ``Answer("conv", "conv2d")`` (one per name)."""

    def __init__(self, module: str) -> None:
        self.__dict__.update(_module=module, _cache={})

    def __getattr__(self, name: str) -> Answer:
        if name.startswith("__") or "_cache" not in self.__dict__:
            raise AttributeError(name)
        cache = self.__dict__["_cache"]
        if name not in cache:
            cache[name] = Answer(self.__dict__["_module"], name)
        return cache[name]


def answers(module: str) -> _Answers:
    """The answers of ``course_lib.reference.<module>`` by name, each imported when first used:
    ``conv = answers("conv")`` then ``Exercise("conv2d", conv.conv2d, ...)``."""
    return _Answers(module)
