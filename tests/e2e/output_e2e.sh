#!/usr/bin/env bash
# output_e2e.sh: the OUTPUT hook through `xredir run` (suite e2e, root). Connections opened by
# processes of the node itself are captured by policy routing, evaluated in the OUTPUT chain
# with their real socket context, and redirected through the AF_XDP path to a local proxy.
#   node ns: xredir run ([output] enabled, excluded uid 1337) + xredir-relay on :15001 as uid
#            1337 (it asks the original-destination API, then connects upstream)
#   server ns (over the veth n1/s0): tcp_echo.py on 198.51.100.20 and 2001:db8:78::20, :80 :9090
# Rules: RETURN for dport 9090, for uid 2000 (-m owner), for mark 0x99 (-m mark) and for
# `! -o n1` (so a wrong -o would redirect nothing); then `-m owner ! --uid-owner 1337 -j
# REDIRECT --to-ports 15001`.
# Asserts: a client as uid 1000 lands on the relay with its original destination (relay log),
# 8 MiB echoed both ways through relay and server; 16 concurrent ones too; IPv6 likewise; the
# same as uid 1337 (kernel exclusion rule), as uid 2000 (owner match), with SO_MARK 0x99 (mark
# match) and to port 9090 (RETURN) reach the server directly (forwarded by the kernel with the
# node's address) and never appear at the relay; SIGTERM exits 0 and leaves no XDP program,
# injection pair, policy rule, route table entry or changed sysctl behind.
# usage: output_e2e.sh XREDIR_BINARY XREDIR_RELAY_BINARY TCP_ECHO_PY
set -u
XREDIR=$1
RELAY=$2
ECHO_PY=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/topology.sh"
. "$HERE/check.sh"
topo_require_root
for tool in setpriv ip; do
  command -v $tool >/dev/null || { echo "FAIL: $tool missing"; exit 1; }
done
# Clients run as other users: a python3 in root's home (pyenv) is not theirs to run.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

