"""Students' functions for the check tests: the reference's source, re-executed outside course_lib.

A check refuses the reference object itself (and anything from its module), so a test that wants a
correct — or deliberately broken — "student" function executes the reference's source in a fresh
namespace, after the helpers it calls.
"""

from __future__ import annotations

import inspect
import textwrap

import numpy as np


def reference_copy(module, name: str, helpers=(), mutate: tuple[str, str] | None = None):
    """``module.name`` re-created from its source, with ``mutate = (old, new)`` applied to that source.

    ``helpers`` are (module, function name) pairs executed first, in order, into the same namespace."""
    src = textwrap.dedent(inspect.getsource(getattr(module, name)))
    if mutate:
        assert mutate[0] in src, f"{mutate[0]!r} is not in {name}'s source"
        src = src.replace(*mutate)
    ns = {"np": np, "__name__": "student"}
    for helper_module, helper in helpers:
        exec(textwrap.dedent(inspect.getsource(getattr(helper_module, helper))), ns)  # noqa: S102
    exec(src, ns)  # noqa: S102
    return ns[name]
