"""A finished build, written down: the `Build` the build phase returns (its figures per target), its record
in last-build.json (ci/builds/record.py's format, for verify and a rollback), and its report: a JUnit suite per
target, build-PROFILE.json, the table and each target's phases on screen."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ci.builds.bake import BakeFailed, Plan, TargetBuild
from ci.builds.bakefile import ResolvedTarget
from ci.builds.buildargs import utc_iso
from ci.builds.figures import phases_text
from ci.builds.ledger import builds_of, record_builds
from ci.builds.record import BuildRecord, TargetRecord, read_record, replaced_targets, with_pushed, write_record
from ci.builds.timeline import Table, failed_timeline, page, timeline
from ci.builds.trace import BuildTrace
from ci.core import terminal
from ci.core.errors import CiError
from ci.core.report import Check, Report, Suite, property_value, write_atomic, write_json
from ci.core.settings import Settings
from ci.core.units import human, short_id


@dataclass
class Build:
    """A bake of one profile (dev or prod) and what it produced."""

    profile: str
    variables: dict[str, str]
    seconds: float
    targets: list[TargetBuild]
    record: BuildRecord  # as written to last-build.json
    trace: BuildTrace = field(repr=False)  # the bake's steps, and what the registry cache did during them
    cache: dict[str, Any] = field(default_factory=lambda: {"status": "off"})
    timeline_seconds: float = 0.0  # what drawing its timeline took (what the picture costs the build)


def last_record(settings: Settings) -> BuildRecord | None:
    """The build record as the previous build left it; None when there is none this code reads (a new one
    replaces it then)."""
    try:
        return read_record(settings.reports_dir, settings.project)
    except CiError:
        return None


def target_record(t: TargetBuild, resolved: ResolvedTarget, plan: Plan) -> TargetRecord:
    args = plan.args[t.target]
    return TargetRecord(
        t.image,
        t.image_id,
        t.source_digest,
        t.files,
        resolved.context,
        resolved.dockerfile,
        args["GIT_COMMIT"],
        args["BUILD_DATE"],
        args["CACHE_BUST"],
        plan.tags[t.target],
        t.build_args_digest,
        t.build_args,
    )


def record_build(
    settings: Settings,
    profile: str,
    variables: dict[str, str],
    targets: dict[str, TargetRecord],
    earlier: BuildRecord | None,
) -> BuildRecord:
    """The record of a build of PROFILE that leaves TARGETS, written to last-build.json; it keeps the build
    each target replaces (EARLIER's), for a rollback."""
    finished = utc_iso(datetime.now(UTC))
    replaced = replaced_targets(earlier, targets)
    record = BuildRecord(profile, settings.project, variables["TAG"], finished, variables, targets, replaced)
    write_record(record, settings.reports_dir)
    record_builds(settings.reports_dir, settings.project, builds_of(record))  # what removes images reads it
    return record


def record_pushed(settings: Settings, build: Build, pushed: dict[str, str]) -> None:
    """BUILD's record rewritten with where each target of PUSHED (target -> reference by digest) was pushed."""
    build.record = with_pushed(build.record, pushed)
    write_record(build.record, settings.reports_dir)


def write_build(report: Report, settings: Settings, build: Build) -> None:
    """The build's figures: a testsuite per target in the JUnit file, build-PROFILE.json and its timeline
    beside it (build-PROFILE.html), a table on screen."""
    for t in build.targets:
        suite = Suite(t.target, properties={k: property_value(v) for k, v in t.figures().items()})
        # A suite of its own per target, with one testcase saying what was built (no suite without tests).
        image = short_id(t.image_id)
        suite.checks.append(
            Check(
                "image", seconds=t.wall_seconds, message=f"{t.image} {image}: {t.cached_steps}/{t.steps} steps cached"
            )
        )
        report.suites.append(suite)
    report.main.properties.update({k.lower(): v for k, v in build.variables.items()})
    report.main.properties["bake_seconds"] = f"{build.seconds:.3f}"
    drawn = write_timeline(settings, build)
    write_json(
        {
            "profile": build.profile,
            "variables": build.variables,
            "seconds": round(build.seconds, 3),
            "cache": build.cache,
            "targets": [t.figures() for t in build.targets],
            "timeline": drawn.name,  # beside this file
            "timeline_seconds": round(build.timeline_seconds, 4),
        },
        settings.reports_dir / f"build-{build.profile}.json",
    )
    table = build_table(build.targets)
    print("\n" + terminal.table(table.headers, table.rows, columns=terminal.width()))
    for line in filter(None, map(phases_line, build.targets)):
        print(line, flush=True)


def build_table(targets: Sequence[TargetBuild]) -> Table:
    """The table of TARGETS a build shows, on screen and in its timeline."""
    headers = ("target", "time", "steps", "cached", "hit ratio", "context", "image id", "size")
    rows = [
        (t.target, f"{t.wall_seconds:.1f}s", t.steps, t.cached_steps, f"{t.cache_hit_ratio:.0%}",
         human(t.context_bytes), short_id(t.image_id), human(t.size_bytes))
        for t in targets
    ]  # fmt: skip
    return Table(headers, rows)


def write_timeline(settings: Settings, build: Build) -> Path:
    """reports/build-PROFILE.html: the build's timeline, one file that opens offline (ci/builds/timeline.py); the
    time its drawing and writing took, in BUILD."""
    started = time.monotonic()
    drawn = timeline(build.profile, build.trace, build.targets, build.seconds, build_table(build.targets))
    written = write_atomic(settings.reports_dir / f"build-{build.profile}.html", page(drawn))
    build.timeline_seconds = time.monotonic() - started
    return written


FAILURE_LINES = 8  # of the failing step's own output, under the cause on a failed build's timeline


def write_failed_timeline(settings: Settings, profile: str, failed: BakeFailed) -> Path:
    """reports/build-PROFILE.html for a bake that FAILED: its steps as far as they went, the cause on top."""
    steps = failed.trace.failed()  # the cause first: its own output, else what buildx said before any step
    said = failed.trace.log_tail(steps[0], FAILURE_LINES) if steps else failed.trace.text[-FAILURE_LINES:]
    drawn = failed_timeline(profile, failed.trace, failed.seconds, "\n".join([str(failed), *said]))
    return write_atomic(settings.reports_dir / f"build-{profile}.html", page(drawn))


def phases_line(t: TargetBuild) -> str:
    """`backend time: steps 0.2s, image export 0.1s, unpacking 0.8s, cache export 1.6s (of 2.8s)`: the
    phases that show at a tenth of a second (the JSON keeps every one); "" when none does."""
    shown = phases_text(t.phases)
    return f"{t.target} time: {shown} (of {t.wall_seconds:.1f}s)" if shown else ""
