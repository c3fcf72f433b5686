"""prod's registry cache on registries like the ones teams use: a namespace, TLS with a CA of the team's own
(given to the engine and to the sessions through /etc/docker/certs.d, as a user would), a login from
`docker login`, a Bearer token service, a registry that refuses the catalog.

Where it runs: not on loopback, where the engine would treat it as insecure and check no certificate, but
in a network namespace of its own behind a veth pair, named `registry.mainza.test` through /etc/hosts
(tls_registry). The engine checks its certificate against certs.d and answers 401 to a wrong password, as
with any remote registry; the sessions check it too, and a session not given the CA says where to put it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ci.cache import registry
from ci.sign import cosign
from tests.conftest import Project, assert_junit_valid
from tests.integration.second_engine import second_engine
from tests.integration.test_prod import error_line
from tests.integration.tls_registry import TlsRegistry, docker_config, docker_login, make_ca, tls_registry
from tests.integration.token_registry import token_registry

pytestmark = pytest.mark.integration

NAME = "mainzatest-regauth"
PASSWORD = "mainza-S3cret-never-shown"  # a test registry's; searched for in every output
NAMESPACE = "team/cache"
BRIDGE = ("mainzatest9", "10.231.80.1/24")
IMAGES = "team/images"  # the pushed images' path under the TLS registry's host
COSIGN_PASSWORD = "mainza-cosign-pw-never-shown"


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project(NAME)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    with tls_registry(tmp_path_factory.mktemp("tls-registry"), password=PASSWORD) as served:
        yield served


def config_with(directory: Path, auths: dict[str, Any]) -> Path:
    config = docker_config(directory)
    (config / "config.json").write_text(json.dumps({"auths": auths}))
    return config


def docker_login_config(directory: Path, tls: TlsRegistry) -> Path:
    config = docker_config(directory)
    login = docker_login(config, tls)
    assert login.returncode == 0, login.stderr
    return config


def never_shown(project: Project, *outputs: str) -> None:
    """The password is in no output and no file the sessions wrote."""
    for output in outputs:
        assert PASSWORD not in output
    for path in project.reports.rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path


def test_after_docker_login_a_fresh_runner_reruns_only_the_backends_steps_and_nothing_is_degraded(
    project: Project, tls: TlsRegistry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = docker_login_config(tmp_path_factory.mktemp("logged-in"), tls)
    env = {"DOCKER_CONFIG": str(config), "CACHE_REGISTRY": f"{tls.host}/{NAMESPACE}"}
    cold = project.ci("prod", env=env)
    assert cold.returncode == 0, cold.stdout[-3000:] + cold.stderr[-2000:]
    assert "degraded" not in cold.stdout + cold.stderr
    (project.root / "backend" / "main.py").write_text((project.root / "backend" / "main.py").read_text() + "\n# one\n")
    project.commit("a one-line backend commit")
    with second_engine(tmp_path_factory.mktemp("fresh"), f"{NAME}-node", bridge=BRIDGE[0], cidr=BRIDGE[1]) as node:
        fresh = project.ci("prod", "--builder", node, env=env)
    assert fresh.returncode == 0, fresh.stdout[-3000:] + fresh.stderr[-2000:]
    assert "degraded" not in fresh.stdout + fresh.stderr
    report = json.loads((project.reports / "build-prod.json").read_text())
    ran = {t["target"]: t["ran_steps"] for t in report["targets"]}
    # The second engine has no NAT: a step not served from the registry cache could not download, so the
    # dependency steps are from the cache; the frontend reruns nothing, the backend its sources' steps only.
    assert ran["frontend"] == [], ran
    assert ran["backend"] and all("pip install" not in s and "npm" not in s for s in ran["backend"]), ran
    found = {t["target"]: t["cache"]["cache_from"] for t in report["targets"]}
    assert all(ref.startswith(f"{tls.host}/{NAMESPACE}/{NAME}/") for refs in found.values() for ref in refs), found
    never_shown(project, cold.stdout, cold.stderr, fresh.stdout, fresh.stderr)


@pytest.mark.first_pass  # cosign talks to the registry, not a plugin: the first pass only (time)
def test_a_push_signed_to_it_verifies_with_its_own_ca_and_neither_password_is_shown(
    project: Project, tls: TlsRegistry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """cosign reads neither certs.d nor the engine's trust: the sessions hand it the CA the engine trusts for
    the registry; it logs in with the same Docker config the engine's push used."""
    config = docker_login_config(tmp_path_factory.mktemp("signing"), tls)
    key, public_key = cosign.generate_key_pair(tmp_path_factory.mktemp("keys"), COSIGN_PASSWORD)
    env = {
        "DOCKER_CONFIG": str(config),
        "CACHE_REGISTRY": f"{tls.host}/{NAMESPACE}",
        "IMAGE_REGISTRY": f"{tls.host}/{IMAGES}",
    }
    pushed = project.ci(
        "prod", "--push", "--sign", env={**env, "COSIGN_KEY": str(key), "COSIGN_PASSWORD": COSIGN_PASSWORD}
    )
    assert pushed.returncode == 0, pushed.stdout[-3000:] + pushed.stderr[-2000:]
    last = pushed.stdout.strip().splitlines()[-1]
    assert "pushed and signed " in last and f" tags to {tls.host}/{IMAGES}: backend sha256:" in last, last
    verify = project.ci("verify", "--signed", env={**env, "COSIGN_PUBLIC_KEY": str(public_key)})
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    never_shown(project, pushed.stdout, pushed.stderr, verify.stdout, verify.stderr)
    for output in (pushed.stdout, pushed.stderr, verify.stdout, verify.stderr):
        assert COSIGN_PASSWORD not in output


