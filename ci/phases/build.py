"""Build: what a dev build is given, the same for dev and watch (their stack is a dev stack)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ci.buildargs import BuildArgs, dev_args, dev_build_args
from ci.git import commit_label
from ci.settings import Settings

TAG = "dev"  # a dev stack's images: compose's default tag


@dataclass(frozen=True)
class DevValues:
    """A dev build's bake variables and its build args per target: fresh values, from one moment."""

    variables: dict[str, str]
    build_args: BuildArgs


def dev_values(settings: Settings, now: datetime) -> DevValues:
    return DevValues(
        {
            "PROJECT": settings.project,
            "TAG": TAG,
            # No registry cache: dev bakes with --no-cache (nothing to import, nothing worth exporting), watch
            # from the local cache, the fast one; the registry's is prod's.
            "REGISTRY_CACHE": "false",
            **dev_build_args(now, commit_label(settings.root)),
        },
        dev_args(now),
    )
