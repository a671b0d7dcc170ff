#!/usr/bin/env bash
# Builds the Docker image `bazaar-prometheus:local`, the Prometheus of docker-compose.yml's
# `monitoring` profile, the way scripts/build-image.sh builds bazaar:local: no registry and
# no base image. Debian's `prometheus` binary, the shared libraries it loads (as `ldd`
# lists them), its web UI's files, and deploy/monitoring/'s prometheus.yml and alerts.yml go
# into a root filesystem of our own, which `docker import` turns into the image. Run it
# again at any time: it starts from scratch each time and replaces the tag.
#
# usage: scripts/build-prometheus-image.sh [--tag NAME] [--help]
#
#   --tag NAME   image name (default bazaar-prometheus:local, or $BAZAAR_PROMETHEUS_IMAGE)
#
# Needs ldd (libc-bin), tar and a Docker engine. Installs Debian's `prometheus` package (as
# root, or with sudo) when /usr/bin/prometheus is missing; $PROMETHEUS_BIN points at another
# build. The image runs as `nobody` and keeps its data in the volume /prometheus; the files
# baked in are defaults, which docker-compose.yml mounts the repository's copies over.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${BAZAAR_PROMETHEUS_IMAGE:-bazaar-prometheus:local}
PROM=${PROMETHEUS_BIN:-/usr/bin/prometheus}
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) TAG=${2:?--tag needs a name}; shift 2 ;;
    --tag=*) TAG=${1#*=}; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-prometheus-image: unknown argument $1 (usage: scripts/build-prometheus-image.sh --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=lib-image.sh
source "$ROOT/scripts/lib-image.sh"
start=$SECONDS
check_image_tools "libc-bin tar" ldd tar
if [[ ! -x $PROM && -z ${PROMETHEUS_BIN:-} ]]; then
  # shellcheck source=lib.sh
  source "$ROOT/scripts/lib.sh"
  apt_install "for the monitoring profile's Prometheus image" prometheus
fi
[[ -x $PROM ]] || { echo "build-prometheus-image: $PROM is missing (apt-get install prometheus, or set PROMETHEUS_BIN)" >&2; exit 2; }
CONFIG=$ROOT/deploy/monitoring/prometheus.yml
RULES=$ROOT/deploy/monitoring/alerts.yml
for f in "$CONFIG" "$RULES"; do
  [[ -f $f ]] || { echo "build-prometheus-image: $f is missing" >&2; exit 2; }
done
# promtool comes with the same package; a build from elsewhere may lack it.
if command -v promtool >/dev/null; then
  (cd "$(dirname "$CONFIG")" && promtool check config --syntax-only "$(basename "$CONFIG")" >/dev/null) ||
    { echo "build-prometheus-image: $CONFIG is not a valid Prometheus configuration (promtool check config)" >&2; exit 1; }
  promtool check rules "$RULES" >/dev/null ||
    { echo "build-prometheus-image: $RULES has invalid rules (promtool check rules)" >&2; exit 1; }
else
  echo "build-prometheus-image: no promtool, so the configuration is not checked before the import" >&2
fi

# A fresh root filesystem in a temp dir of its own, removed however the script ends.
ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/bazaar-prometheus-rootfs.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT
mkdir -p "$ROOTFS"/{usr/bin,etc/prometheus/bazaar,tmp,prometheus}
cp -L "$PROM" "$ROOTFS/usr/bin/prometheus"

# Debian's build is made with cgo, so it loads libc and needs the loader like ours do.
copy_libs "$ROOTFS" "$PROM"
# Debian's build serves its web UI's templates and assets from /usr/share/prometheus/web;
# without them the API still answers, the pages do not.
if [[ -d /usr/share/prometheus/web ]]; then
  mkdir -p "$ROOTFS/usr/share/prometheus"
  cp -a /usr/share/prometheus/web "$ROOTFS/usr/share/prometheus/"
else
  echo "build-prometheus-image: no /usr/share/prometheus/web, so the image has no web UI pages (the API works)" >&2
fi

# It runs as nobody, which write_etc always writes.
write_etc "$ROOTFS"
cp "$CONFIG" "$ROOTFS/etc/prometheus/prometheus.yml"
cp "$RULES" "$ROOTFS/etc/prometheus/bazaar/alerts.yml"
chmod -R a+rX "$ROOTFS/etc" "$ROOTFS/usr"
chmod 1777 "$ROOTFS/tmp"
# A named volume mounted on /prometheus starts as a copy of this folder, owner included.
if [[ $(id -u) == 0 ]]; then
  chown 65534:65534 "$ROOTFS/prometheus"
  chmod 0750 "$ROOTFS/prometheus"
else
  chmod 0777 "$ROOTFS/prometheus"
fi

import_rootfs "$ROOTFS" "$TAG" "bazaar prometheus offline image (scripts/build-prometheus-image.sh)" \
  'ENV PATH=/usr/bin' 'USER 65534:65534' 'WORKDIR /prometheus' 'VOLUME /prometheus' 'EXPOSE 9090' \
  'ENTRYPOINT ["/usr/bin/prometheus"]' \
  'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090"]'

# Smoke test: the binary starts in the image (the entrypoint is prometheus itself).
smoke_test "$TAG" prometheus --version

size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "build-prometheus-image: $TAG ${IMAGE_ID:7:12}: $((size / 1024 / 1024)) MiB ($size bytes);" \
  "$("$PROM" --version 2>&1 | head -1); built in $((SECONDS - start)) s"
