"""The ``course`` command line: build, check, grade, report, lab, list.

    course build [CHAPTER ...] [--force] [--check]   instructors: solutions/ → chapters/
    course check NOTEBOOK                            students: score table with reasons
    course grade SUBMISSIONS [--chapter CH]          instructors: feedback HTML + grades.csv + report
    course report GRADES_CSV                         instructors: score distribution, common mistakes
    course release|collect|return CHAPTER            instructors: nbgrader exchange steps
    course fetch|submit|fetch-feedback CHAPTER       students: nbgrader exchange steps
    course lab [JUPYTER ARGS ...]                    open JupyterLab on chapters/
    course review GRADED [--db URL] [JUPYTER ARGS]   instructors: formgrader on a grading run
    course export GRADED [--db URL]                  instructors: grades.csv with the manual scores
    course list                                      chapters and their graded exercises
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .course import Course, CourseError, find_root

__all__ = ["main"]


def _cmd_build(course: Course, args: argparse.Namespace) -> int:
    from .build import build_course

    chapters = [course.resolve_chapter(c) for c in args.chapters] or None
    if args.check:
        with tempfile.TemporaryDirectory(prefix="course-build-check-") as tmp:
            built = build_course(course, chapters, out=Path(tmp), log=lambda *_: None)
            stale = [ch for ch, path in built.items()
                     if not course.chapter_notebook(ch).exists()
                     or course.chapter_notebook(ch).read_bytes() != path.read_bytes()]
        if stale:
            print(f"chapters/ is out of date for: {', '.join(stale)} — run `course build`.")
            return 1
        print("chapters/ is up to date with solutions/.")
        return 0
    print(f"Building into {course.chapters}:")
    build_course(course, chapters, force=args.force)
    return 0


def _cmd_check(course: Course, args: argparse.Namespace) -> int:
    from .check import check_notebook
    from .grading import format_table

    print(f"Checking {args.notebook} …", flush=True)
    result, mode = check_notebook(course, Path(args.notebook), chapter=args.chapter,
                                  visible_only=args.visible_only, timeout=args.timeout)
    print()
    print(f"{result.chapter}: {result.score:g} / {result.max_score:g} points"
          + (f" (+ {result.written_max:g} for written answers, graded by staff)" if result.written_max else ""))
    print(format_table(result))
    if result.problem:
        print(f"\nThe notebook as a whole: {result.problem}")
    if mode == "full":
        print("\nGraded with the hidden tests, exactly as the course grader does.")
    else:
        print("\nVisible tests only: the hidden tests (more, randomised cases) decide the final score.")
    return 0 if result.score >= result.max_score else 1


def _parse_size(text: str) -> int | None:
    """'6G' / '512M' / '1.5g' / '0' → bytes (None for no limit)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    value = text.strip().upper().removesuffix("B")
    unit = value[-1] if value and value[-1] in units else ""
    try:
        size = float(value.removesuffix(unit) if unit else value) * units[unit]
    except ValueError:
        raise CourseError(f"--memory {text!r}: expected a size such as 2G, 512M or 0") from None
    if 0 < size < 256 << 20:
        raise CourseError(f"--memory {text}: a kernel needs at least 256M (torch alone maps more)")
    return int(size) or None


