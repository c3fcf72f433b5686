"""The check phase's pure parts, and a backend that answers garbage or not at all: a failed check, never a crash."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from ci import docker as dk
from ci.builds.buildargs import arg_digests, args_digest
from ci.builds.record import BuildRecord, TargetRecord
from ci.core import fetch
from ci.core.errors import CiError
from ci.core.report import Report
from ci.core.settings import load_settings
from ci.phases import check as checking
from ci.sources.fingerprint import fingerprint
from ci.stack.services import Checks, ComposeService, Endpoint, Job, Port, Service


def test_epoch_ms_is_utc() -> None:
    assert checking.epoch_ms("2026-11-23T10:00:00Z") == 1795428000000
    assert checking.epoch_ms("yesterday") is None


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A 'backend' on loopback that answers garbage, or too late."""
    mode = request.param

    info = {"build_date": "2026-11-23T10:00:00Z", "git_commit": "abc", "cache_bust": "1", "source_digest": "sha256:x"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if mode == "slow":
                time.sleep(1.5)
            body = b"<html>502 Bad Gateway from somewhere</html>"
            if mode in ("extra", "missing"):
                answer = {**info, "greeting": "hello"} if mode == "extra" else {**info, "cache_bust": None}
                body = json.dumps({k: v for k, v in answer.items() if v is not None}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def context_for(port: int, tmp_path: Path, keys: str = "") -> tuple[checking.Context, Service]:
    settings = load_settings({}, root=tmp_path)
    target = TargetRecord(image="", image_id="", source_digest="sha256:x", git_commit="abc",
                          build_date="2026-11-23T10:00:00Z", cache_bust="1")  # fmt: skip
    build = BuildRecord(
        profile="dev", project="mainza", tag="dev", finished="now",
        variables={"GIT_COMMIT": "abc", "BUILD_DATE": "2026-11-23T10:00:00Z", "CACHE_BUST": "1"},
        targets={"backend": target},
    )  # fmt: skip
    checks = Checks(build_info=Endpoint(8000, "/build/info"), build_info_keys=frozenset(keys.split()))
    service = Service("backend", "backend", "mainza-backend:dev", (Port(port, 8000),), checks)
    return checking.Context(settings, cast(Any, None), build, [service], {}), service


@pytest.mark.parametrize("server", ["garbage"], indirect=True)
def test_a_service_answering_garbage_is_a_failed_check_with_an_excerpt(server: int, tmp_path: Path) -> None:
    with pytest.raises(
        CiError, match=r"nor `window.BUILD_INFO = \{...\}`: '<html>502 Bad Gateway from somewhere</html>'"
    ):
        checking.build_info(*context_for(server, tmp_path))


@pytest.mark.parametrize("server", ["slow"], indirect=True)
def test_a_service_timing_out_is_a_failed_check(server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "READ_SECONDS", 0.3)
    with pytest.raises(CiError, match=r"/build/info did not answer within"):
        checking.build_info(*context_for(server, tmp_path))


def test_nothing_listening_is_a_failed_check(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CiError, match=r"ConnectionError"):
        checking.build_info(*context_for(port, tmp_path))


KEYS = "build_date git_commit cache_bust source_digest"


@pytest.mark.parametrize("server", ["extra"], indirect=True)
def test_a_build_info_key_beyond_the_label_passes_and_is_listed_as_extra(server: int, tmp_path: Path) -> None:
    ctx, service = context_for(server, tmp_path, KEYS)
    assert checking.build_info(ctx, service).endswith("; extra keys: greeting")
    assert ctx.extra_keys == {"backend": ["greeting"]}


@pytest.mark.parametrize("server", ["missing"], indirect=True)
def test_a_missing_build_info_key_names_the_label_to_edit(server: int, tmp_path: Path) -> None:
    with pytest.raises(
        CiError, match=r"keys \['cache_bust'\] missing: the label mainza.verify.build-info.keys of backend"
    ):
        checking.build_info(*context_for(server, tmp_path, KEYS))


# --- every service the definitions name, whatever the record says --------------------------------------------

PROD = TargetRecord(
    "p-backend:abc1234", "sha256:prod", "sha256:src-old", tags=("p-backend:abc1234", "p-backend:latest")
)
DEV = TargetRecord("p-frontend:dev", "sha256:web", "sha256:src-web", tags=("p-frontend:dev",))


def service(name: str, image: str) -> Service:
    return Service(name, name, image, (), Checks())


def record(**targets: TargetRecord) -> BuildRecord:
    return BuildRecord("dev", "p", "dev", "now", {"GIT_COMMIT": "abc"}, targets)


def test_a_service_the_record_has_no_build_of_or_not_under_the_tag_compose_runs_cannot_be_placed() -> None:
    backend = service("backend", "p-backend:dev")
    # A dev that failed on prod's stack, as the record stood before: prod's build, prod's tags; compose runs :dev.
    assert checking.placement(record(backend=PROD), backend) == (
        "backend: compose runs p-backend:dev, a tag the build record's backend (the latest build (dev, now): "
        "p-backend:abc1234, p-backend:latest) does not carry: what runs there is unknown; rebuild (`nox -s dev` "
        "or `nox -s prod`)"
    )
    assert checking.placement(record(frontend=DEV), backend) == (
        "backend: the build record has no build of target backend (the latest build (dev, now)): what it runs is "
        "unknown; build it (`nox -s dev` or `nox -s prod`)"
    )
    assert checking.placement(record(backend=PROD), service("backend", "docker.io/library/p-backend:latest")) == ""


def container(service: str, image: str = "sha256:web", **kw: object) -> dk.ContainerInfo:
    fields: dict[str, object] = {"running": True, "status": "running", "exit_code": 0, "health": "healthy"} | kw
    return dk.ContainerInfo(id=f"id-{service}", name=f"p-{service}-1", service=service, image=image, **fields)


def test_a_service_the_record_cannot_place_is_a_failed_testcase_of_its_own_never_dropped(tmp_path: Path) -> None:
    """The checks of a stack whose record knows only the frontend: the backend's image check fails, naming it,
    its other checks are skipped; a service the project does not build is checked for its health."""
    backend, frontend = service("backend", "p-backend:dev"), service("frontend", "p-frontend:dev")
    stopped = container("db", "sha256:pg", status="exited", running=False, exit_code=137, health=None)
    containers = {"backend": container("backend", "sha256:prod"), "frontend": container("frontend"), "db": stopped}
    ctx = checking.Context(load_settings({}, root=tmp_path), cast(Any, None), record(frontend=DEV),
                           [backend, frontend], containers, others=[ComposeService("db", "postgres:16")])  # fmt: skip
    report = Report("verify")
    checking.run_checks(report, ctx, [backend], others=ctx.others)
    found = {c.name: (c.status, c.message) for c in report.main.checks}
    assert found == {
        "backend image": ("failed", checking.placement(ctx.build, backend)),
        "backend source fingerprint": ("skipped", "not checked: no build of backend recorded"),
        "db health": ("failed", "db: exited (exit code 137): start it (`nox -s verify -- --up`, or `nox -s dev`)"),
    }
    assert report.failed


def test_a_healthy_service_the_project_does_not_build_passes_on_its_health_alone(tmp_path: Path) -> None:
    db = ComposeService("db", "postgres:16")
    ctx = checking.Context(load_settings({}, root=tmp_path), cast(Any, None), record(), [], {"db": container("db")})
    assert (
        checking.outside_health(ctx, db)
        == "healthy; postgres:16: not built by the project, its health alone is checked"
    )
    states: list[tuple[dict[str, object], str]] = [
        ({"health": "unhealthy"}, "unhealthy"),
        ({"restarts": 2}, "restarted 2 times by its restart policy"),
        ({"health": "starting"}, "starting"),
    ]
    for state, says in states:
        ctx.containers["db"] = container("db", **state)
        with pytest.raises(CiError, match=f"^db: {says}: start it"):
            checking.outside_health(ctx, db)
    del ctx.containers["db"]
    with pytest.raises(CiError, match=r"^db: no container: start it"):
        checking.outside_health(ctx, db)


# --- the source fingerprint: the tree's sources, and the build args that shape the image ------------------

BAKE = 'variable "VITE_API_URL" {\n  default = "/api"\n}\ntarget "frontend" {\n}\n'


def args_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: dict[str, str], env: dict[str, str] | None = None
) -> tuple[checking.Context, Service]:
    """A frontend whose record and running image say it was built with BUILT (its shaping args), in a project
    whose definitions resolve VITE_API_URL as bake would: exported ENV over .env over the bake file's default."""
    (tmp_path / "docker-bake.hcl").write_text(BAKE)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    settings = load_settings(env or {}, root=tmp_path, host_env=tmp_path / "missing")
    sources = fingerprint(tmp_path, tmp_path / "Dockerfile")
    target = TargetRecord(
        "p-frontend:dev", "sha256:web", sources.digest, sources.files, tags=("p-frontend:dev",),
        build_args_digest=args_digest(built), build_args=arg_digests(built),
    )  # fmt: skip
    build = BuildRecord("dev", "p", "dev", "now", {"GIT_COMMIT": "abc"}, {"frontend": target})
    labels = {dk.SOURCE_DIGEST_LABEL: sources.digest, dk.BUILD_ARGS_LABEL: args_digest(built)}
    monkeypatch.setattr(dk, "image_source_digest", lambda _, ref: labels[dk.SOURCE_DIGEST_LABEL])
    monkeypatch.setattr(dk, "image_build_args", lambda _, ref: labels[dk.BUILD_ARGS_LABEL])
    resolved: list[dict[str, str]] = []

    def definition(_: object, bake_file: Path, targets: list[str], variables: dict[str, str]) -> dict[str, Any]:
        resolved.append(variables)
        url = variables.get("VITE_API_URL", "/api")
        return {"target": {"frontend": {"args": {"VITE_API_URL": url, "GIT_COMMIT": variables["GIT_COMMIT"]}}}}

    monkeypatch.setattr(dk, "bake_definition", definition)
    container = dk.ContainerInfo("c1", "p-frontend-1", "frontend", "sha256:web", True, "running", 0, "healthy")
    ctx = checking.Context(
        settings, cast(Any, None), build, [service("frontend", "p-frontend:dev")], {"frontend": container}
    )
    return ctx, ctx.services[0]


def test_a_service_built_with_the_args_the_definitions_resolve_now_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("VITE_API_URL=https://api.example.test\n")
    ctx, frontend = args_context(tmp_path, monkeypatch, {"VITE_API_URL": "https://api.example.test"})
    assert checking.source_fingerprint(ctx, frontend).startswith("built from the tree: sources ")
    checking.source_fingerprint(ctx, frontend)
    assert ctx.args_now == {"frontend": {"VITE_API_URL": "https://api.example.test"}}  # resolved once, then kept


@pytest.mark.parametrize(
    ("dotenv", "env", "says"),
    [
        ("VITE_API_URL=https://other.example.test\n", {}, "VITE_API_URL (now from .env)"),
        ("VITE_API_URL=https://api.example.test\n", {"VITE_API_URL": "/x"}, "VITE_API_URL (now from exported)"),
        ("", {}, "VITE_API_URL (now from the bake file)"),  # .env's line removed: the default again
    ],
)
def test_a_build_arg_changed_since_the_build_makes_the_service_stale_naming_it_and_where_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dotenv: str, env: dict[str, str], says: str
) -> None:
    (tmp_path / ".env").write_text(dotenv)
    ctx, frontend = args_context(tmp_path, monkeypatch, {"VITE_API_URL": "https://api.example.test"}, env)
    with pytest.raises(CiError) as stale:
        checking.source_fingerprint(ctx, frontend)
    assert str(stale.value) == (
        f"frontend: build args changed since the build: {says}: rebuild (`nox -s dev` or `nox -s prod`)"
    )
    assert "example.test" not in str(stale.value).replace(says, "")  # names the arg, never its value


