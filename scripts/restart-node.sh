#!/usr/bin/env bash
# Starts node ID (or the frontend) again with the same data, and waits until it answers.
#
# usage: scripts/restart-node.sh ID|frontend [--config FILE] [--help]
#   --config FILE   the cluster file (default: cluster.toml at the repository's root)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

parse_node_args "$@"
target=$TARGET
if [ "$target" = frontend ]; then
  start_frontend
  addr=$(frontend_addr)
  name=frontend
else
  addr=$(node_api "$target")
  [ -n "$addr" ] || die "node $target is not in $CONFIG"
  start_node "$target"
  name=node$target
fi
start=$SECONDS
until http_get -o /dev/null "$(url_of "$addr")/livez"; do
  ensure_alive "$name"
  [ $((SECONDS - start)) -lt 30 ] || die "$target does not answer at $(url_of "$addr"); see $BAZAAR_DATA_DIR/$name.log"
  sleep 0.1
done
echo "$target is up at $(url_of "$addr")"
