"""`nox -s dev`: bake with no cache and fresh build args, then replace the running stack, show what runs."""

from __future__ import annotations

from datetime import UTC, datetime

from ci import docker as dk
from ci.builds.finished import write_build
from ci.core import terminal
from ci.core.errors import CiError
from ci.core.session import Run, Session
from ci.phases import start
from ci.phases.build import TAG, BuildRequest, build_group, dev_values
from ci.stack import live, preflight, rollback
from ci.stack.services import Service, job_kinds

PROFILE = "dev"  # the bake group dev builds, and the name of its files in reports/


def body(run: Run) -> None:
    settings = run.settings
    with run.step("engine") as check:
        engine = dk.connect(settings, live.compose_env(TAG))
        check.message = f"engine {dk.require_engine(engine)}"
    with run.step("preflight") as check:
        ready = preflight.before_build(engine, settings, PROFILE)
        check.message = ready.summary()
    with run.step("ports") as check:
        # The previous stack keeps serving while the new images build. The project's own containers, in
        # any state (a backend restarting in a loop too), hold their ports for `compose up` to replace.
        own = dk.project_containers(engine, settings.project)
        previous = {c.service: c for c in own if c.running}
        live.require_free_ports(settings, ready.ports, [p for c in own for p in c.host_ports])
        holders = live.holders(own)
        check.message = (
            f"free, or held by {settings.project}'s own containers ({holders}), replaced" if holders else "free"
        )
    # Kept from before the build: bake moves their tags to the new images (rollback.py says why).
    with rollback.keeping(engine) as kept:
        with run.step("bake") as check:
            values = dev_values(settings, datetime.now(UTC))
            variables = values.variables
            print(f"baking dev: tree {variables['GIT_COMMIT']}, build date {variables['BUILD_DATE']}")
            try:
                build = build_group(
                    BuildRequest(
                        settings=settings, profile=PROFILE, variables=variables, build_args=values.build_args,
                        engine=engine, store=engine, no_cache=True, show_logs=run.args.logs,
                    )
                )  # fmt: skip
            except CiError as err:
                raise still_up(err, previous) from None
            write_build(run.report, settings, build)
            check.message = f"{len(build.targets)} images in {build.seconds:.1f}s"
        with run.step("up") as check:
            services = live.services(engine, {t.target: t.tags for t in build.targets})
            up = start.replace(start.Request(engine, settings, services, build.record, kept=kept))
            check.message = live.readiness(up.containers, job_kinds(services))
    with run.step("clean") as check:
        containers, images = live.remove_leftovers(engine, settings, services, up.record)
        check.message = f"removed {containers} old containers and {images} old images of {settings.project}"
    with run.step("status") as check:
        check.message = show_status(run, engine, services)


def still_up(err: CiError, previous: dict[str, dk.ContainerInfo]) -> CiError:
    """A failed build replaced nothing: say that the previous build still serves (which services: the report)."""
    if not previous:
        return err
    running = ", ".join(sorted(previous))
    return CiError(f"{err}; the previous build still serves", output=f"still serving: {running}\n{err.output}")


def show_status(run: Run, engine: dk.Engine, services: list[Service]) -> str:
    rows = live.status(engine, [s.name for s in services], job_kinds(services))
    headers = ("service", "image id", "build date", "commit", "health")
    table = [(r.service, r.image_id, r.build_date, r.commit, r.health) for r in rows]
    terminal.show(
        "\n" + terminal.table(headers, table, columns=terminal.width(), results=4, colour=terminal.colour_on())
    )
    urls = service_urls(services)
    print("\n" + "\n".join(f"{name:<9} {url}" for name, url in urls.items()))
    unready = [f"{r.service} {r.health}" for r in rows if not r.ready]
    if unready:
        rule = "a service with a healthcheck must be healthy, one without running, a job completed"
        raise CiError(f"not up: {', '.join(unready)} ({rule})")
    page = next(iter(urls.values()), "")
    run.verdict = (
        f"running {', '.join(f'{r.service} {r.commit}' for r in rows)}, all up; "
        + (f"open {page}, " if page else "")
        + f"stop with `docker compose -p {run.settings.project} down`"
    )
    return ", ".join(f"{r.service} {r.commit}" for r in rows)


def service_urls(services: list[Service]) -> dict[str, str]:
    """Where to look at each service: its page, else its build info; pages first."""
    urls = {}
    for service in sorted(services, key=lambda s: s.checks.page is None):
        endpoint = service.checks.page or service.checks.build_info
        if endpoint is not None:
            urls[service.name] = service.url(endpoint)
    return urls


SESSION = Session(
    name="dev",
    summary="Bake with no cache, then replace the running stack with the new images, and show it.",
    steps=("engine", "preflight", "ports", "bake", "up", "clean", "status"),
    body=body,
    locks=lambda args: True,
)
