"""An nbgrader feedback preprocessor that keeps hidden tests hidden.

nbgrader's feedback HTML shows the autograded notebook, in which the hidden tests were restored:
their source, and tracebacks that quote it. This preprocessor (configured in ``course.write_config``)
removes the hidden-test regions from graded cells and shortens error outputs to the exception's
message — the reason stays, the hidden source goes.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["HideHiddenTests", "strip_hidden"]

_HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_hidden(source: str) -> str:
    """``source`` without its ``### BEGIN/END HIDDEN TESTS`` regions."""
    return _HIDDEN.sub("# (hidden tests ran here)\n", source).rstrip("\n")


class HideHiddenTests(Preprocessor):
    """Remove hidden-test source and tracebacks from graded cells before feedback is rendered."""

    enabled = Bool(True)  # nbconvert's default is False: a registered preprocessor would not run

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = strip_hidden(cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {_ANSI.sub('', str(out.get('evalue', '')))}"]
        return cell, resources
