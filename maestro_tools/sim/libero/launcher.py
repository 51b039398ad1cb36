"""The ``libero_sim_node`` console script: starts the LIBERO node under LIBERO's own venv.

LIBERO needs its reference physics (mujoco 2.3.7, numpy 1.26), which cannot share Maestro's venv, so
``make setup-libero`` builds ``.venv-libero`` beside it. This entry point runs in whichever Python the
launcher uses (``maestro launch``, ``ros2 launch``) and replaces itself with
``.venv-libero/bin/python -m maestro_tools.sim.libero.node <args>``; where the venv is missing it exits
with status 2 and a message naming ``make setup-libero``. Plain Python: no ROS, no numpy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

VENV_ENV = "MAESTRO_LIBERO_VENV"  # overrides where the venv is (default: the checkout's .venv-libero)
NODE_MODULE = "maestro_tools.sim.libero.node"
SETUP_HINT = "run 'make setup-libero' in the Maestro checkout (builds .venv-libero, about 2 GB)"
# Environment a ROS-wheel venv or a sourced ROS install sets for its own Python: the LIBERO venv's
# interpreter must set up its own libraries (the wheels' bootstrap skips itself when this is inherited).
_FOREIGN_ENV = ("_ROS_WHEELS_BOOTSTRAP_COMPLETE", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME")


class LiberoMissingError(RuntimeError):
    """The LIBERO venv or its packages are missing; the message says how to install them."""


def default_venv() -> Path:
    override = os.environ.get(VENV_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[3] / ".venv-libero"


def venv_python(venv: Path | None = None) -> Path:
    """The LIBERO venv's interpreter; raises ``LiberoMissingError`` naming ``make setup-libero``."""
    venv = venv or default_venv()
    python = venv / "bin" / "python"
    if not python.is_file() or not os.access(python, os.X_OK):
        raise LiberoMissingError(f"the LIBERO venv {venv} is missing: {SETUP_HINT}")
    return python


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in _FOREIGN_ENV}
    env.setdefault("MUJOCO_GL", "egl")  # headless; the node renders from one thread (FINDINGS.md)
    return env


def check_packages(python: Path) -> None:
    """Raise ``LiberoMissingError`` when the venv lacks LIBERO, ROS or the node (a half-done setup)."""
    probe = (
        "import importlib.util as u, sys; "
        f"sys.exit(not all(u.find_spec(m) for m in ('libero', 'rclpy', 'maestro_msgs', '{NODE_MODULE}')))"
    )
    done = subprocess.run([str(python), "-c", probe], env=child_env(os.environ), capture_output=True)
    if done.returncode != 0:
        raise LiberoMissingError(f"{python.parent.parent} lacks LIBERO, ROS 2 or maestro: {SETUP_HINT}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        python = venv_python()
        check_packages(python)
    except LiberoMissingError as exc:
        print(f"libero_sim_node: {exc}", file=sys.stderr, flush=True)
        return 2
    os.execve(str(python), [str(python), "-m", NODE_MODULE, *args], child_env(os.environ))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
