# xredir_config.sh (sourced): the smallest `xredir run` configuration, shared by the demo, the
# proxy's e2e test and the new-connections bench: capture on one interface, IPv4 rules, no IPv6
# proxy address (these topologies give the node none), the API socket and the metrics listener.
# usage: write_xredir_config FILE IFACE RULES_V4 API_SOCKET METRICS_LISTEN [CPUS]
#   METRICS_LISTEN "" turns the metrics listener off; CPUS (e.g. "1") pins the workers.
write_xredir_config() {
  cat >"$1" <<TOML
[capture]
interfaces = ["$2"]
${6:+cpus = [$6]}
[rules]
ipv4 = "$(realpath "$3")"
[injection]
proxy_v6 = ""
[api]
socket = "$4"
[metrics]
listen = "$5"
TOML
}
