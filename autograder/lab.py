"""``course lab``: open JupyterLab on chapters/, offline-friendly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .build import build_course, stale_chapters
from .course import Course, nbgrader_env, write_config
from .exchange import exchange_root

__all__ = ["lab", "lab_env", "start_jupyterlab", "write_lab_overrides", "write_nbgrader_config"]

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


def write_nbgrader_config(config_dir: Path, exchange: Path, settings: dict[str, str] | None = None) -> Path:
    """Write ``config_dir/nbgrader_config.py`` for nbgrader's lab extensions: this course's id and exchange.

    The *Assignments* tab reads nbgrader_config.py files only (the server's folder, then Jupyter's config
    path), never JupyterLab's command line; :func:`lab_env` puts ``config_dir`` first on that path. It
    fetches into and submits from nbgrader's ``Exchange.assignment_dir``, ``"."``: the folder JupyterLab
    was started in, so ``course lab`` starts it in the folder it serves. ``settings`` adds more
    (``{"CourseDirectory.db_url": ...}``, for ``course review``). Written by :func:`course.write_config`."""
    return write_config(config_dir, grading=False, settings={"Exchange.root": str(exchange), **(settings or {})})


def lab_env(config_dir: Path) -> dict[str, str]:
    """Environment of ``course lab``'s JupyterLab: notebooks draw inline, ``config_dir`` (see
    :func:`write_nbgrader_config`) first on ``$JUPYTER_CONFIG_PATH``."""
    env = nbgrader_env()
    env.pop("MPLBACKEND", None)  # notebooks draw inline
    env.pop("PYTHONHASHSEED", None)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in (str(config_dir), env.get("JUPYTER_CONFIG_PATH")) if p)
    return env


def lab(course: Course, jupyter_args: list[str]) -> None:
    """Build missing chapters (never overwriting work), then replace this process by JupyterLab."""
    missing = stale_chapters(course) if course.has_solutions else []
    if missing:
        print(f"Building {len(missing)} chapter(s) first: {', '.join(missing)}")
        build_course(course, missing)
    config_dir = course.root / "build" / "lab"  # git-ignored, like the nbgrader build
    write_nbgrader_config(config_dir, exchange_root())  # $COURSE_EXCHANGE or /srv/nbgrader/exchange
    course.chapters.mkdir(parents=True, exist_ok=True)
    # the Assignments tab fetches into (and submits from) the working directory: the folder served
    start_jupyterlab(course.chapters, config_dir, jupyter_args)


def start_jupyterlab(folder: Path, config_dir: Path, jupyter_args: list[str], options: tuple[str, ...] = ()) -> None:
    """Replace this process by JupyterLab serving ``folder``, started in it, with :func:`lab_env`."""
    write_lab_overrides()
    args = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", *options, *jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in jupyter_args:
        args.append("--allow-root")  # containers and CI machines often run as root; Jupyter refuses otherwise
    os.chdir(folder)
    os.execve(sys.executable, args, lab_env(config_dir))
