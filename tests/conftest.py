"""Shared fixtures: the real engine (or a loud failure under CI), and throwaway copies of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree
from python_on_whales import Container, docker
from python_on_whales.exceptions import DockerException

from ci.core import secrets
from ci.sources.git import commit_all, copy_worktree, git
from ci.stack.live import free_port

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "data" / "junit-10.xsd"
INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the soak tests (minutes each; never in CI)")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration/ is marked integration, whatever its module says, so that
    `-m "not integration"` runs the unit tests alone; and no other test may ask for the engine. Soak tests
    are skipped unless `--soak` is given."""
    soak = pytest.mark.skip(reason="a soak test: minutes long, run with --soak")
    for item in items:
        if "soak" in item.keywords and not config.getoption("--soak"):
            item.add_marker(soak)
        if item.path.is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.integration)
        elif "engine" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} needs the engine: an integration test, under {INTEGRATION}")


@pytest.fixture(autouse=True)
def no_secrets() -> Iterator[None]:
    """The secrets' registry is the process's (ci/core/secrets.py): each test starts with none and leaves none, so
    a value one test registers is never masked in another's output."""
    secrets.forget()
    yield
    secrets.forget()


def assert_junit_valid(path: Path) -> etree._ElementTree:
    assert path.is_file(), f"no JUnit file at {path}"
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    return document


