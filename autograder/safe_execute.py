"""nbgrader's ``Execute`` preprocessor, hardened for notebooks that hang or kill their kernel.

nbgrader alone loses every grade of a notebook whose kernel dies (``os._exit``, a segfault, the
memory limit) and, on a loop that ignores Ctrl-C, waits out the cell timeout of every remaining
cell. :class:`SafeExecute` runs the notebook against one deadline for the whole notebook; when the
deadline passes it kills the kernel. In both cases the cell that was running gets an error output
saying why, every later code cell gets a "not run" error, and execution returns normally — so
nbgrader's own ``SaveAutoGrades`` keeps the points of the exercises that finished and records 0,
with the reason, for the rest.

It is plugged into ``nbgrader autograde`` by the generated ``nbgrader_config.py``
(``c.Autograde.autograde_preprocessors``), replacing ``Execute`` and nothing else.

It also switches the kernel's checks to *recording* (``course_lib.testing.judge``): the check cells
save the student's outputs to ``.judge/`` next to the graded notebook, and the grader compares
them with the reference in its own process — the kernel judges nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Unicode

from course_lib.testing.judge import RECORD_ENV

__all__ = ["JUDGE_DIR", "SafeExecute", "TimeLimitReached"]

#: Where a graded notebook's kernel records its outputs, next to the notebook.
JUDGE_DIR = ".judge"


class TimeLimitReached(Exception):
    """The notebook's time budget ran out while a cell was running."""


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SafeExecute(Execute):
    """Execute with a per-notebook time limit; a dead or stopped kernel costs only the unfinished cells."""

    notebook_timeout = Float(300.0, help="Seconds the whole notebook may run; then the kernel is killed.").tag(
        config=True)

    judge = Bool(True, help="Record outputs for the out-of-kernel judge instead of judging in the kernel.").tag(
        config=True)
    sandbox = Bool(False, help="Run each kernel in autograder.sandbox (read-only file systems, hidden paths, "
                               "no capabilities).").tag(config=True)
    sandbox_hide = Unicode("", help="os.pathsep-separated paths the sandboxed kernel must not see.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        if self.judge:
            # a fresh record directory per notebook (a submitted .judge/ folder is discarded); the kernel
            # inherits the variable when it starts below
            where = Path((resources or {}).get("metadata", {}).get("path") or ".").absolute() / JUDGE_DIR
            shutil.rmtree(where, ignore_errors=True)
            os.environ[RECORD_ENV] = str(where)
        else:
            os.environ.pop(RECORD_ENV, None)
        sockets = None
        if self.sandbox:
            from .sandbox import kernel_command

            hide = [p for p in self.sandbox_hide.split(os.pathsep) if p]
            # The sandboxed kernel has no network: it talks to us over unix sockets in a private
            # directory (short path: a socket path is limited to ~107 bytes), bound into its sandbox.
            sockets = tempfile.mkdtemp(prefix="course-kernel-")

            class SandboxedKernelManager(AsyncKernelManager):
                def __init__(self, **kwargs):
                    super().__init__(**kwargs)
                    self.transport = "ipc"
                    self.ip = os.path.join(sockets, "k")

                def format_kernel_cmd(self, extra_arguments=None):
                    return kernel_command(super().format_kernel_cmd(extra_arguments), hide)

            self.kernel_manager_class = SandboxedKernelManager
        self._deadline = time.monotonic() + self.notebook_timeout
        self._index = -1
        self.timeout_func = self._remaining
        self.shutdown_kernel = "immediate"  # a kernel stuck in a loop would ignore a polite shutdown
        try:
            return super().preprocess(nb, resources, km)
        except TimeLimitReached:
            self._stop(nb, "TimeLimit", f"time limit: the notebook ran longer than {self.notebook_timeout:.0f} s "
                       "and was stopped in this cell", "time limit reached")
        except DeadKernelError:
            self._stop(nb, "KernelDied", "the kernel died while running this cell (os._exit, a crash, or the "
                       "memory limit)", "the kernel died")
        finally:
            if sockets is not None:
                shutil.rmtree(sockets, ignore_errors=True)
        return nb, self.resources

    def preprocess_cell(self, cell, resources, index):
        self._index = index
        return super().preprocess_cell(cell, resources, index)

    def _remaining(self, cell) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeLimitReached()
        return max(left, 1.0)

    async def _async_handle_timeout(self, timeout, cell=None):
        # Called when a cell outlives the remaining budget. Do not interrupt and go on, as nbclient
        # would: a loop that ignores SIGINT would then stall every later cell. Stop here; the kernel
        # is killed when setup_kernel() exits.
        raise TimeLimitReached()

    def _stop(self, nb, ename: str, evalue: str, why: str) -> None:
        """Record the error in the running cell and mark every later code cell as not run."""
        index = max(self._index, 0)
        where = f"cell {index}"
        gid = nb.cells[index].metadata.get("nbgrader", {}).get("grade_id") if index < len(nb.cells) else None
        if gid:
            where += f" ({gid})"
        self.log.warning("%s in %s: later cells are not run", why, where)
        if index < len(nb.cells) and nb.cells[index].cell_type == "code":
            nb.cells[index].setdefault("outputs", []).append(_error(ename, evalue))
        for cell in nb.cells[index + 1:]:
            if cell.cell_type == "code":
                cell.outputs = [_error("NotRun", f"not run: {why} in {where}")]
