#!/usr/bin/env bash
# proxy_vs_haproxy.sh: xredir-proxy against HAProxy (Debian's 2.6, TCP mode) in the same run, on
# the same namespaces, behind the same kernel iptables REDIRECT (DESIGN "Benchmarks"; issue 6
# item 6). Topology as in tests/proxy/proxy_e2e.sh:
#   client 10.77.1.1 --veth-- proxy ns (REDIRECT every TCP connection to :15001) --veth-- server 10.77.2.2
# Each proxy gets the same number of threads (xredir-proxy --threads N --original-dst kernel;
# HAProxy nbthread N with `server s 0.0.0.0:0`, i.e. connect to the original destination) and is
# pinned with taskset to the same CPUs (PROXY_CPUS); clients and servers run on LOAD_CPUS.
# Measured, REPS times each, the two proxies alternating which goes first:
#   (a) bulk throughput: iperf3 -t SECS through the proxy, client->server and -R server->client
#   (b) short connections/s: proxy_load short (connect, 32-byte request, echo, close), 8 client
#       threads, SHORT_COUNT connections; also the p50/p99 of one whole connection
#   (b') short connection latency unloaded: the same short connections from one client thread,
#       SERIAL_COUNT of them, p50/p99 of one whole connection. (b) saturates the load CPU, so its
#       p99 is mostly that CPU's run queue; one at a time, the time is the proxy's and the path's
#   (c) small request/response latency: 64-byte ping-pongs on one connection, p50/p99
#   (d) proxy-bound short connections/s: the same short load with the proxy process held to the
#       same CPU budget for both proxies, QUOTA_PCT percent of one CPU, by CFS bandwidth control
#       (a cgroup v2 `cpu.max` of "QUOTA PERIOD", or on a cgroup v1 cpu hierarchy the same limit
#       as cpu.cfs_quota_us / cpu.cfs_period_us; period 20 ms). Unconstrained, on 2 cores, the
#       load CPU (8 clients, the echo server, both ends' TCP stacks) saturates before either
#       proxy does, so (b) measures the load generator as much as the proxy; under the quota
#       the proxy is the bottleneck and the rate is the proxy's own capacity per CPU. The phase
#       checks that: it prints the proxy's CPU time over the phase as a share of the quota
#       (~1.0 when the proxy is the bottleneck; from /proc/PID/task/*/schedstat, the run time
#       the quota is charged with) and the share of periods in which the group was throttled.
# Prints the median of each measure per proxy and the ratio xredir-proxy / HAProxy, and for each
# measure the range of the repetitions' own ratios and in how many xredir-proxy did better.
# usage: bench/proxy_vs_haproxy.sh XREDIR_PROXY_BINARY PROXY_LOAD_BINARY [THREADS] [REPS] [SECS]  (root)
#   e.g. bench/proxy_vs_haproxy.sh build/proxy/xredir-proxy build/tests/proxy/proxy_load 1 5 5
# Environment: PROXY_CPUS (default: 1 for one thread, else 0-1), LOAD_CPUS (default 0),
#   SHORT_COUNT (default 30000), SERIAL_COUNT (default 5000), PINGS (default 20000), QUOTA_PCT (default 25: percent of one
#   CPU for the proxy-bound phase; 0 skips it), QUOTA_COUNT (default 12000 connections).
set -u
XP_BIN=$(realpath "$1")
LOAD=$(realpath "$2")
THREADS=${3:-1}
REPS=${4:-5}
SECS=${5:-5}
if [ "$THREADS" = 1 ]; then PROXY_CPUS=${PROXY_CPUS:-1}; else PROXY_CPUS=${PROXY_CPUS:-0-1}; fi
LOAD_CPUS=${LOAD_CPUS:-0}
SHORT_COUNT=${SHORT_COUNT:-30000}
SERIAL_COUNT=${SERIAL_COUNT:-5000}
PINGS=${PINGS:-20000}
QUOTA_PCT=${QUOTA_PCT:-25}
QUOTA_COUNT=${QUOTA_COUNT:-12000}
QUOTA_PERIOD_US=20000
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/e2e/topology.sh"
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "needs haproxy" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=""
PROXY_PID=""
CG=""  # the proxy-bound phase's cgroup directory, once made
cleanup() {
  [ -n "$PROXY_PID" ] && kill -KILL "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  [ -n "$CG" ] && rmdir "$CG" 2>/dev/null
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# quota_cgroup makes the proxy-bound phase's cgroup with the CPU limit and sets CG, or says why
# it cannot (the phase is then skipped). cgroup v2 needs the cpu controller enabled for children
# of its root (it is enabled here if it is available but off); else a v1 cpu hierarchy is used.
quota_cgroup() {
  local quota=$((QUOTA_PERIOD_US * QUOTA_PCT / 100)) v2 v1
  v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  if [ -n "$v2" ] && grep -qw cpu "$v2/cgroup.controllers" 2>/dev/null; then
    grep -qw cpu "$v2/cgroup.subtree_control" || echo +cpu >"$v2/cgroup.subtree_control" || return 1
    CG="$v2/xredir-bench-$$"
    mkdir "$CG" && echo "$quota $QUOTA_PERIOD_US" >"$CG/cpu.max" || return 1
    CG_THROTTLE="$CG/cpu.stat"
    return 0
  fi
  v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ { print $2; exit }' /proc/mounts)
  if [ -n "$v1" ]; then
    CG="$v1/xredir-bench-$$"
    mkdir "$CG" && echo "$QUOTA_PERIOD_US" >"$CG/cpu.cfs_period_us" &&
      echo "$quota" >"$CG/cpu.cfs_quota_us" || return 1
    CG_THROTTLE="$CG/cpu.stat"
    return 0
  fi
  echo "no cgroup cpu controller (v2 cpu.max or v1 cpu): proxy-bound phase skipped" >&2
  return 1
}
if [ "$QUOTA_PCT" -gt 0 ]; then
  quota_cgroup || { [ -n "$CG" ] && rmdir "$CG" 2>/dev/null; CG=""; }
fi

topo_create || exit 1
topo_add_server || exit 1
# No AF_XDP here: the client's TX offload (turned off by topology.sh for XDP rewrites) back on.
ip netns exec "$TOPO_C" ethtool -K c0 tx on >/dev/null
for ns in "$TOPO_C" "$TOPO_N"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
done
ip netns exec "$TOPO_N" iptables -t nat -A PREROUTING -i n0 -p tcp -j REDIRECT --to-ports 15001

ip netns exec "$TOPO_S" taskset -c "$LOAD_CPUS" iperf3 -s -p 5201 >"$WORK/iperf3-server.log" 2>&1 &
PIDS="$PIDS $!"
ip netns exec "$TOPO_S" taskset -c "$LOAD_CPUS" "$LOAD" serve echo:7001 >"$WORK/servers.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do grep -q LISTENING "$WORK/servers.log" && break; sleep 0.1; done
sleep 0.3

cat >"$WORK/haproxy.cfg" <<CFG
global
  nbthread $THREADS
  maxconn 8000
defaults
  mode tcp
  retries 0
  timeout connect 5000ms
  timeout client 300s
  timeout server 300s
listen p
  bind 0.0.0.0:15001
  server s 0.0.0.0:0
CFG

start_proxy() {  # start_proxy haproxy|xredir
  if [ "$1" = haproxy ]; then
    ip netns exec "$TOPO_N" taskset -c "$PROXY_CPUS" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/proxy.log" 2>&1 &
  else
    ip netns exec "$TOPO_N" taskset -c "$PROXY_CPUS" "$XP_BIN" --listen 0.0.0.0:15001 \
      --original-dst kernel --threads "$THREADS" --log-level warn >"$WORK/proxy.log" 2>&1 &
  fi
  PROXY_PID=$!
  for _ in $(seq 100); do
    [ -n "$(ip netns exec "$TOPO_N" ss -ltnH 'sport = :15001')" ] && return 0
    sleep 0.1
  done
  echo "$1 did not start: $(cat "$WORK/proxy.log")" >&2
  exit 1
}
stop_proxy() {
  kill -KILL "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; PROXY_PID=""
}
cl() { ip netns exec "$TOPO_C" taskset -c "$LOAD_CPUS" "$@"; }
record() { echo "$1 $2 $3 $rep" >>"$WORK/results"; }  # record PROXY MEASURE VALUE (of repetition $rep)

# cpu_ticks: user + system CPU of the proxy process so far, in clock ticks (1/100 s). The load
# CPU is shared by clients, servers and (on this machine) other work, so the rates can be bound
# by it rather than by the proxy; the proxy's own CPU per unit of work compares them regardless.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PROXY_PID/stat"; }

# run_ns: CPU time of every thread of the proxy so far, in ns (what CFS bandwidth control charges).
run_ns() { cat /proc/"$PROXY_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# throttle_counts: "periods throttled" of the quota cgroup so far (cpu.stat, v1 and v2 alike).
throttle_counts() { awk '$1 == "nr_periods" { p = $2 } $1 == "nr_throttled" { t = $2 } END { print p + 0, t + 0 }' "$CG_THROTTLE"; }

# proxy_bound PROXY: the short load with the proxy in the quota cgroup (the last phase of a
# measure: the process stays there until it is stopped).
proxy_bound() {
  [ -n "$CG" ] || return 0
  echo "$PROXY_PID" >"$CG/cgroup.procs" || { echo "cannot move $1 into $CG" >&2; return 0; }
  sleep 0.2
  local r0 r1 t0 t1 w0 w1 out
  r0=$(run_ns); t0=$(throttle_counts); w0=$(date +%s%N)
  out=$(cl "$LOAD" short 10.77.2.2 7001 "$QUOTA_COUNT" 8)
  r1=$(run_ns); t1=$(throttle_counts); w1=$(date +%s%N)
  set -- "$1" "$out" $t0 $t1
  local share throttled
  share=$(awk -v r=$((r1 - r0)) -v w=$((w1 - w0)) -v q="$QUOTA_PCT" 'BEGIN { printf "%.2f", r / (w * q / 100) }')
  throttled=$(awk -v p=$(($5 - $3)) -v t=$(($6 - $4)) 'BEGIN { printf "%.2f", p ? t / p : 0 }')
  echo "  $1 proxy-bound (${QUOTA_PCT}% of a CPU): $out (proxy CPU $(((r1 - r0) / 1000000)) ms = ${share}x the quota, throttled in ${throttled} of the periods)"
  case "$out" in ok*)
    set -- "$1" $out
    record "$1" bound_conn_per_s "$8"
    record "$1" bound_cpu_us "$(((r1 - r0) / 1000 / QUOTA_COUNT))"
    record "$1" bound_quota_share "$share"
    record "$1" bound_throttled "$throttled";;
  esac
}

gbps() {  # gbps PROXY NAME [-R]
  local c0 c1
  c0=$(cpu_ticks)
  if cl iperf3 -c 10.77.2.2 -p 5201 -t "$SECS" -J $3 >"$WORK/iperf.json" 2>&1; then
    c1=$(cpu_ticks)
    set -- "$1" "$2" $(python3 -c 'import json,sys; e = json.load(open(sys.argv[1]))["end"]["sum_received"]; print("%.2f %.3f" % (e["bits_per_second"] / 1e9, (int(sys.argv[2]) / 100.0) / (e["bytes"] / 1e9)))' "$WORK/iperf.json" $((c1 - c0)))
    record "$1" "$2" "$3"
    record "$1" "${2}_cpu_s_per_gb" "$4"
  else
    echo "iperf3 through $1 failed: $(head -c 300 "$WORK/iperf.json")" >&2
  fi
}

measure() {  # measure haproxy|xredir
  start_proxy "$1"
  sleep 0.3
  gbps "$1" bulk_up ""
  gbps "$1" bulk_down -R
  local c0 c1
  c0=$(cpu_ticks)
  out=$(cl "$LOAD" short 10.77.2.2 7001 "$SHORT_COUNT" 8)
  c1=$(cpu_ticks)
  echo "  $1 short: $out (proxy CPU $((c1 - c0))0 ms)"
  case "$out" in ok*)
    set -- "$1" $out
    record "$1" conn_per_s "$8"; record "$1" conn_p50_us "${10}"; record "$1" conn_p99_us "${12}"
    record "$1" conn_cpu_us "$(((c1 - c0) * 10000 / SHORT_COUNT))";;
  esac
  out=$(cl "$LOAD" short 10.77.2.2 7001 "$SERIAL_COUNT" 1)
  echo "  $1 short, one client: $out"
  case "$out" in ok*)
    set -- "$1" $out
    record "$1" serial_p50_us "${10}"; record "$1" serial_p99_us "${12}";;
  esac
  out=$(cl "$LOAD" latency 10.77.2.2 7001 "$PINGS")
  echo "  $1 latency: $out"
  case "$out" in ok*)
    set -- "$1" $out
    record "$1" rtt_p50_us "$6"; record "$1" rtt_p99_us "$8";;
  esac
  proxy_bound "$1"
  stop_proxy
}

