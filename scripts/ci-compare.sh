#!/usr/bin/env bash
# Before/after in CI: builds the old revision and the new one, runs the same scenario
# with each, and compares them; exits 3 when a change is beyond a --fail-on bound and
# statistically real (so a pull request can be gated on it).
#
#   scripts/ci-compare.sh OLD_REV [NEW_REV] [SCENARIO] [--fail-on ...]
#   scripts/ci-compare.sh origin/main HEAD scenarios/quick.toml --fail-on 'p95:+10%' --fail-on 'rps:-5%'
#
# The scenario needs 4 or more repetitions a side for any change to be called real
# (5 or more to see anything but a large one); both runs go to results/ci-compare/.
set -euo pipefail
old="${1:?usage: scripts/ci-compare.sh OLD_REV [NEW_REV] [SCENARIO] [--fail-on METRIC:±N% ...]}"
new="${2:-HEAD}"
scenario="${3:-scenarios/quick.toml}"
shift $(( $# < 3 ? $# : 3 ))
gates=("$@")
if [ ${#gates[@]} -eq 0 ]; then gates=(--fail-on 'p95:+10%' --fail-on 'rps:-5%'); fi
root="$(git rev-parse --show-toplevel)"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; git -C "$root" worktree remove --force "$work/new" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
out="$root/results/ci-compare"
mkdir -p "$out"
for side in old new; do
    rev="${!side}"
    echo "ci-compare: building $side ($rev)" >&2
    git -C "$root" worktree add --detach --quiet "$work/$side" "$rev"
    (cd "$work/$side" && CARGO_TARGET_DIR="$work/target-$side" cargo build --release --quiet)
done
runs=()
for side in old new; do
    echo "ci-compare: running $scenario with $side" >&2
    # The scenario is the new revision's, for both sides: the same cells, the same load.
    "$work/target-$side/release/sabench" run "$root/$scenario" --out "$out/$side" >/dev/null
    runs+=("$(ls -d "$out/$side"/*/ | sort | tail -1)")
done
"$work/target-new/release/sabench" compare "${runs[0]}" "${runs[1]}" "${gates[@]}"
