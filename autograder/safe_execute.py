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

The kernel runs with ``$COURSE_GRADING`` set: its check cells check nothing (they print that the
grader checks). The kernel's run is for the feedback and formgrader; the scores come from
:class:`autograder.verdicts.JudgeVerdicts`, the next step of the pipeline, which calls the student's
functions in a process of the grader's own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Int

from course_lib.testing import GRADING_ENV

__all__ = ["SKIP_TAG", "SafeExecute", "TimeLimitReached"]


#: Tag of an instructor's cell whose output means nothing in feedback: an experiment that does not use
#: the student's code (a training run of the course's own models), or a widget (no live kernel behind
#: it, and widget output is dropped from graded notebooks anyway). The grading kernel does not run it,
#: the feedback says so. It changes no score — the judge never runs such cells — only the time a class
#: takes to grade.
SKIP_TAG = "skip-when-grading"
SKIPPED = ("(not run while grading: an experiment that does not use your code, or a widget — its output is "
           "in your own run of the notebook)\n")


class TimeLimitReached(Exception):
    """The notebook's time budget ran out while a cell was running."""


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SafeExecute(Execute):
    """Execute with a per-notebook time limit; a dead or stopped kernel costs only the unfinished cells."""

    notebook_timeout = Float(300.0, help="Seconds the whole notebook may run; then the kernel is killed.").tag(
        config=True)

    sandbox = Bool(False, help="Run each kernel in autograder.sandbox (an allow-list bubblewrap jail, user nobody, "
                               "no network, cgroup limits).").tag(config=True)
    memory = Int(6 << 30, help="Memory limit (bytes) of a sandboxed notebook, all its processes together.").tag(
        config=True)
    pids = Int(512, help="Processes and threads a sandboxed notebook may have.").tag(config=True)
    cpus = Float(1.0, help="CPUs a sandboxed notebook may use.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        was = os.environ.get(GRADING_ENV)
        os.environ[GRADING_ENV] = "1"  # the kernel inherits it when it starts below (put back at the end)
        sockets = jail = None
        if self.sandbox:
            from .jail import Limits
            from .sandbox import KernelJail

            # The sandboxed kernel has no network: it talks to us over unix sockets in a private
            # directory (short path: a socket path is limited to ~107 bytes), bound into its jail.
            sockets = tempfile.mkdtemp(prefix="course-kernel-")
            where = (resources or {}).get("metadata", {}).get("path") or "."
            jail = KernelJail(where, sockets, Limits(memory=self.memory, pids=self.pids, cpus=self.cpus))

            class SandboxedKernelManager(AsyncKernelManager):
                def __init__(self, **kwargs):
                    super().__init__(**kwargs)
                    self.transport = "ipc"
                    self.ip = os.path.join(sockets, "k")

                def format_kernel_cmd(self, extra_arguments=None):
                    return jail.command(super().format_kernel_cmd(extra_arguments))

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
        except Exception as err:  # the kernel is the student's: whatever it sends must not stop the grading
            self.log.warning("the kernel failed: %s: %s", type(err).__name__, str(err)[:300])
            self._stop(nb, "KernelFailed", f"the kernel failed while running this cell ({type(err).__name__}: "
                       f"{str(err)[:200]})", "the kernel failed")
        finally:
            if jail is not None:
                if jail.oom_killed():
                    self.log.warning("the notebook reached its memory limit")
                used = jail.cgroup.cpu_time()  # what the kernel cost: JudgeVerdicts records it
                if resources is not None:
                    resources["course_kernel_cpu_seconds"] = None if used is None else round(used, 2)
                jail.close()  # every process the notebook started ends here
            if sockets is not None:
                shutil.rmtree(sockets, ignore_errors=True)
            if was is None:  # this process's own checks must go on checking (self-study, tests)
                os.environ.pop(GRADING_ENV, None)
            else:
                os.environ[GRADING_ENV] = was
        return nb, self.resources

    def preprocess_cell(self, cell, resources, index):
        self._index = index
        if cell.cell_type == "code" and SKIP_TAG in cell.metadata.get("tags", []):
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=SKIPPED)]
            cell.execution_count = None
            return cell, resources
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
