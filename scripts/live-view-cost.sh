#!/usr/bin/env bash
# What the live view costs the measurement: the same closed-loop load (the async
# style's /null, one worker pinned to CPU 1; sabench load pinned to CPU 0, view and
# all) run in a tmux pane with the live view and with --no-tui, alternated, ROUNDS
# times. Prints a markdown table of the achieved rate and the generator's CPU per
# 100k requests for both, and the view's own CPU as it reports it; writes it to
# results/live-view-cost.md.
#
#   scripts/live-view-cost.sh [SECONDS_PER_ROUND (default 10)] [ROUNDS (default 3)]
#
# Needs tmux (scripts/install-tmux.sh). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-3}
port=${LIVE_VIEW_COST_PORT:-18481}
out=results/live-view-cost.md
bash scripts/install-tmux.sh
cargo build --release --quiet
sabench=$PWD/target/release/sabench
socket="sabench-view-cost-$$"
# shellcheck source=lib/bench-server.sh
source scripts/lib/bench-server.sh
start_bench_server "$port" "tmux -L $socket kill-server 2>/dev/null || true"
url="http://127.0.0.1:$port/null"

# round MODE N: one load in a tmux pane (MODE: view or plain), its JSON in
# $work/MODE-N.json and its stderr (the view's cost line) in $work/MODE-N.err.
round() {
  local mode=$1 n=$2 flag=""
  [ "$mode" = plain ] && flag="--no-tui"
  rm -f "$work/$mode-$n.done"
  tmux -L "$socket" new-session -d -x 120 -y 40 \
    "env -u CI taskset -c 0 '$sabench' load '$url' -c 64 -d ${seconds}s $flag --json '$work/$mode-$n.json' 2>'$work/$mode-$n.err'; touch '$work/$mode-$n.done'"
  for _ in $(seq $((seconds * 10 + 300))); do
    [ -e "$work/$mode-$n.done" ] && break
    sleep 0.1
  done
  tmux -L "$socket" kill-server 2>/dev/null || true
}

for n in $(seq "$rounds"); do
  round view "$n"
  round plain "$n"
done

python3 - "$work" "$rounds" "$seconds" >"$out" <<'EOF'
import json, re, sys
work, rounds, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(f"# What the live view costs the measurement\n")
print(f"`scripts/live-view-cost.sh {seconds} {rounds}`: closed loop, 64 connections, {seconds} s a round, against the async style's /null (one worker on CPU 1); `sabench load` on CPU 0, its view thread too, in a 120 × 40 tmux pane, with the view and with `--no-tui`, alternated.\n")
print("| round | view: ok req/s | --no-tui: ok req/s | view: generator CPU s / 100k req | --no-tui: generator CPU s / 100k req | the view's own CPU |")
print("|---:|---:|---:|---:|---:|---|")
for n in range(1, rounds + 1):
    row = [str(n)]
    cpu = []
    for mode in ("view", "plain"):
        report = json.load(open(f"{work}/{mode}-{n}.json"))
        row.append(f"{report['achieved_rps']:,.0f}")
        cpu.append(f"{report['generator_cpu_s'] / max(report['requests']['sent'], 1) * 1e5:.2f}")
    err = open(f"{work}/view-{n}.err").read()
    cost = re.search(r"the live view drew .*", err)
    row += cpu + [cost.group(0) if cost else "not reported"]
    print("| " + " | ".join(row) + " |")
EOF
cat "$out"
