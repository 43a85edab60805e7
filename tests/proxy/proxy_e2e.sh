#!/usr/bin/env bash
# proxy_e2e.sh: xredir-proxy against real servers in namespaces this test makes (suite e2e, root;
# issue 6 item 5). Three namespaces, built on tests/e2e/topology.sh plus a server namespace:
#   client 10.77.1.1 --c0/n0-- proxy ns 10.77.1.2 | 10.77.2.1 --n1/s0-- server 10.77.2.2
#   (+ 203.0.113.7 on the server's loopback)
# In the proxy namespace `iptables -t nat -A PREROUTING -i n0 -p tcp -j REDIRECT --to-ports 15001`
# sends every TCP connection of the client to the proxy (--original-dst kernel), which connects to
# the original destination in the server namespace, where tests/proxy/proxy_load.cc serves:
#   7001 echo, 7002 eof-echo (reads to EOF, then answers), 7003 slow reader, 7004 echo at 4 MiB/s,
#   7005 PROXY v2 parser, 7006 + 80 "info" (answers with the addresses it saw), 443 echo,
#   7008 eof-echo whose every other SYN is dropped (a connect that takes 1 s: the SYN's
#   retransmission); 7998 has no listener (refused); SYNs to 7999 are dropped (connect timeout).
# Asserts, each case named in its PASS/FAIL line: byte-exact integrity over 300 concurrent
# connections (75 MiB each way); half-close, also of bytes and a FIN read before the upstream
# connect completes; prompt close on refused and timed-out upstreams
# with their failure reasons counted; memory bounded under 100 slow-reader connections;
# 100,000 sequential connections without fd or RSS growth; the idle timeout; the connection
# limit; PROXY protocol v2; SIGTERM drain (in-flight transfer completes, new connections
# refused, exit 0 soon after the last connection ends; with connections left, exit 0 at the
# --drain-timeout-s deadline); and --original-dst xredir behind the real xredir daemon (AF_XDP capture with
# config/examples/demo.rules), every answer read from its shared view (and, with --no-odst-view,
# every answer asked over the socket). All namespaces are removed on exit, also on failure.
# usage: proxy_e2e.sh PROXY_BINARY PROXY_LOAD_BINARY XREDIR_BINARY
# PROXY_BINARY may be haproxy (the harness's own check: the same cases against HAProxy in TCP
# mode with `server s 0.0.0.0:0`; the metric assertions and the xredir case are then skipped).
set -u
PROXY_BIN=$1
LOAD=$2
XREDIR_BIN=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/../e2e/topology.sh"
. "$HERE/../e2e/check.sh"
. "$HERE/../../scripts/xredir_config.sh"
topo_require_root

