#!/usr/bin/env bash
# daemon_e2e.sh: the real daemon, `xredir run --config FILE`, end to end (suite e2e, root).
#   client ns --c0/n0--> node ns: xredir on n0 (+ the xr0/xr1 pair it makes), xredir-relay on the
#   proxy addresses :15001 (asks the original-destination API), a UDP "DNS" answering on :15053,
#   a load_client server on the node's own addresses :8080 --n1/s0--> server ns: load_client
#   servers on 203.0.113.7 and 2001:db8:77::7 (ports 443, 8443, 8080): the original destinations.
# Cases (each asserts what it names):
#   start-up failures: no such interface, a second instance on the same interface -> one line,
#     non-zero exit, the running instance unharmed;
#   load: 256 concurrent TCP connections to 203.0.113.7:443 redirected through the AF_XDP path to
#     the relay and on to the original destination, bytes checked both ways at the server
#     (upload) and the client (download), 64 MiB in all, plus 8 MiB bulk connections; the
#     server sees the relay (10.77.2.1) as peer and its own address as local;
#   IPv6 ([rules] ipv6): the same through [2001:db8:77::7]:443;
#   not matching: 203.0.113.7:8080 (forwarded by the kernel: the server sees the client) and the
#     node's own :8080, both families;
#   UDP: DNS-like exchanges to 203.0.113.7:53 and [2001:db8:77::7]:53 answered by the proxy :15053;
#   SIGHUP: transfers running across two reloads complete intact; a valid new rules file (adds
#     a REDIRECT of :8443) makes new :8443 connections redirected; a malformed one is refused
#     with file:line:col in the log and the previous rules stay in force;
#   metrics: GET /metrics is Prometheus text with non-zero packet counters, conntrack entries,
#     rule hits (each REDIRECT rule's own counter at least the connections the relay got, the
#     counters restarted by the reload, none for a jump), and the reload counters (1 success,
#     1 failure);
#   shared original-destination view: entries while transfers run, one view per relay, and
#     once the relays have it, redirected connections cause no query to the API server;
#   SIGTERM: exit 0; no XDP program on n0 (ip link, bpftool net) and the programs unloaded, no
#     xr0/xr1, no ip rule or route of table 7877 (both families), API socket removed,
#     nothing new in /run/xredir, sysctls as before; traffic then flows through the kernel;
#   SIGKILL: traffic between client and node that is not redirected keeps flowing, including
#     during a transfer that spans the kill (fail-open); the next start either cleans up and
#     redirects, or reports the leftover in one line naming the clean-up, which then works.
# usage: daemon_e2e.sh XREDIR XREDIR_RELAY LOAD_CLIENT TCP_ECHO_PY
set -u
XREDIR=$1
RELAY=$2
LOAD=$3
ECHO_PY=$4
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/topology.sh"
. "$HERE/check.sh"
topo_require_root

