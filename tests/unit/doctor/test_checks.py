"""ci/doctor/checks.py: the checks of `nox -s doctor`, on made-up hosts (Docker calls replaced) and the real
tree."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ci import docker as dk
from ci import frame
from ci.cache import registry
from ci.core.errors import CiError, EngineUnreachable
from ci.core.settings import Settings, environment, load_settings
from ci.core.versions import HOST_MINIMUMS, TESTED
from ci.doctor import checks
from ci.doctor.checks import Finding, base_image_advice, version_finding
from ci.sessions.doctor import to_report
from ci.sign import cosign
from ci.sources import build_context
from ci.sources.fingerprint import fingerprint
from tests.conftest import write_files

ROOT = Path(__file__).resolve().parents[3]


# --- pure helpers ----------------------------------------------------------------------------------------


def test_version_finding_compares_with_packaging() -> None:
    minimum = HOST_MINIMUMS["compose"]
    assert version_finding("compose", "2.26.1-4", minimum, "upgrade").level == "ok"
    old = version_finding("compose", "2.9.0", minimum, "upgrade")  # 2.9 < 2.24 (not as strings)
    assert (old.level, old.advice) == ("fail", "upgrade")
    assert "older than 2.24.0" in old.detail and "start_interval" in old.detail
    assert version_finding("compose", "unknown", minimum, "upgrade").level == "warn"


def test_a_version_above_the_newest_tested_warns_and_the_range_is_reported() -> None:
    oldest, newest = TESTED["buildx"]
    minimum = HOST_MINIMUMS["buildx"]
    tested = version_finding("buildx", f"{newest}+ds1", minimum, "upgrade")
    assert tested.level == "ok" and f"tested {oldest} to {newest}" in tested.detail
    newer = version_finding("buildx", "0.99.0", minimum, "upgrade")
    assert newer.level == "warn" and f"newer than the newest tested, {newest}" in newer.detail
    assert newer.facts["buildx_tested"] == f"{oldest}..{newest}"


# --- the checks, on a made-up host ---------------------------------------------------------------------

DOCKERFILE = """\
ARG BASE=docker.io/library/python:3.11-slim
FROM ${BASE} AS base
COPY requirements.txt /tmp/
FROM base AS runtime
COPY app/ /app/
COPY config/*.toml /etc/app/
"""


class Host:
    """What the replaced Docker calls answer; each test changes what it needs."""

    def __init__(self) -> None:
        self.engine: str | Exception = "26.1.5"
        self.buildx = "github.com/docker/buildx v0.13.1 abc"
        self.compose_version = "Docker Compose version v2.26.1"
        self.builder = dk.BuilderFacts("default", "docker", (dk.NodeFacts("default", "running", None),))
        self.facts = dk.EngineFacts(containerd_store=True, root_dir="/")
        self.cache_bytes = 300_000_000
        self.cache_last_used = "2026-01-01 10:00:00 +0000 UTC"  # its one record: unused for long, prune frees it
        self.local_images: set[str] = set()
        self.registry_images = {"docker.io/library/python:3.11-slim", checks.SBOM_SCANNER}
        self.registry_status = 200
        self.login_problem: str | None = None  # what the registry says of Docker's login for it
        self.cosign: str | None = "/usr/bin/cosign"  # where cosign is; None: not installed
        self.cosign_version = "2.5.0-2+b5"
        self.public_half = "PUBLIC KEY A"  # COSIGN_KEY's, as `cosign public-key` prints it; "Error...": no open
        # `docker compose config`: the service running the image the bake target builds
        self.compose: dict[str, Any] = {"services": {"app": {"image": "p-app:dev", "pull_policy": "never"}}}

    def cache_record(self) -> dict[str, str]:
        """The engine's build cache as one record, in `docker system df --verbose`'s form."""
        size = f"{self.cache_bytes / 1e9:.3f}GB"
        return {"ID": "r1", "CacheType": "regular", "InUse": "false", "Shared": "false", "Size": size} | {
            "LastUsedAt": self.cache_last_used,
            "Description": "mount / from exec",
        }


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    state = Host()

    def require_engine(_: object) -> str:
        if isinstance(state.engine, Exception):
            raise state.engine
        return state.engine

    def definition(_: object, bake_file: Path, targets: list[str], variables: dict[str, str]) -> dict[str, Any]:
        return {
            "group": {"default": {"targets": ["app"]}},
            "target": {"app": {"context": ".", "dockerfile": "Dockerfile", "args": {}, "tags": ["p-app:dev"]}},
        }

    class Response:
        status_code = 200
        ok = True

        def raise_for_status(self) -> None:
            pass

        def json(self) -> dict[str, list[str]]:
            return {"repositories": []}

    def get(self: object, url: str, timeout: float, **_: object) -> Response:
        response = Response()
        response.status_code = state.registry_status
        return response

    monkeypatch.setattr(dk, "require_engine", require_engine)
    monkeypatch.setattr(dk, "buildx_version_line", lambda _: state.buildx)
    monkeypatch.setattr(dk, "compose_version_line", lambda _: state.compose_version)
    monkeypatch.setattr(dk, "compose_config", lambda _: state.compose)
    monkeypatch.setattr(dk, "inspect_builder", lambda *_: state.builder)
    monkeypatch.setattr(dk, "engine_facts", lambda _: state.facts)
    monkeypatch.setattr(dk, "uses_containerd_store", lambda _: state.facts.containerd_store)
    monkeypatch.setattr(dk, "disk_use", lambda _: {"build_cache": {"size": state.cache_bytes}})
    monkeypatch.setattr(dk, "disk_usage_detail", lambda _: {"BuildCache": [state.cache_record()]})
    monkeypatch.setattr(dk, "bake_definition", definition)
    monkeypatch.setattr(dk, "image_exists", lambda _, ref: ref in state.local_images)
    monkeypatch.setattr(dk, "image_resolvable", lambda _, ref: None if ref in state.registry_images else "not found")
    monkeypatch.setattr(registry.requests.Session, "get", get)
    monkeypatch.setattr(checks, "cache_refs", lambda *_: registry.Listing([]))  # no registry API in unit tests
    monkeypatch.setattr(checks, "login_problem", lambda _: state.login_problem)
    monkeypatch.setenv("CACHE_REGISTRY", "localhost:5000")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.delenv("BUILDX_BUILDER", raising=False)
    # cosign as the state says (no subprocess), its keys given as env://, as a pipeline's secrets give them
    monkeypatch.setattr(cosign, "available", lambda: state.cosign)
    monkeypatch.setattr(cosign, "version", lambda: state.cosign_version)
    monkeypatch.setattr(cosign, "public_half", lambda _: public_half(state))
    monkeypatch.setenv("COSIGN_KEY", "env://TEST_COSIGN_PRIVATE_KEY")
    monkeypatch.setenv("TEST_COSIGN_PRIVATE_KEY", "encrypted private key")
    monkeypatch.setenv("COSIGN_PASSWORD", "hunter2")
    monkeypatch.setenv("COSIGN_PUBLIC_KEY", "env://TEST_COSIGN_PUBLIC_KEY")
    monkeypatch.setenv("TEST_COSIGN_PUBLIC_KEY", "PUBLIC\nKEY A\n")  # the same key, lines aside
    return state


def public_half(state: Host) -> str:
    if state.public_half.startswith("Error"):
        raise CiError(state.public_half)
    return state.public_half


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small project: bake file, Dockerfile, .dockerignore allowlist, sources, in git."""
    files = {
        "docker-bake.hcl": 'group "default" {\n  targets = ["app"]\n}\ntarget "app" {\n}\n',
        "Dockerfile": DOCKERFILE,
        ".dockerignore": "*\n!app/\n!config/\n!requirements.txt\n**/__pycache__\n",
        "requirements.txt": "fastapi\n",
        "app/main.py": "print('hi')\n",
        "app/__pycache__/main.pyc": "x",
        "config/app.toml": "a = 1\n",
        "README.md": "docs\n",
    }
    write_files(tmp_path, files)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "docker-bake.hcl", "Dockerfile", ".dockerignore", "requirements.txt", "app/main.py")
    return tmp_path


