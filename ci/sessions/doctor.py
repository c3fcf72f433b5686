"""`nox -s doctor`: diagnose the host and the tree: versions, the builder and what it can do for a release
(cache export, attestations, SBOM; cosign and its keys), cache registry, disk, build context, base images.
It only reads: it builds, pulls, starts and removes nothing, and fails only on a failed check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict

from ci import docker as dk
from ci.core import terminal
from ci.core.report import Check, Report, Status
from ci.core.session import Run, Session
from ci.core.settings import Settings
from ci.core.versions import HOST_MINIMUMS
from ci.doctor.checks import CHECK_NAMES, Finding, diagnose

STATUS: dict[str, Status] = {"ok": "passed", "warn": "warned", "fail": "failed", "skip": "skipped"}


def body(run: Run) -> None:
    budget, warn = run.args.context_budget_mb * 1e6, run.args.cache_warn_gb * 1e9
    engine = dk.connect(run.settings)
    findings = diagnose(run.settings, engine, budget_bytes=budget, cache_warn_bytes=warn, builder=run.args.builder)
    record(findings, run.report, run.settings)
    run.data.update(
        {"minimums": {name: asdict(m) for name, m in HOST_MINIMUMS.items()}, "checks": [asdict(f) for f in findings]}
    )
    terminal.show(findings_table(findings))  # painted: its cells are made visible by the table
    for finding in findings:
        if (finding.name.startswith("context") or finding.name == "cache registry") and finding.output:
            print(f"\n{finding.output}")
    warned = [f.name for f in findings if f.level == "warn"]
    ok = sum(1 for f in findings if f.level == "ok")
    run.verdict = f"{ok} checks ok" + (f", warnings: {', '.join(warned)}" if warned else "") + "; next: nox -s dev"


def record(findings: Iterable[Finding], report: Report, settings: Settings) -> Report:
    """Each finding as a check of the report, its facts and the counts as properties."""
    counts = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
    for finding in findings:
        counts[finding.level] += 1
        advice = finding.advice if finding.level != "ok" else ""
        status = STATUS[finding.level]
        report.add(
            Check(finding.name, status, finding.seconds, finding.detail, finding.output, advice, finding.exit_code)
        )
        report.main.properties.update(finding.facts)
    report.main.properties.update({f"{level}_checks": str(n) for level, n in counts.items()})
    report.main.properties.update({f"minimum_{name}": m.version for name, m in HOST_MINIMUMS.items()})
    report.main.properties["project"] = settings.project
    return report


def to_report(findings: Iterable[Finding], settings: Settings) -> Report:
    return record(findings, Report("doctor"), settings)


def findings_table(findings: list[Finding]) -> str:
    rows = [(f.name, f.level, f.detail, f.advice if f.level != "ok" else "") for f in findings]
    headers = ("check", "result", "detail", "advice")
    return terminal.table(headers, rows, columns=terminal.width(), results=1, colour=terminal.colour_on())


SESSION = Session(
    name="doctor",
    summary="Check the host and the tree this project builds on; fails only on a failed check.",
    steps=CHECK_NAMES,
    body=body,
    steps_table=False,  # its own table has a column of advice
)
