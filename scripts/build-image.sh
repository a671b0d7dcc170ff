#!/usr/bin/env bash
# Builds the Docker image `bazaar:local` (raft-node, frontend, bazaar) with no registry and
# no base image: the release binaries are built here with cargo, stripped, and put with the
# shared libraries they load (as `ldd` lists them) into a root filesystem of our own, which
# `docker import` turns into the image. Run it again at any time: it starts from scratch
# each time and replaces the tag.
#
# usage: scripts/build-image.sh [--tag NAME] [--no-build] [--help]
#
#   --tag NAME   image name (default bazaar:local, or $BAZAAR_IMAGE)
#   --no-build   skip `cargo build`; use the binaries already in target/release (the
#                docker test does this, since it runs inside `cargo test`)
#
# Needs cargo (unless --no-build), strip and ldd (binutils, libc-bin) and a Docker engine.
# With a registry, the Dockerfile at the top of the repository builds the same image in
# two stages instead (`docker build -t bazaar:local .`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BAZAAR_BIN_DIR:-$ROOT/target/release}
TAG=${BAZAAR_IMAGE:-bazaar:local}
BUILD=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) TAG=${2:?--tag needs a name}; shift 2 ;;
    --tag=*) TAG=${1#*=}; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1 (usage: scripts/build-image.sh --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=lib-image.sh
source "$ROOT/scripts/lib-image.sh"
start=$SECONDS
check_image_tools "binutils libc-bin tar" strip ldd tar

if [[ $BUILD == 1 ]]; then
  echo "build-image: cargo build --release --workspace --bins"
  (cd "$ROOT" && cargo build --release --workspace --bins)
fi
BINARIES=(raft-node frontend bazaar)
for b in "${BINARIES[@]}"; do
  [[ -x $BIN/$b ]] || { echo "build-image: $BIN/$b is not built (cargo build --release --workspace --bins)" >&2; exit 2; }
done
built=$SECONDS

# The root filesystem lives under target/ (ignored by git) and is rebuilt every time.
ROOTFS=$ROOT/target/docker-rootfs
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{usr/local/bin,etc/bazaar,tmp,data}

for b in "${BINARIES[@]}"; do
  # The unstripped binaries carry ~400 MB of debug info each.
  strip --strip-all -o "$ROOTFS/usr/local/bin/$b" "$BIN/$b"
done

# ldd reads what the binaries load from the unstripped ones ($BIN/raft-node, ...).
copy_libs "$ROOTFS" "${BINARIES[@]/#/$BIN/}"
write_etc "$ROOTFS" bazaar:10001:/data
# Defaults baked in; docker-compose.yml mounts its own over them.
cp "$ROOT/deploy/cluster.docker.toml" "$ROOTFS/etc/bazaar/cluster.toml"
cp "$ROOT/catalog.toml" "$ROOTFS/etc/bazaar/catalog.toml"
chmod 1777 "$ROOTFS/tmp"
# A named volume mounted on /data starts as a copy of this folder, owner included.
chown 10001:10001 "$ROOTFS/data"
chmod 0750 "$ROOTFS/data"

import_rootfs "$ROOTFS" "$TAG" "bazaar offline image (scripts/build-image.sh)" \
  'ENV PATH=/usr/local/bin' 'ENV BAZAAR_DATA_DIR=/data' 'ENV RUST_LOG=info,openraft=warn' \
  'USER 10001:10001' 'WORKDIR /data' 'VOLUME /data' 'CMD ["raft-node", "--help"]'

# Smoke test: every binary starts in the image.
for b in "${BINARIES[@]}"; do
  smoke_test "$TAG" "$b" "$b" --version
done

size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "build-image: $TAG ${IMAGE_ID:7:12}: $((size / 1024 / 1024)) MiB ($size bytes);" \
  "built in $((SECONDS - start)) s (cargo $((built - start)) s, image $((SECONDS - built)) s)"
