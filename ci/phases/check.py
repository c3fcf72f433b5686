"""Check the stack: each check of each service, as its labels in compose.yaml declare them, against the
latest build and the working tree; the checks verify runs on the stack and watch runs after every turn
(prove), and what of the tree the stack or the build does not have (stale_targets, changed_since_build).

Every service the definitions name is checked, whatever the build record says: one the record cannot place
(no build of its target, or not under the reference compose runs: `placement`) fails its image check, named;
one whose image the project does not build (a database) is checked for its health alone. A job (ci/stack/services.py)
is checked for its completion (`NAME job`: exit 0, and when), never for its health; one the project builds, for
its image and sources too, as the services of its image are (not over HTTP: it serves nothing)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from ci import docker as dk
from ci.builds.bake import shaping_now
from ci.builds.bakefile import bake_environment
from ci.builds.buildargs import arg_digests, args_digest, changed_args
from ci.builds.record import BuildRecord, TargetRecord
from ci.core import fetch
from ci.core.errors import CiError
from ci.core.report import Report
from ci.core.settings import Settings
from ci.core.units import short_id
from ci.probe import buildinfo
from ci.sources.fingerprint import changed_files, fingerprint
from ci.sources.identity import Inputs
from ci.stack import live, rollback
from ci.stack.services import LABEL, ComposeService, HeaderRule, Job, Service, job_kinds, normalized

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Context:
    """What the checks share: the engine, the latest build, the stack's services (those the project builds,
    and the OTHERS) and their containers."""

    settings: Settings
    engine: dk.Engine
    build: BuildRecord
    services: list[Service]
    containers: dict[str, dk.ContainerInfo]
    # Keys a service's build info adds beyond those its label requires: they pass, and verify.json lists them.
    extra_keys: dict[str, list[str]] = field(default_factory=dict)
    others: list[ComposeService] = field(default_factory=list)  # images the project does not build
    # The build args that shape each target's image as the definitions resolve them now (exported over .env):
    # given (watch: as it resolved them when it started), else resolved once, when first needed.
    args_now: dict[str, dict[str, str]] | None = None
    # verify's question about a service watch synced (ci/watch/sync.py `checker`: the service's name, its
    # container, its target's build): "" when no sync speaks of its container, else the line that it is at the
    # tree (CiError when not). None: no container is taken as synced (watch's own turns).
    synced: Callable[[str, dk.ContainerInfo, TargetRecord], str] | None = None

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def jobs(self) -> dict[str, Job]:
        """The jobs of the stack, built or not, by name."""
        return job_kinds([*self.services, *self.others])

    def target(self, service: Service) -> TargetRecord:
        """The record's build of SERVICE's target; CiError when it has none."""
        found = self.build.targets.get(service.target)
        if found is None:
            raise CiError(f"{service.name}: {no_build(service, self.build)}")
        return found

    def shaping(self, target: str) -> dict[str, str]:
        if self.args_now is None:
            variables = {**self.build.variables, "PROJECT": self.settings.project, "TAG": self.build.tag}
            # The targets of the services the definitions name (a target the record alone knows is gone).
            targets = dict.fromkeys(s.target for s in self.services)
            self.args_now = shaping_now(self.engine, self.settings, targets, variables)
        return self.args_now.get(target, {})

    def expected(self, service: Service) -> dict[str, str]:
        """What SERVICE must report about its build (BuildRecord.expected); CiError when the record has none."""
        self.target(service)
        return self.build.expected(service.target)


def run_checks(
    report: Report,
    ctx: Context,
    services: list[Service],
    *,
    others: Sequence[ComposeService] = (),
    browser: bool = False,
) -> None:
    """Each check of each of SERVICES as a testcase `SERVICE CHECK`, every check run, failed or not; of a
    service whose target the record has no build of, its image check fails and the others are skipped; a
    job's `SERVICE job` first, its checks over HTTP skipped. Then each of OTHERS: a job's completion, `SERVICE
    job`, else its health, `SERVICE health`."""
    for service in services:
        recorded = service.target in ctx.build.targets
        if service.job is not None:
            with suppress(CiError), report.step(f"{service.name} job") as check:
                check.message = job_done(ctx, service.name, service.job)
        for name, check_function in service_checks(service):
            if not recorded and name != "image":
                report.skip([f"{service.name} {name}"], f"not checked: no build of {service.target} recorded")
                continue
            if service.job is not None and name in OVER_HTTP:
                report.skip([f"{service.name} {name}"], "not checked: a job serves nothing")
                continue
            with suppress(CiError), report.step(f"{service.name} {name}") as check:
                check.message = check_function(ctx, service)
    for other in others:
        if other.job is not None:
            with suppress(CiError), report.step(f"{other.name} job") as check:
                check.message = job_done(ctx, other.name, other.job) + f"; {outside(other)}, its completion checked"
            continue
        with suppress(CiError), report.step(f"{other.name} health") as check:
            check.message = outside_health(ctx, other)
    if browser:
        with suppress(CiError), report.step("browser") as check:
            check.message = browser_check(ctx)


class NotVerified(CiError):
    """Checks that failed: each one's name and message."""


