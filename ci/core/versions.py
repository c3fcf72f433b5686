"""Versions: the tools' version strings read and compared with packaging, and what this project needs
of each tool. The one place the minimums live (docs/toolchains.md quotes them; `nox -s doctor` checks them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Minimum:
    version: str
    why: str  # the feature that needs it, and where that version is documented


HOST_MINIMUMS: dict[str, Minimum] = {
    "engine": Minimum(
        "25.0",
        "healthcheck start interval, used by compose.yaml and Dockerfile.frontend (moby v25.0.0 release notes, "
        "API 1.44)",
    ),
    "buildx": Minimum(
        "0.13.0",
        "bake --progress=rawjson without the build-details text (docker/buildx 598bc16, first in v0.13.0) "
        "and --metadata-file",
    ),
    "compose": Minimum(
        "2.24.0",
        "healthcheck start_interval passed to the engine (docker/compose fb3868f, first in v2.24.0)",
    ),
}
# What the tests run on: the oldest (Debian trixie's, the host's packages) and the newest (Debian sid's,
# `ci/provision --newest-plugins`) of each tool. doctor warns, not fails, above the newest tested.
TESTED: dict[str, tuple[str, str]] = {
    "engine": ("26.1.5", "26.1.5"),
    "buildx": ("0.13.1", "0.29.1"),
    "compose": ("2.26.1", "2.40.3"),
}
# `docker buildx bake --check` (build checks through --call): docker/buildx 8da2857, first in v0.16.0.
BUILDX_CHECK = Version("0.16.0")
# buildx v0.18.0 renamed prune's --keep-storage to --reserved-space and added --max-used-space and
# --min-free-space (docker/buildx#2766); the last two also need BuildKit v0.17.0+ on the builder.
BUILDX_NEW_SPACE_FLAGS = Version("0.18.0")
BUILDKIT_MAX_USED_SPACE = Version("0.17.0")


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


def at_least(text: str | None, minimum: Version) -> bool:
    """Whether the version in TEXT is MINIMUM or newer; False when TEXT holds none."""
    found = parse_version(text)
    return found is not None and found >= minimum
