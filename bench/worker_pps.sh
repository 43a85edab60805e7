#!/usr/bin/env bash
# worker_pps.sh: packets/s through one AF_XDP worker (rx -> conntrack lookup -> translate -> tx)
# for established flows, against the kernel's REDIRECT on the same namespaces in the same run
# (DESIGN "Benchmarks"; issue 4 item 8a).
#   client ns --c0/n0 veth--> node ns with a UDP sink on the proxy port 15001
#   load:    bench udp_flood: FLOWS connected UDP sockets in the client sending 18-byte datagrams
#            to 203.0.113.7:53 in sendmmsg batches, pinned to LOAD_CPU (default 0)
#   xredir:  redirect_node (XDP on n0 + the injection pair, one AF_XDP worker pinned to
#            WORKER_CPU, default 1) with the engine and tests/e2e/redirect_rules.v4
#            (-p udp --dport 53 -j REDIRECT --to-ports 15001). UDP never takes the XDP fast path,
#            so after each flow's first datagram every packet is an established-flow lookup,
#            rewrite and transmit by the worker.
#   kernel:  iptables -t nat -A PREROUTING -p udp --dport 53 -j REDIRECT --to-ports 15001
#   direct:  the same load sent straight to 10.77.1.2:15001 (no redirect): what the load and the
#            sink can carry at all on this machine, for reading the other two.
# Each repetition runs the three paths in turn (the order rotates); medians are printed with the
# ratio xredir / kernel, plus the worker's share of a CPU and packets per worker-CPU-second (the
# worker's capacity when the load, not the worker, is the bottleneck).
# usage: bench/worker_pps.sh BUILD_DIR [SECONDS] [REPS] [FLOWS]   (root)
#   e.g. bench/worker_pps.sh build 5 5 64
set -u
BUILD=$(realpath "$1")
SECS=${2:-5}
REPS=${3:-5}
FLOWS=${4:-64}
LOAD_CPU=${LOAD_CPU:-0}
WORKER_CPU=${WORKER_CPU:-1}
NODE_BIN=$BUILD/tests/e2e/redirect_node
FLOOD=$BUILD/bench/udp_flood
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/e2e/topology.sh"
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
for bin in "$NODE_BIN" "$FLOOD"; do
  [ -x "$bin" ] || { echo "missing $bin (ninja -C $BUILD)" >&2; exit 1; }
done

WORK=$(mktemp -d)
NODE_PID=""
cleanup() {
  [ -n "$NODE_PID" ] && kill -KILL "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

topo_create || exit 1

# cpu_ticks PID: user+system clock ticks of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure DST_IP DST_PORT: one load run through whatever path is set up; prints the sink's pps.
measure() {
  ip netns exec "$TOPO_N" "$FLOOD" sink 15001 "$SECS" >"$WORK/sink.log" 2>&1 &
  local sink=$!
  for _ in $(seq 50); do grep -q LISTENING "$WORK/sink.log" && break; sleep 0.1; done
  ip netns exec "$TOPO_C" taskset -c "$LOAD_CPU" "$FLOOD" send "$1" "$2" "$FLOWS" $((SECS + 1)) \
    >"$WORK/send.log" 2>&1
  wait "$sink"
  awk '$1 == "received" { print $4 }' "$WORK/sink.log" | grep . || { cat "$WORK/sink.log" >&2; echo 0; }
}

declare -a XR KERNEL DIRECT WORKER_SHARE WORKER_CAPACITY DROPS

run_xredir() {
  ip netns exec "$TOPO_N" "$NODE_BIN" --iface n0 --ports 53 --proxy-port 15001 --cpu "$WORKER_CPU" \
    --rules "$HERE/../tests/e2e/redirect_rules.v4" >"$WORK/node.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 100); do grep -q READY "$WORK/node.log" && break; sleep 0.1; done
  grep -q READY "$WORK/node.log" || { cat "$WORK/node.log" >&2; exit 1; }
  local before t0 pps after t1
  before=$(cpu_ticks "$NODE_PID"); t0=$(date +%s.%N)
  pps=$(measure 203.0.113.7 53)
  after=$(cpu_ticks "$NODE_PID"); t1=$(date +%s.%N)
  kill -TERM "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=""
  local tx drops
  tx=$(awk '$1 == "worker_tx" { print $2 }' "$WORK/node.log")
  drops=$(awk '$1 == "worker_drops" { print $2 }' "$WORK/node.log")
  XR+=("$pps"); DROPS+=("${drops:-?}")
  # The worker's CPU over the load window (the process is the worker plus an idle main thread).
  read -r share capacity < <(python3 -c '
import os, sys
ticks = (int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf("SC_CLK_TCK")
wall = float(sys.argv[4]) - float(sys.argv[3])
print("%.2f %.0f" % (ticks / wall, float(sys.argv[5]) * wall / ticks if ticks else 0))' \
    "$before" "$after" "$t0" "$t1" "$pps")
  WORKER_SHARE+=("$share"); WORKER_CAPACITY+=("$capacity")
  echo "  xredir: $pps pps received, worker tx $tx, drops ${drops:-?}, worker CPU $share" >&2
}

run_kernel() {
  ip netns exec "$TOPO_N" iptables -t nat -A PREROUTING -p udp --dport 53 -j REDIRECT --to-ports 15001
  local pps
  pps=$(measure 203.0.113.7 53)
  ip netns exec "$TOPO_N" iptables -t nat -D PREROUTING -p udp --dport 53 -j REDIRECT --to-ports 15001
  KERNEL+=("$pps")
  echo "  kernel: $pps pps received" >&2
}

run_direct() {
  local pps
  pps=$(measure 10.77.1.2 15001)
  DIRECT+=("$pps")
  echo "  direct: $pps pps received" >&2
}

paths=(run_xredir run_kernel run_direct)
for rep in $(seq "$REPS"); do
  echo "rep $rep" >&2
  for i in 0 1 2; do "${paths[$(((rep + i) % 3))]}"; done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
xr=$(median "${XR[@]}"); kernel=$(median "${KERNEL[@]}"); direct=$(median "${DIRECT[@]}")
echo "established UDP flows ($FLOWS, 18-byte payload) through REDIRECT to a local socket, ${SECS}s per run,"
echo "median of $REPS runs, load on CPU $LOAD_CPU, xredir worker on CPU $WORKER_CPU, $(uname -r), $(nproc) CPUs"
printf '%-46s %12s\n' "path" "packets/s"
printf '%-46s %12.0f\n' "xredir: one AF_XDP worker + engine" "$xr"
printf '%-46s %12.0f\n' "kernel iptables REDIRECT" "$kernel"
printf '%-46s %12.0f\n' "no redirect (load straight to the sink)" "$direct"
echo "ratio xredir / kernel: $(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$xr" "$kernel")x"
echo "xredir worker: $(median "${WORKER_SHARE[@]}") of a CPU busy, $(median "${WORKER_CAPACITY[@]}") packets per worker-CPU-second (medians); drops per run: ${DROPS[*]}"
echo "per-run xredir: ${XR[*]}"
echo "per-run kernel: ${KERNEL[*]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; compare the ratio)"
