#!/usr/bin/env python3
"""suite_targets.py BUILD_DIR SUITE: prints the build targets (paths relative to BUILD_DIR) that
the tests of one meson suite execute, so a stage builds only what it runs."""
import json
import os
import subprocess
import sys

build, suite = sys.argv[1], sys.argv[2]
tests = json.loads(subprocess.check_output(["meson", "introspect", build, "--tests"]))
root = os.path.abspath(build) + "/"
targets = set()
for test in tests:
    if any(s.split(":")[-1] == suite for s in test["suite"]):
        targets.update(arg[len(root):] for arg in test["cmd"] if arg.startswith(root))
print("\n".join(sorted(targets)))
