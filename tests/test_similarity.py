"""report/similarity.{csv,html}: near-copies of the references or of a classmate are flagged, an
independent answer is not, and nothing in the report is live HTML."""

from __future__ import annotations

import csv
import re

import jupytext
import nbformat

from autograder.build import ensure_source
from autograder.similarity import FLAG, compare_submissions, write_similarity
from tests.test_roundtrip import COURSE, _submission

CHAPTER = "ch03_pooling"

LOOPS = '''def max_pool2d(x, kernel_size, stride=None, padding=0):
    """(the given docstring)"""
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = pool_geometry(x, kernel_size, stride, padding)
    padded = np.full((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), -np.inf, dtype=x.dtype)
    padded[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] = x
    out = np.empty((x.shape[0], x.shape[1], h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            patch = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = patch.max(axis=(2, 3))
    return out
'''


def _renamed(code: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        code = re.sub(rf"\b{old}\b", new, code)
    return code


def test_copies_are_flagged_and_independent_work_is_not(tmp_path):
    source_path = ensure_source(COURSE, CHAPTER)
    source = nbformat.read(source_path, as_version=4)
    release = nbformat.read(COURSE.chapter_notebook(CHAPTER), as_version=4)
    solution = next(c.source for c in jupytext.read(COURSE.solutions / f"{CHAPTER}.py").cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") == "max_pool2d")
    retyped = _renamed(solution, {"xp": "padded_input", "windows": "views", "kh": "a", "kw": "b"})
    students = {
        "honest": _submission(CHAPTER, {"max_pool2d": LOOPS}),
        "retyper": _submission(CHAPTER, {"max_pool2d": retyped}),
        "copier": _submission(CHAPTER, {"max_pool2d": _renamed(LOOPS, {"padded": "big", "patch": "p", "out": "res"})}),
        "blank": _submission(CHAPTER, {}),
        "injector": _submission(CHAPTER, {"max_pool2d": LOOPS.replace('"""(the given docstring)"""',
                                                                       '"""</pre><script>alert(1)</script>"""')}),
    }
    matches = compare_submissions(CHAPTER, source, release, students)
    flagged = {(m.student, m.other) for m in matches if m.flagged}
    assert ("retyper", "reference: the source notebook's solution") in flagged, matches[:5]
    assert ("copier", "honest") in flagged and ("honest", "copier") in flagged
    assert not any(s == "honest" and o.startswith("reference") for s, o in flagged)
    assert not any("blank" in (s, o) for s, o in flagged), "the given stub counted as copied code"
    assert all(m.similarity >= FLAG for m in matches if m.flagged)

    csv_path, html_path = write_similarity(matches, tmp_path / "report")
    rows = list(csv.DictReader(csv_path.open()))
    assert {(r["student"], r["compared_with"]) for r in rows if r["flagged"] == "yes"} == flagged
    page = html_path.read_text()
    assert "<mark>" in page and "<script>alert(1)</script>" not in page
