#!/usr/bin/env bash
# Kills node ID (or the frontend) with SIGKILL: no shutdown code runs.
#
# usage: scripts/kill-node.sh ID|frontend [--config FILE] [--help]
#   --config FILE   the cluster file (default: cluster.toml at the repository's root)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

parse_node_args "$@"
target=$TARGET
name=node$target; [ "$target" = frontend ] && name=frontend
[ "$target" = frontend ] || [ -n "$(node_api "$target")" ] || die "node $target is not in $CONFIG"
is_running "$name" || die "$name is not running"
sigkill "$(cat "$(pid_file "$name")")"
rm -f "$(pid_file "$name")"
echo "killed $name (SIGKILL)"
