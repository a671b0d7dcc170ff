#!/usr/bin/env bash
# Benchmarks Bazaar beside etcd in the same sitting, on this machine: starts a fresh
# 3-node cluster and two frontends (cache on / off) on spare ports in a temp dir, then
# measures with wrk and prints one table with ratios against etcd's reference run.
#   orders/s (node leader, frontend), linearizable lookups/s (leader node, uncached frontend),
#   cached lookups/s, single-client order/read latency, failover (kill -9 leader -> next
#   acknowledged order), change-feed lag (order on a node -> frontend cache), and
#   restart-to-serve time of a node holding N orders; each process's CPU per request in
#   every run, wrk's own, and the rate at which they would use all of this machine's cores
#   (the run's CPU ceiling: wrk shares the cores), and the elections (term changes) during
#   the order runs.
# usage: scripts/bench.sh [--seconds S] [--connections C] [--restart-orders N] [--no-etcd]
#                         [--bin-dir DIR]   (binaries of another build, e.g. to compare; no build)
#                         [--profile DIR]   (perf profiles of the leader, a follower and the
#                                            frontend during the frontend order run, into DIR)
#                         [--frontend KEY=VALUE]  (a [frontend] setting for both frontends,
#                                            repeatable; e.g. batch_lookups=false for an A/B)
#                         [--node-workers N] (async worker threads per node, default 1 as in
#                                            cluster.toml: the nodes share this machine's
#                                            cores; 0: one per core. Builds older than the
#                                            setting ignore it.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

