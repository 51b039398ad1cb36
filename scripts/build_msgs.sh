#!/usr/bin/env bash
# Build an ament_cmake interface package with plain CMake and install it into a venv prefix,
# so the ROS wheels' runtime finds it without any environment variables.
#   usage: scripts/build_msgs.sh <package_dir> <venv_dir>
set -euo pipefail
pkg=$(cd "${1:?package dir}" && pwd)
venv=$(cd "${2:?venv dir}" && pwd)
name=$(basename "$pkg")
builds=${MAESTRO_BUILD_DIR:-$venv/.build}
build="$builds/$name"
log="$builds/$name.log"
# A fresh build tree each time: rosidl's generated sources of a removed interface would otherwise stay
# in the tree and be linked into the new type support (undefined symbols at import).
rm -rf "$build"
mkdir -p "$build"
# The installed Python package too, so removed interfaces do not linger as importable modules.
rm -rf "$venv"/lib/python*/site-packages/"$name"

export AMENT_PREFIX_PATH="$venv"   # ament_index lookups at configure time (rosidl_typesupport_c)
export PATH="$venv/bin:$PATH"      # FindPython3 must pick the venv's Python (NumPy headers)

fail() {
  tail -n 25 "$log" >&2 || true
  echo "" >&2
  echo "ERROR: $name did not build: rosidl rejected an interface or a dependency is missing (the" \
       "lines above name the file; full log: $log). Fix it and run 'make setup' again." >&2
  exit 1
}

{
  cmake -S "$pkg" -B "$build" -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$venv/bin/python" &&
  cmake --build "$build" -j"$(nproc)" &&
  cmake --install "$build"
} >"$log" 2>&1 || fail
echo "built $name and installed it into $venv"
