"""The grading kernel's sandbox: the same allow-list jail as the judge's (:mod:`autograder.jail`).

When a class is graded (the default of ``course grade``), ``SafeExecute`` starts each notebook's
kernel as

    python -m autograder.sandbox CGROUP.procs... -- bwrap ... -- setpriv ... -- python -m ipykernel_launcher -f ...

This launcher moves itself into the notebook's cgroup (memory over all its processes, a process
count, CPU) and execs bubblewrap, which runs the kernel as ``nobody`` without capabilities or
network, with private ``/tmp``, ``/dev/shm`` and ``/dev/mqueue``, in a file system that holds only
the system directories, the Python environment, ``course_lib`` (the kernel runs the notebook's
experiments, so the references are there: this kernel judges nothing), the notebook's own working
copy (writable) and the directory of its unix sockets. Not the solutions, the course build, the
gradebook, git, other submissions, other courses or anyone's home. The kernel talks to nbgrader over
those unix sockets (``transport = ipc``), which cross the network namespace.

When the kernel ends, ``SafeExecute`` closes the cgroup: every process the notebook started dies
with it (a daemon that ``setsid``-ed away included).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["KernelJail", "available", "main"]


def available() -> str | None:
    """None if notebooks can be sandboxed here, else why not."""
    from .jail import available as jail_available

    return jail_available()


def _env(connection_dir: str) -> dict[str, str]:
    """The kernel's environment: what a notebook needs, nothing of the grader's (no tokens, no URLs)."""
    keep = ("LANG", "LC_ALL", "LC_CTYPE", "MPLBACKEND", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONHASHSEED", "COURSE_GRADING", "PATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/matplotlib", IPYTHONDIR="/tmp/ipython",
               USER="nobody", LOGNAME="nobody", JUPYTER_RUNTIME_DIR=connection_dir)
    return env


class KernelJail:
    """The jail of one notebook's kernel: its cgroup, and the command that starts the kernel in it.

    Args:
        notebook_dir: The working copy nbgrader runs the notebook in (handed to ``nobody``).
        sockets: A private directory for the kernel's unix sockets and its connection file.
        limits: :class:`autograder.jail.Limits` of the whole notebook.
    """

    def __init__(self, notebook_dir: str, sockets: str, limits) -> None:
        from .jail import Cgroup, nobody

        self.notebook_dir, self.sockets, self.limits = os.path.abspath(notebook_dir), sockets, limits
        self.uid, self.gid = nobody()
        self.cgroup = Cgroup(limits)
        info = os.stat(self.notebook_dir, follow_symlinks=False)
        self._owner = (info.st_uid, info.st_gid, info.st_mode & 0o7777)
        for path in (self.notebook_dir, self.sockets):
            os.chown(path, self.uid, self.gid)
        for entry in os.scandir(self.notebook_dir):  # nbgrader's fresh copy: the notebook only
            os.chown(entry.path, self.uid, self.gid, follow_symlinks=False)

    def command(self, cmd: list[str]) -> list[str]:
        """The kernel command ``cmd`` (``... -f CONNECTION_FILE``), jailed."""
        from .jail import jail_command
        from .judge import judge_view

        cmd = list(cmd)
        if "-f" in cmd:  # the connection file, readable by the kernel's user, in its socket directory
            i = cmd.index("-f") + 1
            target = os.path.join(self.sockets, "connection.json")
            shutil.copyfile(cmd[i], target)
            os.chown(target, self.uid, self.gid)
            os.chmod(target, 0o400)
            cmd[i] = target
        view = judge_view(())
        jailed = jail_command(cmd, readable=view.readable, hidden=view.hidden, cwd=self.notebook_dir,
                              env=_env(self.sockets),
                              uid=self.uid, gid=self.gid, limits=self.limits,
                              writable=[(self.notebook_dir, self.notebook_dir), (self.sockets, self.sockets)])
        procs = [str(d / "cgroup.procs") for d in {*self.cgroup.directories.values()}]
        return [sys.executable, "-I", "-m", "autograder.sandbox", *procs, "--", *jailed]

    def close(self) -> None:
        """Kill whatever the notebook left running and remove the cgroup; then give the working copy
        back to its owner, so that when nbgrader writes the graded notebook there, only the grader can
        write in that folder (the kernel's user could still, were it not handed back)."""
        self.cgroup.close()
        uid, gid, mode = self._owner
        try:
            os.chown(self.notebook_dir, uid, gid, follow_symlinks=False)
            os.chmod(self.notebook_dir, mode & 0o755, follow_symlinks=False)
        except OSError:  # never a reason to lose the grade; the folder is emptied before nbgrader writes
            pass

    def oom_killed(self) -> bool:
        return self.cgroup.oom_killed()


def main(argv: list[str]) -> None:
    """Join the cgroup(s) named by their ``cgroup.procs`` files, then exec the jail."""
    split = argv.index("--")
    for procs in argv[:split]:
        if not procs.endswith("/cgroup.procs") or not procs.startswith("/sys/fs/cgroup/"):
            raise SystemExit(f"not a cgroup.procs file: {procs}")
        Path(procs).write_text(str(os.getpid()))
    cmd = argv[split + 1:]
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