WORK=$(mktemp -d)
DAEMON_PID=""
PIDS=""   # servers, relays: killed at the end
# Background processes are started with a plain `ip netns exec` (which execs), never through a
# shell function, so that $! is the process itself: a process left in a deleted namespace keeps
# that namespace alive.
cleanup() {
  [ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  for pid in $PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cx() { ip netns exec "$TOPO_C" "$@"; }
nx() { ip netns exec "$TOPO_N" "$@"; }
wait_for() {  # wait_for PATTERN FILE [TENTHS]
  for _ in $(seq "${3:-100}"); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

MB=$((1024 * 1024))
KB=1024
ORIG4=203.0.113.7
ORIG6=2001:db8:77::7
RELAY_PEER4=10.77.2.1      # the node's address towards the server: the relay's upstream source
RELAY_PEER6=fd00:77:2::1
CLIENT4=10.77.1.1
CLIENT6=fd00:77:1::1

# ---- namespaces: the shared client/node pair plus a server namespace behind the node
topo_create || { echo "FAIL: could not create the namespaces"; exit 1; }
sx() { ip netns exec "$TOPO_S" "$@"; }
topo_add_server "$ORIG4/32" "$ORIG6/128" ||
  { echo "FAIL: could not create the server namespace"; exit 1; }
echo "namespaces: $TOPO_C $TOPO_N $TOPO_S"

start_bg() {  # start_bg NAME NS READY_PATTERN CMD...: background process, waits for its line
  local name=$1 ns=$2 ready=$3; shift 3
  ip netns exec "$ns" "$@" >"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS="$PIDS $LAST_PID"
  wait_for "$ready" "$WORK/$name.log" 50 && return 0
  echo "$name did not start:"; cat "$WORK/$name.log"; return 1
}
stop_pids() { for pid in "$@"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done; }

start_bg server "$TOPO_S" LISTENING "$LOAD" serve $ORIG4:443 $ORIG4:8443 $ORIG4:8080 \
  "[$ORIG6]:443" "[$ORIG6]:8080" || exit 1
start_bg nodesrv "$TOPO_N" LISTENING "$LOAD" serve 10.77.1.2:8080 "[fd00:77:1::2]:8080" || exit 1

# ---- configuration and rules
rules_v4() {  # rules_v4 [EXTRA_RULE...]
  printf '%s\n' '*nat' ':PREROUTING ACCEPT [0:0]' ':INPUT ACCEPT [0:0]' ':OUTPUT ACCEPT [0:0]' \
    ':POSTROUTING ACCEPT [0:0]' ':XR_IN - [0:0]' \
    '-A PREROUTING -i n0 -j XR_IN' \
    '-A XR_IN -p tcp --dport 443 -j REDIRECT --to-ports 15001' \
    '-A XR_IN -p udp --dport 53 -j REDIRECT --to-ports 15053' "$@" 'COMMIT'
}
rules_v4 >"$WORK/rules.v4"
cat >"$WORK/rules.v6" <<'R6'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i n0 -d 2001:db8:77::/64 -p tcp --dport 443 -j REDIRECT --to-ports 15001
-A PREROUTING -i n0 -d 2001:db8:77::/64 -p udp --dport 53 -j REDIRECT --to-ports 15053
COMMIT
R6
write_config() {  # write_config FILE IFACE API_SOCKET METRICS_LISTEN
  cat >"$1" <<TOML
[capture]
interfaces = ["$2"]
[rules]
ipv4 = "rules.v4"
ipv6 = "rules.v6"
[api]
socket = "$3"
[metrics]
listen = "$4"
TOML
}
write_config "$WORK/xredir.toml" n0 "$WORK/odst.sock" 127.0.0.1:9477
API_SOCK="$WORK/odst.sock"

# one_line_failure NAME RC OUTPUT PATTERN: a start-up failure is one line and a non-zero exit.
one_line_failure() {
  local name=$1 rc=$2 out=$3 pattern=$4
  local lines
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && printf '%s' "$out" | grep -q -- "$pattern"; then
    pass "$name: exit $rc, one line: $out"
  else
    fail "$name: exit $rc, $lines line(s), expected /$pattern/: $out"
  fi
}

# ---- start-up failure: no such interface
write_config "$WORK/nosuch.toml" nosuch0 "$WORK/nosuch.sock" 127.0.0.1:9478
out=$(nx timeout 20 "$XREDIR" run --config "$WORK/nosuch.toml" 2>&1); rc=$?
one_line_failure "start-up: no such interface" $rc "$out" "no such interface: nosuch0"

# ---- the daemon, the relay and the UDP proxy
XDP_PROGS_BEFORE=$(nx bpftool -j net show 2>/dev/null)
SYSCTLS="net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter net.ipv4.ip_forward net.ipv6.conf.all.forwarding"
sysctls_now() { nx sysctl -n $SYSCTLS | tr '\n' ' '; }
SYSCTLS_BEFORE=$(sysctls_now)
RUN_BEFORE=$(ls -A /run/xredir 2>/dev/null | sort)
start_daemon() {  # start_daemon LOG: xredir run, waits for "xredir running"
  local log=$1
  ip netns exec "$TOPO_N" "$XREDIR" run --config "$WORK/xredir.toml" >"$log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 150); do
    grep -q "xredir running" "$log" && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "xredir did not start:"; cat "$log"
  return 1
}
start_proxies() {  # the relay on both proxy addresses and the UDP answerers; sets PROXY_PIDS
  PROXY_PIDS=""
  start_bg relay4 "$TOPO_N" listening env XREDIR_ODST_SOCKET="$API_SOCK" "$RELAY" \
    169.254.77.1:15001 || return 1
  PROXY_PIDS="$PROXY_PIDS $LAST_PID"
  start_bg relay6 "$TOPO_N" listening env XREDIR_ODST_SOCKET="$API_SOCK" "$RELAY" \
    "[fd78:7265:6469::1]:15001" || return 1
  PROXY_PIDS="$PROXY_PIDS $LAST_PID"
  start_bg udp4 "$TOPO_N" LISTENING python3 "$ECHO_PY" udpserve 169.254.77.1 15053 || return 1
  PROXY_PIDS="$PROXY_PIDS $LAST_PID"
  start_bg udp6 "$TOPO_N" LISTENING python3 "$ECHO_PY" udpserve fd78:7265:6469::1 15053 || return 1
  PROXY_PIDS="$PROXY_PIDS $LAST_PID"
}
LOG1="$WORK/xredir1.log"
start_daemon "$LOG1" || exit 1
grep -E "XDP|worker|injection" "$LOG1" | sed 's/^/  xredir: /'
start_proxies || exit 1

# ---- start-up failure: a second instance on the same interface (its own API socket and
# metrics port, so that only the interface collides)
write_config "$WORK/second.toml" n0 "$WORK/second.sock" 127.0.0.1:9479
out=$(nx timeout 20 "$XREDIR" run --config "$WORK/second.toml" 2>&1); rc=$?
one_line_failure "start-up: second instance on n0" $rc "$out" "n0"
kill -0 "$DAEMON_PID" 2>/dev/null && nx ip link show xr0 >/dev/null 2>&1 &&
  pass "the running instance is unharmed by the refused second one" ||
  fail "the refused second instance harmed the running one"

load() { cx "$LOAD" connect "$@"; }
# ---- hundreds of concurrent connections through the AF_XDP path
expect "256 concurrent redirected connections to $ORIG4:443, 128 KiB each way each, checked at the server and the client" \
  load $ORIG4 443 256 $((128 * KB)) $((128 * KB)) --timeout-s 60 \
  --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
expect "4 redirected bulk connections, 8 MiB each way each" \
  load $ORIG4 443 4 $((8 * MB)) $((8 * MB)) --timeout-s 60 \
  --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
n_relayed=$(grep -c -- "-> $ORIG4:443\$" "$WORK/relay4.log")
[ "$n_relayed" -ge 260 ] && pass "the relay got the original destination $ORIG4:443 from the API for $n_relayed connections" ||
  fail "the relay reported $ORIG4:443 for $n_relayed connections, expected 260: $(grep -v -- "-> $ORIG4:443\$" "$WORK/relay4.log" | head -3)"

# ---- IPv6 through the daemon
expect "IPv6: 64 concurrent redirected connections to [$ORIG6]:443, 256 KiB each way each" \
  load $ORIG6 443 64 $((256 * KB)) $((256 * KB)) --timeout-s 60 \
  --expect-local "[$ORIG6]:443" --expect-peer $RELAY_PEER6
grep -q -- "-> \[$ORIG6\]:443\$" "$WORK/relay6.log" && pass "IPv6: the relay got [$ORIG6]:443 from the API" ||
  fail "IPv6: the relay log has no [$ORIG6]:443: $(head -3 "$WORK/relay6.log")"

# ---- traffic that no rule matches is left to the kernel
expect "not matching: $ORIG4:8080 forwarded by the kernel (the server sees the client), 32 connections" \
  load $ORIG4 8080 32 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:8080 --expect-peer $CLIENT4
expect "not matching: [$ORIG6]:8080 forwarded by the kernel" \
  load $ORIG6 8080 8 $((256 * KB)) $((256 * KB)) --expect-local "[$ORIG6]:8080" --expect-peer $CLIENT6
expect "not matching: the node's own 10.77.1.2:8080" \
  load 10.77.1.2 8080 8 $MB $MB --expect-local 10.77.1.2:8080 --expect-peer $CLIENT4

# ---- UDP through the daemon
expect "UDP: 20 DNS-like exchanges with $ORIG4:53 answered by the proxy :15053" \
  cx python3 "$ECHO_PY" udpcheck $ORIG4 53 20 15053
expect "UDP IPv6: 20 DNS-like exchanges with [$ORIG6]:53 answered by the proxy :15053" \
  cx python3 "$ECHO_PY" udpcheck $ORIG6 53 20 15053

# ---- SIGHUP reload during transfers
metrics() { nx curl -s -m 5 -D "$WORK/metrics.head" http://127.0.0.1:9477/metrics; }
metric() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
# Long transfers (6 s, paced) on both a redirected and a kernel-forwarded port.
cx "$LOAD" connect $ORIG4 443 16 $((4 * MB)) $((4 * MB)) --duration-ms 6000 --timeout-s 60 \
  --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4 >"$WORK/long443.out" 2>&1 &
LONG443=$!
cx "$LOAD" connect $ORIG4 8443 16 $((4 * MB)) $((4 * MB)) --duration-ms 6000 --timeout-s 60 \
  --expect-local $ORIG4:8443 --expect-peer $CLIENT4 >"$WORK/long8443.out" 2>&1 &
LONG8443=$!
sleep 1.5
# Connections the relay got before the scrape: each one's first packet was counted before it.
relayed4_during=$(grep -c -- "-> $ORIG4:443\$" "$WORK/relay4.log")
relayed6_during=$(grep -c -- "-> \[$ORIG6\]:443\$" "$WORK/relay6.log")
metrics >"$WORK/metrics.during" || fail "GET /metrics during the transfers failed"
# A new valid rules file replaces the old one atomically (rename), as a config manager would.
rules_v4 '-A XR_IN -p tcp --dport 8443 -j REDIRECT --to-ports 15001' >"$WORK/rules.v4.new"
mv "$WORK/rules.v4.new" "$WORK/rules.v4"
kill -HUP "$DAEMON_PID"
if wait_for "rules reloaded" "$LOG1" 50; then pass "SIGHUP: a valid new rules file is loaded"
else fail "SIGHUP: no 'rules reloaded' in the log: $(tail -2 "$LOG1")"; fi
expect "after the reload new connections to :8443 are redirected" \
  load $ORIG4 8443 8 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:8443 --expect-peer $RELAY_PEER4
# A malformed file: the REDIRECT on line 9 has an unknown option.
rules_v4 '-A XR_IN -p tcp --dport 8443 -j REDIRECT --to-ports 15001' \
  '-A XR_IN -p tcp --dport 9443 -j REDIRECT --to-ports 15001 --no-such-option' >"$WORK/rules.v4.bad"
bad_line=$(grep -n -- --no-such-option "$WORK/rules.v4.bad" | cut -d: -f1)
mv "$WORK/rules.v4.bad" "$WORK/rules.v4"
sleep 0.5
kill -HUP "$DAEMON_PID"
if wait_for "reload refused" "$LOG1" 50; then
  refused=$(grep "reload refused" "$LOG1")
  if echo "$refused" | grep -qE "rules\.v4:$bad_line:[0-9]+: "; then
    pass "SIGHUP: the malformed file is refused with file:line:col ($(echo "$refused" | sed 's/.*stay: //'))"
  else
    fail "SIGHUP: refusal without rules.v4:$bad_line:COL: $refused"
  fi
else
  fail "SIGHUP: the malformed file was not refused: $(tail -2 "$LOG1")"
fi
kill -0 "$DAEMON_PID" 2>/dev/null && pass "the daemon survives a refused reload" ||
  fail "the daemon died on a refused reload"
expect "the previous rules stay in force: :8443 still redirected" \
  load $ORIG4 8443 8 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:8443 --expect-peer $RELAY_PEER4
expect "the previous rules stay in force: :443 still redirected" \
  load $ORIG4 443 8 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
wait $LONG443; rc=$?
[ $rc -eq 0 ] && pass "16 redirected :443 transfers across both reloads completed intact ($(cat "$WORK/long443.out"))" ||
  fail "redirected transfers across the reloads: $(cat "$WORK/long443.out")"
wait $LONG8443; rc=$?
[ $rc -eq 0 ] && pass "16 kernel-forwarded :8443 transfers begun before the reload stayed on their path, intact ($(cat "$WORK/long8443.out"))" ||
  fail "kernel-forwarded transfers across the reloads: $(cat "$WORK/long8443.out")"

# ---- metrics
relayed8443_after=$(grep -c -- "-> $ORIG4:8443\$" "$WORK/relay4.log")
metrics >"$WORK/metrics.after" || fail "GET /metrics failed"
head -1 "$WORK/metrics.head" | grep -q " 200" && grep -qi "^content-type: text/plain; version=0.0.4" "$WORK/metrics.head" &&
  pass "GET /metrics: 200, Prometheus text content type" ||
  fail "GET /metrics headers: $(tr '\r\n' '  ' <"$WORK/metrics.head")"
bad=$(grep -vE '^(# (HELP|TYPE) [a-z_:][a-z0-9_:]* .+|[a-z_:][a-z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+)$' "$WORK/metrics.after" | head -3)
[ -z "$bad" ] && [ -s "$WORK/metrics.after" ] && pass "every metrics line is Prometheus text ($(grep -vc '^#' "$WORK/metrics.after") samples)" ||
  fail "lines that are not Prometheus text: $bad"
positive() {  # positive NAME FILE WHAT
  local v; v=$(metric "$1" "$2")
  awk -v v="${v:-0}" 'BEGIN { exit !(v > 0) }' && pass "metrics: $3 ($1 $v)" || fail "metrics: $3: $1 is '${v:-absent}'"
}
positive xredir_rx_frames_total "$WORK/metrics.after" "frames received"
positive xredir_tx_frames_total "$WORK/metrics.after" "frames sent"
positive xredir_new_flows_total "$WORK/metrics.after" "connections tracked"
positive xredir_conntrack_entries "$WORK/metrics.during" "conntrack entries while transfers run"
positive xredir_odst_view_entries "$WORK/metrics.during" "translated connections in the shared original-destination view while transfers run"
positive xredir_odst_views_sent_total "$WORK/metrics.after" "shared views handed to the relays"
[ "$(metric xredir_odst_view_publish_full_total "$WORK/metrics.after")" = 0 ] &&
  pass "metrics: no connection left out of the shared view" ||
  fail "metrics: xredir_odst_view_publish_full_total is '$(metric xredir_odst_view_publish_full_total "$WORK/metrics.after")'"
# The relays (libxredir-odst) have their view mapped by now: new redirected connections are
# answered in the relay's own thread, and not one question reaches the API server.
q_before=$(metric xredir_odst_queries_total "$WORK/metrics.after")
relayed_before=$(grep -c -- "-> $ORIG4:443\$" "$WORK/relay4.log")
expect "shared view: 16 redirected connections to $ORIG4:443" \
  load $ORIG4 443 16 $((64 * KB)) $((64 * KB)) --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
metrics >"$WORK/metrics.view" || fail "GET /metrics failed"
q_after=$(metric xredir_odst_queries_total "$WORK/metrics.view")
relayed_after=$(grep -c -- "-> $ORIG4:443\$" "$WORK/relay4.log")
if [ -n "$q_before" ] && [ "$q_before" = "$q_after" ] && [ $((relayed_after - relayed_before)) -ge 16 ]; then
  pass "shared view: the relay got $((relayed_after - relayed_before)) original destinations with no query to the API server (queries stayed $q_before)"
else
  fail "shared view: API queries went from '$q_before' to '$q_after' while the relay reported $((relayed_after - relayed_before)) destinations"
fi
# Rule hits: new connections per deciding rule (1-based position in its chain, or policy). The
# counters belong to a rule generation: the reload between the two scrapes restarts them.
hit() {  # hit FAMILY CHAIN RULE FILE
  metric "xredir_rule_hits_total{family=\"$1\",table=\"nat\",chain=\"$2\",rule=\"$3\"}" "$4"
}
at_least() {  # at_least WHAT VALUE MIN: VALUE present and >= MIN (MIN > 0)
  if [ -n "$2" ] && [ "$3" -gt 0 ] && [ "$2" -ge "$3" ]; then pass "metrics: $1 ($2 >= $3)"
  else fail "metrics: $1: '${2:-absent}', expected >= $3 (> 0)"; fi
}
h443=$(hit ipv4 XR_IN 1 "$WORK/metrics.during")
at_least "the :443 REDIRECT rule (XR_IN 1) counts every connection the relay got" \
  "$h443" "$relayed4_during"
at_least "IPv6: the :443 REDIRECT rule (PREROUTING 1) counts every connection the relay got" \
  "$(hit ipv6 PREROUTING 1 "$WORK/metrics.during")" "$relayed6_during"
at_least "the udp :53 REDIRECT rule (XR_IN 2) counts the DNS-like flow" \
  "$(hit ipv4 XR_IN 2 "$WORK/metrics.during")" 1
new_flows=$(metric xredir_new_flows_total "$WORK/metrics.during")
refused_flows=$(metric xredir_conntrack_refused_total "$WORK/metrics.during")
flows=$(( ${new_flows:-0} + ${refused_flows:-0} ))
[ -n "$h443" ] && [ "$h443" -le "$flows" ] && pass "metrics: each rule hit is one new flow ($h443 <= $flows)" ||
  fail "metrics: XR_IN 1 has $h443 hits, more than the $flows new flows"
grep -q '^xredir_rule_hits_total{family="ipv4",table="nat",chain="PREROUTING",rule="1"}' "$WORK/metrics.during" &&
  fail "metrics: the jump PREROUTING 1 -> XR_IN has a hit counter (a jump decides nothing)" ||
  pass "metrics: no hit counter for the jump PREROUTING 1 -> XR_IN"
h8443=$(hit ipv4 XR_IN 3 "$WORK/metrics.after")
at_least "after the reload, its new :8443 REDIRECT (XR_IN 3) counts every :8443 connection the relay got (16 expected)" \
  "$h8443" "$(( relayed8443_after >= 16 ? relayed8443_after : 16 ))"
h443_after=$(hit ipv4 XR_IN 1 "$WORK/metrics.after")
if [ -n "$h443_after" ] && [ "$h443_after" -ge 8 ] && [ "$h443_after" -lt "${h443:-0}" ]; then
  pass "metrics: the reload started new counters: XR_IN 1 has $h443_after (the 8 connections since), $h443 before"
else
  fail "metrics: XR_IN 1 after the reload: '${h443_after:-absent}', expected >= 8 and < $h443 (counters restart with a generation)"
fi
[ "$(metric xredir_rule_reloads_total "$WORK/metrics.after")" = 1 ] &&
  [ "$(metric xredir_rule_reload_failures_total "$WORK/metrics.after")" = 1 ] &&
  pass "metrics: reloads 1, reload failures 1" ||
  fail "metrics: reloads $(metric xredir_rule_reloads_total "$WORK/metrics.after"), failures $(metric xredir_rule_reload_failures_total "$WORK/metrics.after"), expected 1 and 1"
drops=$(grep -E '^xredir_drops_total' "$WORK/metrics.after" | tr '\n' ' ')
echo "  metrics: $drops"

# ---- SIGTERM: exit 0 and nothing left behind
prog_ids=$(nx bpftool -j net show | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(" ".join(sorted({str(p["id"]) for e in d for x in e.get("xdp", []) for p in ([x] if "id" in x else x.get("progs", []))})))')
[ -n "$prog_ids" ] && pass "XDP programs attached while running: ids $prog_ids" ||
  fail "bpftool net shows no XDP program while xredir runs: $(nx bpftool net show)"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?; DAEMON_PID=""
[ $rc -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc: $(tail -3 "$LOG1")"
stop_pids $PROXY_PIDS
nx ip link show n0 | grep -q xdp && fail "SIGTERM: XDP program left on n0: $(nx ip link show n0)" ||
  pass "SIGTERM: no XDP program on n0 (ip link)"
[ "$(nx bpftool -j net show)" = "$XDP_PROGS_BEFORE" ] && pass "SIGTERM: bpftool net shows what it showed before the start" ||
  fail "SIGTERM: bpftool net: $(nx bpftool net show)"
left=""
for id in $prog_ids; do bpftool prog show id "$id" >/dev/null 2>&1 && left="$left $id"; done
[ -z "$left" ] && pass "SIGTERM: programs $prog_ids unloaded" || fail "SIGTERM: programs still loaded:$left"
nx ip link show xr0 >/dev/null 2>&1 || nx ip link show xr1 >/dev/null 2>&1 &&
  fail "SIGTERM: injection pair left: $(nx ip -br link)" || pass "SIGTERM: no xr0/xr1"
for fam in -4 -6; do
  r=$(nx ip $fam rule | grep 7877); rt=$(nx ip $fam route show table 7877 2>/dev/null)
  [ -z "$r$rt" ] && pass "SIGTERM: no ip $fam rule or route of table 7877" ||
    fail "SIGTERM: ip $fam table 7877 left: $r $rt"
done
[ ! -e "$API_SOCK" ] && pass "SIGTERM: API socket removed" || fail "SIGTERM: API socket $API_SOCK left"
[ "$(sysctls_now)" = "$SYSCTLS_BEFORE" ] && pass "SIGTERM: sysctls as before ($SYSCTLS_BEFORE)" ||
  fail "SIGTERM: sysctls changed: before '$SYSCTLS_BEFORE' after '$(sysctls_now)'"
run_now=$(ls -A /run/xredir 2>/dev/null | sort)
new_files=$(comm -13 <(echo "$RUN_BEFORE") <(echo "$run_now") | grep .)
[ -z "$new_files" ] && pass "SIGTERM: nothing new left in /run/xredir (no lock file)" ||
  fail "SIGTERM: left in /run/xredir: $new_files"
grep -q "stopped" "$LOG1" && pass "SIGTERM: logged its stop ($(grep stopped "$LOG1" | sed 's/.*\] //'))" ||
  fail "SIGTERM: no stop line: $(tail -2 "$LOG1")"
expect "after SIGTERM :443 goes through the kernel untouched (the server sees the client)" \
  load $ORIG4 443 4 $MB $MB --expect-local $ORIG4:443 --expect-peer $CLIENT4

# ---- SIGKILL: fail-open, then the next start
rules_v4 >"$WORK/rules.v4"
LOG2="$WORK/xredir2.log"
if start_daemon "$LOG2" && start_proxies; then
  pass "a restart after SIGTERM starts cleanly"
  expect "after the restart :443 is redirected again" \
    load $ORIG4 443 16 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
  cx "$LOAD" connect 10.77.1.2 8080 4 $((4 * MB)) $((4 * MB)) --duration-ms 3000 --timeout-s 30 \
    --expect-local 10.77.1.2:8080 --expect-peer $CLIENT4 >"$WORK/span.out" 2>&1 &
  SPAN=$!
  sleep 1
  kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
  stop_pids $PROXY_PIDS
  wait $SPAN && pass "SIGKILL: client<->node transfers spanning the kill completed intact ($(cat "$WORK/span.out"))" ||
    fail "SIGKILL: transfers spanning the kill: $(cat "$WORK/span.out")"
  expect "SIGKILL: new client<->node connections flow (fail-open)" \
    load 10.77.1.2 8080 16 $MB $MB --expect-local 10.77.1.2:8080 --expect-peer $CLIENT4
  expect "SIGKILL: IPv6 client<->node connections flow" \
    load fd00:77:1::2 8080 4 $MB $MB --expect-local "[fd00:77:1::2]:8080" --expect-peer $CLIENT6
  expect "SIGKILL: forwarded traffic to $ORIG4:8080 flows" \
    load $ORIG4 8080 4 $MB $MB --expect-local $ORIG4:8080 --expect-peer $CLIENT4
  expect "SIGKILL: ICMP to the node answered" cx python3 "$ECHO_PY" ping 10.77.1.2 3
  expect "SIGKILL: a redirected port fails open to the kernel (the server sees the client)" \
    load $ORIG4 443 4 $MB $MB --expect-local $ORIG4:443 --expect-peer $CLIENT4
  echo "  after SIGKILL n0 has: $(nx ip -d link show n0 | grep -o 'prog/xdp id [0-9]*' | head -1)"
  # The next start either refuses in one clear line naming the leftover, or cleans it and works.
  LOG3="$WORK/xredir3.log"
  ip netns exec "$TOPO_N" timeout 20 "$XREDIR" run --config "$WORK/xredir.toml" >"$LOG3" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 150); do
    grep -q "xredir running" "$LOG3" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q "xredir running" "$LOG3"; then
    start_proxies || fail "proxies after the restart"
    expect "the start after SIGKILL cleaned the leftover and redirects again" \
      load $ORIG4 443 8 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
    kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""
  else
    wait "$DAEMON_PID"; rc=$?; DAEMON_PID=""
    out=$(grep -E "\[(error|critical)\]" "$LOG3")
    one_line_failure "the start after SIGKILL reports the leftover" $rc "$out" "leftover.*xdp off"
    errors=$(grep -c "\[error\]" "$LOG3")
    [ "$errors" -eq 1 ] || fail "the start after SIGKILL logged $errors error lines: $(cat "$LOG3")"
    # The remedy the line names works: after it, xredir starts and redirects again.
    nx ip link set dev n0 xdp off
    nx ip link del xr0
    for fam in -4 -6; do while nx ip $fam rule del lookup 7877 2>/dev/null; do :; done; done
    LOG4="$WORK/xredir4.log"
    if start_daemon "$LOG4" && start_proxies; then
      expect "after the named clean-up xredir starts and redirects again" \
        load $ORIG4 443 8 $((256 * KB)) $((256 * KB)) --expect-local $ORIG4:443 --expect-peer $RELAY_PEER4
      kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || fail "SIGTERM after the clean-up: exit $?"
      DAEMON_PID=""
      stop_pids $PROXY_PIDS
    else
      fail "xredir did not start after the named clean-up: $(tail -2 "$LOG4")"
    fi
  fi
else
  fail "a restart after SIGTERM did not start: $(tail -3 "$LOG2")"
fi

stop_pids $PIDS; PIDS=""
topo_destroy
left=$(topo_leftovers)
[ -z "$left" ] && pass "namespaces removed" || fail "namespaces left: $left"

check_finish
