#!/usr/bin/env bash
# Load shedding at many connections: a fresh 3-node cluster and frontend (spare ports, temp
# dir, the default `[limits]`), loaded by `bazaar load` (sessions of lookups, each followed by
# a keyed order with probability --prob, each session its own connection) at --low and then
# --high sessions, then --high sessions that ignore Retry-After (send again at once); prints
# one table of the three runs: throughput, the admitted lookups' p99 (shed answers are not
# in it), the orders' p99 from first send to acknowledgement (a shed order is sent again
# after its Retry-After, and that wait is in it), how many answers were shed (503
# overloaded / 429 rate_limited), how many waited out a deadline (timeouts), the frontend's
# and the nodes' RSS, and whether every acknowledged order is stored once: each is read
# back, and the cluster's order count grew by exactly the number acknowledged.
# usage: scripts/bench-shedding.sh [--seconds S] [--low C] [--high C] [--prob P] [--no-build]
#   --seconds S   length of each run (default 20)
#   --warmup W    first seconds of each run left out of its latencies and throughput
#                 (default 2: every session opens its connection then; 0 times all)
#   --low C       sessions of the baseline run (default 64)
#   --high C      sessions of the flood (default 2000)
#   --prob P      probability of an order after each lookup (default 0.5)
#   --limit KEY=VALUE  a [limits.frontend] bound for this run's frontend (repeatable),
#                 e.g. --limit cached_reads=128; the cluster file's defaults otherwise
#   --no-build    use the binaries already built
set -euo pipefail
source "$(dirname "$0")/lib.sh"

secs=20 warmup=2 low=64 high=2000 prob=0.5 build=1 limits=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) [ $# -ge 2 ] || bad_usage "--seconds needs a number"; secs=$2; shift 2 ;;
    --warmup) [ $# -ge 2 ] || bad_usage "--warmup needs a number"; warmup=$2; shift 2 ;;
    --low) [ $# -ge 2 ] || bad_usage "--low needs a number"; low=$2; shift 2 ;;
    --high) [ $# -ge 2 ] || bad_usage "--high needs a number"; high=$2; shift 2 ;;
    --prob) [ $# -ge 2 ] || bad_usage "--prob needs a number"; prob=$2; shift 2 ;;
    --limit)
      [[ ${2:-} =~ ^(writes|linearizable_reads|cached_reads|admin)=[0-9]+$ ]] \
        || bad_usage "--limit takes CLASS=N, CLASS one of writes, linearizable_reads, cached_reads, admin"
      limits+=("${2/=/ = }"); shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
for n in "$secs" "$low" "$high"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad_usage "--seconds, --low and --high take whole numbers"
done
[[ "$warmup" =~ ^[0-9]+$ ]] && [ "$warmup" -lt "$secs" ] || bad_usage "--warmup takes whole seconds, fewer than --seconds"
ensure_deps
[ "$build" = 0 ] || build_release
# Each session holds a connection, and the frontend one per session too.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((high * 2 + 100)) ] || die "--high $high needs more open files than ulimit -n $(ulimit -n)"

work=$(mktemp -d -t bazaar-shedding.XXXXXX)
token=shedding-token-0123456789
rss_pid=
cleanup() {
  [ -z "$rss_pid" ] || kill "$rss_pid" 2>/dev/null || true
  for f in "$work"/data/*.pid; do
    if [ -f "$f" ]; then sigkill "$(cat "$f")"; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

base=18600
mkdir -p "$work/data"
{
  cat <<EOF
data_dir = "$work/data"
catalog = "$BAZAAR_ROOT/catalog.toml"
[restock]
interval_secs = 0
[security]
admin_token = "$token"
peer_token = "shedding-peer-token-0123456789"
[frontend]
listen = "127.0.0.1:$((base + 20))"
EOF
  if [ ${#limits[@]} -gt 0 ]; then
    echo "[limits.frontend]"
    printf '%s\n' "${limits[@]}"
  fi
  for id in 1 2 3; do
    printf '[[nodes]]\nid = %s\napi = "127.0.0.1:%s"\nraft = "127.0.0.1:%s"\n' \
      "$id" "$((base + id))" "$((base + 10 + id))"
  done
} >"$work/cluster.toml"
export BAZAAR_DATA_DIR=$work/data
use_config "$work/cluster.toml"
bazaar() { BAZAAR_ADMIN_TOKEN=$token "$BIN_DIR/bazaar" --config "$CONFIG" "$@"; }

for id in 1 2 3; do start_node "$id"; done
leader=$(wait_leader 60) || die "no leader"
wait_http "http://$(node_api "$leader")/products/Tux" 30 || die "catalog not seeded"
# Stock enough that no order is refused for it (names may hold spaces: one per line).
http_get "http://$(node_api "$leader")/products?limit=1000" \
  | python3 -c 'import json, sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["data"]["products"]))' \
  | while IFS= read -r name; do
      curl -fsS -o /dev/null -X PATCH "http://$(node_api "$leader")/admin/products/${name// /%20}" \
        -H "Authorization: Bearer $token" -d '{"quantity":1000000000}'
    done
start_frontend
fe=$(frontend_addr)
wait_ready 30 frontend "http://$fe" || die "frontend not ready"

# rss_watch: samples the frontend's and the nodes' RSS (kB) every 100 ms into $work/rss.*
rss_watch() {
  : >"$work/rss.frontend"; : >"$work/rss.nodes"
  ( while true; do
      awk '/^VmRSS/ { print $2 }' "/proc/$(cat "$(pid_file frontend)")/status" >>"$work/rss.frontend" 2>/dev/null || true
      for id in 1 2 3; do
        awk '/^VmRSS/ { print $2 }' "/proc/$(cat "$(pid_file "node$id")")/status" 2>/dev/null || true
      done >>"$work/rss.nodes"
      sleep 0.1
    done ) &
  rss_pid=$!
}
rss_stop() { kill "$rss_pid" 2>/dev/null || true; wait "$rss_pid" 2>/dev/null || true; rss_pid=; }
peak_mb() { awk '$1 > m { m = $1 } END { print int(m / 1024) }' "$1"; }
first_mb() { awk 'NR == 1 { print int($1 / 1024) }' "$1"; }
orders_in_cluster() { cluster_number "$(node_api "$(wait_leader 30)")" orders; }

# run LABEL SESSIONS [FLAG]: one load run through the frontend; its JSON into $work/LABEL.json.
run() {
  local label=$1 sessions=$2 flags=("${@:3}") before after status=0
  step "$sessions sessions for ${secs} s ${flags[*]}"
  before=$(orders_in_cluster)
  rss_watch
  bazaar --url "http://$fe" --json load --sessions "$sessions" --prob "$prob" \
    --duration "${secs}s" --warmup "${warmup}s" --out-dir "$work" "${flags[@]}" >"$work/$label.json" || status=$?
  rss_stop
  after=$(orders_in_cluster)
  echo $((after - before)) >"$work/$label.stored"
  cp "$work/rss.frontend" "$work/$label.rss.frontend"
  cp "$work/rss.nodes" "$work/$label.rss.nodes"
  [ "$status" = 0 ] || echo "warning: bazaar load exited $status (mismatches or an error)" >&2
}
run low "$low"
run high "$high"
run ignore "$high" --ignore-retry-after
for id in 1 2 3; do stop_process "node$id" >/dev/null; done
stop_process frontend >/dev/null

[ ${#limits[@]} -eq 0 ] || echo "frontend limits: ${limits[*]} (the rest as cluster.toml's defaults)"
python3 "$BAZAAR_ROOT/scripts/bench/shedding_table.py" "$work" "$low" "$high"
