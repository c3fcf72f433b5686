"""Settings: environment over the provisioned host file, clear errors for bad values."""

from __future__ import annotations

import ast
import errno
import re
from pathlib import Path

import pytest

from ci.builds.bakefile import bake_environment
from ci.core import settings as settings_module
from ci.core.errors import UsageError
from ci.core.settings import (
    CI_BRANCH_VARIABLES,
    HOST_VARIABLES,
    PROCESS_VARIABLES,
    VARIABLES,
    CacheVariables,
    Environment,
    buildx_builder,
    ca_bundle,
    cache_variables,
    chromium,
    docker_config,
    docker_host,
    environment,
    image_registry,
    load_settings,
    read_env_file,
    step_summary,
    writable_reports_dir,
)
from tests.conftest import ROOT


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
    # The host's default is still there beneath (compose's env files, ci/docker/engine.connect); the view and
    # bake's variables give .env's over it.
    assert settings.host_defaults == {"PYTHON_IMAGE": "localhost:5000/mirror/python:3.11-slim"}
    assert settings.env["PYTHON_IMAGE"] == "mirror.example/python:3.11"


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


# --- the environment view: exported over .env over the host's defaults -----------------------------------

BAKE = """variable "VITE_API_URL" {
  default = "/api"
}
variable PYTHON_IMAGE {
  default = "python"
}
# variable "COMMENTED" {
variable "CACHE_REGISTRY" {}
target "frontend" {
  args = { VITE_API_URL = VITE_API_URL }
}
"""


def test_the_view_ranks_exported_over_dotenv_over_the_hosts_defaults() -> None:
    env = Environment(
        exported={"A": "exported", "EMPTY": ""},
        dotenv={"A": "dotenv", "B": "dotenv", "EMPTY": "dotenv"},
        host={"A": "host", "B": "host", "C": "host"},
    )
    assert (env["A"], env["B"], env["C"], env["EMPTY"]) == ("exported", "dotenv", "host", "")  # empty wins too
    assert [env.source(n) for n in ("A", "B", "C", "D")] == ["exported", ".env", "the host's defaults", ""]
    assert dict(env) == {"A": "exported", "EMPTY": "", "B": "dotenv", "C": "host"}
    assert ("D" in env, env.get("D"), len(env)) == (False, None, 4)


@pytest.mark.parametrize("name", sorted(PROCESS_VARIABLES))
def test_a_variable_other_programs_read_from_their_own_environment_is_never_taken_from_dotenv(name: str) -> None:
    """The docker client reads DOCKER_HOST from its process (compose refuses it from .env, docker/compose#9871):
    a session must neither name nor use another engine, builder or trust than the tools it runs."""
    env = Environment(exported={}, dotenv={name: "from-dotenv"}, host={name: "from-host"})
    assert (name in env, env.get(name), list(env), env.source(name)) == (False, None, [], "")
    assert Environment(exported={name: "x"}, dotenv={name: "y"})[name] == "x"


def test_settings_read_every_variable_through_the_view(root: Path) -> None:
    (root / ".env").write_text("REPORTS_DIR=from-dotenv\nLOCK_WAIT=5\nXDG_STATE_HOME=/state\nCACHE_REGISTRY=r.test\n")
    settings = load_settings({"LOCK_WAIT": "7"}, host_env=root / "missing", root=root)
    assert settings.reports_dir == root / "from-dotenv"
    assert writable_reports_dir(settings.env, root) == root / "from-dotenv"  # the frame's check: the same folder
    assert (settings.lock_wait, settings.lock_dir) == (7.0, Path("/state/mainza/locks"))
    assert (settings.env["CACHE_REGISTRY"], settings.env.source("CACHE_REGISTRY")) == ("r.test", ".env")


def test_a_tag_exported_is_refused_and_one_in_dotenv_is_not_taken_for_it(root: Path) -> None:
    (root / ".env").write_text("TAG=v1\n")
    assert load_settings({}, host_env=root / "missing", root=root).env["TAG"] == "v1"
    with pytest.raises(UsageError, match="TAG='v2' is exported"):
        load_settings({"TAG": "v2"}, host_env=root / "missing", root=root)


