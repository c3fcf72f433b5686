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
from ci.settings import Settings

CHECKS = ("services", "images", "backend build info", "frontend build info", "source fingerprint", "startup log")
BUILD_INFO_KEYS = {
    "build_date", "git_commit", "cache_bust", "source_digest", "python_version", "container_started", "status",
}  # fmt: skip
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SECURITY_HEADERS: dict[str, Callable[[str], bool]] = {
    "X-Content-Type-Options": lambda v: v.lower() == "nosniff",
    "Content-Security-Policy": lambda v: "frame-ancestors 'none'" in v,
    "Referrer-Policy": lambda v: bool(v.strip()),
}
HTTP_TIMEOUT = 3.0
EXCERPT = 200


@dataclass
class Context:
    """What the checks share: the engine, the latest build, the running containers, the answers."""

    settings: Settings
    engine: dk.Engine
    build: BuildRecord
    containers: dict[str, dk.ContainerInfo]


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--browser", action="store_true", help="also open the page in headless chromium")
    parser.add_argument("--down", action="store_true", help="stop the stack afterwards")


def body(run: Run) -> None:
    checks = (*CHECKS, "browser") if run.args.browser else CHECKS
    ctx: Context | None = None
    try:
        with run.step("services") as check:
            ctx = prepare(run.settings)
            check.message = services_running(ctx)
        for name in checks[1:]:
            assert ctx is not None
            with suppress(CiError), run.step(name) as check:  # recorded in the report; every check runs
                check.message = CHECK_FUNCTIONS[name](ctx)
    finally:
        print_summary(run.report)
        if run.args.down and ctx is not None:
            dk.stop_services(ctx.engine, list(ctx.settings.services))
            print("stack stopped (--down)")
    if not run.report.failed:
        run.verdict = f"running = tree: {ctx.build.what if ctx else ''}"


def prepare(settings: Settings) -> Context:
    """The engine, the latest build and the running stack; starts the stack from that build when it is down."""
    build = read_record(settings.reports_dir, settings.project)
    engine = dk.connect(settings, stack.compose_env(settings, build.tag if build else "dev"))
    dk.require_engine(engine)
    containers = {s: c for s, c in dk.service_containers(engine).items() if s in settings.services}
    if build is None:
        raise CiError(
            f"no build of {settings.project} recorded in {settings.reports_dir / RECORD_FILE}: "
            "run `nox -s dev` or `nox -s prod` first"
        )
    if not any(c.running for c in containers.values()):
        print(f"the stack is down: starting it from {build.profile} build {build.tag}", flush=True)
        stack.require_free_ports(settings)
        stack.up(engine, settings)
    containers = stack.wait_while_starting(engine, settings.services)
    return Context(settings, engine, build, containers)


# --- the checks: each returns its one-line detail, or raises CiError with what is wrong ------------


def services_running(ctx: Context) -> str:
    problems = []
    for service in ctx.settings.services:
        container = ctx.containers.get(service)
        if container is None:
            problems.append(f"{service}: no container")
            continue
        if not container.running:
            problems.append(f"{service}: {container.status} (exit code {container.exit_code})")
        elif container.health != "healthy":
            problems.append(f"{service}: {container.health or 'no healthcheck'}")
    if problems:
        raise CiError("; ".join(problems) + ": run `nox -s dev`, or `docker compose up -d --wait`")
    return ", ".join(f"{s} running, healthy" for s in ctx.settings.services)


def images_are_latest(ctx: Context) -> str:
    stale = []
    for service, container in ctx.containers.items():
        built = ctx.build.targets[service].image_id
        if container.image != built:
            stale.append(
                f"{service} runs image {short_id(container.image)} but {ctx.build.what} produced {short_id(built)}"
            )
    if stale:
        raise CiError("; ".join(stale) + ": recreate the containers (`docker compose up -d --force-recreate`)")
    return ", ".join(f"{s} {short_id(c.image)}" for s, c in ctx.containers.items())


def backend_build_info(ctx: Context) -> str:
    url = f"http://127.0.0.1:{ctx.settings.backend_port}/build/info"
    body = fetch(url)
    try:
        info = json.loads(body)
    except ValueError:
        raise CiError(f"{url} did not answer JSON: {excerpt(body)}") from None
    if not isinstance(info, dict):
        raise CiError(f"{url} did not answer a JSON object: {excerpt(body)}")
    problems = []
    if set(info) != BUILD_INFO_KEYS:
        missing, extra = BUILD_INFO_KEYS - set(info), set(info) - BUILD_INFO_KEYS
        problems.append(f"keys: missing {sorted(missing)}, unexpected {sorted(extra)}")
    for key in ("build_date", "container_started"):
        if not ISO_UTC.match(str(info.get(key, ""))):
            problems.append(f"{key} {info.get(key)!r} is not ISO 8601 UTC")
    if info.get("status") != "healthy":
        problems.append(f"status is {info.get('status')!r}")
    if not re.match(r"^\d+\.\d+", str(info.get("python_version", ""))):
        problems.append(f"python_version {info.get('python_version')!r}")
    problems += differences(info, ctx.build.expected("backend"))
    if problems:
        raise CiError(f"backend {url}: " + "; ".join(problems) + f" (expected {ctx.build.what})")
    return f"commit {info['git_commit']}, built {info['build_date']}, sources {info['source_digest'][7:19]}"


