# shellcheck shell=bash
# Shared by the image scripts (build-image.sh, build-prometheus-image.sh), which build an
# image with no registry and no base image: binaries, the shared libraries they load and a
# few /etc files go into a root filesystem of our own, which `docker import` turns into the
# image. Sourced, not run; the calling script sets -euo pipefail.

# Messages start with the calling script's name (build-image: ...), like its own do.
IMAGE_SCRIPT=$(basename "$0" .sh)

# check_image_tools PACKAGES TOOL...: exit 2 unless docker is installed, an engine answers
# and every TOOL is on PATH (PACKAGES: what to apt-get install for the missing ones).
check_image_tools() {
  local packages=$1 tool; shift
  command -v docker >/dev/null || { echo "$IMAGE_SCRIPT: docker is not installed" >&2; exit 2; }
  docker info >/dev/null 2>&1 || { echo "$IMAGE_SCRIPT: no Docker engine answers (docker info)" >&2; exit 2; }
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$IMAGE_SCRIPT: $tool is missing (apt-get install $packages)" >&2; exit 2; }
  done
}

# copy_libs ROOTFS BINARY...: every shared library the binaries load (as `ldd` lists them),
# and the dynamic loader, into ROOTFS at the paths they are looked up at, since the image
# has no base to bring them.
copy_libs() {
  local rootfs=$1 f lib libs; shift
  libs=$(for f in "$@"; do ldd "$f"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
  for lib in $libs; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  # The loader is also looked up through the multiarch path on Debian; keep both names.
  if [[ -e /lib64/ld-linux-x86-64.so.2 && ! -e $rootfs/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ]]; then
    mkdir -p "$rootfs/lib/x86_64-linux-gnu"
    cp -L /lib64/ld-linux-x86-64.so.2 "$rootfs/lib/x86_64-linux-gnu/"
  fi
}

# write_etc ROOTFS [NAME:ID:HOME]...: the minimal /etc/passwd and /etc/group, so the ids the
# image runs as have names: root, each user given (with a group of its own name and id) and
# nobody/nogroup, none with a login shell. And nsswitch.conf: glibc >= 2.34 has the files
# and dns NSS modules built in, so hostnames of the compose network resolve without
# libnss_* files.
write_etc() {
  local rootfs=$1 user name id home; shift
  echo "root:x:0:0:root:/root:/sbin/nologin" >"$rootfs/etc/passwd"
  echo "root:x:0:" >"$rootfs/etc/group"
  for user in "$@"; do
    IFS=: read -r name id home <<<"$user"
    echo "$name:x:$id:$id:$name:$home:/sbin/nologin" >>"$rootfs/etc/passwd"
    echo "$name:x:$id:" >>"$rootfs/etc/group"
  done
  echo "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin" >>"$rootfs/etc/passwd"
  echo "nogroup:x:65534:" >>"$rootfs/etc/group"
  echo "hosts: files dns" >"$rootfs/etc/nsswitch.conf"
}

# import_rootfs ROOTFS TAG MESSAGE CHANGE...: `docker import`s ROOTFS as TAG, with one
# --change for each CHANGE (ENV, USER, CMD, ...: what a Dockerfile would say), and sets
# IMAGE_ID to the new image's id. Owners go in as numbers: the image has its own passwd.
import_rootfs() {
  local rootfs=$1 tag=$2 message=$3 change old changes=(); shift 3
  for change in "$@"; do changes+=(--change "$change"); done
  old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  echo "$IMAGE_SCRIPT: importing $(du -sh "$rootfs" | cut -f1) root filesystem as $tag"
  tar -C "$rootfs" --numeric-owner -c . |
    docker import "${changes[@]}" --message "$message" - "$tag" >/dev/null
  IMAGE_ID=$(docker image inspect -f '{{.Id}}' "$tag")
  # Drop the image this one replaced, unless a container still uses it.
  if [[ -n $old && $old != "$IMAGE_ID" ]]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
}

# smoke_test TAG WHAT COMMAND...: runs COMMAND in TAG with no network, to learn that the
# loader and libraries copied are complete; exit 1 naming WHAT if it does not start.
smoke_test() {
  local tag=$1 what=$2; shift 2
  docker run --rm --network none "$tag" "$@" >/dev/null ||
    { echo "$IMAGE_SCRIPT: $what does not start inside $tag" >&2; exit 1; }
}
