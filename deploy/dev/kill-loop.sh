#!/usr/bin/env bash
# SIGKILLs the real site server N times while simulated candidates save, restarting it on the same
# data each time, and checks every acknowledged change against the store. Usage:
#   deploy/dev/kill-loop.sh [N]        (default 1000; CI runs 10 through the normal tests)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
EXAM_KILL_CYCLES=$n cargo test --release -p site-server --test kill_restart -- --nocapture 2>&1 \
  | grep --line-buffered -E "^kill loop|test result|panicked|assert"
