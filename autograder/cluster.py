"""``course grade --cluster``: grading a class on a Dask cluster, one task per submission.

The client (``course grade``) keeps everything that is written: grades.csv, the gradebook, feedback,
the report and the cache that lets a batch resume. Each task carries what a worker needs — the
chapter's nbgrader source and gradebook (a :class:`Bundle`, sent to the workers once) and one
student's notebook — and a worker grades it with the very function the local pool uses
(:func:`autograder.grading._grade_batch`, in a fresh nbgrader folder of its own, sandboxed as the
local path is) and sends back the scores, the reasons, the graded notebook and the feedback HTML.
Workers need no shared file system and no database.

Faults are Dask's: a task whose worker dies is run again on another worker; a notebook that kills
its worker more than ``allowed-failures`` times (``local:N`` sets 1: twice) is graded 0 with the
reason, and the batch goes on. A worker whose course build (course_lib and autograder, see
:func:`build_identity`) differs from the client's is refused: it is told to leave the cluster and
its task is graded elsewhere; a mismatched build never grades.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["BuildMismatch", "Bundle", "build_identity", "grade_on_cluster", "grade_task", "run_worker"]

#: Times a notebook may end its worker before it is graded 0 (Dask's allowed-failures) with ``local:N``.
ALLOWED_FAILURES = 1


class BuildMismatch(RuntimeError):
    """A worker's course build is not the client's."""


def build_identity() -> str:
    """A digest of this installation's grading code: ``course_lib`` (the references, the checks) and
    ``autograder`` (the judge, the sandbox, the pipeline). Two machines grade alike when it agrees."""
    import autograder
    import course_lib

    digest = hashlib.sha256()
    for package in (course_lib, autograder):
        root = Path(package.__file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts or "build" in path.relative_to(root).parts[:1]:
                continue
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Bundle:
    """What every task of one grading run needs besides the student's notebook."""

    identity: str                 # the client's build_identity()
    sources: dict[str, str]       # chapter → its nbgrader source notebook (the tests), as JSON text
    gradebook: bytes              # the course's built gradebook (assignments, notebooks, cells)
    seeds: dict[str, int]         # the run's secret seeds
    timeout: float
    memory_limit: int | None
    sandbox: bool


def grade_task(bundle: Bundle, student: str, chapter: str, notebook: str, note: str = "") -> dict:
    """Grade one notebook on this worker; returns the result, the graded notebook and the feedback.

    Raises:
        BuildMismatch: this worker's course build is not the client's.
    """
    import nbformat

    from .grading import _feedback, _grade_batch, configure
    from .results import graded_cells, written_cells
    from .submissions import Submission

    if bundle.sandbox:
        from .sandbox import available

        if (why := available()) is not None:
            raise RuntimeError(f"this worker cannot sandbox the grading: {why}")
    mine = build_identity()
    if mine != bundle.identity:
        from distributed import get_worker

        raise BuildMismatch(f"worker {get_worker().address}: its course build is {mine}, the client's "
                            f"{bundle.identity}")
    with tempfile.TemporaryDirectory(prefix="course-task-") as tmp:
        work, inbox, out = Path(tmp) / "course", Path(tmp) / "in", Path(tmp) / "feedback"
        configure(work, bundle.timeout, bundle.seeds, bundle.sandbox, bundle.memory_limit)
        source = work / "source" / chapter / f"{chapter}.ipynb"
        source.parent.mkdir(parents=True)
        source.write_text(bundle.sources[chapter])
        (work / "gradebook.db").write_bytes(bundle.gradebook)
        inbox.mkdir()
        path = inbox / f"{chapter}.ipynb"
        path.write_text(notebook)
        nb = nbformat.read(source, as_version=4)
        cells = {chapter: graded_cells(nb) + written_cells(nb)}
        [result] = _grade_batch(work, [Submission(student, chapter, path, note)], cells, bundle.timeout,
                                bundle.memory_limit, lambda _: None)
        _feedback(work, [chapter], [result], out)
        graded = work / "autograded" / student / chapter / f"{chapter}.ipynb"
        html = out / student / f"{chapter}.html"
        return {"result": {k: v for k, v in asdict(result).items() if k not in ("feedback", "cached")},
                "graded": graded.read_text() if graded.exists() else None,
                "feedback": html.read_text() if html.exists() else None,
                "worker": os.uname().nodename}


def run_worker(address: str, processes: int, extra: list[str]) -> None:
    """Replace this process by ``dask worker ADDRESS``: one thread per worker process (a grading
    runs one notebook at a time, as the local pool does), ``processes`` of them, named after this
    machine. Each checks its build against the client's on every task."""
    args = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
            "--nworkers", str(max(1, processes)), *extra]
    os.execv(sys.executable, args)


