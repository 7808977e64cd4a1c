#!/usr/bin/env bash
# The project's test command (what CI runs): installs what is missing, checks formatting and
# lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/install-deps.sh
# A clean build gains nothing from incremental state, and it costs disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  cargo test --workspace --locked
fi
