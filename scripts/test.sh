#!/usr/bin/env bash
# The gate: formatting, lints, then every unit and whole-system test (release profile,
# the one profile this project builds). Installs what the build needs on a fresh machine.
# usage: scripts/test.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$BAZAAR_ROOT"
ensure_test_deps
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
# Whole-system tests spawn the real binaries, so build them first.
build_release
# One test at a time: each whole-system test runs a 3-node cluster on these 2 cores.
log=$(mktemp -t bazaar-test.XXXXXX)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --workspace -- --test-threads=1 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo closes on its (empty) doc-test runs; end with the total over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
