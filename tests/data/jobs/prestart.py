"""A one-shot job built from the backend's image (tests/integration/test_jobs.py), as full-stack templates run
their migrations before the backend: it records its run in the store (the app's database) under the build
that ran it, logs the warning a library of the issue's app logged and swallowed, and exits 0."""

import json
import sys
import time
import urllib.request
from pathlib import Path

STORE = "http://store:7000/"


def main() -> None:
    build = json.loads((Path(__file__).parent / "build-info.json").read_text())
    run = urllib.request.Request(STORE, data=build["cache_bust"].encode(), method="POST")
    for _ in range(100):  # compose starts the store first; it may not listen yet
        try:
            urllib.request.urlopen(run, timeout=2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit(f"{STORE} never answered")
    print("(trapped) error reading bcrypt version", flush=True)
    print("AttributeError: module 'bcrypt' has no attribute '__about__'", flush=True)


if __name__ == "__main__":
    main()
