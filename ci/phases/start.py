"""Start: start or replace the stack's services, with the rollback that guards them (ci/stack/rollback.py says why
and how): a new build that does not come up gives way to the previous one, and what failed is said in one line.

`stack` starts or recreates the whole stack once its host ports are free (verify --up; watch's start through
`built`, which makes the build once the images the services ran are kept); `replace` recreates the services a
request names, guarded the same way (dev's up, watch's turns: the services `due`). A job among them (a
migration built from the backend's image: ci/stack/services.py) runs again, and is waited for until it completes.
Both raise NotUp, the build record rewritten to describe what runs, when a service did not come up: every
service the start replaced is then back on its previous build, not only the one that failed. A stop signal
during either puts the previous build back before it ends the session (`put_back`): compose, stopped halfway,
leaves services down.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as changed
from typing import NoReturn, TextIO

from ci import docker as dk
from ci.builds.record import BuildRecord, write_record
from ci.builds.synced import clear_synced
from ci.core.errors import CiError
from ci.core.settings import Settings
from ci.stack import live as st
from ci.stack import rollback
from ci.stack.rollback import Diagnosis, Kept
from ci.stack.services import Job, Service, job_kinds


@dataclass(frozen=True)
class Request:
    """What to start, from which build, and what guards it."""

    engine: dk.Engine
    settings: Settings
    stack: Sequence[Service]  # the stack's services
    record: BuildRecord  # the build they start from
    names: Sequence[str] = ()  # the services to start or recreate; empty: every service of STACK
    only: bool = False  # NAMES alone, not their dependencies
    # The images the services ran, kept before the build moved their tags; None: kept now (nothing was built since).
    kept: Mapping[str, Kept] | None = None
    out: TextIO | None = None  # compose's progress; None: stdout

    @property
    def services(self) -> list[str]:
        return list(self.names) or [s.name for s in self.stack]

    @property
    def jobs(self) -> dict[str, Job]:
        """The jobs of the stack, by name: what the one health rule is told of them."""
        return job_kinds(self.stack)


@dataclass(frozen=True)
class Deployed:
    containers: dict[str, dk.ContainerInfo]  # healthy, by service
    record: BuildRecord  # the build record, describing what runs


class NotUp(CiError):
    """Services that did not come up; RECORD: the build record as rewritten to describe what runs."""

    def __init__(self, message: str, record: BuildRecord, output: str = "") -> None:
        super().__init__(message, output)
        self.record = record


def runs(engine: dk.Engine, stack: Sequence[Service], record: BuildRecord | None, tag: str) -> bool:
    """Whether every service of STACK runs the build RECORD describes, tagged TAG (a job: completed on it):
    nothing to start."""
    running = st.current(engine, stack)
    return (
        record is not None
        and record.tag == tag
        and all(s.name in running and s.target in record.targets for s in stack)
        and all(running[s.name].image == record.targets[s.target].image_id for s in stack)
    )


def due(stack: Sequence[Service], targets: Iterable[str], containers: Mapping[str, dk.ContainerInfo]) -> list[Service]:
    """The services of STACK to recreate after a build of TARGETS: theirs (a job from a target's image
    too: it runs again), and those down (no container, or a failing one: a failed start leaves them so; a
    job that completed is done), by CONTAINERS."""
    down = {s.name for s in stack if s.name not in containers or st.failing(containers[s.name], s.job)}
    return [s for s in stack if s.target in targets or s.name in down]


def stack(request: Request) -> Deployed:
    """Start or recreate the whole stack, its host ports free or held by the project's own containers."""
    st.require_stack_ports(request.engine, request.settings, request.stack)
    return replace(request)


def built(
    build: Callable[[], BuildRecord],
    engine: dk.Engine,
    settings: Settings,
    services: Sequence[Service],
    out: TextIO | None = None,
) -> Deployed:
    """The whole stack (`stack`) started from the build BUILD makes, the services' images kept before BUILD moves
    their tags: a service that does not come up gives way to the image it ran (watch's start)."""
    with rollback.keeping(engine, [s.name for s in services], kinds=job_kinds(services)) as kept:
        return stack(Request(engine, settings, services, build(), kept=kept, out=out))


def replace(request: Request) -> Deployed:
    """`stack.up` of the request's services (ONLY: not their dependencies), bringing each service that fails
    back on the image it ran before, KEPT before the build (else now: nothing was built since). Raises NotUp,
    with the record rewritten to describe what runs, when a service did not come up."""
    names = request.services
    if request.kept is None:
        with rollback.keeping(request.engine, names, kinds=request.jobs) as now:
            return replace(changed(request, names=names, kept=now))
    try:
        up = st.up(request.engine, request.settings, names, only=request.only, out=request.out, jobs=request.jobs)
        # Recreated from their images: no sync speaks of them any more (their entries named the old containers).
        clear_synced(request.settings.reports_dir, request.settings.project, names)
        return Deployed(up, request.record)
    except st.Unhealthy as err:
        recover(request, err)
    except KeyboardInterrupt:
        put_back(request)
        raise


