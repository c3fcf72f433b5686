"""Pure parsing in the door to Docker: event lines, log timestamps, when a container exited, a failed pull,
compose's YAML errors."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from python_on_whales.exceptions import DockerException

from ci import docker as dk
from ci.core.errors import CiError, DockerFailed, Exit, UsageError
from ci.docker import compose, containers, disk
from ci.docker.compose import yaml_problem


def test_an_event_line_gives_the_container_and_the_action() -> None:
    line = json.dumps({"Type": "container", "Action": "health_status: healthy", "Actor": {"ID": "abc"}})
    assert dk.parse_event(line) == dk.ContainerEvent("abc", "health_status: healthy")


def test_lines_that_are_no_container_event_are_none() -> None:
    assert dk.parse_event("not json") is None
    assert dk.parse_event(json.dumps({"Type": "network", "Action": "connect"})) is None
    assert dk.parse_event("[]") is None


def test_log_lines_sort_by_time_although_docker_trims_the_fraction() -> None:
    lines = ["2026-12-01T23:17:38.41446Z b", "2026-12-01T23:17:38.4144Z a", "2026-12-01T23:17:39Z c"]
    assert sorted(lines, key=containers._log_time) == [lines[1], lines[0], lines[2]]


def test_when_a_container_last_exited_is_read_to_the_second_and_never_is_empty() -> None:
    def finished(stamp: str) -> str:
        return containers._container_info({"Id": "c", "State": {"FinishedAt": stamp}}).finished

    assert finished("2026-12-07T06:01:02.123456789Z") == "2026-12-07T06:01:02Z"
    assert finished("2026-12-07T06:01:02Z") == "2026-12-07T06:01:02Z"
    assert finished("0001-01-01T00:00:00Z") == finished("") == ""


PULLS = {  # compose's stderr for a service whose image could not be pulled (engine 26, compose 2.26 and 2.40)
    "not found": ' db Pulling \n db Error failed to resolve reference "localhost:5000/team/db:1": '
    "localhost:5000/team/db:1: not found\nError response from daemon: failed to resolve reference ...\n",
    "refused": ' db Error failed to resolve reference "127.0.0.1:1/team/db:1": failed to do request: Head '
    '"https://127.0.0.1:1/v2/team/db/manifests/1": dial tcp 127.0.0.1:1: connect: connection refused\n',
    "no host": ' db Error failed to resolve reference "registry.nowhere.invalid/db:1": failed to do request: Head '
    '"https://registry.nowhere.invalid/v2/db/manifests/1": dial tcp: lookup registry.nowhere.invalid on '
    "10.255.255.53:53: no such host\n",
    "denied": ' db Error failed to resolve reference "registry.team.example:5000/team/db:1": pull access denied, '
    "repository does not exist or may require authorization: authorization failed: no basic auth credentials\n",
}


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("not found", "could not pull db's image localhost:5000/team/db:1: not found in localhost:5000: check"),
        ("refused", "could not pull db's image 127.0.0.1:1/team/db:1: 127.0.0.1:1 is unreachable (connection"),
        ("no host", "registry.nowhere.invalid/db:1: registry.nowhere.invalid is unreachable (no such host)"),
        ("denied", "registry.team.example:5000 denied the pull: check the name, or log in (`docker login registry.te"),
    ],
)  # fmt: skip
def test_a_failed_pull_is_one_line_naming_the_service_the_image_the_cause_and_the_fix(case: str, said: str) -> None:
    line = dk.pull_failure(PULLS[case])
    assert line is not None and said in line, line
    assert "\n" not in line and "https://" not in line


def test_compose_output_without_a_failed_pull_gives_no_pull_line() -> None:
    assert dk.pull_failure(" db Pulling \nError response from daemon: driver failed programming connectivity") is None


def test_a_yaml_error_of_compose_is_placed_at_the_line_of_the_problem(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  backend:\n    image: x\n   ports: [1]\n")
    assert yaml_problem("yaml: line 1: did not find expected key", [compose]) == (
        "compose.yaml:4:4: did not find expected key"
    )
    assert yaml_problem("services.backend.ports must be a list", [compose]) is None


def test_system_df_is_asked_again_when_a_container_goes_while_it_lists_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone else's container removed meanwhile fails `docker system df` on the containerd store."""
    gone = "Error response from daemon: failed to retrieve container list: rw layer snapshot not found for container ab"
    answers = [DockerFailed("x", stderr=gone), DockerFailed("x", stderr=gone), '{"Type": "Images", "Size": "1kB"}']

    def cli(_engine: object, *_args: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, DockerFailed):
            raise answer
        return answer

    monkeypatch.setattr(disk, "_cli", cli)
    monkeypatch.setattr(disk, "DF_PAUSE", 0)
    assert dk.disk_use(None)["images"]["size"] == 1000
    answers[:] = [DockerFailed("x", stderr=gone)] * disk.DF_TRIES
    with pytest.raises(CiError, match=r"^`docker system df --verbose` failed"):
        dk.disk_usage_detail(None)
    answers[:] = [DockerFailed("permission denied", stderr="permission denied")]
    with pytest.raises(CiError, match="permission denied"):
        dk.disk_use(None)
    assert answers == []  # another failure is not asked again


# --- compose's required variables, and a registry's refusal -----------------------------------------------


def required(name: str, said: str = "") -> DockerException:
    """compose's failure for `${NAME?said}` that nothing sets."""
    stderr = f"error while interpolating services.db.environment.{name}: required variable {name} is missing a value"
    return DockerException(["docker", "compose", "config"], 15, b"", (stderr + (f": {said}" if said else "")).encode())