def test_bake_is_given_the_dotenv_value_of_every_variable_its_file_declares_and_no_other(root: Path) -> None:
    (root / "docker-bake.hcl").write_text(BAKE)
    (root / ".env").write_text("VITE_API_URL=https://api.example.test\nPYTHON_IMAGE=mirror/python\nSECRET_KEY=s3\n")
    host = root / "host.env"
    host.write_text("PYTHON_IMAGE=host/python\nNODE_IMAGE=host/node\n")
    settings = load_settings({"CACHE_REGISTRY": "exported.test"}, host_env=host, root=root)
    assert bake_environment(settings) == {
        "NODE_IMAGE": "host/node",  # the host's defaults, as before
        "VITE_API_URL": "https://api.example.test",
        "PYTHON_IMAGE": "mirror/python",  # .env over the host's default
        "CACHE_REGISTRY": "exported.test",  # buildx reads it from its environment too: the same value
    }  # SECRET_KEY: compose's alone; COMMENTED: no variable
    exported = load_settings({"VITE_API_URL": "/exported"}, host_env=host, root=root)
    assert bake_environment(exported)["VITE_API_URL"] == "/exported"


def test_a_project_without_a_bake_file_gives_bake_the_hosts_defaults_alone(root: Path) -> None:
    (root / ".env").write_text("VITE_API_URL=x\n")
    host = root / "host.env"
    host.write_text("PYTHON_IMAGE=host/python\n")
    assert bake_environment(load_settings({}, host_env=host, root=root)) == {"PYTHON_IMAGE": "host/python"}


def test_the_view_of_the_process_reads_its_environment_and_the_projects_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("CHROMIUM=/opt/chromium\nDOCKER_HOST=tcp://elsewhere:2375\n")
    monkeypatch.setenv("DOCKER_CONFIG", "/cfg")
    env = environment(root=tmp_path, host_env=tmp_path / "missing")
    assert (env["CHROMIUM"], env["DOCKER_CONFIG"], env.get("DOCKER_HOST")) == ("/opt/chromium", "/cfg", None)


# Modules that read the process environment themselves, and name its variables, each with why: every other takes
# their values from the settings.
READS_THE_PROCESS_ENVIRONMENT = {
    "ci/core/settings.py": "the one place: the view of the environment",
    "ci/core/terminal.py": "COLUMNS, NO_COLOR and TERM: the terminal's, read on every line printed and before any "
    "settings (a session whose settings are wrong still prints its error to fit)",
    "ci/sbom/scanner.py": "BuildKit's SBOM protocol variables, in the generator's own image, where no settings are",
}


