#!/usr/bin/env bash
# run_fuzz.sh TARGET SEED_CORPUS SECONDS: runs one libFuzzer target for a bounded time, starting
# from the committed seeds; new inputs go to a scratch corpus so the source tree stays unchanged.
set -euo pipefail
target=$1 seeds=$2 seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$seeds"
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  "$scratch" "$seeds"
