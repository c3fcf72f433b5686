"""ci/stack/preflight.py: the definitions resolved and every image a session will not build found, by compose's
pull_policy, before any build (the engine and the registries replaced by what each test says they hold)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ci import docker as dk
from ci.builds.bakefile import ResolvedTarget
from ci.core.errors import CiError, Exit
from ci.core.settings import Settings
from ci.stack import preflight
from ci.stack.services import ComposeService, compose_services

TARGETS = {"api": ResolvedTarget("api", tags=("shop-api:dev",))}
BUILT = {"image": "shop-api:dev", "pull_policy": "never", "ports": [{"target": 8000, "published": "18000"}]}


class Registries:
    """What the engine holds and what each registry answers for an image's manifest; every question asked."""

    def __init__(self) -> None:
        self.local: set[str] = set()
        self.served: set[str] = set()
        self.causes: dict[str, str] = {}  # image -> what its registry says instead of serving it
        self.asked_local: list[str] = []
        self.asked_registry: list[str] = []
        self.lock = threading.Lock()

    def exists(self, _: object, ref: str) -> bool:
        with self.lock:
            self.asked_local.append(ref)
        return ref in self.local

    def resolvable(self, _: object, ref: str) -> str | None:
        with self.lock:
            self.asked_registry.append(ref)
        return None if ref in self.served else self.causes.get(ref, f"{ref}: not found")


@pytest.fixture
def registries(monkeypatch: pytest.MonkeyPatch) -> Registries:
    state = Registries()
    monkeypatch.setattr(dk, "image_exists", state.exists)
    monkeypatch.setattr(dk, "image_resolvable", state.resolvable)
    return state


def ready(services: dict[str, dict[str, Any]]) -> preflight.Ready:
    compose = services_of({"api": BUILT, **services})
    return preflight.check(object(), compose, TARGETS)  # type: ignore[arg-type]


def services_of(raw: dict[str, dict[str, Any]]) -> dict[str, ComposeService]:
    return compose_services({"services": raw})


