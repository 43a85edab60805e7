#!/usr/bin/env bash
# e2e_throughput.sh: bulk TCP throughput of the redirect, AF_XDP datapath vs the kernel, on the
# same namespaces with the same listener in the same run (DESIGN "Benchmarks"; issue 4 item 8b).
#   client ns --c0/n0 veth--> node ns with iperf3 -s on the proxy port 15001.
#   xdp:     redirect_node (XDP on n0 + xr0, AF_XDP worker), three times: with the conntrack
#            engine (tests/e2e/redirect_rules.v4: -p tcp --dport 443 -j REDIRECT --to-ports 15001)
#            and its fast path (established flows rewritten and redirected by the XDP program),
#            the same engine with --fast-path 0 (every packet through AF_XDP), and the e2e tests'
#            fixed REDIRECT processor (no conntrack, no rules: the AF_XDP loop alone)
#   kernel:  iptables -t nat -A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 15001
# Both directions are measured (client->proxy, and -R proxy->client). The topology turns TX
# checksum offload off on the client's veth (the AF_XDP path needs complete checksums, see
# tests/e2e/topology.sh), which also disables TSO there; the kernel is measured with the same
# setting (same namespaces) and again with offload on (its best case), and both ratios printed.
# GRO is turned on on c0 for every run (the kernel's too): it gives c0 NAPI, without which the
# kernel refuses frames the fast path redirects into n0 (the replies then stay on AF_XDP).
# Each repetition measures every path (the order rotates); medians and per-run values are printed.
# usage: bench/e2e_throughput.sh REDIRECT_NODE_BINARY [SECONDS] [REPS] [WORKER_CPU]   (root)
#   e.g. bench/e2e_throughput.sh build/tests/e2e/redirect_node 5 5
set -u
NODE_BIN=$(realpath "$1")
SECS=${2:-10}
REPS=${3:-1}
CPU=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/e2e/topology.sh"
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3 (apt-get install -y iperf3)" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=""
cleanup() {
  for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

topo_create || exit 1
ip netns exec "$TOPO_C" ethtool -K c0 gro on >/dev/null
ip netns exec "$TOPO_N" iperf3 -s -p 15001 >"$WORK/iperf3-server.log" 2>&1 &
PIDS="$PIDS $!"
sleep 0.5

# gbps DIRECTION_FLAG: one iperf3 run from the client to 203.0.113.7:443, prints Gbit/s received.
gbps() {
  ip netns exec "$TOPO_C" iperf3 -c 203.0.113.7 -p 443 -t "$SECS" -J $1 >"$WORK/run.json" 2>&1 ||
    { echo "iperf3 failed: $(head -c 400 "$WORK/run.json")" >&2; echo 0; return; }
  python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$WORK/run.json"
}

# run_xdp NAME ARGS...: starts redirect_node with ARGS, measures both directions (appended to
# NAME_up/NAME_down), records its drops and fast-path packets, stops it.
run_xdp() {
  local name=$1; shift
  local args=(--iface n0 --ports 443 --proxy-port 15001 "$@")
  [ -n "$CPU" ] && args+=(--cpu "$CPU")
  ip netns exec "$TOPO_N" "$NODE_BIN" "${args[@]}" >"$WORK/node.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q READY "$WORK/node.log" && break; sleep 0.1; done
  grep -q READY "$WORK/node.log" || { cat "$WORK/node.log"; kill "$pid"; exit 1; }
  eval "${name}_up+=(\$(gbps ''))"
  eval "${name}_down+=(\$(gbps -R))"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  eval "${name}_drops+=($(awk '$1 == "worker_drops" { print $2 }' "$WORK/node.log"))"
  eval "${name}_fast+=($(awk '$1 == "xdp_fast_path" { print $2 }' "$WORK/node.log"))"
}
run_engine() { run_xdp engine --rules "$HERE/../tests/e2e/redirect_rules.v4" --fast-path 1; }
run_afxdp() { run_xdp afxdp --rules "$HERE/../tests/e2e/redirect_rules.v4" --fast-path 0; }
run_fixed() { run_xdp fixed; }
run_kernel() {
  ip netns exec "$TOPO_N" iptables -t nat -A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 15001
  k_up+=("$(gbps "")")
  k_down+=("$(gbps "-R")")
  ip netns exec "$TOPO_C" ethtool -K c0 tx on >/dev/null
  kon_up+=("$(gbps "")")
  kon_down+=("$(gbps "-R")")
  ip netns exec "$TOPO_C" ethtool -K c0 tx off >/dev/null
  ip netns exec "$TOPO_N" iptables -t nat -D PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 15001
}

# Each repetition runs every path once; the order rotates so that no path always runs first.
declare -a engine_up engine_down engine_drops engine_fast afxdp_up afxdp_down afxdp_drops afxdp_fast
declare -a fixed_up fixed_down fixed_drops fixed_fast k_up k_down kon_up kon_down
paths=(run_engine run_kernel run_afxdp run_fixed)
for rep in $(seq "$REPS"); do
  for i in 0 1 2 3; do "${paths[$(((rep - 1 + i) % 4))]}"; done
  echo "rep $rep: fast path ${engine_up[-1]} / ${engine_down[-1]}, kernel ${k_up[-1]} / ${k_down[-1]}," \
    "kernel offload on ${kon_up[-1]} / ${kon_down[-1]} Gbit/s" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b if b else 0))" "$1" "$2"; }