IMPL=xredir-proxy
[ "$(basename "$PROXY_BIN")" = haproxy ] && IMPL=haproxy
WORK=$(mktemp -d)
PROXY_PID=""
BG_PIDS=""
METRICS=127.0.0.1:9901
# Background processes are started with a plain `ip netns exec` (which execs), never through a
# shell function's subshell, so that $! is the process itself: /proc/$!/ is the proxy's, and a
# process left in a deleted namespace would keep it alive.
cleanup() {
  [ -n "$PROXY_PID" ] && kill -KILL "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  for pid in $BG_PIDS; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  topo_destroy
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

na() { echo "n/a ($IMPL): $*"; }
cx() { ip netns exec "$TOPO_C" "$@"; }
px() { ip netns exec "$TOPO_N" "$@"; }
sx() { ip netns exec "$TOPO_S" "$@"; }

# ---- topology ------------------------------------------------------------------------------
topo_create || { echo "FAIL: could not create the namespaces"; exit 1; }
topo_add_server 203.0.113.7/32 || { echo "FAIL: could not create the server namespace"; exit 1; }
# 100,000 sequential connections from one client address: a wide port range and TIME_WAIT reuse
# on both connecting sides (the client, and the proxy toward upstream).
for ns in "$TOPO_C" "$TOPO_N"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
done
sx iptables -A INPUT -p tcp --dport 7999 -j DROP
sx iptables -A INPUT -p tcp --dport 7008 --syn -m statistic --mode nth --every 2 --packet 0 -j DROP
px iptables -t nat -A PREROUTING -i n0 -p tcp -j REDIRECT --to-ports 15001
echo "namespaces: $TOPO_C $TOPO_N $TOPO_S; proxy: $IMPL ($PROXY_BIN)"

ip netns exec "$TOPO_S" "$LOAD" serve echo:7001 eof-echo:7002 sink-slow:7003 slow-echo:7004 ppv2:7005 info:7006 \
  eof-echo:7008 echo:443 info:80 >"$WORK/servers.log" 2>&1 &
BG_PIDS="$BG_PIDS $!"
for _ in $(seq 50); do grep -q LISTENING "$WORK/servers.log" && break; sleep 0.1; done
grep -q LISTENING "$WORK/servers.log" || { echo "FAIL: servers did not start"; cat "$WORK/servers.log"; exit 1; }

# ---- the proxy under test ------------------------------------------------------------------
# haproxy_config ARGS...: the xredir-proxy flags this test uses, as a HAProxy TCP-mode config.
haproxy_config() {
  local threads=1 ct=5000 idle=300 maxconn="" pp="" stop_after=""
  while [ $# -gt 0 ]; do
    case $1 in
      --threads) threads=$2; shift;;
      --connect-timeout-ms) ct=$2; shift;;
      --idle-timeout-s) idle=$2; shift;;
      --max-connections) maxconn="maxconn $2"; shift;;
      --proxy-protocol) pp=send-proxy-v2;;
      --drain-timeout-s) stop_after="hard-stop-after $2s"; shift;;
      --original-dst|--metrics|--log-level|--listen) shift;;
    esac
    shift
  done
  printf 'global\n  nbthread %s\n  maxconn 8000\n  %s\ndefaults\n  mode tcp\n  retries 0\n' "$threads" "$stop_after"
  printf '  timeout connect %sms\n  timeout client %ss\n  timeout server %ss\n' "$ct" "$idle" "$idle"
  printf 'listen p\n  bind 0.0.0.0:15001\n  %s\n  server s 0.0.0.0:0 %s\n' "$maxconn" "$pp"
}

# start_proxy NAME ARGS...: starts the proxy in the proxy namespace, waits for its listener.
start_proxy() {
  local name=$1; shift
  PROXY_LOG="$WORK/proxy-$name.log"
  if [ "$IMPL" = haproxy ]; then
    haproxy_config "$@" >"$WORK/haproxy-$name.cfg"
    ip netns exec "$TOPO_N" "$PROXY_BIN" -db -f "$WORK/haproxy-$name.cfg" >"$PROXY_LOG" 2>&1 &
  else
    ip netns exec "$TOPO_N" "$PROXY_BIN" --listen 0.0.0.0:15001 --metrics "$METRICS" "$@" \
      >"$PROXY_LOG" 2>&1 &
  fi
  PROXY_PID=$!
  for _ in $(seq 100); do
    [ -n "$(px ss -ltnH 'sport = :15001')" ] && { sleep 0.1; return 0; }
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: proxy ($name) did not start listening:"; cat "$PROXY_LOG"
  FAILS=$((FAILS + 1))
  return 1
}
# stop_proxy: SIGTERM (HAProxy's graceful stop is SIGUSR1), returns its exit status.
stop_proxy() {
  local rc
  if [ "$IMPL" = haproxy ]; then kill -USR1 "$PROXY_PID"; else kill -TERM "$PROXY_PID"; fi
  wait "$PROXY_PID"; rc=$?
  PROXY_PID=""
  return $rc
}

