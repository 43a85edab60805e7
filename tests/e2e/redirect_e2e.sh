#!/usr/bin/env bash
# redirect_e2e.sh: real TCP connections through the AF_XDP datapath (suite e2e, root).
# TOPO_QUEUES=N runs it on N-queue veths (one worker per queue).
#   client ns --c0/n0 veth--> node ns: redirect_node (XDP on n0 and xr0, AF_XDP workers,
#   FixedRedirectProcessor: dport 443 -> proxy :15001) + tcp_echo.py listening on 15001 and 8080.
# Asserts: connections to 203.0.113.7:443 and [2001:db8:77::7]:443 land on the proxy listener
# (169.254.77.1 / fd78:7265:6469::1 port 15001) with megabytes echoed intact; 32 concurrent
# ones too; non-matching traffic (node:8080, ping) is untouched and reaches the kernel (the
# first packet given back, later ones kept in the kernel by the pass-through map); a second
# instance on the same interface refuses to start; SIGTERM removes the XDP programs, the
# injection pair and the policy rules; after SIGKILL traffic still flows (fail-open) and a
# restart refuses clearly; the namespaces are gone at the end.
# The engine run (conntrack + rules) also asserts the fast path: established flows carried by
# the XDP program, every connection put on it and taken off by its FIN, no entry left, and with
# a client veth that cannot take redirected frames, replies kept on AF_XDP with no loss.
# usage: redirect_e2e.sh REDIRECT_NODE_BINARY TCP_ECHO_PY
set -u
NODE_BIN=$1
ECHO_PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/topology.sh"
. "$HERE/check.sh"
topo_require_root

WORK=$(mktemp -d)
NODE_PID=""
SERVER_PIDS=""
# Background processes are started with a plain `ip netns exec` (which execs), never through a
# shell function, so that $! is the process itself: a process left in a deleted namespace would
# keep that namespace alive.
cleanup() {
  [ -n "$NODE_PID" ] && kill -TERM "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
  for pid in $SERVER_PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cx() { ip netns exec "$TOPO_C" "$@"; }
nx() { ip netns exec "$TOPO_N" "$@"; }

start_node() {  # start_node LOGFILE [ARGS...]: starts redirect_node, waits for READY
  local log=$1; shift
  ip netns exec "$TOPO_N" "$NODE_BIN" --iface n0 --ports 443,53 --proxy-port 15001 "$@" \
    >"$log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 100); do
    grep -q READY "$log" && return 0
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "redirect_node did not become ready:"; cat "$log"
  return 1
}
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

topo_create || { echo "FAIL: could not create the namespaces"; exit 1; }
echo "namespaces: $TOPO_C $TOPO_N"
start_server() {  # start_server NAME ARGS...: a tcp_echo.py server in the node namespace
  local log="$WORK/$1.log"; shift
  ip netns exec "$TOPO_N" python3 "$ECHO_PY" "$@" >"$log" 2>&1 &
  LAST_PID=$!
  SERVER_PIDS="$SERVER_PIDS $LAST_PID"
  for _ in $(seq 50); do grep -q LISTENING "$log" && return 0; sleep 0.1; done
  echo "server $* did not start:"; cat "$log"; return 1
}
start_server tcp serve 15001 8080 || exit 1
start_server udp_direct udpserve 10.77.1.2 5353 || exit 1

start_node "$WORK/node1.log" || exit 1
grep -E "dispatcher|XDP attached|worker\(s\)" "$WORK/node1.log" | sed 's/^/  node: /'
# The UDP "proxy" binds the proxy addresses, which exist once the injection pair is up.
start_server udp4 udpserve 169.254.77.1 15001 || exit 1
UDP_PROXY_PIDS=$LAST_PID
start_server udp6 udpserve fd78:7265:6469::1 15001 || exit 1
UDP_PROXY_PIDS="$UDP_PROXY_PIDS $LAST_PID"

MB=$((1024 * 1024))
expect "IPv4 redirect 203.0.113.7:443 -> proxy :15001, 16 MiB echoed" \
  cx python3 "$ECHO_PY" check 203.0.113.7 443 $((16 * MB)) 15001
expect "IPv6 redirect [2001:db8:77::7]:443 -> proxy :15001, 16 MiB echoed" \
  cx python3 "$ECHO_PY" check 2001:db8:77::7 443 $((16 * MB)) 15001
expect "32 concurrent redirected connections, 1 MiB each" \
  cx python3 "$ECHO_PY" check 203.0.113.7 443 $MB 15001 32
expect "non-matching TCP 10.77.1.2:8080 reaches the kernel untouched, 4 MiB echoed" \
  cx python3 "$ECHO_PY" check 10.77.1.2 8080 $((4 * MB)) 8080
expect "non-matching TCP [fd00:77:1::2]:8080 untouched" \
  cx python3 "$ECHO_PY" check fd00:77:1::2 8080 $MB 8080
expect "UDP redirect 203.0.113.7:53 -> proxy :15001, 20 DNS-like exchanges" \
  cx python3 "$ECHO_PY" udpcheck 203.0.113.7 53 20 15001
expect "UDP redirect [2001:db8:77::7]:53 -> proxy :15001" \
  cx python3 "$ECHO_PY" udpcheck 2001:db8:77::7 53 20 15001
expect "non-matching UDP 10.77.1.2:5353 untouched" \
  cx python3 "$ECHO_PY" udpcheck 10.77.1.2 5353 5 5353
expect "ICMP to the node untouched" cx python3 "$ECHO_PY" ping 10.77.1.2 3
out=$(cx python3 "$ECHO_PY" check 10.77.1.2 8080 $MB 8080 2>&1)
case "$out" in ok*" 10.77.1.2") pass "direct connection keeps its local address ($out)";;
  *) fail "direct connection: $out";; esac