def _read_seeds(path: Path | None) -> dict[str, int]:
    """chapter → seed from a seeds.json written by an earlier run (empty without one)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): int(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise CourseError(f"--seeds {path}: expected a seeds.json written by `course grade` ({err})") from None


def _cmd_worker(course: Course, args: argparse.Namespace) -> int:
    from .cluster import build_identity, run_worker

    print(f"course worker: course build {build_identity()}, {args.processes} process(es), joining {args.scheduler}",
          flush=True)
    run_worker(args.scheduler, args.processes, ["--memory-limit", args.memory_limit]
               + (["--name", args.name] if args.name else []))
    return 0


def _cmd_grade(course: Course, args: argparse.Namespace) -> int:
    from .grading import AWAITING, autograde, discover, draw_seeds, write_csv

    subs = discover(Path(args.submissions), course, args.chapter)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / ".cache"
    if args.regrade and cache.exists():
        shutil.rmtree(cache)
    sandbox = not args.unsafe
    if not sandbox:
        print("--unsafe: grading WITHOUT the sandbox — a submission can read the solutions, harm this machine "
              "and leave processes behind. Use it only for notebooks you trust.", file=sys.stderr)
    seeds_file = out / "seeds.json"  # the run's secret hidden-case seeds: reused by a resumed or repeated run
    seeds = _read_seeds(Path(args.seeds) if args.seeds else seeds_file if seeds_file.exists() and not args.regrade
                        else None)
    where = f"on the Dask cluster {args.cluster}" if args.cluster else f"{args.workers} at a time"
    print(f"Grading {len(subs)} notebook(s) from {args.submissions} into {out}/ "
          f"({where}, {args.timeout:g} s and {args.memory} of memory each"
          + (", sandboxed)" if sandbox else ", NOT sandboxed)"))
    start = time.perf_counter()
    seeds = {**draw_seeds({s.chapter for s in subs}), **seeds}
    seeds_file.write_text(json.dumps(seeds, indent=1, sort_keys=True) + "\n")
    results = autograde(course, subs, out / "nbgrader", timeout=args.timeout, workers=args.workers,
                        memory_limit=_parse_size(args.memory), cache_dir=cache, sandbox=sandbox,
                        feedback_dir=None if args.no_feedback else out / "feedback",
                        autograded_dir=out / "autograded", seeds=seeds, cluster=args.cluster)
    write_csv(results, out / "grades.csv")
    if args.db:
        from .gradebook import publish, redact

        print(f"Published {publish(course, results, args.db)} submission(s) to the gradebook {redact(args.db)}")
    width = max(len(r.student) for r in results)
    print()
    for r in results:
        lost = [e.exercise for e in r.exercises if not e.pending and e.score < e.max_score]
        note = r.problem or (f"lost points in {', '.join(lost)}" if lost else "full marks")
        stopped = sorted({e.reason.split(":")[0] for e in r.exercises if e.reason.startswith(("NotRun", "TimeLimit",
                                                                                             "KernelDied"))})
        if stopped and not r.problem:
            note += f" — stopped early ({', '.join(stopped)})"
        print(f"{r.student:<{width}}  {r.chapter}  {r.total_text()}  {note}")
        for extra in r.notes:
            print(f"{'':<{width}}  note: {extra}")
    full = sum(r.score >= r.max_score for r in results)
    failed = sum(bool(r.problem) for r in results)
    reused = sum(r.cached for r in results)
    pending = sum(r.pending > 0 for r in results)
    print(f"\n{len(results)} graded in {time.perf_counter() - start:.0f} s: {full} full marks, "
          f"{len(results) - full - failed} lost points, {failed} could not be run (reason above)."
          + (f" {reused} unchanged since an earlier run: not graded again (--regrade to force)." if reused else ""))
    if pending:
        print(f"{pending} notebook(s) have written answers {AWAITING} (empty score in grades.csv, never 0): "
              f"score them with `course review {out}`, then `course export {out}`.")
    print(f"Wrote {out / 'grades.csv'}" + ("" if args.no_feedback else f" and feedback in {out / 'feedback'}/"))
    _print_report(out / "grades.csv", out / "report")
    _print_similarity(course, subs, out / "report")
    return 0


def _print_similarity(course: Course, subs, out: Path) -> None:
    """report/similarity.{csv,html}: each solution against the references and the other submissions."""
    import nbformat

    from .build import ensure_source
    from .grading import read_submitted
    from .similarity import compare_submissions, write_similarity

    matches = []
    for chapter in sorted({s.chapter for s in subs}):
        notebooks = {}
        for sub in subs:
            if sub.chapter == chapter:
                try:
                    notebooks[sub.student] = nbformat.reads(read_submitted(sub.path), as_version=4)
                except Exception:  # not a notebook: nothing to compare (its grade says why)
                    continue
        source = nbformat.read(ensure_source(course, chapter), as_version=4)
        release = nbformat.read(course.chapter_notebook(chapter), as_version=4)
        matches += compare_submissions(chapter, source, release, notebooks)
    _, page = write_similarity(matches, out)
    flagged = sum(m.flagged for m in matches)
    print(f"Similarity: {flagged} flagged pair(s) of near-copies for staff to look at — {page}")


def _print_report(grades: Path, out: Path) -> None:
    from .report import summarise, write_report

    paths = write_report(grades, out)
    from .grading import read_csv

    _, common = summarise(read_csv(grades))
    if common:
        print("\nMost common reasons for lost points:")
        for chapter, exercise, group, students in common[:5]:
            print(f"  {students:>3} × {chapter[:4]} {exercise}: {group}")
    print(f"Instructor report: {', '.join(str(p) for p in paths)}")


def _cmd_report(course: Course, args: argparse.Namespace) -> int:
    grades = Path(args.grades)
    _print_report(grades, Path(args.out) if args.out else grades.parent / "report")
    return 0


def _cmd_exchange(course: Course, args: argparse.Namespace) -> int:
    from . import exchange as ex

    root = ex.exchange_root(args.exchange)
    step = args.command
    if step in ("fetch", "submit", "fetch-feedback"):
        chapter = args.chapter  # students may not have the course checkout: take the name as given
        if course.chapter_names():
            try:
                chapter = course.resolve_chapter(args.chapter)
            except CourseError:
                pass
        workdir = Path(args.dir).resolve()
        if step == "fetch":
            print(f"Fetched {ex.fetch(chapter, root, workdir)}/ from {root}")
        elif step == "submit":
            ex.submit(chapter, root, workdir, args.student)
            print(f"Submitted {workdir / chapter}/ to {root}")
        else:
            files = ex.fetch_feedback(chapter, root, workdir, args.student)
            print("Feedback: " + (", ".join(map(str, files)) if files else "none yet"))
        return 0
    chapter = course.resolve_chapter(args.chapter)
    if step == "release":
        print(f"Released {chapter} to {ex.release(course, chapter, root)}/")
    elif step == "collect":
        out, problems = ex.collect(course, chapter, root)
        for problem in problems:
            print(f"WARNING: {problem}", file=sys.stderr)
        students = sorted(p.name for p in out.iterdir() if (p / chapter).is_dir())
        print(f"Collected {len(students)} submission(s) into {out}/: {', '.join(students)}\n"
              f"Next: course grade {out} --chapter {chapter}")
    else:  # return
        students = ex.return_feedback(course, chapter, root, Path(args.graded))
        print(f"Returned feedback to {len(students)} student(s): {', '.join(students)}")
    return 0


def _cmd_lab(course: Course, args: argparse.Namespace) -> int:
    from .lab import lab

    lab(course, args.jupyter_args)
    return 0  # not reached: lab() replaces this process


def _cmd_review(course: Course, args: argparse.Namespace) -> int:
    from .review import review

    review(course, Path(args.graded), args.db, args.jupyter_args)
    return 0  # not reached: review() replaces this process


def _cmd_export(course: Course, args: argparse.Namespace) -> int:
    from .gradebook import redact
    from .grading import AWAITING
    from .review import export_grades

    path, db_url, pending = export_grades(course, Path(args.graded), args.db, Path(args.out) if args.out else None)
    print(f"Wrote {path}: the grades of {Path(args.graded) / 'grades.csv'} with the scores and comments staff gave "
          f"in formgrader (gradebook {redact(db_url)})."
          + (f" {pending} written answer(s) still {AWAITING} (empty score)." if pending else ""))
    return 0


def _cmd_list(course: Course, args: argparse.Namespace) -> int:
    import nbformat

    from .grading import exercise_name, graded_cells, written_cells

    for ch in course.chapter_names():
        path = course.chapter_notebook(ch)
        if not path.exists():
            print(f"{ch}: not built (run `course build`)")
            continue
        nb = nbformat.read(path, as_version=4)
        cells, written = graded_cells(nb), written_cells(nb)
        print(f"{ch}: {len(cells)} exercises, {sum(p for _, p in cells):g} points; {len(written)} written "
              f"questions, {sum(p for _, p in written):g} points (graded by staff)")
        for gid, pts in cells + written:
            print(f"    {exercise_name(gid):<24} {pts:g}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--root", type=Path, help="course checkout (default: found from the current directory)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate chapters/ from solutions/ (instructors)")
    b.add_argument("chapters", nargs="*", help="chapters to build (default: all), e.g. ch02 or 2")
    b.add_argument("--force", action="store_true", help="overwrite chapter notebooks that hold work")
    b.add_argument("--check", action="store_true", help="only report whether chapters/ is up to date")
    b.set_defaults(func=_cmd_build)

    c = sub.add_parser("check", help="score one notebook, with the reason for each lost point")
    c.add_argument("notebook")
    c.add_argument("--chapter", help="chapter of the notebook (default: from its metadata)")
    c.add_argument("--visible-only", action="store_true", help="run only the visible tests")
    c.add_argument("--timeout", type=float, default=300, help="time limit in seconds (default 300)")
    c.set_defaults(func=_cmd_check)

    g = sub.add_parser("grade", help="autograde a folder of submissions (instructors)")
    g.add_argument("submissions", help="nbgrader submitted/ folder or a folder of <student>.ipynb")
    g.add_argument("--chapter", help="chapter of plain <student>.ipynb files (default: from metadata)")
    g.add_argument("--out", default="graded", help="output folder (default: ./graded)")
    g.add_argument("--timeout", type=float, default=300, help="time limit per notebook in seconds")
    g.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="notebooks graded at once (default: the number of CPU cores)")
    g.add_argument("--memory", default="6G", help="memory limit per grading kernel, e.g. 2G or 512M; 0 = none")
    g.add_argument("--db", help="also publish the scores into this nbgrader gradebook, e.g. "
                                "sqlite:///gradebook.db or postgresql://user@host:5432/grades (replaces a "
                                "student's earlier submission of the chapter)")
    g.add_argument("--sandbox", action="store_true",
                   help="(the default; kept for old scripts) grade in the sandbox: the student's functions are "
                        "judged in bubblewrap jails that see only the Python environment and the course's "
                        "non-answer files, as user nobody, without network, under cgroup limits; each notebook's "
                        "kernel runs in mount, PID and network namespaces. Linux, as root")
    g.add_argument("--unsafe", action="store_true",
                   help="grade without the sandbox where the machine cannot sandbox (only for trusted notebooks)")
    g.add_argument("--seeds", help="the seeds.json of an earlier run: grade with its hidden cases (reproduce a grade)")
    g.add_argument("--regrade", action="store_true",
                   help="grade every submission again (default: skip ones graded before and unchanged)")
    g.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's address (tcp://host:8786; start `course worker "
                        "tcp://host:8786` on each grading machine), or local:N for N worker processes here. Each "
                        "submission is one task; only this command writes grades, feedback and the gradebook")
    g.set_defaults(func=_cmd_grade)

    w = sub.add_parser("worker", help="join a Dask grading cluster (grading machines; course installed, same version)")
    w.add_argument("scheduler", help="the scheduler's address, e.g. tcp://grader-head:8786")
    w.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                   help="worker processes, one notebook each at a time (default: the number of CPU cores)")
    w.add_argument("--name", help="this worker's name on the dashboard (default: the machine's name)")
    w.add_argument("--memory-limit", default="auto",
                   help="Dask's memory limit per worker process, e.g. 8GB (default: auto, the machine's share)")
    w.set_defaults(func=_cmd_worker)

    r = sub.add_parser("report", help="per-exercise score distribution and common failure reasons (instructors)")
    r.add_argument("grades", help="a grades.csv written by `course grade`")
    r.add_argument("--out", help="output folder (default: report/ next to grades.csv)")
    r.set_defaults(func=_cmd_report)

    steps = {
        "release": "publish a chapter in the nbgrader exchange (instructors)",
        "fetch": "download a released chapter into --dir (students)",
        "submit": "hand in --dir/<chapter>/ (students)",
        "collect": "gather the latest submissions into the build's submitted/ (instructors)",
        "return": "put the feedback of `course grade --out GRADED` into the exchange (instructors)",
        "fetch-feedback": "download your feedback into --dir/<chapter>/feedback/ (students)",
    }
    for step, text in steps.items():
        e = sub.add_parser(step, help=text)
        e.add_argument("chapter")
        e.add_argument("--exchange", help="exchange folder (default: $COURSE_EXCHANGE or /srv/nbgrader/exchange)")
        if step in ("fetch", "submit", "fetch-feedback"):
            e.add_argument("--dir", default=".", help="your work folder (default: the current one)")
        if step in ("submit", "fetch-feedback"):
            e.add_argument("--student", help="your student id, on a shared account (default: your user name)")
        if step == "return":
            e.add_argument("--graded", default="graded", help="the --out folder of course grade (default: graded)")
        e.set_defaults(func=_cmd_exchange)

    lab = sub.add_parser("lab", help="open JupyterLab on chapters/ (extra arguments go to jupyter lab)")
    lab.add_argument("jupyter_args", nargs="*", help="e.g. --no-browser --port 8890")
    lab.set_defaults(func=_cmd_lab)

    rv = sub.add_parser("review", help="formgrader on the output of `course grade`, for manual review "
                                       "(instructors; extra arguments go to jupyter lab)")
    rv.add_argument("graded", nargs="?", default="graded", help="the --out folder of course grade (default: graded)")
    rv.add_argument("--db", help="the gradebook `course grade --db URL` published into (default: a SQLite "
                                 "gradebook in GRADED, filled from its grades.csv)")
    rv.add_argument("jupyter_args", nargs="*", help="e.g. --no-browser --port 8891")
    rv.set_defaults(func=_cmd_review)

    ex = sub.add_parser("export", help="grades.csv of a graded run with the manual scores given in formgrader "
                                       "(instructors)")
    ex.add_argument("graded", nargs="?", default="graded", help="the --out folder of course grade (default: graded)")
    ex.add_argument("--db", help="the gradebook formgrader wrote to (default: the one `course review GRADED` made)")
    ex.add_argument("--out", help="where to write (default: GRADED/export/grades.csv)")
    ex.set_defaults(func=_cmd_export)

    ls = sub.add_parser("list", help="chapters and their graded exercises")
    ls.set_defaults(func=_cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in ("lab", "review"):  # everything else belongs to jupyter lab (--no-browser, --port=...)
        args.jupyter_args = [*args.jupyter_args, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    course = Course(args.root.resolve() if args.root else find_root())
    try:
        return args.func(course, args)
    except CourseError as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