# metric KEY: the value of the exposition line whose first field is KEY (0 when the line is
# absent from a successful scrape: a label set that never happened), "" when the scrape failed.
metric() {
  local body
  body=$(px curl -sf --max-time 3 "http://$METRICS/metrics") || { echo ""; return; }
  echo "$body" | awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }'
}
# check_metric_grew DESCRIPTION KEY BEFORE
check_metric_grew() {
  [ "$IMPL" = haproxy ] && { na "$1"; return; }
  local after
  after=$(metric "$2")
  if [ -n "$after" ] && awk -v a="$after" -v b="$3" 'BEGIN { exit !(a > b) }'; then
    pass "$1: $2 $3 -> $after"
  else
    fail "$1: $2 was $3, now '${after}'"
  fi
}
# want CASE: PROXY_E2E_CASES (default all: main drain idle limit ppv2 xredir) selects instances when
# debugging one.
want() { case " ${PROXY_E2E_CASES:-main drain idle limit ppv2 xredir} " in *" $1 "*) return 0;; esac; return 1; }
m() { [ "$IMPL" = haproxy ] && echo 0 || metric "$1"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
REFUSED='xredir_proxy_connections_failed_total{reason="connect_refused"}'
TIMEDOUT='xredir_proxy_connections_failed_total{reason="connect_timeout"}'
LIMITED='xredir_proxy_connections_failed_total{reason="limit"}'
IDLE='xredir_proxy_connections_idle_closed_total'
ACTIVE='xredir_proxy_connections_active'
ODST_VIEW='xredir_proxy_original_dst_answers_total{source="view"}'
ODST_SERVER='xredir_proxy_original_dst_answers_total{source="server"}'

# ---- instance 1: defaults but a 500 ms connect timeout, 2 threads --------------------------
KERNEL_ARGS=(--original-dst kernel --threads 2)
[ "$IMPL" = haproxy ] && KERNEL_ARGS=(--threads 2)
if want main && start_proxy main "${KERNEL_ARGS[@]}" --connect-timeout-ms 500 --drain-timeout-s 2; then
  up0=$(m 'xredir_proxy_bytes_total{direction="to_upstream"}')
  down0=$(m 'xredir_proxy_bytes_total{direction="to_client"}')
  expect "integrity: 300 concurrent connections, 256 KiB each way each, every byte checked" \
    cx "$LOAD" integrity 10.77.2.2 7001 300 262144
  if [ "$IMPL" = haproxy ]; then na "bytes_total counted both ways"; else
    up1=$(m 'xredir_proxy_bytes_total{direction="to_upstream"}')
    down1=$(m 'xredir_proxy_bytes_total{direction="to_client"}')
    if awk -v a="$up0" -v b="$up1" -v c="$down0" -v d="$down1" \
        'BEGIN { exit !(b - a >= 300 * 262144 && d - c >= 300 * 262144) }'; then
      pass "bytes_total counted both ways (to_upstream +$((${up1%.*} - ${up0%.*})), to_client +$((${down1%.*} - ${down0%.*})))"
    else
      fail "bytes_total: to_upstream $up0 -> $up1, to_client $down0 -> $down1 (expected +$((300 * 262144)) each)"
    fi
  fi

  expect "half-close: 4 MiB, client FIN, the server's full answer arrives after it" \
    cx "$LOAD" halfclose 10.77.2.2 7002 4194304
  # A server that speaks first gets nothing from the client: its banner must come through at
  # once. (A proxy that held the upstream handshake's last ACK for the client's first bytes, as
  # HAProxy's tcp-smart-connect does, keeps such a server from accepting for 200 ms.)
  expect "a server that speaks first: its first line within 100 ms of the connect" \
    cx "$LOAD" banner 10.77.2.2 7006 100

  before=$(m "$REFUSED")
  expect "upstream refusing: client closed within 1 s" cx "$LOAD" expect-close 10.77.2.2 7998 0 1000 send
  check_metric_grew "upstream refusing counted" "$REFUSED" "$before"

  before=$(m "$TIMEDOUT")
  expect "upstream timing out (SYNs dropped), --connect-timeout-ms 500: client closed in 0.4-2 s" \
    cx "$LOAD" expect-close 10.77.2.2 7999 400 2000 send
  check_metric_grew "upstream timeout counted" "$TIMEDOUT" "$before"

  # 100,000 sequential connections: fds and RSS after equal the start (measured after a warm-up
  # that lets lazily allocated pools and rings reach their working size).
  cx "$LOAD" short 10.77.2.2 7001 2000 >/dev/null 2>&1
  sleep 1
  fd0=$(fd_count "$PROXY_PID"); rss0=$(rss_kb "$PROXY_PID")
  expect "100,000 sequential short connections all succeed" cx "$LOAD" short 10.77.2.2 7001 100000 1
  for _ in $(seq 50); do
    a=$(m "$ACTIVE"); [ "${a%.*}" = 0 ] && break; sleep 0.1
  done
  sleep 1
  fd1=$(fd_count "$PROXY_PID"); rss1=$(rss_kb "$PROXY_PID")
  [ $((fd1 - fd0)) -le 1 ] && [ $((fd0 - fd1)) -le 1 ] \
    && pass "100,000 connections: proxy fds $fd0 -> $fd1" || fail "100,000 connections: proxy fds $fd0 -> $fd1"
  [ $((rss1 - rss0)) -le 4096 ] \
    && pass "100,000 connections: proxy RSS $rss0 -> $rss1 kB (growth <= 4 MiB)" \
    || fail "100,000 connections: proxy RSS $rss0 -> $rss1 kB (growth > 4 MiB)"

  # Slow readers: 50 clients write and never read (echo server: its answers back up), 50 write to
  # a server that reads 20 KiB/s. Every buffer on the way fills; the proxy's memory must not.
  rss0=$(rss_kb "$PROXY_PID"); fdb=$(fd_count "$PROXY_PID")
  ip netns exec "$TOPO_C" "$LOAD" flood 10.77.2.2 7001 50 6 >"$WORK/flood1.log" 2>&1 & f1=$!
  ip netns exec "$TOPO_C" "$LOAD" flood 10.77.2.2 7003 50 6 >"$WORK/flood2.log" 2>&1 & f2=$!
  BG_PIDS="$BG_PIDS $f1 $f2"
  # The most connections open at once while the groups fill up (each group resets 6 s after its
  # own HOLDING line, so on a loaded machine one may leave before the other is ready).
  active=0
  for _ in $(seq 300); do
    a=$(m "$ACTIVE"); [ "${a%.*}" -gt "$active" ] && active=${a%.*}
    grep -q HOLDING "$WORK/flood1.log" && grep -q HOLDING "$WORK/flood2.log" && break
    sleep 0.1
  done
  a=$(m "$ACTIVE"); [ "${a%.*}" -gt "$active" ] && active=${a%.*}
  [ "$IMPL" = haproxy ] && active=n/a
  peak=0
  for _ in 1 2 3; do r=$(rss_kb "$PROXY_PID"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.5; done
  wait $f1; rc1=$?; wait $f2; rc2=$?
  [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] \
    && pass "slow readers: 100 blocked connections held open ($(tail -1 "$WORK/flood1.log"); $(tail -1 "$WORK/flood2.log"))" \
    || fail "slow readers: $(cat "$WORK/flood1.log" "$WORK/flood2.log" | tr '\n' ' ')"
  if [ "$IMPL" = haproxy ]; then na "slow readers: connections_active"; else
    [ "${active%.*}" -ge 100 ] && pass "slow readers: connections_active $active while held" \
      || fail "slow readers: connections_active at most $active while 100 were held"
  fi
  # They left with a reset: xredir-proxy watches a parked direction's source for errors, so it
  # closes them within a few ticks (HAProxy keeps them until it has handed its data over).
  if [ "$IMPL" = haproxy ]; then
    sleep 1
    na "slow readers: closed after their clients reset"
  else
    for _ in $(seq 30); do [ "$(m "$ACTIVE")" = 0 ] && break; sleep 0.1; done
    a=$(m "$ACTIVE")
    [ "$a" = 0 ] && pass "slow readers: all closed within 3 s of their clients' resets" \
      || fail "slow readers: connections_active $a 3 s after their clients reset"
  fi
  fdn=$(fd_count "$PROXY_PID")
  [ $((peak - rss0)) -lt 65536 ] \
    && pass "slow readers: proxy RSS $rss0 -> peak $peak kB while they were open (< 64 MiB growth; active gauge ${active})" \
    || fail "slow readers: proxy RSS $rss0 -> peak $peak kB (>= 64 MiB growth)"

  # The slow readers' connections may outlive their clients' resets for a while (the proxy, like
  # HAProxy, first hands what it holds to the slow server); the drain deadline ends them.
  t0=$(date +%s%N)
  stop_proxy; rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ $rc -eq 0 ] && [ $ms -le 4000 ] \
    && pass "drain deadline 2 s: exit 0 after $ms ms with $((fdn - fdb)) fds of lingering connections" \
    || fail "drain deadline 2 s: exit status $rc after $ms ms"
fi

# ---- instance 1b: SIGTERM drain ------------------------------------------------------------
if want drain && start_proxy drain "${KERNEL_ARGS[@]}" --drain-timeout-s 20; then
  # A 12 MiB transfer at 4 MiB/s is in flight when SIGTERM arrives.
  ip netns exec "$TOPO_C" "$LOAD" integrity 10.77.2.2 7004 1 12582912 >"$WORK/drain.log" 2>&1 & d=$!
  BG_PIDS="$BG_PIDS $d"
  sleep 1
  pid=$PROXY_PID
  if [ "$IMPL" = haproxy ]; then kill -USR1 "$pid"; else kill -TERM "$pid"; fi
  sleep 0.5
  expect "drain: a new connection after SIGTERM is refused" cx "$LOAD" expect-close 10.77.2.2 7001 0 1000 none
  wait $d && pass "drain: the in-flight transfer completed: $(cat "$WORK/drain.log")" \
    || fail "drain: the in-flight transfer failed: $(cat "$WORK/drain.log")"
  t0=$(date +%s%N)
  wait "$pid"; rc=$?; PROXY_PID=""
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ $rc -eq 0 ] && [ $ms -le 2000 ] && pass "drain: exit status 0, $ms ms after the last connection ended" \
    || fail "drain: exit status $rc, $ms ms after the last connection ended (deadline 20 s)"
