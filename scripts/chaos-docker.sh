# shellcheck shell=bash disable=SC2317
# The container mode of scripts/chaos.sh (`scripts/chaos.sh --docker`), sourced by it with
# ROOT, BIN, DURATION and KEEP_PROJECT set. Not run on its own.
#
# A compose project of its own (docker-compose.yml: three node containers and a frontend on
# a private network), `bazaar check` from the host through the published frontend, and
# faults on the node containers, the leader half the time:
#   crash      docker kill, then `compose up -d` after 0.3-2 s (same volume, same data)
#   freeze     docker pause, docker unpause after 0.5-2 s
#   partition  docker network disconnect for 2-4 s, then connect (same DNS alias); while
#              cut off the node is sent an order directly (docker exec ... bazaar order),
#              which it must not acknowledge, and its /cluster role is recorded
# then every node is healed and the checker's verdict is printed, the summary line last.

[[ -x $BIN/bazaar ]] || { echo "chaos: $BIN/bazaar not built (cargo build --release --bins)" >&2; exit 2; }
command -v docker >/dev/null || { echo "chaos: docker is not installed" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "chaos: no Docker engine answers (docker info)" >&2; exit 2; }
if docker compose version >/dev/null 2>&1; then
  COMPOSE_CMD=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE_CMD=(docker-compose)
else
  echo "chaos: neither 'docker compose' nor 'docker-compose' is installed" >&2; exit 2
fi
IMAGE=${BAZAAR_IMAGE:-bazaar:local}
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "chaos: image $IMAGE is missing; building it (scripts/build-image.sh)" >&2
  "$ROOT/scripts/build-image.sh" --tag "$IMAGE" >&2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bazaar-chaos-docker.XXXXXX")
PROJECT=bazaar-chaos-$$
CHECK_PID=""
CHECKER=""
KEEP_TMP=1
NET=""
declare -A CID=() CUT=() PAUSED=()

# Five free host ports: the frontend and the three nodes' APIs (published on loopback).
read -r -a PORTS <<<"$(python3 - <<'PY'
import socket
socks = []
for _ in range(4):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"
export COMPOSE_PROJECT_NAME=$PROJECT
export BAZAAR_HTTP_PORT=${PORTS[0]} BAZAAR_BIND=127.0.0.1
export BAZAAR_NODE1_PORT=${PORTS[1]} BAZAAR_NODE2_PORT=${PORTS[2]} BAZAAR_NODE3_PORT=${PORTS[3]}
export BAZAAR_IMAGE=$IMAGE BAZAAR_CATALOG=$ROOT/catalog.toml
# Restarted by us, not by the engine, so a crash lasts as long as we say.
export BAZAAR_RESTART=no
# The containers' cluster file with the low-stock timer off: every unit change is then a
# client's, so units must add up exactly.
# The checker restocks through the frontend, so this cluster file also lets the frontend
# forward admin routes (with the fresh admin token, never a published one).
CFG=$TMP/cluster.toml
sed -e 's/^interval_secs = .*/interval_secs = 0/' -e 's/^admin = false$/admin = true/' \
  "$ROOT/deploy/cluster.docker.toml" >"$CFG"
grep -q '^interval_secs = 0$' "$CFG" || { echo "chaos: cannot turn the restock timer off in $CFG" >&2; exit 2; }
grep -q '^admin = true$' "$CFG" || { echo "chaos: cannot turn admin forwarding on in $CFG" >&2; exit 2; }
chmod 0644 "$CFG"
export BAZAAR_CLUSTER_FILE=$CFG
# First-run set-up in the temp dir: fresh secrets and TLS files for this project alone.
BAZAAR_IMAGE=$IMAGE "$ROOT/scripts/compose-init.sh" --out "$TMP" --config "$CFG" >"$TMP/init.log" 2>&1 \
  || { cat "$TMP/init.log" >&2; exit 1; }
set -a; source "$TMP/.env"; set +a
export BAZAAR_CERTS_DIR=$TMP/certs
CA=$TMP/certs/ca.crt

compose() { "${COMPOSE_CMD[@]}" -f "$ROOT/docker-compose.yml" -p "$PROJECT" "$@"; }

