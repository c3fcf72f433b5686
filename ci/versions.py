"""Versions as the Docker tools print them, compared with packaging."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version


def parse_version(text: str | None) -> Version | None:
    """The first dotted version in TEXT: "26.1.5+dfsg1", "v2.29.1", "0.13.1+ds1-3", "v0.0.0+unknown",
    "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"; None when there is none."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    try:
        return Version(".".join(g for g in match.groups() if g is not None))
    except InvalidVersion:
        return None


def tool_version(output: str) -> str:
    """The version word of `docker buildx version` / `docker compose version` output."""
    for word in output.split():
        if parse_version(word) and re.match(r"v?\d", word):
            return word.removeprefix("v")
    return output.strip()
