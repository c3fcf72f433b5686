"""The project's services, as its definitions declare them: each compose service (`docker compose config`)
that runs an image a bake target builds (`bake --print`: an image of a repository one of its tags names), with
its published ports and what `nox -s verify` checks of it; and the others (a database, a queue: images the
project does not build). No service is named in Python: adding one is a bake target, a compose service and a
folder.

How a service is checked beyond its container, image and sources is declared beside it, as compose labels:

    mainza.verify.build-info: "8000/build/info"      container port / path answering the build info
    mainza.verify.build-info.keys: "a b c"           the exact keys it must answer (optional)
    mainza.verify.build-info.headers: "H=glob; ..."  response headers it must carry (optional)
    mainza.verify.build-info.public: "/api/build/info"  the same, as the stack's public address serves it
                                                     (a path below it): what `verify -- --url` asks
    mainza.verify.page: "8080/"                      a page whose headers are checked
    mainza.verify.page.headers: "H=glob; ..."
    mainza.verify.startup-log: "true"                its log says `Cache bust:`, `Build date:`, `Git commit:`
    mainza.verify.browser: "8080/"                   `--browser` opens this page...
    mainza.verify.browser.badges: "a b"              ...whose `[data-testid=NAME-badge]` show each service's commit

A header rule is `Name=glob`, matched without regard to case (`?*`: present and not empty).

A job (a migration, a seed: a one-shot) is a service by compose's own rules: one that another waits for with
`depends_on: {NAME: {condition: service_completed_successfully}}` (what compose's `up --wait` waits to complete),
or one declared `restart: "no"` once it has exited. Exit 0 is done; any other, a failure.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ci.core.errors import CiError

LABEL = "mainza.verify."
COMPLETED = "service_completed_successfully"  # the depends_on condition that makes its service a job


class Job(Enum):
    """How a job says it is one: what it is judged by while it runs (`stack.ready`)."""

    WAITED = "waited for"  # another service waits for it to complete: until it exits, it is not done
    ONCE = 'restart: "no"'  # declared not to restart: a service while it runs, a job once it has exited


@dataclass(frozen=True)
class Port:
    host: int
    container: int
    host_ip: str = ""


@dataclass(frozen=True)
class HeaderRule:
    name: str
    pattern: str  # fnmatch glob, case-insensitive

    def allows(self, value: str | None) -> bool:
        return value is not None and fnmatch.fnmatchcase(value.lower(), self.pattern.lower())

    def __str__(self) -> str:
        return f"{self.name}={self.pattern}"


@dataclass(frozen=True)
class Endpoint:
    """A URL of the service, as a container port and a path; `url` maps it to the published host port."""

    port: int
    path: str
    headers: tuple[HeaderRule, ...] = ()


@dataclass(frozen=True)
class Checks:
    build_info: Endpoint | None = None
    build_info_keys: frozenset[str] = frozenset()  # empty: only the build's own keys are required
    public_build_info: str = ""  # the build info's path below the stack's public address; empty: none
    page: Endpoint | None = None
    startup_log: bool = False
    browser: Endpoint | None = None
    badges: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str
    ports: tuple[Port, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    pull_policy: str = ""  # compose's, as `config` gives it; empty: its default, pull when missing
    build: bool = False  # it has a `build:` section: compose builds its image when it has none
    job: Job | None = None  # None: a service, which runs until stopped


@dataclass(frozen=True)
class Service:
    """A service of the stack: its compose service, the bake target building its image, what verify checks."""

    name: str
    target: str
    image: str
    ports: tuple[Port, ...]
    checks: Checks
    job: Job | None = None  # built by the project and run once (a migration from the backend's image)

    def url(self, endpoint: Endpoint) -> str:
        host = next((p.host for p in self.ports if p.container == endpoint.port), None)
        if host is None:
            raise CiError(
                f"{self.name}: compose.yaml publishes no host port for container port {endpoint.port}, "
                f"which its label {LABEL}* names"
            )
        return f"http://127.0.0.1:{host}{endpoint.path}"


def normalized(image: str) -> str:
    """An image reference as the engine names it locally: no docker.io/library/, `:latest` when untagged."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if image.startswith(prefix):
            image = image[len(prefix) :]
            break
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


def _port(raw: Mapping[str, Any]) -> Port | None:
    published = str(raw.get("published") or "")
    if not published.isdigit():
        return None  # not published, or a range: nothing verify can address
    return Port(int(published), int(raw.get("target") or 0), str(raw.get("host_ip") or ""))


def jobs(config: Mapping[str, Any]) -> dict[str, Job]:
    """The jobs of `docker compose config --format json`, by name: those another service waits for with
    `condition: service_completed_successfully` (compose writes depends_on in its long form), then those
    declared `restart: "no"`."""
    services = config.get("services") or {}
    depends = [raw.get("depends_on") for raw in services.values() if isinstance(raw, Mapping)]
    waited = {
        name
        for each in depends
        if isinstance(each, Mapping)  # the short form, a list, waits for nothing to complete
        for name, dependency in each.items()
        if isinstance(dependency, Mapping) and dependency.get("condition") == COMPLETED
    }
    found = {name: Job.WAITED for name in sorted(waited) if name in services}
    for name, raw in sorted(services.items()):
        if name not in found and isinstance(raw, Mapping) and str(raw.get("restart") or "") == "no":
            found[name] = Job.ONCE
    return found


