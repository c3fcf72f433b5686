"""`nox -s verify`: prove that what runs is the latest build of the current tree, check by check.

A commit hash alone cannot: an uncommitted edit leaves it unchanged, compose can keep an old container
after a rebuild, an image can be rebuilt without its container being recreated. Each check compares the
running stack with the record of the latest build (reports/last-build.json, written by dev and prod) and
with the working tree, and says exactly what is stale.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from ci import docker as dk
from ci import stack
from ci.errors import CiError
from ci.fingerprint import changed_files, fingerprint
from ci.frame import Run, Session
from ci.record import FILE as RECORD_FILE
from ci.record import BuildRecord, read_record
from ci.report import Report, markdown_table
from ci.services import HeaderRule, Service
from ci.settings import Settings

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HTTP_TIMEOUT = 3.0
EXCERPT = 200


@dataclass
class Context:
    """What the checks share: the engine, the latest build, the stack's services and their containers."""

    settings: Settings
    engine: dk.Engine
    build: BuildRecord
    services: list[Service]
    containers: dict[str, dk.ContainerInfo]

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--browser", action="store_true", help="also open the page in headless chromium")
    parser.add_argument("--up", action="store_true", help="start or recreate the stack from the latest build first")
    parser.add_argument("--down", action="store_true", help="stop the stack afterwards")


def body(run: Run) -> None:
    ctx: Context | None = None
    try:
        with run.step("services") as check:
            ctx = prepare(run.settings, recreate=run.args.up)
            check.message = services_running(ctx)
        run_checks(run.report, ctx, ctx.services, browser=run.args.browser)
    finally:
        print_summary(run.report)
        if run.args.down and ctx is not None:
            dk.stop_services(ctx.engine, [s.name for s in ctx.services])
            print("stack stopped (--down)")
    if not run.report.failed and ctx is not None:
        run.verdict = f"running = tree: {ctx.build.what}, tree {ctx.build.commit}"


def run_checks(report: Report, ctx: Context, services: list[Service], *, browser: bool = False) -> None:
    """Each check of each of SERVICES as a testcase `SERVICE CHECK`; every check runs, failed or not."""
    for service in services:
        for name, check_function in service_checks(service):
            with suppress(CiError), report.step(f"{service.name} {name}") as check:
                check.message = check_function(ctx, service)
    if browser:
        with suppress(CiError), report.step("browser") as check:
            check.message = browser_check(ctx)


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


def prepare(settings: Settings, *, recreate: bool = False) -> Context:
    """The engine, the latest build and the running stack; starts the stack from that build when it is down,
    or (RECREATE) in any case."""
    build = read_record(settings.reports_dir, settings.project)
    engine = dk.connect(settings, stack.compose_env(build.tag if build else "dev"))
    dk.require_engine(engine)
    if build is None:
        raise CiError(
            f"no build of {settings.project} recorded in {settings.reports_dir / RECORD_FILE}: "
            "run `nox -s dev` or `nox -s prod` first"
        )
    services = stack.services(engine, {name: t.tags for name, t in build.targets.items()})
    names = [s.name for s in services]
    if recreate or not stack.running(engine, names):
        why = "--up" if recreate else "the stack is down"
        print(f"{why}: starting it from {build.profile} build {build.tag}", flush=True)
        stack.start(engine, settings, services)
    containers = stack.wait_while_starting(engine, names)
    return Context(settings, engine, build, services, containers)


# --- the checks: each returns its one-line detail, or raises CiError with what is wrong ------------


def services_running(ctx: Context) -> str:
    problems = []
    for service in ctx.services:
        container = ctx.containers.get(service.name)
        if container is None:
            problems.append(f"{service.name}: no container")
        elif not container.running:
            problems.append(f"{service.name}: {container.status} (exit code {container.exit_code})")
        elif container.health not in ("healthy", None):
            problems.append(f"{service.name}: {container.health}")
    if problems:
        raise CiError("; ".join(problems) + ": run `nox -s verify -- --up`, or `nox -s dev`")
    return ", ".join(f"{s.name} {ctx.containers[s.name].state}" for s in ctx.services)