fi

# ---- instance 2: --idle-timeout-s 2 --------------------------------------------------------
if want idle && start_proxy idle "${KERNEL_ARGS[@]}" --idle-timeout-s 2; then
  before=$(m "$IDLE")
  expect "idle timeout 2 s: an idle connection is closed 1.5-3.5 s after its last byte" \
    cx "$LOAD" expect-close 10.77.2.2 7001 1500 3500 echo
  check_metric_grew "idle close counted" "$IDLE" "$before"
  expect "idle timeout 2 s: a 3 s transfer that keeps moving is not cut" \
    cx "$LOAD" integrity 10.77.2.2 7004 1 12582912
  stop_proxy; rc=$?; [ $rc -eq 0 ] || fail "idle instance: exit status $rc"
fi

# ---- instance 3: --max-connections 10 ------------------------------------------------------
if want limit && start_proxy limit "${KERNEL_ARGS[@]}" --max-connections 10; then
  before=$(m "$LIMITED")
  expect "connection limit 10: the 11th concurrent connection is closed at once, the 10 served" \
    cx "$LOAD" limit 10.77.2.2 7001 10
  check_metric_grew "limit refusal counted" "$LIMITED" "$before"
  # The proxy reads a client while it connects upstream; what it read then must not be lost
  # (default timeouts here: the idle timeout would otherwise end a connection whose FIN was lost).
  expect "client bytes and FIN sent while the upstream connect waits 1 s: all relayed after it" \
    cx "$LOAD" halfclose 10.77.2.2 7008 32
  expect "client FIN alone while the upstream connect waits 1 s: passed on, EOF comes back" \
    cx "$LOAD" halfclose 10.77.2.2 7008 0
  stop_proxy; rc=$?; [ $rc -eq 0 ] || fail "limit instance: exit status $rc"
