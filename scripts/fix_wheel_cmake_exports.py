"""Point the ROS wheels' CMake exports at this interpreter's Python and NumPy headers.

The ros-jazzy-*-msgs wheels are built in a manylinux container, and their exported
``*__rosidl_generator_pyExport.cmake`` files name include directories under
``/opt/python/cpXY-cpXY/`` that exist only there. CMake refuses to configure a package
that depends on a target with a missing include directory, so building maestro_msgs
against the wheels fails until those paths are rewritten. Safe to run repeatedly.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

_PYTHON_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+t?/include/python[0-9.]+t?")
_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp\d+-cp\d+t?/lib/python[0-9.]+t?/site-packages/numpy/_core/include"
)


def fix_exports(prefix: Path) -> int:
    """Rewrite the baked-in include paths under ``prefix/share``; return the files changed."""
    import numpy

    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in sorted(prefix.glob("share/*/cmake/*.cmake")):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        fixed = _PYTHON_INCLUDE.sub(python_include, _NUMPY_INCLUDE.sub(numpy_include, text))
        if fixed != text:
            path.write_text(fixed)
            changed += 1
    return changed


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.prefix)
    count = fix_exports(root)
    print(f"fix_wheel_cmake_exports: {count} CMake export file(s) rewritten under {root}/share")