secs=10 conns=64 restart_orders=100000 etcd=1 build=1 profile_dir=
# As cluster.toml: the nodes share this machine's cores.
node_workers 1
frontend_settings=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) secs=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --restart-orders) restart_orders=$2; shift 2 ;;
    --no-etcd) etcd=0; shift ;;
    --bin-dir) BIN_DIR=$(realpath "$2"); build=0; shift 2 ;;
    --profile) [ $# -ge 2 ] || bad_usage "--profile needs a directory"; profile_dir=$(realpath -m "$2"); shift 2 ;;
    --frontend)
      [[ ${2:-} =~ ^[a-z_]+=[A-Za-z0-9_.\"-]+$ ]] || bad_usage "--frontend takes KEY=VALUE, e.g. batch_lookups=false"
      frontend_settings+=("$2"); shift 2 ;;
    --node-workers) node_workers "${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || bad_usage "--seconds takes a whole number of seconds"
[[ "$conns" =~ ^[1-9][0-9]*$ ]] || bad_usage "--connections takes a number"
[ -z "$profile_dir" ] || command -v perf >/dev/null || apt_install "to profile" linux-perf
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
ensure_deps
[ "$build" = 1 ] && build_release

work=$(mktemp -d -t bazaar-bench.XXXXXX)
export BAZAAR_DATA_DIR=$work/data
config=$work/cluster.toml
token=bench-token-0123456789
cleanup() {
  for f in "$BAZAAR_DATA_DIR"/*.pid; do [ -f "$f" ] && sigkill "$(cat "$f")"; done
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$config" <<TOML
data_dir = "$work/data"
catalog = "$BAZAAR_ROOT/catalog.toml"
[[nodes]]
id = 1
api = "127.0.0.1:17001"
raft = "127.0.0.1:17101"
[[nodes]]
id = 2
api = "127.0.0.1:17002"
raft = "127.0.0.1:17102"
[[nodes]]
id = 3
api = "127.0.0.1:17003"
raft = "127.0.0.1:17103"
[restock]
interval_secs = 0
[security]
admin_token = "$token"
peer_token = "bench-peer-token-0123456789"
[frontend]
listen = "127.0.0.1:18080"
TOML
for setting in ${frontend_settings[@]+"${frontend_settings[@]}"}; do echo "$setting" >>"$config"; done

mkdir -p "$BAZAAR_DATA_DIR"
use_config "$config"
for id in 1 2 3; do start_node "$id"; done
leader=$(wait_leader 60) || die "no leader"
api=$(node_api "$leader")
wait_http "http://$api/products/Tux" 30 || die "catalog not seeded"
start_frontend
nohup "$BIN_DIR/frontend" --config "$config" --listen 127.0.0.1:18081 --no-cache >>"$BAZAAR_DATA_DIR/frontend-nocache.log" 2>&1 &
echo $! >"$BAZAAR_DATA_DIR/frontend-nocache.pid"
wait_http "http://127.0.0.1:18080/readyz" 30 && wait_http "http://127.0.0.1:18081/readyz" 30 || die "frontends did not start"
curl -fsS -o /dev/null -X POST "http://$api/admin/products" -H "Authorization: Bearer $token" \
  -d '{"name":"Bench","title":"Bench item","topic":"bench","price":1.0,"quantity":1000000000000}'

here="$BAZAAR_ROOT/scripts/bench"
hz=$(getconf CLK_TCK)
# cpu_ms: one line per Bazaar process, "NAME MS": the CPU time (user + system) it has used.
cpu_ms() {
  local f p
  for f in "$BAZAAR_DATA_DIR"/*.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    # Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk -v n="$(basename "$f" .pid)" -v hz="$hz" \
      '{ printf "%s %d\n", n, ($12 + $13) * 1000 / hz }' || true
  done
}
# children_cpu_ms: the CPU time (user + system) of this shell's finished children so far,
# from the `times` builtin. It must run in this shell, not in a `$(...)` subshell (a forked
# shell starts with no children's time), so it writes to a file and the caller reads that.
children_cpu_ms() {
  times >"$work/times"
  awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60000 + t[2] * 1000 }
    printf "%d\n", n }' "$work/times"
}
cores=$(nproc)
# cpu_per_request BEFORE AFTER REQUESTS WRK_MS: "name us" pairs, each process's CPU per
# request, then wrk's, then the rate at which the Bazaar processes and wrk together would
# use every core of this machine (a ceiling for that run, given its CPU per request).
cpu_per_request() {
  awk -v n="$3" -v wrk_ms="$4" -v cores="$cores" 'NR == FNR { before[$1] = $2; next }
    ($1 in before) && n > 0 { printf "%s %.0f  ", $1, ($2 - before[$1]) * 1000 / n; total += ($2 - before[$1]) }
    END { if (n > 0) { printf "all %.0f  wrk %.0f", total * 1000 / n, wrk_ms * 1000 / n
      if (total + wrk_ms > 0) printf "  ceiling %.0f/s", cores * 1e6 / ((total + wrk_ms) * 1000 / n) } }' \
    <(echo "$1") <(echo "$2")
}
cpu_rows=()
follower=$(node_api $(( leader % 3 + 1 )))
# scrape DIR: every process's /metrics, as DIR/{leader,follower,frontend}.prom
scrape() {
  mkdir -p "$1"
  http_get "http://$api/metrics" >"$1/leader.prom"
  http_get "http://$follower/metrics" >"$1/follower.prom"
  http_get "http://127.0.0.1:18080/metrics" >"$1/frontend.prom"
}
# steps LABEL BEFORE AFTER: the mean time of each step over one run
step_tables=()
steps() {
  step_tables+=("$(printf '%s\n%s' "-- $1" "$(python3 "$here/steps.py" "$2" "$3" leader follower frontend)")")
}
# answers_not_2xx: every process's answers that were not 2xx so far, one line each,
# "PROCESS ROUTE STATUS COUNT", from its own http_requests_total series.
answers_not_2xx() {
  local who addr
  for who in node1 node2 node3 frontend frontend-nocache; do
    case $who in
      node*) addr=$(node_api "${who#node}") ;;
      frontend) addr=127.0.0.1:18080 ;;
      frontend-nocache) addr=127.0.0.1:18081 ;;
    esac
    http_get "$(url_of "$addr")/metrics" | awk -v who="$who" '
      /_http_requests_total\{/ && !/status="2/ {
        route = $0; sub(/.*route="/, "", route); sub(/".*/, "", route)
        status = $0; sub(/.*status="/, "", status); sub(/".*/, "", status)
        print who, route, status, $NF
      }' || true
  done
}
# not_2xx_since BEFORE AFTER: what answers_not_2xx grew by, "PROCESS ROUTE STATUS ×N", so a
# run's non-2xx count says who answered what.
not_2xx_since() {
  awk 'NR == FNR { before[$1 " " $2 " " $3] = $4; next }
    { k = $1 " " $2 " " $3; n = $4 - (k in before ? before[k] : 0); if (n > 0) printf "%s ×%d; ", k, n }' \
    <(echo "$1") <(echo "$2") | sed 's/; $//'
}
# run_wrk LABEL URL SCRIPT CONNS KEY: prints a row and sets r_KEY to the req/s; it also keeps
# the run's CPU per request, each process's and wrk's, in cpu_rows. A run with answers that
# were not 2xx is followed by a line saying which process answered what.
run_wrk() {
  local threads=$(( $4 < 2 ? 1 : 2 )) out before after requests statuses_before wrk_ms
  statuses_before=$(answers_not_2xx)
  before=$(cpu_ms)
  children_cpu_ms >"$work/wrk_before"
  out=$(wrk -t"$threads" -c"$4" -d"${secs}s" -s "$here/$3" --latency "$2")
  children_cpu_ms >"$work/wrk_after"
  after=$(cpu_ms)
  wrk_ms=$(( $(cat "$work/wrk_after") - $(cat "$work/wrk_before") ))
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu_rows+=("$(printf '%-44s %s' "$1" "$(cpu_per_request "$before" "$after" "${requests:-0}" "$wrk_ms")")")
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $5}'); errs=${errs:-0}
  printf '%-44s %10s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "$errs"
  if [ "$errs" != 0 ]; then
    printf '  not 2xx: %s\n' "$(not_2xx_since "$statuses_before" "$(answers_not_2xx)")"
  fi
  eval "r_$5=$rps p50_$5=$p50"
}

