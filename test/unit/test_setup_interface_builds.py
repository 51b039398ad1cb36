"""scripts/setup.sh's interface builds (scripts/build_interfaces.sh): the standard packages
(maestro_msgs/standard) before maestro_msgs, each skipped by its stamp, rebuilt when its files change, a
failure stopping the setup.

The real setup.sh runs in a copy of the checkout whose Python, build script and dpkg are fakes that
record what they were asked to do, so each run takes a fraction of a second and touches no venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for both the system Python and the venv's: imports of <pkg>.msg/.action succeed once built.
if [ "$1" = -c ]; then
  case "$2" in
    *"print(sys.version)"*) echo "3.11.2 (fake)" ;;
    "import "*.msg|"import "*.action) module=${2#import }; [ -f "$FAKE_STATE/imports/${module%.*}" ] ;;
  esac
  exit $?
fi
exit 0
"""

FAKE_BUILD = """#!/usr/bin/env bash
# Stands in for scripts/build_msgs.sh: records the package, fails where the package has a FAIL file.
name=$(basename "$1")
echo "$name" >>"$FAKE_STATE/builds"
if [ -f "$1/FAIL" ]; then echo "ERROR: $name did not build (fake)" >&2; exit 1; fi
touch "$FAKE_STATE/imports/$name"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what setup.sh reads, with fakes for everything that would build or install."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for script in ("setup.sh", "build_interfaces.sh"):
        shutil.copy(ROOT / "scripts" / script, root / "scripts" / script)
    (root / "scripts" / "build_msgs.sh").write_text(FAKE_BUILD)
    shutil.copytree(ROOT / "maestro_msgs", root / "maestro_msgs")
    shutil.copytree(ROOT / "requirements", root / "requirements")
    for name in ("setup.py", "setup.cfg", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    fakes = tmp_path / "bin"
    fakes.mkdir()
    (fakes / "python").write_text(FAKE_PYTHON)
    (fakes / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    venv = root / ".venv" / "bin"
    venv.mkdir(parents=True)
    for fake in (fakes / "python", fakes / "dpkg-query"):
        fake.chmod(0o755)
    (venv / "python").symlink_to(fakes / "python")
    (tmp_path / "state" / "imports").mkdir(parents=True)
    return root


def setup(checkout: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run setup.sh once; return its result and the packages it built, in order."""
    state = checkout.parent / "state"
    (state / "builds").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("ROS_DISTRO", "MAESTRO_VENV", "PYTHON")}
    env.update(
        PATH=f"{checkout.parent / 'bin'}:{env['PATH']}",
        PYTHON=str(checkout.parent / "bin" / "python"),
        FAKE_STATE=str(state),
    )
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60, env=env
    )
    builds = (state / "builds").read_text().split() if (state / "builds").exists() else []
    return result, builds


def test_standard_packages_build_first_then_are_skipped(checkout: Path) -> None:
    result, builds = setup(checkout)
    assert result.returncode == 0, result.stderr
    assert sorted(builds[:3]) == ["control_msgs", "nav2_msgs", "tf2_msgs"] and builds[3:] == ["maestro_msgs"]
    result, builds = setup(checkout)
    assert result.returncode == 0, result.stderr
    assert builds == []


def test_a_changed_standard_package_is_rebuilt_alone(checkout: Path) -> None:
    setup(checkout)
    action = checkout / "maestro_msgs" / "standard" / "control_msgs" / "action" / "GripperCommand.action"
    action.write_text(action.read_text() + "\n# edited\n")
    _, builds = setup(checkout)
    assert builds == ["control_msgs"]


def test_maestro_msgs_is_rebuilt_when_a_standard_package_it_depends_on_changes(checkout: Path) -> None:
    package_xml = checkout / "maestro_msgs" / "package.xml"
    package_xml.write_text(
        package_xml.read_text().replace(
            "<depend>trajectory_msgs</depend>",
            "<depend>trajectory_msgs</depend>\n  <depend>control_msgs</depend>",
        )
    )
    setup(checkout)
    message = checkout / "maestro_msgs" / "standard" / "control_msgs" / "msg" / "JointTolerance.msg"
    message.write_text(message.read_text() + "\n# edited\n")
    _, builds = setup(checkout)
    assert builds == ["control_msgs", "maestro_msgs"]
    message = checkout / "maestro_msgs" / "standard" / "tf2_msgs" / "msg" / "TFMessage.msg"
    message.write_text(message.read_text() + "\n# edited\n")
    _, builds = setup(checkout)
    assert builds == ["tf2_msgs"]  # maestro_msgs does not depend on tf2_msgs


def test_a_failed_standard_build_stops_the_setup_before_maestro_msgs(checkout: Path) -> None:
    (checkout / "maestro_msgs" / "standard" / "control_msgs" / "FAIL").touch()
    result, builds = setup(checkout)
    assert result.returncode == 1
    assert "ERROR: control_msgs did not build" in result.stderr
    assert "maestro_msgs" not in builds and "ready" not in result.stdout
    (checkout / "maestro_msgs" / "standard" / "control_msgs" / "FAIL").unlink()
    result, builds = setup(checkout)
    assert result.returncode == 0 and builds == ["control_msgs", "nav2_msgs", "maestro_msgs"]