def diagnose(root: Path, budget: float = 5e6) -> dict[str, Finding]:
    env = environment(root=root, host_env=root / "no-host.env")  # the process's, as the monkeypatches set it
    settings = Settings(root=root, project="mainzatest-doctor", reports_dir=root / "reports", ports={}, env=env)
    findings = checks.diagnose(settings, object(), budget_bytes=budget, cache_warn_bytes=10e9)  # type: ignore[arg-type]
    return {f.name: f for f in findings}


def failure_line(findings: list[Finding]) -> tuple[str, int] | None:
    """The session's last line (without "error: ") and exit code, as the frame makes them from the checks."""
    settings = Settings(root=Path("."), project="p", reports_dir=Path("."), ports={})
    return frame.failure(to_report(findings, settings).checks)


def levels(findings: dict[str, Finding]) -> dict[str, str]:
    return {name: f.level for name, f in findings.items()}


def test_healthy_host_is_all_ok(host: Host, tree: Path) -> None:
    found = diagnose(tree)
    assert levels(found) == {
        "engine": "ok",
        "buildx": "ok",
        "compose": "ok",
        "builder": "ok",
        "attestations": "ok",
        "sbom": "ok",
        "cosign": "ok",
        "signing key": "ok",
        "public key": "ok",
        "cache registry": "ok",
        "disk": "ok",
        "bake file": "ok",
        "compose file": "ok",
        "context": "ok",
        "dockerignore": "ok",
        "base images": "ok",
        "service images": "ok",
    }
    # requirements.txt, app/main.py, config/app.toml and the Dockerfile, which the build reads though ignored
    assert "4 files" in found["context"].detail
    assert "app/__pycache__" not in found["context"].output
    assert found["base images"].detail == "1 resolvable (registry)"
    assert failure_line(list(found.values())) is None


