#!/usr/bin/env bash
# Chaos run: starts a fresh 3-node cluster (and a frontend if one is built) in a temp
# dir on free loopback ports, runs `bazaar check` against it while killing (SIGKILL,
# the leader half the time) and restarting nodes and pausing them (SIGSTOP/SIGCONT),
# then heals the cluster and lets the checker judge the history.
#
# usage:
#   scripts/chaos.sh [--duration SECS]     default 60; CI uses a short run (e.g. 20)
#   scripts/chaos.sh --duration 600        a longer soak: same checks, more faults
#   scripts/chaos.sh --docker [--duration SECS] [--via frontend|nodes] [--keep]
#                                          the same against docker-compose.yml: one
#                                          container per node, with docker kill/up -d,
#                                          pause/unpause and network partitions
#
# Needs target/release/{raft-node,bazaar} (cargo build --release --bins), curl and
# python3. The last line is "chaos: N operations, F faults, A anomalies"; exit 0 only
# with zero anomalies. Every process it starts is stopped on exit; the temp dir (logs,
# history) is kept and printed when something failed.
#
# --docker needs a Docker engine, Compose (docker compose, or docker-compose v1.27+) and
# the image bazaar:local (built with scripts/build-image.sh when it is missing). It starts
# its own compose project (bazaar-chaos-<pid>) on free host ports, runs the checker from
# the host through the published frontend (--via nodes: from a container of its own on
# the compose network, straight at the three nodes, leaving the frontend out), and
# removes the project with its volumes on exit (--keep leaves it running). While a node
# is cut off it also sends it an order directly (docker exec): a minority that
# acknowledges one counts as an anomaly.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BAZAAR_BIN_DIR:-$ROOT/target/release}
DURATION=60
DOCKER=0
KEEP_PROJECT=0
VIA=frontend
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --docker) DOCKER=1; shift ;;
    --keep) KEEP_PROJECT=1; shift ;;
    --via) VIA=${2:?--via needs frontend or nodes}; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "chaos: unknown argument $1 (usage: scripts/chaos.sh --help)" >&2; exit 2 ;;
  esac
