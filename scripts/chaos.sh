#!/usr/bin/env bash
# Chaos run: starts a fresh 3-node cluster (and a frontend if one is built) in a temp
# dir on free loopback ports, runs `bazaar check` against it while killing (SIGKILL) and
# restarting nodes, pausing them (SIGSTOP/SIGCONT) and stalling the frontend's change
# feed, then heals the cluster and lets the checker judge the history.
#
# usage:
#   scripts/chaos.sh [--duration SECS] [--rate dense|calm] [--first KIND,...] [--keep]
#                                          default 60 s at the dense rate; CI runs 30 s;
#                                          --first runs those kinds first, in that order
#                                          (then the random schedule), so a short run
#                                          surely includes them: CI's names the storage
#                                          kinds; one the machine cannot run is left out
#                                          with a line that says so;
#                                          --keep keeps the temp dir after a clean run too
#   scripts/chaos.sh --soak short|long|calm|SECS
#                                          a soak preset (duration and rate; a later or
#                                          earlier --duration/--rate overrides its part):
#                                            short  120 s, dense
#                                            long   600 s, dense (issue 25's 10-minute
#                                                   soak with about 3x its faults)
#                                            calm   600 s, calm (the schedule that found
#                                                   issue 25, for comparison)
#                                            SECS   that many seconds, dense
#   scripts/chaos.sh --docker [--duration SECS|--soak P] [--via frontend|nodes] [--keep]
#                                          the same against docker-compose.yml: one
#                                          container per node, with docker kill/up -d,
#                                          pause/unpause and network partitions (its own
#                                          fault schedule: --rate does not apply)
#
# Rates, the gap between one fault's end and the next fault's start:
#   dense  0.1-0.5 s    calm  0.5-2.0 s (the only rate before issue 25)
# Fault kinds, one at a time (the summary counts each); a victim is a random node unless
# the kind names one:
#   kill                    SIGKILL, restarted after 0.3-2.0 s
#   kill-leader             the same to the leader
#   pause                   SIGSTOP, SIGCONT after 0.5-2.0 s
#   pause-leader            the same to the leader
#   pause-feed              SIGSTOP the node the frontend's change feed follows, for 0.5x
#                           to 2.5x the frontend's staleness bound (1 s by default): most
#                           outlast it, so the cache is bypassed until the feed has caught
#                           up again (on that node or another) and then refilled from empty
#   kill-feed               SIGKILL the feed's node, restarted after 0.3-2.0 s (the feed
#                           resumes elsewhere from its last index)
#   pause-feed+kill-leader  the feed's node paused and, 0.2-0.8 s later, the leader killed
#                           (restarted 0.3-1.5 s after); the feed's node resumed last: the
#                           faults around issue 25's stale read
#   disk-full               the node's disk filled (its data dir is a tmpfs of its own): it
#                           raises the nospace alarm and fail-stops (exit 74); the space is
#                           freed 1-3 s later, the node restarted and the alarm disarmed
#   nospace                 the node's disk filled to below storage.min_free_bytes: the
#                           nospace alarm refuses new orders (507) for 1-3 s, then the space
#                           is freed and the alarm disarmed (bazaar alarm disarm)
#   power-cut               the node killed (SIGKILL) and its disk's power cut: every write
#                           it had not fsynced is lost (LazyFS's model); restarted after
#                           0.3-2.0 s
#   power-cut-all           the same to all three nodes at once (restarted 0.3-1.5 s after)
# The storage kinds need root and `mount -t tmpfs` (each node's data dir is then a 1 GiB
# tmpfs of its own); the power cuts need /dev/fuse and target/release/powercut too (each
# data dir is then a powercut disk, the FUSE test filesystem of tests/power_loss.rs, backed
# by that tmpfs). Where a mount is refused its kinds are left out and the summary says so.
# Odds: with a frontend half the faults stall the feed (pause-feed 4/12, the pair 2/12),
# kill-feed 1/12, kill-leader 2/12, kill, pause and pause-leader 1/12 each; without one
# only the first four run (kill-leader 2/5, the others 1/5). The storage kinds, where they
# run, come on top: disk-full, nospace, power-cut and power-cut-all one roll each (of 16,
# or of 9; without FUSE the power cuts are left out: of 14, or of 7). A kind whose target is
# unknown at that moment (no leader, feed down) falls back to the random-node kind and is
# counted as that.
#
# Needs target/release/{raft-node,bazaar} (cargo build --release --bins), curl and
# python3. Before the last line it prints the faults per kind and, with a frontend, the
# bypass-and-refill path's figures: feed stalls that outlasted the staleness bound, the
# cache's refills from empty and the reads it bypassed (from the frontend's metrics). The
# last line is "chaos: N operations, F faults, A anomalies"; exit 0 only with zero
# anomalies. Every process it starts is stopped on exit; the temp dir (logs, history,
# faults.log) is kept and printed when something failed, or always with --keep.
#
# --docker needs a Docker engine, Compose (docker compose, or docker-compose v1.28+) and
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
DURATION=""
RATE=""
SOAK=""
DOCKER=0
KEEP_PROJECT=0
FIRST=
VIA=frontend
HELP_LINES=$(($(grep -n '^set -euo pipefail' "$0" | cut -d: -f1) - 1))
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --rate) RATE=${2:?--rate needs dense or calm}; shift 2 ;;
    --rate=*) RATE=${1#*=}; shift ;;
    --soak) SOAK=${2:?--soak needs short, long, calm or seconds}; shift 2 ;;
    --soak=*) SOAK=${1#*=}; shift ;;
    --docker) DOCKER=1; shift ;;
    --keep) KEEP_PROJECT=1; shift ;;
    --first) FIRST=${2:?--first needs kinds, comma-separated}; shift 2 ;;
    --first=*) FIRST=${1#*=}; shift ;;
    --via) VIA=${2:?--via needs frontend or nodes}; shift 2 ;;
    -h|--help) sed -n "2,${HELP_LINES}p" "$0"; exit 0 ;;
    *) echo "chaos: unknown argument $1 (usage: scripts/chaos.sh --help)" >&2; exit 2 ;;
  esac
