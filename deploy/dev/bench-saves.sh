#!/usr/bin/env bash
# Save throughput and latency: a release `site-server demo` on loopback and `exam-client simulate`
# with N candidates. Usage: deploy/dev/bench-saves.sh CANDIDATES THINK_MS [SIMULATE OPTIONS...]
# e.g. `deploy/dev/bench-saves.sh 1000 200 --journal-dir /dev/shm/journals` keeps the simulated
# machines' journals on tmpfs (their fsyncs then do not queue on the server's disk).
# Prints simulate's figures (saves acknowledged per second, save latency p50/p99/max, the login
# burst and the latency after it), its summary, the CPU time each process used, and the site's
# own share: arrival to acknowledgement as `status.json` reports it every 2 s (worst interval).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200}
think=${2:-0}
shift $(( $# < 2 ? $# : 2 ))
cargo build --release --quiet -p site-server -p exam-client
data=$(mktemp -d)
cpu() { awk '{printf "site-server CPU: user %.1f s, system %.1f s\n", $14/100, $15/100}' "/proc/$server/stat"; }
site_share() {
  python3 - "$data/acks.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for i, r in enumerate(rows) if r and (i == 0 or r != rows[i - 1])]
if rows:
    worst = max(rows, key=lambda r: r["p99_ms"])
    print(f"site share (arrival to acknowledgement), {len(rows)} intervals of 2 s: worst p99 "
          f"{worst['p99_ms']} ms, worst max {max(r['max_ms'] for r in rows)} ms, median of the "
          f"p50s {sorted(r['p50_ms'] for r in rows)[len(rows) // 2]} ms")
PY
}
trap 'kill $sampler 2>/dev/null; site_share 2>/dev/null; cpu 2>/dev/null; kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
port=$((20000 + RANDOM % 20000))
RUST_LOG=warn target/release/site-server demo --data "$data/site" --listen "127.0.0.1:$port" \
  --candidates "$n" --start-in 0 > "$data/server.out" &
server=$!
for _ in $(seq 100); do grep -q '^listening on' "$data/server.out" 2>/dev/null && break; sleep 0.1; done
fp=$(target/release/site-server fingerprint --data "$data/site")
# Every status interval's acknowledgement latency, as the site measured it.
(while sleep 1; do
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); a=s.get("ack_latency"); print(json.dumps(a)) if a and a.get("count") else None' \
    "$data/site/status.json" >> "$data/acks.jsonl" 2>/dev/null
done) &
sampler=$!
echo "candidates=$n think_ms=$think $* ($(nproc) cores, $(uname -m))"
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f "simulate CPU: user %U s, system %S s")
"${timer[@]}" target/release/exam-client simulate \
  --server "127.0.0.1:$port" --ca-fingerprint "$fp" --candidates "$n" --think-ms "$think" \
  --deadline-secs 900 "$@"