done
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 5 ]] || { echo "chaos: --duration must be >= 5 seconds" >&2; exit 2; }
# Shared by both modes (chaos-docker.sh is sourced below).
wait_until() { # deadline-seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

if [[ $DOCKER == 1 ]]; then
  # shellcheck source=scripts/chaos-docker.sh
  source "$ROOT/scripts/chaos-docker.sh"
  # It exits by itself, with the verdict; never fall through to the local mode.
  # shellcheck disable=SC2317
  exit 1
fi
for b in raft-node bazaar; do
  [[ -x $BIN/$b ]] || { echo "chaos: $BIN/$b not built (cargo build --release --bins)" >&2; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bazaar-chaos.XXXXXX")
CFG=$TMP/cluster.toml
declare -A PIDS=()
FRONTEND_PID=""
CHECK_PID=""
KEEP_TMP=1

cleanup() {
  set +e
  for id in "${!PIDS[@]}"; do
    local pid=${PIDS[$id]}
    [[ -n $pid ]] || continue
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for pid in $FRONTEND_PID $CHECK_PID; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [[ $KEEP_TMP == 1 ]]; then
    echo "chaos: logs and history kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Seven free loopback ports: 3 api, 3 raft, 1 frontend.
read -r -a PORTS <<<"$(python3 - <<'PY'
import socket
socks = []
for _ in range(7):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"

{
  echo "data_dir = \"$TMP/data\""
  echo "catalog = \"$ROOT/catalog.toml\""
  for i in 1 2 3; do
    echo "[[nodes]]"
    echo "id = $i"
    echo "api = \"127.0.0.1:${PORTS[$((i - 1))]}\""
    echo "raft = \"127.0.0.1:${PORTS[$((i + 2))]}\""
  done
  # One async worker per node, as the default cluster.toml runs them on one machine.
  echo "[runtime]"
  echo "node_worker_threads = 1"
  # The low-stock timer off: every unit change is then a client's, so units must add up exactly.
  echo "[restock]"
  echo "interval_secs = 0"
  echo "[frontend]"
  echo "listen = \"127.0.0.1:${PORTS[6]}\""
} >"$CFG"

api() { echo "http://127.0.0.1:${PORTS[$(($1 - 1))]}"; }

start_node() {
  # The cluster file names the data dir; an operator's BAZAAR_DATA_DIR must not redirect it.
  env -u BAZAAR_DATA_DIR "$BIN/raft-node" --config "$CFG" --id "$1" >>"$TMP/node$1.log" 2>&1 &
  PIDS[$1]=$!
}

alive() { [[ -n ${PIDS[$1]:-} ]] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

# Prints the leader id any live node knows of, or nothing.
leader() {
  local id out
  for id in 1 2 3; do
    out=$(curl -s -m 1 "$(api "$id")/cluster" 2>/dev/null) || continue
    out=$(sed -n 's/.*"leader":\([0-9][0-9]*\).*/\1/p' <<<"$out")
    [[ -n $out ]] && { echo "$out"; return; }
  done
}

has_leader() { [[ -n $(leader) ]]; }
frontend_up() { curl -sf -m 1 "http://127.0.0.1:${PORTS[6]}/health" >/dev/null; }

for i in 1 2 3; do start_node "$i"; done
wait_until 60 has_leader || { echo "chaos: no leader within 60 s" >&2; exit 1; }

URL=$(api 1)
EXTRA=(--also-url "$(api 2)" --also-url "$(api 3)")
if [[ -x $BIN/frontend ]]; then
  "$BIN/frontend" --config "$CFG" --admin >>"$TMP/frontend.log" 2>&1 &
  FRONTEND_PID=$!
  wait_until 30 frontend_up || { echo "chaos: frontend did not come up" >&2; exit 1; }
  URL="http://127.0.0.1:${PORTS[6]}"
  EXTRA=()
fi

# Bounded: workload + heal/settle + search budget + slack.
timeout $((DURATION + 200)) "$BIN/bazaar" --config "$CFG" --url "$URL" --timeout 3s check \
  "${EXTRA[@]}" --duration "${DURATION}s" --history "$TMP/history.jsonl" --auto-restock off \
  --node-url "$(api 1)" --node-url "$(api 2)" --node-url "$(api 3)" \
  --settle 60s --check-budget 60s >"$TMP/check.out" 2>"$TMP/check.err" &
CHECK_PID=$!

FAULTS=0
fault_end=$((SECONDS + DURATION - 3))
while ((SECONDS < fault_end)) && kill -0 "$CHECK_PID" 2>/dev/null; do
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.5, 2.0), 2))')"
  victim=$((RANDOM % 3 + 1))
  if ((RANDOM % 2 == 0)); then
    l=$(leader)
    [[ -n $l ]] && victim=$l
  fi
  if ((RANDOM % 3 == 0)); then
    echo "$(date +%T) pause node $victim" >>"$TMP/faults.log"
    kill -STOP "${PIDS[$victim]}" 2>/dev/null || true
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.5, 2.0), 2))')"
    kill -CONT "${PIDS[$victim]}" 2>/dev/null || true
  else
    echo "$(date +%T) kill -9 node $victim" >>"$TMP/faults.log"
    kill -KILL "${PIDS[$victim]}" 2>/dev/null || true
    wait "${PIDS[$victim]}" 2>/dev/null || true
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 2.0), 2))')"
    start_node "$victim"
  fi
  FAULTS=$((FAULTS + 1))
done

# Heal: every node running and resumed.
for i in 1 2 3; do
  kill -CONT "${PIDS[$i]}" 2>/dev/null || true
  alive "$i" || start_node "$i"
done
echo "$(date +%T) healed" >>"$TMP/faults.log"

set +e
wait "$CHECK_PID"
RC=$?
set -e
CHECK_PID=""
cat "$TMP/check.out"
[[ $RC == 0 ]] || tail -5 "$TMP/check.err" >&2
SUMMARY=$(grep '^check: ' "$TMP/check.out" | tail -1)
OPS=$(sed -n 's/^check: \([0-9]*\) operations.*/\1/p' <<<"$SUMMARY")
ANOMALIES=$(sed -n 's/.* \([0-9]*\) anomalies.*/\1/p' <<<"$SUMMARY")
if [[ -z $OPS || -z $ANOMALIES ]]; then
  # The checker did not finish its verdict: count that as an anomaly, never as a pass.
  OPS=${OPS:-0}
  ANOMALIES=1
fi
if [[ $RC == 0 && $ANOMALIES == 0 ]]; then
  KEEP_TMP=0
fi
echo "chaos: $OPS operations, $FAULTS faults, $ANOMALIES anomalies"
[[ $RC == 0 && $ANOMALIES == 0 ]]
