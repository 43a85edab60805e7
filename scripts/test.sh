#!/usr/bin/env bash
# test.sh sets up (scripts/setup.sh) and runs every test, cheapest stage first:
#   1. format check          clang-format on all C/C++ sources
#   2. sanitizer unit tests  address + undefined behaviour (build-asan/)
#   3. thread sanitizer      the concurrency tests (build-tsan/)
#   4. release build         unit tests, then the root-only end-to-end and differential tests (build/)
#   5. fuzz smoke            each libFuzzer target for FUZZ_SECONDS (default 60) (build-fuzz/)
# The end-to-end tests need root (network namespaces, XDP, AF_XDP); outside CI they are skipped
# when not root, in CI (CI=true) a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${FUZZ_SECONDS:-60}

stage() { printf '\n=== %s ===\n' "$*"; }

stage "setup"
scripts/setup.sh

stage "format check"
git ls-files -z -- '*.h' '*.cc' '*.c' | xargs -0 clang-format --dry-run -Werror

stage "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
[[ -f build-asan/build.ninja ]] ||
  meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
# Regenerate first if a meson.build changed: the target list comes from its introspection.
ninja -C build-asan build.ninja
scripts/suite_targets.py build-asan unit | xargs ninja -C build-asan
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --no-rebuild --suite unit --print-errorlogs

stage "concurrency tests under ThreadSanitizer"
# -Wno-tsan: g++ 12 warns that TSan does not model atomic_thread_fence, which Boost.Asio uses
# internally; our code orders memory through atomics' own operations.
[[ -f build-tsan/build.ninja ]] ||
  meson setup build-tsan --buildtype=debug -Db_sanitize=thread -Db_lundef=false -Dcpp_args=-Wno-tsan
# Regenerate first if a meson.build changed: the target list comes from its introspection.
ninja -C build-tsan build.ninja
scripts/suite_targets.py build-tsan tsan | xargs ninja -C build-tsan
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --no-rebuild --suite tsan --print-errorlogs

stage "release build: unit, end-to-end and differential tests"
if [[ $(id -u) -ne 0 && "${CI:-}" != "true" ]]; then
  echo "not root: the e2e suite will report its tests as skipped (run with sudo to include them)"
fi
meson test -C build --suite unit --suite e2e --print-errorlogs

stage "fuzz smoke: each target ${fuzz_seconds}s"
[[ -f build-fuzz/build.ninja ]] ||
  CC=clang CXX=clang++ meson setup build-fuzz --buildtype=debug -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz_seconds="$fuzz_seconds"
# Regenerate first if a meson.build changed: the target list comes from its introspection.
ninja -C build-fuzz build.ninja
scripts/suite_targets.py build-fuzz fuzz | xargs ninja -C build-fuzz
meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs --num-processes 1

stage "summary"
scripts/test_summary.py build-asan build-tsan build build-fuzz
