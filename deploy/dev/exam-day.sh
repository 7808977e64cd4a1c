#!/usr/bin/env bash
# A whole exam day on one machine, for real processes on loopback:
#   central initialised; a site with a room; the sample QTI package; a plan with one session
#   starting now; the sample roster imported; the plan submitted and approved; central's HTTPS API
#   started; the site enrolled with its one-time token; `site-server run` pulls the signed package
#   and the paper key; simulated candidates sit the exam over QUIC; the sealed results are
#   delivered, verified and scored exactly once; the results workbook is written.
#
# Usage: deploy/dev/exam-day.sh [WORK_DIR]   (default: a new temporary directory, kept)
# Ports: central on 127.0.0.1:${CENTRAL_PORT:-18443}, the site's LAN on 127.0.0.1:${SITE_PORT:-17443}.
# PROFILE=debug uses debug builds (quicker to build, slower to run).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/install-deps.sh
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet -p central-sync -p site-server -p exam-client
else
  cargo build --quiet -p central-sync -p site-server -p exam-client
fi
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE
WORK=${1:-$(mktemp -d /tmp/exam-day.XXXXXX)}
mkdir -p "$WORK"
CENTRAL="$WORK/central"
SITE="$WORK/site"
CENTRAL_PORT=${CENTRAL_PORT:-18443}
SITE_PORT=${SITE_PORT:-17443}
FIXTURES=../shared/fixtures
[ -d "$FIXTURES" ] || FIXTURES=deploy/dev/fixtures
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
c() { "$BIN/central-sync" --data "$CENTRAL" "$@"; }
# The clerks planned it a week ago (roster changes close 48 h before a session).
PLANNED=(--now "$(TZ=Asia/Shanghai date -d '7 days ago' '+%Y-%m-%d %H:%M')")
START=$(TZ=Asia/Shanghai date '+%Y-%m-%d %H:%M')

say "central: keys, site, room, content, plan, roster, approval"
c init
TOKEN=$(c site add TY "太原考点" | sed -n 's/.*valid 72 hours: //p')
c site room add TY A --name "第一考场" --capacity 150 "${PLANNED[@]}"
CONTENT=$(c content import "$FIXTURES/qti21-sample.zip" --json | sed -n 's/^  "id": "\(.*\)",$/\1/p')
c plan create P1 --type 新取证线下考试 --category 安全生产管理人员 --work-type 主要负责人 \
  --title "安全生产管理人员考试" --content "$CONTENT" --by 王芳 "${PLANNED[@]}"
c plan session add P1 S1 --site TY --rooms A --starts-at "$START" --duration-min 90 \
  --latest-login-min 15 --by 王芳 "${PLANNED[@]}"
c roster import "$FIXTURES/roster-sample.xlsx" --session S1 --by 王芳 "${PLANNED[@]}"
c plan submit P1 --by 王芳 "${PLANNED[@]}"
c plan approve P1 --by 李强 "${PLANNED[@]}"
# Resident ID holders sit at this site (see BENCHMARKS/README: other documents are not yet taken).
c plan seats S1 --json | python3 -c '
import json, sys, re
rows = json.load(sys.stdin)
ok = [r for r in rows if r["admission_no"] and re.fullmatch(r"\d{17}[\dX]", r["id_number"])]
print("\n".join(r["admission_no"] + "," + r["id_number"] for r in ok))' > "$WORK/credentials.csv"
N=$(wc -l < "$WORK/credentials.csv")

say "central: serving the site API on 127.0.0.1:$CENTRAL_PORT"
"$BIN/central-sync" --data "$CENTRAL" serve --listen "127.0.0.1:$CENTRAL_PORT" > "$WORK/central.log" 2>&1 &
PIDS+=($!)
FP=$(c fingerprint)
for _ in $(seq 50); do grep -q serving "$WORK/central.log" && break; sleep 0.2; done
grep serving "$WORK/central.log" || { cat "$WORK/central.log"; exit 1; }

say "site: enrolling and running"
printf 'exam-day demo passphrase\n' > "$WORK/ca-passphrase"
"$BIN/site-server" init --data "$SITE" --central "https://127.0.0.1:$CENTRAL_PORT" \
  --central-fingerprint "$FP" --site TY --token "$TOKEN" --passphrase-file "$WORK/ca-passphrase"
"$BIN/site-server" run --data "$SITE" --listen "127.0.0.1:$SITE_PORT" --uplink-every-secs 2 \
  --ca-passphrase-file "$WORK/ca-passphrase" > "$WORK/site.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do grep -q "serving session S1" "$WORK/site.log" && break; sleep 0.2; done
grep "serving session S1" "$WORK/site.log" || { cat "$WORK/site.log"; exit 1; }
LAN_FP=$("$BIN/site-server" fingerprint --data "$SITE")

say "$N simulated candidates sit the exam"
"$BIN/exam-client" simulate --server "127.0.0.1:$SITE_PORT" --ca-fingerprint "$LAN_FP" \
  --candidates "$N" --credentials "$WORK/credentials.csv" --think-ms 20 --deadline-secs 600

say "results: delivered by the uplink"
for _ in $(seq 100); do
  c results status S1 | grep -q " 0 missing" && break
  sleep 0.3
done
"$BIN/site-server" status --data "$SITE" || true
c results status S1
# Short answers wait for a marker: `results marking S1` lists them, `results mark` scores one.
c results marking S1 | tail -n 1
c results export S1 --out "$WORK/results.xlsx"
say "done: everything is in $WORK"
