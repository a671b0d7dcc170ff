#!/usr/bin/env bash
# Kills node ID (or the frontend) with SIGKILL: no shutdown code runs.
# usage: scripts/kill-node.sh ID|frontend
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || die "usage: scripts/kill-node.sh ID|frontend"
name=node$1; [ "$1" = frontend ] && name=frontend
is_running "$name" || die "$name is not running"
sigkill "$(cat "$(pid_file "$name")")"
rm -f "$(pid_file "$name")"
echo "killed $name (SIGKILL)"
