"""The app at the root, whatever it is: the example until a team replaces it, then theirs. Every other
integration test runs the suite's own copy of the example (tests/data/example), so this is the one that
proves the sessions on the app this checkout holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_project

pytestmark = [pytest.mark.integration, pytest.mark.first_pass]


def test_dev_builds_and_starts_the_app_at_the_root_and_verify_proves_it(
    engine: None, tmp_path: Path, nox_envdir: Path
) -> None:
    project = copy_project(tmp_path / "root-app", "mainzatest-root-app", nox_envdir, app=None)
    project.remove()
    try:
        dev = project.ci("dev")
        assert dev.returncode == 0, dev.stdout[-3000:] + dev.stderr
        verify = project.ci("verify", "--down")
        assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr
    finally:
        project.remove()