docker_cleanup() {
  set +e
  [[ -n $CHECK_PID ]] && { kill -KILL "$CHECK_PID" 2>/dev/null; wait "$CHECK_PID" 2>/dev/null; }
  [[ -n $CHECKER ]] && docker rm -f "$CHECKER" >/dev/null 2>&1
  if [[ $KEEP_PROJECT == 1 ]]; then
    echo "chaos: compose project $PROJECT left running (--keep); remove it with:" >&2
    echo "  COMPOSE_PROJECT_NAME=$PROJECT ${COMPOSE_CMD[*]} -f $ROOT/docker-compose.yml down -v" >&2
  else
    [[ $KEEP_TMP == 1 ]] && compose logs --no-color >"$TMP/containers.log" 2>&1
    for id in "${!PAUSED[@]}"; do docker unpause "${CID[$id]}" >/dev/null 2>&1; done
    compose down -v --remove-orphans -t 2 >>"$TMP/compose.log" 2>&1
  fi
  if [[ $KEEP_TMP == 1 ]]; then
    echo "chaos: logs and history kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap docker_cleanup EXIT
trap 'exit 130' INT TERM

api() { echo "https://127.0.0.1:${PORTS[$1]}"; }

# Prints the leader id any reachable node knows of, or nothing.
leader() {
  local id out
  for id in 1 2 3; do
    [[ -n ${CUT[$id]:-} || -n ${PAUSED[$id]:-} ]] && continue
    out=$(curl -s -m 1 --cacert "$CA" "$(api "$id")/cluster" 2>/dev/null) || continue
    out=$(sed -n 's/.*"leader":\([0-9][0-9]*\).*/\1/p' <<<"$out")
    [[ -n $out ]] && { echo "$out"; return; }
  done
}

has_leader() { [[ -n $(leader) ]]; }
frontend_up() { curl -sf -m 1 --cacert "$CA" "https://127.0.0.1:${PORTS[0]}/readyz" >/dev/null; }
rand() { python3 -c "import random; print(round(random.uniform($1, $2), 2))"; }
note() { echo "$(date +%T.%3N) $*" >>"$TMP/faults.log"; }

echo "chaos: starting compose project $PROJECT (frontend on port ${PORTS[0]})" >&2
compose up -d >"$TMP/compose.log" 2>&1 || { cat "$TMP/compose.log" >&2; exit 1; }
for id in 1 2 3; do
  CID[$id]=$(compose ps -q "node$id")
  [[ -n ${CID[$id]} ]] || { echo "chaos: no container for node$id" >&2; exit 1; }
done
NET=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{"\n"}}{{end}}' "${CID[1]}" | head -1)
[[ -n $NET ]] || { echo "chaos: cannot tell the compose network" >&2; exit 1; }
wait_until 60 has_leader || { echo "chaos: no leader within 60 s" >&2; exit 1; }
wait_until 30 frontend_up || { echo "chaos: frontend did not come up" >&2; exit 1; }
URL="https://127.0.0.1:${PORTS[0]}"

# Bounded: workload + heal/settle + search budget + slack.
case $VIA in
  frontend)
    timeout $((DURATION + 200)) "$BIN/bazaar" --config "$CFG" --url "$URL" --timeout 3s check \
      --duration "${DURATION}s" --history "$TMP/history.jsonl" --auto-restock off \
      --node-url "$(api 1)" --node-url "$(api 2)" --node-url "$(api 3)" \
      --settle 60s --check-budget 60s >"$TMP/check.out" 2>"$TMP/check.err" &
    ;;
  nodes)
    # The checker in a container of its own on the compose network (never faulted), so it
    # reaches the nodes, and follows their not-leader answers, by hostname.
    CHECKER=$PROJECT-checker
    mkdir -p "$TMP/out" && chmod 0777 "$TMP/out"
    timeout $((DURATION + 200)) docker run --rm --name "$CHECKER" --network "$NET" \
      -v "$TMP/out:/out" -v "$CFG:/etc/bazaar/cluster.toml:ro" -v "$TMP/certs:/etc/bazaar/certs:ro" \
      -e BAZAAR_ADMIN_TOKEN "$IMAGE" bazaar --config /etc/bazaar/cluster.toml \
      --url https://node1:7001 --timeout 3s check \
      --also-url https://node2:7002 --also-url https://node3:7003 \
      --duration "${DURATION}s" --history /out/history.jsonl --auto-restock off \
      --node-url https://node1:7001 --node-url https://node2:7002 --node-url https://node3:7003 \
      --settle 60s --check-budget 60s >"$TMP/check.out" 2>"$TMP/check.err" &
    ;;
  *) echo "chaos: --via must be frontend or nodes" >&2; exit 2 ;;
esac
CHECK_PID=$!