def found(services: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {f.service: (f.where, f.problem) for f in ready(services).images}


# --- by pull_policy ------------------------------------------------------------------------------------------


def test_an_image_on_the_engine_is_found_there_and_its_registry_never_asked(registries: Registries) -> None:
    registries.local = {"postgres:16"}
    assert found({"db": {"image": "postgres:16"}}) == {"db": ("local", "")}
    assert registries.asked_registry == []


def test_an_image_not_on_the_engine_is_found_in_its_registry_without_a_pull(registries: Registries) -> None:
    registries.served = {"localhost:5000/team/db:1"}
    assert found({"db": {"image": "localhost:5000/team/db:1", "pull_policy": "missing"}}) == {"db": ("registry", "")}
    assert registries.asked_local == registries.asked_registry == ["localhost:5000/team/db:1"]


def test_a_misspelled_image_names_the_service_the_image_and_what_to_do(registries: Registries) -> None:
    image = "localhost:5000/team/postgress:16"
    [missing] = ready({"db": {"image": image}}).missing
    assert missing.problem == (
        f"db's image {image} is not on this engine and cannot be pulled: not found in localhost:5000: check its "
        "name and tag (compose.yaml, .env), or push it there"
    )


def test_a_registry_out_of_reach_of_this_client_advises_the_pull_that_goes_through_the_engine(
    registries: Registries,
) -> None:
    """The engine pulls through its own mirrors, proxy and CAs: the client's failure to reach the registry may
    not be the engine's, and `docker pull` settles it (the image is then on the engine)."""
    image = "registry.internal:5000/db:1"
    registries.causes[image] = "failed to do request: Head ...: dial tcp: lookup registry.internal: no such host"
    [missing] = ready({"db": {"image": image}}).missing
    assert "registry.internal:5000 is unreachable (no such host)" in missing.problem
    assert missing.problem.endswith(f"; or pull it first (`docker pull {image}`)"), missing.problem
    registries.causes[image] = "no answer within 10s"
    [missing] = ready({"db": {"image": image}}).missing
    assert "registry.internal:5000 is unreachable (no answer within 10s)" in missing.problem


def test_pull_policy_never_wants_the_image_on_the_engine_and_never_asks_a_registry(registries: Registries) -> None:
    registries.served = {"postgres:16"}
    [missing] = ready({"db": {"image": "postgres:16", "pull_policy": "never"}}).missing
    assert missing.problem == (
        "db's image postgres:16 is not on this engine and its pull_policy is never: pull it (`docker pull "
        "postgres:16`) or load it, or set its pull_policy to missing"
    )
    assert registries.asked_registry == []
    registries.local = {"postgres:16"}
    assert found({"db": {"image": "postgres:16", "pull_policy": "never"}}) == {"db": ("local", "")}


def test_pull_policy_always_asks_the_registry_though_the_engine_has_the_image(registries: Registries) -> None:
    registries.local = registries.served = {"postgres:16"}
    assert found({"db": {"image": "postgres:16", "pull_policy": "always"}}) == {"db": ("local and registry", "")}
    registries.served = set()
    registries.causes["postgres:16"] = "docker.io/library/postgres:16: not found"  # the registry's own no
    [missing] = ready({"db": {"image": "postgres:16", "pull_policy": "always"}}).missing
    assert missing.problem.startswith("db's image postgres:16 (pull_policy: always) cannot be pulled: not found in"), (
        missing.problem
    )
    # out of reach from here, and on the engine: compose's pull goes through the engine; not this check's to refuse
    registries.causes["postgres:16"] = "dial tcp: lookup registry-1.docker.io: no such host"
    assert found({"db": {"image": "postgres:16", "pull_policy": "always"}}) == {"db": ("local", "")}


@pytest.mark.parametrize("policy", ["if_not_present", "daily", "weekly", "every_12h", "MISSING", ""])
def test_the_other_policies_are_compose_s_default_on_the_engine_else_the_registry(
    registries: Registries, policy: str
) -> None:
    registries.served = {"redis:7"}
    assert found({"cache": {"image": "redis:7", "pull_policy": policy}}) == {"cache": ("registry", "")}


def test_an_image_compose_builds_itself_is_neither_looked_for_nor_asked(registries: Registries) -> None:
    services = {
        "job": {"image": "team/job:1", "build": {"context": "."}},
        "w": {"image": "w:1", "pull_policy": "build"},
    }
    assert found(services) == {"job": ("built by compose", ""), "w": ("built by compose", "")}
    assert registries.asked_local == registries.asked_registry == []


def test_a_service_with_no_image_is_no_image_to_find(registries: Registries) -> None:
    assert ready({"job": {"build": {"context": "."}}}).images == ()


def test_an_image_that_would_be_an_option_of_dockers_is_no_reference_and_never_asked(registries: Registries) -> None:
    [missing] = ready({"db": {"image": "--output=/tmp/x"}}).missing
    assert missing.problem == "db's image '--output=/tmp/x' is not an image reference: fix it in compose.yaml"
    assert registries.asked_local == registries.asked_registry == []


def test_each_image_is_asked_once_whatever_the_services_that_run_it(registries: Registries) -> None:
    registries.served = {"redis:7"}
    assert found({"a": {"image": "redis:7"}, "b": {"image": "redis:7"}}) == {
        "a": ("registry", ""),
        "b": ("registry", ""),
    }
    assert registries.asked_local == registries.asked_registry == ["redis:7"]


def test_the_images_are_asked_in_parallel(registries: Registries, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four registries that each take a while: the check takes about one's time, not four."""
    both = threading.Barrier(4, timeout=5)  # breaks, failing the test, unless four are asked at once

    def slow(_: object, ref: str) -> str | None:
        both.wait()
        return None

    monkeypatch.setattr(dk, "image_resolvable", slow)
    services = {f"s{n}": {"image": f"localhost:5000/s{n}:1"} for n in range(4)}
    assert {where for where, _ in found(services).values()} == {"registry"}


# --- what the sessions get -----------------------------------------------------------------------------------


def test_require_names_the_first_image_and_how_many_more_and_keeps_every_line(registries: Registries) -> None:
    registries.local = {"redis:7"}
    answer = ready({"db": {"image": "localhost:5000/db:1"}, "cache": {"image": "redis:7"}, "q": {"image": "q:1"}})
    with pytest.raises(preflight.ImagesMissing) as raised:
        preflight.require(answer)
    assert str(raised.value).startswith("db's image localhost:5000/db:1 is not on this engine and cannot be pulled")
    assert str(raised.value).endswith(" (+1 more: q)"), str(raised.value)
    assert raised.value.exit_code == Exit.FAILED
    assert raised.value.output.splitlines()[0] == "cache's image redis:7: local"


def test_what_is_ready_says_what_is_built_and_where_the_others_come_from(registries: Registries) -> None:
    registries.local = {"redis:7"}
    answer = preflight.require(ready({"cache": {"image": "redis:7", "ports": [{"target": 6379, "published": "6379"}]}}))
    assert answer.summary() == "definitions resolve: api built here; cache local"
    assert [p.host for p in answer.ports] == [18000, 6379]  # every service's: dev's ports step reads them here
    assert preflight.require(ready({})).summary() == "definitions resolve: api built here; no other image to find"


def test_no_service_running_an_image_a_target_builds_fails_as_the_stack_would(registries: Registries) -> None:
    with pytest.raises(
        CiError, match=r"no service in compose.yaml runs an image the bake targets build \(targets: api"
    ):
        preflight.check(object(), services_of({"db": {"image": "postgres:16"}}), TARGETS)  # type: ignore[arg-type]


def test_before_build_says_a_missing_variable_first_and_asks_no_image(
    registries: Registries, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def unresolved(_: object) -> dict[str, Any]:
        raise dk.MissingVariables({"POSTGRES_PASSWORD": "set it"})

    def bake_broken(*_: object) -> dict[str, ResolvedTarget]:
        raise CiError("docker-bake.hcl:3,1-2: Argument or block definition required")

    settings = Settings(root=tmp_path, project="shop", reports_dir=tmp_path, ports={})
    monkeypatch.setattr(dk, "compose_config", unresolved)
    monkeypatch.setattr(preflight, "resolve_targets", bake_broken)
    with pytest.raises(dk.MissingVariables) as raised:
        preflight.before_build(object(), settings, "dev")  # type: ignore[arg-type]
    assert raised.value.exit_code == Exit.USAGE
    monkeypatch.setattr(dk, "compose_config", lambda _: {"services": {"api": BUILT}})
    with pytest.raises(CiError, match="Argument or block definition required"):
        preflight.before_build(object(), settings, "dev")  # type: ignore[arg-type]
    assert registries.asked_local == []


def test_before_build_resolves_the_group_with_the_projects_name_and_requires_every_image(
    registries: Registries, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[tuple[str, dict[str, str]]] = []

    def targets(_: object, settings: Settings, group: str, variables: dict[str, str]) -> dict[str, ResolvedTarget]:
        asked.append((group, variables))
        return TARGETS

    settings = Settings(root=tmp_path, project="shop", reports_dir=tmp_path, ports={})
    monkeypatch.setattr(preflight, "resolve_targets", targets)
    monkeypatch.setattr(dk, "compose_config", lambda _: {"services": {"api": BUILT, "db": {"image": "db:1"}}})
    with pytest.raises(preflight.ImagesMissing, match="db's image db:1 is not on this engine"):
        preflight.before_build(object(), settings, "prod")  # type: ignore[arg-type]
    assert asked == [("prod", {"PROJECT": "shop"})]
    registries.local = {"db:1"}
    assert preflight.before_build(object(), settings, "prod").images[0].where == "local"  # type: ignore[arg-type]