done
# A preset fills in what the flags left open, so `--soak long --rate calm` means what it says.
case $SOAK in
  "") ;;
  short) : "${DURATION:=120}" "${RATE:=dense}" ;;
  long) : "${DURATION:=600}" "${RATE:=dense}" ;;
  calm) : "${DURATION:=600}" "${RATE:=calm}" ;;
  *)
    [[ $SOAK =~ ^[0-9]+$ ]] || { echo "chaos: --soak must be short, long, calm or seconds" >&2; exit 2; }
    : "${DURATION:=$SOAK}" "${RATE:=dense}"
    ;;
esac
DURATION=${DURATION:-60}
RATE=${RATE:-dense}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 5 ]] || { echo "chaos: --duration must be >= 5 seconds" >&2; exit 2; }
# Gap between faults, in milliseconds.
case $RATE in
  dense) GAP_MS=(100 500) ;;
  calm) GAP_MS=(500 2000) ;;
  *) echo "chaos: --rate must be dense or calm" >&2; exit 2 ;;
esac
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
MOUNTS=()
# Per node: the dir a full disk is filled in (its tmpfs), and its powercut process.
declare -A DISK=()
declare -A POWERCUT_PIDS=()

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
  # SIGTERM: powercut syncs what it holds, unmounts and exits (the nodes are gone).
  for id in "${!POWERCUT_PIDS[@]}"; do
    kill -TERM "${POWERCUT_PIDS[$id]}" 2>/dev/null
    wait "${POWERCUT_PIDS[$id]}" 2>/dev/null
    mountpoint -q "$TMP/data/node$id" && { umount "$TMP/data/node$id" 2>/dev/null || umount -l "$TMP/data/node$id"; }
  done
  for mount in "${MOUNTS[@]}"; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null
  done
  if [[ $KEEP_TMP == 1 ]]; then
    echo "chaos: logs and history kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A failed command ends the run (set -e): say which, so it is never taken for a verdict.
trap 'echo "chaos: the script failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# Seven free loopback ports: 3 api, 3 raft, 1 frontend.
read -r -a PORTS <<<"$(python3 - <<'PY'
import socket
socks = []
for _ in range(7):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"

