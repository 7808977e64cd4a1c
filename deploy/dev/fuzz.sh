#!/usr/bin/env bash
# Coverage-guided fuzzing of the importers, the LAN frame decoder and the candidate journal
# (crates/exam-fuzz, cargo-fuzz on nightly).
# Usage: deploy/dev/fuzz.sh SECONDS [TARGET...]
# Runs each target (default: all of them) for SECONDS, one after the other, each as one
# libFuzzer process on one core (no -jobs/-workers: libFuzzer's job mode would fork and hide
# the output in fuzz-N.log files). New inputs go to crates/exam-fuzz/target/corpus/TARGET (kept between runs, not
# committed); the seeds in crates/exam-fuzz/corpus/TARGET are read, never written. Exits non-zero
# if any target crashed (a panic that escapes the code under test or a failed assertion, a
# memory blow-up past -rss_limit_mb, a timeout), printing the artifact to reproduce it with:
#   cargo +nightly fuzz run --fuzz-dir crates/exam-fuzz TARGET ARTIFACT
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
fuzz_dir=crates/exam-fuzz
# The fuzz build has its own flags (sanitizer, coverage): keep it out of any shared target dir.
unset CARGO_TARGET_DIR

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz on the nightly toolchain is needed: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
  exit 2
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$fuzz_dir")
fi

failed=()
for target in "${targets[@]}"; do
  work="$fuzz_dir/target/corpus/$target"
  seeds="$fuzz_dir/corpus/$target"
  mkdir -p "$work" "$seeds" "$fuzz_dir/artifacts/$target"
  echo "== $target: ${seconds}s"
  before=$(find "$fuzz_dir/artifacts/$target" -type f | sort)
  status=0
  cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$work" "$seeds" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 || status=$?
  after=$(find "$fuzz_dir/artifacts/$target" -type f | sort)
  new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
  if [[ $status -ne 0 || -n $new ]]; then
    failed+=("$target")
    echo "!! $target crashed (exit $status); artifact(s):"
    echo "${new:-  (none written: see the output above)}" | sed 's/^/   /'
  else
    echo "== $target: no crash in ${seconds}s"
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashed: ${failed[*]}" >&2
  exit 1
fi
echo "all targets ran ${seconds}s without a crash: ${targets[*]}"