# A second instance on the same capture interface must refuse, naming the reason.
second=$(nx "$NODE_BIN" --iface n0 --ports 443 --inject xs0 --proxy-if xs1 2>&1)
second_rc=$?
if [ $second_rc -ne 0 ] && echo "$second" | grep -q "already has an xredir XDP program"; then
  pass "second instance refused: $(echo "$second" | grep -o 'interface n0.*' | head -1)"
else
  fail "second instance was not refused: $second"
fi

kill -TERM "$NODE_PID"; wait "$NODE_PID"; rc=$?; NODE_PID=""
[ $rc -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
# The UDP proxies' sockets outlive the addresses they were bound to: close them for the next run.
for pid in $UDP_PROXY_PIDS; do kill "$pid"; wait "$pid" 2>/dev/null; done
sed -n '/^worker_rx/,$p' "$WORK/node1.log" | tr '\n' ' '; echo
[ "$(stat_of worker_drops "$WORK/node1.log")" = 0 ] && pass "no frame dropped by the workers" \
  || fail "workers dropped $(stat_of worker_drops "$WORK/node1.log") frames"
tk=$(stat_of worker_to_kernel "$WORK/node1.log")
[ "${tk:-0}" -ge 2 ] && pass "first packets of untranslated flows given back to the kernel ($tk)" \
  || fail "expected frames given back to the kernel, got '$tk'"
pf=$(stat_of xdp_pass_flow "$WORK/node1.log")
[ "${pf:-0}" -gt 100 ] && pass "later packets of untranslated flows stayed in the kernel ($pf)" \
  || fail "pass-through map unused: xdp_pass_flow=$pf"
nx ip link show n0 | grep -q "xdp" && fail "XDP program left on n0" || pass "no XDP program left on n0"
nx ip link show xr0 >/dev/null 2>&1 && fail "injection pair left behind" || pass "injection pair removed"
nx ip rule | grep -q "lookup 7877" && fail "ip rule left behind" || pass "IPv4 policy rules removed"
nx ip -6 rule | grep -q "lookup 7877" && fail "ip -6 rule left behind" || pass "IPv6 policy rules removed"
expect "traffic flows after teardown" cx python3 "$ECHO_PY" check 10.77.1.2 8080 $MB 8080

# The same loop through the real engine: conntrack step + compiled iptables-save rules, with
# the fast path on (established flows rewritten and redirected by the XDP program). GRO on c0
# gives it NAPI, which the kernel needs to accept frames redirected into n0 (src/xdp/README.md).
cx ethtool -K c0 gro on >/dev/null
start_node "$WORK/node3.log" --rules "$HERE/redirect_rules.v4" || exit 1
start_server udp4e udpserve 169.254.77.1 15001 || exit 1
expect "engine: IPv4 REDIRECT 203.0.113.7:443 -> proxy :15001, 16 MiB echoed" \
  cx python3 "$ECHO_PY" check 203.0.113.7 443 $((16 * MB)) 15001
expect "engine: 32 concurrent redirected connections" \
  cx python3 "$ECHO_PY" check 203.0.113.7 443 $MB 15001 32
expect "engine: UDP REDIRECT 203.0.113.7:53 -> proxy :15001" \
  cx python3 "$ECHO_PY" udpcheck 203.0.113.7 53 20 15001
expect "engine: non-matching TCP 10.77.1.2:8080 untouched" \
  cx python3 "$ECHO_PY" check 10.77.1.2 8080 $((4 * MB)) 8080
# The proxy's side of fast-path flows is carried at tc egress of xr1 (src/xdp/reply_fast.bpf.c),
# GSO packets whole, their partial checksums updated. With n0 made to segment and checksum in
# software, the client's stack verifies every checksum the rewrite produced.
nx tc filter show dev xr1 egress | grep -q "name xredir_tc_reply" \
  && pass "engine: the proxy side's fast path is attached at tc egress of xr1" \
  || fail "engine: no fast-path tc program on xr1 egress: $(nx tc filter show dev xr1 egress)"
nx ethtool -K n0 tx off tso off gso off sg off >/dev/null
cx nstat -n
expect "engine: 16 MiB echoed with n0 checksumming in software" \
  cx python3 "$ECHO_PY" check 203.0.113.7 443 $((16 * MB)) 15001
csum_errors=$(cx nstat -az TcpInCsumErrors | awk '$1 == "TcpInCsumErrors" { print $2 }')
[ "${csum_errors:-x}" = 0 ] && pass "engine: no TCP checksum error at the client" \
  || fail "engine: client saw '$csum_errors' TCP checksum errors"
nx ethtool -K n0 tx on tso on gso on sg on >/dev/null
kill -TERM "$NODE_PID"; wait "$NODE_PID"; rc=$?; NODE_PID=""
[ $rc -eq 0 ] && pass "engine: SIGTERM exit 0" || fail "engine: SIGTERM exit $rc"
sed -n '/^engine_unparsable/,$p' "$WORK/node3.log" | tr '\n' ' '; echo
[ "$(stat_of worker_drops "$WORK/node3.log")" = 0 ] && pass "engine: no frame dropped" \
  || fail "engine: workers dropped $(stat_of worker_drops "$WORK/node3.log") frames"
fp=$(stat_of xdp_fast_path "$WORK/node3.log"); rx3=$(stat_of worker_rx "$WORK/node3.log")
[ "${fp:-0}" -gt 1000 ] && pass "engine: fast path carried $fp packets (AF_XDP workers saw $rx3)" \
  || fail "engine: fast path unused: xdp_fast_path=$fp"
fi3=$(stat_of engine_fast_installed "$WORK/node3.log")
fr3=$(stat_of engine_fast_removed "$WORK/node3.log")
[ "${fi3:-0}" -ge 33 ] && [ "${fr3:-0}" -ge "${fi3:-0}" ] \
  && pass "engine: $fi3 connections put on the fast path, FIN/RST removals: $fr3" \
  || fail "engine: fast path installs $fi3 / FIN removals $fr3 (expected >= 33, removals >= installs)"
[ "$(stat_of engine_fast_entries_left "$WORK/node3.log")" = 0 ] \
  && pass "engine: no fast-path entry left after the connections closed" \
  || fail "engine: $(stat_of engine_fast_entries_left "$WORK/node3.log") fast-path entries left"

# With GRO off on c0, n0 cannot take redirected frames: the replies must stay on the AF_XDP
# path (the fast path asks the kernel before installing), and transfers keep working.
cx ethtool -K c0 gro off >/dev/null
start_node "$WORK/node4.log" --rules "$HERE/redirect_rules.v4" || exit 1
expect "engine, c0 without NAPI: 8 MiB echoed, client->proxy on the fast path only" \
  cx python3 "$ECHO_PY" check 203.0.113.7 443 $((8 * MB)) 15001
kill -TERM "$NODE_PID"; wait "$NODE_PID"; rc=$?; NODE_PID=""
[ $rc -eq 0 ] && pass "engine, c0 without NAPI: SIGTERM exit 0" || fail "engine (no NAPI): exit $rc"
fp4=$(stat_of xdp_fast_path "$WORK/node4.log")
[ "${fp4:-0}" -gt 100 ] && [ "$(stat_of worker_drops "$WORK/node4.log")" = 0 ] \
  && pass "engine, c0 without NAPI: fast path carried $fp4 packets one way, no drop" \
  || fail "engine, c0 without NAPI: xdp_fast_path=$fp4 drops=$(stat_of worker_drops "$WORK/node4.log")"

# SIGKILL: no teardown ran. The program stays attached but its sockets are gone: fail-open.
start_node "$WORK/node2.log" || exit 1
kill -KILL "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=""
expect "after SIGKILL, node traffic flows (fail-open)" \
  cx python3 "$ECHO_PY" check 10.77.1.2 8080 $MB 8080
restart=$(nx "$NODE_BIN" --iface n0 --ports 443 2>&1)
restart_rc=$?
if [ $restart_rc -ne 0 ] && echo "$restart" | grep -q "already"; then
  pass "restart after SIGKILL refused clearly: $(echo "$restart" | grep -o 'interface n0.*\|injection.*' | head -1)"
else
  fail "restart after SIGKILL: $restart"
fi

for pid in $SERVER_PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
SERVER_PIDS=""
topo_destroy
left=$(topo_leftovers)
[ -z "$left" ] && pass "namespaces removed" || fail "namespaces left: $left"

check_finish