def job_kinds(services: Iterable[ComposeService | Service]) -> dict[str, Job]:
    """The jobs among SERVICES, by name: what the one health rule (stack.ready) is told of them."""
    return {s.name: s.job for s in services if s.job is not None}


def compose_services(config: Mapping[str, Any]) -> dict[str, ComposeService]:
    """The services of `docker compose config --format json` (the active profiles only), by name."""
    found = {}
    kinds = jobs(config)
    for name, raw in sorted((config.get("services") or {}).items()):
        labels = raw.get("labels") or {}
        if isinstance(labels, list):  # compose accepts "key=value" items too
            labels = dict(str(item).partition("=")[::2] for item in labels)
        found[name] = ComposeService(
            name=name,
            image=str(raw.get("image") or ""),
            ports=tuple(p for p in map(_port, raw.get("ports") or []) if p is not None),
            labels={str(k): str(v) for k, v in labels.items()},
            pull_policy=str(raw.get("pull_policy") or ""),
            build=bool(raw.get("build")),
            job=kinds.get(name),
        )
    return found


def _endpoint(service: str, labels: Mapping[str, str], key: str) -> Endpoint | None:
    value = labels.get(LABEL + key, "").strip()
    if not value:
        return None
    port, slash, path = value.partition("/")
    if not port.isdigit():
        raise CiError(f"{service}: label {LABEL}{key}={value!r} is not PORT/PATH (a container port, a path)")
    rules = []
    for rule in labels.get(f"{LABEL}{key}.headers", "").split(";"):
        name, equals, pattern = rule.strip().partition("=")
        if name and not equals:
            raise CiError(f"{service}: label {LABEL}{key}.headers: {rule.strip()!r} is not Name=glob")
        if name:
            rules.append(HeaderRule(name.strip(), pattern.strip()))
    return Endpoint(int(port), slash + path, tuple(rules))


def _public_path(service: str, labels: Mapping[str, str]) -> str:
    value = labels.get(LABEL + "build-info.public", "").strip()
    if value and not value.startswith("/"):
        raise CiError(f"{service}: label {LABEL}build-info.public={value!r} is not a path (it starts with /)")
    return value


def checks(service: str, labels: Mapping[str, str]) -> Checks:
    """What verify checks of SERVICE beyond its container, image and sources, from its labels."""
    return Checks(
        build_info=_endpoint(service, labels, "build-info"),
        build_info_keys=frozenset(labels.get(LABEL + "build-info.keys", "").split()),
        public_build_info=_public_path(service, labels),
        page=_endpoint(service, labels, "page"),
        startup_log=labels.get(LABEL + "startup-log", "").strip().lower() in ("true", "1", "yes"),
        browser=_endpoint(service, labels, "browser"),
        badges=tuple(labels.get(LABEL + "browser.badges", "").split()),
    )


def repository(ref: str) -> str:
    """An image reference without its tag or digest; a registry's port stays: `localhost:5000/p-backend:dev`
    -> `localhost:5000/p-backend`."""
    name = ref.split("@", 1)[0]
    head, colon, tag = name.rpartition(":")
    return head if colon and "/" not in tag else name


def building_target(image: str, target_tags: Mapping[str, Iterable[str]]) -> str | None:
    """The target (of TARGET_TAGS: target -> its tags) that builds IMAGE: the one tagging that very reference,
    else one tagging its repository under another tag (the project's image, at a tag its build may not have
    given it: verify says so); None: an image the project does not build."""
    wanted = normalized(image)
    exact = repo = None
    for target, tags in target_tags.items():
        names = {normalized(tag) for tag in tags}
        if wanted in names:
            exact = exact or target
        elif repository(wanted) in {repository(n) for n in names}:
            repo = repo or target
    return exact or repo


def outside_services(
    compose: Mapping[str, ComposeService], target_tags: Mapping[str, Iterable[str]]
) -> list[ComposeService]:
    """The compose services whose image no target builds (a database, a queue; one with no image named), in
    compose's order."""
    return [s for s in compose.values() if not s.image or building_target(s.image, target_tags) is None]


def stack_services(compose: Mapping[str, ComposeService], target_tags: Mapping[str, Iterable[str]]) -> list[Service]:
    """The compose services whose image one of the targets builds (TARGET_TAGS: target -> its tags; see
    building_target), in compose's order; a service that runs an image built elsewhere (the cache registry)
    is not one."""
    found = []
    for name, service in compose.items():
        target = building_target(service.image, target_tags) if service.image else None
        if target is not None:
            found.append(Service(name, target, service.image, service.ports, checks(name, service.labels), service.job))
    return found
