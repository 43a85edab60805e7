# topology.sh (sourced) builds and removes the e2e/bench network: a client namespace and a node
# namespace joined by one veth pair, made directly inside the namespaces so that nothing is
# created in the caller's namespace and parallel or aborted runs never collide (names carry a
# per-run suffix). Addresses exist only inside these namespaces:
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

# topo_destroy removes both namespaces (and with them every link, address, route, rule and
# XDP attachment inside). Safe to call twice and after a partial topo_create.
topo_destroy() {
  [ -n "${TOPO_C:-}" ] && ip netns del "$TOPO_C" 2>/dev/null
  [ -n "${TOPO_N:-}" ] && ip netns del "$TOPO_N" 2>/dev/null
  return 0
}

# topo_leftovers prints any namespace of this run that still exists.
topo_leftovers() {
  ip netns list | grep -E "xr[cn]-$TOPO_SUFFIX( |$)" || true
}
