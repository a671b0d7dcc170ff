#!/usr/bin/env bash
# Kills node ID (or the frontend) with SIGKILL: no shutdown code runs.
#
# usage: scripts/kill-node.sh ID|frontend [--config FILE] [--help]
#   --config FILE   the cluster file (default: cluster.toml at the repository's root)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

config="$BAZAAR_ROOT/cluster.toml"
target=""
while [ $# -gt 0 ]; do
  case $1 in
    --config) [ $# -ge 2 ] || bad_usage "--config needs a file"; config=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    frontend|[0-9]*) [ -z "$target" ] || bad_usage "one node at a time"; target=$1; shift ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
[ -n "$target" ] || bad_usage "which node? give an id or 'frontend'"
use_config "$config"
name=node$target; [ "$target" = frontend ] && name=frontend
[ "$target" = frontend ] || [ -n "$(node_api "$target")" ] || die "node $target is not in $CONFIG"
is_running "$name" || die "$name is not running"
sigkill "$(cat "$(pid_file "$name")")"
rm -f "$(pid_file "$name")"
echo "killed $name (SIGKILL)"
