#!/usr/bin/env bash
# Where a Python target's CPU goes on /io, below and past its capacity: py-spy samples
# the uvicorn worker while `sabench load` offers each rate, and the script prints the
# share of the worker's busy samples under each part of the stack. Loopback only; the
# upstream and the load on CPU 0, the worker on CPU 1, as in scenarios/python-c2.toml.
#
#   bash scripts/profile-python-io.sh                      # /io (httpx) at 400 and 700 req/s
#   ROUTE=/io-aiohttp RATES="2000 3000" bash scripts/profile-python-io.sh
#
# Needs the venv (bash scripts/python-env.sh); installs py-spy into it when missing.
# py-spy reads another process's memory: run as root, or allow ptrace
# (kernel.yama.ptrace_scope=0).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="$here/examples/python"
venv="$app/.venv"
route="${ROUTE:-/io}"
rates="${RATES:-400 700}"
out="${OUT:-$(mktemp -d -t sabench-profile-XXXXXX)}"
if [[ ! -x "$venv/bin/uvicorn" ]]; then
    echo "profile-python-io: no venv at $venv: run bash scripts/python-env.sh first" >&2
    exit 1
fi
[[ -x "$venv/bin/py-spy" ]] || "$venv/bin/pip" install -q py-spy
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
sabench="$here/target/release/sabench"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done   # none left behind
}
trap cleanup EXIT INT TERM

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port="$(free_port)"
taskset -c 0 "$sabench" upstream --port "$upstream_port" --latency 20ms >"$out/upstream.log" 2>&1 &
pids+=($!)
port="$(free_port)"
(cd "$app" && SABENCH_UPSTREAM="http://127.0.0.1:$upstream_port" exec taskset -c 1 \
    "$venv/bin/uvicorn" --workers 1 --host 127.0.0.1 --port "$port" --backlog 2048 \
    --no-access-log app_fastapi:app) >"$out/uvicorn.log" 2>&1 &
worker=$!   # the subshell execs taskset, which execs uvicorn: one pid, the worker's
pids+=("$worker")
ready() { "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; }
for _ in $(seq 100); do
    ready "http://127.0.0.1:$port$route" && break
    sleep 0.1
done
if ! ready "http://127.0.0.1:$port$route"; then
    echo "profile-python-io: uvicorn did not answer $route with a success within 10 s (a route of examples/python/app_fastapi.py?); its log: $out/uvicorn.log" >&2
    exit 1
fi

for rate in $rates; do
    taskset -c 0 "$sabench" load "http://127.0.0.1:$port$route" --rate "$rate" -c 512 -d 8s \
        --json "$out/load-$rate.json" >"$out/load-$rate.txt" 2>&1 &
    load=$!
    sleep 2   # past the start, into the steady state
    "$venv/bin/py-spy" record -p "$worker" -d 4 -r 200 -f raw -o "$out/spy-$rate.txt" >/dev/null 2>&1
    wait "$load" || true
    echo "== $route offered $rate req/s: $(grep -m1 'achieved' "$out/load-$rate.txt" | sed 's/^ *//')"
    "$venv/bin/python" - "$out/spy-$rate.txt" <<'EOF'
import collections, sys
# Each busy sample goes to the innermost frame of a known package: whose code the CPU ran.
owners = [
    ("the HTTP client (httpx, httpcore, anyio, aiohttp)", ("httpx/", "httpcore/", "anyio/", "aiohttp/")),
    ("the server (uvicorn, h11, httptools)", ("uvicorn/", "h11/", "httptools/")),
    ("the framework (starlette, fastapi)", ("starlette/", "fastapi/")),
    ("the event loop (asyncio)", ("asyncio/", "selectors.py")),
]
inside = {
    "httpcore's connection pool (any frame)": lambda f, w: w.startswith("httpcore/_async/connection_pool.py"),
    "  its request-to-connection scan": lambda f, w: f.startswith("AsyncConnectionPool._assign_requests_to_connections"),
    "  a socket poll per idle connection": lambda f, w: f == "is_socket_readable",
}
busy, owned, found = 0, collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    stack, _, count = line.strip().rpartition(" ")
    if not stack:
        continue
    count = int(count)
    busy += count
    frames = [(f.split(" (")[0], f[f.find("(") + 1:]) for f in stack.split(";")]
    owner = "other"
    for name, where in reversed(frames):
        match = next((o for o, prefixes in owners if where.startswith(prefixes)), None)
        if match:
            owner = match
            break
    owned[owner] += count
    for label, test in inside.items():
        if any(test(f, w) for f, w in frames):
            found[label] += count
print(f"   worker busy in {busy} of {4 * 200} samples ({100 * busy / 800:.0f} % of a core); by the package of the innermost frame:")
for name, _ in owners + [("other", ())]:
    print(f"   {100 * owned[name] / max(busy, 1):5.1f} %  {name}")
print("   and by any frame on the stack:")
for label in inside:
    if found[label]:
        print(f"   {100 * found[label] / busy:5.1f} %  {label}")
EOF
done
echo "raw profiles and load reports: $out"
