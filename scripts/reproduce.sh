#!/usr/bin/env bash
# The full reproduction: every claim (scenarios/claims.toml, about 20 minutes on 2 cores)
# into results/<run-id>/, then the claims check, which writes claims.md beside it.
#   scripts/reproduce.sh [OUT_DIR (default results)]
# Exit status: the claims check's (non-zero when a gated claim does not hold).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results}
cargo build --release --quiet
before=$(ls -d "$out"/*/ 2>/dev/null | sort || true)
target/release/sabench run scenarios/claims.toml --out "$out" >/dev/null
run=$(comm -13 <(echo "$before") <(ls -d "$out"/*/ | sort) | tail -n 1)
run=${run%/}
echo "run: $run" >&2
target/release/sabench check "$run"
