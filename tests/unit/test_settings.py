"""Settings: environment over the provisioned host file, clear errors for bad values."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from ci import settings as settings_module
from ci.errors import UsageError
from ci.settings import load_settings, read_env_file, writable_reports_dir


def test_host_file_supplies_base_images_unless_the_environment_sets_them(tmp_path: Path) -> None:
    host = tmp_path / "host.env"
    host.write_text("# comment\nPYTHON_IMAGE=localhost:5000/mirror/python:3.11-slim\nNODE_IMAGE=n\n")
    settings = load_settings({"NODE_IMAGE": "mine"}, host_env=host, root=tmp_path)
    assert settings.host_defaults == {"PYTHON_IMAGE": "localhost:5000/mirror/python:3.11-slim"}


COMPOSE = """services:
  backend:
    ports: ["127.0.0.1:${BACKEND_PORT:-8000}:8000"]
  frontend:
    ports: ["127.0.0.1:${FRONTEND_PORT:-80}:8080"]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    return tmp_path


def test_defaults_project_ports_and_reports(root: Path) -> None:
    settings = load_settings({}, host_env=root / "missing", root=root)
    assert (settings.project, settings.ports) == ("mainza", {8000: "BACKEND_PORT", 80: "FRONTEND_PORT"})
    assert settings.reports_dir == root / "reports"


def test_overrides_from_the_environment(root: Path) -> None:
    env = {"COMPOSE_PROJECT_NAME": "other", "BACKEND_PORT": "18000", "FRONTEND_PORT": "18080", "REPORTS_DIR": "out"}
    settings = load_settings(env, host_env=root / "missing", root=root)
    assert (settings.project, settings.ports) == ("other", {18000: "BACKEND_PORT", 18080: "FRONTEND_PORT"})
    assert settings.reports_dir == root / "out"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKEND_PORT": "eighty"}, "BACKEND_PORT='eighty' is not a port number"),
        ({"FRONTEND_PORT": "70000"}, "FRONTEND_PORT='70000' is not a port number"),
        ({"COMPOSE_PROJECT_NAME": "My App"}, "is not a valid project name"),
        ({"BACKEND_PORT": "18000", "FRONTEND_PORT": "18000"}, "BACKEND_PORT and FRONTEND_PORT are both 18000"),
    ],
)
def test_bad_values_are_one_line_usage_errors(root: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_settings(env, host_env=root / "missing", root=root)


def test_read_env_file_strips_quotes_and_ignores_junk(tmp_path: Path) -> None:
    path = tmp_path / "f.env"
    path.write_text("A='1'\n\nnot a pair\nB = \"two\"\n")
    assert read_env_file(path) == {"A": "1", "B": "two"}


def test_reports_dir_is_created_and_left_empty_by_its_write_check(tmp_path: Path) -> None:
    assert writable_reports_dir({"REPORTS_DIR": "out/nested"}, root=tmp_path) == tmp_path / "out" / "nested"
    assert list((tmp_path / "out" / "nested").iterdir()) == []


def unwritable(tmp_path: Path, kind: str) -> Path:
    """A REPORTS_DIR no session can write into, of KIND."""
    if kind == "proc":
        return Path("/proc/nope")
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" if kind == "a regular file" else tmp_path / "file" / "below"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("proc", "No such file or directory"), ("a regular file", "not a folder"), ("below a file", "Not a directory")],
)
def test_reports_dir_that_cannot_be_created_is_a_usage_error_naming_it_and_the_variable(
    tmp_path: Path, kind: str, reason: str
) -> None:
    folder = unwritable(tmp_path, kind)
    with pytest.raises(UsageError) as caught:
        writable_reports_dir({"REPORTS_DIR": str(folder)}, root=tmp_path)
    assert (
        str(caught.value) == f"REPORTS_DIR={folder} cannot be written ({reason}): set REPORTS_DIR to a writable folder"
    )


