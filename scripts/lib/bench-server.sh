# Sourced by the benchmarks that load sabench's own server (peer-bench.sh,
# peer-bench-h2.sh, live-view-cost.sh).
#
# start_bench_server PORT [CLEANUP]
#   Needs $sabench (the built executable). Makes $work (a temporary folder) and starts
#   the async style with one worker, pinned to CPU 1, on 127.0.0.1:PORT ($server is its
#   pid). At exit: runs CLEANUP (a shell command, if given), stops the server and
#   removes $work. Returns once the server listens (at most 5 s).
start_bench_server() {
  local port=$1 cleanup=${2:-true}
  work=$(mktemp -d)
  taskset -c 1 "$sabench" serve --style async --workers 1 --port "$port" >"$work/server.log" 2>&1 &
  server=$!
  # shellcheck disable=SC2064 # the values are meant to be fixed now
  trap "$cleanup; kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf '$work'" EXIT
  for _ in $(seq 50); do
    grep -q listening "$work/server.log" && break
    sleep 0.1
  done
}
