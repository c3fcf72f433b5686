"""Settings from the environment, with the host's provisioned defaults underneath: the one place that reads
the process environment, and the one that names its variables (`VARIABLES`: each declared once, with what it
means and its default). Every module takes its values from here (Settings, or the functions of the view below:
`Environment`, exported over the project's .env over the host's defaults, as compose ranks them), never from
`os.environ` nor by a variable's name (tests/unit/core/test_settings.py holds every module to both, with the one
exception it names)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci.core import secrets
from ci.core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]  # the project: ci/core/settings.py is two folders down
# Written by ci/provision: stand-in base images on hosts that cannot reach Docker Hub.
HOST_ENV = Path("/etc/mainza/host.env")


@dataclass(frozen=True)
class Variable:
    """An environment variable the suite reads, declared once: every module takes its value from here (a
    field or property of Settings, or a function below of the view), never by its name."""

    name: str
    meaning: str  # one line, as docs/variables.md says it at length
    default: str = ""  # the value taken when it is unset or empty ("": none, or one the meaning says)
    # Read by the programs the sessions run from their own process environment, which no .env reaches: the
    # docker client and its plugins (compose refuses DOCKER_HOST from .env: docker/compose#9871; buildx picks
    # its builder by BUILDX_BUILDER), requests' trust, the CI runner's job summary. The view gives them as
    # exported only, so that what a session says (the engine, the builder, whom it trusts) is what those
    # programs do (PROCESS_VARIABLES).
    exported_only: bool = False
    host: bool = False  # a bake variable ci/provision may give a default in HOST_ENV (HOST_VARIABLES)
    # Read by ci/core/terminal.py from the process itself, on every line printed and before any settings.
    terminal: bool = False


# Bake's variables (docker-bake.hcl's `variable` blocks) and compose's `${NAME_PORT}` are declared in those
# files, and given or checked as they declare them (ci/builds/bakefile.py, port_variables): not here. The
# host's bake variables are here as the suite reads them itself.
VARIABLES: Mapping[str, Variable] = {
    v.name: v
    for v in (
        Variable("COMPOSE_PROJECT_NAME", "the project: compose project, image names, locks", "mainza"),
        Variable("TAG", "the tag of compose.yaml's images: the sessions' own, refused exported"),
        Variable("REPORTS_DIR", "where the sessions write their reports, relative to the project", "reports"),
        Variable("LOCK_WAIT", "seconds a session waits for another that holds the project", "60"),
        Variable("XDG_STATE_HOME", "where the projects' locks are (mainza/locks/ below it)", "~/.local/state"),
        Variable("PYTHON_IMAGE", "the backend's base image", host=True),
        Variable("NODE_IMAGE", "the frontend's build image", host=True),
        Variable("NGINX_IMAGE", "the frontend's base image", host=True),
        Variable("REGISTRY_IMAGE", "the image of the project's own cache registry", host=True),
        Variable(
            "SBOM_GENERATOR",
            "the SBOM generator image BuildKit runs for prod --push (ci/provision builds the host's own)",
            "docker.io/docker/buildkit-syft-scanner:stable-1",  # BuildKit's default: Docker Hub's
            host=True,
        ),
        Variable("CACHE_REGISTRY", "prod's cache registry, host[:port][/path]; else localhost:CACHE_REGISTRY_PORT"),
        Variable("CACHE_REGISTRY_PORT", "the port of the default cache registry, and of the project's own", "5000"),
        Variable("CACHE_BRANCH", "the branch whose cache ref prod writes; else the CI's, else the checkout's"),
        Variable("CACHE_DEFAULT_BRANCH", "the branch whose cache ref prod also reads", "main"),
        Variable("GITHUB_HEAD_REF", "GitHub Actions: a pull request's source branch (CACHE_BRANCH's default)"),
        Variable("GITHUB_REF_NAME", "GitHub Actions: the branch or tag built (CACHE_BRANCH's default)"),
        Variable("CI_COMMIT_REF_NAME", "GitLab CI: the branch or tag built (CACHE_BRANCH's default)"),
        Variable("BUILDKITE_BRANCH", "Buildkite: the branch built (CACHE_BRANCH's default)"),
        Variable("BRANCH_NAME", "Jenkins: the branch built (CACHE_BRANCH's default)"),
        Variable("IMAGE_REGISTRY", "where prod --push pushes; else the cache registry"),
        Variable("CHROMIUM", "the chromium verify --browser drives", "/usr/bin/chromium"),
        Variable("WATCH_PORT", "the port of watch's live page on 127.0.0.1 (0: no page)", "8390"),
        Variable("COSIGN_KEY", "the private key prod --sign signs with: a path, or cosign's env://NAME"),
        Variable("COSIGN_PASSWORD", "the password of COSIGN_KEY, given to cosign in its environment alone"),
        Variable("COSIGN_PUBLIC_KEY", "the public key verify --signed checks signatures with: a path, or env://NAME"),
        Variable("DOCKER_HOST", "the engine's address", "unix:///var/run/docker.sock", exported_only=True),
        Variable("DOCKER_CONTEXT", "the docker client's context", exported_only=True),
        Variable("DOCKER_CONFIG", "the docker client's config folder (logins)", "~/.docker", exported_only=True),
        Variable("DOCKER_CERT_PATH", "the docker client's TLS certificates", exported_only=True),
        Variable("DOCKER_TLS_VERIFY", "whether the docker client verifies the engine's TLS", exported_only=True),
        Variable("BUILDX_BUILDER", "prod's builder when --builder is not given; else the current", exported_only=True),
        Variable("REQUESTS_CA_BUNDLE", "the CAs the sessions trust over TLS; else the host's", exported_only=True),
        Variable("CURL_CA_BUNDLE", "the CAs trusted when REQUESTS_CA_BUNDLE is not set", exported_only=True),
        Variable("GITHUB_STEP_SUMMARY", "the CI job's summary, where verify writes its checks", exported_only=True),
        Variable("COLUMNS", "the terminal's width, for tables and lines", terminal=True),
        Variable("NO_COLOR", "set: no colour", terminal=True),
        Variable("TERM", "`dumb`: no colour", terminal=True),
    )
}
DEFAULT_PROJECT = VARIABLES["COMPOSE_PROJECT_NAME"].default
# Bake variables a user may set in the environment; bake reads them from there by itself, and we pass
# the host file's values the same way so that the environment keeps precedence.
HOST_VARIABLES = tuple(name for name, v in VARIABLES.items() if v.host)
PROCESS_VARIABLES = frozenset(name for name, v in VARIABLES.items() if v.exported_only)
# The branch a CI job builds, by the CI's own variables: a pull request's source branch first.
CI_BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH", "BRANCH_NAME")
# seconds a session waits for another that holds the project (ci/core/lock.py)
DEFAULT_LOCK_WAIT = float(VARIABLES["LOCK_WAIT"].default)


def _stripped(env: Mapping[str, str], name: str) -> str:
    """NAME's value in ENV without surrounding blanks, else its default."""
    return env.get(name, "").strip() or VARIABLES[name].default


