# Shared by the cluster scripts: dependencies, build, config, pid files, waiting.
# Sourced, not run.

BAZAAR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where the binaries are; BAZAAR_BIN_DIR points the scripts at another build.
BIN_DIR="${BAZAAR_BIN_DIR:-$BAZAAR_ROOT/target/release}"
# Where the cluster scripts keep data, logs and pids. Exported only to the processes the
# scripts start (see start_node), never to builds or tests.
: "${BAZAAR_DATA_DIR:=$BAZAAR_ROOT/data}"

die() { echo "error: $*" >&2; exit 1; }

# step TEXT: announces a phase of a long script.
step() { echo "==> $*"; }

# apt_install PKG...: installs the Debian packages given (as root, or with sudo).
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "installing $* ..."
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Debian packages the build needs (libclang for RocksDB's bindings, a C++ compiler, curl).
ensure_deps() {
  command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup first)"
  local need=()
  dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
  command -v clang >/dev/null || need+=(clang)
  command -v g++ >/dev/null || need+=(g++)
  command -v curl >/dev/null || need+=(curl)
  apt_install "${need[@]}"
}

# What the tests need beyond the build: Chromium and its WebDriver (storefront browser test).
ensure_test_deps() {
  ensure_deps
  local need=()
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  apt_install "${need[@]}"
}

# One cargo profile (release) for everything, so RocksDB's C++ is compiled once.
build_release() {
  (cd "$BAZAAR_ROOT" && cargo build --release --workspace --bins)
}

# Lines `node <id> <api> <raft>` and `frontend <listen>` from a validated cluster file.
cluster_lines() {
  "$BIN_DIR/raft-node" --config "$1" --print-cluster
}

pid_file() { echo "$BAZAAR_DATA_DIR/$1.pid"; }

# sigkill PID: SIGKILL, then wait (up to 10 s) until the process is gone or a zombie, so a
# restart does not race the kernel for the old process's ports.
sigkill() {
  local pid=$1 i
  kill -KILL "$pid" 2>/dev/null || return 0
  for i in $(seq 1 1000); do
    kill -0 "$pid" 2>/dev/null || return 0
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.01
  done
}

is_running() {
  local f; f=$(pid_file "$1")
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# wait_http URL SECONDS: until URL answers 2xx.
wait_http() {
  local url=$1 secs=$2 start=$SECONDS
  until curl -fsS -m 1 -o /dev/null "$url" 2>/dev/null; do
    [ $((SECONDS - start)) -lt "$secs" ] || return 1
    sleep 0.1
  done
}

# start_node CONFIG ID: starts raft-node ID in the background unless it already runs.
start_node() {
  local config=$1 id=$2
  if is_running "node$id"; then echo "node $id already running (pid $(cat "$(pid_file "node$id")"))"; return 0; fi
  mkdir -p "$BAZAAR_DATA_DIR"
  BAZAAR_DATA_DIR=$BAZAAR_DATA_DIR nohup "$BIN_DIR/raft-node" --config "$config" --id "$id" \
    >>"$BAZAAR_DATA_DIR/node$id.log" 2>&1 &
  echo $! >"$(pid_file "node$id")"
}

start_frontend() {
  local config=$1
  [ -x "$BIN_DIR/frontend" ] || return 0
  if is_running frontend; then echo "frontend already running"; return 0; fi
  nohup "$BIN_DIR/frontend" --config "$config" >>"$BAZAAR_DATA_DIR/frontend.log" 2>&1 &
  echo $! >"$(pid_file frontend)"
}

# node_api CONFIG ID: the API address of node ID.
node_api() {
  cluster_lines "$1" | awk -v id="$2" '$1=="node" && $2==id {print $3}'
}

# wait_leader CONFIG SECONDS: until some node reports itself leader; prints its id.
wait_leader() {
  local config=$1 secs=$2 start=$SECONDS
  while [ $((SECONDS - start)) -lt "$secs" ]; do
    while read -r kind id api _; do
      [ "$kind" = node ] || continue
      if curl -fsS -m 1 "http://$api/cluster" 2>/dev/null | grep -q '"role":"leader"'; then
        echo "$id"; return 0
      fi
    done < <(cluster_lines "$config")
    sleep 0.1
  done
  return 1
}
