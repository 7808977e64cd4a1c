#!/usr/bin/env bash
# Builds and starts a demo exam site (a sample electrician paper, 200 candidates). Extra
# arguments go to `site-server demo`, e.g. --candidates 50 --start-in 120 --data /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/install-deps.sh
exec cargo run --release --quiet -p site-server -- demo "$@"
