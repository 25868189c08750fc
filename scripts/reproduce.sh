#!/usr/bin/env bash
# The full reproduction: every claim (scenarios/claims.toml, about 23 minutes on 2 cores),
# then the invariance check of its headline workloads (the `[invariance]` table: the
# window doubled, then the generator's connections doubled, about 30 minutes more: 53 in
# all for the reference), then
# the claims check, which writes claims.md beside the run with what the bench's changes
# did to each ratio (a verdict whose ratio moved beyond its noise "cannot decide").
#   scripts/reproduce.sh [OUT_DIR (default results)]
# Everything goes into one new folder OUT_DIR/<id>-claims-invariance/: the run as
# written (the claims' run), one run per change, invariance.md and invariance.json.
# Exit status: the claims check's (non-zero when a gated claim does not hold), or the
# runs' own when they could not finish (1, or 130 on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results}
cargo build --release --quiet
before=$(ls -d "$out"/*/ 2>/dev/null | sort || true)
status=0
target/release/sabench invariance scenarios/claims.toml --factor window --factor connections \
  --out "$out" >/dev/null || status=$?
case $status in
  0) ;;
  5) echo "some figures moved with the bench or could not be told: see invariance.md" >&2 ;;
  *) echo "the invariance check stopped (exit $status)" >&2; exit "$status" ;;
esac
folder=$(comm -13 <(echo "$before") <(ls -d "$out"/*/ | sort) | tail -n 1)
folder=${folder%/}
# Run folders are named by their start time: the first is the scenario as written.
run=$(ls -d "$folder"/*/ | sort | head -n 1)
run=${run%/}
echo "invariance: $folder/invariance.md" >&2
echo "run: $run" >&2
target/release/sabench check "$run"
