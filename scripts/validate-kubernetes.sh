#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes schemas, offline (the
# kubernetes-validate package bundles them), in a venv of its own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/target/kubernetes-validate-venv"
if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check kubernetes-validate==1.31.0
fi
"$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.31.0 "$here"/deploy/kubernetes/*.yaml
