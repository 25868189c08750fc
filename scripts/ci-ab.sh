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
gates=(--fail-on 'cpu:+5%' --fail-on 'rps:-5%')
# expect STATUS AFTER WHAT: runs ab against AFTER and fails CI unless it exits STATUS.
expect() {
    local want=$1 after=$2 what=$3 status=0
    "$sabench" ab scenarios/ab.toml --before "$sabench" --after "$after" --out "$work/runs" \
        "${gates[@]}" > "$work/ab.md" 2> "$work/ab.log" || status=$?
    if [ "$status" != "$want" ]; then
        echo "ci-ab: $what: exit $status, want $want" >&2
        cat "$work/ab.md" "$work/ab.log" >&2
        exit 1
    fi
    echo "ci-ab: $what: exit $status, as it must" >&2
    grep -A12 '^\*\*Gates' "$work/ab.md" >&2 || true
}
expect 0 "$sabench" "the same build twice (A/A) must pass: the gate is quiet on unchanged code"
expect 3 "$work/sabench-taxed" "a planted 30 % CPU regression must fail the gate"
