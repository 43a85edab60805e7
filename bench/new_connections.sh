#!/usr/bin/env bash
# new_connections.sh: new TCP connections per second through the redirect, xredir (AF_XDP) vs the
# kernel's iptables REDIRECT, at 10 and at 5,000 nat rules (issue 4 item 8c; targets >= 1.0x at
# 10 rules and >= 3x at 5,000). Both paths run on the same topology with the same listener:
#   client ns --c0/n0 veth--> node ns (tests/e2e/topology.sh), in node: `proxy_load serve
#   echo:15001` (a plain epoll echo listener on 0.0.0.0:15001, so that both paths pay the same
#   listener cost and nothing else: no original-destination lookup, no upstream connection).
#   rules:   bench/gen_prerouting_rules.sh N: N rules on the PREROUTING path, kube-proxy-shaped
#            non-matching DNAT rules, the LAST one `-d 203.0.113.0/24 -p tcp --dport 443 -j
#            REDIRECT --to-ports 15001`, so netfilter walks all N for every new connection.
#   kernel:  `iptables-restore` of that file in the node namespace.
#   xredir:  `xredir run` with the same file on n0 (the injection pair xr0/xr1 it creates).
#   client:  `proxy_load short 203.0.113.7 443 COUNT THREADS` in the client namespace: each thread
#            connects, sends 32 bytes, reads the 32 echoed, closes; conn/s = completed / wall time.
#            COUNT is set per path and rule count from a warm-up run so that a run lasts ~SECS.
# Every measurement gets a fresh pair of namespaces (no TIME_WAIT or conntrack state carried
# from the previous one), and the paths alternate within each repetition (kernel, xredir, kernel,
# ...) so that load from other work on the machine falls on both alike. Prints every run, the
# median of REPS runs per path and rule count, and the ratio xredir / kernel.
# usage: bench/new_connections.sh [SECS] [REPS] [THREADS] [RULE_COUNTS] [WORKER_CPU]   (root)
#   e.g. bench/new_connections.sh 5 3 4 "10 5000"
#   BUILD=build-x selects the build directory (default build): it needs src/daemon/xredir and
#   tests/proxy/proxy_load. WORKER_CPU pins the xredir worker ([capture] cpus). Exit status 1
#   if any connection failed on either path.
set -u
SECS=${1:-5}
REPS=${2:-3}
THREADS=${3:-4}
COUNTS=${4:-10 5000}
CPU=${5:-}
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(realpath "${BUILD:-$HERE/../build}")
XREDIR=$BUILD/src/daemon/xredir
LOAD=$BUILD/tests/proxy/proxy_load
. "$HERE/../tests/e2e/topology.sh"
. "$HERE/../scripts/xredir_config.sh"
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
for b in "$XREDIR" "$LOAD"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