echo
echo "== Bazaar, $secs s per run, $conns connections, leader node $leader =="
printf '%-44s %10s %10s %10s %8s\n' "run" "req/s" "p50" "p99" "non-2xx"
term_before=$(cluster_number "$api" term)
run_wrk "orders on the leader node" "http://$api" order.lua "$conns" node_orders
scrape "$work/m0"
profilers=()
if [ -n "$profile_dir" ]; then
  mkdir -p "$profile_dir"
  for who in leader follower frontend; do
    case $who in
      leader) pf=$(pid_file "node$leader") ;;
      follower) pf=$(pid_file "node$(( leader % 3 + 1 ))") ;;
      frontend) pf=$(pid_file frontend) ;;
    esac
    # Software clock sampling: hardware counters are often not available on these machines.
    perf record -q -e cpu-clock -F 999 -p "$(cat "$pf")" -o "$profile_dir/$who.data" \
      -- sleep "$secs" >/dev/null 2>&1 &
    profilers+=($!)
  done
fi
run_wrk "orders through the frontend" "http://127.0.0.1:18080" order.lua "$conns" fe_orders
scrape "$work/m1"
for p in "${profilers[@]}"; do wait "$p" || true; done
for who in ${profile_dir:+leader follower frontend}; do
  perf report -q -i "$profile_dir/$who.data" --no-children --sort dso,symbol --percent-limit 0.5 \
    --stdio >"$profile_dir/$who.txt" 2>/dev/null || true
done
steps "orders through the frontend, $conns connections" "$work/m0" "$work/m1"
term_after=$(cluster_number "$api" term)
run_wrk "linearizable lookups on the leader node" "http://$api" lookup.lua "$conns" node_reads
run_wrk "linearizable lookups on a follower node" "http://$follower" lookup.lua "$conns" follower_reads
run_wrk "uncached lookups through a --no-cache frontend" "http://127.0.0.1:18081" lookup.lua "$conns" fe_uncached
run_wrk "cached lookups through the frontend" "http://127.0.0.1:18080" lookup.lua "$conns" fe_cached
scrape "$work/m2"
run_wrk "orders, 1 connection, frontend" "http://127.0.0.1:18080" order.lua 1 one_order
scrape "$work/m3"
steps "orders through the frontend, 1 connection" "$work/m2" "$work/m3"
run_wrk "orders, 1 connection, leader node" "http://$api" order.lua 1 one_order_node
run_wrk "lookups, 1 connection, leader node" "http://$api" lookup.lua 1 one_read

echo
echo "== CPU per request, in microseconds (user + system: each process from /proc, wrk from the shell's children; ceiling = all cores over all + wrk) =="
printf '%s\n' "${cpu_rows[@]}"
echo
echo "== one order's path, mean time per step (the steps are in raft-node/src/timings.rs) =="
printf '%s\n' "${step_tables[@]}"
echo
# A term that moved means an election: a leader change or a failed campaign.
printf '%-44s %s\n' "elections during the order runs" \
  "$(( ${term_after:-0} - ${term_before:-0} )) (term $term_before -> $term_after; target 0)"

# Change feed: an order on a node -> visible in the frontend's cache.
lag=$(python3 "$here/invalidation_lag.py" 127.0.0.1:18080 "$api" Bench 20)