SUFFIX="$$-${RANDOM}"
N="xron-$SUFFIX"
S="xros-$SUFFIX"
WORK=$(mktemp -d)
chmod 755 "$WORK"  # the relay (uid 1337) reaches the API socket in here
PIDS=""
XREDIR_PID=""
cleanup() {
  [ -n "$XREDIR_PID" ] && kill -TERM "$XREDIR_PID" 2>/dev/null && wait "$XREDIR_PID" 2>/dev/null
  for pid in $PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  ip netns del "$N" 2>/dev/null
  ip netns del "$S" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

nx() { ip netns exec "$N" "$@"; }
as_uid() { local uid=$1; shift; ip netns exec "$N" setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
relay_count() { grep -c -- "-> $1\$" "$WORK/relay.log" 2>/dev/null; }
# direct DESC RELAY_DST COMMAND...: the command succeeds and the relay saw no new connection.
direct() {
  local what=$1 dst=$2; shift 2
  local before after out
  before=$(relay_count "$dst")
  if out=$("$@" 2>&1); then
    after=$(relay_count "$dst")
    if [ "$after" = "$before" ]; then pass "$what ($out)"; else fail "$what: redirected to the relay"; fi
  else
    fail "$what: $out"
  fi
}
# redirected DESC RELAY_DST N COMMAND...: the command succeeds and the relay saw N new connections
# whose original destination is RELAY_DST.
redirected() {
  local what=$1 dst=$2 n=$3; shift 3
  local before after out
  before=$(relay_count "$dst")
  if out=$("$@" 2>&1); then
    sleep 0.2
    after=$(relay_count "$dst")
    if [ $((after - before)) -eq "$n" ]; then pass "$what ($out; relay: $n x '-> $dst')"
    else fail "$what: relay saw $((after - before)) connections to $dst, expected $n"; fi
  else
    fail "$what: $out"
  fi
}

echo "namespaces: node $N, server $S"
ip netns add "$N" && ip netns add "$S" || { echo "FAIL: namespaces"; exit 1; }
ip -n "$N" link set lo up
ip -n "$S" link set lo up
ip link add n1 netns "$N" type veth peer name s0 netns "$S" || { echo "FAIL: veth"; exit 1; }
ip -n "$N" addr add 10.78.2.1/24 dev n1
ip -n "$N" -6 addr add fd00:78:2::1/64 dev n1 nodad
ip -n "$S" addr add 10.78.2.2/24 dev s0
ip -n "$S" -6 addr add fd00:78:2::2/64 dev s0 nodad
ip -n "$S" addr add 198.51.100.20/32 dev lo
ip -n "$S" -6 addr add 2001:db8:78::20/128 dev lo
ip netns exec "$S" ethtool -K s0 tx off >/dev/null
ip -n "$N" link set n1 up
ip -n "$S" link set s0 up
ip -n "$N" route add default via 10.78.2.2
ip -n "$N" -6 route add default via fd00:78:2::2
ip -n "$S" route add default via 10.78.2.1
ip -n "$S" -6 route add default via fd00:78:2::1
FWD_BEFORE=$(nx sysctl -n net.ipv4.ip_forward)
FWD6_BEFORE=$(nx sysctl -n net.ipv6.conf.all.forwarding)

ip netns exec "$S" python3 "$ECHO_PY" serve 80 9090 >"$WORK/server.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do grep -q LISTENING "$WORK/server.log" && break; sleep 0.1; done

for fam in v4 v6; do
  cat >"$WORK/rules.$fam" <<RULES
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --dport 9090 -j RETURN
-A OUTPUT -p tcp -m owner --uid-owner 2000 -j RETURN
-A OUTPUT -p tcp -m mark --mark 0x99 -j RETURN
-A OUTPUT -p tcp ! -o n1 -j RETURN
-A OUTPUT -p tcp -m owner ! --uid-owner 1337 -j REDIRECT --to-ports 15001
COMMIT
RULES
done
cat >"$WORK/xredir.toml" <<TOML
[capture]
interfaces = ["n1"]
[rules]
ipv4 = "$WORK/rules.v4"
ipv6 = "$WORK/rules.v6"
[api]
socket = "$WORK/odst.sock"
allowed_uids = [1337]
[metrics]
listen = ""
[output]
enabled = true
exclude_uids = [1337]
TOML
# Started with a plain `ip netns exec` (which execs), so that $! is xredir itself.
ip netns exec "$N" "$XREDIR" run --config "$WORK/xredir.toml" >"$WORK/xredir.log" 2>&1 &
XREDIR_PID=$!
for _ in $(seq 100); do
  grep -q "xredir running" "$WORK/xredir.log" && break
  kill -0 "$XREDIR_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "xredir running" "$WORK/xredir.log" || { echo "FAIL: xredir did not start:"; cat "$WORK/xredir.log"; exit 1; }
grep -E "OUTPUT capture|worker\(s\)" "$WORK/xredir.log" | sed 's/^/  xredir: /'
# The API socket is 0660 root:root: give its group to the relay's (as an operator would).
chgrp 1337 "$WORK/odst.sock"

XREDIR_ODST_SOCKET="$WORK/odst.sock" ip netns exec "$N" setpriv --reuid 1337 --regid 1337 \
  --clear-groups "$RELAY" 169.254.77.1:15001 >"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
XREDIR_ODST_SOCKET="$WORK/odst.sock" ip netns exec "$N" setpriv --reuid 1337 --regid 1337 \
  --clear-groups "$RELAY" "[fd78:7265:6469::1]:15001" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ "$(grep -c listening "$WORK/relay.log")" -ge 2 ] && break; sleep 0.1; done

MB=$((1024 * 1024))
redirected "uid 1000 -> 198.51.100.20:80 lands on the relay with its original destination, 8 MiB echoed" \
  198.51.100.20:80 1 as_uid 1000 "$PY" "$ECHO_PY" check 198.51.100.20 80 $((8 * MB)) 80
redirected "uid 1000: 16 concurrent redirected connections, 1 MiB each" \
  198.51.100.20:80 16 as_uid 1000 "$PY" "$ECHO_PY" check 198.51.100.20 80 $MB 80 16
redirected "uid 1000 -> [2001:db8:78::20]:80 (IPv6) lands on the relay, 4 MiB echoed" \
  "\[2001:db8:78::20\]:80" 1 as_uid 1000 "$PY" "$ECHO_PY" check 2001:db8:78::20 80 $((4 * MB)) 80
direct "uid 1337 (excluded by the kernel rule) reaches the server directly, 4 MiB" \
  198.51.100.20:80 as_uid 1337 "$PY" "$ECHO_PY" check 198.51.100.20 80 $((4 * MB)) 80
direct "uid 2000 (-m owner RETURN) reaches the server directly, 4 MiB" \
  198.51.100.20:80 as_uid 2000 "$PY" "$ECHO_PY" check 198.51.100.20 80 $((4 * MB)) 80
direct "uid 1000 -> :9090 (dport RETURN) reaches the server directly, 4 MiB" \
  198.51.100.20:9090 as_uid 1000 "$PY" "$ECHO_PY" check 198.51.100.20 9090 $((4 * MB)) 9090
mark_client() {
  ip netns exec "$N" python3 - "$@" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, 0x99)
s.settimeout(10)
s.connect(("198.51.100.20", 80))
line = s.makefile("rb").readline().decode().strip()
print(line)
sys.exit(0 if line == "LOCAL 198.51.100.20 80" else 1)
PY
}
direct "SO_MARK 0x99 (-m mark RETURN) reaches the server directly" 198.51.100.20:80 mark_client
# The server sees the node's own address for a connection the kernel forwarded.
peer=$(as_uid 2000 "$PY" -c '
import socket; s = socket.create_connection(("198.51.100.20", 80), timeout=10)
print(s.getsockname()[0])')
[ "$peer" = 10.78.2.1 ] && pass "local connections bind to the node address ($peer)" \
  || fail "local source address: '$peer'"
grep -q "no original destination" "$WORK/relay.log" && fail "relay got connections without an original destination" \
  || pass "every relayed connection had its original destination"
sed 's/^/  relay: /' "$WORK/relay.log" | head -3

kill -TERM "$XREDIR_PID"; wait "$XREDIR_PID"; rc=$?; XREDIR_PID=""
[ $rc -eq 0 ] && pass "SIGTERM: exit 0" || { fail "SIGTERM: exit $rc"; tail -20 "$WORK/xredir.log"; }
nx ip link show n1 | grep -q xdp && fail "XDP program left on n1" || pass "no XDP program left on n1"
nx ip link show xr0 >/dev/null 2>&1 && fail "injection pair left" || pass "injection pair removed (and its tc probe)"
for f in -4 -6; do
  if nx ip $f rule | grep -qE "lookup (7877|7878)|uidrange"; then fail "ip $f rules left: $(nx ip $f rule | tr '\n' ';')"
  else pass "ip $f policy rules removed"; fi
  [ -z "$(nx ip $f route show table 7878 2>/dev/null)" ] && pass "ip $f table 7878 empty" || fail "ip $f table 7878 not empty"
done
[ "$(nx sysctl -n net.ipv4.ip_forward)" = "$FWD_BEFORE" ] && pass "ip_forward restored ($FWD_BEFORE)" \
  || fail "ip_forward not restored"
[ "$(nx sysctl -n net.ipv6.conf.all.forwarding)" = "$FWD6_BEFORE" ] && pass "IPv6 forwarding restored ($FWD6_BEFORE)" \
  || fail "IPv6 forwarding not restored"
expect "after teardown uid 1000 reaches the server directly" \
  as_uid 1000 "$PY" "$ECHO_PY" check 198.51.100.20 80 $MB 80

for pid in $PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
PIDS=""
ip netns del "$N"; ip netns del "$S"
ip netns list | grep -qE "xro[ns]-$SUFFIX" && fail "namespaces left" || pass "namespaces removed"
check_finish
