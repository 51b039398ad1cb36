#!/usr/bin/env bash
# `make demo`: the Franka simulation graph with the scripted VLM (replaying the shipped reference
# programs, not a model) runs "put the tennis ball into the bowl" and "clean the table ... from big
# size to small size", and prints each outcome and where its trace is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MAESTRO_VENV:-.venv}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( $$ % 100 + 1 ))}
LOG=${DEMO_LOG:-demo-launch.log}

"$VENV/bin/maestro" launch franka vlm:=scripted real_time_factor:=2.0 >"$LOG" 2>&1 &
LAUNCH=$!
trap 'kill -INT $LAUNCH 2>/dev/null; wait $LAUNCH 2>/dev/null || true' EXIT
echo "graph starting (log: $LOG) ..."

status=0
"$VENV/bin/maestro" run "Put the tennis ball into the bowl." --task ball_in_bowl || status=1
"$VENV/bin/maestro" run "Clean the table by putting all the items into the bowl, from big size to small size." \
  --task clean_table --max-substeps 12 || status=1
exit $status
