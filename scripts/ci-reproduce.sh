#!/usr/bin/env bash
# CI's reproduction of the headline effects: the gated claims (scenarios/ci-claims.toml,
# about 3 minutes on 2 cores, 5 repetitions), then the claims check; then the broken
# twin (scenarios/ci-broken-twin.toml, about 2 minutes), whose gate must fail. Fails
# when a gated claim does not hold, or when the gate cannot tell an async that does not
# overlap its waits from the real one (a check that cannot fail is a defect). Each run
# first measures the generator's ceiling and prints each gate's load as a share of it;
# each check prints one line per gate (value, threshold, margin), so a failure says at
# once whether the change or the machine is at fault.
#   scripts/ci-reproduce.sh [OUT_DIR (default: a temporary folder, removed when every
#   check passed and kept, with its path printed, when one did not)]
# Exits with sabench run's own status when a run failed or was refused (3, 4, …), 1 when
# a gate failed or the twin's gate held.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then
  out=$1
else
  out=$(mktemp -d)
  # The temporary folder goes when everything passed; on a failure it is kept to read.
  trap 'code=$?; if [ "$code" -eq 0 ]; then rm -rf "$out"; else echo "ci-reproduce: the runs are kept in $out" >&2; fi' EXIT
fi
cargo build --release --quiet

# Runs scenario $1 into $out and prints the run folder; when the run failed or was
# refused (a gate over what this machine's generator can offer) it says so and exits
# with the run's own status.
run_scenario() {
  local code=0
  target/release/sabench run "$1" --out "$out" >/dev/null || code=$?
  if [ "$code" -ne 0 ]; then
    echo "$1: the run failed or was refused before any cell (exit $code, see above): no gate was judged" >&2
    exit "$code"
  fi
  ls -d "$out"/*-"$(basename "$1" .toml)"/ | sort | tail -n 1
}

run=$(run_scenario scenarios/ci-claims.toml) || exit $?
status=0
echo "ci-claims: ${run%/}"
target/release/sabench check "${run%/}" >/dev/null || status=$?
# A row ends "| **verdict** | why | gate |".
held=$(grep -cE '\*\*holds\*\* \| [^|]* \| yes \|$' "${run%/}/claims.md" || true)
gates=$(grep -c '| yes |$' "${run%/}/claims.md" || true)
echo "gated claims: $held passed, $((gates - held)) failed"

twin=$(run_scenario scenarios/ci-broken-twin.toml) || exit $?
echo "broken twin: ${twin%/}"
if target/release/sabench check "${twin%/}" >/dev/null; then
  echo "broken twin: the C1 gate HELD for an async server limited to 16 requests at once: the gate cannot fail (${twin%/}/claims.md)"
  status=1
elif grep -qE '^\| C1 .*\*\*does not hold\*\*' "${twin%/}/claims.md"; then
  echo "broken twin: the C1 gate failed, as it must (does not hold)"
else
  echo "broken twin: the C1 gate failed, but not on the effect (see ${twin%/}/claims.md)"
  status=1
fi
exit "$status"