@pytest.mark.parametrize("login", ["wrong password", "no login"])
def test_a_refused_login_is_one_line_naming_docker_login_and_the_cache_fails_in_junit(
    project: Project, tls: TlsRegistry, tmp_path_factory: pytest.TempPathFactory, login: str
) -> None:
    auths = {}
    if login == "wrong password":
        auths[tls.host] = {"auth": base64.b64encode(f"{tls.user}:not-{PASSWORD}".encode()).decode()}
    config = config_with(tmp_path_factory.mktemp("login"), auths)
    env = {"DOCKER_CONFIG": str(config), "CACHE_REGISTRY": f"{tls.host}/{NAMESPACE}"}
    run = project.ci("prod", env=env)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    says = "refused the login Docker has for it" if login == "wrong password" else "wants a login"
    assert last.startswith(f"prod: cache degraded: {tls.host}"), last
    assert says in last and f"`docker login {tls.host}`" in last, last
    root = assert_junit_valid(project.reports / "junit-prod.xml").getroot()
    [case] = [c for c in root.iter("testcase") if c.get("name") == "cache"]
    assert case.find("failure") is not None
    assert root.find(".//property[@name='cache_status']").get("value") == "unavailable"
    strict = project.ci("prod", "--strict-cache", env=env)
    assert strict.returncode == 1
    assert says in error_line(strict) and "--strict-cache" in error_line(strict)
    doctor = project.ci("doctor", env=env)  # asks the login as prod does: never ok
    [check] = [c for c in json.loads((project.reports / "doctor.json").read_text())["checks"]
               if c["name"] == "cache registry"]  # fmt: skip
    assert check["level"] == "warn" and says in check["detail"], check
    never_shown(project, run.stdout, run.stderr, strict.stdout, strict.stderr, doctor.stdout, doctor.stderr)


def test_a_registry_whose_ca_is_not_given_is_named_with_where_to_put_it(
    project: Project, tls: TlsRegistry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = docker_login_config(tmp_path_factory.mktemp("untrusted"), tls)
    ca = Path("/etc/docker/certs.d") / tls.host / "ca.crt"
    kept = ca.read_bytes()
    ca.unlink()  # trusted neither there nor in the host's store (REQUESTS_CA_BUNDLE is the host's)
    try:
        run = project.ci("prod", env={"DOCKER_CONFIG": str(config), "CACHE_REGISTRY": f"{tls.host}/{NAMESPACE}"})
    finally:
        ca.write_bytes(kept)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert "certificate is not trusted" in last and f"/etc/docker/certs.d/{tls.host}/ca.crt" in last, last


@pytest.mark.first_pass  # the registry's own API, read by the suite's client: no plugin is asked (time)
def test_a_bearer_token_registry_has_its_refs_found_tagged_and_listed_without_the_catalog(
    project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_ca(tmp_path_factory.mktemp("token-certs"), "registry.test")
    with token_registry(certs, user="ci", password=PASSWORD, catalog=False) as served:
        auth = base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
        config = config_with(tmp_path_factory.mktemp("token-login"), {served.host: {"auth": auth}})
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
        repository = f"{NAMESPACE}/{NAME}/backend"
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
        )
        served.put(repository, "id-1", index.encode(), "application/vnd.oci.image.index.v1+json")
        base = f"{served.host}/{repository}"
        held, problem = registry.holds([f"{base}:id-1", f"{base}:id-2"])
        assert (held, problem) == ({f"{base}:id-1": "present", f"{base}:id-2": "absent"}, None)
        assert registry.copy_tag(f"{base}:id-1", "branch-main") is None
        assert registry.holds([f"{base}:branch-main"])[0] == {f"{base}:branch-main": "present"}
        assert any(r.startswith("GET /token") and "push" in r for r in served.requests), served.requests
        listing = registry.cache_refs(f"{served.host}/{NAMESPACE}", NAME, ["backend", "frontend"])
        assert sorted(r.ref for r in listing.refs) == [f"{base}:branch-main", f"{base}:id-1"]
        assert "does not list its catalog" in listing.note
        doctor = project.ci(
            "doctor",
            env={
                "DOCKER_CONFIG": str(config),
                "REQUESTS_CA_BUNDLE": str(certs.ca),
                "CACHE_REGISTRY": f"{served.host}/{NAMESPACE}",
            },
        )
        # The whole detail from doctor.json: the table cuts a long one to the terminal's width.
        found = {c["name"]: c for c in json.loads((project.reports / "doctor.json").read_text())["checks"]}
        said = str(found["cache registry"]["detail"])
        assert f"2 cache refs of {NAME}" in said and "does not list its catalog" in said, said
        assert f"{base}:id-1" in doctor.stdout
        wrong = config_with(tmp_path_factory.mktemp("token-wrong"), {served.host: {"auth": "Y2k6bm9wZQ=="}})
        monkeypatch.setenv("DOCKER_CONFIG", str(wrong))
        held, problem = registry.holds([f"{base}:id-1"])
        assert held == {f"{base}:id-1": "unknown"} and problem and "refused the login" in problem
        never_shown(project, doctor.stdout, doctor.stderr, problem)