# While node $1 is cut off: its view of itself, and an order sent to it directly.
MINORITY_ACKS=0 PROBES=0 CUT_LEADERS=0 CUT_LEADER_STILL_LEADER=0
probe_cut_node() {
  local id=$1 was_leader=$2 status role out
  status=$(docker exec "${CID[$id]}" bazaar --config /etc/bazaar/cluster.toml --url "https://127.0.0.1:700$id" --timeout 2s --json status 2>/dev/null || true)
  role=$(sed -n 's/.*"role":"\([a-z_]*\)".*/\1/p' <<<"$status")
  if out=$(docker exec "${CID[$id]}" bazaar --config /etc/bazaar/cluster.toml --url "https://127.0.0.1:700$id" --timeout 2s \
    order Tux 1 2>&1); then
    MINORITY_ACKS=$((MINORITY_ACKS + 1))
    note "ANOMALY: node $id, cut off, acknowledged an order: $out"
  fi
  PROBES=$((PROBES + 1))
  if [[ $was_leader == 1 ]]; then
    CUT_LEADERS=$((CUT_LEADERS + 1))
    # A cut-off leader steps down after twice the longest election timeout without a
    # quorum (~0.6 s, checked every 0.25 s): give it 3 s before calling it an anomaly.
    local tries=0
    while [[ $role == leader && $tries -lt 30 ]]; do
      sleep 0.1; tries=$((tries + 1))
      status=$(docker exec "${CID[$id]}" bazaar --config /etc/bazaar/cluster.toml --url "https://127.0.0.1:700$id" --timeout 2s --json status 2>/dev/null || true)
      role=$(sed -n 's/.*"role":"\([a-z_]*\)".*/\1/p' <<<"$status")
    done
    if [[ $role == leader ]]; then
      CUT_LEADER_STILL_LEADER=$((CUT_LEADER_STILL_LEADER + 1))
      note "ANOMALY: node $id, a cut-off leader, did not step down within 3 s"
    fi
  fi
  note "  node $id cut off (was leader: $was_leader): reports role ${role:-?}; direct order: ${out//$'\n'/ }"
}

FAULTS=0 KILLS=0 PAUSES=0 PARTS=0
fault_end=$((SECONDS + DURATION - 3))
while ((SECONDS < fault_end)) && kill -0 "$CHECK_PID" 2>/dev/null; do
  sleep "$(rand 0.5 2.0)"
  victim=$((RANDOM % 3 + 1))
  is_leader=0
  if ((RANDOM % 2 == 0)); then
    l=$(leader)
    [[ -n $l ]] && victim=$l
  fi
  [[ $(leader) == "$victim" ]] && is_leader=1
  case $((RANDOM % 3)) in
    0)
      note "pause node $victim (leader: $is_leader)"
      docker pause "${CID[$victim]}" >/dev/null && PAUSED[$victim]=1
      sleep "$(rand 0.5 2.0)"
      docker unpause "${CID[$victim]}" >/dev/null && unset "PAUSED[$victim]"
      PAUSES=$((PAUSES + 1))
      ;;
    1)
      note "docker kill node $victim (leader: $is_leader)"
      docker kill "${CID[$victim]}" >/dev/null || true
      sleep "$(rand 0.3 2.0)"
      compose up -d --no-recreate "node$victim" >>"$TMP/compose.log" 2>&1 || note "compose up -d node$victim failed"
      KILLS=$((KILLS + 1))
      ;;
    2)
      note "partition node $victim (leader: $is_leader)"
      docker network disconnect "$NET" "${CID[$victim]}" && CUT[$victim]=1
      # Past twice the election timeout (1.2 s) a cut-off leader refuses writes at once.
      sleep "$(rand 1.5 2.5)"
      probe_cut_node "$victim" "$is_leader"
      sleep "$(rand 0.0 1.0)"
      docker network connect --alias "node$victim" "$NET" "${CID[$victim]}" && unset "CUT[$victim]"
      PARTS=$((PARTS + 1))
      ;;
  esac
  FAULTS=$((FAULTS + 1))
done

# Heal: every node connected, resumed and running.
for id in 1 2 3; do
  [[ -n ${PAUSED[$id]:-} ]] && docker unpause "${CID[$id]}" >/dev/null && unset "PAUSED[$id]"
  [[ -n ${CUT[$id]:-} ]] && docker network connect --alias "node$id" "$NET" "${CID[$id]}" && unset "CUT[$id]"
done
compose up -d --no-recreate >>"$TMP/compose.log" 2>&1 || note "compose up -d failed"
note "healed"

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
ANOMALIES=$((ANOMALIES + MINORITY_ACKS + CUT_LEADER_STILL_LEADER))
if [[ $RC == 0 && $ANOMALIES == 0 ]]; then
  KEEP_TMP=0
fi
echo "chaos: faults: $KILLS docker kill, $PAUSES pause, $PARTS partition ($CUT_LEADERS of the leader);" \
  "cut-off nodes sent an order: $PROBES, acknowledged: $MINORITY_ACKS;" \
  "cut-off leaders still reporting role leader: $CUT_LEADER_STILL_LEADER of $CUT_LEADERS"
echo "chaos: $OPS operations, $FAULTS faults, $ANOMALIES anomalies"
[[ $RC == 0 && $ANOMALIES == 0 ]]
exit $?
