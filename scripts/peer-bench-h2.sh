#!/usr/bin/env bash
# Peer benchmark over HTTP/2: sabench load --http2 vs h2load vs oha --http2, closed loop,
# against the same h2c target (the async style's /null, one worker pinned to CPU 1),
# each generator pinned to CPU 0 with one thread. Prints a markdown table and writes it
# to results/peers-http2.md (beside results/peers.md, the HTTP/1.1 comparison).
#
#   scripts/peer-bench-h2.sh [SECONDS_PER_ROUND (default 10)] [ROUNDS (default 3)]
#
# Installs what it needs: h2load (Debian package nghttp2-client), oha (cargo install).
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-3}
port=${PEER_BENCH_PORT:-18481}
out=results/peers-http2.md

install() {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$@"; else sudo apt-get update -qq && sudo apt-get install -y -qq "$@"; fi
}
if ! command -v h2load >/dev/null; then
  echo "installing h2load (Debian package nghttp2-client)..." >&2
  install nghttp2-client
fi
if ! command -v oha >/dev/null; then
  echo "installing oha (cargo install oha --locked)..." >&2
  cargo install oha --locked
fi
cargo build --release --quiet
sabench=target/release/sabench
# shellcheck source=lib/bench-server.sh
source scripts/lib/bench-server.sh
start_bench_server "$port"
url="http://127.0.0.1:$port/null"

# run TOOL CONNECTIONS STREAMS SECONDS OUTFILE: runs one generator pinned to CPU 0, and
# writes "user sys" CPU seconds of its process to OUTFILE.cpu.
run() {
  local tool=$1 conns=$2 streams=$3 secs=$4 file=$5
  local TIMEFORMAT='%U %S'
  case $tool in
    sabench) { time taskset -c 0 "$sabench" load "$url" --http2 -c "$conns" --streams "$streams" -d "${secs}s" -t 1 -q --json "$file" >/dev/null; } 2>"$file.cpu" ;;
    h2load) { time taskset -c 0 h2load -c "$conns" -m "$streams" -t 1 -D "$secs" "$url" >"$file"; } 2>"$file.cpu" ;;
    oha) { time taskset -c 0 oha --http2 -z "${secs}s" -c "$conns" -p "$streams" --worker-threads 1 --no-tui --output-format json "$url" >"$file"; } 2>"$file.cpu" ;;
  esac
}

results="$work/rows.tsv"
: >"$results"
for shape in "4 16" "16 16"; do
  read -r conns streams <<<"$shape"
  for round in $(seq "$rounds"); do
    for tool in sabench h2load oha; do
      run "$tool" "$conns" "$streams" 2 "$work/warmup" || true
      file="$work/$tool-$conns-$streams-$round"
      run "$tool" "$conns" "$streams" "$seconds" "$file"
      python3 - "$tool" "$conns" "$streams" "$file" >>"$results" <<'PY'
import json, re, sys
tool, conns, streams, path = sys.argv[1:5]
user, sys_ = (float(x) for x in open(path + ".cpu").read().split()[-2:])
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
p50 = p99 = float("nan")
if tool == "sabench":
    r = json.load(open(path))
    service = r["latency_ms"]["ok"]["service"]
    rps, mean, p50, p99, n = r["achieved_rps"], service["mean"], service["p50"], service["p99"], r["requests_sent"]
    assert r["protocol"] == "http2", r["protocol"]
elif tool == "h2load":
    text = open(path).read()
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text).group(1))
    n = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", text).group(1))
    mean = ms(re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text).group(1))
else:
    r = json.load(open(path))
    rps = r["summary"]["requestsPerSec"]
    mean = r["summary"]["average"] * 1000
    p50 = r["latencyPercentiles"]["p50"] * 1000
    p99 = r["latencyPercentiles"]["p99"] * 1000
    n = sum(r["statusCodeDistribution"].values())
print(f"{tool}\t{conns}\t{streams}\t{rps:.0f}\t{mean:.3f}\t{p50:.3f}\t{p99:.3f}\t{(user + sys_) * 100000 / max(n, 1):.3f}")
PY
      tail -n 1 "$results" >&2
    done
  done
done

python3 - "$results" "$seconds" "$rounds" >"$work/table.md" <<'PY'
import math, statistics, sys, platform, subprocess, datetime
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print("# Load generators compared over HTTP/2: sabench vs h2load vs oha\n")
print(f"Run {datetime.date.today()} by `scripts/peer-bench-h2.sh {sys.argv[2]} {sys.argv[3]}` on {cpu}, "
      f"{subprocess.check_output(['nproc']).decode().strip()} cores, Linux {platform.release()}.")
print("Target: `sabench serve --style async --workers 1` (`/null`, h2c with prior knowledge on the "
      "HTTP/1.1 port) pinned to CPU 1; each generator pinned to CPU 0 with one thread; closed loop; "
      f"a 2 s warm-up run, then {sys.argv[2]} s measured; median of {sys.argv[3]} rounds (min–max in "
      "brackets). CPU is the generator process's user + system time per 100k requests. h2load "
      "prints no percentiles (only with a per-request log file, which would cost it CPU): its "
      "p50 and p99 are left empty. Latency is service time (from the actual send), as h2load "
      "and oha measure it.\n")
print("| generator | connections × streams | req/s | mean ms | p50 ms | p99 ms | CPU s / 100k req |")
print("|---|---:|---:|---:|---:|---:|---:|")
shapes = []
for r in rows:
    if (r[1], r[2]) not in shapes:
        shapes.append((r[1], r[2]))
for conns, streams in shapes:
    for tool in ("sabench", "h2load", "oha"):
        sel = [r for r in rows if r[0] == tool and (r[1], r[2]) == (conns, streams)]
        if not sel:
            continue
        cols = []
        for i in (3, 4, 5, 6, 7):
            values = sorted(float(r[i]) for r in sel)
            if any(math.isnan(v) for v in values):
                cols.append("—")
                continue
            fmt = "{:.0f}" if i == 3 else "{:.3f}"
            cols.append(f"{fmt.format(statistics.median(values))} [{fmt.format(values[0])}–{fmt.format(values[-1])}]")
        print(f"| {tool} | {conns} × {streams} | " + " | ".join(cols) + " |")
PY
mkdir -p results
cp "$work/table.md" "$out"
cat "$out"
