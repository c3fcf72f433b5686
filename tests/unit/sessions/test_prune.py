"""The prune session without an engine: its options as parsed, its report (the figures' table, JUnit
properties)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ci import frame
from ci.core.errors import UsageError
from ci.core.report import Report, write_junit
from ci.prune import outcome
from ci.prune import plan as pr
from ci.sessions import prune
from ci.stack import owned
from tests.conftest import assert_junit_valid


def test_options_default_to_a_day_three_builds_no_budget_no_volumes() -> None:
    options = parse_options([])
    assert (options.until, options.until_delta, options.keep, options.keep_storage) == ("24h", timedelta(1), 3, 0)
    assert not options.volumes and not options.dry_run


def test_options_parse_every_argument() -> None:
    argv = ["--until", "90m", "--keep-storage", "1GB", "--keep", "5", "--volumes", "--dry-run"]
    options = parse_options(argv)
    assert options == pr.Options("90m", timedelta(minutes=90), 5, 1024**3, True, True, "1GB")


@pytest.mark.parametrize("until", ["1s", "30m"])
def test_until_below_its_floor_is_a_usage_error_naming_the_floor(until: str) -> None:
    """The build cache step is engine-wide: `--until 1s` would empty every project's cache mid-build."""
    with pytest.raises(UsageError) as err:
        parse_options(["--until", until])
    assert "\n" not in str(err.value) and f"shorter than the floor of {pr.MIN_UNTIL}" in str(err.value)


def test_an_unknown_argument_is_one_usage_line() -> None:
    with pytest.raises(UsageError) as err:
        parse_options(["--all"])
    assert "\n" not in str(err.value) and "unrecognized arguments: --all" in str(err.value)


# --- reports --------------------------------------------------------------------------------------


def figures(size: int) -> dict[str, dict[str, int]]:
    return {t: {"count": 1, "active": 0, "size": size, "reclaimable": size // 2} for t in outcome.DISK_TYPES}


def test_figures_table_and_junit_properties_carry_before_after_and_reclaimed(tmp_path: Path) -> None:
    outcome = prune.Outcome(
        options=parse_options(["--keep-storage", "1GB"]),
        tools={"engine": "26.1.5", "buildx": "0.13.1", "buildkit": "unknown", "space_flag": "--keep-storage"},
        before=figures(3000),
        after=figures(1000),
        plan=pr.Plan(remove=[owned.Item("image", "sha256:x", "x", 1500, "dangling")]),
        cache_pruned=500,
    )
    rows = {line.split("  ")[0]: line.split()[-6:] for line in prune.figures_table(outcome, dry_run=False).splitlines()}
    assert rows["build cache"] == ["500", "B", "2.0", "kB", "0", "B"]  # ... after reclaimable, reclaimed, planned
    assert rows["total"] == ["2.0", "kB", "8.0", "kB", "1.5", "kB"]
    props = prune._properties(outcome)
    assert props["images_size_bytes_before"] == "3000" and props["build_cache_reclaimable_bytes_after"] == "500"
    assert props["reclaimed_bytes"] == "8000" and props["planned_bytes"] == "1500"
    assert props["keep_storage_bytes"] == str(1024**3) and props["space_flag"] == "--keep-storage"
    assert props["build_cache_scope"] == "engine-wide"
    report = Report("prune")
    report.main.properties.update(props)
    with report.step("before"):
        pass
    report.skip(prune.SESSION.steps, "dry run")
    assert_junit_valid(write_junit(report, tmp_path / "junit-prune.xml"))


def test_the_plan_line_and_prune_json_say_the_build_cache_is_engine_wide() -> None:
    cache = [pr.CacheRecord("r", "regular", False, False, None, 10, "")]
    plan = pr.Plan(remove=[owned.Item("image", "sha256:x", "x", 1500, "dangling")], cache=cache)
    line = outcome.plan_line(plan, dry_run=True)
    assert line.startswith("0 containers, 1 image, 0 volumes of this project, 1 build cache record engine-wide: ")
    data = outcome.data(prune.Outcome(plan=plan), "p")
    assert data["build_cache_scope"] == "engine-wide"


def test_the_last_line_says_what_the_engine_reclaimed_and_names_the_plans_figure_an_estimate() -> None:
    """The trial: the plan counted 179.4 MB of images, `docker system df` showed nothing reclaimed (their
    layers stayed): the line must not say "freed 179.4 MB"."""
    plan = pr.Plan(remove=[owned.Item("image", "sha256:x", "x", 179_400_000, "dangling")])
    unchanged = prune.Outcome(before=figures(3000), after=figures(3000), plan=plan)
    assert outcome.verdict(unchanged, plan, dry_run=False) == (
        "the engine reclaimed 0 B (docker system df, before and after); the plan estimated 179.4 MB "
        "(0 containers, 1 image, 0 volumes of this project, 0 build cache records engine-wide)"
    )
    freed = prune.Outcome(before=figures(3000), after=figures(1000), plan=plan)
    assert outcome.verdict(freed, plan, dry_run=False).startswith("the engine reclaimed 8.0 kB (docker system")
    grew = prune.Outcome(before=figures(1000), after=figures(1500), plan=plan)
    assert outcome.verdict(grew, plan, dry_run=False).startswith(
        "the engine reclaimed nothing it could count (its use grew 2.0 kB meanwhile: other work)"
    )
    assert outcome.verdict(prune.Outcome(plan=plan), plan, dry_run=True) == (
        "would free an estimated 179.4 MB (0 containers, 1 image, 0 volumes of this project, "
        "0 build cache records engine-wide)"
    )


def parse_options(argv: list[str]) -> pr.Options:
    """prune's options as the frame parses its arguments."""
    options: pr.Options = frame.parse_arguments(prune.SESSION, argv).options
    return options