def prove(ctx: Context, services: list[Service], profile: str) -> str:
    """The checks of SERVICES, whose containers were just seen healthy, against the build just recorded
    (a report of their own, PROFILE's): the line that says what runs is the tree, or NotVerified with the
    failing ones."""
    checks = Report(profile)
    run_checks(checks, ctx, services)
    failing = [c for c in checks.main.checks if c.failing]
    if failing:
        raise NotVerified("; ".join(f"{c.name}: {c.message}" for c in failing))
    # A job from a service's image is that target's: its sources said once.
    sources = ", ".join(dict.fromkeys(short_id(ctx.build.targets[s.target].source_digest) for s in services))
    return f"verified: running = tree (sources {sources})"


def stale_targets(engine: dk.Engine, services: Sequence[Service], inputs: Mapping[str, Inputs]) -> list[str]:
    """The targets (of INPUTS) whose running sources are not the tree's: what changed while nothing watched."""
    stale = []
    running = live.running(engine, [s.name for s in services])
    for service in services:
        found = inputs.get(service.target)
        container = running.get(service.name)
        if found is None or container is None:
            continue
        if dk.image_source_digest(engine, container.image) != fingerprint(found.context, found.dockerfile).digest:
            stale.append(service.target)
    return stale


def changed_since_build(record: BuildRecord | None, inputs: Mapping[str, Inputs], targets: Iterable[str]) -> list[Path]:
    """The files of TARGETS (their INPUTS) that differ from the build RECORD describes."""
    found = []
    built = record.targets if record else {}
    for target in targets:
        context, dockerfile = inputs[target].context, inputs[target].dockerfile
        now = fingerprint(context, dockerfile).files
        before = built[target].files if target in built else {}
        found += [context / c.split(" ", 1)[1] for c in changed_files(before, now)]
    return found


def no_build(service: Service, record: BuildRecord) -> str:
    return (
        f"the build record has no build of target {service.target} ({record.what}): what it runs is unknown; "
        "build it (`nox -s dev` or `nox -s prod`)"
    )


def placement(record: BuildRecord, service: Service) -> str:
    """Why RECORD cannot say what SERVICE runs, naming it: no build of its target, or none under the image
    reference compose runs for it (another tag: what runs there is no build the record knows); "" when it can
    (whether the container runs that build is the image check's)."""
    target = record.targets.get(service.target)
    if target is None:
        return f"{service.name}: {no_build(service, record)}"
    if normalized(service.image) not in {normalized(tag) for tag in target.tags}:
        return (
            f"{service.name}: compose runs {service.image}, a tag the build record's {service.target} "
            f"({record.what}: {', '.join(target.tags) or 'no tag'}) does not carry: what runs there is unknown; "
            "rebuild (`nox -s dev` or `nox -s prod`)"
        )
    return ""


OVER_HTTP = ("build info", "page")  # the checks that ask a running service: none of a job's


def service_checks(service: Service) -> list[tuple[str, Callable[[Context, Service], str]]]:
    """What is checked of SERVICE: its image and sources always; over HTTP and in its log as declared."""
    found: list[tuple[str, Callable[[Context, Service], str]]] = [("image", image_is_latest)]
    if service.checks.build_info:
        found.append(("build info", build_info))
    if service.checks.page:
        found.append(("page", page_headers))
    found.append(("source fingerprint", source_fingerprint))
    if service.checks.startup_log:
        found.append(("startup log", startup_log))
    return found


# --- the checks: each returns its one-line detail, or raises CiError with what is wrong ------------


def image_is_latest(ctx: Context, service: Service) -> str:
    """The record places SERVICE (placement), and its container runs that build's image."""
    unknown = placement(ctx.build, service)
    if unknown:
        raise CiError(unknown)
    container = ctx.containers[service.name]
    built = ctx.target(service).image_id
    if container.image != built:
        raise CiError(
            f"{service.name} runs image {short_id(container.image)} but {ctx.build.what} produced "
            f"{short_id(built)}: recreate it from that build (`nox -s verify -- --up`)"
        )
    return f"{short_id(container.image)}, the latest build's"


