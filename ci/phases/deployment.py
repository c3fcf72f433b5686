"""Read a deployment (`nox -s verify -- --url`): a deployed stack proven from outside, service by service,
against a commit; its build info asked (ci/probe/buildinfo.py) and the verdicts on what it runs (ci/probe/verdicts.py).

No engine is asked anything: the services and their build-info paths come from the definitions (compose
and bake resolve them without a daemon), what each should run from git's objects (ci/sources/git_history.py), and what
each does run from its own build info, asked several times on fresh connections (replicas behind a load
balancer answer in turn).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ci import docker as dk
from ci.builds.bake import resolve_targets
from ci.core import fetch, secrets, tls
from ci.core.errors import CiError, UsageError
from ci.core.report import Check, Report, Status
from ci.core.settings import Settings
from ci.core.terminal import plural
from ci.probe import buildinfo
from ci.probe.verdicts import Expected, Verdict, judge
from ci.sources.fingerprint import fingerprint
from ci.sources.git import Commit, is_shallow, resolve_commit, toplevel
from ci.sources.git_history import Repository, State, TargetFiles
from ci.sources.identity import Inputs, identity
from ci.stack import live
from ci.stack.services import LABEL, Service

WAIT_POLL = 1.0  # seconds between rounds of --wait


# --- arguments ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    url: str
    service: str = ""  # empty: the stack's public address, every service's path below it


def parse_address(raw: str) -> Address:
    """`URL` or `NAME=URL`, an http(s) URL with a host; UsageError otherwise. Its user info is a secret from
    the start (registered before any check), and never in an error: the URL is shown with it masked."""
    name, equals, rest = raw.partition("=")
    service, url = (name.strip(), rest.strip()) if equals and re.fullmatch(r"[\w.-]+", name.strip()) else ("", raw)
    register_user_info(url.strip())
    shown = f"{service}={fetch.masked(url)}" if service else fetch.masked(url)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {shown!r} is not an http(s) URL with a host (URL, or SERVICE=URL)")
    try:
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise UsageError(f"--url {shown!r} has a port that is not a number") from None
    return Address(url.strip().rstrip("/"), service)


def register_user_info(url: str) -> None:
    """The user and password in URL's user info, as given and as requests sends them (unquoted, and Basic
    auth's base64 of `user:password`): secrets, a token often going as the user."""
    info = fetch.user_info(url)
    if not info:
        return
    user, _, password = info.partition(":")
    plain_user, plain_password = unquote(user), unquote(password)
    basic = base64.b64encode(f"{plain_user}:{plain_password}".encode("latin-1", "replace")).decode()
    secrets.register(user, password, plain_user, plain_password, f"{user}:{password}", basic)


def parse_header(raw: str) -> tuple[str, str]:
    """`Name: value`; UsageError otherwise (the value is never repeated). The value is a secret from now on,
    and its last word alone too (a bearer token without its scheme)."""
    name, colon, value = raw.partition(":")
    register_header_value(value.strip() if colon else raw.strip())
    if not colon or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
        raise UsageError("a --header is not 'Name: value' (what it holds is not shown)")
    return name.strip(), value.strip()


def register_header_value(value: str) -> None:
    """VALUE and its credentials alone (`Bearer TOKEN`'s TOKEN, which a 401 page may echo bare) as secrets."""
    secrets.register(value, value.split(None, 1)[-1] if value else "")


