#!/usr/bin/env bash
# Makes `docker compose ...` work on a host that has only Compose v1 (`docker-compose`,
# as Debian bookworm packages it): installs a tiny Docker CLI plugin that hands every
# `docker compose` command to docker-compose. Does nothing when `docker compose` already
# works. The project's own scripts and tests do not need it: they use whichever is present.
#
# usage:
#   scripts/install-compose-plugin.sh            # into ~/.docker/cli-plugins
#   scripts/install-compose-plugin.sh --remove   # takes it out again
#   scripts/install-compose-plugin.sh --help
set -euo pipefail

DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
PLUGIN=$DIR/docker-compose
MARK="bazaar: docker compose -> docker-compose v1"

case ${1:-} in
  "") ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  --remove)
    if [[ -f $PLUGIN ]] && grep -q "$MARK" "$PLUGIN"; then rm -f "$PLUGIN"; echo "removed $PLUGIN"; fi
    exit 0 ;;
  *) { echo "error: unknown argument $1"; sed -n '2,10p' "$0"; } >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { echo "error: one argument at most" >&2; exit 2; }
if docker compose version >/dev/null 2>&1; then
  echo "docker compose already works: $(docker compose version 2>/dev/null | head -1)"
  exit 0
fi
V1=$(command -v docker-compose || true)
[[ -n $V1 ]] || { echo "neither docker compose nor docker-compose is installed (apt-get install docker-compose)" >&2; exit 2; }
mkdir -p "$DIR"
cat >"$PLUGIN" <<PLUGIN_EOF
#!/bin/sh
# $MARK (scripts/install-compose-plugin.sh)
if [ "\$1" = docker-cli-plugin-metadata ]; then
  printf '%s\n' '{"SchemaVersion":"0.1.0","Vendor":"bazaar","Version":"v1-shim","ShortDescription":"Compose v1 (docker-compose) as docker compose"}'
  exit 0
fi
[ "\$1" = compose ] && shift
exec "$V1" "\$@"
PLUGIN_EOF
chmod 0755 "$PLUGIN"
docker compose version
echo "installed $PLUGIN"
