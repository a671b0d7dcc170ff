#!/usr/bin/env bash
# Stops every process that start-cluster.sh started for a cluster file: SIGTERM, then
# SIGKILL after 10 s. A leader hands leadership over before it exits.
#
# usage: scripts/stop-cluster.sh [--config FILE] [--help]
#   --config FILE   the cluster file (default: cluster.toml at the repository's root)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

config="$BAZAAR_ROOT/cluster.toml"
while [ $# -gt 0 ]; do
  case $1 in
    --config) [ $# -ge 2 ] || bad_usage "--config needs a file"; config=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
use_config "$config"
shopt -s nullglob
# The frontend first, so nothing routes to nodes that are going away; then the nodes.
stop_process frontend
for f in "$BAZAAR_DATA_DIR"/node*.pid; do
  stop_process "$(basename "$f" .pid)"
done
