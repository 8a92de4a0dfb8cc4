"""autograder.jail: each test fails if the protection it names were missing.

The jailed programs are this interpreter's base Python (``sys.base_prefix``, exposed read-only):
they report what they saw as JSON on stdout. Waits are on observable state (pipes, /proc), never
fixed sleeps.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import jail

REASON = jail.available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"jails cannot be made here: {REASON}")

PYTHON = os.path.join(sys.base_prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}")
PYTHON_TREE = [sys.base_prefix]
NOBODY = 65534


@dataclass
class Run:
    """What a jailed program did, and what its cgroup recorded before it was closed."""

    returncode: int
    out: str
    err: str
    oom_killed: bool
    memory_peak: int | None
    cpu_stat: dict[str, int]
    cpu_time: float | None
    wall: float

    def json(self):
        assert self.returncode == 0, f"jailed program failed ({self.returncode}): {self.err}"
        return json.loads(self.out)


def run_python(code: str, *args: str, limits: jail.Limits | None = None, readable=(), timeout: float = 60,
               **jail_kwargs) -> Run:
    """Run ``code`` with the base Python in a jail and its own cgroup; the cgroup is closed on return."""
    process, cgroup = jail.spawn([PYTHON, "-c", textwrap.dedent(code), *args], limits=limits or jail.Limits(),
                                 readable=[*PYTHON_TREE, *readable], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, **jail_kwargs)
    with cgroup:
        start = time.monotonic()
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            cgroup.close()
            process.communicate()
            raise AssertionError(f"the jailed program ran longer than {timeout} s") from None
        wall = time.monotonic() - start
        return Run(process.returncode, out.decode(), err.decode(), cgroup.oom_killed(), cgroup.memory_peak(),
                   cgroup.cpu_stat(), cgroup.cpu_time(), wall)


@pytest.fixture
def host_secrets(tmp_path):
    """Host files a jail must not see: this repository, /etc/shadow, and fresh files in /root, /home and /tmp."""
    paths = [str(Path(__file__).resolve())]
    paths += [path for path in ("/etc/shadow", "/etc/hostname") if os.path.exists(path)]
    made = []
    for directory in ("/root", "/home"):
        if os.path.isdir(directory):
            fd, name = tempfile.mkstemp(prefix="jail-secret-", dir=directory)
            os.write(fd, b"secret")
            os.close(fd)
            made.append(name)
    secret = tmp_path / "secret"
    secret.write_text("secret")
    yield [*paths, *made, str(secret)]
    for name in made:
        os.unlink(name)


SEE = """
import errno, json, os, sys
secrets, ro_dir, ro_file, work = json.loads(sys.argv[1])
seen = {"secrets": {}}
for path in secrets:
    try:
        with open(path, "rb") as file:
            file.read(1)
        seen["secrets"][path] = "read"
    except OSError as error:
        seen["secrets"][path] = error.errno
seen["root"] = sorted(os.listdir("/"))
seen["etc"] = sorted(os.listdir("/etc"))
seen["ro_dir"] = sorted(os.listdir(ro_dir))
with open(ro_file) as file:
    seen["ro_read"] = file.read()
for key, path, mode in (("ro_write", ro_file, "a"), ("ro_create", ro_dir + "/new", "w")):
    try:
        with open(path, mode) as file:
            file.write("changed")
        seen[key] = "written"
    except OSError as error:
        seen[key] = error.errno
with open(work + "/out.txt", "w") as file:
    file.write("from the jail")
