"""A worker with no HTTP port: says what it was built from, then beats a heartbeat its healthcheck reads."""

import sys
import time
from pathlib import Path

HEARTBEAT = Path("/tmp/heartbeat")

if "--health" in sys.argv:
    sys.exit(0 if HEARTBEAT.exists() and time.time() - HEARTBEAT.stat().st_mtime < 10 else 1)
cache_bust, build_date, git_commit = Path(__file__).with_name("build-info.txt").read_text().split("\n")[:3]
print(f"Cache bust: {cache_bust}\nBuild date: {build_date}\nGit commit: {git_commit}", flush=True)
while True:
    HEARTBEAT.touch()
    time.sleep(1)
