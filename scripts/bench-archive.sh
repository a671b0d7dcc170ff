#!/usr/bin/env bash
# Measures archiving on a fresh 3-node cluster (spare ports, temp dir): fills it with N
# orders, saves and commits an archive of all but the last K, and prints one table of each
# node's costs before the archive, after it (once the space is reclaimed and a snapshot
# built), and on a reference cluster that only ever held K orders, with the ratios:
#   data on disk per node (du), current snapshot size, backup save time, a new learner's
#   catch-up (member add --wait), a follower's restart until it serves a linearizable read,
#   peak RSS of the nodes; the save rate (orders/s to file); and order latency through the
#   frontend (p99 and longest write wait) during the save and the reclaim against the same
#   load without them.
# usage: scripts/bench-archive.sh [--orders N] [--keep K] [--no-build] [--keep-logs DIR]
#   --orders N   orders placed before archiving (default 1000000)
#   --keep K     orders left in the hot state (default 100000)
#   --no-build   use the binaries already built
#   --keep-logs DIR   copy every process's log into DIR at the end
#   --node-workers N  async worker threads per node (default 1, as in cluster.toml)
#   --cli-nice N  run `bazaar archive save` under `nice -n N` (default 10, as its --help
#                 advises on a node's own machine; 0 runs it at normal priority)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

orders=1000000 keep=100000 build=1 keep_logs= cli_nice=10
node_workers 1
while [ $# -gt 0 ]; do
  case $1 in
    --orders) [ $# -ge 2 ] || bad_usage "--orders needs a number"; orders=$2; shift 2 ;;
    --keep) [ $# -ge 2 ] || bad_usage "--keep needs a number"; keep=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep-logs) [ $# -ge 2 ] || bad_usage "--keep-logs needs a directory"; keep_logs=$2; shift 2 ;;
    --node-workers) node_workers "${2:-}"; shift 2 ;;
    --cli-nice) [[ "${2:-}" =~ ^[0-9]+$ ]] || bad_usage "--cli-nice takes 0..19"; cli_nice=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
[[ "$orders" =~ ^[0-9]+$ ]] || bad_usage "--orders takes a number"
[[ "$keep" =~ ^[0-9]+$ ]] || bad_usage "--keep takes a number"
[ "$keep" -lt "$orders" ] || bad_usage "--keep must be below --orders"
command -v wrk >/dev/null || apt_install "to load the cluster" wrk
ensure_deps
[ "$build" = 0 ] || build_release