if [ -n "$CG" ]; then BOUND="$QUOTA_PCT% of one CPU ($CG)"; else BOUND=skipped; fi
echo "xredir-proxy vs HAProxy $(haproxy -v | head -1 | awk '{print $3}'): $THREADS thread(s) on CPU $PROXY_CPUS, load on CPU $LOAD_CPUS, $REPS reps, iperf3 ${SECS}s, proxy-bound phase: $BOUND"
for rep in $(seq "$REPS"); do
  echo "rep $rep"
  if [ $((rep % 2)) = 1 ]; then measure haproxy; measure xredir; else measure xredir; measure haproxy; fi
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
by_rep = {}  # (proxy, measure) -> {repetition: value}
for line in open(sys.argv[1]):
    p, m, v, rep = line.split()
    by_rep.setdefault((p, m), {})[rep] = float(v)
rows = [("bulk_up", "bulk client->server, Gbit/s", "higher"), ("bulk_down", "bulk server->client, Gbit/s", "higher"),
        ("bulk_up_cpu_s_per_gb", "proxy CPU s per GB, client->server", "lower"),
        ("bulk_down_cpu_s_per_gb", "proxy CPU s per GB, server->client", "lower"),
        ("conn_per_s", "short connections/s (8 clients)", "higher"),
        ("conn_cpu_us", "proxy CPU us per short connection", "lower"), ("conn_p50_us", "short connection p50, us", "lower"),
        ("conn_p99_us", "short connection p99, us", "lower"),
        ("serial_p50_us", "short connection p50, one client, us", "lower"),
        ("serial_p99_us", "short connection p99, one client, us", "lower"), ("rtt_p50_us", "64 B request/response p50, us", "lower"),
        ("rtt_p99_us", "64 B request/response p99, us", "lower"),
        ("bound_conn_per_s", "proxy-bound short connections/s", "higher"),
        ("bound_cpu_us", "proxy-bound proxy CPU us per connection", "lower"),
        ("bound_quota_share", "proxy-bound CPU used / quota (~1: bound)", "-"),
        ("bound_throttled", "proxy-bound share of periods throttled", "-")]
# Each repetition measures both proxies back to back, so its own ratio is free of the host's slower
# drift; their spread, and in how many repetitions xredir-proxy came out better, show how far the
# medians' ratio stands from the noise.
print("%-42s %12s %12s %16s  %s" % ("median of runs", "HAProxy", "xredir-proxy", "xredir/HAProxy",
                                    "ratio per rep: min..max, xredir better in"))
for key, name, better in rows:
    h, x = by_rep.get(("haproxy", key)), by_rep.get(("xredir", key))
    if not h or not x:
        print("%-42s %12s %12s %16s" % (name, "?", "?", "-"))
        continue
    mh, mx = statistics.median(h.values()), statistics.median(x.values())
    note = "(check)" if better == "-" else "(%s better)" % better
    paired = [x[r] / h[r] for r in h if r in x and h[r]]
    spread = ""
    if paired and better != "-":
        wins = sum(1 for q in paired if (q > 1 if better == "higher" else q < 1))
        spread = "  %.2f..%.2fx, %d of %d" % (min(paired), max(paired), wins, len(paired))
    print("%-42s %12.3f %12.3f %11.2fx %s n=%d/%d%s" % (name, mh, mx, mx / mh if mh else 0, note, len(h), len(x), spread))
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; compare the ratios)"
