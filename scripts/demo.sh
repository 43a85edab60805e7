#!/usr/bin/env bash
# demo.sh: sets up (scripts/setup.sh), then shows xredir redirecting real TCP connections.
# It builds three network namespaces on this machine:
#   xrd-client (10.77.1.1) --veth-- xrd-node (10.77.1.2 | 10.77.2.1) --veth-- xrd-server (10.77.2.2,
#   and the "internet" addresses 198.51.100.10 and 203.0.113.7 on its loopback)
# In xrd-node it starts `xredir run` with config/examples/demo.rules (the embedded default) on
# the client-facing interface n0, and xredir-proxy (io_uring) on the proxy port 15001. The
# client then connects to the server's addresses: captured connections arrive at the proxy
# through AF_XDP, the proxy asks xredir for their original destination and relays them there;
# the others go straight through the kernel. Everything created is removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/xredir_config.sh
[[ $(id -u) -eq 0 ]] || { echo "demo.sh needs root (namespaces, XDP): sudo $0" >&2; exit 1; }
setup_log=$(mktemp)
scripts/setup.sh >"$setup_log" 2>&1 || {
  tail -40 "$setup_log"
  echo "demo.sh: set-up failed (the end of its log is above; full log: $setup_log)" >&2
  exit 1
}
rm -f "$setup_log"

rules=${1:-config/examples/demo.rules}
work=$(mktemp -d)
C=xrd-client N=xrd-node S=xrd-server
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in $C $N $S; do ip netns del $ns 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for ns in $C $N $S; do ip netns del $ns 2>/dev/null || true; done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "namespaces: client, node (xredir + xredir-proxy), server"
for ns in $C $N $S; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add c0 netns $C type veth peer name n0 netns $N
ip link add n1 netns $N type veth peer name s0 netns $S
ip -n $C addr add 10.77.1.1/24 dev c0
ip -n $N addr add 10.77.1.2/24 dev n0
ip -n $N addr add 10.77.2.1/24 dev n1
ip -n $S addr add 10.77.2.2/24 dev s0
ip -n $S addr add 198.51.100.10/32 dev lo
ip -n $S addr add 203.0.113.7/32 dev lo
for l in "$C c0" "$N n0" "$N n1" "$S s0"; do set -- $l; ip -n $1 link set $2 up; done
ip -n $C route add default via 10.77.1.2
ip -n $S route add default via 10.77.2.1
ip -n $N route add 198.51.100.0/24 via 10.77.2.2
ip -n $N route add 203.0.113.0/24 via 10.77.2.2
ip netns exec $N sysctl -qw net.ipv4.ip_forward=1
# The client's veth hands over partial checksums with TX offload; xredir recomputes them on veth
# capture interfaces, and turning it off here keeps the kernel-only path comparable.
ip netns exec $C ethtool -K c0 tx off >/dev/null

say "server: answers on 198.51.100.10:80, :8080 and 203.0.113.7:443 with what it saw"
cat >"$work/server.py" <<'PY'
import socket, sys, threading
def serve(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(64)
    while True:
        c, peer = s.accept()
        data = c.recv(1024).decode(errors="replace").strip()
        c.sendall(f"server {addr}:{port} got {data!r} from {peer[0]}:{peer[1]}\n".encode())
        c.close()
for a, p in [("198.51.100.10", 80), ("198.51.100.10", 8080), ("203.0.113.7", 443)]:
    threading.Thread(target=serve, args=(a, p), daemon=True).start()
print("server ready", flush=True)
threading.Event().wait()
PY
ip netns exec $S python3 -u "$work/server.py" >"$work/server.log" 2>&1 &
pids+=($!)

say "node: xredir run with $rules"
write_xredir_config "$work/xredir.toml" n0 "$rules" "$work/odst.sock" 127.0.0.1:9477
build/src/daemon/xredir check "$rules"
ip netns exec $N build/src/daemon/xredir run --config "$work/xredir.toml" >"$work/xredir.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "xredir running" "$work/xredir.log" && break; sleep 0.2; done
cat "$work/xredir.log"
grep -q "xredir running" "$work/xredir.log" || { echo "xredir did not start" >&2; exit 1; }
# Started once xredir runs, so that it maps xredir's shared view at once. --log-level debug: one
# line per connection with its original destination, for the demo.
ip netns exec $N build/proxy/xredir-proxy --listen 0.0.0.0:15001 --original-dst xredir \
  --odst-socket "$work/odst.sock" --metrics 127.0.0.1:9478 --log-level debug \
  >"$work/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/proxy.log" && break; sleep 0.2; done
grep -q listening "$work/proxy.log" || { echo "xredir-proxy did not start" >&2; cat "$work/proxy.log" >&2; exit 1; }

say "client: three connections"
cat >"$work/client.py" <<'PY'
import socket, sys
for dst, port in [("198.51.100.10", 80), ("203.0.113.7", 443), ("198.51.100.10", 8080)]:
    c = socket.create_connection((dst, port), timeout=5)
    c.sendall(f"hello {dst}:{port}".encode())
    me = "%s:%d" % c.getsockname()[:2]
    print(f"client {me} -> {dst}:{port}: {c.recv(1024).decode().strip()}", flush=True)
    c.close()
PY
ip netns exec $C python3 -u "$work/client.py"

say "xredir-proxy: each redirected connection and the original destination xredir reported"
sleep 0.3
cat "$work/proxy.log"

say "xredir metrics (excerpt)"
ip netns exec $N python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9477/metrics").read().decode())' |
  grep -E '^xredir_(new_flows|translated|conntrack_entries|odst_queries|to_kernel|rule_hits)'
say "xredir-proxy metrics (excerpt)"
ip netns exec $N python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9478/metrics").read().decode())' |
  grep -E '^xredir_proxy_(connections_total|bytes_total|connections_failed_total|original_dst_answers_total)' |
  grep -v ' 0$'

say "done: the server saw the proxy (10.77.2.1) for captured ports and the client itself for :8080"
