"""A sandbox for grading kernels (``course grade --sandbox``): Linux namespaces, no privileges.

``SafeExecute`` starts each grading kernel as

    unshare --mount --pid --net --fork --kill-child --mount-proc --propagation private -- \\
        python -m autograder.sandbox --hide PATH [--hide PATH ...] -- <kernel command>

and this script, as root inside the new (private) namespaces and before the kernel exists:

1. binds the notebook's own directory (the grader's working copy of one submission) to ``/mnt/nb``
   — the only writable place besides the scratch space ``/mnt/tmp``, which is ``$TMPDIR`` and
   ``$HOME`` — and the directory of the kernel's unix sockets to ``/mnt/sock``; writes the kernel's
   connection file, pointing at ``/mnt/sock``, to ``/mnt/connection.json``;
2. remounts every other file system read-only — the kernel cannot change ``course_lib``, the
   grader, the gradebook or anything else on disk;
3. covers each ``--hide`` path with an empty read-only tmpfs (a file with ``/dev/null``): the
   solutions, the nbgrader course directory (sources with hidden tests, the gradebook, other
   students' submissions), the output folder, the repository's git history;
4. hands the working copy and the scratch space to the unprivileged user ``nobody`` and execs the
   kernel in ``/mnt/nb`` as that user, with no capabilities (``setpriv``), so it cannot undo any of
   it, cannot write root-owned files such as devices, and cannot see or signal the grader (private
   PID namespace).

The kernel has no network (a new network namespace with only a loopback that is down): no
downloads, no connection to a PostgreSQL gradebook or any other service. It talks to the grader
over unix sockets (``transport = ipc``), which are files and so cross the network namespace.

What it does not do: ``course_lib``'s reference modules stay importable (the notebooks' experiments
and the checks' case generators use them) — a student who rewrites the recorder to save the
reference's outputs is not stopped.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["available", "kernel_command", "main"]

NB_DIR = "/mnt/nb"
CONNECTION = "/mnt/connection.json"
SOCKETS = "/mnt/sock"
SCRATCH = "/mnt/tmp"
#: ``unshare`` flags: new mount, PID and network namespaces.
_UNSHARE = ["unshare", "--mount", "--pid", "--net", "--fork"]
_KEEP_WRITABLE = ("/proc", "/sys", "/dev", "/mnt")


def _nobody() -> tuple[int, int]:
    """uid and gid the kernel runs as."""
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _as_nobody() -> list[str]:
    uid, gid = _nobody()
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def available() -> str | None:
    """None if kernels can be sandboxed here, else why not."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux (namespaces)"
    for tool in ("unshare", "mount", "setpriv"):
        if shutil.which(tool) is None:
            return f"the sandbox needs `{tool}` (util-linux)"
    probe = subprocess.run([*_UNSHARE, "--propagation", "private", "--", "mount", "-t", "tmpfs", "probe", "/mnt"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return ("cannot create mount and network namespaces here (run the grader as root, or in a container "
                f"with CAP_SYS_ADMIN): {probe.stderr.strip()[:200]}")
    # the kernel runs as `nobody`: it must be able to read this Python and the course
    probe = subprocess.run([*_as_nobody(), sys.executable, "-c", "import ipykernel, course_lib"], cwd="/",
                           capture_output=True, text=True, env=dict(os.environ, HOME="/"))
    if probe.returncode != 0:
        return (f"the grading kernel runs as the unprivileged user `nobody`, who cannot import the course here "
                f"({probe.stderr.strip().splitlines()[-1][:200] if probe.stderr.strip() else 'no output'}): "
                "put the course and its Python environment where every user may read them")
    return None


def kernel_command(cmd: list[str], hide: list[str]) -> list[str]:
    """The kernel command ``cmd`` wrapped in the sandbox."""
    flags = [arg for path in hide for arg in ("--hide", str(path))]
    return [*_UNSHARE, "--kill-child", "--mount-proc", "--propagation", "private", "--",
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


def _give(path: str, uid: int, gid: int) -> None:
    """chown -R ``path`` (the working copy of one submission) to the kernel's user."""
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _connection(source: str, uid: int, gid: int) -> None:
    """The kernel's connection file, for the kernel's side of the sandbox: unix sockets in /mnt/sock."""
    info = json.loads(Path(source).read_text())
    if info.get("transport") == "ipc":
        os.mkdir(SOCKETS)
        sockets = os.path.dirname(info["ip"])
        _mount("--bind", sockets, SOCKETS)
        os.chown(SOCKETS, uid, gid)
        info["ip"] = os.path.join(SOCKETS, os.path.basename(info["ip"]))
    Path(CONNECTION).write_text(json.dumps(info))
    os.chown(CONNECTION, uid, gid)
    os.chmod(CONNECTION, 0o400)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    hide = [argv[i + 1] for i in range(split) if argv[i] == "--hide"]
    cmd = argv[split + 1:]
    notebook_dir = os.getcwd()
    uid, gid = _nobody()
    _mount("-t", "tmpfs", "-o", "size=1g,mode=755", "sandbox", "/mnt")
    os.mkdir(NB_DIR)
    _mount("--bind", notebook_dir, NB_DIR)
    _give(NB_DIR, uid, gid)
    if "-f" in cmd:  # ipykernel's connection file: keep it readable whatever gets hidden
        i = cmd.index("-f") + 1
        _connection(cmd[i], uid, gid)
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
               IPYTHONDIR=f"{SCRATCH}/ipython", USER="nobody", LOGNAME="nobody")
    record = env.get("COURSE_JUDGE_RECORD", "")
    if record.startswith(notebook_dir):
        env["COURSE_JUDGE_RECORD"] = NB_DIR + record[len(notebook_dir):]
    os.makedirs(f"{SCRATCH}/home", exist_ok=True)
    os.chmod(SCRATCH, 0o1777)
    os.chown(f"{SCRATCH}/home", uid, gid)
    os.chdir(NB_DIR)
    os.execvpe("setpriv", [*_as_nobody(), *cmd], env)


if __name__ == "__main__":
    main(sys.argv[1:])