# The storage faults fill one node's disk and nothing else's: each data dir on a tmpfs of
# its own (root and mount needed; without them those kinds are left out). With FUSE, each
# data dir is a powercut disk backed by that tmpfs, so a power cut can drop what a node
# wrote and did not sync (the filler still goes on the tmpfs, which the node's statvfs
# sees through powercut).
unmount_all() {
  local mount
  for mount in "${MOUNTS[@]}"; do umount "$mount" 2>/dev/null || umount -l "$mount"; done
  MOUNTS=()
}
# Mounts a 1 GiB tmpfs on node $1's disk dir $2; fails where mount is refused.
mount_disk() {
  mkdir -p "$2"
  mount -t tmpfs -o size=1g tmpfs "$2" 2>/dev/null || return 1
  MOUNTS+=("$2")
  DISK[$1]=$2
}
# Serves node $1's data dir from powercut, backed by $2; fails where FUSE is refused.
mount_powercut() {
  local out=$TMP/powercut$1.out
  mkdir -p "$2" "$TMP/data/node$1"
  "$BIN/powercut" mount --backing "$2" --mountpoint "$TMP/data/node$1" \
    >"$out" 2>>"$TMP/powercut$1.log" </dev/null &
  POWERCUT_PIDS[$1]=$!
  wait_until 10 grep -q '^mounted ' "$out" && return 0
  kill -TERM "${POWERCUT_PIDS[$1]}" 2>/dev/null || true
  wait "${POWERCUT_PIDS[$1]}" 2>/dev/null || true
  unset "POWERCUT_PIDS[$1]"
  return 1
}
stop_powercuts() {
  local id
  for id in "${!POWERCUT_PIDS[@]}"; do
    kill -TERM "${POWERCUT_PIDS[$id]}" 2>/dev/null || true
    wait "${POWERCUT_PIDS[$id]}" 2>/dev/null || true
    unset "POWERCUT_PIDS[$id]"
  done
}
STORAGE_FAULTS=1
POWER_CUTS=0
[[ -e /dev/fuse && -x $BIN/powercut ]] && POWER_CUTS=1
for i in 1 2 3; do
  if [[ $POWER_CUTS == 1 ]]; then
    mount_disk "$i" "$TMP/disk/node$i" || { STORAGE_FAULTS=0; break; }
    mount_powercut "$i" "$TMP/disk/node$i/backing" || { POWER_CUTS=0; break; }
  else
    mount_disk "$i" "$TMP/data/node$i" || { STORAGE_FAULTS=0; break; }
  fi
done
if [[ $STORAGE_FAULTS == 1 && $POWER_CUTS == 0 && -n ${DISK[1]:-} && ${DISK[1]} == "$TMP/disk/node1" ]]; then
  # FUSE was refused after the tmpfs mounts: put each tmpfs on the data dir instead.
  stop_powercuts
  unmount_all
  echo "chaos: powercut could not mount (FUSE refused): the power cuts are left out" >&2
  for i in 1 2 3; do
    mount_disk "$i" "$TMP/data/node$i" || { STORAGE_FAULTS=0; break; }
  done
fi
if [[ $STORAGE_FAULTS == 0 ]]; then
  stop_powercuts
  unmount_all
  POWER_CUTS=0
  echo "chaos: mount -t tmpfs refused: the storage faults (disk-full, nospace, power-cut) are left out" >&2
fi
# Free space below which a node raises the nospace alarm (the nospace kind fills to half).
MIN_FREE=$((64 << 20))

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
  # No reserve file (it would take a sixteenth of each tmpfs); the floor that raises the
  # nospace alarm, checked against each node's own tmpfs.
  echo "[storage]"
  echo "reserve_bytes = 0"
  echo "min_free_bytes = $MIN_FREE"
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
  # No leader known is an answer too ("nothing"), not a failure that set -e would end on.
  return 0
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
FRONTEND_URL=""
[[ -n $FRONTEND_PID ]] && FRONTEND_URL="http://127.0.0.1:${PORTS[6]}"

# Prints the id of the node the frontend's change feed follows, or nothing (no frontend,
# feed down, or no answer within a second).
feed_node() {
  [[ -n $FRONTEND_URL ]] || return 0
  # No answer is an answer here ("nothing"): under set -e and pipefail a failed curl
  # must not end the run mid-way (it did once, a frontend slow to answer on a loaded
  # machine, and the cleanup then stopped the cluster under the checker).
  { curl -s -m 1 "$FRONTEND_URL/cluster" 2>/dev/null || true; } |
    sed -n 's/.*"feed":{[^}]*"node":\([0-9][0-9]*\).*/\1/p'
}