def test_an_image_whose_build_args_no_record_has_is_stale_by_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, frontend = args_context(tmp_path, monkeypatch, {"VITE_API_URL": "/elsewhere"})
    ctx.build.targets["frontend"] = replace(ctx.build.targets["frontend"], build_args_digest="", build_args={})
    with pytest.raises(
        CiError, match=r"^frontend runs build args [0-9a-f]{12}, the definitions resolve [0-9a-f]{12}: "
    ):
        checking.source_fingerprint(ctx, frontend)


def test_watch_gives_the_args_it_resolved_and_nothing_is_resolved_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, frontend = args_context(tmp_path, monkeypatch, {"VITE_API_URL": "/api"})
    ctx.args_now = {"frontend": {"VITE_API_URL": "/api"}}
    monkeypatch.setattr(dk, "bake_definition", lambda *_: pytest.fail("resolved again"))
    assert checking.source_fingerprint(ctx, frontend).startswith("built from the tree: sources ")


def test_sources_that_changed_are_said_before_the_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, frontend = args_context(tmp_path, monkeypatch, {"VITE_API_URL": "/elsewhere"})
    (tmp_path / "Dockerfile").write_text("FROM scratch\nUSER 1\n")
    with pytest.raises(
        CiError, match=r"^frontend is stale: the tree changed since the build: modified Dockerfile: rebuild"
    ):
        checking.source_fingerprint(ctx, frontend)