print(json.dumps(seen))
"""


def test_only_listed_paths_are_visible(tmp_path, host_secrets):
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir(mode=0o777)
    ro_dir.chmod(0o777)  # only the read-only mount may stop the writes
    (ro_dir / "data.txt").write_text("course data")
    (ro_dir / "data.txt").chmod(0o666)
    (ro_dir / "notes.txt").write_text("notes")
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, NOBODY, NOBODY)
    seen = run_python(SEE, json.dumps([host_secrets, str(ro_dir), str(ro_dir / "data.txt"), "/mnt/work"]),
                      readable=[ro_dir], writable=[(work, "/mnt/work")]).json()
    assert seen["secrets"] == dict.fromkeys(host_secrets, errno.ENOENT)
    allowed_top = {"bin", "sbin", "lib", "lib32", "lib64", "usr", "etc", "proc", "dev", "tmp", "mnt",
                   *(Path(path).parts[1] for path in [*PYTHON_TREE, str(tmp_path)])}
    assert set(seen["root"]) <= allowed_top
    for private in ("home", "opt", "srv", "var", "work", "sys", "boot"):
        if private not in allowed_top:
            assert private not in seen["root"]
    assert set(seen["etc"]) <= {"passwd", "group", "ld.so.cache", "localtime"}
    assert "shadow" not in seen["etc"]
    assert seen["ro_dir"] == ["data.txt", "notes.txt"]
    assert seen["ro_read"] == "course data"
    assert seen["ro_write"] == errno.EROFS and seen["ro_create"] == errno.EROFS
    assert (ro_dir / "data.txt").read_text() == "course data" and not (ro_dir / "new").exists()
    assert (work / "out.txt").read_text() == "from the jail"
    assert (work / "out.txt").stat().st_uid == NOBODY


def test_entries_expose_a_directory_minus_some(tmp_path):
    for name in ("a.py", "b", "solutions", "__pycache__"):
        (tmp_path / "course" / name).mkdir(parents=True)
    course = tmp_path / "course"
    assert jail.entries(course, {"solutions"}) == [course / "a.py", course / "b"]
    seen = run_python("import json, os, sys; print(json.dumps(sorted(os.listdir(sys.argv[1]))))", str(course),
                      readable=jail.entries(course, {"solutions"}))
    assert seen.json() == ["a.py", "b"]


WHO = """
import json, os, socket, sys
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
seen = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "caps": {key: int(value, 16) for key, value in status.items() if key.startswith("Cap")},
        "no_new_privs": int(status["NoNewPrivs"])}
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()
    seen["connect"] = "connected"
except OSError as error:
    seen["connect"] = error.errno
seen["pids"] = sorted(int(pid) for pid in os.listdir("/proc") if pid.isdigit())
print(json.dumps(seen))
"""


def test_unprivileged_no_capabilities_no_network():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = str(server.getsockname()[1])
        seen = run_python(WHO, port).json()
        assert seen["uid"] == seen["euid"] == NOBODY and seen["gid"] == NOBODY
        assert set(seen["groups"]) <= {NOBODY}
        assert seen["caps"] and all(value == 0 for value in seen["caps"].values()), seen["caps"]
        assert seen["no_new_privs"] == 1
        assert seen["connect"] == errno.ECONNREFUSED  # a private network namespace: the host's listener is not there
        assert seen["pids"] == [1, 2], seen["pids"]  # a private PID namespace: bwrap's init and this python
        # the control: with the host's network, the same connection succeeds
        assert run_python(WHO, port, network=True).json()["connect"] == "connected"


SCRATCH = """
import json, os, sys
marker, size = sys.argv[1], int(sys.argv[2])
seen = {}
for directory in ("/tmp", "/dev/shm"):
    with open(f"{directory}/{marker}", "w") as file:
        file.write("left behind?")
    try:
        with open(f"{directory}/{marker}-big", "wb") as file:
            for _ in range(2 * size >> 20):
                file.write(bytes(1 << 20))
        seen[directory] = "fits"
    except OSError as error:
        seen[directory] = error.errno
    os.unlink(f"{directory}/{marker}-big")
seen["mqueue"] = os.path.isdir("/dev/mqueue")
print(json.dumps(seen))
"""


def test_private_size_capped_tmp_and_shm():
    marker = f"jail-{uuid.uuid4().hex}"
    limits = jail.Limits(tmp_size=4 << 20)
    seen = run_python(SCRATCH, marker, str(limits.tmp_size), limits=limits).json()
    assert seen == {"/tmp": errno.ENOSPC, "/dev/shm": errno.ENOSPC, "mqueue": True}
    assert not os.path.exists(f"/tmp/{marker}")
    assert not os.path.exists(f"/dev/shm/{marker}")


GREEDY = """
import os, select, sys
ready_r, ready_w = os.pipe()
release_r, release_w = os.pipe()
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (400 << 20)  # 400 MB, every page written
        os.write(ready_w, b"1")
        os.read(release_r, 1)  # hold it until the parent lets go
        os._exit(0)
    children.append(pid)
os.close(ready_w)
watch = {os.pidfd_open(pid): pid for pid in children}
ready = 0
while ready < 3:
    readable, _, _ = select.select([ready_r, *watch], [], [])
    for fd in readable:
        if fd == ready_r:
            ready += len(os.read(ready_r, 3))
        else:
            _, status = os.waitpid(watch[fd], 0)
            print("killed", os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, flush=True)
            sys.exit(3)
print("all allocated", flush=True)
"""


@pytest.mark.slow
def test_memory_limit_covers_all_processes():
    limits = jail.Limits(memory=1 << 30)
    done = run_python(GREEDY, limits=limits)
    assert "all allocated" not in done.out, "3 x 400 MB fitted in a 1 GiB jail"
    assert done.oom_killed or "killed 9" in done.out or done.returncode in (-9, 137), (done.out, done.err)
    assert done.memory_peak is None or done.memory_peak <= limits.memory
    # the host (this process) is fine, and so is the next jail
    assert run_python("print('fine')").out == "fine\n"


FORKS = """
import os, subprocess, sys
subprocess.run(["setsid", "sh", "-c", f"sleep {sys.argv[1]} &"], check=True)  # a daemon: double fork, new session
hold_r, hold_w = os.pipe()
forked = failed = 0
for _ in range(500):
    try:
        pid = os.fork()
    except OSError:
        failed += 1
        continue
    if pid == 0:
        os.read(hold_r, 1)  # stay alive
        os._exit(0)
    forked += 1
