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

start=$SECONDS
command -v docker >/dev/null || { echo "build-image: docker is not installed" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "build-image: no Docker engine answers (docker info)" >&2; exit 2; }
for tool in strip ldd tar; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (apt-get install binutils libc-bin tar)" >&2; exit 2; }
done

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

# Every shared library the binaries load, and the dynamic loader, at the paths they are
# looked up at. glibc >= 2.34 has the files and dns NSS modules built in, so hostnames of
# the compose network resolve without libnss_* files.
libs=$(for b in "${BINARIES[@]}"; do ldd "$BIN/$b"; done |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
for lib in $libs; do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
# The loader is also looked up through the multiarch path on Debian; keep both names.
if [[ -e /lib64/ld-linux-x86-64.so.2 && ! -e $ROOTFS/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ]]; then
  mkdir -p "$ROOTFS/lib/x86_64-linux-gnu"
  cp -L /lib64/ld-linux-x86-64.so.2 "$ROOTFS/lib/x86_64-linux-gnu/"
fi

cat >"$ROOTFS/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
bazaar:x:10001:10001:bazaar:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat >"$ROOTFS/etc/group" <<'GROUP'
root:x:0:
bazaar:x:10001:
nogroup:x:65534:
GROUP
echo "hosts: files dns" >"$ROOTFS/etc/nsswitch.conf"
# Defaults baked in; docker-compose.yml mounts its own over them.
cp "$ROOT/deploy/cluster.docker.toml" "$ROOTFS/etc/bazaar/cluster.toml"
cp "$ROOT/catalog.toml" "$ROOTFS/etc/bazaar/catalog.toml"
chmod 1777 "$ROOTFS/tmp"
# A named volume mounted on /data starts as a copy of this folder, owner included.
chown 10001:10001 "$ROOTFS/data"
chmod 0750 "$ROOTFS/data"

old=$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)
echo "build-image: importing $(du -sh "$ROOTFS" | cut -f1) root filesystem as $TAG"
tar -C "$ROOTFS" --numeric-owner -c . |
  docker import \
    --change 'ENV PATH=/usr/local/bin' \
    --change 'ENV BAZAAR_DATA_DIR=/data' \
    --change 'ENV RUST_LOG=info,openraft=warn' \
    --change 'USER 10001:10001' \
    --change 'WORKDIR /data' \
    --change 'VOLUME /data' \
    --change 'CMD ["raft-node", "--help"]' \
    --message "bazaar offline image (scripts/build-image.sh)" \
    - "$TAG" >/dev/null
new=$(docker image inspect -f '{{.Id}}' "$TAG")
# Drop the image this one replaced, unless a container still uses it.
if [[ -n $old && $old != "$new" ]]; then
  docker image rm "$old" >/dev/null 2>&1 || true
fi

# Smoke test: the binaries start in the image (loader and libraries are complete).
for b in "${BINARIES[@]}"; do
  docker run --rm --network none "$TAG" "$b" --version >/dev/null ||
    { echo "build-image: $b does not start inside $TAG" >&2; exit 1; }
done

size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "build-image: $TAG ${new:7:12}: $((size / 1024 / 1024)) MiB ($size bytes);" \
  "built in $((SECONDS - start)) s (cargo $((built - start)) s, image $((SECONDS - built)) s)"
