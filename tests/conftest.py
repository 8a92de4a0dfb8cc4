"""Fixtures shared by the tests that run the `course` command line."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def build_env(tmp_path_factory) -> dict:
    """A private nbgrader build directory per test module: parallel workers never share a gradebook."""
    env = dict(os.environ)
    env["COURSE_BUILD_DIR"] = str(tmp_path_factory.mktemp("build") / "course")
    return env