# Failover: SIGKILL the leader, then time until an order through the frontend is acknowledged.
old=$leader
t0=$(date +%s%N)
sigkill "$(cat "$(pid_file "node$old")")"; rm -f "$(pid_file "node$old")"
until [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST http://127.0.0.1:18080/orders -d '{"name":"Bench","quantity":1}')" = 200 ]; do
  [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 30 ] || die "no order acknowledged within 30 s of the leader kill"
done
t1=$(date +%s%N)
failover_ms=$(( (t1 - t0) / 1000000 ))
start_node "$old"
wait_http "http://$(node_api "$old")/readyz" 30 || die "node $old did not come back"

# Restart: fill the log with orders, kill -9 a follower, time until it serves a linearizable read.
leader=$(wait_leader 30)
api=$(node_api "$leader")
have=$(cluster_number "$api" orders)
while [ "$have" -lt "$restart_orders" ]; do
  wrk -t2 -c64 -d5s -s "$here/order.lua" "http://$api" >/dev/null
  have=$(cluster_number "$api" orders)
done
victim=$(( leader % 3 + 1 ))
vapi=$(node_api "$victim")
wait_http "http://$vapi/products/Bench" 30
sigkill "$(cat "$(pid_file "node$victim")")"; rm -f "$(pid_file "node$victim")"
t0=$(date +%s%N)
start_node "$victim"
until curl -fsS -m 1 -o /dev/null "http://$vapi/products/Bench" 2>/dev/null; do
  [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 60 ] || die "node $victim did not serve within 60 s; see $BAZAAR_DATA_DIR/node$victim.log"
  sleep 0.01
done
t1=$(date +%s%N)
restart_ms=$(( (t1 - t0) / 1000000 ))

echo
printf '%-44s %s\n' "order on a node -> frontend cache shows it" "$lag"
printf '%-44s %10s\n' "failover: kill -9 leader -> next order ack" "${failover_ms} ms"
printf '%-44s %10s\n' "restart with $have orders -> serving" "${restart_ms} ms"
# Of which the start-up check of the state database (builds from issue 26 on log it).
checked=$(grep 'state database checked' "$BAZAAR_DATA_DIR/node$victim.log" 2>/dev/null | tail -1 |
  sed -n 's/.*records=\([0-9]*\).*took_ms=\([0-9]*\).*/\2 ms over \1 records/p' || true)
[ -z "$checked" ] || printf '%-44s %10s\n' "  of which the state database check" "$checked"

if [ "$etcd" = 1 ] && [ -x "$BAZAAR_ROOT/../shared/bench/etcd-baseline.sh" ]; then
  echo
  echo "== etcd reference, same sitting =="
  e64=$("$BAZAAR_ROOT/../shared/bench/etcd-baseline.sh" "$secs" "$conns")
  e1=$("$BAZAAR_ROOT/../shared/bench/etcd-baseline.sh" "$secs" 1)
  echo "$e64"; echo "$e1 (1 connection)"
  eput=$(echo "$e64" | awk '/puts\/s/ {print $4}')
  eget=$(echo "$e64" | awk '/reads\/s/ {print $5}')
  echo
  echo "== ratios (target) =="
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
  printf '%-52s %8s  (>= 3x)\n' "frontend orders/s vs etcd puts/s" "$(ratio "$r_fe_orders" "$eput")"
  printf '%-52s %8s  (>= 5x)\n' "leader-node orders/s vs etcd puts/s" "$(ratio "$r_node_orders" "$eput")"
  printf '%-52s %8s  (>= 5x)\n' "uncached frontend lookups/s vs etcd reads/s" "$(ratio "$r_fe_uncached" "$eget")"
  printf '%-52s %8s  (>= 8x)\n' "follower linearizable lookups/s vs etcd reads/s" "$(ratio "$r_follower_reads" "$eget")"
  printf '%-52s %8s\n' "leader-node linearizable lookups/s vs etcd reads/s" "$(ratio "$r_node_reads" "$eget")"
  printf '%-52s %8s  (>= 15x)\n' "cached frontend lookups/s vs etcd reads/s" "$(ratio "$r_fe_cached" "$eget")"
  eput1=$(echo "$e1" | sed -n 's/.*puts\/s: [0-9]* (p50 \([^,]*\),.*/\1/p')
  printf '%-52s %8s  (<= etcd put p50 %s)\n' "frontend order p50, 1 connection" "$p50_one_order" "$eput1"
fi
