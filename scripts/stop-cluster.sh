#!/usr/bin/env bash
# Stops every process started by start-cluster.sh (SIGTERM, then SIGKILL after 10 s).
# usage: scripts/stop-cluster.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
shopt -s nullglob
for f in "$BAZAAR_DATA_DIR"/*.pid; do
  name=$(basename "$f" .pid); pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    echo "stopped $name"
  fi
  rm -f "$f"
done
