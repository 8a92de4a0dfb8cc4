"""Project hygiene: pins agree, the stack is the tested one, the code is linted, nothing downloads."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = {}
    for spec in specs:
        name, _, pinned = spec.partition("==")
        assert pinned, f"{spec!r} in pyproject.toml is not pinned with =="
        pins[name.lower()] = pinned
    return pins


def test_environment_yml_agrees_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = dict(s.lower().split("==") for s in pip_section if "==" in s)
    assert conda_pins == _pyproject_pins()
    assert "python=3.11" in env["dependencies"]


def test_installed_versions_are_the_pinned_ones():
    wrong = {name: (pin, version(name)) for name, pin in _pyproject_pins().items()
             if version(name).split("+")[0] != pin}
    assert not wrong, f"installed versions differ from the pins (pin, installed): {wrong}"


def test_torch_is_the_cpu_build_and_torchvision_is_not_a_dependency():
    import torch

    assert not torch.cuda.is_available()
    assert "torchvision" not in (ROOT / "pyproject.toml").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.strip().startswith("#")]
    assert ci[-1] == "make test"


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_runtime_downloads():
    pattern = re.compile(r"urlretrieve|requests\.get\(|torch\.hub|download=True|urlopen\(")
    offenders = [str(p.relative_to(ROOT)) for folder in ("course_lib", "autograder", "solutions")
                 for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders
