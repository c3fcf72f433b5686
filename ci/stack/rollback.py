"""A rollback: a new build that does not come up gives way to the previous one, without leaving services down.

compose recreates stop-first: `compose up` removes a service's container before the new one starts, so a new
build that raises at import or fails its health check leaves the service down, and a service that depends on
it is never started. Swarm's `failure_action: rollback` and Kubernetes' rolling updates keep the old version
serving until the new one is healthy; compose has neither, so the start phase (ci/phases/start.py) does it
around `compose up`, with what this module holds:

1. Before the build, each service that runs healthy (a job: that completed) keeps its image under a tag of
   its own, `REPOSITORY:rollback` (`keeping`; `REPOSITORY:rollback-SERVICE` for a second service of that
   repository on another image). It must, and before the build: with the containerd image store, an
   image whose last tag bake moves to the new build is no longer the engine's to name, though its container
   still runs (and goes with that container, which `compose up` removes).
2. A service whose new container exits, restarts, turns unhealthy or is not healthy within its start period
   has failed, and is named with its log's exception; a job (ci/stack/services.py) whose container exits with
   another code than 0 has failed the same way, one that exits 0 is done; a service compose held back
   because it waits for a failed one is `not started: waits for X`, never blamed.
3. Each failed service with a kept image gets it back, and with it every other service the start replaced
   (on a new image now, up or held back) that has one, so that the stack never runs two trees: the image
   reference compose resolves for the service (`${COMPOSE_PROJECT_NAME}-backend:${TAG}`) is pointed at the
   kept image, and compose recreates those services alone (`--no-deps`), with the configuration it gives
   each, as the previous container had it (a session never changes compose.yaml between the two): a job
   runs again on the previous build, before the services that wait for it. The services held back start
   with them; all are waited for again, and one that fails then is rolled back the same way. A start of
   some services on purpose (a watch turn) replaces only those: the others run on, and verify names what
   each runs.
4. The build record is rewritten to describe what runs: a rolled-back target gets the record of the build it
   runs again (a record keeps, per target, the build it replaced: `BuildRecord.previous`), its image id and
   build values, tagged as compose runs it (the record's tag: `:dev` after a failed dev on prod's stack), so
   verify judges the service by what it runs and `verify --up` starts what the record says.

A rollback restores what runs, not what was built: only the reference compose resolves is pointed back, as
compose runs nothing else (`:dev`; for prod the tree's commit, which then names the build that runs until the
next build). `latest`, each target's own-commit tag and what `--push` sent keep naming the new build: they
are that build, and the record says which one runs. A dev build's image, left with no tag, goes with its
container; a prod one stays under those tags for the next build or prune to move.

The session then fails with one line per failed service, after the new container's last log lines and its
health check output: `backend: the new build is unhealthy (exited 1: RuntimeError: boom at backend/main.py:12);
the previous build (sources 1a2b3c4d5e6f) serves again; back on their previous build too: frontend, migrate`
(a job's: `migrate: the new build's job failed (exited 1: ...)`); without a previous build, that the stack is
down.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ci import docker as dk
from ci.builds.record import BuildRecord, TargetRecord
from ci.core.errors import DockerFailed
from ci.core.units import short_id
from ci.stack import live as st
from ci.stack.services import Job, Service, jobs, repository

ROLLBACK_TAG = "rollback"
LOG_LINES = 20  # of the failed container's log, shown above the line
SUMMARY_CHARS = 160
# The last line of a Python traceback: `RuntimeError: boom`, `module.CustomError`, `SystemExit: 2`.
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)(?::\s.*)?$")
FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')
ERROR_WORD = re.compile(r"\[(?:emerg|alert|crit|error)\]|\b(?:error|fatal|panic)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Kept:
    """A service's image from before `compose up`, kept under a tag of its own for a rollback."""

    service: str
    image_id: str
    ref: str  # REPOSITORY:rollback


@dataclass(frozen=True)
class Diagnosis:
    """What a failed `compose up` left: the services that failed, and those held back by them."""

    failed: dict[str, str] = field(default_factory=dict)  # service -> why: "exited 1", "unhealthy"
    waiting: dict[str, str] = field(default_factory=dict)  # service -> the failed service it waits for


@dataclass
class Failures:
    """What a failed start found, round by round: why each failed service failed and what its log said,
    the services held back by one, those brought back."""

    reasons: dict[str, tuple[str, str]]  # service -> (why, summary)
    waiting: dict[str, str] = field(default_factory=dict)  # service -> the failed service it waits for
    tried: list[str] = field(default_factory=list)


# --- the pure logic ------------------------------------------------------------------------------------------


def dependencies(config: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Each service's `depends_on`, from `docker compose config` (which writes the long form)."""
    return {
        name: frozenset(raw.get("depends_on") or ())
        for name, raw in (config.get("services") or {}).items()
        if isinstance(raw, Mapping)
    }


def why_failed(
    container: dk.ContainerInfo, late: bool = False, exit_code: int | None = None, job: Job | None = None
) -> str | None:
    """Why a new container is not up, or None (up, a JOB that completed, or never started: held back by
    compose). EXIT_CODE: its last `die`'s, which a restart resets in the container."""
    if not container.started or (job is not None and st.completed(container)):
        return None
    if container.status in ("exited", "dead", "restarting") or container.restarts > 0:
        return f"exited {container.exit_code if exit_code is None else exit_code}"
    if container.health == "unhealthy" and job is not Job.WAITED:
        return "unhealthy"
    if late and job is Job.WAITED:
        return f"not completed within {st.deadline(container):g}s"
    if late:
        return f"not healthy within its start period ({container.start_period:g}s)"
    return None if container.running else container.status


def diagnose(
    names: Sequence[str],
    states: Mapping[str, dk.ContainerInfo],
    depends: Mapping[str, frozenset[str]],
    late: Iterable[str] = (),
    exits: Mapping[str, int] | None = None,
    jobs: Mapping[str, Job] | None = None,
) -> Diagnosis:
    """The services of NAMES that failed (JOBS: the jobs among them), and those that were only not started
    because of one (by `depends_on`, however deep): a service waiting for another is never the one to blame."""
    slow, codes, kinds = set(late), exits or {}, jobs or {}
    failed = {n: why for n in names
              if n in states and (why := why_failed(states[n], n in slow, codes.get(n), kinds.get(n)))}  # fmt: skip
    waiting = {}
    for name in names:
        if name in failed or (name in states and states[name].started):
            continue
        blocker = _failed_dependency(name, depends, failed, set())
        if blocker:
            waiting[name] = blocker
    return Diagnosis(failed, waiting)


def _failed_dependency(name: str, depends: Mapping[str, frozenset[str]], failed: Mapping[str, str],
                       seen: set[str]) -> str | None:  # fmt: skip
    for dependency in sorted(depends.get(name, ())):
        if dependency in failed:
            return dependency
        if dependency not in seen:
            seen.add(dependency)
            found = _failed_dependency(dependency, depends, failed, seen)
            if found:
                return found
    return None


def replaced(names: Iterable[str], states: Mapping[str, dk.ContainerInfo], kept: Mapping[str, Kept]) -> list[str]:
    """The services of NAMES that a start replaced: with a kept image, and a container (in STATES: up, failed,
    or created and held back) of another image, in NAMES' order."""
    return [n for n in names if n in kept and n in states and states[n].image != kept[n].image_id]


def rollback_plan(
    diagnosis: Diagnosis, kept: Mapping[str, Kept], tried: Iterable[str] = (), replaced: Iterable[str] = ()
) -> list[str]:
    """The services to bring back: the failed ones with a kept image, then every other service the start
    REPLACED (see replaced) with one, so that no service runs the new build beside one on the previous; none
    brought back already (a previous build that fails too is not tried again). Nothing when none failed."""
    if not diagnosis.failed:
        return []
    done = set(tried)
    failed = [s for s in diagnosis.failed if s in kept and s not in done]
    return failed + [s for s in replaced if s in kept and s not in done and s not in failed]


def error_summary(log: str, files: Iterable[str] = ()) -> str:
    """The line of LOG that says what broke: a Python exception with the innermost frame in the target's
    FILES (`RuntimeError: boom at backend/main.py:12`), else the last line saying error, else the last."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    known = sorted(files, key=len, reverse=True)
    for index in range(len(lines) - 1, -1, -1):
        if EXCEPTION.match(lines[index]):
            frames = [m for m in map(FRAME.match, lines[:index]) if m]
            where = next((f"{f}:{m.group(2)}" for m in reversed(frames) for f in known
                          if m.group(1).endswith("/" + f) or m.group(1) == f), "")  # fmt: skip
            return _cut(lines[index] + (f" at {where}" if where else ""))
    return _cut(next((line for line in reversed(lines) if ERROR_WORD.search(line)), lines[-1] if lines else ""))


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 3] + "..."


def previous_target(record: BuildRecord, target: str, image_id: str) -> TargetRecord | None:
    """The record of TARGET's build whose image is IMAGE_ID: the build's own, or the one it replaced."""
    candidates = (record.targets.get(target), record.previous.get(target))
    return next((t for t in candidates if t is not None and t.image_id == image_id), None)


def failure_line(service: str, why: str, summary: str, outcome: str, job: bool = False) -> str:
    detail = f"{why}: {summary}" if summary and summary not in why else why
    what = "the new build's job failed" if job else "the new build is unhealthy"
    return f"{service}: {what} ({detail}); {outcome}"


# --- on the engine ---------------------------------------------------------------------------------------------


def keep(
    engine: dk.Engine,
    names: Iterable[str] | None = None,
    containers: Mapping[str, dk.ContainerInfo] | None = None,
    kinds: Mapping[str, Job] | None = None,
) -> dict[str, Kept]:
    """Each service (of NAMES, else all) that runs healthy now, or, a job (of KINDS, else as the definitions
    say), completed (its CONTAINERS, if just listed): its image, tagged `REPOSITORY:rollback` so that the
    engine still has it when the build has moved the image's own tag and its container is gone. A job built
    from a service's image shares its repository: on another image than that service's, its own tag."""
    wanted = None if names is None else set(names)
    found = jobs(dk.compose_config(engine)) if kinds is None else kinds
    kept: dict[str, Kept] = {}
    listed = dk.service_containers(engine) if containers is None else containers
    for name, container in listed.items():
        job = found.get(name)
        if (wanted is not None and name not in wanted) or not st.ready(container, job) or not container.image_ref:
            continue
        ref = f"{repository(container.image_ref)}:{ROLLBACK_TAG}"
        if any(k.ref == ref and k.image_id != container.image for k in kept.values()):
            ref += f"-{name}"
        try:
            dk.tag_image(engine, container.image, ref)
        except DockerFailed:
            continue  # its image is gone already (its tag moved before): nothing to bring back
        kept[name] = Kept(name, container.image, ref)
    return kept


def release(engine: dk.Engine, kept: Mapping[str, Kept]) -> None:
    """Untag what was kept: an image no container uses any more goes with it."""
    for ref in dict.fromkeys(k.ref for k in kept.values()):
        dk.remove_image(engine, ref)  # refused only when in use under that tag alone: then it stays


@contextlib.contextmanager
def keeping(
    engine: dk.Engine,
    names: Iterable[str] | None = None,
    containers: Mapping[str, dk.ContainerInfo] | None = None,
    kinds: Mapping[str, Job] | None = None,
) -> Iterator[dict[str, Kept]]:
    """The services' images kept (see keep) while the block builds and deploys, released after it."""
    kept = keep(engine, names, containers, kinds)
    try:
        yield kept
    finally:
        release(engine, kept)


def files(record: BuildRecord, service: Service) -> list[str]:
    """SERVICE's target's files as RECORD has them: where an exception's frame is looked for."""
    target = record.targets.get(service.target)
    return list(target.files) if target else []


def show_failure(engine: dk.Engine, container: dk.ContainerInfo, files: Iterable[str]) -> str:
    """The failed container's last log lines and health check output on stderr; returns its summary."""
    log = dk.container_logs(engine, container.id, tail=LOG_LINES * 3)
    shown = "\n".join(log.splitlines()[-LOG_LINES:])
    print(f"\n--- last log lines of {container.service} (the new build) ---\n{shown}", file=sys.stderr)
    if container.health_output:
        print(f"--- its latest health check ---\n{container.health_output}", file=sys.stderr)
    print("---", file=sys.stderr, flush=True)
    return error_summary(log, files) or error_summary(container.health_output)


def restore(engine: dk.Engine, record: BuildRecord, service: Service, kept: Kept) -> BuildRecord:
    """SERVICE's image reference, the one compose resolves, pointed back at its KEPT image: RECORD as it then
    describes what runs (see restored)."""
    dk.tag_image(engine, kept.image_id, service.image)
    return restored(engine, record, service, kept.image_id)


def restored(engine: dk.Engine, record: BuildRecord, service: Service, image_id: str) -> BuildRecord:
    """RECORD with SERVICE's target described by the build of IMAGE_ID, which it runs again (runs_again);
    from the image's own labels when no record of it is left (its files then unknown)."""
    target = previous_target(record, service.target, image_id)
    if target is None:
        image = dk.inspect_image(engine, image_id)
        labels = image.labels if image else {}
        target = TargetRecord(
            service.image,
            image_id,
            labels.get(dk.SOURCE_DIGEST_LABEL, ""),
            git_commit=labels.get(dk.REVISION_LABEL, "unknown"),
            build_date=labels.get(dk.CREATED_LABEL, ""),
        )
    return runs_again(record, service, target)


def runs_again(record: BuildRecord, service: Service, build: TargetRecord) -> BuildRecord:
    """RECORD with SERVICE's target described by BUILD, which compose runs again under the reference it
    resolves for the service (SERVICE's image): its image id and build values BUILD's, its tags that one
    reference, as compose runs it (prod's `latest` and own-commit tags name the new build; a dev build of a
    prod stack was tagged `:dev` where prod's was `:COMMIT`). verify and `verify --up` then read what runs."""
    described = replace(build, image=service.image, tags=(service.image,))
    return replace(record, targets={**record.targets, service.target: described})


def verdict(
    failures: Failures,
    up: set[str],
    engine: dk.Engine,
    kept: Mapping[str, Kept],
    names: Sequence[str],
    kinds: Mapping[str, Job] | None = None,
) -> str:
    """One line: each failed service (a job of KINDS: its job), why, and what serves now; the services brought
    back with them."""
    reasons, tried, waiting, jobs_ = failures.reasons, failures.tried, failures.waiting, kinds or {}
    parts = []
    for service, (why, summary) in reasons.items():
        if service in tried and service in up:
            digest = short_id(dk.image_source_digest(engine, kept[service].image_id) or "")
            again = "ran it again: completed" if service in jobs_ else "serves again"
            outcome = f"the previous build (sources {digest}) {again}"
        elif service in tried:
            outcome = f"its previous build does not come up either: {service} is down"
        else:
            outcome = "there is no previous build to bring back"
        parts.append(failure_line(service, why, summary, outcome, service in jobs_))
    down = [n for n in names if n not in up]
    if down and not any(p.endswith("is down") for p in parts):
        held = [f"{w} not started: waits for {b}" for w, b in waiting.items() if w not in up]
        state = "the stack is down" if not up else f"{', '.join(down)} down"
        parts[-1] += f": {state}" + (f" ({'; '.join(held)})" if held else "")
    also = [s for s in tried if s not in reasons and s in up]
    if also:
        parts.append(f"back on {'their' if len(also) > 1 else 'its'} previous build too: {', '.join(also)}")
    return "; ".join(parts)
