# Shared by the cluster scripts: usage, dependencies, build, the cluster file, pid files,
# waiting. Sourced, not run.

BAZAAR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where the binaries are; BAZAAR_BIN_DIR points the scripts at another build.
BIN_DIR="${BAZAAR_BIN_DIR:-$BAZAAR_ROOT/target/release}"

die() { echo "error: $*" >&2; exit 1; }

# step TEXT: announces a phase of a long script.
step() { echo "==> $*"; }

# usage: the calling script's header comment (from line 2 to the first non-comment line).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# bad_usage TEXT: an argument error: the reason, then the usage, on stderr; exit 2.
bad_usage() { { echo "error: $*"; usage; } >&2; exit 2; }

# node_workers N: async worker threads per node for the nodes this script starts (raft-node
# reads BAZAAR_NODE_WORKER_THREADS over its file's runtime.node_worker_threads; 0: one per
# core). Anything but a number is a usage error.
node_workers() {
  [[ ${1:-} =~ ^[0-9]+$ ]] || bad_usage "--node-workers takes a number (0: one per core)"
  export BAZAAR_NODE_WORKER_THREADS=$1
}

# apt_install WHY PKG...: installs the Debian packages given (as root, or with sudo), saying
# what and why first, since apt itself stays quiet for a minute.
apt_install() {
  local why=$1; shift
  [ $# -gt 0 ] || return 0
  echo "installing $* ($why); this takes a minute ..."
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  echo "installed $*"
}

# What building and running the cluster needs: libclang for RocksDB's bindings, a C++
# compiler, curl (the scripts' HTTP client), python3 (chaos and bench helpers), procps
# and iproute2 (ps, ss: who holds a port).
ensure_deps() {
  command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup first)"
  local need=()
  dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
  command -v clang >/dev/null || need+=(clang)
  command -v g++ >/dev/null || need+=(g++)
  command -v curl >/dev/null || need+=(curl)
  command -v python3 >/dev/null || need+=(python3)
  command -v ps >/dev/null || need+=(procps)
  command -v ss >/dev/null || need+=(iproute2)
  apt_install "to build RocksDB and run the scripts" "${need[@]}"
}

# What the tests need beyond that: Chromium and its WebDriver (the storefront browser test),
# and fuse3 (fusermount3, for the power-loss tests' FUSE filesystem where it does not run
# as root; it needs no libfuse).
ensure_test_deps() {
  ensure_deps
  local need=()
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  command -v fusermount3 >/dev/null || need+=(fuse3)
  command -v promtool >/dev/null || need+=(prometheus)
  apt_install "for the storefront's browser test, the power-loss tests and the alert rules' tests" "${need[@]}"
}

# One cargo profile (release) and one feature set for everything, so RocksDB's C++ is
# compiled once.
build_release() {
  (cd "$BAZAAR_ROOT" && cargo build --release --workspace --bins)
}

# parse_node_args ARGS...: `ID|frontend [--config FILE] [--help]` for the scripts that act on
# one process; sets TARGET and reads the cluster file (use_config).
parse_node_args() {
  local config="$BAZAAR_ROOT/cluster.toml"
  TARGET=""
  while [ $# -gt 0 ]; do
    case $1 in
      --config) [ $# -ge 2 ] || bad_usage "--config needs a file"; config=$2; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      frontend|[0-9]*) [ -z "$TARGET" ] || bad_usage "one node at a time"; TARGET=$1; shift ;;
      *) bad_usage "unknown argument $1" ;;
    esac
  done
  [ -n "$TARGET" ] || bad_usage "which node? give an id or 'frontend'"
  use_config "$config"
}

# use_config FILE: reads the cluster file once (validated by raft-node) into CONFIG,
# CLUSTER_NAME, SCHEME, CA_CERT and CLUSTER_LINES, and sets BAZAAR_DATA_DIR from its
# data_dir unless the environment set it.
use_config() {
  [ -f "$1" ] || die "no cluster file at $1"
  CONFIG=$(realpath "$1")
  [ -x "$BIN_DIR/raft-node" ] || die "$BIN_DIR/raft-node is not built (scripts/start-cluster.sh builds it)"
  CLUSTER_LINES=$("$BIN_DIR/raft-node" --config "$CONFIG" --print-cluster) || die "invalid cluster file $CONFIG"
  read -r _ CLUSTER_NAME SCHEME CA_CERT < <(echo "$CLUSTER_LINES" | awk '$1 == "cluster"')
  : "${BAZAAR_DATA_DIR:=$(echo "$CLUSTER_LINES" | awk '$1 == "data_dir" { print $2 }')}"
  export BAZAAR_DATA_DIR
}

# cluster_lines: the `node <id> <api> <raft>` and `frontend <listen>` lines.
cluster_lines() { echo "$CLUSTER_LINES" | awk '$1 == "node" || $1 == "frontend"'; }

# node_api ID: the API address of node ID.
node_api() { cluster_lines | awk -v id="$1" '$1 == "node" && $2 == id { print $3 }'; }

frontend_addr() { cluster_lines | awk '$1 == "frontend" { print $2 }'; }

# http_get URL: curl with this cluster's scheme and CA, quiet, 1 s limit.
http_get() {
  local tls=()
  [ "$CA_CERT" = - ] || tls=(--cacert "$CA_CERT")
  curl -fsS -m 1 "${tls[@]}" "$@" 2>/dev/null
}

