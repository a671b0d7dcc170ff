#!/usr/bin/env bash
# First-run set-up for docker-compose.yml: fresh random secrets and the cluster's TLS files.
# Writes OUT/.env (BAZAAR_ADMIN_TOKEN, BAZAAR_PEER_TOKEN; kept when already there, so the
# running cluster's secrets do not change) and the certificates (a CA plus one per node and
# for the frontend, for the compose hostnames and loopback; kept when there unless
# --renew-certs; the CA's key goes to OUT/ca.key, outside what the containers mount). Compose reads .env from the repository's root, the default OUT; it
# refuses to start without these secrets rather than fall back to published ones.
#
# usage: scripts/compose-init.sh [--out DIR] [--config FILE] [--renew-certs] [--help]
#   --out DIR       where .env and certs/ go (default: the repository's root; certs then
#                   land in deploy/certs, where docker-compose.yml mounts them from)
#   --config FILE   the containers' cluster file (default deploy/cluster.docker.toml)
#   --renew-certs   make a new CA and certificates even if some exist
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$BAZAAR_ROOT"
config="$BAZAAR_ROOT/deploy/cluster.docker.toml"
renew=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || bad_usage "--out needs a folder"; out=$2; shift 2 ;;
    --config) [ $# -ge 2 ] || bad_usage "--config needs a file"; config=$2; shift 2 ;;
    --renew-certs) renew=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
[ -f "$config" ] || die "no cluster file at $config"
mkdir -p "$out"
if [ "$(realpath "$out")" = "$BAZAAR_ROOT" ]; then certs="$BAZAAR_ROOT/deploy/certs"; else certs="$out/certs"; fi

# The CLI makes tokens and certificates: the host's build, else the image's.
if [ -x "$BIN_DIR/bazaar" ]; then
  bazaar() { "$BIN_DIR/bazaar" "$@"; }
  certs_cmd() { "$BIN_DIR/bazaar" --config "$config" certs --out "$certs" "$@"; }
else
  image=${BAZAAR_IMAGE:-bazaar:local}
  docker image inspect "$image" >/dev/null 2>&1 || die "neither $BIN_DIR/bazaar nor the image $image exists: run scripts/build-image.sh first"
  bazaar() { docker run --rm "$image" bazaar "$@"; }
  certs_cmd() {
    mkdir -p "$certs"
    docker run --rm -u "$(id -u):$(id -g)" -v "$(realpath "$config"):/etc/bazaar/cluster.toml:ro" \
      -v "$(realpath "$certs"):/out" "$image" bazaar --config /etc/bazaar/cluster.toml certs --out /out "$@"
  }
fi

env_file="$out/.env"
touch "$env_file"; chmod 0600 "$env_file"
for var in BAZAAR_ADMIN_TOKEN BAZAAR_PEER_TOKEN; do
  if grep -q "^$var=." "$env_file"; then
    echo "kept $var in $env_file"
  else
    echo "$var=$(bazaar token)" >>"$env_file"
    echo "wrote a fresh $var to $env_file"
  fi
done

if [ -f "$certs/ca.crt" ] && [ "$renew" = 0 ]; then
  echo "kept the TLS files in $certs (--renew-certs replaces them)"
else
  force=(); [ "$renew" = 1 ] && force=(--force)
  certs_cmd "${force[@]}" >/dev/null
  # The CA's key signs; no container needs it, so it does not stay in the mounted folder.
  mv -f "$certs/ca.key" "$out/ca.key"
  echo "wrote a CA and certificates to $certs (the CA's key to $out/ca.key)"
fi
# The containers run as the unprivileged user bazaar (uid 10001): it must read its keys.
if [ "$(id -u)" = 0 ]; then
  chown 10001 "$certs"/*.key
else
  chmod 0644 "$certs"/*.key
  echo "note: not root, so the keys in $certs are made world-readable for the containers" >&2
fi