def reads_of_the_process_environment(source: str) -> list[str]:
    """`os.environ`, `os.environb`, `os.getenv`, `os.getenvb` and `from os import ...` of them, in SOURCE."""
    found = []
    names = {"environ", "environb", "getenv", "getenvb"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names and getattr(node.value, "id", "") == "os":
            found.append(f"os.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"from os import {a.name} (line {node.lineno})" for a in node.names if a.name in names]
    return found


def test_every_form_of_reading_the_process_environment_is_seen() -> None:
    source = (
        "import os\nfrom os import environ, getenv as g\nx = os.environ['A']\ny = os.getenv('B')\n"
        "def f() -> None:\n    os.environb.get(b'C')\n"
    )
    assert [r.split(" (")[0] for r in reads_of_the_process_environment(source)] == [
        "from os import environ", "from os import getenv", "os.environ", "os.getenv", "os.environb",
    ]  # fmt: skip


@pytest.mark.parametrize("path", sorted(ROOT.glob("ci/**/*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_the_process_environment_but_through_settings(path: Path) -> None:
    """The project's .env must count wherever the environment does: a module reading os.environ would see
    exported variables alone (issue 33: CACHE_REGISTRY in .env was ignored)."""
    rel = str(path.relative_to(ROOT))
    if rel in READS_THE_PROCESS_ENVIRONMENT:
        return
    reads = reads_of_the_process_environment(path.read_text())
    assert not reads, f"{rel} reads {', '.join(reads)}: take the variable from settings.env (ci/core/settings.py)"


def test_the_project_root_is_the_folder_that_holds_ci() -> None:
    """What the sessions run in when nothing says otherwise: the folder of the noxfile, wherever ci/ moves."""
    assert settings_module.ROOT == ROOT == Path(__file__).resolve().parents[3]
    assert (settings_module.ROOT / "noxfile.py").is_file()


# --- every variable declared once, and read by its name nowhere else ---------------------------------------

# What a module's environment is called: the view (`env`, `settings.env`, `environment()`), the process's
# (`environ`), or one of the view's layers.
ENVIRONMENTS = {"env", "environ", "environment", "exported", "dotenv", "host", "host_defaults"}
_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")


def _is_environment(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):  # environment(), settings.environment()
        node = node.func
    return (isinstance(node, ast.Name) and node.id in ENVIRONMENTS) or (
        isinstance(node, ast.Attribute) and node.attr in ENVIRONMENTS
    )


def _name(node: ast.expr) -> str:
    """NODE's text when it is a variable's name written out (an uppercase string), else ""."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _VARIABLE.fullmatch(node.value):
        return node.value
    return ""


def reads_by_name(source: str) -> list[tuple[str, int]]:
    """(variable, line) for each variable SOURCE reads by its name from an environment: `env["NAME"]`,
    `env.get("NAME")` (`pop`, `setdefault`, `source` too), `"NAME" in env`, on any ENVIRONMENTS."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source)):
        name = ""
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environment(node.value):
            name = _name(node.slice)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"get", "pop", "setdefault", "source"}
            and _is_environment(node.func.value)
            and node.args
        ):
            name = _name(node.args[0])
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            name = _name(node.left) if _is_environment(node.comparators[0]) else ""
        if name:
            found.append((node.lineno, node.col_offset, name))
    return [(name, line) for line, _, name in sorted(found)]


def test_every_form_of_reading_a_variable_by_its_name_is_seen() -> None:
    source = """
a = env["A"]
b = settings.env.get("B", "").strip()
c = environment().get("C")
d = "D" in self.settings.env.exported
e = environ.pop("E")
f = settings.dotenv["F"] or settings.host_defaults.get("F2")
g = run.settings.env.source("G")
h = "H" not in env
"""
    assert [n for n, _ in reads_by_name(source)] == ["A", "B", "C", "D", "E", "F", "F2", "G", "H"]
    ignored = """
env["A"] = "1"
x = variables["TAG"]
y = env.get(name)
z = {"COMPOSE_PROJECT_NAME": project}
w = env.get("lowercase")
"""
    assert reads_by_name(ignored) == []  # a write, another mapping, a name chosen elsewhere, a dict made, no name


@pytest.mark.parametrize("path", sorted(ROOT.glob("ci/**/*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_a_variable_by_its_name_but_settings(path: Path) -> None:
    """Issue 34: each variable is declared once (settings.VARIABLES) and read there, every module taking its
    value from Settings or settings' functions; a name read elsewhere is a second place that decides what it
    means, its default, whether .env counts. ci/core/terminal.py reads its own three (the test below)."""
    rel = str(path.relative_to(ROOT))
    if rel in READS_THE_PROCESS_ENVIRONMENT:
        return
    reads = [f"{name} (line {line})" for name, line in reads_by_name(path.read_text())]
    assert not reads, f"{rel} reads {', '.join(reads)} by name: take its value from ci/core/settings.py"


def test_the_modules_that_read_variables_by_name_read_only_those_declared_for_them() -> None:
    # settings reads every declared variable but the terminal's (some through _stripped, _given, _folder)
    read = {name for name, _ in reads_by_name((ROOT / "ci/core/settings.py").read_text())}
    assert read <= set(VARIABLES)
    # terminal's: read from the process on every line printed, before any settings are loaded; declared as its
    terminal = {name for name, _ in reads_by_name((ROOT / "ci/core/terminal.py").read_text())}
    assert terminal == {name for name, v in VARIABLES.items() if v.terminal} == {"COLUMNS", "NO_COLOR", "TERM"}


def test_the_table_gives_the_views_exported_only_and_host_variables_as_they_were() -> None:
    """The view's semantics stay: the same exported-only variables, the same host ones in the same order."""
    assert {
        "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "BUILDX_BUILDER",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GITHUB_STEP_SUMMARY",
    } == PROCESS_VARIABLES  # fmt: skip
    assert HOST_VARIABLES == ("PYTHON_IMAGE", "NODE_IMAGE", "NGINX_IMAGE", "REGISTRY_IMAGE", "SBOM_GENERATOR")
    assert set(CI_BRANCH_VARIABLES) <= set(VARIABLES)
    assert all(name == v.name and v.meaning and "\n" not in v.meaning for name, v in VARIABLES.items())
    assert not any(v.terminal and (v.exported_only or v.host) for v in VARIABLES.values())


def _docs_rows() -> dict[str, str]:
    """docs/variables.md's table: each variable its first cell names (`NAME`), and its row."""
    rows = {}
    for line in (ROOT / "docs/variables.md").read_text().splitlines():
        if line.startswith("| `"):
            rows |= dict.fromkeys(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split(" | ")[0]), line)
    return rows


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_variable_has_its_row_in_the_docs_with_its_default(name: str) -> None:
    rows = _docs_rows()
    assert name in rows, f"docs/variables.md has no row for {name}"
    variable = VARIABLES[name]
    assert variable.default in rows[name], f"docs/variables.md does not give {name}'s default, {variable.default}"
    if variable.exported_only:
        assert "exported only" in rows[name]


def test_the_values_of_the_view_each_its_default_when_unset() -> None:
    empty = Environment()
    assert (docker_host(empty), docker_config(empty)) == ("unix:///var/run/docker.sock", Path.home() / ".docker")
    assert (buildx_builder(empty), ca_bundle(empty), step_summary(empty)) == ("", "", "")
    assert (chromium(empty), image_registry(empty)) == (Path("/usr/bin/chromium"), "")
    assert cache_variables(empty) == CacheVariables("", "5000", "", "main")


def test_the_values_of_the_view_as_given() -> None:
    env = Environment(
        exported={"DOCKER_HOST": "tcp://e:2375", "CURL_CA_BUNDLE": "/curl.pem", "BRANCH_NAME": "jenkins"},
        dotenv={
            "DOCKER_CONFIG": "/not-taken", "BUILDX_BUILDER": "not-taken", "CACHE_REGISTRY": " r.test/ns ",
            "CACHE_REGISTRY_PORT": " 5999", "GITHUB_REF_NAME": " ", "CACHE_DEFAULT_BRANCH": "trunk",
            "IMAGE_REGISTRY": "push.test ", "CHROMIUM": "/opt/chromium",
        },
    )  # fmt: skip
    assert (docker_host(env), docker_config(env), buildx_builder(env)) == ("tcp://e:2375", Path.home() / ".docker", "")
    assert (ca_bundle(env), chromium(env), image_registry(env)) == ("/curl.pem", Path("/opt/chromium"), "push.test")
    assert cache_variables(env) == CacheVariables("r.test/ns", "5999", "jenkins", "trunk")  # blank: unset
    assert ca_bundle(Environment(exported={"REQUESTS_CA_BUNDLE": "/req.pem", "CURL_CA_BUNDLE": "/c.pem"})) == "/req.pem"
    assert docker_config(Environment(exported={"DOCKER_CONFIG": " /cfg "})) == Path("/cfg")


def test_the_settings_give_the_cache_and_push_registries_from_their_view(root: Path) -> None:
    (root / ".env").write_text("CACHE_REGISTRY_PORT=5999\nIMAGE_REGISTRY=push.test\nCACHE_BRANCH=mine\n")
    settings = load_settings({"CACHE_DEFAULT_BRANCH": "trunk"}, host_env=root / "missing", root=root)
    assert settings.cache == CacheVariables("", "5999", "mine", "trunk")
    assert settings.image_registry == "push.test"
