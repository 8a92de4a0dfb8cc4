"""A real JupyterLab in a real browser: run a chapter, move its widget, see the picture change.

Starts JupyterLab headless on a temporary copy of a chapter (with its solutions, so every cell runs),
drives Debian's chromium with Playwright for Python (no browser download: ``make test`` installs the
``chromium`` package), clicks *Run → Run All Cells*, changes a dropdown and moves a slider of the
chapter's explorer, and checks that the rendered image changed. Screenshots of the widget before and
after land in ``test-artifacts/browser/`` (CI keeps them as artefacts).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest

from autograder.course import nbgrader_env
from autograder.lab import write_lab_overrides

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium on a closed network: no background connections, no sandbox (CI runs as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (`make test` runs `apt-get install chromium`)",
                allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency: make test")

#: chapter -> (text of the cell that shows the widget, [(control kind, index among that kind)])
SCENARIOS = {
    "ch02_convolution": ("KernelPlayground(conv_fn=conv2d)", [("select", 1), ("slider", 0)]),
    # ch09: the layer dropdown, the channel slider, the image picker
    "ch09_visualization": ("FeatureMapExplorer(", [("select", 1), ("slider", 0), ("select", 0)]),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a temporary folder holding each scenario's chapter, with solutions filled in."""
    work = tmp_path_factory.mktemp("lab")
    for chapter in SCENARIOS:
        source = ROOT / "solutions" / f"{chapter}.py"
        if source.exists():
            jupytext.write(jupytext.read(source), work / f"{chapter}.ipynb")
    write_lab_overrides()  # as `course lab` does: no "fetch Jupyter news?" toast over the notebook
    port, token = _free_port(), secrets.token_hex(16)
    env = nbgrader_env()
    env.pop("MPLBACKEND", None)  # notebooks draw inline, as for a student
    env.update(JUPYTER_RUNTIME_DIR=str(work / ".runtime"), JUPYTER_CONFIG_DIR=str(work / ".config"))
    log = open(work / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)  # noqa: S310 (loopback)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not start:\n{(work / 'jupyterlab.log').read_text()}") from None
            time.sleep(0.5)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser, base, token
            browser.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


#: Only the notebook in front: a restored workspace may keep other notebooks open in hidden tabs.
_CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _accept_kernel_dialog(page) -> None:
    """On a busy machine JupyterLab may ask which kernel to start (its session request timed out, seen
    in CI); the notebook's own, preselected, is the right answer — as a student would click."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    try:
        dialog.wait_for(state="visible", timeout=2_000)
    except playwright.TimeoutError:
        return
    dialog.get_by_role("button", name="Select", exact=True).click()
    dialog.wait_for(state="detached", timeout=30_000)


def _run_all(page, timeout_s: float = 420) -> None:
    """Run → Run All Cells, then wait until every code cell has run; fail with the error if one raised."""
    prompts_js = (f"() => [...document.querySelectorAll('{_CURRENT} .jp-CodeCell .jp-InputPrompt')]"
                  ".map(e => e.textContent.trim())")
    deadline = time.monotonic() + timeout_s
    idle_since = None
    for _attempt in range(3):  # a click while the kernel is still starting can be lost: try again
        _accept_kernel_dialog(page)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()
        started = time.monotonic()
        while time.monotonic() - started < 20 and not any("*" in p or re.search(r"\d", p)
                                                          for p in page.evaluate(prompts_js)):
            time.sleep(0.5)
        if any("*" in p or re.search(r"\d", p) for p in page.evaluate(prompts_js)):
            break
    while time.monotonic() < deadline:
        prompts = page.evaluate(prompts_js)
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return
        if prompts and not any("*" in p for p in prompts):  # nothing running, some never ran: an error?
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 10:
                errors = page.locator(f"{_CURRENT} .jp-OutputArea-output", has_text="Error").all_inner_texts()
                raise AssertionError(f"Run All stopped early ({sum(p == '[ ]:' for p in prompts)} cells not run):\n"
                                     + "\n".join(errors)[-3000:])
        else:
            idle_since = None
        time.sleep(1)
    raise AssertionError(f"cells still running after {timeout_s:.0f} s")


def _act(widget, kind: str, index: int) -> None:
    """Change a dropdown to another option, or move a slider one step right (by keyboard, as a user could)."""
    if kind == "select":
        select = widget.locator("select").nth(index)
        n = select.evaluate("e => e.options.length")
        current = select.evaluate("e => e.selectedIndex")
        select.select_option(index=(current + 1) % n)
    else:
        handle = widget.locator(".noUi-handle").nth(index)
        handle.focus()
        handle.press("ArrowRight")


@pytest.mark.parametrize("chapter", sorted(SCENARIOS))
def test_widget_redraws_in_a_real_browser(lab, chapter):
    if not (ROOT / "solutions" / f"{chapter}.py").exists():
        pytest.skip(f"{chapter} is not in this course")
    browser, base, token = lab
    marker, actions = SCENARIOS[chapter]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # a workspace of its own per chapter: JupyterLab would otherwise reopen the other notebooks too
        page.goto(f"{base}/lab/workspaces/{chapter}/tree/{chapter}.ipynb?reset&token={token}")
        page.wait_for_selector(f"{_CURRENT} .jp-CodeCell", timeout=90_000)
        page.wait_for_selector(".jp-mod-current .lm-TabBar-tabLabel", timeout=90_000)
        page.wait_for_function("(name) => document.querySelector('.jp-mod-current .lm-TabBar-tabLabel')"
                               "?.textContent.includes(name)", arg=chapter, timeout=90_000)
        _run_all(page)
        cell = page.locator(f"{_CURRENT} .jp-CodeCell", has_text=marker).last
        cell.scroll_into_view_if_needed()
        image = cell.locator(".widget-image").first
        image.wait_for(timeout=30_000)
        cell.screenshot(path=ARTIFACTS / f"{chapter}-0.png")
        for step, (kind, index) in enumerate(actions, start=1):
            before = image.screenshot()
            _act(cell, kind, index)
            deadline = time.monotonic() + 20
            while image.screenshot() == before:
                assert time.monotonic() < deadline, f"{chapter}: the picture did not change after moving {kind} {index}"
                time.sleep(0.25)
            cell.screenshot(path=ARTIFACTS / f"{chapter}-{step}.png")
        print(f"screenshots: {ARTIFACTS}/{chapter}-*.png")
    except Exception:
        page.screenshot(path=ARTIFACTS / f"{chapter}-failure.png", full_page=False)
        raise
    finally:
        page.close()