def test_unreachable_engine_fails_once_and_skips_what_needs_it(host: Host, tree: Path) -> None:
    host.engine = EngineUnreachable(
        "no Docker engine answers at unix:///nope.sock: run `ci/provision` as root (Debian 12), or start Docker"
    )
    found = diagnose(tree)
    assert found["engine"].level == "fail"
    assert found["engine"].detail == "no Docker engine answers at unix:///nope.sock"
    assert found["engine"].advice.startswith("run `ci/provision` as root")
    # the builder's release checks skip with it; cosign's and the keys' need no engine
    skipped = {"builder", "attestations", "sbom", "disk", "base images", "service images"}
    assert {n for n, f in found.items() if f.level == "skip"} == skipped
    line, code = failure_line(list(found.values())) or ("", 0)
    assert code == 3
    assert line.startswith("engine: no Docker engine answers at unix:///nope.sock: run `ci/provision` as root")


def test_old_versions_fail_naming_the_minimum(host: Host, tree: Path) -> None:
    host.engine = "24.0.7"
    host.buildx = "github.com/docker/buildx v0.12.1 abc"
    host.compose_version = "Docker Compose version v2.20.2"
    found = diagnose(tree)
    assert {n for n, f in found.items() if f.level == "fail"} == {"engine", "buildx", "compose"}
    assert "older than 25.0" in found["engine"].detail
    line, _ = failure_line(list(found.values())) or ("", 0)
    assert "(and 2 more failing: buildx, compose)" in line


def test_classic_image_store_warns_that_cache_cannot_be_exported(host: Host, tree: Path) -> None:
    host.facts = dk.EngineFacts(containerd_store=False, root_dir="/")
    builder = diagnose(tree)["builder"]
    assert (builder.level, "cannot export registry cache" in builder.detail) == ("warn", True)
    assert "containerd-snapshotter" in builder.advice
    host.builder = dk.BuilderFacts("ci", "docker-container", (dk.NodeFacts("ci0", "inactive", None),))
    assert diagnose(tree)["builder"].level == "ok"