# The frontend's staleness bound in ms (from its /cluster), 1000 when it cannot tell:
# feed pauses are scaled to straddle it.
staleness_bound_ms() {
  local ms
  ms=$({ curl -s -m 1 "$FRONTEND_URL/cluster" 2>/dev/null || true; } |
    sed -n 's/.*"staleness_bound_ms":\([0-9][0-9]*\).*/\1/p')
  echo "${ms:-1000}"
}

# A random whole number of milliseconds between $1 and $2 (bash's RANDOM instead of a
# python3 per fault, so the gaps stay short at the dense rate).
rand_ms() { echo $(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1))); }
# Milliseconds as seconds for sleep.
secs() { printf '%d.%03d\n' $(($1 / 1000)) $(($1 % 1000)); }
# Sleeps a random time between $1 and $2 ms.
sleep_ms() { sleep "$(secs "$(rand_ms "$1" "$2")")"; }

# Bounded: workload + heal/settle + search budget + slack.
timeout $((DURATION + 200)) "$BIN/bazaar" --config "$CFG" --url "$URL" --timeout 3s check \
  "${EXTRA[@]}" --duration "${DURATION}s" --history "$TMP/history.jsonl" --auto-restock off \
  --node-url "$(api 1)" --node-url "$(api 2)" --node-url "$(api 3)" \
  --settle 60s --check-budget 60s >"$TMP/check.out" 2>"$TMP/check.err" &
CHECK_PID=$!

declare -A KIND_COUNT=()
# The order the summary lists kinds in.
KINDS=(kill kill-leader pause pause-leader pause-feed kill-feed pause-feed+kill-leader disk-full nospace power-cut power-cut-all)
FAULTS=0
# --first: the kinds to run before the random schedule, checked against KINDS.
IFS=, read -r -a FIRST_KINDS <<<"$FIRST"
for kind in "${FIRST_KINDS[@]}"; do
  [[ " ${KINDS[*]} " == *" $kind "* ]] || { echo "chaos: --first: unknown kind $kind (kinds: ${KINDS[*]})" >&2; exit 2; }
done
note() { echo "$(date +%T.%3N) $*" >>"$TMP/faults.log"; }

kill_node() { # id kind
  note "$2: kill -9 node $1"
  kill -KILL "${PIDS[$1]}" 2>/dev/null || true
  wait "${PIDS[$1]}" 2>/dev/null || true
}
pause_node() { # id kind
  note "$2: pause node $1"
  kill -STOP "${PIDS[$1]}" 2>/dev/null || true
}
resume_node() {
  note "resume node $1"
  kill -CONT "${PIDS[$1]}" 2>/dev/null || true
}
restart_node() {
  note "restart node $1"
  start_node "$1"
}

# Bytes free on node $1's tmpfs.
free_bytes() { df -B1 --output=avail "${DISK[$1]}" | tail -1 | tr -d ' '; }
# Fills node $1's tmpfs until $2 bytes are left (fallocate: instant on tmpfs).
fill_disk() {
  local free left=$2
  free=$(free_bytes "$1")
  ((free > left)) || return 0
  fallocate -l $((free - left)) "${DISK[$1]}/chaos-filler" 2>/dev/null || true
}
free_disk() { rm -f "${DISK[$1]}/chaos-filler"; }
# Cuts the power of node $1's disk (the node is down): powercut drops every unsynced write
# and says so on its stdout; waits for that line, so a restart never reads what the cut
# is about to drop.
cuts_reported() { grep -c '^cut: ' "$TMP/powercut$1.out" || true; }
cut_reported_after() { (($(cuts_reported "$1") > $2)); }
cut_power() {
  local out=$TMP/powercut$1.out before
  before=$(cuts_reported "$1")
  note "power cut of node $1's disk"
  kill -USR1 "${POWERCUT_PIDS[$1]}"
  wait_until 10 cut_reported_after "$1" "$before" || {
    echo "chaos: powercut of node $1 did not report its cut" >&2
    exit 1
  }
  note "$(grep '^cut: ' "$out" | tail -1)"
}
# Whether any node still names an active alarm.
alarms_active() {
  local id out
  for id in 1 2 3; do
    out=$(curl -s -m 1 "$(api "$id")/cluster" 2>/dev/null) || continue
    [[ $out == *'"alarms":[{'* ]] && return 0
  done
  return 1
}
# Whether process $1 has ended (gone, or a zombie not yet waited for).
ended() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [[ -z $state || $state == Z* ]]
}
disarm() {
  "$BIN/bazaar" --config "$CFG" --timeout 3s alarm disarm >>"$TMP/alarms.log" 2>&1
}
# After a storage fault: the alarm (raised as the disk filled) is disarmed once the node
# reports room again; a few tries, a second apart (the heal tries again at the end).
disarm_when_room() {
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 1.1
    disarm || true
    alarms_active || return 0
  done
}