# compose recreates a container under a temporary name, `<the old one's id, 12 hex>_<its name>`, then renames it.
HALF_MADE = re.compile(r"^[0-9a-f]{12}_")


def put_back(request: Request) -> None:
    """After a stop signal during `compose up` or the wait for health (compose stopped already: ci/core/signals.py),
    the stack as it was: each service of the request with a kept image runs it again (one compose left
    running it untouched keeps its container) and the record says so. compose's half-made containers go first:
    the next `compose up` would fail on their names. A failure is said, and the stop ends the session still."""
    engine, kept = request.engine, request.kept or {}
    names = [n for n in request.services if n in kept]
    if not names:
        return
    by_name = {s.name: s for s in request.stack}
    print(f"interrupted: bringing back the previous build of {', '.join(names)}", file=sys.stderr, flush=True)
    try:
        listed = dk.project_containers(engine, request.settings.project, f"{dk.COMPOSE_ONEOFF_LABEL}=False")
        dk.remove_containers(engine, [c.id for c in listed if HALF_MADE.match(c.name)])
        current = {c.service: c for c in listed if not HALF_MADE.match(c.name)}
        record = request.record
        for name in names:
            record = rollback.restore(engine, record, by_name[name], kept[name])
        write_record(record, request.settings.reports_dir)  # what runs from here on
        jobs = request.jobs
        again = [n for n in names if n not in current or current[n].image != kept[n].image_id
                 or st.failing(current[n], jobs.get(n))]  # fmt: skip
        if again:
            st.up(engine, request.settings, again, only=True, out=request.out, jobs=jobs)
    except (CiError, KeyboardInterrupt) as err:  # a command failing after the stop is said as one (ci/docker)
        print(f"could not bring back the previous build: {err.__cause__ or err}", file=sys.stderr, flush=True)


def recover(request: Request, err: st.Unhealthy) -> NoReturn:
    """After a failed `compose up`: name what failed, bring it back where it can be, raise NotUp."""
    engine, record, names, kept = request.engine, request.record, request.services, request.kept or {}
    jobs = request.jobs
    by_name = {s.name: s for s in request.stack}
    depends = rollback.dependencies(dk.compose_config(engine))
    diagnosis = rollback.diagnose(names, err.states, depends, err.late, err.exits, jobs)
    if not diagnosis.failed:
        raise NotUp(str(err), record)
    shown = {
        s: rollback.show_failure(engine, err.states[s], rollback.files(record, by_name[s])) for s in diagnosis.failed
    }
    failures = rollback.Failures({s: (why, shown[s]) for s, why in diagnosis.failed.items()})
    for service, blocker in diagnosis.waiting.items():
        print(f"{service}: not started: waits for {blocker}", file=sys.stderr, flush=True)
    failures.waiting.update(diagnosis.waiting)
    replaced = rollback.replaced(names, err.states, kept)
    record = bring_back(request, depends, diagnosis, failures, replaced)
    up = {s for s, c in dk.service_containers(engine).items() if s in names and not st.failing(c, jobs.get(s))}
    raise NotUp(rollback.verdict(failures, up, engine, kept, names, jobs), record)


def bring_back(
    request: Request,
    depends: Mapping[str, frozenset[str]],
    pending: Diagnosis,
    failures: rollback.Failures,
    replaced: Sequence[str] = (),
) -> BuildRecord:
    """Round by round, the failed services with a kept image on it, and every other service the start
    REPLACED with one (rollback.rollback_plan), those waiting for them started; a service failing in a round
    is named (FAILURES' reasons), one held back noted (its waiting). Writes and returns the record of what
    runs; FAILURES' tried: the services brought back."""
    engine, record, kept, jobs = request.engine, request.record, request.kept or {}, request.jobs
    by_name = {s.name: s for s in request.stack}
    for _ in range(len(by_name) + 1):
        restore = rollback.rollback_plan(pending, kept, failures.tried, replaced)
        if not restore:
            break
        for service in restore:
            record = rollback.restore(engine, record, by_name[service], kept[service])
            failures.tried.append(service)
        write_record(record, request.settings.reports_dir)  # what runs from here on, however the round ends
        again = restore + [w for w, blocker in failures.waiting.items() if blocker in restore and w not in restore]
        print(f"bringing back the previous build of {', '.join(restore)}", file=sys.stderr, flush=True)
        try:
            st.up(engine, request.settings, again, only=True, out=request.out, jobs=jobs)
            pending = Diagnosis()
        except st.Unhealthy as failed_again:
            pending = rollback.diagnose(
                again, failed_again.states, depends, failed_again.late, failed_again.exits, jobs
            )
            for service, why in pending.failed.items():
                if service not in failures.reasons:
                    files = rollback.files(record, by_name[service])
                    failures.reasons[service] = (
                        why,
                        rollback.show_failure(engine, failed_again.states[service], files),
                    )
            failures.waiting.update(pending.waiting)
    return record
