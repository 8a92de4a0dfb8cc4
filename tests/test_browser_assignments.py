"""nbgrader's *Assignments* tab and formgrader in a real JupyterLab, against the course's exchange.

The instructor releases a chapter with ``course release``; a student's JupyterLab (own home, own
Jupyter data folder, the nbgrader_config.py that ``course lab`` writes) shows it in the *Assignments*
tab, where chromium (driven by Playwright, as in ``test_browser.py``) clicks *Fetch*, *Validate* and
*Submit*; the instructor then runs ``course collect`` and ``course grade`` and finds the student's
submission graded (the notebook is handed in unchanged: 0 points, without a crash). Screenshots of
each step land in ``test-artifacts/browser/assignments-*.png``.

And the instructor's side: ``course review`` opens formgrader on a graded run, where a manual score
and comment are given to a test cell and a written answer is scored (``formgrader-*.png``); ``course
export`` then puts those scores into ``export/grades.csv`` with the rest.
"""

from __future__ import annotations

import contextlib
import csv
import os
import pwd
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder.lab import lab_env, write_lab_overrides, write_nbgrader_config
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _free_port
from tests.test_roundtrip import ROOT, _course

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency: make test")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

CHAPTER = "ch03_pooling"
NOTE = "Zero padding wins over negative inputs: pad with -inf."
WRITTEN = "written_spp_windows"
WRITTEN_NOTE = "Right about the left-out row; say why adaptive bins cover it."


def _start_lab(home: Path, exchange: Path) -> tuple[subprocess.Popen, str, str]:
    """A student's JupyterLab on ``home/work``, configured as ``course lab`` configures it."""
    work = home / "work"
    work.mkdir(parents=True)
    write_lab_overrides()  # as `course lab` does: no "fetch Jupyter news?" toast over the panel
    config_dir = home / "course-config"
    write_nbgrader_config(config_dir, exchange)
    env = lab_env(config_dir)
    env.update(HOME=str(home), JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"),
               JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_RUNTIME_DIR=str(home / ".runtime"))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(home / "jupyterlab.log", "w")  # noqa: SIM115 - the process owns it; closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # cwd: as `course lab`
    log.close()
    return proc, _wait_for_server(proc, port, token, home / "jupyterlab.log"), token


def _wait_for_server(proc: subprocess.Popen, port: int, token: str, log: Path) -> str:
    """The server's base URL once it answers (or the log, if it stops or takes over two minutes)."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)  # noqa: S310 (loopback)
            return base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                raise AssertionError(f"JupyterLab did not start:\n{log.read_text()}") from None
            time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 15)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


@contextlib.contextmanager
def _chromium_page(failure: str):
    """A chromium page; on an error, a screenshot ``ARTIFACTS/<failure>.png`` first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{failure}.png").unlink(missing_ok=True)  # from an earlier failed run
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            yield page
        except Exception:
            page.screenshot(path=ARTIFACTS / f"{failure}.png")
            raise
        finally:
            browser.close()


def _row(page, section: str, text: str):
    """The row of ``section`` (released / fetched / submitted) whose text holds ``text``, once it is there."""
    row = page.locator(f"#{section}_assignments_list > .list_item", has_text=text).first
    row.wait_for(timeout=60_000)
    return row