FEED_PAUSE_MS=(500 3000)
BOUND_MS=1000
# Feed pauses that outlasted the staleness bound: each should open a bypass window.
LONG_STALLS=0
if [[ -n $FRONTEND_URL ]]; then
  BOUND_MS=$(staleness_bound_ms)
  FEED_PAUSE_MS=($((BOUND_MS / 2)) $((BOUND_MS * 5 / 2)))
  # Half the faults stall the feed: the cache's bypass-and-refill path is what issue 25
  # broke, and a random fault hits the feed's node only a third of the time.
  ROLLS=12
else
  ROLLS=5
fi
# The storage kinds' rolls come after the others.
STORAGE_ROLL=$ROLLS
((STORAGE_FAULTS == 0)) || ROLLS=$((ROLLS + 2))
((POWER_CUTS == 0)) || ROLLS=$((ROLLS + 2))

fault_end=$((SECONDS + DURATION - 3))
while ((SECONDS < fault_end)) && kill -0 "$CHECK_PID" 2>/dev/null; do
  sleep_ms "${GAP_MS[@]}"
  victim=$((RANDOM % 3 + 1))
  roll=$((RANDOM % ROLLS))
  kind=""
  while [[ -z $kind && ${#FIRST_KINDS[@]} -gt 0 ]]; do
    kind=${FIRST_KINDS[0]}
    FIRST_KINDS=("${FIRST_KINDS[@]:1}")
    if [[ ($kind == disk-full || $kind == nospace) && $STORAGE_FAULTS == 0 ]] ||
      [[ $kind == power-cut* && $POWER_CUTS == 0 ]] ||
      [[ $kind == *feed* && -z $FRONTEND_URL ]]; then
      echo "chaos: --first: $kind cannot run on this machine; left out" >&2
      kind=""
    fi
  done
  [[ -n $kind ]] || case $roll in
    0) kind=kill ;;
    1 | 2) kind=kill-leader ;;
    3) kind=pause ;;
    4) kind=pause-leader ;;
    "$STORAGE_ROLL") kind=disk-full ;;
    $((STORAGE_ROLL + 1))) kind=nospace ;;
    $((STORAGE_ROLL + 2))) kind=power-cut ;;
    $((STORAGE_ROLL + 3))) kind=power-cut-all ;;
    5 | 6 | 7 | 8) kind=pause-feed ;;
    9) kind=kill-feed ;;
    *) kind=pause-feed+kill-leader ;;
  esac
  leader_id=""
  feed_id=""
  case $kind in
    *leader*) leader_id=$(leader) ;;
  esac
  case $kind in
    *feed*) feed_id=$(feed_node) ;;
  esac
  # Fall back to the random-node kind when the named target is unknown right now.
  case $kind in
    kill-leader | pause-leader)
      if [[ -n $leader_id ]]; then victim=$leader_id; else kind=${kind%-leader}; fi
      ;;
    pause-feed | kill-feed)
      if [[ -n $feed_id ]]; then victim=$feed_id; else kind=${kind%-feed}; fi
      ;;
    pause-feed+kill-leader)
      if [[ -z $feed_id ]]; then
        kind=pause
      else
        victim=$feed_id
        # The feed on the leader: pausing it already stalls both.
        [[ -n $leader_id && $leader_id != "$feed_id" ]] || kind=pause-feed
      fi
      ;;
  esac
  case $kind in
    kill | kill-leader | kill-feed)
      kill_node "$victim" "$kind"
      sleep_ms 300 2000
      restart_node "$victim"
      ;;
    pause | pause-leader)
      pause_node "$victim" "$kind"
      sleep_ms 500 2000
      resume_node "$victim"
      ;;
    disk-full)
      note "disk-full: fill node $victim's disk"
      fill_disk "$victim" 0
      # It fail-stops on its next write (exit 74); one that wrote nothing in time is
      # stopped like a crash, so the space comes back with the node down either way.
      wait_until 5 ended "${PIDS[$victim]}" || kill_node "$victim" "$kind"
      wait "${PIDS[$victim]}" 2>/dev/null || true
      sleep_ms 1000 3000
      free_disk "$victim"
      restart_node "$victim"
      note "disk-full: space freed on node $victim, disarming"
      disarm_when_room
      ;;
    power-cut)
      kill_node "$victim" "$kind"
      cut_power "$victim"
      sleep_ms 300 2000
      restart_node "$victim"
      ;;
    power-cut-all)
      for id in 1 2 3; do kill_node "$id" "$kind"; done
      for id in 1 2 3; do cut_power "$id"; done
      sleep_ms 300 1500
      for id in 1 2 3; do restart_node "$id"; done
      ;;
    nospace)
      note "nospace: fill node $victim's disk below the floor"
      fill_disk "$victim" $((MIN_FREE / 2))
      sleep_ms 1000 3000
      free_disk "$victim"
      note "nospace: space freed on node $victim, disarming"
      disarm_when_room
      ;;
    pause-feed)
      pause_node "$victim" "$kind"
      stall=$(rand_ms "${FEED_PAUSE_MS[@]}")
      sleep "$(secs "$stall")"
      resume_node "$victim"
      ((stall <= BOUND_MS)) || LONG_STALLS=$((LONG_STALLS + 1))
      ;;
    pause-feed+kill-leader)
      pause_node "$victim" "$kind"
      before=$(rand_ms 200 800) down=$(rand_ms 300 1500) after=$(rand_ms 0 1000)
      sleep "$(secs "$before")"
      kill_node "$leader_id" "$kind"
      sleep "$(secs "$down")"
      restart_node "$leader_id"
      sleep "$(secs "$after")"
      resume_node "$victim"
      stall=$((before + down + after))
      ((stall <= BOUND_MS)) || LONG_STALLS=$((LONG_STALLS + 1))
      ;;
  esac
  KIND_COUNT[$kind]=$((${KIND_COUNT[$kind]:-0} + 1))
  FAULTS=$((FAULTS + 1))
