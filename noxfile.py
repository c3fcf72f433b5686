"""Sessions of the mainza build pipeline. The logic lives in the `ci` package; each session is a thin call."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

CI_REQUIREMENTS = "ci/requirements.txt"
BENCH_REQUIREMENTS = "ci/requirements-bench.txt"  # the benchmark times nox itself
BROWSER_REQUIREMENTS = "ci/requirements-browser.txt"  # verify -- --browser
WATCH_REQUIREMENTS = "ci/requirements-watch.txt"  # watch: the file watcher
SBOM_REQUIREMENTS = "ci/requirements-sbom.txt"  # the SBOM generator's (ci/sbom/), which its unit tests run
# The suite's ruff, mypy and pytest settings: named on every run, the root's pyproject.toml being the app's.
TOOL_SETTINGS = "ci/pyproject.toml"


def _install(session: nox.Session, *requirements: str) -> None:
    """pip install -r REQUIREMENTS, skipped when they are unchanged since the venv last installed them:
    a no-op `nox -s prod` must stay within seconds, and pip's own check costs most of a second."""
    digest = hashlib.sha256(b"".join(Path(r).read_bytes() for r in requirements)).hexdigest()
    stamp = Path(session.virtualenv.location) / ".requirements.sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return
    session.install("-q", *(arg for r in requirements for arg in ("-r", r)))
    stamp.write_text(digest)


def _run_ci(session: nox.Session, name: str, *requirements: str) -> None:
    _install(session, CI_REQUIREMENTS, *requirements)
    _ci(session, name)


def _ci(session: nox.Session, name: str) -> None:
    """`python -m ci NAME` with the arguments after `--`, each `--header 'Name: value'` passed as `--header-env
    Name=VARIABLE` and its value in the child's environment: nox echoes the command line, never the environment.
    One that is not `Name: value` goes as `--header ***`, which python -m ci refuses."""
    args: list[str] = []
    env: dict[str, str] = {}
    given = iter(session.posargs)
    for arg in given:
        if arg != "--header" and not arg.startswith("--header="):
            args.append(arg)
            continue
        header, colon, value = (arg[len("--header=") :] if "=" in arg else next(given, "")).partition(":")
        if not colon or not header.strip() or any(c.isspace() or c == "=" for c in header.strip()):
            args += ["--header", "***"]
        elif not value.strip():
            args += ["--header", f"{header.strip()}:"]  # nothing to hide
        else:
            env[f"MAINZA_HEADER_{len(env) + 1}"] = value.strip()
            args += ["--header-env", f"{header.strip()}=MAINZA_HEADER_{len(env)}"]
    session.run("python", "-m", "ci", name, *args, env=env)


@nox.session(default=False)
def dev(session: nox.Session) -> None:
    """Clean, bake with no cache and fresh build args, start the stack, show what runs."""
    _run_ci(session, "dev")


@nox.session(default=False)
def prod(session: nox.Session) -> None:
    """Bake with the shared registry cache and reproducible build args; `-- --push` to publish."""
    _run_ci(session, "prod")


@nox.session(default=False)
def prune(session: nox.Session) -> None:
    """Reclaim space from this project's garbage only, and build cache by age and size; `-- --dry-run` to preview."""
    _run_ci(session, "prune")


@nox.session(default=False)
def verify(session: nox.Session) -> None:
    """Prove the running stack is the latest build of this tree; `-- --browser`, `-- --down`."""
    browser = (BROWSER_REQUIREMENTS,) if "--browser" in session.posargs else ()
    _run_ci(session, "verify", *browser)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark prod builds: cold, fresh runner warm from the registry, no-op, --no-cache; prints ratios."""
    _run_ci(session, "bench", BENCH_REQUIREMENTS, WATCH_REQUIREMENTS, BROWSER_REQUIREMENTS)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and integration tests against the real engine (pytest args after --)."""
    # The browser's too: integration tests open pages and build timelines in chromium themselves.
    _install(
        session, CI_REQUIREMENTS, WATCH_REQUIREMENTS, BROWSER_REQUIREMENTS, SBOM_REQUIREMENTS, "tests/requirements.txt"
    )
    session.run("pytest", "--config-file", TOOL_SETTINGS, "--rootdir", ".", *session.posargs)


@nox.session(default=False)
def doctor(session: nox.Session) -> None:
    """Diagnose host and tree: versions, builder, cache registry, disk, build context, base images."""
    _run_ci(session, "doctor")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy, hadolint, actionlint, and the bake definition resolved (and checked) for every group."""
    # mypy must see every module the ci package imports: the requirements of every session, and the linters.
    _install(session, *sorted(str(p) for p in Path("ci").glob("requirements*.txt")))
    _ci(session, "lint")


@nox.session(default=False)
def watch(session: nox.Session) -> None:
    """Rebuild, recreate and verify only what changed, after every save; `-- --once`, `-- --down`."""
    _run_ci(session, "watch", WATCH_REQUIREMENTS)
