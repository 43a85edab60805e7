# topology.sh (sourced) builds and removes the e2e/bench network: a client namespace and a node
# namespace joined by one veth pair (and, with topo_add_server, a server namespace behind the
# node), made directly inside the namespaces so that nothing is created in the caller's namespace
# and parallel or aborted runs never collide (names carry a per-run suffix). Addresses exist only inside these namespaces:
#   client c0 10.77.1.1/24 fd00:77:1::1/64  --  node n0 10.77.1.2/24 fd00:77:1::2/64
#   client routes 203.0.113.0/24 and 2001:db8:77::/64 ("the outside world") via the node.
# TX checksum offload is off on c0: frames from a veth peer with offload carry only a partial
# TCP checksum (CHECKSUM_PARTIAL), which a rewrite in user space cannot update incrementally.

topo_require_root() {
  if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then
      echo "FAIL: this test needs root, and CI=true forbids skipping it" >&2
      exit 1
    fi
    echo "SKIP: needs root (network namespaces, XDP, AF_XDP)" >&2
    exit 77
  fi
}

topo_create() {
  TOPO_SUFFIX="$$-${RANDOM}"
  TOPO_S=""
  TOPO_C="xrc-$TOPO_SUFFIX"
  TOPO_N="xrn-$TOPO_SUFFIX"
  ip netns add "$TOPO_C" || return 1
  ip netns add "$TOPO_N" || return 1
  # TOPO_QUEUES (default 1): RX/TX queues of each veth end; >1 exercises one worker per queue.
  local q=${TOPO_QUEUES:-1}
  ip link add name c0 netns "$TOPO_C" numtxqueues "$q" numrxqueues "$q" type veth \
    peer name n0 netns "$TOPO_N" numtxqueues "$q" numrxqueues "$q" || return 1
  ip -n "$TOPO_C" link set lo up
  ip -n "$TOPO_N" link set lo up
  ip -n "$TOPO_C" addr add 10.77.1.1/24 dev c0
  ip -n "$TOPO_C" -6 addr add fd00:77:1::1/64 dev c0 nodad
  ip -n "$TOPO_N" addr add 10.77.1.2/24 dev n0
  ip -n "$TOPO_N" -6 addr add fd00:77:1::2/64 dev n0 nodad
  ip netns exec "$TOPO_C" ethtool -K c0 tx off >/dev/null
  ip -n "$TOPO_C" link set c0 up
  ip -n "$TOPO_N" link set n0 up
  ip -n "$TOPO_C" route add 203.0.113.0/24 via 10.77.1.2
  ip -n "$TOPO_C" -6 route add 2001:db8:77::/64 via fd00:77:1::2
}

# topo_add_server [ADDR/LEN ...] adds a server namespace TOPO_S behind the node (after
# topo_create), the servers' side of the proxy tests and benches:
#   node n1 10.77.2.1/24 fd00:77:2::1/64  --  server s0 10.77.2.2/24 fd00:77:2::2/64
# Each ADDR/LEN goes on the server's lo (e.g. 203.0.113.7/32: an "original destination" that
# really exists). The node routes 203.0.113.0/24 and 2001:db8:77::/64 to the server and forwards;
# the client reaches 10.77.2.0/24 through the node; the server's default route is the node.
topo_add_server() {
  TOPO_S="xrs-$TOPO_SUFFIX"
  ip netns add "$TOPO_S" || return 1
  ip link add name n1 netns "$TOPO_N" type veth peer name s0 netns "$TOPO_S" || return 1
  ip -n "$TOPO_S" link set lo up
  ip -n "$TOPO_N" addr add 10.77.2.1/24 dev n1
  ip -n "$TOPO_N" -6 addr add fd00:77:2::1/64 dev n1 nodad
  ip -n "$TOPO_S" addr add 10.77.2.2/24 dev s0
  ip -n "$TOPO_S" -6 addr add fd00:77:2::2/64 dev s0 nodad
  local addr
  for addr in "$@"; do
    case $addr in
      *:*) ip -n "$TOPO_S" -6 addr add "$addr" dev lo nodad || return 1 ;;
      *) ip -n "$TOPO_S" addr add "$addr" dev lo || return 1 ;;
    esac
  done
  ip -n "$TOPO_N" link set n1 up
  ip -n "$TOPO_S" link set s0 up
  ip -n "$TOPO_C" route add 10.77.2.0/24 via 10.77.1.2
  ip -n "$TOPO_N" route add 203.0.113.0/24 via 10.77.2.2
  ip -n "$TOPO_N" -6 route add 2001:db8:77::/64 via fd00:77:2::2
  ip -n "$TOPO_S" route add default via 10.77.2.1
  ip -n "$TOPO_S" -6 route add default via fd00:77:2::1
  ip netns exec "$TOPO_N" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# topo_destroy removes the namespaces (and with them every link, address, route, rule and XDP
# attachment inside). Safe to call twice and after a partial topo_create or topo_add_server.
topo_destroy() {
  [ -n "${TOPO_C:-}" ] && ip netns del "$TOPO_C" 2>/dev/null
  [ -n "${TOPO_N:-}" ] && ip netns del "$TOPO_N" 2>/dev/null
  [ -n "${TOPO_S:-}" ] && ip netns del "$TOPO_S" 2>/dev/null
  return 0
}

# topo_leftovers prints any namespace of this run that still exists.
topo_leftovers() {
  ip netns list | grep -E "xr[cns]-$TOPO_SUFFIX( |$)" || true
}