def image_is_latest(ctx: Context, service: Service) -> str:
    container = ctx.containers[service.name]
    built = ctx.build.targets[service.target].image_id
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
        raise CiError(f"{url} answered HTTP {response.status_code}: {excerpt(response.text)}")
    info = parse_build_info(response.text)
    if info is None:
        raise CiError(f"{url} is neither a JSON object nor `window.BUILD_INFO = {{...}}`: {excerpt(response.text)}")
    expected = ctx.build.expected(service.target)
    problems = header_problems(response, endpoint.headers)
    wanted = service.checks.build_info_keys
    if wanted and set(info) != wanted:
        missing, extra = wanted - set(info), set(info) - wanted
        problems.append(f"keys: missing {sorted(missing)}, unexpected {sorted(extra)}")
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
    return f"commit {info['git_commit']}, built {info['build_date']}, sources {str(info['source_digest'])[7:19]}"


def page_headers(ctx: Context, service: Service) -> str:
    endpoint = service.checks.page
    assert endpoint is not None
    url = service.url(endpoint)
    problems = header_problems(get(url), endpoint.headers)
    if problems:
        raise CiError(f"{service.name} {url}: " + "; ".join(problems))
    return f"{url}: {', '.join(r.name for r in endpoint.headers) or 'answers'}"


def source_fingerprint(ctx: Context, service: Service) -> str:
    target = ctx.build.targets[service.target]
    context = ctx.settings.root / target.context
    now = fingerprint(context, context / target.dockerfile)
    running = dk.image_source_digest(ctx.engine, ctx.containers[service.name].image)
    if running == now.digest:
        return f"sources {now.short}: the working tree's"
    rebuild = "rebuild (`nox -s dev` or `nox -s prod`)"
    if running == target.source_digest:
        changes = changed_files(target.files, now.files)
        shown = ", ".join(changes[:8]) + (f" and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise CiError(f"{service.name}: the tree changed since the build: {shown}: {rebuild}")
    raise CiError(f"{service.name} runs sources {str(running)[7:19]}, the tree is {now.short}: {rebuild}")


def startup_log(ctx: Context, service: Service) -> str:
    logs = dk.container_logs(ctx.engine, ctx.containers[service.name].id)
    expected = ctx.build.expected(service.target)
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


def browser_check(ctx: Context) -> str:
    from ci import browser as page  # playwright is installed only for --browser

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
            expected[badge] = ctx.build.expected(shown.target)["git_commit"]
        details.append(page.check_page(service.url(service.checks.browser), expected))
    return "; ".join(details)


# --- helpers -------------------------------------------------------------------------------------


def get(url: str) -> requests.Response:
    try:
        return requests.get(url, timeout=HTTP_TIMEOUT)
    except requests.Timeout:
        raise CiError(f"{url} did not answer within {HTTP_TIMEOUT:.0f}s") from None
    except requests.RequestException as err:
        raise CiError(f"{url}: {type(err).__name__}: {excerpt(str(err))}") from None


def header_problems(response: requests.Response, rules: tuple[HeaderRule, ...]) -> list[str]:
    return [f"header {r.name}: {response.headers.get(r.name)!r}, expected {r.pattern!r}" for r in rules
            if not r.allows(response.headers.get(r.name))]  # fmt: skip


def parse_build_info(text: str) -> dict[str, Any] | None:
    """A JSON object, or `window.BUILD_INFO = {...}` with its camelCase keys in snake_case."""
    try:
        value = json.loads(text)
    except ValueError:
        value = parse_build_info_js(text)
        if value is None:
            return None
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): v for key, v in value.items()}
    return value if isinstance(value, dict) else None


def parse_build_info_js(text: str) -> dict[str, Any] | None:
    """`window.BUILD_INFO = {buildDate: "...", ...};` (a JS object literal with bare keys) as a dict."""
    match = re.fullmatch(r"\s*window\.BUILD_INFO\s*=\s*(\{.*\})\s*;?\s*", text, re.S)
    if not match:
        return None
    try:
        value = json.loads(re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', match.group(1)))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:EXCERPT] + ("..." if len(flat) > EXCERPT else ""))


def print_summary(report: Report) -> None:
    """The checks as Markdown in the CI job summary, when there is one (GitHub Actions)."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        rows = [(c.name, c.status, c.message) for c in report.main.checks]
        with open(summary, "a", encoding="utf-8") as out:
            out.write("## verify\n\n" + markdown_table(("check", "result", "detail"), rows) + "\n")


SESSION = Session(
    name="verify",
    summary=__doc__.splitlines()[0].split(": ", 1)[1],
    steps=("services",),  # then a check per service and kind, as the stack's services declare them
    body=body,
    options=options,
)
