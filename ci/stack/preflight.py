"""Before any build: the definitions resolved as compose and bake resolve them, and every image the session will
not build found, on the engine or in its registry (its manifest asked for, nothing pulled), by compose's
`pull_policy`. dev, watch and prod run it before they bake, and doctor runs the same functions: they never
disagree about the definitions.

What compose does with the image of a service the project does not build, by its `pull_policy`, and so what
is asked of it here:

    never                            on the engine already
    always                           served by its registry: compose pulls it at every start
    missing (the default), if_not_present, daily, weekly, every_<duration>
                                     on the engine, else served by its registry
    build, or a `build:` section     nothing: compose builds it when it is missing
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ci import docker as dk
from ci.builds.bake import resolve_targets
from ci.builds.bakefile import ResolvedTarget
from ci.core.errors import CiError
from ci.core.settings import Settings
from ci.stack.live import Defined, defined_in
from ci.stack.services import ComposeService, Port, compose_services

WORKERS = 8  # images asked about at once: each is a `docker image inspect`, and a registry's round trips


@dataclass(frozen=True)
class Found:
    """The image of a service the project does not build, and where it can be had from."""

    service: str
    image: str
    where: str  # local | registry | local and registry | built by compose; empty: nowhere
    problem: str = ""  # why it cannot be had, and what to do: one line

    @property
    def line(self) -> str:
        return self.problem or f"{self.service}'s image {self.image}: {self.where}"


@dataclass(frozen=True)
class Ready:
    """The definitions resolved: compose's services, split by whether a target builds their image, and where
    each image not built here comes from."""

    defined: Defined
    images: tuple[Found, ...]

    @property
    def missing(self) -> list[Found]:
        return [f for f in self.images if f.problem]

    @property
    def ports(self) -> list[Port]:
        """The host ports of every service compose would start."""
        return [p for s in self.defined.built for p in s.ports] + [p for s in self.defined.others for p in s.ports]

    def summary(self) -> str:
        built = ", ".join(s.name for s in self.defined.built)
        others = "; ".join(f"{f.service} {f.where}" for f in self.images) or "no other image to find"
        return f"definitions resolve: {built} built here; {others}"


class ImagesMissing(CiError):
    """A service's image that no target builds can be had from nowhere: compose would fail to start it."""


def resolve(engine: dk.Engine) -> dict[str, ComposeService]:
    """compose.yaml resolved (`docker compose config`, once): a required variable that nothing sets is
    dk.MissingVariables, a usage error naming each."""
    return resolved(engine)[1]


def resolved(engine: dk.Engine) -> tuple[dict[str, Any], dict[str, ComposeService]]:
    """compose.yaml resolved once, as resolve does: compose's own JSON too (watch reads its develop.watch
    rules from it: ci/stack/develop.py), and its services."""
    config = dk.compose_config(engine)
    return config, compose_services(config)


def check(engine: dk.Engine, compose: Mapping[str, ComposeService], targets: Mapping[str, ResolvedTarget]) -> Ready:
    """COMPOSE's services split by the TARGETS that build their images (CiError when none does), and the image of
    each other one looked for: its problems are in the answer, not raised (doctor reports them, the sessions
    `require`)."""
    defined = defined_in(compose, {name: t.tags for name, t in targets.items()})
    return Ready(defined, find(engine, defined.others))


def require(ready: Ready) -> Ready:
    """READY, or ImagesMissing naming the first image that cannot be had (and how many more)."""
    missing = ready.missing
    if missing:
        more = f" (+{len(missing) - 1} more: {', '.join(f.service for f in missing[1:])})" if len(missing) > 1 else ""
        raise ImagesMissing(missing[0].problem + more, output="\n".join(f.line for f in ready.images))
    return ready


def before_build(engine: dk.Engine, settings: Settings, group: str) -> Ready:
    """What dev and prod run before they bake GROUP (watch runs its parts on the definitions it reads):
    compose.yaml and the bake file resolved at once (the bake file with the project's name: the targets' tags
    name its images), then every image no target of GROUP builds found. Raises on the first problem: a missing
    variable (exit 2), a definition that does not resolve, an image that cannot be had."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        targets = pool.submit(resolve_targets, engine, settings, group, {"PROJECT": settings.project})
        compose = resolve(engine)  # its error first: a missing variable is the user's to set, whatever bake says
        resolved = targets.result()
    return require(check(engine, compose, resolved))


# --- where an image comes from -------------------------------------------------------------------------------

NEVER = "never"
ALWAYS = "always"
BUILD = "build"


def find(engine: dk.Engine, services: Iterable[ComposeService]) -> tuple[Found, ...]:
    """Each of SERVICES with an image, found by its pull_policy (see the module's table); the engine and the
    registries asked in parallel, each image once."""
    asked = [s for s in services if s.image]
    keys = list(dict.fromkeys((s.image, _policy(s)) for s in asked))
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(keys)))) as pool:
        answers = dict(zip(keys, pool.map(lambda key: _where(engine, *key), keys), strict=True))
    return tuple(_found(s, *answers[(s.image, _policy(s))]) for s in asked)


def _policy(service: ComposeService) -> str:
    policy = service.pull_policy.strip().lower()
    if service.build or policy == BUILD:
        return BUILD
    return policy if policy in (NEVER, ALWAYS) else "missing"


def _where(engine: dk.Engine, image: str, policy: str) -> tuple[str, dk.Refusal | None]:
    """(where IMAGE is: local, registry, local and registry, built by compose, or empty), and why its registry
    did not give it when it was asked."""
    if policy == BUILD:
        return "built by compose", None
    if image.startswith("-"):  # no reference starts so; docker would read it as an option: never asked
        return "", None
    local = dk.image_exists(engine, image)
    if policy == NEVER or (local and policy != ALWAYS):
        return ("local" if local else ""), None
    cause = dk.image_resolvable(engine, image)
    if cause is None:
        return ("local and registry" if local else "registry"), None
    return ("local" if local else ""), dk.refusal(image, cause)


def _found(service: ComposeService, where: str, refused: dk.Refusal | None) -> Found:
    name, image = service.name, service.image
    if image.startswith("-"):
        return Found(name, image, "", f"{name}'s image {image!r} is not an image reference: fix it in compose.yaml")
    if where:
        # pull_policy always with the image here and the registry out of reach from this client: compose's
        # pull goes through the engine (its mirrors, proxy, CAs); only the registry's own no is a problem.
        if refused is not None and refused.definite:
            return Found(
                name, image, "", f"{name}'s image {image} (pull_policy: always) cannot be pulled: {refused.why}"
            )
        return Found(name, image, where)
    if refused is None:  # pull_policy never, and not here
        return Found(
            name,
            image,
            "",
            f"{name}'s image {image} is not on this engine and its pull_policy is never: pull it (`docker pull "
            f"{image}`) or load it, or set its pull_policy to missing",
        )
    # The registry could not be asked from here: a pull by the engine may still get it; pulling it first settles it.
    fix = "" if refused.definite else f"; or pull it first (`docker pull {image}`)"
    return Found(
        name, image, "", f"{name}'s image {image} is not on this engine and cannot be pulled: {refused.why}{fix}"
    )
