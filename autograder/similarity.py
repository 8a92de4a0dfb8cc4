"""Copying made visible: ``report/similarity.{csv,html}`` for every ``course grade``.

The answers ship with the library (every chapter imports ``course_lib``), so a student can retype a
reference implementation or a classmate's answer, and no sandbox can see that. This report makes it
visible for staff: for each exercise, each student's solution cell is fingerprinted with
``copydetect`` (MOSS-style winnowing of token k-grams, maintained on PyPI) and compared with

- the course's references: the library function the grader checks against, and the solution cell of
  the instructor's source notebook;
- every other submission of the chapter in the batch.

The stub the student was given (signature, docstring, ``raise NotImplementedError()``) is
boilerplate and never counts. A pair is *flagged* when at least :data:`FLAG` of the student's own
tokens also appear, in the same order, in the other code. Nothing is zeroed: staff read the
side-by-side view and decide.
"""

from __future__ import annotations

import csv
import html
import inspect
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

__all__ = ["FLAG", "Match", "compare_submissions", "write_similarity"]

#: Share of a student's tokens found in another piece of code from which the pair is flagged.
FLAG = 0.8
#: Pairs below this share are not listed at all.
LIST = 0.5
#: Tokens per k-gram (copydetect's noise threshold): short enough for 10-line functions.
K = 15
#: Fewer tokens of the student's own (the stub removed) than this and a cell is not compared.
MIN_TOKENS = 30


@dataclass
class Match:
    chapter: str
    exercise: str
    student: str
    other: str  # another student's id, or "reference: <where>"
    similarity: float  # share of the student's tokens also in the other code
    tokens: int
    code: str = ""
    other_code: str = ""
    slices: tuple = ((), ())

    @property
    def flagged(self) -> bool:
        return self.similarity >= FLAG


def _fingerprint(code: str, boilerplate: list | None = None):
    from copydetect import CodeFingerprint

    return CodeFingerprint("cell.py", K, 1, boilerplate=boilerplate, language="python", fp=io.StringIO(code))


def _solutions(notebook: nbformat.NotebookNode) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
            and c.metadata["nbgrader"].get("grade_id")}


def _references(chapter_source: nbformat.NotebookNode) -> dict[str, list[tuple[str, str]]]:
    """grade_id → [(where, code)] of the course's own answers to that cell."""
    from course_lib.testing import EXERCISES

    refs: dict[str, list[tuple[str, str]]] = {}
    for gid, code in _solutions(chapter_source).items():
        refs.setdefault(gid, []).append(("reference: the source notebook's solution", code))
        ex = EXERCISES.get(gid)
        target = getattr(ex, "reference", None)
        target = getattr(target, "func", target)  # a functools.partial: its function
        if target is not None and (inspect.isfunction(target) or inspect.isclass(target)):
            try:
                refs[gid].append((f"reference: {target.__module__}.{target.__qualname__}", inspect.getsource(target)))
            except (OSError, TypeError):  # no source to compare with (built at run time)
                pass
    return refs


def compare_submissions(chapter: str, source: nbformat.NotebookNode, release: nbformat.NotebookNode,
                        submissions: dict[str, nbformat.NotebookNode]) -> list[Match]:
    """Every listed pair (similarity ≥ :data:`LIST`) of one chapter, most similar first."""
    from copydetect import compare_files

    stubs = _solutions(release)
    refs = _references(source)
    matches: list[Match] = []
    for gid in sorted(set(stubs) | set(refs)):
        boiler = np.array(sorted(_fingerprint(stubs[gid]).hashes), dtype=np.int64) if gid in stubs else None
        prints = {}
        for student, nb in submissions.items():
            code = _solutions(nb).get(gid, "")
            if code.strip():
                fp = _fingerprint(code, boiler)
                if len(fp.hashes) >= max(1, MIN_TOKENS - K + 1):
                    prints[student] = (code, fp)
        others = [(where, code, _fingerprint(code, boiler)) for where, code in refs.get(gid, [])]
        others += [(student, code, fp) for student, (code, fp) in prints.items()]
        for student, (code, fp) in prints.items():
            for other, other_code, other_fp in others:
                if other == student:
                    continue
                tokens, (share, _), slices = compare_files(fp, other_fp)
                if share >= LIST:
                    matches.append(Match(chapter, gid, student, other, round(float(share), 3), int(tokens), code,
                                         other_code, slices))
    matches.sort(key=lambda m: (-m.similarity, m.chapter, m.exercise, m.student, m.other))
    return matches


def _highlight(code: str, slices) -> str:
    from copydetect.utils import highlight_overlap

    if len(slices) == 0 or len(slices[0]) == 0:
        return html.escape(code)
    text, _ = highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)
    return text


def write_similarity(matches: Iterable[Match], out: Path) -> tuple[Path, Path]:
    """``out/similarity.csv`` (every listed pair) and ``out/similarity.html`` (the flagged pairs side by
    side, the shared code highlighted)."""
    from .grading import csv_safe

    matches = list(matches)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / "similarity.csv", out / "similarity.html"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["chapter", "exercise", "student", "compared_with", "similarity", "shared_tokens", "flagged"])
        for m in matches:
            writer.writerow([m.chapter, m.exercise, csv_safe(m.student), csv_safe(m.other), f"{m.similarity:.3f}",
                             m.tokens, "yes" if m.flagged else ""])
    flagged = [m for m in matches if m.flagged]
    rows = []
    for m in flagged:
        code_html = _highlight(m.code, m.slices[0])
        other_html = _highlight(m.other_code, m.slices[1])
        rows.append(f"<h3>{html.escape(m.chapter)} · {html.escape(m.exercise)} · {html.escape(m.student)} ↔ "
                    f"{html.escape(m.other)} — {m.similarity:.0%} of {html.escape(m.student)}'s code</h3>"
                    f"<div class=pair><pre>{code_html}</pre><pre>{other_html}</pre></div>")
    page = ("<!doctype html><meta charset=utf-8><title>Similarity report</title><style>"
            "body{font-family:sans-serif;margin:2em}.pair{display:flex;gap:1em}"
            "pre{flex:1;background:#f6f6f6;padding:.5em;overflow:auto;font-size:12px}mark{background:#ffd54f}"
            "</style><h1>Similarity report</h1>"
            f"<p>{len(flagged)} pair(s) with ≥ {FLAG:.0%} of a student's own code (the given stub excluded) also "
            f"found, in order, in a reference implementation or another submission (copydetect, {K}-token "
            "fingerprints). Nothing was deducted: judge each pair yourself. Every pair from "
            f"{LIST:.0%} is in similarity.csv.</p>" + ("".join(rows) or "<p>No pair is flagged.</p>"))
    html_path.write_text(page, encoding="utf-8")
    return csv_path, html_path