def _given(env: Mapping[str, str], name: str) -> str:
    """NAME's value in ENV as it is, else its default: a variable a program reads as it is given."""
    return env.get(name) or VARIABLES[name].default


def _folder(env: Mapping[str, str], name: str) -> Path:
    """NAME's folder in ENV as given, else its default below the user's home (`~/...`)."""
    return Path(env.get(name, "").strip() or Path(VARIABLES[name].default).expanduser())


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (`export KEY=VALUE` too, as compose reads its .env); comments and blank lines ignored;
    a missing file is empty."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if value[:1] not in ("'", '"'):
            value = value.split(" #", 1)[0].strip()  # an inline comment, as compose reads one
        values[key.strip()] = value.strip("'\"")
    return values


# `${NAME:-default}` in compose.yaml: the variables that set host ports are those named *_PORT.
_PORT_VARIABLE = re.compile(r"\$\{(\w+_PORT)(?::?-([^}]*))?\}")


def port_variables(compose_text: str, environ: Mapping[str, str]) -> dict[int, str]:
    """Host port -> the compose variable that sets it, each checked: a bad value is a usage error here,
    before anything runs, rather than compose's message about a port mapping."""
    found: dict[int, str] = {}
    for name, default in _PORT_VARIABLE.findall(compose_text):
        raw = environ.get(name, "").strip() or default.strip()
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise UsageError(f"{name}={raw!r} is not a port number (1-65535)")
        if found.get(int(raw), name) != name:
            raise UsageError(f"{found[int(raw)]} and {name} are both {raw}: give them different ports")
        found[int(raw)] = name
    return found


# Image references as the engine parses them (distribution/reference): a repository name is path components
# joined by `/`, each lowercase letters and digits with single separators (`.`, `_`, `__` or dashes) between
# them, at most 255 characters in all, registry included; a tag is 1 to 128 of `\w.-`, not starting with `.-`.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
REPOSITORY_MAX = 255
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Compose's own rule for project names.
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
# What follows the project in compose.yaml's image names (`${COMPOSE_PROJECT_NAME:-mainza}-backend:...`).
_PROJECT_IMAGE = re.compile(r"\$\{COMPOSE_PROJECT_NAME(?::?-[^}]*)?\}([^\s:@'\"$]*)")