def test_submit_through_the_assignments_tab_then_collect_and_grade(tmp_path, build_env):
    exchange = tmp_path / "exchange"
    env = dict(build_env, COURSE_EXCHANGE=str(exchange))
    proc = _course("release", "ch03", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    home = tmp_path / "student"
    student = pwd.getpwuid(os.getuid()).pw_name  # nbgrader names a submission after the OS user
    lab, base, token = _start_lab(home, exchange)
    shot = 0

    def screenshot(page, what: str) -> None:
        nonlocal shot
        page.screenshot(path=ARTIFACTS / f"assignments-{shot}-{what}.png")
        shot += 1

    try:
        with _chromium_page("assignments-failure") as page:
            page.goto(f"{base}/lab?token={token}")  # a fresh home: no saved workspace
            page.get_by_role("menuitem", name="Nbgrader", exact=True).click(timeout=90_000)
            page.get_by_role("menuitem", name="Assignment List").click()

            released = _row(page, "released", CHAPTER)
            assert "dl-course" in released.inner_text()
            screenshot(page, "released")
            released.get_by_role("button", name="fetch").click()

            fetched = _row(page, "fetched", CHAPTER)
            assert (home / "work" / CHAPTER / f"{CHAPTER}.ipynb").exists(), "fetched, but not into the lab's folder"
            fetched.locator(".assignment-notebooks-link").click()  # unfold the chapter's notebooks
            notebook = fetched.locator(".assignment-notebooks .list_item", has_text=CHAPTER).first
            notebook.wait_for(timeout=10_000)
            screenshot(page, "fetched")

            notebook.get_by_role("button", name="Validate").click()
            dialog = page.locator(".jp-Dialog", has_text="Validation Results")
            dialog.wait_for(timeout=120_000)
            # the notebook is handed in as fetched: its exercises still raise NotImplementedError
            assert "NotImplementedError" in dialog.inner_text(), dialog.inner_text()[:2000]
            screenshot(page, "validated")
            dialog.get_by_role("button", name=re.compile("^ok$", re.I)).click()
            dialog.wait_for(state="detached")

            fetched.get_by_role("button", name="Submit").click()
            _row(page, "submitted", CHAPTER)
            screenshot(page, "submitted")
    finally:
        _stop(lab)

    inbound = list((exchange / "dl-course" / "inbound").glob(f"{student}+{CHAPTER}+*"))
    assert len(inbound) == 1, (home / "jupyterlab.log").read_text()[-3000:]

    proc = _course("collect", "ch03", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Collected 1 submission(s)" in proc.stdout and student in proc.stdout, proc.stdout
    submitted_dir = proc.stdout.split("into ", 1)[1].split("/:", 1)[0]

    graded = tmp_path / "graded"
    proc = _course("grade", submitted_dir, "--chapter", "ch03", "--out", str(graded), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [r for r in csv.DictReader((graded / "grades.csv").open()) if r["student"] == student]
    assert rows and all(r["chapter"] == CHAPTER for r in rows), rows
    assert sum(float(r["score"]) for r in rows) == 0 < sum(float(r["max"]) for r in rows), rows


def test_formgrader_reviews_a_graded_run_and_keeps_manual_scores(tmp_path, build_env, monkeypatch):
    """``course review GRADED``: formgrader lists the graded students with their scores, shows a
    submission with the grader's reason in its test cell, and a manual score and comment typed there
    land in the gradebook — and survive a later ``course review`` after a regrade. A written answer,
    "awaiting manual grading" in grades.csv, is scored there too, and ``course export`` writes it (and
    the overridden test score) into ``export/grades.csv``."""
    from nbgrader.api import Gradebook

    from tests.test_roundtrip import _make_submissions

    subs, graded = tmp_path / "subs", tmp_path / "graded"
    _make_submissions(CHAPTER, subs)
    proc = _course("grade", str(subs), "--chapter", CHAPTER, "--out", str(graded), "--no-feedback", env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    port, token = _free_port(), secrets.token_hex(16)
    log_path = tmp_path / "review.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "autograder.cli", "review", str(graded), "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"],
            cwd=tmp_path, env=dict(build_env, HOME=str(tmp_path)), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def stored() -> tuple:
        with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
            grade = gb.find_grade("test_max_pool2d", CHAPTER, CHAPTER, "wrong")
            comment = gb.find_comment("max_pool2d", CHAPTER, CHAPTER, "wrong")
            return grade.auto_score, grade.manual_score, comment.manual_comment

    def written_grade() -> tuple:
        with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
            grade = gb.find_grade(WRITTEN, CHAPTER, CHAPTER, "wrong")
            comment = gb.find_comment(WRITTEN, CHAPTER, CHAPTER, "wrong")
            return grade.auto_score, grade.manual_score, comment.manual_comment

    before = {r["exercise"]: r for r in csv.DictReader((graded / "grades.csv").open()) if r["student"] == "wrong"}
    assert before[WRITTEN]["score"] == "" and before[WRITTEN]["reason"] == "awaiting manual grading", before

    try:
        base = _wait_for_server(server, port, token, log_path)
        assert "Wrote 3 submission(s) into the gradebook" in log_path.read_text()
        with _chromium_page("formgrader-failure") as page:
            page.goto(f"{base}/formgrader?token={token}")   # where `course review` opens: logs in
            page.locator("text=Manage Assignments").first.wait_for(timeout=60_000)
            page.goto(f"{base}/formgrader/gradebook/{CHAPTER}/{CHAPTER}")
            rows = page.locator("tbody#main-table tr")
            rows.filter(has_text="Submission #3").wait_for(timeout=60_000)
            page.get_by_role("button", name="Show All Names").click()   # anonymous by default
            rows.filter(has_text="wrong").wait_for(timeout=10_000)
            assert rows.count() == 3, page.content()[:3000]
            # the wrong student's autograded points over every point of the chapter (written ones pending)
            got = sum(float(r["score"]) for r in before.values() if r["score"])
            out_of = sum(float(r["max"]) for r in before.values())
            assert f"{got:g} / {out_of:g}" in rows.filter(has_text="wrong").inner_text()
            page.screenshot(path=ARTIFACTS / "formgrader-0-submissions.png")
            rows.filter(has_text="wrong").locator("a:visible").first.click()

            score = page.locator("input.score#test_max_pool2d")
            score.wait_for(timeout=60_000)
            # the graded notebook, with the grader's verdict in the test cell
            assert "values are wrong" in page.content()
            score.fill("1")
            score.press("Tab")                             # "change" saves it
            comment = page.locator("textarea#max_pool2d-comment")
            comment.fill(NOTE)
            comment.press("Tab")
            # the written answer: the student's text is there, with nbgrader's manual score box
            answer = page.locator(f"input.score#{WRITTEN}")
            answer.scroll_into_view_if_needed()
            assert "left out" in page.content() or "never pooled" in page.content()
            answer.fill("2")
            answer.press("Tab")
            written_comment = page.locator(f"textarea#{WRITTEN}-comment")
            written_comment.fill(WRITTEN_NOTE)
            written_comment.press("Tab")
            deadline = time.monotonic() + 30                # formgrader saves in the background
            while ((stored()[1:], written_grade()[1:]) != ((1, NOTE), (2, WRITTEN_NOTE))
                   and time.monotonic() < deadline):
                time.sleep(0.5)
            page.screenshot(path=ARTIFACTS / "formgrader-1-manual-score.png")
    finally:
        _stop(server)

    assert stored() == (0, 1, NOTE), stored()
    assert written_grade() == (None, 2, WRITTEN_NOTE), written_grade()

    # the export: grades.csv's rows with the scores staff gave
    proc = _course("export", str(graded), env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exported = {(r["student"], r["exercise"]): r for r in csv.DictReader((graded / "export" / "grades.csv").open())}
    assert exported[("wrong", WRITTEN)]["score"] == "2" and exported[("wrong", WRITTEN)]["reason"] == WRITTEN_NOTE
    assert exported[("wrong", "max_pool2d")]["score"] == "1"
    assert "score set by staff (the grader gave 0)" in exported[("wrong", "max_pool2d")]["reason"]
    assert exported[("correct", WRITTEN)]["score"] == "" and "awaiting" in exported[("correct", WRITTEN)]["reason"]
    assert exported[("blank", WRITTEN)]["score"] == "0"
    assert "written answer(s) still awaiting manual grading" in proc.stdout
    # a regrade of another student: `course review` rewrites that submission only
    (subs / "blank.ipynb").unlink()
    nbformat.write(nbformat.read(subs / "correct.ipynb", as_version=4), subs / "blank.ipynb")
    proc = _course("grade", str(subs), "--chapter", CHAPTER, "--out", str(graded), "--no-feedback", env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from autograder.course import Course
    from autograder.review import prepare_review

    monkeypatch.setenv("COURSE_BUILD_DIR", build_env["COURSE_BUILD_DIR"])
    _, written = prepare_review(Course(ROOT), graded)
    assert written == [f"blank/{CHAPTER}"], written
    assert stored()[1:] == (1, NOTE)
    assert written_grade()[1:] == (2, WRITTEN_NOTE)
