"""Switching modules off while a student's function runs (``torch``, ``scipy``, the answers):
whatever the function reaches — its globals, closures, defaults, ``sys.modules`` — stands in for a
:class:`_Blocked` object that raises :class:`ForbiddenError`, except what the exercise allows."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._compare import ForbiddenError

__all__ = ["forbidden"]


# --------------------------------------------------------------------------- forbidding

class _Blocked(types.ModuleType):
    """Stands in for a switched-off module or object: any use raises ForbiddenError."""

    def __init__(self, label: str, exercise: str):
        super().__init__(label)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_exercise", exercise)

    def _refuse(self, *_: Any, **__: Any):
        label, exercise = object.__getattribute__(self, "_label"), object.__getattribute__(self, "_exercise")
        raise ForbiddenError(
            f"{exercise} used `{label}`. This exercise is about implementing it yourself with numpy: "
            f"`{label}` is switched off while {exercise} is checked.")

    def __getattr__(self, _name: str):
        self._refuse()

    __call__ = _refuse


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_forbidden(value: Any, prefixes: Sequence[str], allow: Sequence[str] = ()) -> str | None:
    """Name of the forbidden module that ``value`` is or comes from (and is not allowed), else None."""
    if isinstance(value, _Blocked):
        return None
    if isinstance(value, types.ModuleType):
        mod = value.__name__
    else:
        mod = getattr(value, "__module__", None)
        if not isinstance(mod, str):
            return None
    if _under(mod, allow):
        return None
    for p in prefixes:
        if mod == p or mod.startswith(p + "."):
            return mod if isinstance(value, types.ModuleType) else f"{mod}.{getattr(value, '__name__', '?')}"
    return None


_LOADED_CACHE: dict[tuple[str, ...], tuple[int, list[str]]] = {}


def _loaded_under(prefixes: tuple[str, ...]) -> list[str]:
    """Names in ``sys.modules`` equal to or below ``prefixes``; cached while no module is imported
    (scanning ~1,000 modules per checked case cost 10-25 ms)."""
    size, names = _LOADED_CACHE.get(prefixes, (-1, []))
    if size != len(sys.modules):
        names = [n for n in list(sys.modules) if any(n == p or n.startswith(p + ".") for p in prefixes)]
        _LOADED_CACHE[prefixes] = (len(sys.modules), names)
    return [n for n in names if n in sys.modules]


def _closure_cells(fn: Callable) -> list[Any]:
    """Closure cells of ``fn`` and of the functions it closes over (one level deep is enough for
    the usual ``make()`` factory)."""
    cells = list(getattr(fn, "__closure__", None) or ())
    for cell in list(cells):
        try:
            inner = cell.cell_contents
        except ValueError:
            continue
        if isinstance(inner, types.FunctionType):
            cells += list(inner.__closure__ or ())
    return cells


@contextlib.contextmanager
def forbidden(fn: Callable, prefixes: Sequence[str], exercise: str, allow: Sequence[str] = ()) -> Iterator[None]:
    """Switch off ``prefixes`` (module names) but not ``allow`` for the duration of a call of ``fn``.

    Replaces, and restores afterwards: the entries of ``sys.modules`` (so ``import torch`` inside
    the function gets a blocker), names in ``fn``'s global namespace, closure and defaults that are
    or come from those modules (``F = torch.nn.functional``, ``from course_lib.reference.pool import
    max_pool2d``), and the attributes that lead to them from their parent packages
    (``course_lib.reference``, or only ``course_lib.reference.pool`` where a sibling is allowed).
    This stops honest shortcuts, not a determined attacker: grading isolation is the grader's job.
    A function the grader calls in its judge process (``remote_judged``) is left alone: there the
    modules are absent, and the grader's own modules must stay as they are.
    """
    if getattr(fn, "remote_judged", False) is True:
        yield
        return
    saved_modules: dict[str, Any] = {}
    saved_globals: dict[str, Any] = {}
    saved_attrs: list[tuple[Any, str, Any]] = []
    saved_cells: list[tuple[Any, Any]] = []
    saved_defaults = saved_kwdefaults = None
    namespaces = [getattr(fn, "__globals__", None)]
    namespaces = [ns for ns in namespaces if isinstance(ns, dict)]
    try:
        allow = tuple(allow)
        # an allowed module's parent packages stay: ``import course_lib.reference.conv`` goes through them
        keep = {a.rsplit(".", i)[0] for a in allow for i in range(1, a.count(".") + 1)}
        blocked = [n for n in _loaded_under(tuple(prefixes)) if not _under(n, allow) and n not in keep]
        for name in blocked:
            saved_modules[name] = sys.modules[name]
            sys.modules[name] = _Blocked(name, exercise)
        for p in dict.fromkeys([*prefixes, *blocked]):
            parent_name, _, child = p.rpartition(".")
            if p in keep or _under(p, allow) or (p not in prefixes and parent_name not in keep):
                continue  # kept, or hidden already by its blocked parent
            parent = saved_modules.get(parent_name) or sys.modules.get(parent_name)
            if parent_name and parent is not None and hasattr(parent, child):
                saved_attrs.append((parent, child, getattr(parent, child)))
                setattr(parent, child, _Blocked(p, exercise))
        for ns in namespaces:
            for key, value in list(ns.items()):
                label = _is_forbidden(value, prefixes, allow)
                if label:
                    saved_globals[key] = value
                    ns[key] = _Blocked(label, exercise)
        for cell in _closure_cells(fn):
            try:
                label = _is_forbidden(cell.cell_contents, prefixes, allow)
            except ValueError:  # an empty cell
                continue
            if label:
                saved_cells.append((cell, cell.cell_contents))
                cell.cell_contents = _Blocked(label, exercise)
        defaults = getattr(fn, "__defaults__", None)
        if defaults:
            saved_defaults = defaults
            fn.__defaults__ = tuple(_Blocked(lb, exercise) if (lb := _is_forbidden(d, prefixes, allow)) else d
                                    for d in defaults)
        kwdefaults = getattr(fn, "__kwdefaults__", None)
        if kwdefaults:
            saved_kwdefaults = dict(kwdefaults)
            fn.__kwdefaults__ = {k: _Blocked(lb, exercise) if (lb := _is_forbidden(v, prefixes, allow)) else v
                                 for k, v in kwdefaults.items()}
        yield
    finally:
        if saved_defaults is not None:
            fn.__defaults__ = saved_defaults
        if saved_kwdefaults is not None:
            fn.__kwdefaults__ = saved_kwdefaults
        for cell, value in saved_cells:
            cell.cell_contents = value
        for ns in namespaces:
            ns.update(saved_globals)
        for parent, child, value in reversed(saved_attrs):
            setattr(parent, child, value)
        sys.modules.update(saved_modules)
