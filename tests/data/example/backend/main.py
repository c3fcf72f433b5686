"""The backend service: build information and health, nothing else yet."""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

# Written by the Dockerfile's last layer from the build args: the values are the image's, not the host's.
BUILD_INFO_FILE = Path(__file__).with_name("build-info.json")
STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

log = logging.getLogger("mainza.backend")


def load_build_info(path: Path = BUILD_INFO_FILE) -> dict[str, str]:
    """Build args baked into the image; `unknown` outside an image."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    return {key: str(data.get(key) or "unknown") for key in ("build_date", "git_commit", "cache_bust", "source_digest")}


BUILD = load_build_info()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # These three lines are what `docker compose logs backend | grep -E "(Cache bust|Build date|Git commit)"` finds.
    log.info("Cache bust: %s", BUILD["cache_bust"])
    log.info("Build date: %s", BUILD["build_date"])
    log.info("Git commit: %s", BUILD["git_commit"])
    yield


app = FastAPI(title="mainza backend", lifespan=lifespan)


@app.get("/build/info")
def build_info() -> dict[str, str]:
    return {
        "build_date": BUILD["build_date"],
        "git_commit": BUILD["git_commit"],
        "cache_bust": BUILD["cache_bust"],
        "source_digest": BUILD["source_digest"],
        "python_version": platform.python_version(),
        "container_started": STARTED,
        "status": "healthy",
    }


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
