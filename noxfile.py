"""Sessions of the mainza build pipeline. The logic lives in the `ci` package; each session is a thin call."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

CI_REQUIREMENTS = "ci/requirements.txt"


def _run_ci(session: nox.Session, name: str) -> None:
    session.install("-q", "-r", CI_REQUIREMENTS)
    session.run("python", "-m", "ci", name, *session.posargs)


@nox.session(default=False)
def dev(session: nox.Session) -> None:
    """Clean, bake with no cache and fresh build args, start the stack, show what runs."""
    _run_ci(session, "dev")


@nox.session(default=False)
def prod(session: nox.Session) -> None:
    """Bake with the shared registry cache and reproducible build args; `-- --push` to publish."""
    _run_ci(session, "prod")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and integration tests against the real engine (pytest args after --)."""
    session.install("-q", "-r", CI_REQUIREMENTS, "-r", "tests/requirements.txt")
    session.run("pytest", *session.posargs)
