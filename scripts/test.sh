#!/usr/bin/env bash
# The gate: formatting, lints, docs, then every unit and whole-system test (release profile,
# the one profile and feature set this project builds, so RocksDB's C++ is compiled once).
# Installs what the build and the tests need on a fresh machine. Tests that need a Docker
# engine run only when `docker info` answers; otherwise they are reported as skipped, as are
# the tests whose fault needs a mount (tmpfs, FUSE) where mounting is refused.
# Ends with one line: `N passed, N failed, N skipped`.
# usage: scripts/test.sh [--help]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
cd "$BAZAAR_ROOT"
ensure_test_deps
step "format (cargo fmt --check)"
cargo fmt --all -- --check
step "lints (cargo clippy -D warnings)"
cargo clippy --release --workspace --all-targets -- -D warnings
step "docs (cargo doc, warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --quiet
step "monitoring (promtool check and test rules, the dashboard's JSON and queries)"
scripts/check-monitoring.sh
# Whole-system tests spawn the real binaries, so build them first: with the failpoints in
# (nodes and frontend), which the fault tests arm per process (FAILPOINTS); inert otherwise. The tests' own build
# turns the feature on too, so nothing is built twice.
step "build"
(cd "$BAZAAR_ROOT" && cargo build --release --workspace --bins --features raft-node/failpoints,frontend/failpoints)
ignored=()
if docker info >/dev/null 2>&1; then
  ignored=(--include-ignored)
  step "tests (a Docker engine answers: the container tests run too)"
else
  step "tests (no Docker engine: the container tests are skipped)"
fi
# One test at a time: each whole-system test runs a 3-node cluster on these 2 cores.
log=$(mktemp -t bazaar-test.XXXXXX)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --workspace -- --test-threads=1 "${ignored[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo closes on its (empty) doc-test runs; end with the total over every test binary. A
# test that cannot set up its fault here (mount refused) passes after a `SKIPPED:` line on
# stderr (tests/common/mod.rs, `skipped`): it counts as skipped, not passed.
awk '/^test result:/ { p += $4; f += $6; s += $8; next }
     /SKIPPED: / { k += gsub(/SKIPPED: /, "") }
     END { printf "%d passed, %d failed, %d skipped\n", p - k, f, s + k }' "$log"
exit "$status"