def build_info(ctx: Context, service: Service) -> str:
    """The build info the service answers: the build's values for its target, in JSON or as
    `window.BUILD_INFO = {...}` (keys in camelCase there), with the headers its labels require."""
    endpoint = service.checks.build_info
    assert endpoint is not None
    url = service.url(endpoint)
    response = get(url)
    if response.status_code != 200:
        raise CiError(f"{url} answered HTTP {response.status_code}: {buildinfo.excerpt(response.text)}")
    info = buildinfo.parse(response.text)
    if info is None:
        raise CiError(
            f"{url} is neither a JSON object nor `window.BUILD_INFO = {{...}}`: {buildinfo.excerpt(response.text)}"
        )
    expected = ctx.expected(service)
    problems = header_problems(response, endpoint.headers)
    wanted = service.checks.build_info_keys
    if wanted - set(info):
        problems.append(
            f"keys {sorted(wanted - set(info))} missing: the label {LABEL}build-info.keys of {service.name} "
            "in compose.yaml requires them (edit it if the service no longer serves them)"
        )
    extra = sorted(set(info) - wanted - set(expected)) if wanted else []
    if extra:
        ctx.extra_keys[service.name] = extra
    for key in ("build_date", "container_started"):
        if key in info and not ISO_UTC.match(str(info[key])):
            problems.append(f"{key} {info[key]!r} is not ISO 8601 UTC")
    if info.get("status", "healthy") != "healthy":
        problems.append(f"status is {info.get('status')!r}")
    if "python_version" in info and not re.match(r"^\d+\.\d+", str(info["python_version"])):
        problems.append(f"python_version {info['python_version']!r}")
    if "build_timestamp" in info and info["build_timestamp"] != epoch_ms(expected["build_date"]):
        problems.append(f"buildTimestamp {info['build_timestamp']!r}, expected {epoch_ms(expected['build_date'])}")
    problems += differences(info, expected)
    if problems:
        raise CiError(f"{service.name} {url}: " + "; ".join(problems) + f" (expected {ctx.build.what})")
    more = f"; extra keys: {', '.join(extra)}" if extra else ""
    return f"commit {info['git_commit']}, built {info['build_date']}, sources {str(info['source_digest'])[7:19]}{more}"


def page_headers(ctx: Context, service: Service) -> str:
    endpoint = service.checks.page
    assert endpoint is not None
    url = service.url(endpoint)
    problems = header_problems(get(url), endpoint.headers)
    if problems:
        raise CiError(f"{service.name} {url}: " + "; ".join(problems))
    return f"{url}: {', '.join(r.name for r in endpoint.headers) or 'answers'}"