def frontend_build_info(ctx: Context) -> str:
    base = f"http://127.0.0.1:{ctx.settings.frontend_port}"
    response = get(f"{base}/build-info.js")
    info = parse_build_info_js(response.text)
    if info is None:
        raise CiError(f"{base}/build-info.js is not `window.BUILD_INFO = {{...}}`: {excerpt(response.text)}")
    problems = []
    if "no-cache" not in response.headers.get("Cache-Control", "") and "no-store" not in response.headers.get(
        "Cache-Control", ""
    ):
        problems.append(f"build-info.js Cache-Control is {response.headers.get('Cache-Control')!r}, not no-cache")
    running_info = {
        "git_commit": info.get("gitCommit"),
        "build_date": info.get("buildDate"),
        "cache_bust": info.get("cacheBust"),
        "source_digest": info.get("sourceDigest"),
    }
    problems += differences(running_info, ctx.build.expected("frontend"))
    expected_ms = epoch_ms(ctx.build.expected("frontend")["build_date"])
    if info.get("buildTimestamp") != expected_ms:
        problems.append(f"buildTimestamp {info.get('buildTimestamp')!r}, expected {expected_ms}")
    page = get(f"{base}/")
    for header, ok in SECURITY_HEADERS.items():
        value = page.headers.get(header)
        if value is None or not ok(value):
            problems.append(f"page header {header}: {value!r}")
    if problems:
        raise CiError(f"frontend {base}: " + "; ".join(problems) + f" (expected {ctx.build.what})")
    return f"commit {info['gitCommit']}, built {info['buildDate']}; security headers present"


def source_fingerprint(ctx: Context) -> str:
    stale: dict[str, list[str]] = {}  # what is wrong -> the services it is wrong for (they may share a context)
    for service, container in ctx.containers.items():
        target = ctx.build.targets[service]
        context = ctx.settings.root / target.context
        now = fingerprint(context, context / target.dockerfile)
        image = dk.inspect_image(ctx.engine, container.image)
        running_digest = (image.labels if image else {}).get("mainza.source-digest")
        if running_digest == now.digest:
            continue
        if running_digest == target.source_digest:
            changes = changed_files(target.files, now.files)
            shown = ", ".join(changes[:8]) + (f" and {len(changes) - 8} more" if len(changes) > 8 else "")
            stale.setdefault(f"the tree changed since the build: {shown}", []).append(service)
        else:
            stale.setdefault(f"runs sources {str(running_digest)[7:19]}, the tree is {now.short}", []).append(service)
    if stale:
        problems = "; ".join(f"{', '.join(services)}: {problem}" for problem, services in stale.items())
        raise CiError(f"{problems}: rebuild (`nox -s dev` or `nox -s prod`)")
    return "the running sources are the working tree's"


def startup_log(ctx: Context) -> str:
    container = ctx.containers["backend"]
    logs = dk.container_logs(ctx.engine, container.id)
    expected = ctx.build.expected("backend")
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
        raise CiError("backend startup log: " + "; ".join(problems))
    return ", ".join(f"{k}: {v}" for k, v in wanted.items())


def browser(ctx: Context) -> str:
    from ci import browser as page  # playwright is installed only for --browser

    expected = {t: ctx.build.expected(t)["git_commit"] for t in ("frontend", "backend")}
    return page.check_page(f"http://127.0.0.1:{ctx.settings.frontend_port}/", expected)


# --- helpers -------------------------------------------------------------------------------------


def get(url: str) -> requests.Response:
    try:
        return requests.get(url, timeout=HTTP_TIMEOUT)
    except requests.Timeout:
        raise CiError(f"{url} did not answer within {HTTP_TIMEOUT:.0f}s") from None
    except requests.RequestException as err:
        raise CiError(f"{url}: {type(err).__name__}: {excerpt(str(err))}") from None


def fetch(url: str) -> str:
    response = get(url)
    if response.status_code != 200:
        raise CiError(f"{url} answered HTTP {response.status_code}: {excerpt(response.text)}")
    return response.text


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


CHECK_FUNCTIONS: dict[str, Callable[[Context], str]] = {
    "images": images_are_latest,
    "backend build info": backend_build_info,
    "frontend build info": frontend_build_info,
    "source fingerprint": source_fingerprint,
    "startup log": startup_log,
    "browser": browser,
}

SESSION = Session(
    name="verify",
    summary=__doc__.splitlines()[0].split(": ", 1)[1],
    steps=CHECKS,
    body=body,
    options=options,
)
