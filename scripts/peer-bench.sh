#!/usr/bin/env bash
# Peer benchmark: sabench load vs wrk vs oha, closed loop, against the same fast target
# (the async style's /null, one worker pinned to CPU 1), each generator pinned to CPU 0.
# Prints a markdown table and writes it to results/peers.md.
#
#   scripts/peer-bench.sh [SECONDS_PER_ROUND (default 10)] [ROUNDS (default 3)]
#
# Installs what it needs: wrk (Debian package), oha (cargo install). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-3}
port=${PEER_BENCH_PORT:-18480}
out=results/peers.md

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
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

# run TOOL CONNECTIONS SECONDS OUTFILE: runs one generator pinned to CPU 0, and
# appends "user sys" CPU seconds of its process to OUTFILE.cpu.
run() {
  local tool=$1 conns=$2 secs=$3 file=$4
  local TIMEFORMAT='%U %S'
  case $tool in
    sabench) { time taskset -c 0 "$sabench" load "$url" -c "$conns" -d "${secs}s" -t 1 -q --json "$file" >/dev/null; } 2>"$file.cpu" ;;
    wrk) { time taskset -c 0 wrk -t1 -c "$conns" -d "${secs}s" --latency "$url" >"$file"; } 2>"$file.cpu" ;;
    oha) { time taskset -c 0 oha -z "${secs}s" -c "$conns" --worker-threads 1 --no-tui --output-format json "$url" >"$file"; } 2>"$file.cpu" ;;
  esac
}

results="$work/rows.tsv"
: >"$results"
for conns in 50 256; do
  for round in $(seq "$rounds"); do
    for tool in sabench wrk oha; do
      run "$tool" "$conns" 2 "$work/warmup" || true
      run "$tool" "$conns" "$seconds" "$work/$tool-$conns-$round"
      python3 - "$tool" "$conns" "$work/$tool-$conns-$round" >>"$results" <<'PY'
import json, re, sys
tool, conns, path = sys.argv[1], sys.argv[2], sys.argv[3]
user, sys_ = (float(x) for x in open(path + ".cpu").read().split()[-2:])
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
if tool == "sabench":
    r = json.load(open(path))
    rps, p50, p99, n = r["achieved_rps"], r["latency_ms"]["service"]["p50"], r["latency_ms"]["service"]["p99"], r["requests_sent"]
elif tool == "wrk":
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = ms(re.search(r"\s50%\s+(\S+)", text).group(1))
    p99 = ms(re.search(r"\s99%\s+(\S+)", text).group(1))
    n = int(re.search(r"(\d+) requests in", text).group(1))
else:
    r = json.load(open(path))
    rps = r["summary"]["requestsPerSec"]
    p50 = r["latencyPercentiles"]["p50"] * 1000
    p99 = r["latencyPercentiles"]["p99"] * 1000
    n = sum(r["statusCodeDistribution"].values())
print(f"{tool}\t{conns}\t{rps:.0f}\t{p50:.3f}\t{p99:.3f}\t{(user + sys_) * 100000 / max(n, 1):.3f}")
PY
      tail -n 1 "$results" >&2
    done
  done
done

python3 - "$results" "$seconds" "$rounds" >"$work/table.md" <<'PY'
import statistics, sys, platform, subprocess, datetime
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print("# Load generators compared: sabench vs wrk vs oha\n")
print(f"Run {datetime.date.today()} by `scripts/peer-bench.sh {sys.argv[2]} {sys.argv[3]}` on {cpu}, "
      f"{subprocess.check_output(['nproc']).decode().strip()} cores, Linux {platform.release()}.")
print("Target: `sabench serve --style async --workers 1` (`/null`) pinned to CPU 1; each generator pinned to CPU 0 "
      "with one thread; closed loop; a 2 s warm-up, then "
      f"{sys.argv[2]} s measured; median of {sys.argv[3]} rounds (min–max in brackets). "
      "CPU is the generator process's user + system time per 100k requests.\n")
print("| generator | connections | req/s | p50 ms | p99 ms | CPU s / 100k req |")
print("|---|---:|---:|---:|---:|---:|")
for conns in ("50", "256"):
    for tool in ("sabench", "wrk", "oha"):
        sel = [r for r in rows if r[0] == tool and r[1] == conns]
        if not sel:
            continue
        cols = []
        for i in (2, 3, 4, 5):
            values = sorted(float(r[i]) for r in sel)
            fmt = "{:.0f}" if i == 2 else "{:.3f}"
            cols.append(f"{fmt.format(statistics.median(values))} [{fmt.format(values[0])}–{fmt.format(values[-1])}]")
        print(f"| {tool} | {conns} | " + " | ".join(cols) + " |")
PY
mkdir -p results
cp "$work/table.md" "$out"
cat "$out"