def check_project(project: str, compose_file: Path, registry: str = "") -> None:
    """PROJECT as compose takes it, and the image names it makes (those of COMPOSE_FILE, and with REGISTRY
    before them when prod pushes there) as the engine takes them: a usage error naming
    COMPOSE_PROJECT_NAME, before anything is built, rather than the engine's about a reference later."""
    compose_text = compose_file.read_text() if compose_file.is_file() else ""
    if not _PROJECT.fullmatch(project):
        raise UsageError(
            f"COMPOSE_PROJECT_NAME={project!r} is not a valid project name: "
            "use lowercase letters, digits, dashes and underscores, starting with a letter or digit"
        )
    for name in [project + rest for rest in dict.fromkeys(_PROJECT_IMAGE.findall(compose_text))] or [project]:
        if not _REPOSITORY.fullmatch(name):
            raise UsageError(
                f"COMPOSE_PROJECT_NAME={project!r} makes the image name {name!r}, which is not one: end it with a "
                "letter or digit, and no more than two underscores or a dot together"
            )
        whole = f"{registry}/{name}" if registry else name
        if len(whole) > REPOSITORY_MAX:
            raise UsageError(
                f"COMPOSE_PROJECT_NAME ({len(project)} characters) makes the image name {whole[:40]}... of "
                f"{len(whole)} characters, over the {REPOSITORY_MAX} an image name may have: shorten it"
            )


def check_tag(environ: Mapping[str, str]) -> None:
    """TAG, where the environment sets it (compose's image names read it): an image tag, or a usage error
    naming it, before anything is built."""
    tag = environ.get("TAG", "")
    if tag and not _TAG.fullmatch(tag):
        raise UsageError(
            f"TAG={tag!r} is not an image tag: 1 to 128 letters, digits, `_`, `.` and `-`, not starting with "
            "`.` or `-`; set another or unset it"
        )


def refuse_exported_tag(environ: Mapping[str, str]) -> None:
    """The sessions tag their images themselves (dev `dev`, prod the commit) and give compose that TAG in an
    env file; compose ranks the shell's environment above every env file, so an exported TAG would have it
    run other images than the session built."""
    if "TAG" in environ:
        raise UsageError(
            f"TAG={environ['TAG']!r} is exported: compose would run that tag, not the images this session builds "
            "and tags itself (dev: dev, prod: the commit); unset it (`unset TAG`)"
        )