# --- jobs: by their completion, never their health -------------------------------------------------------------


def test_a_job_is_checked_for_its_completion_and_one_it_builds_for_its_image_and_sources_never_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's stack: a migration from the backend's image that exited 0 (having logged a warning) passes as
    completed, with when; one the project does not build that exited 1 fails, named with its log's tail; the
    checks over HTTP a job's labels may carry (copied from the backend's) are skipped."""
    labels = Checks(build_info=Endpoint(8000, "/build/info"), startup_log=True)
    prestart = Service("prestart", "backend", "p-backend:dev", (), labels, Job.WAITED)
    seed = ComposeService("seed", "team/seed:1", job=Job.ONCE)
    done = container("prestart", "sha256:prod", status="exited", running=False, health=None,
                     finished="2026-12-07T06:01:02Z")  # fmt: skip
    failed = container("seed", "sha256:seed", status="exited", running=False, health=None, exit_code=1)
    containers = {"prestart": done, "seed": failed}
    ctx = checking.Context(load_settings({}, root=tmp_path), cast(Any, None), record(backend=PROD), [prestart],
                           containers, others=[seed])  # fmt: skip
    log = "INFO migrating\nTraceback (most recent call last):\n  File \"/app/seed.py\", line 3\nKeyError: 'x'\n"
    monkeypatch.setattr(dk, "container_logs", lambda engine, cid, tail=None: log)
    monkeypatch.setattr(checking, "image_is_latest", lambda ctx, service: "the latest build's")
    monkeypatch.setattr(checking, "source_fingerprint", lambda ctx, service: "the working tree's")
    monkeypatch.setattr(checking, "startup_log", lambda ctx, service: "its lines")
    report = Report("verify")
    checking.run_checks(report, ctx, [prestart], others=ctx.others)
    found = {c.name: (c.status, c.message) for c in report.main.checks}
    assert found == {
        "prestart job": ("passed", "completed (exit code 0) at 2026-12-07T06:01:02Z"),
        "prestart image": ("passed", "the latest build's"),
        "prestart build info": ("skipped", "not checked: a job serves nothing"),
        "prestart source fingerprint": ("passed", "the working tree's"),
        "prestart startup log": ("passed", "its lines"),
        "seed job": (
            "failed",
            "seed: the job failed (exited (exit code 1): KeyError: 'x'): run it again (`nox -s verify -- --up`, "
            "or `nox -s dev`)",
        ),
    }
    [seed_check] = [c for c in report.main.checks if c.name == "seed job"]
    assert seed_check.output == f"--- last log lines of seed ---\n{log}"
    ctx.containers["seed"] = replace(failed, exit_code=0, finished="2026-12-07T06:00:00Z")
    assert checking.job_done(ctx, "seed", Job.ONCE) == "completed (exit code 0) at 2026-12-07T06:00:00Z"
    ctx.containers["seed"] = container("seed", status="running", health=None)
    assert checking.job_done(ctx, "seed", Job.ONCE) == 'running (restart: "no": a service until it exits)'
    with pytest.raises(CiError, match=r"^seed: running: not completed yet: a job others wait for; wait for it"):
        checking.job_done(ctx, "seed", Job.WAITED)
    del ctx.containers["seed"]
    with pytest.raises(CiError, match=r"^seed: no container: the job never ran: run it"):
        checking.job_done(ctx, "seed", Job.WAITED)


def test_a_container_watch_synced_passes_its_source_check_only_as_synced_never_by_its_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, service = context_for(8000, tmp_path)
    ctx.containers = {"backend": dk.ContainerInfo("c1", "b-1", "backend", "sha256:img", True, "running", 0, None)}
    asked: list[str] = []
    monkeypatch.setattr(dk, "image_source_digest", lambda engine, image: asked.append(image) or "sha256:other")

    def synced(name: str, container: dk.ContainerInfo, target: TargetRecord) -> str:
        if container.id != "c1":
            return ""
        if asked == ["differs"]:
            raise CiError("backend: synced container differs from the tree: /app/backend/main.py: different content")
        return "synced from the tree onto 1a2b built from an earlier tree (1 file, proven at T)"

    ctx.synced = synced
    assert checking.source_fingerprint(ctx, service).startswith("synced from the tree onto 1a2b") and asked == []
    asked.append("differs")
    with pytest.raises(CiError, match=r"differs from the tree: /app/backend/main\.py"):
        checking.source_fingerprint(ctx, service)
    ctx.containers["backend"] = replace(ctx.containers["backend"], id="c2")  # recreated: its image is held to the tree
    with pytest.raises(CiError, match="runs sources"):
        checking.source_fingerprint(ctx, service)
