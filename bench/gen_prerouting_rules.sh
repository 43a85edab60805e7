#!/usr/bin/env bash
# gen_prerouting_rules.sh: an iptables-restore file of N nat rules on the PREROUTING path whose
# LAST rule is the REDIRECT the new-connection benchmark's traffic hits (bench/new_connections.sh;
# issue 4 item 8c). The others are shaped like kube-proxy's KUBE-SERVICES: one rule per service,
# `-d 10.96.X.Y/32 -p tcp -m tcp --dport P -j DNAT --to-destination 10.244.X.Y:8080`, none of
# which the benchmark's connections (to 203.0.113.7:443) match, so netfilter walks all of them
# for every new connection, as it walks KUBE-SERVICES for a cluster's traffic.
#   PREROUTING: -j KUBE-SERVICES                                   (1 rule)
#   KUBE-SERVICES: N-2 service DNAT rules, then
#                  -d 203.0.113.0/24 -p tcp --dport 443 -j REDIRECT --to-ports PROXY_PORT
# usage: gen_prerouting_rules.sh N [PROXY_PORT] > FILE      (N >= 2; PROXY_PORT default 15001)
set -eu
n=${1:?usage: gen_prerouting_rules.sh N [PROXY_PORT]}
port=${2:-15001}
[ "$n" -ge 2 ] || { echo "N must be >= 2" >&2; exit 2; }
awk -v n="$n" -v port="$port" 'BEGIN {
  print "*nat"
  print ":PREROUTING ACCEPT [0:0]"
  print ":INPUT ACCEPT [0:0]"
  print ":OUTPUT ACCEPT [0:0]"
  print ":POSTROUTING ACCEPT [0:0]"
  print ":KUBE-SERVICES - [0:0]"
  print "-A PREROUTING -j KUBE-SERVICES"
  for (i = 0; i < n - 2; i++) {
    x = int(i / 250); y = i % 250 + 1
    printf "-A KUBE-SERVICES -d 10.96.%d.%d/32 -p tcp -m tcp --dport %d -j DNAT --to-destination 10.244.%d.%d:8080\n", x, y, 80 + i % 1000, x, y
  }
  printf "-A KUBE-SERVICES -d 203.0.113.0/24 -p tcp -m tcp --dport 443 -j REDIRECT --to-ports %d\n", port
  print "COMMIT"
}'