done

# Heal: every node running and resumed, every disk freed, no alarm left.
for i in 1 2 3; do
  [[ $STORAGE_FAULTS == 0 ]] || free_disk "$i"
  kill -CONT "${PIDS[$i]}" 2>/dev/null || true
  alive "$i" || start_node "$i"
done
if [[ $STORAGE_FAULTS == 1 ]]; then
  # The last nospace may be raised late (a node reports it within a second or two).
  sleep 2
  for _ in $(seq 1 30); do
    alarms_active || break
    disarm || true
    sleep 1
  done
fi
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
if [[ $RC == 0 && $ANOMALIES == 0 && $KEEP_PROJECT == 0 ]]; then
  KEEP_TMP=0
fi
BY_KIND=""
for kind in "${KINDS[@]}"; do
  [[ -z $FRONTEND_URL && $kind == *feed* ]] && continue
  [[ $STORAGE_FAULTS == 0 && ($kind == disk-full || $kind == nospace) ]] && continue
  [[ $POWER_CUTS == 0 && $kind == power-cut* ]] && continue
  BY_KIND+="${BY_KIND:+, }${KIND_COUNT[$kind]:-0} $kind"
done
echo "chaos: faults: $BY_KIND (rate $RATE, ${DURATION} s)"
if [[ -n $FRONTEND_URL ]]; then
  # A refill ends a bypass window: the feed caught up after the cache had gone stale.
  METRICS=$(curl -s -m 2 "$FRONTEND_URL/metrics" 2>/dev/null || true)
  frontend_counter() { echo "$METRICS" | sed -n "s/^bazaar_frontend_$1_total \([0-9][0-9]*\).*/\1/p" | head -1; }
  REFILLS=$(frontend_counter cache_refills)
  BYPASSED=$(frontend_counter cache_bypassed)
  echo "chaos: cache: $LONG_STALLS feed stalls past the ${BOUND_MS} ms staleness bound," \
    "${REFILLS:-?} refills from empty, ${BYPASSED:-?} reads bypassed (frontend metrics)"
fi
echo "chaos: $OPS operations, $FAULTS faults, $ANOMALIES anomalies"
[[ $RC == 0 && $ANOMALIES == 0 ]]
