#!/usr/bin/env bash
# setup.sh installs every package xredir needs to build, test and benchmark on Debian 12, then
# configures and builds the release tree in build/. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  meson ninja-build pkg-config g++ clang llvm clang-format
  # libraries
  libxdp-dev libbpf-dev libelf-dev zlib1g-dev liburing-dev libboost1.81-dev libspdlog-dev
  libfmt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  # tests, fuzzing and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev libclang-rt-14-dev
  # the kernel-side tools the datapath and the differential tests drive
  iproute2 iptables ipset conntrack ethtool xdp-tools bpftool procps iperf3 haproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: installing ${missing[*]} needs root (run with sudo)" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=release
fi
ninja -C build