for v in engine_up engine_down afxdp_up afxdp_down fixed_up fixed_down k_up k_down kon_up kon_down; do
  eval "m_$v=\$(median \"\${${v}[@]}\")"
done
echo "bulk TCP through REDIRECT to a local listener, ${SECS}s per run, median of $REPS runs, $(uname -r), $(nproc) CPUs"
printf '%-44s %10s %10s\n' "path (Gbit/s)" "c->proxy" "proxy->c"
printf '%-44s %10s %10s\n' "fast path + engine (drops: ${engine_drops[*]})" "$m_engine_up" "$m_engine_down"
printf '%-44s %10s %10s\n' "  (packets carried by XDP: ${engine_fast[*]})" "" ""
printf '%-44s %10s %10s\n' "AF_XDP + engine, no fast path (drops: ${afxdp_drops[*]})" "$m_afxdp_up" "$m_afxdp_down"
printf '%-44s %10s %10s\n' "AF_XDP + fixed processor (drops: ${fixed_drops[*]})" "$m_fixed_up" "$m_fixed_down"
printf '%-44s %10s %10s\n' "kernel iptables REDIRECT, same settings" "$m_k_up" "$m_k_down"
printf '%-44s %10s %10s\n' "kernel iptables REDIRECT, client TX offload on" "$m_kon_up" "$m_kon_down"
echo "ratio fast path / kernel (same settings):       c->proxy $(ratio "$m_engine_up" "$m_k_up")x  proxy->c $(ratio "$m_engine_down" "$m_k_down")x"
echo "ratio fast path / kernel (kernel best case):     c->proxy $(ratio "$m_engine_up" "$m_kon_up")x  proxy->c $(ratio "$m_engine_down" "$m_kon_down")x"
echo "ratio AF_XDP engine / kernel (same settings):   c->proxy $(ratio "$m_afxdp_up" "$m_k_up")x  proxy->c $(ratio "$m_afxdp_down" "$m_k_down")x"
echo "ratio AF_XDP fixed  / kernel (same settings):   c->proxy $(ratio "$m_fixed_up" "$m_k_up")x  proxy->c $(ratio "$m_fixed_down" "$m_k_down")x"
echo "per-run fast path c->proxy: ${engine_up[*]}; proxy->c: ${engine_down[*]}"
echo "per-run kernel (same settings) c->proxy: ${k_up[*]}; proxy->c: ${k_down[*]}"
echo "per-run kernel (offload on) c->proxy: ${kon_up[*]}; proxy->c: ${kon_down[*]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; the ratio is what compares)"
