#!/usr/bin/env bash
# proxy_odst_view.sh: short connections through xredir + xredir-proxy, the proxy's original
# destination read from xredir's shared view (the default) against the same proxy asking xredir's
# API socket for every connection (--no-odst-view, the anchor), in the same run.
#   client ns --c0/n0--> node ns: `xredir run` on n0 (config/examples/demo.rules: 203.0.113.0/24
#   REDIRECTed to 15001) and `xredir-proxy --original-dst xredir --threads PROXY_THREADS` on 15001,
#   --n1/s0--> server ns: `proxy_load serve echo:443` on 203.0.113.7.
#   client: `proxy_load short 203.0.113.7 443 COUNT THREADS` (connect, 32-byte request, echo,
#   close); conn/s and the connection's p50/p99 as the client sees them.
# One set of namespaces and one xredir for the whole run; the two proxy modes alternate within
# each repetition (view, socket, view, ...), each on a fresh proxy. Prints every run, the medians
# and the ratios view / socket.
# usage: bench/proxy_odst_view.sh [SECS] [REPS] [THREADS] [PROXY_THREADS]   (root)
#   BUILD=build-x selects the build directory (default build).
set -u
SECS=${1:-5}
REPS=${2:-5}
THREADS=${3:-4}
PROXY_THREADS=${4:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$(realpath "${BUILD:-$ROOT/build}")
XREDIR=$BUILD/src/daemon/xredir
PROXY=$BUILD/proxy/xredir-proxy
LOAD=$BUILD/tests/proxy/proxy_load
. "$ROOT/tests/e2e/topology.sh"
. "$ROOT/scripts/xredir_config.sh"
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
for b in "$XREDIR" "$PROXY" "$LOAD"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

WORK=$(mktemp -d)
PIDS=""
PROXY_PID=""
cleanup() {
  [ -n "$PROXY_PID" ] && kill -KILL "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_for() {  # wait_for PATTERN FILE [TENTHS]
  for _ in $(seq "${3:-100}"); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

topo_create || { echo "could not create the namespaces" >&2; exit 1; }
topo_add_server 203.0.113.7/32 || { echo "could not create the server namespace" >&2; exit 1; }
for ns in "$TOPO_C" "$TOPO_N"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
done
ip netns exec "$TOPO_N" sysctl -qw net.core.somaxconn=4096
ip netns exec "$TOPO_S" "$LOAD" serve echo:443 >"$WORK/server.log" 2>&1 &
PIDS="$PIDS $!"
wait_for LISTENING "$WORK/server.log" 50 || { echo "echo server did not start" >&2; exit 1; }
write_xredir_config "$WORK/xredir.toml" n0 "$ROOT/config/examples/demo.rules" "$WORK/odst.sock" ""
ip netns exec "$TOPO_N" "$XREDIR" run --config "$WORK/xredir.toml" >"$WORK/xredir.log" 2>&1 &
PIDS="$PIDS $!"
wait_for "xredir running" "$WORK/xredir.log" 300 ||
  { echo "xredir did not start:" >&2; cat "$WORK/xredir.log" >&2; exit 1; }

# run_mode MODE COUNT: a fresh proxy (view: default; socket: --no-odst-view), one client run;
# prints the client's result line and the proxy's answer counts by source.
run_mode() {
  local extra=()
  [ "$1" = socket ] && extra=(--no-odst-view)
  ip netns exec "$TOPO_N" "$PROXY" --listen 0.0.0.0:15001 --original-dst xredir \
    --odst-socket "$WORK/odst.sock" --threads "$PROXY_THREADS" --log-level warn \
    --metrics 127.0.0.1:9911 "${extra[@]}" \
    >"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  for _ in $(seq 100); do
    [ -n "$(ip netns exec "$TOPO_N" ss -ltnH 'sport = :15001')" ] && break
    sleep 0.05
  done
  local result answers
  result=$(ip netns exec "$TOPO_C" "$LOAD" short 203.0.113.7 443 "$2" "$THREADS")
  # Where the proxy's answers came from, so that each mode is seen to be what it claims.
  answers=$(ip netns exec "$TOPO_N" curl -sf --max-time 3 http://127.0.0.1:9911/metrics |
    awk -F'[ "]' '/^xredir_proxy_original_dst_answers_total/ { printf "%s %s ", $2, $4 }')
  echo "$result answers: $answers"
  kill -TERM "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null
  PROXY_PID=""
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

line=$(run_mode socket 1000)
rate=$(field conn/s "$line")
COUNT=$(awk -v r="${rate:-0}" -v s="$SECS" 'BEGIN { c = int(r * s); print (c < 2000 ? 2000 : c) }')
echo "warm-up: $line -> $COUNT connections per run"
declare -A RATES P50 P99
FAILED=0
for rep in $(seq "$REPS"); do
  for mode in view socket; do
    line=$(run_mode "$mode" "$COUNT")
    echo "run $rep $mode: $line"
    RATES[$mode]="${RATES[$mode]:-} $(field conn/s "$line")"
    P50[$mode]="${P50[$mode]:-} $(field p50_us "$line")"
    P99[$mode]="${P99[$mode]:-} $(field p99_us "$line")"
    [ "$(field failed "$line")" = 0 ] || FAILED=1
  done
done
echo
echo "short connections through xredir + xredir-proxy ($PROXY_THREADS proxy thread(s), $THREADS client"
echo "threads, ~${SECS}s per run, median of $REPS); $(uname -r), $(nproc) CPUs"
printf '%-28s %12s %12s %8s\n' "" view socket "view/socket"
# shellcheck disable=SC2086
for m in conn/s p50_us p99_us; do
  case $m in conn/s) a=$(median ${RATES[view]}); b=$(median ${RATES[socket]});;
    p50_us) a=$(median ${P50[view]}); b=$(median ${P50[socket]});;
    p99_us) a=$(median ${P99[view]}); b=$(median ${P99[socket]});; esac
  printf '%-28s %12s %12s %7sx\n' "$m" "$a" "$b" "$(ratio "$a" "$b")"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $FAILED
