#!/usr/bin/env bash
# The cluster demo (issue #12): nats-server on a free port, three nodes (a, b, c) of the
# `cluster` sample; a's worker is placed on b, b is killed, the worker moves to c.
# Usage: samples/cluster/run.sh [path/to/cluster]   (default: build/samples/cluster)
# Ends by itself (well within a minute) and stops every process it started.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build/samples/cluster}
[ -x "$bin" ] || { echo "run.sh: no sample binary at $bin (build the 'cluster' target)" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "run.sh: nats-server is not installed" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {  # the nodes first (newest first), nats-server last
  local rev=()
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do rev+=("${pids[i]}"); done
  for p in "${rev[@]}"; do
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# waits up to $2 seconds for the file $1 to contain $3
wait_for() {
  for _ in $(seq $(($2 * 20))); do grep -q -- "$3" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "run.sh: timed out waiting for '$3' in $1" >&2
  return 1
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$port" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for "$work/nats.log" 10 "Server is ready" || exit 1
export PROCACTOR_NATS_URL="nats://127.0.0.1:$port"
echo "== nats-server on port $port"

start_node() {  # name, extra args...
  local name=$1
  shift
  PROCACTOR_NODE=$name "$bin" "$@" > >(tee "$work/$name.log") 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}
start_node b
start_node c
wait_for "$work/b.log" 10 "node b: up" || exit 1
wait_for "$work/c.log" 10 "node c: up" || exit 1
start_node a --origin --seconds 20
wait_for "$work/a.log" 10 "worker placed on node b" || exit 1
wait_for "$work/b.log" 10 "step 5 on node b" || exit 1
echo "== killing node b (SIGKILL of its process, pid $pid_b)"
kill -KILL "$pid_b"
wait_for "$work/a.log" 10 "worker moved to node c" || exit 1
wait_for "$work/c.log" 10 "step 5 on node c" || exit 1
echo "== the worker moved from b to c; stopping"
kill -TERM "$pid_a"
wait_for "$work/a.log" 10 "tree ended" || exit 1
exit 0