def test_compose_names_one_missing_variable_at_a_time_and_the_door_asks_until_it_has_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each round gives the variables found so far a stand-in, as the environment (above every env file): compose
    2.26 and 2.40 name the first they meet alone."""
    rounds: list[dict[str, str]] = []

    def config(engine: object, stand_ins: dict[str, str] | None = None) -> dict[str, object]:
        rounds.append(dict(stand_ins or {}))
        for name, said in (("SECRET_KEY", ""), ("POSTGRES_PASSWORD", "set the database's password")):
            if name not in (stand_ins or {}):
                raise required(name, said)
        return {"services": {}}

    monkeypatch.setattr(compose, "_config", config)
    with pytest.raises(dk.MissingVariables) as raised:
        dk.compose_config(object())  # type: ignore[arg-type]
    err = raised.value
    assert err.exit_code == Exit.USAGE and isinstance(err, UsageError)
    assert err.said == {"POSTGRES_PASSWORD": "set the database's password", "SECRET_KEY": ""}
    assert str(err) == (
        "compose.yaml does not resolve: required variable POSTGRES_PASSWORD is missing a value: set the database's "
        "password; so are SECRET_KEY; set them in .env or export them"
    )
    # compose finds them in no set order (a Go map's): the line names them by name, the same every run
    assert rounds[1:] == [{"SECRET_KEY": compose.STAND_IN}, dict.fromkeys(err.said, compose.STAND_IN)]


def test_one_missing_variable_is_said_in_compose_s_own_words_and_another_error_ends_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stand-in may be no valid value where the variable is used (a port): what was found is said."""

    def config(engine: object, stand_ins: dict[str, str] | None = None) -> dict[str, object]:
        if not stand_ins:
            raise required("DB_PORT")
        raise DockerException(["docker", "compose", "config"], 15, b"", b"invalid hostPort: mainza-stand-in")

    monkeypatch.setattr(compose, "_config", config)
    with pytest.raises(dk.MissingVariables) as raised:
        dk.compose_config(object())  # type: ignore[arg-type]
    assert str(raised.value) == (
        "compose.yaml does not resolve: required variable DB_PORT is missing a value; set it in .env or export it"
    )


def test_the_search_for_missing_variables_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    def config(engine: object, stand_ins: dict[str, str] | None = None) -> dict[str, object]:
        raise required(f"V{len(stand_ins or {})}")

    monkeypatch.setattr(compose, "_config", config)
    with pytest.raises(dk.MissingVariables) as raised:
        dk.compose_config(object())  # type: ignore[arg-type]
    assert len(raised.value.said) == compose.REQUIRED_ROUNDS + 1


@pytest.mark.parametrize(
    ("cause", "why", "definite"),
    [
        ("localhost:5000/team/db:1: not found", "not found in localhost:5000: check its name and tag", True),
        ("docker.io/library/postgress:16: failed to resolve: manifest unknown", "not found in docker.io", True),
        ("unexpected status from HEAD request to https://r.test/v2/db/manifests/1: 401 Unauthorized",
         "r.test denied the pull: check the name, or log in (`docker login r.test`)", True),
        ('failed to do request: Head "https://r.test/v2/db/manifests/1": dial tcp 10.0.0.1:443: i/o timeout',
         "r.test is unreachable (i/o timeout)", False),
        ("no answer within 10s", "r.test is unreachable (no answer within 10s)", False),
        ("tls: failed to verify certificate: x509: certificate signed by unknown authority",
         "r.test's certificate is not trusted: put its CA in /etc/docker/certs.d/r.test/ca.crt", False),
        ("something else entirely", "something else entirely", False),
    ],
)  # fmt: skip
def test_a_registry_s_refusal_is_a_few_words_with_the_fix_and_whether_the_registry_said_it(
    cause: str, why: str, definite: bool
) -> None:
    image = "localhost:5000/team/db:1" if cause.startswith("localhost") else "r.test/db:1"
    if "docker.io" in cause:
        image = "postgress:16"
    found = dk.refusal(image, cause)
    assert why in found.why and found.definite == definite, found


def fake_docker(tmp_path: Path, script: str) -> dk.Engine:
    """An engine whose docker command is SCRIPT (python), given the arguments docker would get."""
    program = tmp_path / "docker.py"
    program.write_text(script)
    client = SimpleNamespace(client_config=SimpleNamespace(docker_cmd=[sys.executable, str(program)]))
    return dk.Engine(client)  # type: ignore[arg-type]


def test_a_registry_that_never_answers_is_not_waited_on_past_the_deadline(tmp_path: Path) -> None:
    engine = fake_docker(tmp_path, "import time\ntime.sleep(30)\n")
    began = time.monotonic()
    assert dk.image_resolvable(engine, "r.test/db:1", deadline=0.5) == "no answer within 0.5s"
    assert time.monotonic() - began < 5


def test_a_manifest_served_is_none_and_a_refusal_is_buildx_s_last_line(tmp_path: Path) -> None:
    said = "import sys\nprint(sys.argv[1:], file=sys.stderr)\nprint('ERROR: r.test/db:1: not found', file=sys.stderr)"
    engine = fake_docker(tmp_path, said + "\nsys.exit(1)\n")
    assert dk.image_resolvable(engine, "r.test/db:1") == "r.test/db:1: not found"
    engine = fake_docker(
        tmp_path, "import sys\nassert sys.argv[1:] == ['buildx', 'imagetools', 'inspect', '--raw', 'a:1']\n"
    )
    assert dk.image_resolvable(engine, "a:1") is None
