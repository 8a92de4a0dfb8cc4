"""The judge's verdict as a step of nbgrader's own autograde pipeline.

``nbgrader autograde`` runs, per notebook: sanitize (nbgrader puts back the instructor's test and
locked cells), then :class:`StartJudge` (the judge starts on the notebook's code in a thread), then
:class:`~autograder.safe_execute.SafeExecute` (the student's kernel runs the whole notebook — for
the feedback and formgrader only: it judges nothing) side by side with the judge, then
:class:`JudgeVerdicts` (waits for the judge's verdicts), then nbgrader's ``SaveAutoGrades``.

:class:`JudgeVerdicts` calls :func:`autograder.judge.judge_notebook` (the student's functions in a
process of the grader's, sandboxed when grading a class) and writes each test cell's outputs from
its verdict: one line saying every check passed, or a ``CheckFailure`` error with the reason. So
``SaveAutoGrades`` stores the right score itself — nothing patches the gradebook afterwards — and
whatever the kernel printed in a test cell is gone. The run's secret seed and the judge's notes
(added cells that failed) go into the notebook's ``metadata.course.judge``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Float, Int, Unicode

__all__ = ["PASSED", "JudgeVerdicts", "StartJudge", "apply_verdicts", "clean_outputs", "clean_workdir"]

PASSED = "✔ all visible and hidden checks passed (judged by the grader)\n"
#: Bytes of text one output may keep in the graded notebook (feedback, formgrader).
MAX_OUTPUT_BYTES = 20_000
#: What an instructor's cell may show besides text: pictures (rendered as data, never as markup).
_PICTURES = ("image/png", "image/jpeg")
_NOTE = "\n… [output cut by the grader at {} bytes]\n"


def _cap(text: str, limit: int = MAX_OUTPUT_BYTES) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + _NOTE.format(limit)


def _instructor_cells(source: nbformat.NotebookNode) -> set[str]:
    return {c.source.strip() for c in source.cells}


def clean_outputs(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> None:
    """Make the graded notebook safe to show staff (formgrader) and students (feedback HTML).

    - every output is cut to :data:`MAX_OUTPUT_BYTES` of text (a 30 MB line stays 20 kB);
    - the student's cells (solutions, added or changed cells) keep only ``text/plain`` outputs:
      no HTML, JavaScript, SVG or widgets from code the student wrote;
    - the instructor's own cells (unchanged from the source) may keep pictures too;
    - markdown the student wrote is escaped, so ``<script>`` or ``<img onerror=…>`` shows as text.
    """
    import html

    mine = _instructor_cells(source)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        instructors = (meta.get("locked") and not meta.get("solution")) or (
            not meta.get("grade_id") and cell.source.strip() in mine)
        if cell.cell_type == "markdown" and not instructors:
            cell.source = html.escape(cell.source, quote=False)
            cell.attachments = {}
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                out["text"] = _cap(str(out.get("text", "")))
            elif kind == "error":
                out["ename"] = _cap(str(out.get("ename", "Error")), 200)
                out["evalue"] = _cap(str(out.get("evalue", "")), 4000)
                out["traceback"] = [_cap("\n".join(str(t) for t in out.get("traceback", [])), 8000)]
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                allowed = ("text/plain", *(_PICTURES if instructors else ()))
                out["data"] = {k: (_cap(str(v)) if k == "text/plain" else v) for k, v in data.items()
                               if k in allowed and (k == "text/plain" or len(str(v)) <= 2_000_000)}
                out["metadata"] = {}
                if not out["data"]:
                    continue
            else:
                continue
            kept.append(out)
        cell.outputs = kept


def clean_workdir(directory: Path) -> list[str]:
    """Delete everything in the notebook's working copy, without following links: the student's
    kernel may have left links (to /dev/zero, to a root-owned file, to another student's folder),
    FIFOs or huge files there, and nbgrader then writes the graded notebook into this folder and
    copies it into the feedback. The notebook's own copy goes too (it was the kernel's file): nbgrader
    writes a fresh one, as the grader, into a folder only the grader can write."""
    import shutil
    import stat

    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry.path)  # does not follow links inside
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            pass
    return removed


def apply_verdicts(notebook: nbformat.NotebookNode, verdicts: dict[str, str | None]) -> None:
    """Replace the outputs of each judged test cell with its verdict."""
    for cell in notebook.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or gid not in verdicts:
            continue
        if verdicts[gid]:
            cell.outputs = [nbformat.from_dict({"output_type": "error", "ename": "CheckFailure",
                                                "evalue": verdicts[gid],
                                                "traceback": [f"CheckFailure: {verdicts[gid]}"]})]
        else:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=PASSED)]


#: Judgements started by :class:`StartJudge`, by (student, assignment, notebook), taken by JudgeVerdicts.
_STARTED: dict[tuple[str, str, str], concurrent.futures.Future] = {}
_STARTED_LOCK = threading.Lock()


def _key(resources) -> tuple[str, str, str]:
    info = resources.get("nbgrader", {})
    return str(info.get("student")), str(info.get("assignment")), str(info.get("notebook"))


class JudgeVerdicts(Preprocessor):
    """Judge the executed notebook's test cells in the grader's own judge process."""

    enabled = Bool(True)
    seeds = Unicode("{}", help="JSON: chapter → the grading run's secret seed.").tag(config=True)
    sandbox = Bool(False, help="Run the judge processes in autograder.jail.").tag(config=True)
    timeout = Float(300.0, help="Seconds the judge may spend on one notebook.").tag(config=True)
    memory = Int(4 << 30, help="Memory limit (bytes) of a judge process and all it starts.").tag(config=True)
    pids = Int(256, help="Processes and threads a judge process may have.").tag(config=True)
    cpus = Float(1.0, help="CPUs a judge process may use.").tag(config=True)

    def _judge(self, nb, resources):
        """Judge ``nb`` (only its code is read: the kernel's outputs play no part); returns
        ``(source, seed, result)``."""
        from .judge import judge_notebook

        info = resources.get("nbgrader", {})
        chapter, name = info.get("assignment"), info.get("notebook")
        source_path = Path.cwd() / "source" / str(chapter) / f"{name}.ipynb"
        seeds = json.loads(self.seeds or "{}")
        if chapter not in seeds:
            raise ValueError(f"JudgeVerdicts: no seed for {chapter} (the grader writes them into its config)")
        source = nbformat.read(source_path, as_version=4)
        limits = None
        if self.sandbox:
            from .jail import Limits

            limits = Limits(memory=self.memory, pids=self.pids, cpus=self.cpus)
        seed = int(seeds[chapter])
        return source, seed, judge_notebook(source, nb, run_seed=seed, sandbox=self.sandbox, limits=limits,
                                            timeout=self.timeout)

    def preprocess(self, nb, resources):
        name = resources.get("nbgrader", {}).get("notebook")
        with _STARTED_LOCK:
            started = _STARTED.pop(_key(resources), None)
        judged = None
        if started is not None:  # StartJudge began judging this notebook's code while the kernel ran it
            try:
                judged = started.result()
            except Exception as err:  # judged again below, alone: a failure here must not cost the grade
                self.log.warning("the judge started beside the kernel failed (%s: %s); judging again",
                                 type(err).__name__, str(err)[:300])
        source, seed, result = judged or self._judge(nb, resources)
        apply_verdicts(nb, result.verdicts)
        clean_outputs(nb, source)
        workdir = Path((resources.get("metadata") or {}).get("path") or ".")
        removed = [r for r in clean_workdir(workdir) if r != f"{name}.ipynb"]
        if removed:
            self.log.info("removed what the kernel left in the working copy: %s", ", ".join(removed[:20]))
        nb.metadata.setdefault("course", {})["judge"] = {
            "seed": seed, "notes": result.notes, "seconds": round(result.seconds, 2),
            "cpu_seconds": result.cpu_seconds, "kernel_cpu_seconds": resources.get("course_kernel_cpu_seconds"),
            "sandbox": self.sandbox}
        self.log.info("judged %s in %.1f s: %d of %d test cells passed", name, result.seconds,
                      sum(v is None for v in result.verdicts.values()), len(result.verdicts))
        return nb, resources


class StartJudge(JudgeVerdicts):
    """Start judging a notebook before its kernel runs, so that the two run side by side.

    The judge reads only the notebook's code, which the kernel does not change: placed before
    ``SafeExecute``, this step hands a copy of the sanitized notebook to a thread of the grader's,
    and :class:`JudgeVerdicts` waits for that judgement instead of starting its own. The thread
    outlives the judge's jails (``--die-with-parent`` is per thread): ``judge_notebook`` closes them
    before it returns. Configured as ``JudgeVerdicts`` is (its settings apply to this subclass).
    """

    def preprocess(self, nb, resources):
        import copy
        import importlib

        # Import here, in the main thread, what the judge thread would import: the check harness (with
        # the references, torch among them) and IPython (tqdm.auto imports it, and so does the kernel's
        # start below). Two threads importing one package with circular imports at once get a
        # "partially initialized module" ImportError: it broke a kernel's start before this line.
        for module in ("autograder.judge", "course_lib.testing", "IPython"):
            importlib.import_module(module)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge")
        future = pool.submit(self._judge, copy.deepcopy(nb), {"nbgrader": dict(resources.get("nbgrader", {}))})
        pool.shutdown(wait=False)
        with _STARTED_LOCK:
            stale = _STARTED.pop(_key(resources), None)
            _STARTED[_key(resources)] = future
        if stale is not None:
            stale.cancel()
        return nb, resources