url_of() { echo "$SCHEME://$1"; }

pid_file() { echo "$BAZAAR_DATA_DIR/$1.pid"; }

# gone PID: true once the process has exited or is a zombie (in a container without an
# init, exited children of a dead parent are never reaped). A multi-threaded process shows
# its main thread as a zombie while the other threads still exit and hold its files (its
# listening sockets included), so a zombie counts as gone only once no other thread is left.
gone() {
  ! kill -0 "$1" 2>/dev/null && return 0
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] || return 1
  [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ]
}

# wait_gone PID SECONDS: until the process is gone; false if it is still there.
wait_gone() {
  local pid=$1 i
  for i in $(seq 1 $(( $2 * 100 ))); do
    gone "$pid" && return 0
    sleep 0.01
  done
  gone "$pid"
}

# sigkill PID: SIGKILL, then wait (up to 10 s) until the process is gone, so a restart does
# not race the kernel for the old process's ports.
sigkill() {
  kill -KILL "$1" 2>/dev/null || return 0
  wait_gone "$1" 10
}

is_running() {
  local f; f=$(pid_file "$1")
  [ -f "$f" ] && ! gone "$(cat "$f")"
}

# port_holder ADDR: who listens on ADDR's port, as `name (pid N)`; empty if nobody.
port_holder() {
  local port=${1##*:} line who
  line=$(ss -ltnpH "sport = :$port" 2>/dev/null | head -1)
  [ -n "$line" ] || return 0
  who=$(echo "$line" | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p')
  echo "${who:-a process this user cannot see}"
}

# check_free NAME ADDR: dies naming the holder when ADDR's port is taken.
check_free() {
  local holder; holder=$(port_holder "$2")
  [ -z "$holder" ] || die "$1 cannot listen on $2: the port is held by $holder"
}

# start_node ID: starts raft-node ID in the background unless it already runs.
start_node() {
  local id=$1 api raft
  if is_running "node$id"; then echo "node $id already running (pid $(cat "$(pid_file "node$id")"))"; return 0; fi
  read -r _ _ api raft < <(cluster_lines | awk -v id="$id" '$1 == "node" && $2 == id')
  [ -n "$api" ] || die "node $id is not in $CONFIG"
  check_free "node $id" "$api"
  check_free "node $id" "$raft"
  mkdir -p "$BAZAAR_DATA_DIR"
  BAZAAR_DATA_DIR=$BAZAAR_DATA_DIR nohup "$BIN_DIR/raft-node" --config "$CONFIG" --id "$id" \
    >>"$BAZAAR_DATA_DIR/node$id.log" 2>&1 &
  echo $! >"$(pid_file "node$id")"
}

start_frontend() {
  [ -x "$BIN_DIR/frontend" ] || return 0
  if is_running frontend; then echo "frontend already running"; return 0; fi
  check_free frontend "$(frontend_addr)"
  mkdir -p "$BAZAAR_DATA_DIR"
  nohup "$BIN_DIR/frontend" --config "$CONFIG" >>"$BAZAAR_DATA_DIR/frontend.log" 2>&1 &
  echo $! >"$(pid_file frontend)"
}

# cluster_number API FIELD: a number from GET /cluster of the node at API (host:port).
cluster_number() { http_get "http://$1/cluster" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }

# answers_as_member ID: node ID's API answers /cluster as node ID of this cluster.
answers_as_member() {
  local body
  body=$(http_get "$(url_of "$(node_api "$1")")/cluster") || return 1
  echo "$body" | grep -q "\"cluster_name\":\"$CLUSTER_NAME\"" && echo "$body" | grep -q "\"id\":$1,"
}

# ensure_alive NAME: dies with the end of NAME's log when its process has exited.
ensure_alive() {
  is_running "$1" && return 0
  echo "error: $1 exited; the end of $BAZAAR_DATA_DIR/$1.log:" >&2
  tail -n 5 "$BAZAAR_DATA_DIR/$1.log" >&2 2>/dev/null
  exit 1
}

# wait_ready SECONDS NAME URL: until URL/readyz answers 200, while NAME keeps running.
wait_ready() {
  local secs=$1 name=$2 url=$3 start=$SECONDS
  until http_get -o /dev/null "$url/readyz"; do
    ensure_alive "$name"
    [ $((SECONDS - start)) -lt "$secs" ] || return 1
    sleep 0.1
  done
}

# wait_http URL SECONDS: until URL answers 2xx.
wait_http() {
  local url=$1 secs=$2 start=$SECONDS
  until http_get -o /dev/null "$url"; do
    [ $((SECONDS - start)) -lt "$secs" ] || return 1
    sleep 0.1
  done
}

# wait_leader SECONDS: until some node of this cluster reports itself leader; prints its id.
wait_leader() {
  local secs=$1 start=$SECONDS kind id api
  while [ $((SECONDS - start)) -lt "$secs" ]; do
    while read -r kind id api _; do
      [ "$kind" = node ] || continue
      if http_get "$(url_of "$api")/cluster" | grep -q '"role":"leader"'; then
        echo "$id"; return 0
      fi
    done < <(cluster_lines)
    sleep 0.1
  done
  return 1
}

# stop_process NAME: SIGTERM, up to 10 s to exit, then SIGKILL; forgets the pid file.
stop_process() {
  local f pid; f=$(pid_file "$1")
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if ! gone "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || sigkill "$pid"
    echo "stopped $1"
  fi
  rm -f "$f"
}
