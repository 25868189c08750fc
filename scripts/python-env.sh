#!/usr/bin/env bash
# Creates the Python virtual environment of the Flask and FastAPI examples
# (examples/python/.venv) from the pinned requirements, with pip only. Idempotent:
# a venv whose requirements are already installed is left as it is.
#
#   bash scripts/python-env.sh          # then: cargo run --release -- run scenarios/python-c2.toml
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="$here/examples/python"
venv="$app/.venv"
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
    echo "python-env: $python not found: install Python 3.9 or later (or set PYTHON=/path/to/python3)" >&2
    exit 1
fi
stamp="$venv/.requirements"
if [[ -x "$venv/bin/python" && -f "$stamp" ]] && cmp -s "$stamp" "$app/requirements.txt"; then
    echo "python-env: $venv is up to date"
    exit 0
fi
echo "python-env: creating $venv with $("$python" --version 2>&1)"
if ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
    # Debian's python3 leaves venv's pip bootstrap to a package of its own.
    echo "python-env: $python cannot create a venv: installing the Debian package python3-venv" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$app/requirements.txt"
cp "$app/requirements.txt" "$stamp"
echo "python-env: ready ($("$venv/bin/python" -c 'import flask, fastapi, gunicorn, uvicorn; print("flask", flask.__version__, "fastapi", fastapi.__version__, "gunicorn", gunicorn.__version__, "uvicorn", uvicorn.__version__)' 2>/dev/null))"
