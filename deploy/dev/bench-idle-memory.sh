#!/usr/bin/env bash
# Site memory per idle connected candidate: a release `site-server demo` with N candidates on
# loopback; `exam-client simulate` logs in a first group of 100, then the rest, each candidate then
# thinking for an hour (idle, connected, paper delivered). Prints the server's resident memory
# (VmRSS) at start, with 100 and with N candidates logged in, and the marginal cost per candidate
# ((RSS at N - RSS at 100) / (N - 100)): shared paper and media frames are built by the first
# logins and do not count against the others.
# Usage: deploy/dev/bench-idle-memory.sh [N]   (default 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
first=100
if (( n <= first )); then echo "N must be more than $first" >&2; exit 2; fi
cargo build --release --quiet -p site-server -p exam-client
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
RUST_LOG=warn target/release/site-server demo --data "$work/site" --listen "127.0.0.1:$port" \
  --candidates "$n" --start-in 0 > "$work/server.out" &
server=$!
pids+=("$server")
for _ in $(seq 100); do grep -q '^listening on' "$work/server.out" 2>/dev/null && break; sleep 0.1; done
fp=$(target/release/site-server fingerprint --data "$work/site")
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
logged_in() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logged_in"])' "$work/site/status.json" 2>/dev/null || echo 0; }
wait_logged_in() {
  for _ in $(seq 600); do (( $(logged_in) >= $1 )) && return 0; sleep 0.5; done
  echo "only $(logged_in) of $1 candidates logged in after 5 minutes" >&2
  exit 1
}
idle() {
  target/release/exam-client simulate --server "127.0.0.1:$port" --ca-fingerprint "$fp" \
    --first "$1" --candidates "$2" --think-ms 3600000 --deadline-secs 3600 --memory-journal \
    > "$work/sim-$1.out" 2>&1 &
  pids+=("$!")
}
sleep 2
start=$(rss_kib)
idle 0 "$first"
wait_logged_in "$first"
sleep 5
at_first=$(rss_kib)
idle "$first" "$((n - first))"
wait_logged_in "$n"
sleep 5
at_n=$(rss_kib)
echo "site server VmRSS: ${start} KiB at start, ${at_first} KiB with $first idle candidates, ${at_n} KiB with $n"
echo "per idle connected candidate: $(( (at_n - at_first) / (n - first) )) KiB marginal, $(( (at_n - start) / n )) KiB average from start"
