"""The stack's services come from the definitions: compose's services matched to bake targets by image,
and what verify checks of each read from its labels."""

from __future__ import annotations

from typing import Any

import pytest

from ci.core.errors import CiError
from ci.stack.services import (
    Endpoint,
    HeaderRule,
    Job,
    Port,
    building_target,
    checks,
    compose_services,
    job_kinds,
    jobs,
    normalized,
    outside_services,
    repository,
    stack_services,
)

CONFIG: dict[str, Any] = {
    "services": {
        "api": {
            "image": "shop-api:dev",
            "ports": [{"target": 8000, "published": "18000", "host_ip": "127.0.0.1"}, {"target": 9000}],
            "labels": {"mainza.verify.build-info": "8000/build/info", "mainza.verify.startup-log": "true"},
        },
        "web": {"image": "docker.io/library/shop-web:dev", "labels": ["mainza.verify.page=8080/"]},
        "cache": {"image": "docker.io/library/registry:2"},
        "worker": {"image": "shop-worker"},
    }
}


def test_services_are_the_compose_services_running_an_image_a_target_builds() -> None:
    compose = compose_services(CONFIG)
    found = stack_services(compose, {"api": ["shop-api:dev"], "web": ["shop-web:dev"], "jobs": ["shop-worker:latest"]})
    assert [(s.name, s.target) for s in found] == [("api", "api"), ("web", "web"), ("worker", "jobs")]
    assert found[0].ports == (Port(18000, 8000, "127.0.0.1"),)  # an unpublished port is no URL
    assert found[0].url(Endpoint(8000, "/build/info")) == "http://127.0.0.1:18000/build/info"
    with pytest.raises(CiError, match="publishes no host port for container port 8080"):
        found[1].url(Endpoint(8080, "/"))


def test_a_service_running_the_projects_image_at_a_tag_no_target_gives_it_is_still_the_projects() -> None:
    """Another tag of a repository a target builds: the service is the target's (verify then says its build
    is unknown), never a service the project does not build, checked for its health alone."""
    compose = compose_services({"services": {"api": {"image": "shop-api:latest"}, "db": {"image": "postgres:16"},
                                             "job": {"build": {"context": "."}}}})  # fmt: skip
    tags = {"api": ["shop-api:dev"], "web": ["shop-web:dev"]}
    assert [(s.name, s.target, s.image) for s in stack_services(compose, tags)] == [("api", "api", "shop-api:latest")]
    assert [s.name for s in outside_services(compose, tags)] == ["db", "job"]  # job: no image named


def test_the_target_tagging_the_very_reference_wins_over_one_tagging_its_repository() -> None:
    tags = {"a": ["p-api:dev"], "b": ["p-api:prod", "docker.io/library/p-api:edge"]}
    assert building_target("p-api:edge", tags) == "b"
    assert building_target("p-api:dev", tags) == "a"
    assert building_target("p-api", tags) == "a"  # :latest: a tag neither gives, of their repository: the first
    assert building_target("p-web:dev", tags) is None
    assert building_target("localhost:5000/p-api:dev", tags) is None  # another registry: another repository


def test_the_repository_of_a_reference_keeps_a_registrys_port_and_drops_a_digest() -> None:
    assert repository("p-backend:dev") == "p-backend"
    assert repository("localhost:5000/p-backend:abc") == "localhost:5000/p-backend"
    assert repository("localhost:5000/p-backend") == "localhost:5000/p-backend"
    assert repository("localhost:5000/p-backend:abc@sha256:0123") == "localhost:5000/p-backend"


def test_image_names_compare_as_the_engine_names_them() -> None:
    assert normalized("docker.io/library/x:1") == "x:1"
    assert normalized("x") == "x:latest"
    assert normalized("localhost:5000/x") == "localhost:5000/x:latest"


def test_checks_are_read_from_the_labels() -> None:
    found = checks(
        "web",
        {
            "mainza.verify.build-info": "8080/build-info.js",
            "mainza.verify.build-info.headers": "Cache-Control=*no-cache*",
            "mainza.verify.page": "8080/",
            "mainza.verify.page.headers": "X-Content-Type-Options=nosniff; Referrer-Policy=?*",
            "mainza.verify.browser.badges": "web api",
        },
    )
    assert found.build_info == Endpoint(8080, "/build-info.js", (HeaderRule("Cache-Control", "*no-cache*"),))
    assert found.page is not None and [str(r) for r in found.page.headers] == [
        "X-Content-Type-Options=nosniff",
        "Referrer-Policy=?*",
    ]
    assert (found.startup_log, found.badges, found.browser) == (False, ("web", "api"), None)
    assert checks("worker", {}).build_info is None


def test_header_rules_match_without_regard_to_case() -> None:
    assert HeaderRule("X-Content-Type-Options", "nosniff").allows("NoSniff")
    assert HeaderRule("Referrer-Policy", "?*").allows("no-referrer")
    assert not HeaderRule("Referrer-Policy", "?*").allows("") and not HeaderRule("A", "*").allows(None)


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        ({"mainza.verify.page": "/health"}, "is not PORT/PATH"),
        ({"mainza.verify.page": "80/", "mainza.verify.page.headers": "X-Frame-Options"}, "is not Name=glob"),
    ],
)
def test_a_bad_label_is_one_line_naming_the_service(labels: dict[str, str], says: str) -> None:
    with pytest.raises(CiError, match=f"^web: label mainza.verify.page.*{says}"):
        checks("web", labels)


def test_a_job_is_a_service_another_waits_for_to_complete_or_one_declared_not_to_restart() -> None:
    """compose's own rules: `service_completed_successfully` (what `up --wait` waits to complete), or
    `restart: "no"`; a service others wait to be healthy or started is none, nor one restarted by its policy."""
    config = {
        "services": {
            "backend": {
                "image": "p-backend:dev",
                "depends_on": {
                    "prestart": {"condition": "service_completed_successfully", "required": True},
                    "db": {"condition": "service_healthy"},
                    "cache": {"condition": "service_started"},
                },
            },
            "prestart": {"image": "p-backend:dev", "restart": "no"},  # both: waited for wins
            "seed": {"image": "p-backend:dev", "restart": "no"},
            "db": {"image": "postgres:16", "restart": "always"},
            "cache": {"image": "redis:7"},
            "worker": {"image": "p-worker:dev", "depends_on": ["db"]},  # compose writes the long form; never this
            "gone": {"depends_on": {"missing": {"condition": "service_completed_successfully"}}},
        }
    }
    assert jobs(config) == {"prestart": Job.WAITED, "seed": Job.ONCE}
    compose = compose_services(config)
    assert {n: s.job for n, s in compose.items() if s.job} == {"prestart": Job.WAITED, "seed": Job.ONCE}
    built = stack_services(compose, {"backend": ["p-backend:dev"], "worker": ["p-worker:dev"]})
    # A job from the backend's image is the backend target's, as a service of that image is.
    assert [(s.name, s.target, s.job) for s in built] == [
        ("backend", "backend", None),
        ("prestart", "backend", Job.WAITED),
        ("seed", "backend", Job.ONCE),
        ("worker", "worker", None),
    ]
    assert job_kinds([*built, *outside_services(compose, {"backend": ["p-backend:dev"]})]) == {
        "prestart": Job.WAITED,
        "seed": Job.ONCE,
    }
    assert jobs({}) == {} and jobs({"services": {"a": {"depends_on": {"b": "x"}}}}) == {}