def test_big_build_cache_and_full_disk_point_at_prune(host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host.cache_bytes = int(12e9)
    disk = diagnose(tree)["disk"]
    assert (disk.level, "nox -s prune" in disk.advice) == ("warn", True)
    assert "build cache 12.0 GB that prune frees (unused for 24h) of 12.0 GB in all" in disk.detail

    class Usage:
        free = int(1e9)

    monkeypatch.setattr(checks.shutil, "disk_usage", lambda _: Usage())
    disk = diagnose(tree)["disk"]
    assert (disk.level, disk.detail.startswith("1.0 GB free")) == ("fail", True)


def test_a_big_cache_that_prune_would_not_free_is_no_warning_and_both_figures_are_labelled(
    host: Host, tree: Path
) -> None:
    host.cache_bytes = int(12e9)
    host.cache_last_used = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")  # used just now
    disk = diagnose(tree)["disk"]
    assert disk.level == "ok", disk
    assert "build cache 0 B that prune frees (unused for 24h) of 12.0 GB in all" in disk.detail
    assert disk.facts["build_cache_prunable_bytes"] == "0"


def test_unreachable_registry_warns(host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host.registry_status = 503
    assert diagnose(tree)["cache registry"].level == "warn"
    monkeypatch.delenv("CACHE_REGISTRY")
    found = diagnose(tree)["cache registry"]  # prod's default registry all the same: prod caches there
    assert (found.level, found.facts["cache_registry"]) == ("warn", "localhost:5000")


@pytest.mark.parametrize("where", ["exported", ".env"])
def test_doctor_and_prod_find_the_same_cache_registry_with_cache_registry_port_set(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Issue 34: doctor read CACHE_REGISTRY or the bake file's default (localhost:5000) where prod, with no
    CACHE_REGISTRY, caches at localhost:CACHE_REGISTRY_PORT."""
    monkeypatch.delenv("CACHE_REGISTRY")
    if where == "exported":
        monkeypatch.setenv("CACHE_REGISTRY_PORT", "5999")
    else:
        monkeypatch.delenv("CACHE_REGISTRY_PORT", raising=False)
        (tree / ".env").write_text("CACHE_REGISTRY_PORT=5999\n")
    assert diagnose(tree)["cache registry"].facts["cache_registry"] == "localhost:5999"
    # prod's: its plan, from the settings the frame loads, with the registry answering and taking the login
    settings = load_settings(host_env=tree / "no-host.env", root=tree)
    monkeypatch.setattr(registry, "login_problem", lambda _: None)
    builder = registry.BuilderInfo("default", "docker", (), containerd_store=True)
    plan = registry.plan_cache(settings, builder, strict=True)
    assert (plan.registry, plan.status) == ("localhost:5999", "ok")


def test_a_cache_registry_port_that_is_none_fails_doctor_naming_it(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CACHE_REGISTRY")
    (tree / ".env").write_text("CACHE_REGISTRY_PORT=five\n")
    found = diagnose(tree)["cache registry"]
    assert (found.level, found.exit_code) == ("fail", 2)
    assert found.detail == "CACHE_REGISTRY_PORT='five' is not a port number (1-65535)"


def test_context_over_budget_fails_naming_the_largest_file(host: Host, tree: Path) -> None:
    (tree / "app" / "model.bin").write_bytes(b"\0" * 6_000_000)
    context = diagnose(tree)["context"]
    assert context.level == "fail"
    assert "over the 5.0 MB budget" in context.detail
    assert "largest: app/model.bin 6.0 MB" in context.detail
    assert ".dockerignore" in context.advice
    assert context.output.splitlines()[1].split() == ["6.0", "MB", "app/model.bin"]
    assert diagnose(tree, budget=10e6)["context"].level == "ok"


def test_missing_dockerignore_is_said_plainly_with_what_to_add(host: Host, tree: Path) -> None:
    (tree / ".dockerignore").unlink()
    (tree / "data.bin").write_bytes(b"\0" * 6_000_000)
    context = diagnose(tree)["context"]
    assert context.level == "fail"
    assert context.detail.startswith("no .dockerignore in ., every file there is sent: ")
    assert context.advice.startswith("add a .dockerignore to .")
    assert "(no ignore file)" in context.output.splitlines()[0]
    (tree / "data.bin").unlink()
    small = diagnose(tree)["context"]
    assert small.level == "ok" and small.detail.startswith("no .dockerignore in .")


def test_excluded_copy_source_fails(host: Host, tree: Path) -> None:
    (tree / ".dockerignore").write_text("*\n!app/\n!config/\n")  # requirements.txt no longer sent
    check = diagnose(tree)["dockerignore"]
    assert check.level == "fail"
    assert check.detail == "Dockerfile:3 COPY requirements.txt: requirements.txt is excluded by .dockerignore"


def test_copied_folder_sending_nothing_fails_and_tracked_files_left_out_warn(host: Host, tree: Path) -> None:
    (tree / ".dockerignore").write_text("*\n!app/\n!config/\n!requirements.txt\n**/__pycache__\napp/*.py\n")
    check = diagnose(tree)["dockerignore"]
    assert check.level == "fail"
    assert "COPY app/: everything in app is excluded" in check.detail
    (tree / "app" / "extra.txt").write_text("sent\n")
    check = diagnose(tree)["dockerignore"]
    assert check.level == "warn"
    assert check.detail == "Dockerfile:5 COPY app/: tracked app/main.py excluded by .dockerignore"


def test_missing_base_image_fails_naming_its_variable(host: Host, tree: Path) -> None:
    host.registry_images = set()
    check = diagnose(tree)["base images"]
    assert check.level == "fail"
    assert check.detail.startswith("${BASE}=docker.io/library/python:3.11-slim: not local")
    # BASE is the Dockerfile's own variable, for which provision has no stand-in: only the variable is advised.
    assert check.advice.startswith("docker.io does not give it to this host: set BASE to a copy of it")
    assert "ci/provision" not in check.advice and "`docker login docker.io`" in check.advice
    host.local_images = {"docker.io/library/python:3.11-slim"}
    assert diagnose(tree)["base images"].detail == "1 resolvable (local)"


def test_the_advice_for_an_unreachable_base_image_names_its_registry_and_only_what_exists() -> None:
    literal = base_image_advice("mcr.microsoft.com/dotnet/runtime:7.0", "mcr.microsoft.com/dotnet/runtime:7.0")
    assert literal.startswith("mcr.microsoft.com does not give it to this host: copy it to a registry")
    assert "set " not in literal and "ci/provision" not in literal
    assert "`docker login mcr.microsoft.com`" in literal
    standin = base_image_advice("python:3.11-slim", "${PYTHON_IMAGE}")
    assert "run `ci/provision` as root (it provides a stand-in for PYTHON_IMAGE)" in standin
    assert "set PYTHON_IMAGE to a copy of it" in standin and standin.startswith("docker.io ")


def test_the_image_of_a_service_the_project_does_not_build_is_checked_as_the_sessions_preflight_checks_it(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.compose["services"]["store"] = {"image": "registry.test:5443/team/store:1"}
    monkeypatch.setattr(dk, "image_resolvable", lambda _, ref: f"{ref}: not found" if "store" in ref else None)
    found = diagnose(tree)
    check = found["service images"]
    assert check.level == "fail" and check.exit_code == 1
    assert check.detail == (
        "store's image registry.test:5443/team/store:1 is not on this engine and cannot be pulled: not found in "
        "registry.test:5443: check its name and tag (compose.yaml, .env), or push it there"
    )
    assert "service" not in found["base images"].output  # base images are the Dockerfiles' FROMs alone
    line, code = failure_line(list(found.values())) or ("", 0)
    assert code == 1
    assert line.startswith("service images: store's image registry.test:5443/team/store:1 is not on this engine")
    monkeypatch.setattr(dk, "image_resolvable", lambda _, ref: None)
    check = diagnose(tree)["service images"]
    assert (check.level, check.detail) == ("ok", "store registry")


def test_a_required_variable_nothing_sets_fails_the_compose_file_with_exit_2_naming_it(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unresolved(_: object) -> dict[str, Any]:
        raise dk.MissingVariables({"POSTGRES_PASSWORD": "set the database's password", "SECRET_KEY": ""})

    monkeypatch.setattr(dk, "compose_config", unresolved)
    found = diagnose(tree)
    check = found["compose file"]
    assert (check.level, check.exit_code) == ("fail", 2)
    assert check.detail == (
        "compose.yaml does not resolve: required variable POSTGRES_PASSWORD is missing a value: set the database's "
        "password; so are SECRET_KEY"
    )
    assert check.advice == "set them in .env or export them"
    assert found["service images"].level == "skip"
    line, code = failure_line(list(found.values())) or ("", 0)
    assert code == 2 and line.startswith("compose file: compose.yaml does not resolve: required variable POSTGRES")
    assert line.endswith(": set them in .env or export them"), line


def test_a_compose_file_that_does_not_parse_fails_the_compose_file(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: object) -> dict[str, Any]:
        raise CiError("compose.yaml:4:4: did not find expected key")

    monkeypatch.setattr(dk, "compose_config", broken)
    found = diagnose(tree)
    assert (found["compose file"].level, found["compose file"].exit_code) == ("fail", 1)
    assert found["compose file"].detail == "compose.yaml:4:4: did not find expected key"


def test_a_compose_file_where_no_service_runs_a_built_image_fails_as_dev_would(host: Host, tree: Path) -> None:
    host.compose = {"services": {"db": {"image": "postgres:16"}}}
    host.local_images = {"postgres:16"}
    check = diagnose(tree)["service images"]
    assert check.level == "fail"
    assert check.detail == "no service in compose.yaml runs an image the bake targets build (targets: app)"


def test_broken_bake_file_fails_and_skips_what_needs_it(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> dict[str, Any]:
        raise CiError("docker-bake.hcl:3,1-2: Argument or block definition required")

    monkeypatch.setattr(dk, "bake_definition", broken)
    found = diagnose(tree)
    assert found["bake file"].level == "fail"
    assert "Argument or block definition required" in found["bake file"].detail
    skipped = {"context", "dockerignore", "base images", "service images"}
    assert {n for n, f in found.items() if f.level == "skip"} == skipped


def test_a_copied_file_missing_from_the_tree_says_so_without_the_ignore_file_advice(host: Host, tree: Path) -> None:
    (tree / "requirements.txt").unlink()
    check = diagnose(tree)["dockerignore"]
    assert check.level == "fail"
    assert check.detail == "Dockerfile:3 COPY requirements.txt: does not exist"
    assert check.advice == "restore it or change the COPY"


def test_two_services_dockerfiles_are_named_by_their_paths_in_the_project(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service in a folder of its own with a `Dockerfile`: a finding names which one."""
    for name in ("api", "web"):
        (tree / name).mkdir()
        (tree / name / "Dockerfile").write_text("FROM scratch\nCOPY missing.txt /\n")
    targets = {name: {"context": name, "dockerfile": "Dockerfile", "args": {}} for name in ("api", "web")}
    monkeypatch.setattr(dk, "bake_definition", lambda *_: {"target": targets})
    check = diagnose(tree)["dockerignore"]
    assert check.detail == "api/Dockerfile:2 COPY missing.txt: does not exist (+1 more)"
    assert "web/Dockerfile:2 COPY missing.txt: does not exist" in check.output.splitlines()


def test_doctor_and_the_builds_measure_a_context_alike(host: Host, tree: Path) -> None:
    (tree / "app" / "model.bin").write_bytes(b"\0" * 6_000_000)
    sources = fingerprint(tree, tree / "Dockerfile")
    over = build_context.over_budget(sources.size, len(sources.files))
    assert over is not None and over in diagnose(tree)["context"].detail


def test_the_projects_cache_refs_are_listed_with_their_sizes(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = [
        registry.CacheRef("localhost:5000/mainzatest-doctor/backend:id-1a2b", 120_000_000, 9),
        registry.CacheRef("localhost:5000/mainzatest-doctor/backend:branch-main", 120_000_000, 9),
    ]
    listing = registry.Listing(refs)
    monkeypatch.setattr(
        checks, "cache_refs", lambda reg, project, targets: listing if project == "mainzatest-doctor" else None
    )
    found = diagnose(tree)["cache registry"]
    assert found.level == "ok" and found.detail.endswith("; 2 cache refs of mainzatest-doctor, 240.0 MB named")
    assert found.output.splitlines()[0].split() == ["120.0", "MB", refs[0].ref]


def test_an_image_pushed_under_the_project_is_no_cache_ref_and_is_named_apart(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in base image a team pushed under its project's name (the registry lists it with the cache)
    is not counted, nor sized, as a cache ref: only a target's identity and branch refs are."""
    cache = [
        registry.CacheRef("localhost:5000/mainzatest-doctor/app:id-1a2b", 120_000_000, 9),
        registry.CacheRef("localhost:5000/mainzatest-doctor/app:branch-main", 120_000_000, 9),
    ]
    stand_ins = [
        registry.CacheRef("localhost:5000/mainzatest-doctor/postgres:16", 150_000_000, 7),
        registry.CacheRef("localhost:5000/mainzatest-doctor/mirror/python:branch-main", 50_000_000, 3),
    ]
    monkeypatch.setattr(checks, "cache_refs", lambda *_: registry.Listing([stand_ins[0], *cache, stand_ins[1]]))
    found = diagnose(tree)["cache registry"]
    assert found.level == "ok"
    assert found.detail.endswith(
        "; 2 cache refs of mainzatest-doctor, 240.0 MB named (2 other images there not counted: "
        f"{stand_ins[0].ref}, {stand_ins[1].ref})"
    )
    assert [line.split()[-1] for line in found.output.splitlines()] == [r.ref for r in cache]


@pytest.mark.parametrize(
    ("ref", "counted"),
    [
        ("ghcr.io/org/shop/backend:id-0f3c", True),
        ("ghcr.io/org/shop/backend:branch-feature-a-1a2b3c4d5e6f", True),
        ("ghcr.io/org/shop/backend:1.2", False),  # not a tag the builds write
        ("ghcr.io/org/shop/base/python:id-0f3c", False),  # not right under the project
        ("ghcr.io/org/shopping/backend:id-0f3c", False),  # another project
        ("ghcr.io/other/shop/backend:id-0f3c", False),  # another namespace
    ],
)
def test_a_cache_ref_is_a_targets_identity_or_branch_tag_right_under_the_project(ref: str, counted: bool) -> None:
    assert checks.is_cache_ref(ref, "ghcr.io/org", "shop") is counted


def test_a_base_image_that_would_be_an_option_of_dockers_is_no_reference_and_never_asked(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree / "Dockerfile").write_text(DOCKERFILE.replace("docker.io/library/python:3.11-slim", "--output=/tmp/x"))
    asked: list[str] = []
    monkeypatch.setattr(dk, "image_exists", lambda _, ref: asked.append(ref) or False)
    monkeypatch.setattr(dk, "image_resolvable", lambda _, ref: asked.append(ref) or "no")
    check = diagnose(tree)["base images"]
    assert (check.level, check.detail) == ("fail", "${BASE}=--output=/tmp/x: not an image reference")
    assert [ref for ref in asked if ref != checks.SBOM_SCANNER] == []  # the sbom check asks for its scanner alone


def test_a_context_outside_the_project_fails_the_bake_file_naming_it_and_nothing_there_is_read(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def definition(*_: object) -> dict[str, Any]:
        return {"target": {"app": {"context": "../../../../etc", "dockerfile": "Dockerfile", "args": {}}}}

    monkeypatch.setattr(dk, "bake_definition", definition)
    monkeypatch.setattr(build_context, "input_files", lambda *_: pytest.fail("a file outside was listed"))
    found = diagnose(tree)
    assert found["bake file"].level == "fail"
    assert found["bake file"].detail.startswith(
        "docker-bake.hcl: target app: its context ../../../../etc is outside the project ("
    )
    assert {found[name].level for name in ("context", "dockerignore", "base images")} == {"skip"}
    line = failure_line(list(found.values()))
    assert line is not None and line[0].startswith("bake file: docker-bake.hcl: target app: its context")


def test_a_registry_refusing_dockers_login_warns_with_prods_own_line_and_its_refs_go_unlisted(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.registry_status = 401
    host.login_problem = (
        "registry.test:5443 refused the login Docker has for it (config.json): wrong user or password, or expired; "
        "run `docker login registry.test:5443` again"
    )
    monkeypatch.setenv("CACHE_REGISTRY", "registry.test:5443/team")
    monkeypatch.setattr(checks, "cache_refs", lambda *_: pytest.fail("listed with a refused login"))
    found = diagnose(tree)["cache registry"]
    assert found.level == "warn"
    answers = "registry.test:5443/team answers (https://registry.test:5443/v2/ HTTP 401)"
    assert found.detail == f"{answers}, but {host.login_problem}"
    assert "prod builds without the registry cache" in found.advice


def test_doctor_asks_the_login_with_prods_own_function() -> None:
    assert checks.login_problem is registry.login_problem


# --- what the builder can do for a release -------------------------------------------------------------


def test_a_classic_store_builder_warns_for_cache_attestations_and_sbom_each_with_advice(host: Host, tree: Path) -> None:
    host.facts = dk.EngineFacts(containerd_store=False, root_dir="/")
    found = diagnose(tree)
    for name in ("builder", "attestations", "sbom"):
        assert found[name].level == "warn", name
        assert "containerd-snapshotter" in found[name].advice
    assert "keeps no attestations" in found["attestations"].detail
    assert failure_line(list(found.values())) is None  # warnings, never a failed doctor


def test_no_docker_hub_warns_that_no_sbom_is_attached_naming_the_scanner(host: Host, tree: Path) -> None:
    host.registry_images.discard(checks.SBOM_SCANNER)
    sbom = diagnose(tree)["sbom"]
    assert sbom.level == "warn"
    assert checks.SBOM_SCANNER in sbom.detail and "prod --push attaches no SBOM" in sbom.detail
    assert "registry-mirrors" in sbom.advice and "--builder" in sbom.advice


def test_the_builder_checked_is_the_one_given_else_buildx_builder(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str | None] = []

    def inspect(_: object, name: str | None = None) -> dk.BuilderFacts:
        asked.append(name)
        return dk.BuilderFacts(name or "default", "docker-container", (dk.NodeFacts("n0", "running", None),))

    monkeypatch.setattr(dk, "inspect_builder", inspect)
    env = environment(root=tree, host_env=tree / "no-host.env")
    settings = Settings(root=tree, project="p", reports_dir=tree / "reports", ports={}, env=env)
    found = {
        f.name: f for f in checks.diagnose(settings, object(), budget_bytes=5e6, cache_warn_bytes=10e9, builder="ci")
    }  # type: ignore[arg-type]
    assert found["builder"].detail == "ci (docker-container driver): exports registry cache"
    assert found["attestations"].detail.startswith("ci: prod --push attaches provenance")
    monkeypatch.setenv("BUILDX_BUILDER", "second")
    assert diagnose(tree)["builder"].detail.startswith("second (docker-container driver)")
    assert asked == ["ci", "second"]


def test_a_builder_name_docker_would_read_as_an_option_fails_the_builder_alone(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDX_BUILDER", "-x")
    found = diagnose(tree)
    assert (found["builder"].level, found["builder"].exit_code) == ("fail", 2)
    assert "is not a builder name" in found["builder"].detail
    assert (found["attestations"].level, found["sbom"].level) == ("skip", "skip")


def test_no_cosign_and_no_keys_warn_each_with_one_line_of_advice(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.cosign = None
    for name in ("COSIGN_KEY", "COSIGN_PASSWORD", "COSIGN_PUBLIC_KEY"):
        monkeypatch.delenv(name)
    found = diagnose(tree)
    assert {n: found[n].level for n in ("cosign", "signing key", "public key")} == dict.fromkeys(
        ("cosign", "signing key", "public key"), "warn"
    )
    assert "ci/provision" in found["cosign"].advice
    assert "COSIGN_KEY is not set" in found["signing key"].detail and "COSIGN_PASSWORD" in found["signing key"].advice
    assert "COSIGN_PUBLIC_KEY is not set" in found["public key"].detail
    assert failure_line(list(found.values())) is None


@pytest.mark.parametrize(("version", "level"), [("2.5.0-2+b5", "ok"), ("3.0.1", "warn"), ("1.13.1", "warn")])
def test_cosign_other_than_2x_warns(host: Host, tree: Path, version: str, level: str) -> None:
    host.cosign_version = version
    found = diagnose(tree)["cosign"]
    assert (found.level, found.facts["cosign_version"]) == (level, version)
    if version.startswith("3"):
        assert "Sigstore's trust data" in found.advice


def test_a_key_that_does_not_open_or_a_public_key_of_another_pair_warns_and_no_secret_is_shown(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_COSIGN_PUBLIC_KEY", "PUBLIC KEY B")
    found = diagnose(tree)
    assert found["signing key"].level == "ok"
    assert (found["public key"].level, "not COSIGN_KEY's public half" in found["public key"].detail) == ("warn", True)
    host.public_half = "Error: the key does not open with COSIGN_PASSWORD"
    found = diagnose(tree)
    assert (found["signing key"].level, "does not open" in found["signing key"].detail) == ("warn", True)
    assert found["public key"].level == "ok"  # said once, by the signing key's check
    text = " ".join(f.detail + f.advice + f.output for f in found.values())
    assert "hunter2" not in text and "encrypted private key" not in text
    monkeypatch.setenv("COSIGN_KEY", str(tree / "no-such.key"))
    missing = diagnose(tree)["signing key"]
    assert (missing.level, missing.detail) == ("warn", f"COSIGN_KEY: no file at {tree / 'no-such.key'}")
