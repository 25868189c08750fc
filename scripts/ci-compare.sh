#!/usr/bin/env bash
# Before/after in CI: builds the old revision and the new one (one shared cargo cache,
# so the second build compiles only this crate), then `sabench ab` measures every cell
# of the scenario for both builds back to back in alternating order (ABBA…) and tests
# the pairs (Wilcoxon signed-rank); exits 3 when a gate fails: a real change beyond its
# bound, or a side with no usable value.
#
#   scripts/ci-compare.sh OLD_REV [NEW_REV] [SCENARIO] [--fail-on ...]
#   scripts/ci-compare.sh origin/main HEAD scenarios/ab.toml --fail-on 'cpu:+5%' --fail-on 'rps:-5%'
#
# Defaults: NEW_REV = HEAD, SCENARIO = scenarios/ab.toml (about a minute of runs), and
# the gates cpu:+5% (server CPU per request, schedstat) and rps:-5%, chosen from
# results/ci-sensitivity.md (a p95 gate failed the same build twice: the p95 of a
# saturated CPU-bound server moves ±25 % pair to pair). The comparison goes to results/ci-compare/<id>-ab/
# (ab.md is the table for the pull request).
set -euo pipefail
usage="usage: scripts/ci-compare.sh OLD_REV [NEW_REV] [SCENARIO] [--fail-on METRIC:±N% ...]"
old="${1:?$usage}"
new="${2:-HEAD}"
scenario="${3:-scenarios/ab.toml}"
shift $(( $# < 3 ? $# : 3 ))
gates=("$@")
if [ ${#gates[@]} -eq 0 ]; then
    gates=(--fail-on 'cpu:+5%' --fail-on 'rps:-5%')
fi
root="$(git rev-parse --show-toplevel)"
work="$(mktemp -d)"
cleanup() {
    for side in old new; do
        git -C "$root" worktree remove --force "$work/$side" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
# One cache for both builds: the dependencies compile once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/ci-compare}"
mkdir -p "$work/bin"
for side in old new; do
    rev="${!side}"
    echo "ci-compare: building $side ($rev)" >&2
    git -C "$root" worktree add --detach --quiet "$work/$side" "$rev"
    short="$(git -C "$root" rev-parse --short "$rev")"
    (cd "$work/$side" && SABENCH_REVISION="$short" cargo build --release --quiet --bin sabench)
    cp "$CARGO_TARGET_DIR/release/sabench" "$work/bin/sabench-$side"
done
case "$scenario" in /*) ;; *) scenario="$root/$scenario" ;; esac
# The new build's generator and scenario drive both builds' servers.
"$work/bin/sabench-new" ab "$scenario" --before "$work/bin/sabench-old" \
    --after "$work/bin/sabench-new" --out "$root/results/ci-compare" "${gates[@]}"
