#!/usr/bin/env bash
# Fail with one sentence when `make setup` has not run (or did not finish) in this checkout.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MAESTRO_VENV:-$ROOT/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "No virtual environment at $VENV: run 'make setup' first." >&2; exit 1
fi
if ! "$VENV/bin/python" -c 'import rclpy, maestro_msgs.msg, maestro_agent' 2>/dev/null; then
  echo "The environment at $VENV is incomplete (rclpy, maestro_msgs or maestro missing): run 'make setup' again." >&2
  exit 1
fi
