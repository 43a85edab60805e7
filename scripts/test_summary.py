#!/usr/bin/env python3
"""test_summary.py BUILD_DIR...: totals the meson test logs of the given build trees and prints
one closing line, `N passed, N failed, N skipped`; exits non-zero when anything failed."""
import json
import os
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    try:
        lines = open(f"{build}/meson-logs/testlog.json").read().splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
# In CI every privileged test must run: a skip there is a failure.
in_ci = os.environ.get("CI") == "true"
sys.exit(1 if failed or (in_ci and skipped) else 0)