WORK=$(mktemp -d)
PIDS=""
DAEMON_PID=""
cleanup() {
  [ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  for pid in $PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  PIDS=""
  DAEMON_PID=""
  topo_destroy
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

wait_for() {  # wait_for PATTERN FILE [TENTHS]
  for _ in $(seq "${3:-100}"); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# setup_topo: fresh namespaces and the echo listener in the node. The client may reuse ports in
# TIME_WAIT (it closes first) and uses the whole port range, so that tens of thousands of
# connections a run do not exhaust its ports.
setup_topo() {
  topo_create || { echo "could not create the namespaces" >&2; exit 1; }
  ip netns exec "$TOPO_C" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
    net.ipv4.ip_local_port_range="1024 65535"
  ip netns exec "$TOPO_N" sysctl -qw net.core.somaxconn=4096
  ip netns exec "$TOPO_N" "$LOAD" serve echo:15001 >"$WORK/echo.log" 2>&1 &
  PIDS="$PIDS $!"
  wait_for LISTENING "$WORK/echo.log" 50 || { echo "echo server did not start" >&2; exit 1; }
}

# start_path PATH RULES: the kernel's rules or a running xredir with them, in the node.
start_path() {
  case $1 in
    kernel)
      ip netns exec "$TOPO_N" iptables-restore <"$2" || { echo "iptables-restore failed" >&2; exit 1; }
      ;;
    xredir)
      write_xredir_config "$WORK/xredir.toml" n0 "$2" "$WORK/odst.sock" "" "$CPU"
      ip netns exec "$TOPO_N" "$XREDIR" run --config "$WORK/xredir.toml" >"$WORK/xredir.log" 2>&1 &
      DAEMON_PID=$!
      wait_for "xredir running" "$WORK/xredir.log" 300 ||
        { echo "xredir did not start:" >&2; cat "$WORK/xredir.log" >&2; exit 1; }
      ;;
  esac
}

# stop_path PATH: stops xredir (SIGTERM must exit 0) and the listener, removes the namespaces.
stop_path() {
  if [ "$1" = xredir ] && [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    local rc=$?
    [ "$rc" = 0 ] || { echo "WARNING: xredir exited $rc on SIGTERM:" >&2; tail -5 "$WORK/xredir.log" >&2; }
    DAEMON_PID=""
  fi
  cleanup
}

# short_run COUNT: one client run; prints its result line (ok/FAIL connections .. conn/s ..).
short_run() {
  ip netns exec "$TOPO_C" "$LOAD" short 203.0.113.7 443 "$1" "$THREADS"
}
field() {  # field NAME LINE: the value after NAME in a result line
  awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

declare -A COUNT RATES P50S FAILS
FAILED_ANY=0
for n in $COUNTS; do
  "$HERE/gen_prerouting_rules.sh" "$n" >"$WORK/rules-$n.v4"
  # Warm-up: 1,000 connections per path sets COUNT for ~SECS per run (at least 2,000).
  for path in kernel xredir; do
    setup_topo
    start_path "$path" "$WORK/rules-$n.v4"
    line=$(short_run 1000)
    stop_path "$path"
    rate=$(field conn/s "$line")
    COUNT[$path-$n]=$(awk -v r="${rate:-0}" -v s="$SECS" 'BEGIN { c = int(r * s); print (c < 2000 ? 2000 : c) }')
    echo "warm-up $path $n rules: $line -> $((COUNT[$path-$n])) connections per run"
  done
  for rep in $(seq "$REPS"); do
    for path in kernel xredir; do
      setup_topo
      start_path "$path" "$WORK/rules-$n.v4"
      line=$(short_run "${COUNT[$path-$n]}")
      stop_path "$path"
      echo "run $rep $path $n rules: $line"
      RATES[$path-$n]="${RATES[$path-$n]:-} $(field conn/s "$line")"
      P50S[$path-$n]="${P50S[$path-$n]:-} $(field p50_us "$line")"
      f=$(field failed "$line")
      FAILS[$path-$n]=$(( ${FAILS[$path-$n]:-0} + ${f:-1} ))
      [ "${f:-1}" = 0 ] || FAILED_ANY=1
    done
  done
done

echo
echo "new TCP connections/s through REDIRECT to a local echo listener, $THREADS client threads,"
echo "~${SECS}s per run, median of $REPS runs; $(uname -r), $(nproc) CPUs${CPU:+, xredir worker on CPU $CPU}"
printf '%-8s %12s %12s %8s %22s %14s\n' rules "kernel c/s" "xredir c/s" ratio "p50 us kernel/xredir" "failed (k/x)"
for n in $COUNTS; do
  # shellcheck disable=SC2086
  k=$(median ${RATES[kernel-$n]})
  # shellcheck disable=SC2086
  x=$(median ${RATES[xredir-$n]})
  # shellcheck disable=SC2086
  kp=$(median ${P50S[kernel-$n]})
  # shellcheck disable=SC2086
  xp=$(median ${P50S[xredir-$n]})
  printf '%-8s %12.0f %12.0f %7sx %22s %14s\n' "$n" "$k" "$x" "$(ratio "$x" "$k")" \
    "$kp/$xp" "${FAILS[kernel-$n]}/${FAILS[xredir-$n]}"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; the ratio is what compares)"
exit $FAILED_ANY
