#!/usr/bin/env bash
# Peer benchmark over HTTPS: sabench load vs wrk, closed loop, against the same TLS
# target (nginx with a self-signed certificate, one worker pinned to CPU 1, answering
# "ok" from memory), each generator pinned to CPU 0 with one thread. Appends a markdown
# table to results/peers.md.
#
#   scripts/peer-bench-tls.sh [SECONDS_PER_ROUND (default 10)] [ROUNDS (default 3)]
#
# Installs what it needs: wrk, nginx and openssl (Debian packages). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-3}
port=${PEER_BENCH_TLS_PORT:-18443}
out=results/peers.md
need=()
for tool in wrk nginx openssl; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages)..." >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet
sabench=target/release/sabench
work=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    location / { return 200 "ok\n"; }
  }
}
CONF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  curl -skf "https://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.1
done
url="https://localhost:$port/"

run() {
  local tool=$1 conns=$2 secs=$3 file=$4
  local TIMEFORMAT='%U %S'
  case $tool in
    sabench) { time taskset -c 0 "$sabench" load "$url" --cacert "$work/cert.pem" -c "$conns" -d "${secs}s" -t 1 -q --json "$file" >/dev/null; } 2>"$file.cpu" ;;
    wrk) { time taskset -c 0 wrk -t1 -c "$conns" -d "${secs}s" --latency "$url" >"$file"; } 2>"$file.cpu" ;;
  esac
}

rows="$work/rows.tsv"
: >"$rows"
for conns in 50; do
  for round in $(seq "$rounds"); do
    for tool in sabench wrk; do
      run "$tool" "$conns" 2 "$work/warmup" || true
      run "$tool" "$conns" "$seconds" "$work/$tool-$conns-$round"
      python3 - "$tool" "$conns" "$work/$tool-$conns-$round" >>"$rows" <<'PY'
import json, re, sys
tool, conns, path = sys.argv[1], sys.argv[2], sys.argv[3]
user, sys_ = (float(x) for x in open(path + ".cpu").read().split()[-2:])
if tool == "sabench":
    r = json.load(open(path))
    rps, total = r["achieved_rps"], r["requests_ok"]
    lat = r["latency_ms"]["ok"]["corrected"]
    p50, p99 = lat["p50"], lat["p99"]
else:
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    p50 = ms(*re.search(r"50%\s+([\d.]+)(us|ms|s)", text).groups())
    p99 = ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups())
print(f"{tool}\t{conns}\t{rps}\t{p50}\t{p99}\t{(user + sys_) / total * 100000}")
PY
    done
  done
done
python3 - "$rows" "$seconds" "$rounds" >>"$out" <<'PY'
import statistics, sys
from collections import defaultdict
rows, seconds, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
by = defaultdict(list)
for line in open(rows):
    tool, conns, *values = line.split("\t")
    by[(tool, int(conns))].append([float(v) for v in values])
def cell(values, digits):
    m = statistics.median(values)
    return f"{m:.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"
print(f"\n## Over HTTPS: sabench vs wrk\n\n`scripts/peer-bench-tls.sh {seconds} {rounds}`: the same TLS target for both (nginx, one worker on CPU 1, a self-signed RSA-2048 certificate, TLS 1.3, keep-alive), each generator on CPU 0 with one thread, closed loop; median of {rounds} rounds [min–max].\n")
print("| generator | connections | req/s | p50 ms | p99 ms | CPU s / 100k req |\n|---|---:|---:|---:|---:|---:|")
for (tool, conns), runs in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0] != "sabench")):
    cols = list(zip(*runs))
    print(f"| {tool} | {conns} | {cell(cols[0], 0)} | {cell(cols[1], 3)} | {cell(cols[2], 3)} | {cell(cols[3], 3)} |")
PY
tail -8 "$out"
