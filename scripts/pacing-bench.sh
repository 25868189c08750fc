#!/usr/bin/env bash
# The open loop's pacing at many connections, side by side with the closed loop
# (issue 24): for each connection count, the closed loop's rate on /null, then the open
# loop at a quarter and at half of it on /null, and at 25,000 req/s on a 20 ms route
# (about 500 requests in flight). Prints a markdown table for results/peers.md.
#   scripts/pacing-bench.sh [SECONDS (default 3)] [CONNECTIONS... (default 1024 10000)]
# Loopback only: the target is `sabench serve` on 127.0.0.1, a port from the kernel,
# pinned to CPU 1; the generator one thread pinned to CPU 0. Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1024 10000)
cargo build --release --quiet
bin=target/release/sabench
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

taskset -c 1 "$bin" serve --style async --workers 1 --port 0 --no-lag-probe \
  --io-mode sleep --io-latency 20ms >"$work/server.out" 2>"$work/server.log" &
server=$!
for _ in $(seq 50); do
  grep -q "listening on" "$work/server.out" 2>/dev/null && break
  sleep 0.1
done
base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.out" | head -n 1)
[ -n "$base" ] || { echo "the server did not start: $(cat "$work/server.log")" >&2; exit 1; }

# Runs one load ($1: a name, then sabench load's arguments) and prints its JSON's path.
load() {
  local name=$1
  shift
  taskset -c 0 "$bin" load "$@" -d "${seconds}s" --warmup 1s --threads 1 \
    --json "$work/$name.json" >/dev/null 2>&1 || true
  echo "$work/$name.json"
}

# One table row from a report: mode, connections, target, achieved, lag p99/max, busy, valid.
row() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lag = r.get("generator_lag_ms") or {}
fmt = lambda v, d: "—" if v is None else f"{v:.{d}f}"
target = r.get("target_rps")
busy = r.get("generator_busy")
print(f"| {sys.argv[2]} | {r['connections']} | {fmt(target, 0)} | {r['achieved_rps']:.0f} | "
      f"{fmt(lag.get('p99'), 3)} | {fmt(lag.get('max'), 3)} | "
      f"{'—' if busy is None else f'{100 * busy:.0f} %'} | {'VALID' if r['valid'] else 'INVALID'} |")
EOF
}

echo "| load | connections | target req/s | achieved req/s | lag p99 ms | lag max ms | generator busy | |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for c in "${counts[@]}"; do
  closed=$(load "closed-$c" "$base/null" -c "$c")
  row "$closed" "closed loop, /null"
  rate=$(python3 -c "import json,sys; print(int(json.load(open(sys.argv[1]))['achieved_rps']))" "$closed")
  for share in 4 2; do
    open=$(load "open-$c-$share" "$base/null" -c "$c" --rate $((rate / share)))
    row "$open" "open loop at 1/$share of it, /null"
  done
  open=$(load "open-$c-io" "$base/io" -c "$c" --rate 25000)
  row "$open" "open loop, /io (20 ms)"
done
