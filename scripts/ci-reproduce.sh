#!/usr/bin/env bash
# CI's reproduction of the headline effects: the gated claims (scenarios/ci-claims.toml,
# about 1.5 minutes on 2 cores, 5 repetitions), then the claims check. Fails when a gated claim does not
# hold, so a change that breaks a headline effect does not land.
#   scripts/ci-reproduce.sh [OUT_DIR (default: a temporary folder)]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
cargo build --release --quiet
target/release/sabench run scenarios/ci-claims.toml --out "$out" >/dev/null
run=$(ls -d "$out"/*/ | sort | tail -n 1)
status=0
target/release/sabench check "${run%/}" || status=$?
# A row ends "| **verdict** | why | gate |".
held=$(grep -cE '\*\*holds\*\* \| [^|]* \| yes \|$' "${run%/}/claims.md" || true)
gates=$(grep -c '| yes |$' "${run%/}/claims.md" || true)
echo "gated claims: $held passed, $((gates - held)) failed"
exit "$status"