def junit_results(path: Path) -> dict[str, str]:
    """testcase -> passed | failure | error | skipped, from a schema-valid JUnit file."""
    result = {}
    for case in assert_junit_valid(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[case.get("name", "")] = kinds[0] if kinds else "passed"
    return result


@pytest.fixture(scope="session")
def engine() -> None:
    """The real engine; without one the integration tests fail under CI=true and skip elsewhere."""
    try:
        docker.version().server  # noqa: B018
    except DockerException as err:
        message = f"no Docker engine reachable ({err.return_code}): run `ci/provision` as root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def write_files(root: Path, files: dict[str, str]) -> Path:
    """FILES (relative path -> text) written under ROOT."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


APP = ROOT / "tests" / "data" / "app"  # the suite's own app (its README says why): not the example at the root
# What a working copy holds beside an app's sources, none of it an input of any service.
NOT_INPUTS = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".nox/lint/bin/python": "",
    "reports/junit-dev.xml": "<testsuites/>\n",
    "ci/frame.py": "",
    "frontend/node_modules/react/index.js": "module.exports = {};\n",
    "frontend/dist/index.html": "<p>built</p>\n",
    "backend/__pycache__/main.cpython-311.pyc": "junk",
}


def app_tree(root: Path, committed: bool = False) -> Path:
    """The suite's own app (APP) copied to ROOT with what a working copy holds beside it (NOT_INPUTS);
    COMMITTED: in a git repository of its own, everything but those committed."""
    shutil.copytree(APP, root, dirs_exist_ok=True)
    if committed:
        git_repo(root, {})
    return write_files(root, {k: v for k, v in NOT_INPUTS.items() if not (committed and k.startswith(".git/"))})


def git_repo(root: Path, files: dict[str, str]) -> Path:
    """ROOT made a git repository holding FILES in one commit, `first`."""
    write_files(root, files)
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@localhost")
    git(root, "config", "user.name", "t")
    commit_all(root, "first")
    return root


@dataclass
class Project:
    """A copy of this repository in a git repo of its own, with its own project name, ports and reports."""

    root: Path
    name: str
    envdir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def reports(self) -> Path:
        return Path(self.env["REPORTS_DIR"])

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.env['BACKEND_PORT']}"

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.env['FRONTEND_PORT']}"

    def commit(self, message: str) -> str:
        return commit_all(self.root, message)

    def running(self, service: str) -> Container:
        """SERVICE's one running container in this project's stack."""
        [found] = docker.container.list(
            filters=[
                ("label", f"com.docker.compose.project={self.name}"),
                ("label", f"com.docker.compose.service={service}"),
            ]
        )
        return found

    @contextmanager
    def edited(self, rel: str, change: Callable[[str], str]) -> Iterator[None]:
        """The file REL rewritten by CHANGE for the duration of the block, then restored."""
        path = self.root / rel
        original = path.read_text()
        path.write_text(change(original))
        try:
            yield
        finally:
            path.write_text(original)

    def nox(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        """Run `nox -s ...` in the copy, as a user would, printing its output for the test log."""
        cmd = [sys.executable, "-m", "nox", "-f", str(self.root / "noxfile.py"), "--envdir", str(self.envdir), *args]
        return self._run(cmd, timeout)

    def ci(
        self, *args: str, env: dict[str, str] | None = None, timeout: int = 900, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `python -m ci ...` in the copy (or in CWD, another checkout of it): the sessions' code without
        nox's venv step."""
        return self._run([sys.executable, "-m", "ci", *args], timeout, env, cwd)

    def _run(
        self, cmd: list[str], timeout: int, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **self.env, **(env or {})}
        full_env.pop("VIRTUAL_ENV", None)
        proc = subprocess.run(cmd, cwd=cwd or self.root, env=full_env, capture_output=True, text=True, timeout=timeout)
        print(f"$ {' '.join(cmd)}  -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def remove(self) -> None:
        """Remove whatever the copy's sessions created: its containers, network and images."""
        containers = docker.container.list(all=True, filters=[("label", f"com.docker.compose.project={self.name}")])
        if containers:
            docker.container.remove(containers, force=True)
        for network in docker.network.list(filters=[("label", f"com.docker.compose.project={self.name}")]):
            network.remove()
        images = docker.image.list(filters=[("label", f"mainza.project={self.name}")])
        if images:
            docker.image.remove(images, force=True)


# The integration tests' app: the example app as these tests pin it (services, endpoints, files), kept here
# so that a team that replaces the example at the root keeps `nox -s tests` green; test_root_app runs
# whatever app the root holds.
EXAMPLE = ROOT / "tests" / "data" / "example"
# The suite's own files, what docs/adopting.md says to keep: a copy of the project takes these from the
# working tree and its app from EXAMPLE, never the root's app.
SUITE = frozenset(
    {
        ".ci",
        ".github",
        ".gitignore",
        ".hadolint.yaml",
        "README.md",
        "ci",
        "docs",
        "noxfile.py",
        "tests",
    }
)


def copy_project(dest: Path, name: str, envdir: Path, app: Path | None = EXAMPLE) -> Project:
    """A copy of the suite with APP laid at its root (None: the root's own app, whatever it is)."""
    if app is None:
        copy_worktree(ROOT, dest, "copy of the project under test")
    else:
        copy_worktree(
            ROOT, dest, "copy of the project under test", keep=lambda rel: rel.split("/")[0] in SUITE, overlay=app
        )
    return Project(
        dest,
        name,
        envdir,
        env={
            "COMPOSE_PROJECT_NAME": name,
            "BACKEND_PORT": str(free_port()),
            "FRONTEND_PORT": str(free_port()),
            "REPORTS_DIR": str(dest / "reports"),
            # A watch serves no live page unless its test asks for one on a port of its own: two watches (two
            # modules' projects, or a test's second) never race for the default port.
            "WATCH_PORT": "0",
            # The tests read the sessions' lines whole; fitting them to the terminal is test_output's.
            "COLUMNS": "400",
        },
    )


@pytest.fixture(scope="session")
def nox_envdir() -> Path:
    """One nox venv folder for every copy, kept in the checkout between runs (.nox/, ignored by git): each
    session's venv is installed once, and again only when its requirements change (the noxfile's digest
    of them), so CI's second pass and the next local run reuse the first's (about 50 s each)."""
    envdir = ROOT / ".nox" / "copies"
    envdir.mkdir(parents=True, exist_ok=True)
    return envdir


@pytest.fixture(scope="module")
def make_project(
    engine: None, tmp_path_factory: pytest.TempPathFactory, nox_envdir: Path
) -> Iterator[Callable[[str], Project]]:
    """Copies of the project for one test module; all they created is removed after it."""
    made: list[Project] = []

    def make(name: str) -> Project:
        project = copy_project(tmp_path_factory.mktemp(name), name, nox_envdir)
        project.remove()
        made.append(project)
        return project

    yield make
    for project in made:
        project.remove()
