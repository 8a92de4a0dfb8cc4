"""The answers live in course_lib.reference and nothing else needs them to import."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import course_lib
from course_lib.testing.core import REFERENCE_MODULES, REFERENCE_PACKAGE

ROOT = Path(course_lib.__file__).parent


def _tool_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(ROOT)], prefix="course_lib.", onerror=lambda name: None):
        if info.name == REFERENCE_PACKAGE or info.name.startswith(REFERENCE_PACKAGE + "."):
            continue
        names.append(info.name)
    return sorted(names)


def test_reference_modules_list_the_package():
    found = {f"{REFERENCE_PACKAGE}.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "reference")])}
    assert found == set(REFERENCE_MODULES)


def test_every_tool_module_imports_without_the_answers():
    tools = _tool_modules()
    assert {"course_lib.data", "course_lib.train", "course_lib.models", "course_lib.testing", "course_lib.viz.kernels",
            "course_lib.gan_experiments", "course_lib.profiling", "course_lib.gradcheck"} <= set(tools)
    code = f"""
import importlib, sys

class NoAnswers:
    def find_spec(self, name, path=None, target=None):
        if name == {REFERENCE_PACKAGE!r} or name.startswith({REFERENCE_PACKAGE!r} + "."):
            raise ImportError("the answers are not importable here", name=name)
        return None

sys.meta_path.insert(0, NoAnswers())
failed = []
for name in {tools!r}:
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{{name}}: {{type(err).__name__}}: {{err}}")
from course_lib.testing import EXERCISES
assert len(EXERCISES) > 100, len(EXERCISES)
assert not [m for m in sys.modules if m.startswith({REFERENCE_PACKAGE!r})]
print("\\n".join(failed))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "", proc.stdout


def test_no_tool_imports_an_answer_at_module_level():
    import ast

    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if (ROOT / "reference") in path.parents:
            continue
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports sit in functions
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == REFERENCE_PACKAGE or n.startswith(REFERENCE_PACKAGE + ".") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders
