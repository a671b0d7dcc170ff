#!/usr/bin/env bash
# Measures the data lifecycle on a fresh 3-node cluster (spare ports, temp dir) holding N
# orders, and prints one table against the targets:
#   a new learner's catch-up time (bazaar member add --wait) and every node's peak RSS
#   meanwhile; backup save and restore (seeding a data dir) times and size; a follower's
#   restart until it serves a linearizable read; and a rolling restart of all three nodes
#   (SIGTERM: a leader hands over first) under order load through the frontend: the longest
#   wait of any write, and acknowledged orders lost.
# usage: scripts/bench-lifecycle.sh [--orders N] [--rolls N] [--no-build] [--keep-logs DIR]
#   --orders N   orders in the store before the measurements (default 1000000)
#   --rolls N    rolling restarts in a row under the same load (default 1): more hand-overs
#                to find the longest write wait among
#   --no-build   use the binaries already built
#   --keep-logs DIR   copy every process's log into DIR at the end (RUST_LOG applies)
#   --snapshot-every N   raft.snapshot_every_entries of the bench cluster (default: the
#                        built-in default)
#   --snapshot-log-percent N   raft.snapshot_log_percent of the bench cluster (default: the
#                        built-in default; 0 counts entries only)
#   --node-workers N     async worker threads per node (default 1, as in cluster.toml: the
#                        nodes share this machine's cores; 0: one per core)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

orders=1000000 build=1 snapshot_every= log_percent= keep_logs= rolls=1
# As cluster.toml: the nodes share this machine's cores.
node_workers 1
while [ $# -gt 0 ]; do
  case $1 in
    --orders) [ $# -ge 2 ] || bad_usage "--orders needs a number"; orders=$2; shift 2 ;;
    --rolls) [ $# -ge 2 ] || bad_usage "--rolls needs a number"; rolls=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep-logs) [ $# -ge 2 ] || bad_usage "--keep-logs needs a directory"; keep_logs=$2; shift 2 ;;
    --snapshot-every) [ $# -ge 2 ] || bad_usage "--snapshot-every needs a number"; snapshot_every=$2; shift 2 ;;
    --snapshot-log-percent) [ $# -ge 2 ] || bad_usage "--snapshot-log-percent needs a number"; log_percent=$2; shift 2 ;;
    --node-workers) node_workers "${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
[[ "$orders" =~ ^[0-9]+$ ]] || bad_usage "--orders takes a number"
[[ "$rolls" =~ ^[1-9][0-9]*$ ]] || bad_usage "--rolls takes a number from 1"
[[ "$snapshot_every" =~ ^[0-9]*$ ]] || bad_usage "--snapshot-every takes a number"
[[ "$log_percent" =~ ^[0-9]*$ ]] || bad_usage "--snapshot-log-percent takes a number"
command -v wrk >/dev/null || apt_install "to load the cluster" wrk
ensure_deps
[ "$build" = 0 ] || build_release

