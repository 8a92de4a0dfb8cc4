"""``course lab``: open JupyterLab on chapters/, offline-friendly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .build import build_course, stale_chapters
from .course import Course, nbgrader_env

__all__ = ["lab", "write_lab_overrides"]

#: JupyterLab settings for classrooms without internet: never ask to fetch news or updates.
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def write_lab_overrides(prefix: Path = Path(sys.prefix)) -> Path:
    """Merge :data:`LAB_OVERRIDES` into ``<prefix>/share/jupyter/lab/settings/overrides.json``."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    for plugin, settings in LAB_OVERRIDES.items():
        current.setdefault(plugin, {}).update(settings)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def lab(course: Course, jupyter_args: list[str]) -> None:
    """Build missing chapters (never overwriting work), then replace this process by JupyterLab."""
    missing = stale_chapters(course) if course.has_solutions else []
    if missing:
        print(f"Building {len(missing)} chapter(s) first: {', '.join(missing)}")
        build_course(course, missing)
    write_lab_overrides()
    args = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={course.chapters}", *jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in jupyter_args:
        args.append("--allow-root")  # containers and CI machines often run as root; Jupyter refuses otherwise
    env = nbgrader_env()
    env.pop("MPLBACKEND", None)  # notebooks draw inline
    env.pop("PYTHONHASHSEED", None)
    os.execve(sys.executable, args, env)
