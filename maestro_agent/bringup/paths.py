"""Where Maestro's installed data (config/, launch/, rviz/) and executables are."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from maestro_tools.common.errors import NotFoundError

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _ament_share() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("maestro"))
    except Exception:
        return None


def share_dir() -> Path:
    """The package's share directory: the checkout itself for an editable install, else share/maestro."""
    override = os.environ.get("MAESTRO_SHARE_DIR")
    candidates = [
        lambda: Path(override) if override else None,
        lambda: _SOURCE_ROOT,
        _ament_share,
        lambda: Path(sys.prefix) / "share" / "maestro",
    ]
    looked = []
    for candidate in candidates:
        path = candidate()
        if path is None:
            continue
        if (path / "config" / "bringup").is_dir():
            return path
        looked.append(str(path))
    raise NotFoundError(
        f"cannot find Maestro's config/bringup directory; looked in {', '.join(looked)}. "
        "Run 'make setup' in the checkout, or set MAESTRO_SHARE_DIR."
    )


def bringup_specs() -> dict[str, Path]:
    """Robot name -> bringup spec file."""
    folder = share_dir() / "config" / "bringup"
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def find_executable(package: str, executable: str) -> Path | None:
    """An executable: absolute, or as ``ros2 run`` finds it (lib/<package>/), beside this Python, on PATH."""
    if Path(executable).is_absolute():
        return Path(executable) if os.access(executable, os.X_OK) else None
    prefix = Path(sys.prefix)
    for candidate in (prefix / "lib" / package / executable, Path(sys.executable).parent / executable):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(executable)
    return Path(found) if found else None
