#!/usr/bin/env python3
"""tcp_echo.py: the e2e tests' listener and client (standard library only).

serve PORT [PORT...]   dual-stack TCP listeners; each connection first gets one line
                       "LOCAL <addr> <port>\n" (the address it landed on, so the client can tell a
                       redirected connection from a direct one), then everything is echoed back.
check HOST PORT BYTES EXPECT_PORT [COUNT]
                       COUNT concurrent connections (default 1); each sends BYTES random bytes
                       while reading them back, and checks the echo is identical and that the
                       connection landed on EXPECT_PORT. Exit 0 only if all pass. Prints
                       "ok <connections> <bytes each> <local addr>".
udpserve ADDR PORT     UDP echo bound to ADDR:PORT (a DNS-like server); each reply is
                       "<local addr> <local port>|" + the request.
udpcheck HOST PORT COUNT EXPECT_PORT
                       COUNT request/reply exchanges over a connected UDP socket (so replies must
                       come from HOST:PORT); each reply must carry the request and EXPECT_PORT.
ping HOST COUNT        ICMP echo (raw socket, root): exit 0 when every echo is answered.
"""
import hashlib
import os
import socket
import sys
import threading


def serve(ports):
    def handle(conn):
        with conn:
            local = conn.getsockname()
            addr = local[0]
            if addr.startswith("::ffff:"):
                addr = addr[7:]
            conn.sendall(f"LOCAL {addr} {local[1]}\n".encode())
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    conn.shutdown(socket.SHUT_WR)
                    return
                conn.sendall(data)

    def accept_loop(srv):
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    for port in ports:
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("::", int(port)))
        srv.listen(512)
        threading.Thread(target=accept_loop, args=(srv,), daemon=True).start()
    print("LISTENING", flush=True)
    threading.Event().wait()


def one(host, port, nbytes, expect_port, results, i):
    try:
        payload = os.urandom(nbytes)
        sock = socket.create_connection((host, port), timeout=20)
        f = sock.makefile("rb")
        line = f.readline().decode().split()
        if len(line) != 3 or line[0] != "LOCAL" or int(line[2]) != expect_port:
            results[i] = f"landed on {line}, expected port {expect_port}"
            return

        def send():
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=send)
        t.start()
        h = hashlib.sha256()
        got = 0
        while True:
            chunk = f.read1(1 << 16)
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
        t.join()
        sock.close()
        if got != nbytes or h.digest() != hashlib.sha256(payload).digest():
            results[i] = f"echo mismatch: got {got} of {nbytes} bytes"
            return
        results[i] = ("ok", line[1])
    except Exception as e:  # noqa: BLE001 - reported as the failure reason
        results[i] = f"{type(e).__name__}: {e}"


def check(host, port, nbytes, expect_port, count):
    results = [None] * count
    threads = [threading.Thread(target=one, args=(host, port, nbytes, expect_port, results, i))
               for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if not (isinstance(r, tuple) and r[0] == "ok")]
    if bad:
        print(f"FAIL {len(bad)}/{count}: {bad[0]}")
        return 1
    print(f"ok {count} {nbytes} {results[0][1]}")
    return 0


def udpserve(addr, port):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((addr, port))
    print("LISTENING", flush=True)
    local = f"{addr} {port}|".encode()
    while True:
        data, peer = srv.recvfrom(65535)
        srv.sendto(local + data, peer)


def udpcheck(host, port, count, expect_port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.connect((host, port))
    landed = None
    for _ in range(count):
        req = os.urandom(64)
        sock.send(req)
        reply = sock.recv(65535)
        head, _, body = reply.partition(b"|")
        addr, rport = head.decode().split()
        if body != req or int(rport) != expect_port:
            print(f"FAIL: reply {head!r} / body intact {body == req}")
            return 1
        landed = addr
    print(f"ok {count} {landed}")
    return 0


def ping(host, count):
    import struct
    import time
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(2)
    ident = os.getpid() & 0xFFFF
    for seq in range(count):
        body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"xredir-ping"
        csum = sum(struct.unpack("!%dH" % (len(body) // 2), body[: len(body) // 2 * 2]))
        if len(body) % 2:
            csum += body[-1] << 8
        while csum >> 16:
            csum = (csum & 0xFFFF) + (csum >> 16)
        body = body[:2] + struct.pack("!H", ~csum & 0xFFFF) + body[4:]
        sock.sendto(body, (host, 0))
        deadline = time.time() + 2
        while True:
            if time.time() > deadline:
                print(f"FAIL: no echo reply for seq {seq}")
                return 1
            pkt, _ = sock.recvfrom(2048)
            icmp = pkt[(pkt[0] & 0x0F) * 4:]
            if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                break
    print(f"ok {count} echo replies")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "udpserve":
        udpserve(sys.argv[2], int(sys.argv[3]))
    if len(sys.argv) == 6 and sys.argv[1] == "udpcheck":
        sys.exit(udpcheck(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
    if len(sys.argv) == 4 and sys.argv[1] == "ping":
        sys.exit(ping(sys.argv[2], int(sys.argv[3])))
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "check":
        count = int(sys.argv[6]) if len(sys.argv) == 7 else 1
        sys.exit(check(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), count))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
