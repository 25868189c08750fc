#!/usr/bin/env bash
# CI proves the before/after gate can fail, as the claims' broken twin does: `sabench ab`
# with ci-compare.sh's default gates on the same build twice (A/A) must pass, and with a
# regression planted in the after side's servers (every request's CPU work costs 30 %
# more: SABENCH_PLANTED_CPU_TAX_PERCENT) must fail. 30 % sits far inside what the gate
# sees on any 2-core machine; results/ci-sensitivity.md measures 5 % and 10 %.
# About 6 minutes (two comparisons of scenarios/ab.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin sabench
sabench="$PWD/target/release/sabench"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/sabench-taxed" <<WRAP
#!/bin/sh
SABENCH_PLANTED_CPU_TAX_PERCENT=30 exec "$sabench" "\$@"
WRAP
chmod +x "$work/sabench-taxed"
gates=(--fail-on 'cpu:+5%' --fail-on 'rps:-5%' --fail-on 'p95:+10%')
compare() {
    local after=$1 status=0
    "$sabench" ab scenarios/ab.toml --before "$sabench" --after "$after" --out "$work/runs" \
        "${gates[@]}" > "$work/ab.md" 2> "$work/ab.log" || status=$?
    return "$status"
}
status=0
compare "$sabench" || status=$?
if [ "$status" != 0 ]; then
    echo "ci-ab: the same build twice failed the gate (exit $status): the gate is not quiet on unchanged code" >&2
    cat "$work/ab.md" "$work/ab.log" >&2
    exit 1
fi
echo "ci-ab: A/A passed" >&2
grep -A8 '^\*\*Gates' "$work/ab.md" >&2 || true
status=0
compare "$work/sabench-taxed" || status=$?
if [ "$status" != 3 ]; then
    echo "ci-ab: a planted 30 % CPU regression did not fail the gate (exit $status, want 3)" >&2
    cat "$work/ab.md" "$work/ab.log" >&2
    exit 1
fi
echo "ci-ab: the planted 30 % regression failed the gate, as it must:" >&2
grep -A12 '^\*\*Gates' "$work/ab.md" >&2 || true
