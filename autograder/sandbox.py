"""A sandbox for grading kernels (``course grade --sandbox``): Linux mount namespaces, no privileges.

``SafeExecute`` starts each grading kernel as

    unshare --mount --pid --fork --kill-child --mount-proc --propagation private -- \\
        python -m autograder.sandbox --hide PATH [--hide PATH ...] -- <kernel command>

and this script, as root inside the new (private) mount namespace and before the kernel exists:

1. binds the notebook's own directory to ``/mnt/nb`` (the only writable place besides the scratch
   space ``/mnt/tmp``, which is ``$TMPDIR`` and ``$HOME``) and the kernel's connection file to
   ``/mnt/connection.json``;
2. remounts every other file system read-only — the kernel cannot change ``course_lib``, the
   grader, the gradebook or anything else on disk;
3. covers each ``--hide`` path with an empty read-only tmpfs (a file with ``/dev/null``): the
   solutions, the nbgrader course directory (sources with hidden tests, the gradebook, other
   students' submissions), the output folder, the repository's git history;
4. drops every capability (``setpriv``), so the kernel cannot undo any of it, and execs the kernel
   in ``/mnt/nb`` with a private PID namespace (it cannot see or signal the grader).

What it does not do: the network is left alone (the kernel talks to nbgrader over loopback TCP),
and ``course_lib``'s reference modules stay importable (the checks' case generators use them) — a
student who rewrites the recorder to save the reference's outputs is not stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["available", "kernel_command", "main"]

NB_DIR = "/mnt/nb"
CONNECTION = "/mnt/connection.json"
SCRATCH = "/mnt/tmp"
_KEEP_WRITABLE = ("/proc", "/sys", "/dev", "/mnt")


def available() -> str | None:
    """None if kernels can be sandboxed here, else why not."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux (mount namespaces)"
    for tool in ("unshare", "mount", "setpriv"):
        if shutil.which(tool) is None:
            return f"the sandbox needs `{tool}` (util-linux)"
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "--",
                            "mount", "-t", "tmpfs", "probe", "/mnt"], capture_output=True, text=True)
    if probe.returncode != 0:
        return ("cannot create a mount namespace here (run the grader as root, or in a container with "
                f"CAP_SYS_ADMIN): {probe.stderr.strip()[:200]}")
    return None


def kernel_command(cmd: list[str], hide: list[str]) -> list[str]:
    """The kernel command ``cmd`` wrapped in the sandbox."""
    flags = [arg for path in hide for arg in ("--hide", str(path))]
    return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", "--",
            sys.executable, "-m", "autograder.sandbox", *flags, "--", *cmd]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if not point.startswith(_KEEP_WRITABLE):
            points.append(point)
    return sorted(set(points), key=len)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    hide = [argv[i + 1] for i in range(split) if argv[i] == "--hide"]
    cmd = argv[split + 1:]
    notebook_dir = os.getcwd()
    _mount("-t", "tmpfs", "-o", "size=1g,mode=755", "sandbox", "/mnt")
    os.mkdir(NB_DIR)
    _mount("--bind", notebook_dir, NB_DIR)
    if "-f" in cmd:  # ipykernel's connection file: keep it readable whatever gets hidden
        i = cmd.index("-f") + 1
        Path(CONNECTION).touch()
        _mount("--bind", "-o", "ro", cmd[i], CONNECTION)
        cmd[i] = CONNECTION
    for point in _mount_points():
        try:
            _mount("-o", "remount,bind,ro", point)
        except subprocess.CalledProcessError:
            pass  # a mount we may not touch (it stays as it was); the root file system is the one that matters
    for path in hide:
        if os.path.isdir(path):
            _mount("-t", "tmpfs", "-o", "size=1m,mode=555,ro", "hidden", path)
        elif os.path.exists(path):
            _mount("--bind", "-o", "ro", "/dev/null", path)
    # /tmp itself stays (read-only): the course may live under it. The kernel's scratch space is /mnt/tmp.
    env = dict(os.environ, HOME=f"{SCRATCH}/home", TMPDIR=SCRATCH, MPLCONFIGDIR=f"{SCRATCH}/matplotlib",
               IPYTHONDIR=f"{SCRATCH}/ipython")
    record = env.get("COURSE_JUDGE_RECORD", "")
    if record.startswith(notebook_dir):
        env["COURSE_JUDGE_RECORD"] = NB_DIR + record[len(notebook_dir):]
    os.makedirs(f"{SCRATCH}/home", exist_ok=True)
    os.chmod(SCRATCH, 0o1777)
    os.chdir(NB_DIR)
    os.execvpe("setpriv", ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *cmd], env)


if __name__ == "__main__":
    main(sys.argv[1:])