print(forked, failed, flush=True)
os.read(hold_r, 1)
"""


def _daemons(marker: str) -> list[int]:
    """Host pids of ``sleep <marker>`` processes."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.slow
def test_pids_limit_and_close_kills_everything():
    marker = f"1000.{uuid.uuid4().int % 10**9}"
    limits = jail.Limits(pids=32)
    process, cgroup = jail.spawn([PYTHON, "-c", textwrap.dedent(FORKS), marker], limits=limits, readable=PYTHON_TREE,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline().decode()
        assert line, process.stderr.read().decode()
        forked, failed = map(int, line.split())
        assert 0 < forked < limits.pids and failed > 0, (forked, failed)
        members = cgroup.pids()
        assert process.pid in members and len(members) >= forked
        assert len(members) <= limits.pids
        deadline = time.monotonic() + 10
        while not (daemons := _daemons(marker)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert daemons and set(daemons) <= set(members), "the daemonised sleep did not start in the cgroup"
    finally:
        cgroup.close()
    assert cgroup.pids() == []
    assert _daemons(marker) == []
    assert process.wait(timeout=10) == -9
    assert all(not directory.exists() for directory in cgroup.directories.values())
    cgroup.close()  # idempotent


BUSY = """
import time
start = time.monotonic()
while time.process_time() < 0.4:
    pass
print(time.monotonic() - start)
"""


@pytest.mark.slow
def test_cpu_limit():
    limits = jail.Limits(cpus=0.2)
    done = run_python(BUSY, limits=limits)
    inside = float(done.out)
    assert done.cpu_stat.get("nr_periods", 0) > 0, done.cpu_stat  # bandwidth control is on for the cgroup
    assert done.cpu_stat.get("nr_throttled", 0) > 0, done.cpu_stat
    # 0.4 s of CPU at 0.2 CPUs takes ~2 s (1 period of 100 ms may run unthrottled); unlimited, ~0.4 s
    assert inside >= 1.4, inside
    if done.cpu_time is not None:
        assert 0.4 <= done.cpu_time <= limits.cpus * done.wall + 0.15, (done.cpu_time, done.wall)


def test_cgroup_limits_are_written_and_closed():
    limits = jail.Limits(memory=300 << 20, pids=17, cpus=0.5)
    with jail.Cgroup(limits) as cgroup:
        dirs = cgroup.directories
        assert cgroup.pids() == []
        if cgroup.version == "v2":
            assert (dirs["memory"] / "memory.max").read_text().strip() == str(300 << 20)
            assert (dirs["pids"] / "pids.max").read_text().strip() == "17"
            assert (dirs["cpu"] / "cpu.max").read_text().split() == ["50000", "100000"]
        else:
            assert int((dirs["memory"] / "memory.limit_in_bytes").read_text()) == 300 << 20
            if (dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
                assert int((dirs["memory"] / "memory.memsw.limit_in_bytes").read_text()) == 300 << 20
            assert (dirs["pids"] / "pids.max").read_text().strip() == "17"
            assert int((dirs["cpu"] / "cpu.cfs_quota_us").read_text()) == 50000
            assert int((dirs["cpu"] / "cpu.cfs_period_us").read_text()) == 100000
        assert all(directory.name == cgroup.name for directory in dirs.values())
        assert all(directory.parent.name == jail.CGROUP_PARENT for directory in dirs.values())
    assert not any(directory.exists() for directory in dirs.values())


def test_jail_command_checks_paths(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match=str(missing)):
        jail.jail_command(["true"], readable=[missing])
    with pytest.raises(ValueError, match=str(missing)):
        jail.jail_command(["true"], readable=[], writable=[(missing, "/mnt/work")])
    with pytest.raises(ValueError, match="absolute"):
        jail.jail_command(["true"], readable=[], writable=[(tmp_path, "work")])
    with pytest.raises(ValueError, match="whole host"):
        jail.jail_command(["true"], readable=["/"])
    with pytest.raises(ValueError):
        jail.Limits(pids=0)


def test_available(monkeypatch):
    assert jail.available() is None
    monkeypatch.setattr(jail, "bwrap", lambda: None)
    reason = jail.available()
    assert isinstance(reason, str) and "bubblewrap" in reason