def _refuse_mismatched(client, identity: str) -> list[str]:
    """Ask every worker for its build; tell the mismatched ones to leave. Returns their addresses."""
    builds = client.run(build_identity)
    wrong = sorted(addr for addr, theirs in builds.items() if theirs != identity)
    for addr in wrong:
        print(f"Refused worker {addr}: its course build {builds[addr]} is not this one's {identity} — install "
              "the same version of the course there (a mismatched build never grades).", flush=True)
    if wrong:
        client.retire_workers(workers=wrong, close_workers=True)
    return wrong


def grade_on_cluster(address: str, work: Path, todo: list, seeds: dict[str, int], timeout: float,
                     memory_limit: int | None, sandbox: bool, cells: dict, done, progress: bool = True) -> dict:
    """Grade ``todo`` ([(index, Submission)]) on the Dask cluster at ``address`` (``tcp://host:8786``,
    or ``local:N`` for a LocalCluster of N one-thread worker processes). ``work`` is the client's
    prepared nbgrader folder (sources and gradebook). Returns index → (StudentResult, graded notebook
    text or None, feedback HTML or None); ``done`` sees each result as it arrives."""
    import dask
    from distributed import Client, KilledWorker, LocalCluster, as_completed

    from .course import CourseError
    from .grading import _zero
    from .results import ExerciseResult, StudentResult
    from .submissions import read_submitted

    cluster = None
    if address.startswith("local:"):
        n = int(address.split(":", 1)[1] or 1)
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(address, timeout="60s")
    out: dict[int, tuple] = {}
    try:
        if progress:
            print(f"Grading on the Dask cluster {client.scheduler.address}; dashboard: {client.dashboard_link}",
                  flush=True)
        identity = build_identity()
        _refuse_mismatched(client, identity)
        if not client.scheduler_info()["workers"]:
            raise CourseError(f"no worker with this course build ({identity}) at {address}: start "
                              f"`course worker {address}` on a grading machine")
        chapters = sorted({sub.chapter for _, sub in todo})
        bundle = Bundle(identity, {ch: (work / "source" / ch / f"{ch}.ipynb").read_text() for ch in chapters},
                        (work / "gradebook.db").read_bytes(), {ch: int(seeds[ch]) for ch in chapters}, float(timeout),
                        memory_limit, bool(sandbox))
        [shared] = client.scatter([bundle], broadcast=True)
        futures: dict = {}
        for i, sub in todo:
            try:
                text = read_submitted(sub.path)
            except (ValueError, UnicodeDecodeError) as err:  # the local path's words for an unreadable file
                result = _zero(StudentResult(sub.student, sub.chapter, notes=[sub.note] if sub.note else []),
                               cells[sub.chapter], f"not a valid notebook ({type(err).__name__}: {str(err)[:200]})")
                out[i] = (result, None, None)
                done(result)
                continue
            futures[client.submit(grade_task, shared, sub.student, sub.chapter, text, sub.note, pure=False)] = (i, sub,
                                                                                                               text, 0)
        pending = as_completed(list(futures))
        for future in pending:
            i, sub, text, refusals = futures.pop(future)
            try:
                payload = future.result()
            except BuildMismatch as err:  # a worker that joined after the check: refused, graded elsewhere
                print(f"Refused a worker: {err}", flush=True)
                _refuse_mismatched(client, identity)
                if refusals >= 3 or not client.scheduler_info()["workers"]:
                    raise CourseError(f"no worker with this course build ({identity}) is left at {address}") from None
                again = client.submit(grade_task, shared, sub.student, sub.chapter, text, sub.note, pure=False)
                futures[again] = (i, sub, text, refusals + 1)
                pending.add(again)
                continue
            except KilledWorker:
                result = _zero(StudentResult(sub.student, sub.chapter), cells[sub.chapter],
                               "grading this notebook ended its grading worker "
                               f"{dask.config.get('distributed.scheduler.allowed-failures') + 1} times: graded 0")
                out[i] = (result, None, None)
            except Exception as err:  # noqa: BLE001 - one notebook's failure must not stop the batch
                result = _zero(StudentResult(sub.student, sub.chapter), cells[sub.chapter],
                               f"grading failed on the cluster ({type(err).__name__}: {str(err)[:300]})")
                out[i] = (result, None, None)
            else:
                data = dict(payload["result"])
                data["exercises"] = [ExerciseResult(**e) for e in data["exercises"]]
                result = StudentResult(**data)
                out[i] = (result, payload["graded"], payload["feedback"])
            done(result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return out
