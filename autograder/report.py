"""Instructor report from ``grades.csv``: where the class loses points, and why.

``course grade`` writes it next to the grades (``report/``); ``course report grades.csv`` redoes it.

- ``exercises.csv`` — per chapter and exercise: submissions, mean score, full marks / partial / zero (%);
- ``reasons.csv`` — the most common reasons for lost points, grouped (numbers and call details removed);
- ``scores.png`` — each exercise's full / partial / zero shares and the distribution of total scores.

A written answer awaiting manual grading (empty score) is left out: it is no zero.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from .course import CourseError

__all__ = ["ExerciseStats", "reason_group", "summarise", "write_report"]


@dataclass
class ExerciseStats:
    chapter: str
    exercise: str
    max_score: float
    scores: list[float]

    @property
    def n(self) -> int:
        return len(self.scores)

    def share(self, kind: str) -> float:
        full = sum(s >= self.max_score for s in self.scores)
        zero = sum(s <= 0 for s in self.scores)
        count = {"full": full, "zero": zero, "partial": self.n - full - zero}[kind]
        return count / self.n if self.n else 0.0


def _strip_parenthesised(text: str) -> str:
    """Remove (...) groups, nested ones included: call arguments and shapes vary from student to student."""
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def reason_group(reason: str, width: int = 100) -> str:
    """A reason without its specifics, so that the same mistake by many students counts as one.

    >>> reason_group("CheckFailure: the result of f(x=array (1, 2)): 8 of 72 values are wrong. First at (0, 1)")
    'CheckFailure: the result of f: N of N values are wrong.'
    """
    text = _strip_parenthesised(" ".join(reason.split()))
    text = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]  # the first sentence carries the diagnosis
    text = re.sub(r"\b\d+(\.\d+)?(e-?\d+)?\b", "N", text)
    text = re.sub(r"\s+([:,.])", r"\1", text)
    return text[:width].strip()


def _read(grades_csv: Path) -> list[dict]:
    if not grades_csv.exists():
        raise CourseError(f"{grades_csv} does not exist (run `course grade` first)")
    from .grading import read_csv

    rows = read_csv(grades_csv)
    if rows and not {"student", "chapter", "exercise", "score", "max", "reason"} <= set(rows[0]):
        raise CourseError(f"{grades_csv} is not a grades.csv written by `course grade`")
    return rows


def summarise(rows: list[dict]) -> tuple[list[ExerciseStats], list[tuple[str, str, str, int]]]:
    """Per-exercise statistics, and (chapter, exercise, reason group, count, students) sorted by count."""
    stats: dict[tuple[str, str], ExerciseStats] = {}
    reasons: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for r in rows:
        if not r["score"]:
            continue  # a written answer awaiting manual grading: no score yet, not a zero
        key = (r["chapter"], r["exercise"])
        stats.setdefault(key, ExerciseStats(*key, float(r["max"]), [])).scores.append(float(r["score"]))
        if float(r["score"]) < float(r["max"]) and r["reason"]:
            reasons[(*key, reason_group(r["reason"]))].add(r["student"])
    common = sorted(((c, e, g, len(s)) for (c, e, g), s in reasons.items()), key=lambda t: (-t[3], t[:3]))
    return list(stats.values()), common


def write_report(grades_csv: Path, out: Path) -> list[Path]:
    """Write exercises.csv, reasons.csv and scores.png into ``out``; returns their paths."""
    rows = _read(grades_csv)
    if not rows:
        raise CourseError(f"{grades_csv} has no grades")
    stats, common = summarise(rows)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "exercises.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["chapter", "exercise", "max", "submissions", "mean", "full_marks_%", "partial_%", "zero_%"])
        for s in stats:
            w.writerow([s.chapter, s.exercise, f"{s.max_score:g}", s.n, f"{sum(s.scores) / s.n:.2f}",
                        *(f"{100 * s.share(k):.0f}" for k in ("full", "partial", "zero"))])
    with (out / "reasons.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["chapter", "exercise", "reason", "students"])
        w.writerows(common)
    _plot(stats, rows, out / "scores.png")
    return [out / "exercises.csv", out / "reasons.csv", out / "scores.png"]


def _plot(stats: list[ExerciseStats], rows: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    totals: Counter = Counter()
    maxima: Counter = Counter()
    for r in rows:
        if not r["score"]:
            continue
        totals[(r["student"], r["chapter"])] += float(r["score"])
        maxima[(r["student"], r["chapter"])] += float(r["max"])
    fig = Figure(figsize=(11, max(3.0, 0.32 * len(stats) + 1.5)))
    FigureCanvasAgg(fig)
    ax, hist = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    labels = [f"{s.chapter[:4]} {s.exercise}" for s in stats]
    left = [0.0] * len(stats)
    for kind, colour in (("full", "#4caf50"), ("partial", "#ffb300"), ("zero", "#e53935")):
        widths = [100 * s.share(kind) for s in stats]
        ax.barh(labels, widths, left=left, color=colour, label=kind)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("% of submissions")
    ax.set_title("score per exercise")
    ax.legend(loc="lower right", fontsize=8)
    pct = [100 * totals[k] / maxima[k] for k in totals if maxima[k]]
    hist.hist(pct, bins=range(0, 105, 5), color="#1e88e5")
    hist.set_xlabel("total score (% of the maximum)")
    hist.set_ylabel("notebooks")
    hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    hist.set_title(f"{len(pct)} graded notebooks")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