work=$(mktemp -d -t bazaar-lifecycle.XXXXXX)
export BAZAAR_DATA_DIR=$work/data
config=$work/cluster.toml
token=lifecycle-token-0123456789
rss_pid=
cleanup() {
  [ -z "$rss_pid" ] || kill "$rss_pid" 2>/dev/null || true
  for f in "$BAZAAR_DATA_DIR"/*.pid; do [ -f "$f" ] && sigkill "$(cat "$f")"; done
  [ -z "$keep_logs" ] || { mkdir -p "$keep_logs" && cp "$BAZAAR_DATA_DIR"/*.log "$keep_logs"/; }
  rm -rf "$work"
}
trap cleanup EXIT
nodes_toml() {
  for id in "$@"; do
    printf '[[nodes]]\nid = %s\napi = "127.0.0.1:1720%s"\nraft = "127.0.0.1:1730%s"\n' "$id" "$id" "$id"
  done
}
common_toml="data_dir = \"$work/data\"
catalog = \"$BAZAAR_ROOT/catalog.toml\"
[restock]
interval_secs = 0
[security]
admin_token = \"$token\"
peer_token = \"lifecycle-peer-token-0123456789\"
[frontend]
listen = \"127.0.0.1:17280\"
[raft]
${snapshot_every:+snapshot_every_entries = $snapshot_every}
${log_percent:+snapshot_log_percent = $log_percent}"
{ echo "$common_toml"; nodes_toml 1 2 3; } >"$config"
# The learner's file: the same cluster plus node 4 (it waits to be contacted).
{ echo "$common_toml"; nodes_toml 1 2 3 4; } >"$work/cluster-4.toml"
mkdir -p "$BAZAAR_DATA_DIR"
use_config "$config"
bazaar() { BAZAAR_ADMIN_TOKEN=$token "$BIN_DIR/bazaar" --config "$config" "$@"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

for id in 1 2 3; do start_node "$id"; done
leader=$(wait_leader 60) || die "no leader"
api=$(node_api "$leader")
wait_http "http://$api/products/Tux" 30 || die "catalog not seeded"
curl -fsS -o /dev/null -X POST "http://$api/admin/products" -H "Authorization: Bearer $token" \
  -d '{"name":"Bench","title":"Bench item","topic":"bench","price":1.0,"quantity":1000000000000}'
step "placing $orders orders on the leader"
have=0
while [ "$have" -lt "$orders" ]; do
  wrk -t2 -c64 -d5s -s "$BAZAAR_ROOT/scripts/bench/order.lua" "http://$api" >/dev/null
  have=$(cluster_number "$api" orders)
done

# Peak RSS of every node process, sampled every 100 ms from here on.
rss_file=$work/rss
( while true; do
    for f in "$BAZAAR_DATA_DIR"/node*.pid; do
      p=$(cat "$f" 2>/dev/null) || continue
      awk -v n="$(basename "$f" .pid)" '/^VmRSS/ { print n, $2 }' "/proc/$p/status" 2>/dev/null || true
    done >>"$rss_file"
    sleep 0.1
  done ) &
rss_pid=$!
peak_rss() { awk '{ if ($2 > m[$1]) m[$1] = $2 } END { for (n in m) printf "%s %d MB  ", n, m[n] / 1024 }' "$rss_file"; }

step "adding node 4 as a learner"
CONFIG=$work/cluster-4.toml CLUSTER_LINES=$("$BIN_DIR/raft-node" --config "$work/cluster-4.toml" --print-cluster) start_node 4
t0=$(date +%s%N)
bazaar --url "http://$api" member add 4 --api 127.0.0.1:17204 --raft 127.0.0.1:17304 --wait 300s >/dev/null
catch_up_ms=$(ms_since "$t0")
catch_up_rss=$(peak_rss)
learner_snapshot=$(cluster_number 127.0.0.1:17204 snapshot_index)
replayed=$(( $(cluster_number 127.0.0.1:17204 applied_index) - learner_snapshot ))

step "backup and restore"
t0=$(date +%s%N)
bazaar --url "http://$api" backup save "$work/shop.backup" >/dev/null
backup_ms=$(ms_since "$t0")
backup_mb=$(( $(stat -c %s "$work/shop.backup") / 1048576 ))
t0=$(date +%s%N)
"$BIN_DIR/raft-node" --config "$config" --id 1 --data-dir "$work/restored" \
  --restore "$work/shop.backup" --seed-only >/dev/null
restore_ms=$(ms_since "$t0")
bazaar --url "http://$api" member remove 4 >/dev/null
stop_process node4

step "restarting a follower"
victim=$(( leader % 3 + 1 ))
vapi=$(node_api "$victim")
sigkill "$(cat "$(pid_file "node$victim")")"; rm -f "$(pid_file "node$victim")"
t0=$(date +%s%N)
start_node "$victim"
until curl -fsS -m 1 -o /dev/null "http://$vapi/products/Bench?consistency=linearizable" 2>/dev/null; do
  [ "$(ms_since "$t0")" -lt 60000 ] || die "node $victim did not serve within 60 s"
  sleep 0.01
done
restart_ms=$(ms_since "$t0")
wait_ready 30 "node$victim" "http://$vapi" || die "node $victim not ready"

step "rolling restart of all three nodes under order load ($rolls time(s))"
start_frontend
wait_ready 30 frontend "http://127.0.0.1:17280" || die "frontend not ready"
stop_file=$work/stop-load
python3 "$BAZAAR_ROOT/scripts/bench/roll_load.py" 127.0.0.1:17280 Bench "$stop_file" 4 >"$work/roll.json" &
load_pid=$!
sleep 2
for _ in $(seq "$rolls"); do
  for id in 1 2 3; do
    stop_process "node$id" >/dev/null
    start_node "$id"
    wait_ready 30 "node$id" "http://$(node_api "$id")" || die "node $id did not come back"
    sleep 1
  done
done
sleep 2
touch "$stop_file"
wait "$load_pid"
roll=$(cat "$work/roll.json")
kill "$rss_pid" 2>/dev/null || true; rss_pid=
field() { echo "$roll" | sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }

echo
echo "== data lifecycle with $have orders (3 nodes, 2 cores shared) =="
printf '%-48s %14s  %s\n' "measure" "value" "target"
printf '%-48s %14s  %s\n' "new learner caught up (member add --wait)" "${catch_up_ms} ms" "<= 5000 ms"
printf '%-48s %14s\n' "learner: snapshot installed at / entries replayed" "$learner_snapshot / $replayed"
printf '%-48s %s\n' "peak RSS, from the learner's add to the end" "$catch_up_rss"
printf '%-48s %14s  %s\n' "backup save ($backup_mb MB)" "${backup_ms} ms" "<= 10000 ms"
printf '%-48s %14s  %s\n' "restore (seed one data dir)" "${restore_ms} ms" "<= 10000 ms"
printf '%-48s %14s  %s\n' "follower restart -> linearizable read" "${restart_ms} ms" "<= 1000 ms"
printf '%-48s %14s  %s\n' "rolling restart: longest write wait" "$(field max_wait_ms) ms" "<= 150 ms"
printf '%-48s %14s\n' "rolling restart: longest wait began (UTC)" \
  "$(echo "$roll" | sed -n 's/.*"max_wait_began": "\([^"]*\)".*/\1/p')"
printf '%-48s %14s\n' "rolling restart: p99 write wait" "$(field p99_wait_ms) ms"
printf '%-48s %14s  %s\n' "rolling restart: orders acknowledged / lost" "$(field orders) / $(field lost)" "0 lost"
printf '%-48s %s\n' "peak RSS over the whole run" "$(peak_rss)"
handovers=$(grep -ho 'handed leadership over.*' "$BAZAAR_DATA_DIR"/node*.log | sed -n 's/.*took_ms=\([0-9]*\).*/\1/p' | paste -sd, -)
printf '%-48s %14s\n' "rolling restart: hand-overs on SIGTERM (ms)" "${handovers:-none}"
