#!/usr/bin/env bash
# Starts the local cluster: every node in the cluster file, then the frontend, and waits
# until each is ready (GET /readyz). On a fresh machine it installs what the build needs and
# builds first. Data, logs and pid files go to $BAZAAR_DATA_DIR (default: the file's
# data_dir, ./data for cluster.toml).
#
# usage: scripts/start-cluster.sh [--config FILE] [--no-build] [--restore BACKUP] [--help]
#   --config FILE     the cluster file (default: cluster.toml at the repository's root)
#   --no-build        use the binaries already built (target/release, or $BAZAAR_BIN_DIR)
#   --restore BACKUP  bring up a new cluster from a backup (`bazaar backup save`): every
#                     node's data dir must be new and empty; each is seeded from BACKUP
#                     before it starts, with this file's nodes as the voters
set -euo pipefail
source "$(dirname "$0")/lib.sh"

config="$BAZAAR_ROOT/cluster.toml"
build=1
restore=
while [ $# -gt 0 ]; do
  case $1 in
    --config) [ $# -ge 2 ] || bad_usage "--config needs a file"; config=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --restore) [ $# -ge 2 ] || bad_usage "--restore needs a backup file"; restore=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
[ -f "$config" ] || die "no cluster file at $config"
[ -z "$restore" ] || [ -f "$restore" ] || die "no backup file at $restore"

if [ "$build" = 1 ]; then
  ensure_deps
  step "building (release profile)"
  build_release
fi
use_config "$config"
mkdir -p "$BAZAAR_DATA_DIR"

if [ -n "$restore" ]; then
  step "restoring every node of $CLUSTER_NAME from $restore"
  while read -r kind id _; do
    [ "$kind" = node ] || continue
    ! is_running "node$id" || die "node $id is running: stop the cluster before a restore"
    BAZAAR_DATA_DIR=$BAZAAR_DATA_DIR "$BIN_DIR/raft-node" --config "$CONFIG" --id "$id" \
      --restore "$restore" --seed-only || die "node $id could not be restored (its data dir must be new and empty)"
  done < <(cluster_lines)
fi

step "starting cluster $CLUSTER_NAME from $CONFIG"
while read -r kind id _; do
  [ "$kind" = node ] && start_node "$id"
done < <(cluster_lines)

# Every node must answer as itself: a process of another cluster, or not Bazaar at all,
# answering on a node's port is reported, not believed.
while read -r kind id api _; do
  [ "$kind" = node ] || continue
  start=$SECONDS
  until answers_as_member "$id"; do
    ensure_alive "node$id"
    [ $((SECONDS - start)) -lt 30 ] || die "node $id does not answer as node $id of $CLUSTER_NAME at $api (held by: $(port_holder "$api")); see $BAZAAR_DATA_DIR/node$id.log"
    sleep 0.1
  done
done < <(cluster_lines)

# The lowest-numbered node bootstraps a pristine cluster once; a restart finds it initialised.
leader=$(wait_leader 60) || die "no leader elected within 60 s; see $BAZAAR_DATA_DIR/node*.log"
while read -r kind id api _; do
  [ "$kind" = node ] || continue
  wait_ready 30 "node$id" "$(url_of "$api")" || die "node $id is not ready: $(http_get "$(url_of "$api")/readyz" || true); see $BAZAAR_DATA_DIR/node$id.log"
done < <(cluster_lines)
# The catalog is written through the log right after the first election (a restored
# cluster has the backup's instead).
[ -n "$restore" ] || wait_http "$(url_of "$(node_api "$leader")")/products/Tux" 30 || die "catalog not seeded; see $BAZAAR_DATA_DIR/node$leader.log"

front=$(frontend_addr)
if [ -x "$BIN_DIR/frontend" ]; then
  start_frontend
  wait_ready 30 frontend "$(url_of "$front")" || die "frontend is not ready; see $BAZAAR_DATA_DIR/frontend.log"
fi

echo "Bazaar is up (data, logs and pids in $BAZAAR_DATA_DIR):"
while read -r kind id api raft; do
  [ "$kind" = node ] || continue
  role=follower; [ "$id" = "$leader" ] && role=leader
  echo "  node $id  api $(url_of "$api")  raft $(url_of "$raft")  ($role)"
done < <(cluster_lines)
[ -x "$BIN_DIR/frontend" ] && echo "  frontend   $(url_of "$front")"
exit 0
