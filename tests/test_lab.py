"""`make lab` (the README's first command) starts JupyterLab on chapters/ and serves a chapter."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback only)
        return resp.status, resp.read()


def test_make_lab_serves_the_chapters(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               VENV=str(Path(sys.prefix)))
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "-s", "lab", f"VENV={sys.prefix}", f"LAB_ARGS={args}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, body = _get(f"{base}/api/contents/ch02_convolution/ch02_convolution.ipynb?token={token}")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"JupyterLab did not start:\n{proc.stdout.read()}") from None
                time.sleep(0.5)
        assert status == 200
        model = json.loads(body)
        assert model["type"] == "notebook"
        assert any("conv2d_naive" in "".join(c["source"]) for c in model["content"]["cells"])
        status, page = _get(f"{base}/lab/tree/ch02_convolution/ch02_convolution.ipynb?token={token}")
        assert status == 200 and b"JupyterLab" in page
        status, _ = _get(f"{base}/api/kernelspecs?token={token}")
        assert status == 200
        overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
        assert json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
