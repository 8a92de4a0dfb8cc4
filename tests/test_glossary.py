"""The bilingual glossary parses, has no duplicates, and covers every chapter."""

from __future__ import annotations

import pytest

from course_lib.glossary import GLOSSARY, lookup, show_glossary, terms_for
from tests.test_roundtrip import CHAPTERS


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
