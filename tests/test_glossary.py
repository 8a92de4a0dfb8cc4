"""The bilingual glossary parses, has no duplicates, and covers every chapter."""

from __future__ import annotations

import nbformat
import pytest

from course_lib.glossary import DOC, GLOSSARY, find_term, key_terms, lookup, render_markdown, show_glossary, terms_for
from tests.test_roundtrip import CHAPTERS, COURSE


def test_terms_are_unique_and_complete():
    names = [t.english.lower() for t in GLOSSARY]
    assert len(names) == len(set(names)), "a term is listed twice"
    assert all(t.english and t.chinese and t.meaning and t.chapters for t in GLOSSARY)
    assert any("\u4e00" <= ch <= "\u9fff" for t in GLOSSARY for ch in t.chinese)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_terms(chapter):
    assert len(terms_for(chapter)) >= 5, f"add the Chinese terms of {chapter} to course_lib/glossary.py"


def test_lookup_and_display():
    assert lookup("stride").chinese == "步长"
    with pytest.raises(KeyError, match="not in the glossary"):
        lookup("transmogrifier")
    assert "<table>" in show_glossary("ch02").data


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_marked_key_terms_are_in_the_glossary(chapter):
    """Every term a chapter's introduction marks as a key term exists, with that Chinese and chapter."""
    notebook = COURSE.chapters / chapter / f"{chapter}.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    marked = [pair for cell in nb.cells if cell.cell_type == "markdown" for pair in key_terms(cell.source)]
    assert len(marked) >= 5, f"{chapter}: mark 5+ key terms in the introduction: **Key terms** ([glossary](...)): ..."
    problems = []
    for english, chinese in marked:
        term = find_term(english)
        if term is None:
            problems.append(f"{english!r} is not in course_lib/glossary.py")
        elif chinese not in term.chinese:
            problems.append(f"{english!r}: the chapter says {chinese!r}, the glossary says {term.chinese!r}")
        elif chapter[:4] not in term.chapters:
            problems.append(f"{english!r}: add {chapter[:4]} to its chapters in the glossary")
    assert not problems, f"{chapter}: " + "; ".join(problems)
    assert (notebook.parent / "../../docs/glossary.md").resolve() == DOC


def test_rendered_glossary_is_current():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), "run: python -m course_lib.glossary --write"


def test_key_terms_line_parsing():
    assert key_terms("no marker here") == []
    line = "**Key terms** ([glossary](../../docs/glossary.md)): zero padding 补零 · Nesterov momentum Nesterov 动量"
    assert key_terms(line) == [("zero padding", "补零"), ("Nesterov momentum", "Nesterov 动量")]
    with pytest.raises(ValueError, match="has no Chinese"):
        key_terms("**Key terms** ([glossary](g.md)): stride")
