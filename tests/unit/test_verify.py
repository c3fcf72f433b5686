"""verify's own report: its summary as GitHub's step summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.sessions import verify as verifying


def test_summary_goes_to_the_github_step_summary_as_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ci.report import Check, Report

    report = Report("verify")
    report.main.checks += [Check("services", "passed", message="ok"), Check("images", "failed", message="a | b")]
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    verifying.print_summary(report)
    assert summary.read_text() == (
        "earlier step\n## verify\n\n| check | result | detail |\n|---|---|---|\n"
        "| services | passed | ok |\n| images | failed | a \\| b |\n"
    )
