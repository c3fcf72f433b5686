"""What a person reads: each session's tables fit a 120-column terminal, and verify waits for services
that are still starting (a `docker compose up -d` without --wait) instead of failing them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import Project

pytestmark = pytest.mark.integration
COLUMNS = 120


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    made = make_project("mainzatest-output")
    made.env["COLUMNS"] = str(COLUMNS)
    return made


def table_lines(text: str) -> list[str]:
    """Every line of the tables in TEXT: a header, its rule of dashes, the rows down to a blank line."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip() and set(line) <= {"-", " "} and i > 0:
            found.append(lines[i - 1])
            for row in lines[i:]:
                if not row.strip():
                    break
                found.append(row)
    return found


def assert_tables_fit(run: subprocess.CompletedProcess[str]) -> None:
    tables = table_lines(run.stdout)
    assert tables, "no table printed"
    too_wide = [line for line in tables if len(line) > COLUMNS]
    assert not too_wide, too_wide


def test_dev_then_compose_up_without_wait_then_verify_passes_and_every_table_fits(project: Project) -> None:
    dev = project.ci("dev")
    assert dev.returncode == 0, dev.stderr
    assert_tables_fit(dev)
    env = {**os.environ, **project.env, "TAG": "dev"}
    # Health checks every 3 s while starting (compose.yaml's poll every 0.1 s): verify finds them starting.
    # Compose merges compose.override.yaml when no file is named, as here; the sessions name compose.yaml.
    slow = "".join(f"  {s}:\n    healthcheck:\n      start_interval: 3s\n" for s in ("backend", "frontend"))
    override = project.root / "compose.override.yaml"
    override.write_text(f"services:\n{slow}")
    try:
        subprocess.run(["docker", "compose", "up", "-d", "--force-recreate"], cwd=project.root, env=env, check=True)
    finally:
        override.unlink()
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "waiting for" in verify.stdout and "to finish starting" in verify.stdout
    assert_tables_fit(verify)


@pytest.mark.parametrize("session", [("prod",), ("verify",), ("doctor",), ("prune", "--dry-run")])
def test_tables_fit_120_columns(project: Project, session: tuple[str, ...]) -> None:
    run = project.ci(*session)
    assert_tables_fit(run)
