#!/usr/bin/env bash
# Starts node ID (or the frontend) again with the same data, and waits until it answers.
# usage: scripts/restart-node.sh ID|frontend [--config FILE]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || die "usage: scripts/restart-node.sh ID|frontend [--config FILE]"
target=$1; shift
config="$BAZAAR_ROOT/cluster.toml"
[ "${1:-}" = --config ] && config=$(realpath "$2")
if [ "$target" = frontend ]; then
  start_frontend "$config"
  addr=$(cluster_lines "$config" | awk '$1=="frontend" {print $2}')
else
  start_node "$config" "$target"
  addr=$(node_api "$config" "$target")
  [ -n "$addr" ] || die "node $target is not in $config"
fi
wait_http "http://$addr/health" 30 || die "$target does not answer; see $BAZAAR_DATA_DIR"
echo "$target is up at http://$addr"
