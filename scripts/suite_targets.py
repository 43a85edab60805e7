#!/usr/bin/env python3
"""suite_targets.py BUILD_DIR SUITE: prints the build targets (paths relative to BUILD_DIR) that
the tests of one meson suite execute or depend on, so a stage builds only what it runs."""
import json
import os
import subprocess
import sys

build, suite = sys.argv[1], sys.argv[2]


def introspect(what):
    return json.loads(subprocess.check_output(["meson", "introspect", build, what]))


root = os.path.abspath(build) + "/"
files_by_id = {t["id"]: t["filename"] for t in introspect("--targets")}
targets = set()
for test in introspect("--tests"):
    if not any(s.split(":")[-1] == suite for s in test["suite"]):
        continue
    paths = [arg for arg in test["cmd"] if arg.startswith(root)]
    for dep in test["depends"]:
        paths += files_by_id.get(dep, [])
    targets.update(p[len(root):] for p in paths if p.startswith(root))
print("\n".join(sorted(targets)))
