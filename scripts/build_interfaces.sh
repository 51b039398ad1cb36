#!/usr/bin/env bash
# Builds the ROS interface packages into a venv with ROS 2 Jazzy wheels (run by scripts/setup.sh and
# scripts/setup_libero.sh): first the standard packages named (maestro_msgs/standard: field-for-field
# subsets of Jazzy's tf2_msgs, control_msgs, nav2_msgs, which have no wheel), then maestro_msgs, which may
# depend on them. Each is skipped when its stamp (a hash of its interface files) matches and its Python
# imports; maestro_msgs's stamp also covers the standard packages its package.xml depends on, so a change
# there rebuilds it.
#   scripts/build_interfaces.sh VENV STANDARD_PACKAGE...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$1
shift
PY="$VENV/bin/python"
STAMPS="$VENV/.maestro-stamps"
cd "$ROOT"

say() { printf '\033[1m[interfaces]\033[0m %s\n' "$*"; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { mkdir -p "$STAMPS" && echo "$2" >"$STAMPS/$1"; }
iface_hash() {  # interface files, CMakeLists.txt and package.xml of the package in $1 (not nested ones)
  (cd "$1" && find . -path ./standard -prune -o -type f \( -name '*.msg' -o -name '*.srv' \
    -o -name '*.action' -o -name CMakeLists.txt -o -name package.xml \) -print |
    sort | xargs cat | sha256sum | cut -c1-16)
}
std_imports() {  # the generated Python of each kind (msg, srv, action) the standard package $1 has
  local kind
  for kind in msg srv action; do
    [ ! -d "maestro_msgs/standard/$1/$kind" ] || "$PY" -c "import $1.$kind" 2>/dev/null || return 1
  done
}

msgs_hash=$(iface_hash maestro_msgs)
for std in "$@"; do
  std_hash=$(iface_hash "maestro_msgs/standard/$std")
  if ! stamp_ok "$std" "$std_hash" || ! std_imports "$std"; then
    say "building $std (maestro_msgs/standard) into $VENV"
    bash scripts/build_msgs.sh "maestro_msgs/standard/$std" "$VENV"
    stamp "$std" "$std_hash"
  fi
  if grep -q "depend>$std</" maestro_msgs/package.xml; then
    msgs_hash=$(echo "$msgs_hash $std_hash" | sha256sum | cut -c1-16)
  fi
done
if ! stamp_ok msgs "$msgs_hash" || ! "$PY" -c 'import maestro_msgs.msg' 2>/dev/null; then
  say "building maestro_msgs into $VENV (about a minute on 2 cores)"
  bash scripts/build_msgs.sh maestro_msgs "$VENV"
  stamp msgs "$msgs_hash"
fi
