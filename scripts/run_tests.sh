#!/usr/bin/env bash
# Sets up the no-ROS environment (fast when it exists) and runs the test suite.
# Extra arguments go to pytest, e.g. `scripts/run_tests.sh -k session`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/activate.sh"
cd "$ROOT"
# lint and format gate first: a style failure costs seconds, not a test run
ruff check .
ruff format --check .
exec python -m pytest test "$@"