@dataclass(frozen=True, eq=False)
class Environment(Mapping[str, str]):
    """The variables the sessions read, each where compose finds it: EXPORTED (the process environment) over
    the project's DOTENV over the HOST's provisioned defaults; a variable of PROCESS_VARIABLES as exported
    only. An exported variable wins even when empty, as it does for compose and bake."""

    exported: Mapping[str, str] = field(default_factory=dict)
    dotenv: Mapping[str, str] = field(default_factory=dict)
    host: Mapping[str, str] = field(default_factory=dict)

    def _layers(self, name: str) -> tuple[Mapping[str, str], ...]:
        return (self.exported,) if name in PROCESS_VARIABLES else (self.exported, self.dotenv, self.host)

    def __getitem__(self, name: str) -> str:
        for layer in self._layers(name):
            if name in layer:
                return layer[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        names = dict.fromkeys([*self.exported, *self.dotenv, *self.host])
        return iter([name for name in names if name in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(name in layer for layer in self._layers(name))

    def source(self, name: str) -> str:
        """Where NAME's value comes from, in words: `exported`, `.env`, `the host's defaults`; "" when unset."""
        for layer, words in zip(self._layers(name), ("exported", ".env", "the host's defaults"), strict=False):
            if name in layer:
                return words
        return ""


def environment(environ: Mapping[str, str] | None = None, root: Path = ROOT, host_env: Path = HOST_ENV) -> Environment:
    """The view of ENVIRON (the process environment), ROOT's .env and the host's defaults (HOST_VARIABLES of
    HOST_ENV). For the few modules that hold no Settings (whom TLS trusts, the engine's address), through the
    functions below; the others read Settings."""
    host = read_env_file(host_env)
    return Environment(
        dict(os.environ if environ is None else environ),
        read_env_file(root / ".env"),
        {k: host[k] for k in HOST_VARIABLES if host.get(k)},
    )


# --- the values of the variables, for the modules that hold no Settings (ENV: the view, by default the
# process's); those that do read the Settings' properties, which call them with its view.


def _view(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return environment() if env is None else env


def docker_host(env: Mapping[str, str] | None = None) -> str:
    """DOCKER_HOST: the engine the docker client talks to (exported only: its own)."""
    return _given(_view(env), "DOCKER_HOST")


def docker_config(env: Mapping[str, str] | None = None) -> Path:
    """DOCKER_CONFIG: the Docker CLI's config folder, else ~/.docker."""
    return _folder(_view(env), "DOCKER_CONFIG")


def buildx_builder(env: Mapping[str, str] | None = None) -> str:
    """BUILDX_BUILDER: the builder buildx picks (exported only: its own); "" for the current one."""
    return _given(_view(env), "BUILDX_BUILDER")


def ca_bundle(env: Mapping[str, str] | None = None) -> str:
    """REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE (requests' own, exported only); "" for neither."""
    view = _view(env)
    return _given(view, "REQUESTS_CA_BUNDLE") or _given(view, "CURL_CA_BUNDLE")


def step_summary(env: Mapping[str, str] | None = None) -> str:
    """GITHUB_STEP_SUMMARY: the CI job's summary file (the runner's, exported only); "" outside one."""
    return _given(_view(env), "GITHUB_STEP_SUMMARY")


def chromium(env: Mapping[str, str] | None = None) -> Path:
    """CHROMIUM: the browser verify --browser drives, else Debian's."""
    return Path(_given(_view(env), "CHROMIUM"))


def image_registry(env: Mapping[str, str]) -> str:
    """IMAGE_REGISTRY: where prod pushes; "" for the cache registry."""
    return _stripped(env, "IMAGE_REGISTRY")


def sbom_generator(env: Mapping[str, str]) -> str:
    """SBOM_GENERATOR: the image BuildKit runs to make prod --push's SBOM (its SBOM generator protocol)."""
    return _stripped(env, "SBOM_GENERATOR")


ENV_KEY = "env://"  # cosign's form of a key held in an environment variable: env://NAME


@dataclass(frozen=True)
class Signing:
    """cosign's keys as the environment gives them (the view: exported over .env): the private key (a path or
    env://NAME, "" unset), the public key, and what cosign's process is given beside the suite's own environment
    (the password, an env:// key's value): never a command line. Every secret is registered where it is read."""

    key: str = ""
    public_key: str = ""
    child_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def has_password(self) -> bool:
        return bool(self.child_env.get("COSIGN_PASSWORD"))


def signing(env: Mapping[str, str] | None = None) -> Signing:
    """COSIGN_KEY, COSIGN_PASSWORD, COSIGN_PUBLIC_KEY from the view; the password and any env:// key's value
    registered as secrets (ci/core/secrets.py) and put in the child's environment."""
    view = _view(env)
    key, public_key = _stripped(view, "COSIGN_KEY"), _stripped(view, "COSIGN_PUBLIC_KEY")
    password = view.get("COSIGN_PASSWORD", "")
    child = {**os.environ, "COSIGN_PASSWORD": password}
    for named in (key, public_key):
        if named.startswith(ENV_KEY):
            child[named.removeprefix(ENV_KEY)] = view.get(named.removeprefix(ENV_KEY), "")
    if key.startswith(ENV_KEY):
        held = child[key.removeprefix(ENV_KEY)]  # the private key itself, whole and line by line (PEM)
        secrets.register(held, *(line for line in held.splitlines() if not line.startswith("-----")))
    secrets.register(password)
    return Signing(key, public_key, child)


@dataclass(frozen=True)
class CacheVariables:
    """What the environment says of prod's registry cache, as given: ci/cache/ chooses and checks it."""

    registry: str = ""  # CACHE_REGISTRY: "" for the default, localhost:<registry_port>
    registry_port: str = VARIABLES["CACHE_REGISTRY_PORT"].default  # CACHE_REGISTRY_PORT, not checked yet
    branch: str = ""  # CACHE_BRANCH, else the first CI branch variable set: "" for the checked-out branch
    default_branch: str = VARIABLES["CACHE_DEFAULT_BRANCH"].default  # CACHE_DEFAULT_BRANCH


def cache_variables(env: Mapping[str, str]) -> CacheVariables:
    """The registry cache's variables in ENV (the view): each stripped, blank as unset."""
    named = (env.get(name, "").strip() for name in ("CACHE_BRANCH", *CI_BRANCH_VARIABLES))
    return CacheVariables(
        registry=_stripped(env, "CACHE_REGISTRY"),
        registry_port=_stripped(env, "CACHE_REGISTRY_PORT"),
        branch=next((b for b in named if b), ""),
        default_branch=_stripped(env, "CACHE_DEFAULT_BRANCH"),
    )


@dataclass(frozen=True)
class Settings:
    root: Path
    project: str
    reports_dir: Path
    ports: dict[int, str]  # host port -> the compose variable that sets it (BACKEND_PORT...)
    # Values for bake variables and compose interpolation that do not come from the user's environment.
    host_defaults: dict[str, str] = field(default_factory=dict)
    # The project's .env, which compose reads beneath the environment and above the host's defaults.
    dotenv: dict[str, str] = field(default_factory=dict)
    # Where the projects' locks are (ci/core/lock.py): this user's state folder, one for every checkout.
    lock_dir: Path = Path.home() / ".local" / "state" / "mainza" / "locks"
    lock_wait: float = DEFAULT_LOCK_WAIT  # LOCK_WAIT: seconds to wait for a session that holds the project
    # Every variable the sessions read: exported over .env over the host's defaults (load_settings fills it).
    env: Environment = field(default_factory=Environment)

    @property
    def bake_file(self) -> Path:
        return self.root / "docker-bake.hcl"

    @property
    def compose_file(self) -> Path:
        return self.root / "compose.yaml"

    @property
    def env_file(self) -> Path:
        """The project's .env, as `docker compose` reads it beside compose.yaml."""
        return self.root / ".env"

    @property
    def cache(self) -> CacheVariables:
        """The registry cache's variables (CACHE_REGISTRY, CACHE_REGISTRY_PORT, CACHE_BRANCH...)."""
        return cache_variables(self.env)

    @property
    def image_registry(self) -> str:
        return image_registry(self.env)

    @property
    def sbom_generator(self) -> str:
        return sbom_generator(self.env)


def reports_dir(environ: Mapping[str, str], root: Path = ROOT) -> Path:
    """Where the sessions write their reports: REPORTS_DIR (ENVIRON: the view, .env's too), relative to the
    project, else reports/. Read apart from the other settings, so that a session whose settings are wrong
    still reports it there."""
    reports = Path(_stripped(environ, "REPORTS_DIR"))
    return reports if reports.is_absolute() else root / reports


def writable_reports_dir(environ: Mapping[str, str] | None = None, root: Path = ROOT) -> Path:
    """The reports folder (ENVIRON: the view, by default this process's), created and proven writable by
    creating and removing a file in it (root passes any permission check, so only a write tells a read-only
    mount); else a usage error naming it, raised before anything runs rather than at the end, when the reports
    are written."""
    reports = reports_dir(environment(root=root) if environ is None else environ, root)
    try:
        reports.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=reports, prefix=".write-check-"):
            pass
    except OSError as err:
        reason = "not a folder" if reports.exists() and not reports.is_dir() else err.strerror or str(err)
        raise UsageError(
            f"REPORTS_DIR={reports} cannot be written ({reason}): set REPORTS_DIR to a writable folder"
        ) from err
    return reports


def load_settings(environ: Mapping[str, str] | None = None, host_env: Path = HOST_ENV, root: Path = ROOT) -> Settings:
    env = environment(environ, root, host_env)  # compose's order: the environment over the project's .env
    project = _stripped(env, "COMPOSE_PROJECT_NAME")
    check_project(project, root / "compose.yaml", image_registry(env))
    check_tag(env)
    refuse_exported_tag(env.exported)
    compose = root / "compose.yaml"
    state = _folder(env, "XDG_STATE_HOME")
    return Settings(
        root=root,
        project=project,
        reports_dir=reports_dir(env, root),
        ports=port_variables(compose.read_text() if compose.is_file() else "", env),
        host_defaults={k: v for k, v in env.host.items() if not env.exported.get(k)},
        dotenv=dict(env.dotenv),
        lock_dir=state / "mainza" / "locks",
        lock_wait=lock_wait(env),
        env=env,
    )


def watch_port(env: Mapping[str, str] | None = None) -> int:
    """WATCH_PORT: the port of watch's live page, 0 to 65535 (0: no page)."""
    raw = _stripped(_view(env), "WATCH_PORT")
    if not raw.isdigit() or int(raw) > 65535:
        raise UsageError(f"WATCH_PORT={raw!r} is not a port number: give 1-65535, or 0 for no page")
    return int(raw)


def lock_wait(env: Mapping[str, str]) -> float:
    """LOCK_WAIT: whole seconds, 0 or more (0: refuse at once when another session holds the project)."""
    raw = env.get("LOCK_WAIT", "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT
    if not raw.isdigit():
        raise UsageError(f"LOCK_WAIT={raw!r} is not a number of seconds: give a whole number, 0 or more")
    return float(raw)
