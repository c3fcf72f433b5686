"""Case 11 of `nox -s bench`: what signing and the attestations add to a warm `nox -s prod -- --push` (the tree
built and pushed once already, the local build cache warm): the same push with `--sign` (provenance mode=max,
the SBOM made by the host's generator, cosign's signature of each digest) against it with `--no-attest` (none of
them), alternating, each counted by its median. Goal (issue 36): at most 10 s added."""

from __future__ import annotations

import secrets
import statistics
from dataclasses import dataclass, field

from ci.bench.cases import PROJECT, Bench
from ci.bench.goals import Goal
from ci.cache import registry, registry_api
from ci.core.errors import CiError
from ci.sign import cosign

CASE = "11 warm push: attested and signed, against bare"
ROUNDS = 3
GOAL = 10.0  # seconds signing and the attestations may add to a warm push, medians
REPOSITORY = f"{PROJECT}-release"  # under the cache registry: the bench's images, deleted after


@dataclass
class PushCase:
    bare: list[float] = field(default_factory=list)  # `--push --no-attest`
    signed: list[float] = field(default_factory=list)  # `--push --sign`
    registry: str = ""  # IMAGE_REGISTRY of the pushes

    @property
    def added(self) -> float:
        return statistics.median(self.signed) - statistics.median(self.bare)

    def goal(self) -> Goal:
        shown = (
            f"{self.added:+.1f}s ({statistics.median(self.signed):.1f}s against {statistics.median(self.bare):.1f}s)"
        )
        return Goal(CASE, "seconds added, medians", self.added, GOAL, shown, f"{GOAL:g}s")

    def summary(self) -> str:
        return f"signed {statistics.median(self.signed):.1f}s, bare {statistics.median(self.bare):.1f}s (medians)"


def push_case(bench: Bench) -> PushCase:
    """Both pushes once to warm them (the images built and pushed, the SBOM generator pulled), then ROUNDS of
    each, which goes first alternating; the images and signatures pushed are deleted after."""
    if cosign.available() is None:
        raise CiError(f"bench case {CASE!r} needs cosign: run `ci/provision` as root")
    found = PushCase(registry=f"{registry_api.host_of(bench.registry)}/{REPOSITORY}")
    password = secrets.token_urlsafe(18)  # never shown: cosign reads it from its environment alone
    key, _ = cosign.generate_key_pair(bench.workdir / "cosign", password)
    env = {"IMAGE_REGISTRY": found.registry, "COSIGN_KEY": str(key), "COSIGN_PASSWORD": password}
    sides = {"bare": ("--push", "--no-attest"), "signed": ("--push", "--sign")}
    try:
        for side, extra in sides.items():
            bench.prod(f"{CASE}: warming, {side}", *extra, env=env)
        for round_ in range(ROUNDS):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                seconds = bench.prod(f"{CASE}: {side}", *sides[side], env=env).seconds
                (found.bare if side == "bare" else found.signed).append(seconds)
    finally:
        for target in bench.targets:
            registry.delete_cache(f"{found.registry}/{PROJECT}-{target}")
    return found
