#!/usr/bin/env bash
# What the before/after gate catches, measured (a benchmark, not a test): `sabench ab`
# with the default gates, TRIES times each on the same build twice (A/A, which must
# pass) and with a regression planted in the after side's servers (every request's CPU
# work costs N % more: SABENCH_PLANTED_CPU_TAX_PERCENT, which must fail), the three
# kinds of try interleaved. Every try is appended to tries.csv as it ends; the table
# (how often each kind failed the gate, and the wall time per try) is printed at the end.
#
#   scripts/ci-sensitivity.sh [ROUNDS (default 10)] [SCENARIO (default scenarios/ab.toml)] [TAXES (default "5 10")] [A/A A ROUND (default 2)]
#
# A round is A/A_PER_ROUND same-build tries and one try per planted tax: the goal (a
# false failure at most 1 in 20) needs twice as many A/A tries as planted ones. About a
# minute a try with the default scenario: 10 rounds of 4 tries take about 45 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
tries="${1:-10}"
scenario="${2:-scenarios/ab.toml}"
taxes="${3:-5 10}"
aa_per_round="${4:-2}"
kinds="$(for _ in $(seq 1 "$aa_per_round"); do printf '0 '; done)$taxes"
gates=(--fail-on 'cpu:+5%' --fail-on 'rps:-5%')
cargo build --release --quiet --bin sabench
sabench="$PWD/target/release/sabench"
out="results/ci-sensitivity/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out/bin"
for tax in $taxes; do
    [ "$tax" = 0 ] && continue
    cat > "$out/bin/sabench-tax-$tax" <<WRAP
#!/bin/sh
SABENCH_PLANTED_CPU_TAX_PERCENT=$tax exec "$sabench" "\$@"
WRAP
    chmod +x "$out/bin/sabench-tax-$tax"
done
echo "try,kind,planted_tax_percent,exit,gate,seconds,comparison" > "$out/tries.csv"
echo "ci-sensitivity: $tries rounds of $aa_per_round A/A tries and a planted tax of $taxes %, into $out" >&2
for try in $(seq 1 "$tries"); do
    for tax in $kinds; do
        after="$sabench"; kind="A/A"
        if [ "$tax" != 0 ]; then after="$out/bin/sabench-tax-$tax"; kind="planted"; fi
        started=$(date +%s)
        status=0
        "$sabench" ab "$scenario" --before "$sabench" --after "$after" --out "$out/runs" \
            "${gates[@]}" > /dev/null 2> "$out/last.log" || status=$?
        seconds=$(( $(date +%s) - started ))
        case $status in
            0) gate=passed ;;
            3) gate=failed ;;
            130) echo "interrupted" >&2; exit 130 ;;
            *) echo "try $try ($kind $tax %) could not run (exit $status):" >&2; tail -5 "$out/last.log" >&2; exit "$status" ;;
        esac
        comparison=$(ls -d "$out/runs"/*/ | sort | tail -n 1)
        echo "$try,$kind,$tax,$status,$gate,$seconds,${comparison%/}" >> "$out/tries.csv"
        echo "try $try: $kind, planted $tax %: gate $gate in $seconds s" >&2
    done
done
echo
echo "| after side | tries | gate failed | wall time a try |"
echo "|---|---:|---:|---:|"
for tax in 0 $taxes; do
    awk -F, -v tax="$tax" 'NR > 1 && $3 == tax { n++; failed += ($5 == "failed"); s += $6 }
        END { label = (tax == 0) ? "the same build (A/A)" : "planted regression, " tax " % CPU a request";
              printf "| %s | %d | %d of %d | %.0f s |\n", label, n, failed, n, s / n }' "$out/tries.csv"
done
echo
echo "tries: $out/tries.csv"
