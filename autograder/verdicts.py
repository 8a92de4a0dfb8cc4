"""The out-of-kernel judge, grader side: turn a graded notebook's recorded outputs into scores.

nbgrader ran the notebook with the checks in recording mode (``SafeExecute``), so every test cell
that ran to the end "passed" as far as nbgrader knows. Here, in the grader's own process, each
test cell of the *source* notebook (never the student's copy) is parsed for its
``check_<name>(fn)`` and ``hidden_check("<name>", fn, seed=N)`` calls, and each call's record is
compared with the reference by :func:`course_lib.testing.judge.judge`. A test cell keeps its points
only when all its calls pass; the reason of the first failure replaces nbgrader's silence in the
scores, the gradebook and the graded notebook (so the feedback shows it).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

__all__ = ["apply_to_gradebook", "apply_to_notebook", "judge_notebook", "judged_calls"]

_RECORDED = "outputs recorded for the grader"  # what the kernel printed in the check cells (course_lib.testing)
_PASSED = "✔ all visible and hidden checks passed (judged by the grader)\n"

_CALL = re.compile(r'^\s*(?:check_(\w+)\(\s*\w+\s*\)'
                   r'|hidden_check\(\s*"(\w+)"\s*,\s*\w+\s*,\s*seed\s*=\s*(\d+)\s*\))\s*$', re.M)


def judged_calls(source: str) -> list[tuple[str, bool, int]]:
    """(exercise, hidden, seed) of every check call in a test cell's source, in order."""
    return [(m[1], False, 0) if m[1] else (m[2], True, int(m[3])) for m in _CALL.finditer(source)]


def judge_notebook(source: nbformat.NotebookNode, record_dir: Path) -> dict[str, str | None]:
    """grade_id → None (all the cell's checks pass) or the first reason, for every test cell of
    ``source`` that calls checks. A judge error costs the cell its points, never earns them."""
    from course_lib.testing import EXERCISES
    from course_lib.testing.judge import judge

    verdicts: dict[str, str | None] = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        calls = judged_calls(cell.source) if cell.cell_type == "code" and meta.get("grade") else []
        if not calls:
            continue
        verdict = None
        for name, hidden, seed in calls:
            try:
                verdict = judge(EXERCISES[name], record_dir, hidden=hidden, seed=seed)
            except Exception as err:  # the reference or the case generator failed: never a free pass
                verdict = f"the grader could not judge {name} ({type(err).__name__}: {err})"
            if verdict is not None:
                break
        verdicts[meta["grade_id"]] = verdict
    return verdicts


def apply_to_notebook(path: Path, verdicts: dict[str, str | None]) -> None:
    """Write the judge's verdict into each judged test cell of the graded notebook (what the feedback
    shows): the reason as an error output, or a line saying that every check passed."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or gid not in verdicts:
            continue
        cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"
                        and _RECORDED not in str(o.get("text", ""))]
        if verdicts[gid]:
            cell.outputs.append(nbformat.from_dict({"output_type": "error", "ename": "CheckFailure",
                                                    "evalue": verdicts[gid],
                                                    "traceback": [f"CheckFailure: {verdicts[gid]}"]}))
        else:
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=_PASSED))
    nbformat.write(notebook, path)


def apply_to_gradebook(db_url: str, chapter: str, student: str, scores: dict[str, float]) -> None:
    """Write the judged auto scores into nbgrader's gradebook (feedback and exports read them there)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        for gid, score in scores.items():
            try:
                grade = gb.find_grade(gid, chapter, chapter, student)
            except MissingEntry:
                continue
            grade.auto_score = score
        gb.db.commit()
