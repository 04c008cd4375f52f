#!/usr/bin/env bash
# Sets up the no-ROS environment (fast when it exists), then replays the bundled
# synthetic camera bag into the perception node with the bundled checkpoint.
# Writes demo_output/overlay.mp4, demo_output/frames/*.png and demo_output/report.json,
# and prints the tracks per frame and the scores. Arguments go to the demo
# (`--help` lists them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/activate.sh"
cd "$ROOT"
exec python -m ausm_ros.bag.demo "$@"