def source_fingerprint(ctx: Context, service: Service) -> str:
    """What SERVICE runs is the working tree's, said as one of its three states: built from the tree (its
    sources, and the build args that shape its image as the definitions resolve them now: a frontend built with
    another API URL in .env is another build); synced from the tree onto an image built from an earlier tree (a
    container watch synced passes only so, and only while still at the tree: ctx.synced); or stale (CiError)."""
    target = ctx.target(service)
    said = ctx.synced(service.name, ctx.containers[service.name], target) if ctx.synced else ""
    if said:
        return said
    context = ctx.settings.root / target.context
    now = fingerprint(context, context / target.dockerfile)
    image = ctx.containers[service.name].image
    running = dk.image_source_digest(ctx.engine, image)
    rebuild = "rebuild (`nox -s dev` or `nox -s prod`)"
    if running != now.digest and running == target.source_digest:
        changes = changed_files(target.files, now.files)
        shown = ", ".join(changes[:8]) + (f" and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise CiError(f"{service.name} is stale: the tree changed since the build: {shown}: {rebuild}")
    if running != now.digest:
        raise CiError(
            f"{service.name} is stale: it runs sources {str(running)[7:19]}, the tree is {now.short}: {rebuild}"
        )
    args = ctx.shaping(service.target)
    running_args, args_now = dk.image_build_args(ctx.engine, image), args_digest(args)
    if running_args == args_now:
        return f"built from the tree: sources {now.short}, build args {short_id(args_now)}"
    if running_args == target.build_args_digest:
        declared = bake_environment(ctx.settings)
        changed = changed_args(
            target.build_args, arg_digests(args), lambda n: ctx.settings.env.source(n) if n in declared else ""
        )
        raise CiError(f"{service.name}: build args changed since the build: {', '.join(changed)}: {rebuild}")
    shown = short_id(running_args) if running_args else "(none recorded)"
    raise CiError(f"{service.name} runs build args {shown}, the definitions resolve {short_id(args_now)}: {rebuild}")


def startup_log(ctx: Context, service: Service) -> str:
    logs = dk.container_logs(ctx.engine, ctx.containers[service.name].id)
    expected = ctx.expected(service)
    wanted = {
        "Cache bust": expected["cache_bust"],
        "Build date": expected["build_date"],
        "Git commit": expected["git_commit"],
    }
    problems = []
    for label, value in wanted.items():
        found = re.findall(rf"{label}: (\S+)", logs)
        if not found:
            problems.append(f"no `{label}:` line")
        elif found[-1] != value:
            problems.append(f"`{label}: {found[-1]}`, expected {value}")
    if problems:
        raise CiError(f"{service.name} startup log: " + "; ".join(problems))
    return ", ".join(f"{k}: {v}" for k, v in wanted.items())


def outside_health(ctx: Context, service: ComposeService) -> str:
    """A service whose image the project does not build (a database): running and healthy by the one health
    rule (live.ready); nothing of it is compared with the tree."""
    container = ctx.containers.get(service.name)
    why = "no container" if container is None else live.unready(container)
    if container is None or why:
        raise CiError(f"{service.name}: {why}: start it (`nox -s verify -- --up`, or `nox -s dev`)")
    return f"{container.state}; {outside(service)}, its health alone is checked"


def outside(service: ComposeService) -> str:
    return f"{service.image or 'its image'}: not built by the project"


def job_done(ctx: Context, name: str, job: Job) -> str:
    """The job NAME completed: its container exited 0 (`completed (exit code 0) at 2026-12-07T06:01:02Z`); one
    declared `restart: "no"` may still run, as a service. Else CiError naming it (a failure with its log's
    tail)."""
    container = ctx.containers.get(name)
    if container is None:
        raise CiError(f"{name}: no container: the job never ran: run it (`nox -s verify -- --up`, or `nox -s dev`)")
    why = live.unready(container, job)
    if not why:
        if live.completed(container):
            return f"completed (exit code 0) at {container.finished}"
        return f'{container.state} (restart: "no": a service until it exits)'
    if container.running and not container.restarts:
        raise CiError(f"{name}: {why}: a job others wait for; wait for it (`docker compose logs {name}`)")
    log = dk.container_logs(ctx.engine, container.id, tail=rollback.LOG_LINES) if container.started else ""
    summary = rollback.error_summary(log)
    detail = f"{why}: {summary}" if summary and summary not in why else why
    raise CiError(
        f"{name}: the job failed ({detail}): run it again (`nox -s verify -- --up`, or `nox -s dev`)",
        output=f"--- last log lines of {name} ---\n{log}" if log else "",
    )


def browser_check(ctx: Context) -> str:
    from ci.probe import browser as page  # playwright is installed only for --browser

    found = [s for s in ctx.services if s.checks.browser]
    if not found:
        raise CiError("no service declares a page for --browser (label mainza.verify.browser)")
    details = []
    for service in found:
        assert service.checks.browser is not None
        expected = {}
        for badge in service.checks.badges:
            shown = ctx.service(badge)
            if shown is None:
                raise CiError(f"{service.name}: badge {badge!r} names no service of the stack")
            expected[badge] = ctx.expected(shown)["git_commit"]
        details.append(page.check_page(service.url(service.checks.browser), expected))
    return "; ".join(details)


# --- helpers -------------------------------------------------------------------------------------


def get(url: str) -> requests.Response:
    """URL's answer, read whole within fetch's limits (a page's: the checks read build info and pages alike)."""
    try:
        return fetch.get(url, cap=fetch.PAGE_BYTES, seconds=fetch.ANSWER_SECONDS)
    except fetch.BadAnswer as err:
        raise CiError(f"{url}: {err}") from None
    except requests.Timeout:
        raise CiError(f"{url} did not answer within {fetch.seconds_shown(fetch.READ_SECONDS)}") from None
    except requests.RequestException as err:
        raise CiError(f"{url}: {type(err).__name__}: {buildinfo.excerpt(str(err))}") from None


def header_problems(response: requests.Response, rules: tuple[HeaderRule, ...]) -> list[str]:
    return [f"header {r.name}: {response.headers.get(r.name)!r}, expected {r.pattern!r}" for r in rules
            if not r.allows(response.headers.get(r.name))]  # fmt: skip


def differences(running_info: dict[str, Any], expected: dict[str, str]) -> list[str]:
    return [
        f"{key} is {running_info.get(key)!r}, the latest build has {value!r}"
        for key, value in expected.items()
        if running_info.get(key) != value
    ]


def epoch_ms(iso: str) -> int | None:
    try:
        return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) * 1000
    except ValueError:
        return None
