"""The classroom round trip through nbgrader's exchange, one ``course`` command per step.

    instructor: course release ch03        → exchange/dl-course/outbound/ch03_pooling/
    student:    course fetch ch03          → ./ch03_pooling/ch03_pooling.ipynb
    student:    course submit ch03         → exchange/dl-course/inbound/
    instructor: course collect ch03        → <build>/submitted/<student>/ch03_pooling/
    instructor: course grade <build>/submitted --chapter ch03 --out graded
    instructor: course return ch03 --graded graded   → exchange/dl-course/feedback/
    student:    course fetch-feedback ch03 → ./ch03_pooling/feedback/<timestamp>/ch03_pooling.html

Each step is nbgrader's own command (release_assignment, fetch_assignment, submit, collect,
release_feedback, fetch_feedback) with the course id and exchange folder filled in. The exchange is
``--exchange``, else ``$COURSE_EXCHANGE``, else nbgrader's default ``/srv/nbgrader/exchange``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .build import build_course, ensure_source
from .course import COURSE_ID, Course, CourseError, run_nbgrader

__all__ = ["exchange_root", "release", "fetch", "submit", "collect", "return_feedback", "fetch_feedback",
           "verify_inbound"]

DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"


def exchange_root(path: str | Path | None = None) -> Path:
    root = Path(path or os.environ.get("COURSE_EXCHANGE") or DEFAULT_EXCHANGE).resolve()
    return root


def _run(where: Path, *args: str) -> str:
    proc = run_nbgrader(where, *args, timeout=600)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if "ERROR" in ln or "error" in ln.lower()]
        raise CourseError(f"nbgrader {args[0]} failed: " + ("\n".join(lines[-3:]) or proc.stdout[-600:]))
    return proc.stdout


def _ensure_exchange(root: Path) -> None:
    if not root.exists():
        try:
            root.mkdir(parents=True)
            root.chmod(0o777)  # every student writes to it (nbgrader's own instructions)
        except OSError as err:
            raise CourseError(f"cannot create the exchange {root} ({err.strerror}); create it as an "
                              "administrator: mkdir -p {root} && chmod 777 {root}") from None


def release(course: Course, chapter: str, root: Path) -> Path:
    """Publish the student notebook of ``chapter`` (exactly the one in chapters/) in the exchange."""
    _ensure_exchange(root)
    ensure_source(course, chapter)
    if not course.chapter_notebook(chapter).exists():
        build_course(course, [chapter])
    release_dir = course.build / "release" / chapter
    release_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(course.chapter_notebook(chapter), release_dir / f"{chapter}.ipynb")
    _run(course.build, "release_assignment", chapter, f"--Exchange.root={root}", "--force")
    return root / COURSE_ID / "outbound" / chapter


def fetch(chapter: str, root: Path, into: Path) -> Path:
    """Student: copy the released ``chapter`` into ``into/<chapter>/``."""
    into.mkdir(parents=True, exist_ok=True)
    _run(into, "fetch_assignment", chapter, "--course", COURSE_ID, f"--Exchange.root={root}")
    return into / chapter


def submit(chapter: str, root: Path, workdir: Path, student: str | None = None) -> None:
    """Student: hand in ``workdir/<chapter>/`` (``student`` names the student on a shared account)."""
    if not (workdir / chapter).is_dir():
        raise CourseError(f"{workdir / chapter} not found: run `course fetch {chapter}` there first")
    extra = [f"--student={student}"] if student else []
    _run(workdir, "submit", chapter, "--course", COURSE_ID, f"--Exchange.root={root}", *extra)


def verify_inbound(chapter: str, root: Path) -> list[str]:
    """Move aside every inbound submission of ``chapter`` that the user its student id names did not
    make, and say so. On a multi-user machine ``course submit --student bob`` run by alice would
    otherwise be collected as bob's work. A student id that is no user of this machine (one shared
    account, or a hub's exchange that checks identity itself) is not checked. The entries are
    inspected without following links (a link is never anyone's submission) and moved, not read."""
    import pwd

    inbound = root / COURSE_ID / "inbound"
    if not inbound.is_dir():
        return []
    quarantine = root / COURSE_ID / "quarantine"
    problems = []
    for entry in sorted(os.scandir(inbound), key=lambda e: e.name):
        parts = entry.name.split("+")
        if len(parts) < 3 or parts[1] != chapter:
            continue
        student = parts[0]
        try:
            expected = pwd.getpwnam(student).pw_uid
        except KeyError:
            continue
        info = entry.stat(follow_symlinks=False)
        if info.st_uid == expected and not entry.is_symlink():
            continue
        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = f"uid {info.st_uid}"
        quarantine.mkdir(mode=0o700, exist_ok=True)
        os.rename(entry.path, quarantine / entry.name)
        problems.append(f"{entry.name}: submitted in the name of {student} by {owner}"
                        f"{' (a link)' if entry.is_symlink() else ''}; not collected, moved to {quarantine}/")
    return problems


def collect(course: Course, chapter: str, root: Path) -> tuple[Path, list[str]]:
    """Instructor: gather the latest submission of every student into ``<build>/submitted/``, after
    :func:`verify_inbound` has set aside submissions made in someone else's name (returned)."""
    ensure_source(course, chapter)
    problems = verify_inbound(chapter, root)
    _run(course.build, "collect", chapter, f"--Exchange.root={root}", "--update")
    return course.build / "submitted", problems


def return_feedback(course: Course, chapter: str, root: Path, graded: Path) -> list[str]:
    """Instructor: put the feedback HTML of ``course grade --out graded`` into the exchange.

    nbgrader pairs feedback with a submission by the submission's hash and timestamp, so each file
    goes next to the collected submission's timestamp and secret in ``<build>/feedback/``."""
    returned = []
    for html in sorted((graded / "feedback").glob(f"*/{chapter}.html")):
        student = html.parent.name
        submitted = course.build / "submitted" / student / chapter
        if not (submitted / "timestamp.txt").exists():
            continue  # graded from a plain folder, not collected through the exchange
        dest = course.build / "feedback" / student / chapter
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(html, dest / f"{chapter}.html")
        for meta in ("timestamp.txt", "submission_secret.txt"):  # how nbgrader pairs feedback and submission
            if (submitted / meta).exists():
                shutil.copy2(submitted / meta, dest / meta)
        returned.append(student)
    if not returned:
        raise CourseError(f"no feedback for collected submissions of {chapter} in {graded}/feedback "
                          "(run `course collect`, then `course grade` on the collected folder)")
    _run(course.build, "release_feedback", chapter, f"--Exchange.root={root}")
    return returned


def fetch_feedback(chapter: str, root: Path, workdir: Path, student: str | None = None) -> list[Path]:
    """Student: download the feedback for ``chapter`` into ``workdir/<chapter>/feedback/``."""
    extra = [f"--student={student}"] if student else []
    _run(workdir, "fetch_feedback", chapter, "--course", COURSE_ID, f"--Exchange.root={root}", *extra)
    return sorted((workdir / chapter / "feedback").glob(f"*/{chapter}.html"))
