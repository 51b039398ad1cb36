"""Package layering (maestro_agent -> maestro_tools -> maestro_msgs) and the one home of default models,
checked on the parsed source (ast), not on text."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "maestro_tools" / "vlm" / "defaults.py"
MODEL_NAME = re.compile(r"\bgemini-(?:\d|robotics|pro\b|flash\b|exp)")


def _python_files(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for import statements and import_module/__import__ calls with a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def test_maestro_tools_never_imports_maestro_agent() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in _python_files("maestro_tools")
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module == "maestro_agent" or module.startswith("maestro_agent.")
    ]
    assert not offenders, "maestro_tools must not import maestro_agent:\n" + "\n".join(offenders)


def test_the_checker_sees_every_import_form() -> None:
    source = (
        "import maestro_agent.loop\nfrom maestro_agent import prompt\n"
        "import importlib\nimportlib.import_module('maestro_agent.node')\n"
    )
    found = [module for _, module in _imported_modules(ast.parse(source))]
    assert found.count("importlib") == 1
    assert {"maestro_agent.loop", "maestro_agent", "maestro_agent.node"} <= set(found)


def test_model_names_are_set_only_in_defaults() -> None:
    offenders = []
    for package in ("maestro_agent", "maestro_tools"):
        for path in _python_files(package):
            if path == DEFAULTS:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                text = node.value if isinstance(node, ast.Constant) else None
                if isinstance(text, str) and MODEL_NAME.search(text):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:80]!r}")
    for path in sorted([*(ROOT / "config").rglob("*.yaml"), *(ROOT / "launch").glob("*.py")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if MODEL_NAME.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]!r}")
    assert not offenders, "use maestro_tools/vlm/defaults.py for model names:\n" + "\n".join(offenders)


def _imports_of(package: str) -> Iterator[tuple[Path, int, str]]:
    for path in _python_files(package):
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            yield path, line, module


def test_modules_never_import_the_simulator() -> None:
    """Motion, grasping, perception, navigation and the drivers work on the robot's model and sensors only."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for folder in ("motion", "grasping", "perception", "navigation", "drivers")
        for path, line, module in _imports_of(f"maestro_tools/{folder}")
        if module == "maestro_tools.sim" or module.startswith("maestro_tools.sim.")
    ]
    assert not offenders, "modules must not import the simulator:\n" + "\n".join(offenders)


ROBOT_CONSTANT = re.compile(r"panda[_/]|fr3_joint")  # in strings; and a module-level name HOME
PROFILE_FILES = {ROOT / "maestro_tools" / "robots" / name for name in ("franka.py", "libero.py")}


def test_robot_constants_live_only_in_their_profile() -> None:
    """No joint name, MJCF name or home posture of a robot outside its profile file (docstrings and the
    parameters' help texts that quote a driver's names as examples aside)."""
    offenders = []
    for package in ("maestro_agent", "maestro_tools"):
        for path in _python_files(package):
            if path in PROFILE_FILES:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            documented = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                text = ""
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in documented
                ):
                    text = node.value
                elif isinstance(node, ast.Name | ast.Attribute):
                    name = node.id if isinstance(node, ast.Name) else node.attr
                    text = "panda/HOME" if name == "HOME" else ""
                if ROBOT_CONSTANT.search(text) and "e.g." not in text and "franka_ros2:" not in text:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:60]!r}")
    assert not offenders, "robot constants outside their profile:\n" + "\n".join(offenders)
