"""The heavy profile's start: the ML libraries imported before the service answers, as the build guide's backend
imports its models' code at start; then the example's service (build info and health, no outside service)."""

from __future__ import annotations

import importlib
import logging
import time

import uvicorn

LIBRARIES = ("torch", "transformers", "sentence_transformers", "whisper")

log = logging.getLogger("mainza.backend")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    versions = {}
    for name in LIBRARIES:
        module = importlib.import_module(name)
        versions[name] = getattr(module, "__version__", "?")
    found = ", ".join(f"{name} {version}" for name, version in versions.items())
    log.info("imported %s in %.1fs", found, time.monotonic() - started)
    uvicorn.run("backend.main:app", host="0.0.0.0", port=8000)  # noqa: S104 (inside its container)


if __name__ == "__main__":
    main()