def test_existing_reports_dir_that_refuses_a_file_is_a_usage_error_even_when_permissions_allow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root passes every permission check: only the write tells a read-only mount (tested for real in
    tests/integration/test_exit_codes.py)."""

    def read_only(**_: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(settings_module.tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(
        UsageError, match=r"^REPORTS_DIR=\S+ cannot be written \(Read-only file system\): set REPORTS_DIR"
    ):
        writable_reports_dir({"REPORTS_DIR": str(tmp_path)}, root=tmp_path)


def test_the_projects_env_file_is_read_as_compose_reads_it_beneath_the_environment(root: Path) -> None:
    (root / ".env").write_text(
        "# ports of this checkout\nexport FRONTEND_PORT=8081\nBACKEND_PORT=8002  # the API\n"
        "COMPOSE_PROJECT_NAME=fromdotenv\nPYTHON_IMAGE='mirror.example/python:3.11'\n"
    )
    host = root / "host.env"
    host.write_text("PYTHON_IMAGE=localhost:5000/mirror/python:3.11-slim\n")
    settings = load_settings({"BACKEND_PORT": "9000"}, host_env=host, root=root)
    assert settings.project == "fromdotenv"
    assert settings.ports == {8081: "FRONTEND_PORT", 9000: "BACKEND_PORT"}  # the environment wins over .env
    assert settings.dotenv["PYTHON_IMAGE"] == "mirror.example/python:3.11"
    # bake reads no .env: the host's default still serves it; compose gets .env's (ci/docker/engine.connect)
    assert settings.host_defaults == {"PYTHON_IMAGE": "localhost:5000/mirror/python:3.11-slim"}


IMAGES = COMPOSE.replace(
    "  backend:\n", "  backend:\n    image: ${COMPOSE_PROJECT_NAME:-mainza}-backend:${TAG:-dev}\n"
).replace("  frontend:\n", '  frontend:\n    image: "${COMPOSE_PROJECT_NAME-mainza}-web-ui:${TAG:-dev}"\n')


@pytest.mark.parametrize(
    ("project", "says"),
    [
        ("x_", "makes the image name 'x_-backend', which is not one"),
        ("a___b", "makes the image name 'a___b-backend', which is not one"),
        ("x" * 300, "COMPOSE_PROJECT_NAME (300 characters) makes the image name xxxxx"),
        ("x" * 248, "of 256 characters, over the 255"),  # with -backend
        ("My App", "is not a valid project name"),
        ("-x", "is not a valid project name"),
        ("x.y", "is not a valid project name"),  # compose refuses a dot, the engine would take it
    ],
)
def test_a_project_name_that_makes_no_valid_image_name_is_a_usage_error_naming_it(
    tmp_path: Path, project: str, says: str
) -> None:
    (tmp_path / "compose.yaml").write_text(IMAGES)
    with pytest.raises(UsageError, match=re.escape(says)) as refused:
        load_settings({"COMPOSE_PROJECT_NAME": project}, host_env=tmp_path / "missing", root=tmp_path)
    assert "COMPOSE_PROJECT_NAME" in str(refused.value) and "\n" not in str(refused.value)
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("project", ["x", "a_b", "a__b", "a-b", "a--b", "x-", "0-9", "x" * 247, "mainza"])
def test_a_project_name_making_valid_image_names_passes(tmp_path: Path, project: str) -> None:
    (tmp_path / "compose.yaml").write_text(IMAGES)
    assert load_settings({"COMPOSE_PROJECT_NAME": project}, host_env=tmp_path / "m", root=tmp_path).project == project


def test_the_registry_prod_pushes_to_counts_in_the_length(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(IMAGES)
    env = {"COMPOSE_PROJECT_NAME": "x" * 220, "IMAGE_REGISTRY": "registry.example.com:5443/team/images"}
    with pytest.raises(UsageError, match="over the 255"):
        load_settings(env, host_env=tmp_path / "m", root=tmp_path)
    assert load_settings({**env, "IMAGE_REGISTRY": ""}, host_env=tmp_path / "m", root=tmp_path)


@pytest.mark.parametrize("tag", ["a b", "-x", ".x", "x" * 129, "a:b", "a/b", "ü", " dev", "dev\n"])
def test_a_tag_that_is_no_image_tag_is_a_usage_error_naming_tag(root: Path, tag: str) -> None:
    with pytest.raises(UsageError, match=r"^TAG=.* is not an image tag") as refused:
        load_settings({"TAG": tag}, host_env=root / "missing", root=root)
    assert refused.value.exit_code == 2
    (root / ".env").write_text(f"TAG='{tag}'\n" if "\n" not in tag else "TAG=a b\n")
    with pytest.raises(UsageError, match="is not an image tag"):
        load_settings({}, host_env=root / "missing", root=root)


@pytest.mark.parametrize("tag", ["dev", "x" * 128, "1a2b3c4-dirty", "v1.2.3", "_x", "A_b.C-d"])
def test_an_image_tag_in_dotenv_passes(root: Path, tag: str) -> None:
    (root / ".env").write_text(f"TAG={tag}\n")  # the sessions' own env file comes after it: theirs wins
    assert load_settings({}, host_env=root / "missing", root=root).project == "mainza"


def test_an_exported_tag_is_a_usage_error_compose_would_run_it_over_the_sessions(root: Path) -> None:
    """compose ranks the shell's environment above every env file: it would run TAG's images, not the session's."""
    with pytest.raises(UsageError, match=r"^TAG='v1' is exported: compose would run that tag.*`unset TAG`") as refused:
        load_settings({"TAG": "v1"}, host_env=root / "missing", root=root)
    assert refused.value.exit_code == 2
