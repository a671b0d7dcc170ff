#!/usr/bin/env bash
# Starts the local cluster: every node in the cluster file, then the frontend.
# On a fresh machine it installs what the build needs and builds first.
# Data, logs and pid files go to $BAZAAR_DATA_DIR (default ./data).
# usage: scripts/start-cluster.sh [--config FILE]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

config="$BAZAAR_ROOT/cluster.toml"
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
done
[ -f "$config" ] || die "no cluster file at $config"

ensure_deps
build_release
cluster_lines "$config" >/dev/null || die "invalid cluster file $config"
mkdir -p "$BAZAAR_DATA_DIR"

while read -r kind id _; do
  [ "$kind" = node ] && start_node "$config" "$id"
done < <(cluster_lines "$config")

# The lowest-numbered node bootstraps a pristine cluster once; a restart finds it initialised.
leader=$(wait_leader "$config" 60) || die "no leader elected within 60 s; see $BAZAAR_DATA_DIR/node*.log"
while read -r kind id api _; do
  [ "$kind" = node ] || continue
  wait_http "http://$api/health" 30 || die "node $id does not answer; see $BAZAAR_DATA_DIR/node$id.log"
done < <(cluster_lines "$config")
# The catalog is written through the log right after the first election.
wait_http "http://$(node_api "$config" "$leader")/products/Tux" 30 || die "catalog not seeded; see $BAZAAR_DATA_DIR/node$leader.log"

start_frontend "$config"
front=$(cluster_lines "$config" | awk '$1=="frontend" {print $2}')
if [ -x "$BIN_DIR/frontend" ]; then
  wait_http "http://$front/health" 30 || die "frontend does not answer; see $BAZAAR_DATA_DIR/frontend.log"
fi

echo "Bazaar is up (data, logs and pids in $BAZAAR_DATA_DIR):"
while read -r kind id api raft; do
  [ "$kind" = node ] || continue
  role=follower; [ "$id" = "$leader" ] && role=leader
  echo "  node $id  api http://$api  raft http://$raft  ($role)"
done < <(cluster_lines "$config")
[ -x "$BIN_DIR/frontend" ] && echo "  frontend   http://$front"
exit 0