fi

# ---- instance 4: --proxy-protocol ----------------------------------------------------------
# Forget the NAT mappings of the connections before: a REDIRECT whose reply tuple clashes with an
# old entry gets a new source port from the kernel, and the proxy would rightly report that one.
px conntrack -F >/dev/null 2>&1
if want ppv2 && start_proxy ppv2 "${KERNEL_ARGS[@]}" --proxy-protocol; then
  out=$(cx "$LOAD" request 10.77.2.2 7005 hello 2>&1)
  client=$(echo "$out" | sed -n 's/.* CLIENT \([0-9.:]*\)$/\1/p')
  case "$out" in
    "PROXY SRC $client DST 10.77.2.2:7005 CLIENT $client") pass "PROXY v2: the server sees the client's address: $out";;
    *) fail "PROXY v2: $out";;
  esac
  stop_proxy; rc=$?; [ $rc -eq 0 ] || fail "ppv2 instance: exit status $rc"
fi

# ---- instance 5: --original-dst xredir behind the xredir daemon -----------------------------
if ! want xredir; then
  :
elif [ "$IMPL" = haproxy ]; then
  na "through xredir"
elif [ -z "$XREDIR_BIN" ]; then
  fail "through xredir: no xredir binary given"
else
  px iptables -t nat -F PREROUTING
  write_xredir_config "$WORK/xredir.toml" n0 "$ROOT/config/examples/demo.rules" "$WORK/odst.sock" \
    127.0.0.1:9477
  ip netns exec "$TOPO_N" "$XREDIR_BIN" run --config "$WORK/xredir.toml" >"$WORK/xredir.log" 2>&1 &
  XPID=$!
  BG_PIDS="$BG_PIDS $XPID"
  for _ in $(seq 100); do grep -q "xredir running" "$WORK/xredir.log" && break; sleep 0.1; done
  if ! grep -q "xredir running" "$WORK/xredir.log"; then
    fail "through xredir: the daemon did not start: $(tail -5 "$WORK/xredir.log" | tr '\n' ' ')"
  elif start_proxy xredir --original-dst xredir --odst-socket "$WORK/odst.sock"; then
    expect "through xredir: 20 concurrent connections to 203.0.113.7:443, 1 MiB each way each, intact" \
      cx "$LOAD" integrity 203.0.113.7 443 20 1048576
    out=$(cx "$LOAD" request 203.0.113.7 80 hello 2>&1)
    case "$out" in
      "LOCAL 203.0.113.7:80 PEER 10.77.2.1:"*" CLIENT 10.77.1.1:"*)
        pass "through xredir: the server saw the connection at the original destination: $out";;
      *) fail "through xredir: $out";;
    esac
    grep -q "^LOCAL 203.0.113.7:80 PEER 10.77.2.1:" "$WORK/servers.log" \
      && pass "through xredir: the server logged the connection" || fail "through xredir: not in the server's log"
    expect "through xredir: non-captured port 7001 goes straight through the kernel" \
      cx "$LOAD" integrity 10.77.2.2 7001 1 65536
    # Every one of the 21 connections was answered from the shared view, in the worker's thread
    # (xredir publishes a connection when its first packet is translated, before the proxy
    # accepts it): none had to be asked over the socket.
    from_view=$(metric "$ODST_VIEW"); from_server=$(metric "$ODST_SERVER")
    if [ "${from_view:-0}" -ge 21 ] 2>/dev/null && [ "$from_server" = 0 ]; then
      pass "through xredir: $from_view original destinations read from the shared view, 0 asked over the socket"
    else
      fail "through xredir: view answers '$from_view' (want >= 21), server answers '$from_server' (want 0)"
    fi
    # Distinct client endpoints keep their ports, as behind the kernel's REDIRECT.
    remaps=$(px curl -sf --max-time 3 http://127.0.0.1:9477/metrics \
      | awk '$1 == "xredir_conntrack_nat_port_remaps_total" { print $2 }')
    [ "$remaps" = 0 ] && pass "through xredir: no client port was remapped" \
      || fail "through xredir: xredir_conntrack_nat_port_remaps_total '$remaps' (want 0)"
    stop_proxy; rc=$?; [ $rc -eq 0 ] && pass "through xredir: proxy exit 0" || fail "through xredir: proxy exit $rc"
  fi
  # --no-odst-view: the same answers, all asked over the socket.
  if start_proxy xredir-noview --original-dst xredir --odst-socket "$WORK/odst.sock" --no-odst-view; then
    expect "through xredir, --no-odst-view: 5 connections intact" \
      cx "$LOAD" integrity 203.0.113.7 443 5 65536
    from_view=$(metric "$ODST_VIEW"); from_server=$(metric "$ODST_SERVER")
    [ "$from_view" = 0 ] && [ "${from_server:-0}" -ge 5 ] 2>/dev/null \
      && pass "through xredir, --no-odst-view: $from_server answers from the server, none from the view" \
      || fail "through xredir, --no-odst-view: view '$from_view' (want 0), server '$from_server' (want >= 5)"
    stop_proxy; rc=$?; [ $rc -eq 0 ] || fail "through xredir, --no-odst-view: proxy exit $rc"
  fi
  kill -0 "$XPID" 2>/dev/null || fail "through xredir: the xredir daemon died: $(tail -5 "$WORK/xredir.log" | tr '\n' ' ')"
  kill -TERM "$XPID" 2>/dev/null; wait "$XPID" 2>/dev/null
fi

grep -iE "error|critical" "$WORK"/proxy-*.log | head -5 | sed 's/^/  proxy log: /'
for pid in $BG_PIDS; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
BG_PIDS=""
topo_destroy
left=$(topo_leftovers)
[ -z "$left" ] && pass "namespaces removed" || fail "namespaces left: $left"

check_finish