work=$(mktemp -d -t bazaar-archive.XXXXXX)
token=archive-token-0123456789
rss_pid= load_pid=
cleanup() {
  [ -z "$rss_pid" ] || kill "$rss_pid" 2>/dev/null || true
  [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true
  for f in "$work"/*/data/*.pid; do
    if [ -f "$f" ]; then sigkill "$(cat "$f")"; fi
  done
  if [ -n "$keep_logs" ]; then
    mkdir -p "$keep_logs" && cp "$work"/*/data/*.log "$keep_logs"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# setup NAME BASEPORT: the files of a cluster under $work/NAME on ports BASEPORT+...;
# sets CONFIG4 (the same cluster plus node 4, a learner to be).
setup() {
  local name=$1 base=$2 dir=$work/$1
  mkdir -p "$dir/data"
  nodes_toml() {
    for id in "$@"; do
      printf '[[nodes]]\nid = %s\napi = "127.0.0.1:%s"\nraft = "127.0.0.1:%s"\n' \
        "$id" "$((base + id))" "$((base + 10 + id))"
    done
  }
  # Short idempotency retention: the archived orders' keys must be past it (the default
  # million entries keeps every bench order's key, which no archive removes).
  local common="data_dir = \"$dir/data\"
catalog = \"$BAZAAR_ROOT/catalog.toml\"
[restock]
interval_secs = 0
[security]
admin_token = \"$token\"
peer_token = \"archive-peer-token-0123456789\"
[frontend]
listen = \"127.0.0.1:$((base + 20))\"
[raft]
dedupe_retention_entries = 1000"
  { echo "$common"; nodes_toml 1 2 3; } >"$dir/cluster.toml"
  { echo "$common"; nodes_toml 1 2 3 4; } >"$dir/cluster-4.toml"
  export BAZAAR_DATA_DIR=$dir/data
  CONFIG4=$dir/cluster-4.toml
  BASE=$base
  use_config "$dir/cluster.toml"
}
bazaar() { BAZAAR_ADMIN_TOKEN=$token "$BIN_DIR/bazaar" --config "$CONFIG" "$@"; }

start_cluster() {
  for id in 1 2 3; do start_node "$id"; done
  leader=$(wait_leader 60) || die "no leader"
  api=$(node_api "$leader")
  wait_http "http://$api/products/Tux" 30 || die "catalog not seeded"
  curl -fsS -o /dev/null -X POST "http://$api/admin/products" -H "Authorization: Bearer $token" \
    -d '{"name":"Bench","title":"Bench item","topic":"bench","price":1.0,"quantity":1000000000000}'
}

# fill N: orders through the leader until the cluster holds N; follows the leader if it
# moves (wrk does not follow a 421).
fill() {
  local want=$1 have
  have=$(cluster_number "$api" orders)
  while [ "$have" -lt "$want" ]; do
    wrk -t2 -c64 -d5s -s "$BAZAAR_ROOT/scripts/bench/order.lua" "http://$api" >/dev/null
    leader=$(wait_leader 60) || die "no leader"
    api=$(node_api "$leader")
    have=$(cluster_number "$api" orders)
  done
  echo "$have"
}

# rss_watch: samples every node's RSS (KiB) ten times a second into $work/rss as
# `KiB node phase`, the phase being what $work/phase says (set by `phase NAME`).
rss_watch() {
  : >"$work/rss"
  ( while true; do
      ph=$(cat "$work/phase" 2>/dev/null || echo -)
      for f in "$BAZAAR_DATA_DIR"/node*.pid; do
        p=$(cat "$f" 2>/dev/null) || continue
        awk -v n="$(basename "$f" .pid)" -v ph="$ph" '/^VmRSS/ { print $2, n, ph }' \
          "/proc/$p/status" 2>/dev/null || true
      done >>"$work/rss"
      sleep 0.1
    done ) &
  rss_pid=$!
}
phase() { echo "$1" >"$work/phase"; }
# rss_peak LABEL: stops the sampler; the peak in MB into $work/LABEL.rss_mb, and which node
# and phase it was into $work/LABEL.rss_where.
rss_peak() {
  kill "$rss_pid" 2>/dev/null || true; rss_pid=
  awk -v mb="$work/$1.rss_mb" -v where="$work/$1.rss_where" '
    $1 > m { m = $1; w = $2 " during the " $3 }
    END { print int(m / 1024) >mb; print w >where }' "$work/rss"
}

# disk LABEL: the largest node's data on disk, its parts, and the largest current snapshot
# (taken after the learner step, which has the leader build a fresh one when its last is old).
disk() {
  local label=$1 du=0 snap=0 d s biggest=1
  for id in 1 2 3; do
    d=$(du -sb "$BAZAAR_DATA_DIR/node$id" | cut -f1)
    if [ "$d" -gt "$du" ]; then du=$d; biggest=$id; fi
    s=$(stat -c %s "$BAZAAR_DATA_DIR/node$id/snapshots/current.snap" 2>/dev/null || echo 0)
    if [ "$s" -gt "$snap" ]; then snap=$s; fi
  done
  echo "$du" >"$work/$label.du"; echo "$snap" >"$work/$label.snap"
  (cd "$BAZAAR_DATA_DIR/node$biggest" && du -sm -- * | sort -rn | head -5 | awk '{ printf "%s %s MB, ", $2, $1 }') >"$work/$label.parts"
}

# measure LABEL: the lifecycle costs of the running cluster, into $work/LABEL.*
measure() {
  local label=$1 t0 victim vapi
  # A second of samples first: what the nodes hold before anything is asked of them.
  phase idle
  rss_watch
  sleep 1
  phase backup
  t0=$(date +%s%N)
  bazaar --url "http://$api" backup save "$work/$label.backup" >/dev/null
  ms_since "$t0" >"$work/$label.backup_ms"
  rm -f "$work/$label.backup"
  phase learner
  CONFIG=$CONFIG4 CLUSTER_LINES=$("$BIN_DIR/raft-node" --config "$CONFIG4" --print-cluster) start_node 4
  t0=$(date +%s%N)
  bazaar --url "http://$api" member add 4 --api "127.0.0.1:$((BASE + 4))" \
    --raft "127.0.0.1:$((BASE + 14))" --wait 600s >/dev/null
  ms_since "$t0" >"$work/$label.learner_ms"
  disk "$label"
  bazaar --url "http://$api" member remove 4 >/dev/null
  stop_process node4 >/dev/null
  rm -rf "$BAZAAR_DATA_DIR/node4"
  phase restart
  victim=$(( leader % 3 + 1 )); vapi=$(node_api "$victim")
  sigkill "$(cat "$(pid_file "node$victim")")"; rm -f "$(pid_file "node$victim")"
  t0=$(date +%s%N)
  start_node "$victim"
  until curl -fsS -m 1 -o /dev/null "http://$vapi/products/Bench?consistency=linearizable" 2>/dev/null; do
    [ "$(ms_since "$t0")" -lt 120000 ] || die "node $victim did not serve within 120 s"
    sleep 0.01
  done
  ms_since "$t0" >"$work/$label.restart_ms"
  wait_ready 60 "node$victim" "http://$vapi" || die "node $victim not ready"
  rss_peak "$label"
}

# load_for SECONDS|FILE: order load through the frontend until SECONDS pass or FILE exists;
# prints roll_load's JSON line.
load_until() {
  local stop=$1
  python3 "$BAZAAR_ROOT/scripts/bench/roll_load.py" "$(frontend_addr)" Bench "$stop" 4
}
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$2"; }

step "big cluster: $orders orders"
setup big 18200
start_cluster
have=$(fill "$orders")
measure before
start_frontend
wait_ready 30 frontend "http://$(frontend_addr)" || die "frontend not ready"

step "order load without an archive (20 s)"
load_until "$work/stop-base" >"$work/base.json" &
load_pid=$!; sleep 20; touch "$work/stop-base"; wait "$load_pid"; load_pid=

upto=$(( $(cluster_number "$api" orders) - keep ))
step "archive save of orders 1..=$upto under the same load"
ROLL_LOAD_WAITS=$work/archive.waits load_until "$work/stop-archive" >"$work/archive.json" &
load_pid=$!
follower=$(( leader % 3 + 1 ))
t0=$(date +%s%N)
save_began=$t0
BAZAAR_ADMIN_TOKEN=$token nice -n "$cli_nice" "$BIN_DIR/bazaar" --config "$CONFIG" --url "http://$(node_api "$follower")" archive save --upto "$upto" "$work/orders.archive" >/dev/null
save_ms=$(ms_since "$t0")
archive_mb=$(( $(stat -c %s "$work/orders.archive") / 1048576 ))
step "archive commit, then the reclaim and a new snapshot on every node"
t0=$(date +%s%N)
commit_began=$t0
bazaar --url "http://$api" archive commit "$work/orders.archive" >/dev/null
commit_ms=$(ms_since "$t0")
commit_answered=$(date +%s%N)
commit_index=$(cluster_number "$api" applied_index)
for id in 1 2 3; do
  until grep -q "archived orders' space reclaimed" "$BAZAAR_DATA_DIR/node$id.log" \
     && [ "$(cluster_number "$(node_api "$id")" snapshot_index)" -ge "$commit_index" ]; do
    [ "$(ms_since "$t0")" -lt 600000 ] || die "node $id did not reclaim within 600 s"
    sleep 0.2
  done
done
reclaim_ms=$(ms_since "$t0")
reclaimed=$(date +%s%N)
touch "$work/stop-archive"; wait "$load_pid"; load_pid=
stop_process frontend >/dev/null
measure after
for id in 1 2 3; do stop_process "node$id" >/dev/null; done

step "reference cluster: $keep orders only"
setup small 18400
start_cluster
small_have=$(fill "$keep")
measure small
for id in 1 2 3; do stop_process "node$id" >/dev/null; done

mb() { echo $(( $1 / 1048576 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { # measure unit before after small
  printf '%-34s %12s %12s %12s %8s\n' "$1" "$3" "$4" "$5" "$(ratio "$4" "$5")"
}
echo
echo "== archiving: $have orders, all but the last $keep archived; reference: $small_have orders (3 nodes, 2 cores shared) =="
printf '%-34s %12s %12s %12s %8s\n' "measure (largest node)" "before" "after" "reference" "after/ref"
row "data on disk (MB)" MB "$(mb "$(cat "$work/before.du")")" "$(mb "$(cat "$work/after.du")")" "$(mb "$(cat "$work/small.du")")"
row "current snapshot (MB)" MB "$(mb "$(cat "$work/before.snap")")" "$(mb "$(cat "$work/after.snap")")" "$(mb "$(cat "$work/small.snap")")"
for m in backup_ms learner_ms restart_ms rss_mb; do
  row "$m" "" "$(cat "$work/before.$m")" "$(cat "$work/after.$m")" "$(cat "$work/small.$m")"
done
for label in before after small; do
  echo "  on disk, $label (largest node): $(cat "$work/$label.parts")"
done
for label in before after small; do
  echo "  peak RSS, $label: $(cat "$work/$label.rss_where")"
done
echo
printf '%-48s %14s  %s\n' "archive save: $upto orders, $archive_mb MB" "${save_ms} ms" ""
printf '%-48s %14s\n' "archive save CLI's nice value" "$cli_nice"
printf '%-48s %14s  %s\n' "archive save rate" "$(( upto * 1000 / (save_ms > 0 ? save_ms : 1) )) orders/s" ">= 200000"
printf '%-48s %14s\n' "archive commit (answered)" "${commit_ms} ms"
printf '%-48s %14s\n' "commit to reclaimed + snapshot on all nodes" "${reclaim_ms} ms"
printf '%-48s %14s\n' "orders: p99 write wait without / with archive" "$(field p99_wait_ms "$work/base.json") / $(field p99_wait_ms "$work/archive.json") ms"
printf '%-48s %14s  %s\n' "orders: longest write wait without / with" "$(field max_wait_ms "$work/base.json") / $(field max_wait_ms "$work/archive.json") ms" "<= 150 ms"
# The with-archive load split by when each write began: where the p99 is lost.
python3 - "$work/archive.waits" "$save_began" "$commit_began" "$commit_answered" "$reclaimed" <<'PY'
import sys
path, *edges = sys.argv[1:]
edges = [int(e) / 1e9 for e in edges]
names = ["the save", "the commit", "the reclaim and snapshots"]
rows = [tuple(map(float, l.split())) for l in open(path)]
for name, lo, hi in zip(names, edges, edges[1:]):
    w = sorted(wait for began, wait in rows if lo <= began < hi)
    p99 = w[int(len(w) * 0.99)] if w else 0.0
    print(f"{'  orders during ' + name + ': p99 / longest / count':<48} {p99:8.1f} / {max(w, default=0):.1f} ms / {len(w)}")
PY
printf '%-48s %14s\n' "orders acknowledged / lost during the archive" "$(field orders "$work/archive.json") / $(field lost "$work/archive.json")"