def header_from_env(raw: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """`Name=VARIABLE`: header Name, its value VARIABLE's; UsageError when it is not set (its value, when
    set, is never repeated)."""
    name, equals, variable = raw.partition("=")
    name, variable = name.strip(), variable.strip()
    if not equals or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or not variable:
        raise UsageError(
            "a --header-env is not NAME=VARIABLE, for example Authorization=VERIFY_AUTHORIZATION (what it holds is "
            "not shown)"
        )
    value = environ.get(variable, "").strip()
    register_header_value(value)
    if not value:
        raise UsageError(f"--header-env {name}={variable}: the environment variable {variable} is not set")
    return name, value


@dataclass(frozen=True)
class Request:
    """What `--url` asks of a deployed stack, every value checked (verify's check_args)."""

    addresses: tuple[Address, ...]
    headers: dict[str, str] = field(repr=False)  # sent with every request; their values are never printed
    samples: int  # answers asked of each address
    wait_seconds: float  # polling until every answer runs the commit; 0: one round
    commit: str  # the commit it must run
    tree: bool  # the working tree instead of a commit

    @property
    def where(self) -> str:
        """The address in the last line: the one given (its user info masked), or how many."""
        return fetch.masked(self.addresses[0].url) if len(self.addresses) == 1 else f"{len(self.addresses)} addresses"

    @property
    def exposed(self) -> str:
        """Why this request's credentials would cross the network unencrypted ('' when they do not): plain
        HTTP to a host other than this machine, with a header or a URL's user info."""
        plain = [
            a for a in self.addresses
            if urlsplit(a.url).scheme == "http" and not fetch.is_loopback(urlsplit(a.url).hostname or "")
        ]  # fmt: skip
        sent = [a for a in plain if self.headers or "@" in urlsplit(a.url).netloc]
        if not sent:
            return ""
        what = "--header values" if self.headers else "the URL's user info"
        where = ", ".join(fetch.masked(a.url) for a in sent)
        return f"{what} go over plain HTTP, unencrypted, to {where}: use https://, or a loopback address"


# --- what each service should run ------------------------------------------------------------------------


def reference(root: Path, ref: str) -> tuple[Path, Commit]:
    """The work tree holding ROOT and the commit REF names; UsageError when there is none."""
    top = toplevel(root)
    if top is None:
        raise UsageError(f"{root} is not in a git work tree: --url compares with a commit of its history")
    commit = resolve_commit(top, ref)
    if commit is None:
        raise UsageError(f"--commit {ref!r} names no commit of {top}: give a hash, a branch or a tag it has")
    return top, commit


def expected(top: Path, commit: Commit | None, context: Path, dockerfile: Path) -> Expected:
    """The states a target's service is compared with: COMMIT's inputs and the older ones; with no
    COMMIT (--tree), the working tree's first when it differs from HEAD's."""
    repo = Repository(top)
    target = TargetFiles.of(top, context, dockerfile)

    def states() -> Iterator[State]:
        if commit is None:
            tree = fingerprint(context, context / dockerfile)
            made = identity(Inputs.of(context, dockerfile), tree)
            if made is not None and made.dirty:
                yield State(made, tree)
        yield from repo.states(commit.full if commit else "HEAD", target)

    label = commit.short if commit else "the working tree"
    return Expected(label, states(), is_shallow(top))


# --- asking the stack --------------------------------------------------------------------------------------


def service_urls(services: Sequence[Service], addresses: Sequence[Address]) -> tuple[dict[str, list[str]], list[str]]:
    """Each checked service's build-info URLs, and the services no address reaches. A stack address serves
    every service at its `build-info.public` path; `NAME=URL` is the service's own address: a URL with a
    path is its build info, a bare origin serves it at the service's own path (`build-info`)."""
    known = {s.name for s in services}
    for address in addresses:
        if address.service and address.service not in known:
            raise UsageError(
                f"--url {address.service}=...: no service {address.service!r} (services: {', '.join(sorted(known))})"
            )
    urls: dict[str, list[str]] = {}
    unchecked = []
    for service in services:
        own = [a.url for a in addresses if a.service == service.name]
        found = [own_url(url, service) for url in own]
        if not own and service.checks.public_build_info:
            found = [a.url + service.checks.public_build_info for a in addresses if not a.service]
        if found:
            urls[service.name] = found
        else:
            unchecked.append(service.name)
    return urls, unchecked


def own_url(url: str, service: Service) -> str:
    if urlsplit(url).path not in ("", "/"):
        return url
    path = service.checks.build_info.path if service.checks.build_info else service.checks.public_build_info
    if not path:
        raise UsageError(
            f"--url {service.name}={url}: give the build info's path; {service.name} declares none ({LABEL}build-info)"
        )
    return url + path


def sample(urls: Sequence[str], samples: int, ask: Callable[[str], buildinfo.Answer | None]) -> list[buildinfo.Answer]:
    """SAMPLES answers from each URL; a URL that times out is not asked again (its answer would be the same),
    and once ASK says there is no time left (None), nothing more is asked."""
    answers: list[buildinfo.Answer] = []
    for url in urls:
        for _ in range(samples):
            answer = ask(url)
            if answer is None:
                return answers
            answers.append(answer)
            if answer.timed_out:
                break
    return answers


@dataclass
class Rounds:
    """--wait: rounds of answers until every service passes or the deadline; one progress line a change. No
    request outlives the deadline: each is given the time left (`left`)."""

    deadline: float  # seconds from the start
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    out: Callable[[str], None] = print
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def left(self) -> float:
        return self.deadline - (self.clock() - self.started)

    def run(self, one_round: Callable[[], list[Verdict]]) -> list[Verdict]:
        last = ""
        while True:
            verdicts = one_round()
            elapsed = self.clock() - self.started
            if all(v.passed for v in verdicts) or elapsed + WAIT_POLL > self.deadline:
                return verdicts
            state = ", ".join(f"{v.service} {v.word}" for v in verdicts)
            if state != last:
                self.out(f"waiting ({elapsed:.0f}s of {self.deadline:g}s): {state}")
                last = state
            self.sleep(WAIT_POLL)


def round_verdict(
    name: str, urls: Sequence[str], answers: Sequence[buildinfo.Answer], want: Expected, before: Verdict | None
) -> Verdict:
    """A service's verdict from one round's ANSWERS. A round that --wait's deadline cut short (an answer cut,
    or none asked) keeps the verdict BEFORE it, when there is one: the deadline says nothing of the service;
    else the answers that came whole, else what there is."""
    whole = [a for a in answers if not a.cut]
    if answers and len(whole) == len(answers):
        return judge(name, list(answers), want)
    if before is not None:
        return before
    if answers:
        return judge(name, whole or list(answers), want)
    return Verdict(name, "unreachable", "unreachable: not asked: --wait's deadline came first", list(urls))


def last_line(where: str, label: str, verdicts: Sequence[Verdict], unchecked: Sequence[str]) -> str:
    """`https://staging runs 1a2b3c4: backend, frontend`, or what is not and why, in one line."""
    running = [v.service for v in verdicts if v.passed]
    others = [v.summary for v in verdicts if not v.passed]
    line = f"{where} runs {label}: {', '.join(running)}" if running else f"{where} does not run {label}"
    if others:
        line += f"; {', '.join(others)}"
    if unchecked:
        line += f" ({', '.join(unchecked)} not checked: no public address)"
    return line


# --- reading the deployment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """The services an address reaches, each with its build-info URLs and what it should run; the others."""

    urls: dict[str, list[str]]
    unchecked: list[str]
    wants: dict[str, Expected]
    label: str  # what they should run, in words
    commit: Commit

    def message(self) -> str:
        """The services step's: which services, against what; which are not checked."""
        found = secrets.redact(f"{', '.join(self.urls)} against {self.label}")
        return found + (f"; not checked: {', '.join(self.unchecked)}" if self.unchecked else "")


def services(settings: Settings, request: Request) -> Asked:
    """The stack's services from the definitions, the addresses that reach them, what each should run;
    CiError when no address reaches any (a deploy job must never go green having checked nothing)."""
    engine = dk.connect(settings, live.compose_env("dev"))  # reads the definitions: no daemon is asked
    dk.require_client(engine)
    targets = resolve_targets(engine, settings, "default", {"PROJECT": settings.project})
    found = live.services(engine, {name: t.tags for name, t in targets.items()})
    urls, unchecked = service_urls(found, request.addresses)
    top, commit = reference(settings.root, request.commit)
    label = "the working tree" if request.tree else commit.short
    wants = {}
    for service in found:
        if service.name in urls:
            target = targets[service.target]
            context, dockerfile = settings.root / target.context, Path(target.dockerfile)
            wants[service.name] = expected(top, None if request.tree else commit, context, dockerfile)
    if not urls:
        raise CiError(
            f"no service checked: {', '.join(unchecked)} declare no public build info; add the label "
            f"{LABEL}build-info.public (its path, e.g. /build-info.json) to each in compose.yaml, or give "
            "--url SERVICE=URL"
        )
    return Asked(urls, unchecked, wants, label, commit)


def verdicts(asked: Asked, request: Request) -> list[Verdict]:
    """Each reached service's verdict from its answers: one round, or rounds until every one passes (--wait),
    never past its deadline."""
    trust = tls.trust()
    rounds = None
    if request.wait_seconds:
        rounds = Rounds(request.wait_seconds, out=lambda line: print(secrets.redact(line), flush=True))
    found: dict[str, Verdict] = {}

    def ask(url: str) -> buildinfo.Answer | None:
        if rounds is None:
            return buildinfo.ask(url, request.headers, trust)
        left = rounds.left()
        return buildinfo.ask(url, request.headers, trust, within=left) if left > 0 else None

    def one_round() -> list[Verdict]:
        for name, urls in asked.urls.items():
            answers = sample(urls, request.samples, ask)
            found[name] = round_verdict(name, urls, answers, asked.wants[name], found.get(name))
        return [found[name] for name in asked.urls]

    return rounds.run(one_round) if rounds else one_round()


def report(into: Report, asked: Asked, found: Sequence[Verdict]) -> None:
    """Each verdict's two testcases, then each service not checked, skipped."""
    for verdict in found:
        report_verdict(into, verdict)
    for name in asked.unchecked:
        why = f"not checked: no public address (label {LABEL}build-info.public, or --url {name}=URL)"
        into.add(Check(f"{name} build info", "skipped", message=why))


def report_verdict(report: Report, verdict: Verdict) -> None:
    """Two testcases: `SERVICE build info` (every answer carried it) and `SERVICE commit` (the verdict)."""
    redact = secrets.redact
    answered = verdict.word not in ("unreachable", "no build info")
    missing = {what: n for what, n in verdict.answers.items() if what.startswith(("unreachable", "no build info"))}
    info = Check(f"{verdict.service} build info", message=redact(", ".join(verdict.urls)))
    if not answered:
        info.status, info.message = "failed", redact(verdict.detail)
    elif missing:
        info.status = "failed"
        info.message = redact(
            f"{sum(missing.values())} of {sum(verdict.answers.values())} answers: {', '.join(missing)}"
        )
    else:
        info.message = redact(f"{plural(sum(verdict.answers.values()), 'answer')} from {', '.join(verdict.urls)}")
    report.add(info)
    status: Status = "passed" if verdict.passed else "failed" if answered else "skipped"
    detail = verdict.detail if answered else "no build info to compare"
    report.add(Check(f"{verdict.service} commit", status, message=redact(detail)))


def data(asked: Asked, found: Sequence[Verdict], request: Request) -> dict[str, Any]:
    """What verify.json keeps of the deployment, redacted."""
    redact = secrets.redact
    return {
        "commit": "" if request.tree else asked.commit.full,
        "label": asked.label,
        "services": [json.loads(redact(json.dumps(asdict(v)))) for v in found],
        "not_checked": asked.unchecked,
    }
