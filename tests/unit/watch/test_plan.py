"""A burst's plan: per service, what is synced into its container by its develop.watch rules, or why its image
is rebuilt instead; on the example app's own rules and inputs, and on rules a team may write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ci.sources.identity import Inputs
from ci.stack.develop import Exec, WatchRule, watch_rules
from ci.watch.plan import Copy, Plan, Rebuild, Sync, plan
from tests.conftest import EXAMPLE

SERVICES = {"backend": "backend", "frontend": "frontend"}
EXAMPLE_INPUTS = {
    "backend": Inputs.of(EXAMPLE, Path("Dockerfile")),
    "frontend": Inputs.of(EXAMPLE, Path("Dockerfile.frontend")),
}


def example_rules() -> dict[str, tuple[WatchRule, ...]]:
    """The example's compose.yaml rules as `docker compose config` prints them: each path made absolute."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLE / "compose.yaml").read_text())
    for service in config["services"].values():
        for rule in (service.get("develop") or {}).get("watch") or []:
            rule["path"] = str((EXAMPLE / rule["path"]).resolve())
    return watch_rules(config, EXAMPLE)


def on_example(changed: list[str], deleted: tuple[str, ...] = ()) -> Plan:
    return plan(changed, deleted, SERVICES, example_rules(), EXAMPLE_INPUTS, EXAMPLE.resolve())


def test_the_example_backends_edit_is_synced_where_its_dockerfile_copies_it_then_restarted() -> None:
    found = on_example(["backend/main.py"])
    assert found == Plan(syncs=(Sync("backend", (Copy("backend/main.py", "/app/backend/main.py"),), (), True),))
    assert found.targets == []
    assert found.syncs[0].after == "restart"


def test_a_deleted_source_is_deleted_in_the_container() -> None:
    found = on_example(["backend/main.py"], ("backend/old.py",))
    assert found.syncs == (
        Sync("backend", (Copy("backend/main.py", "/app/backend/main.py"),), ("/app/backend/old.py",), True),
    )


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("requirements-docker.txt", "requirements-docker.txt is an input of its image outside every sync rule"),
        ("Dockerfile", "Dockerfile changed (what the image is built by)"),
        (".dockerignore", ".dockerignore changed (what the image is built by)"),  # which no rule names
    ],
)
def test_the_example_backends_requirements_dockerfile_and_ignore_file_rebuild_it(path: str, why: str) -> None:
    found = on_example(["backend/main.py", path])
    assert found == Plan(rebuilds=(Rebuild("backend", "backend", why),))
    assert found.targets == ["backend"]


def test_the_example_frontend_has_no_rules_and_is_rebuilt_and_the_backend_is_left_alone() -> None:
    found = on_example(["frontend/src/main.ts"])
    assert found == Plan(rebuilds=(Rebuild("frontend", "frontend", "no develop.watch rules"),))


def test_files_no_target_takes_touch_no_service() -> None:
    """A backend cache file or a README: neither is an input of either image (their ignore files)."""
    assert on_example(["backend/__pycache__/main.cpython-311.pyc", "README.md", "backend/x.py~"]) == Plan()


def test_a_burst_over_both_services_syncs_one_and_rebuilds_the_other() -> None:
    found = on_example(["frontend/src/main.ts", "backend/main.py"])
    assert [s.service for s in found.syncs] == ["backend"]
    assert found.targets == ["frontend"]


# Rules a team may write, on a context with no ignore file: every file of the project is an input.
ROOT = Path("/srv/shop")
OPEN = Inputs(ROOT, ROOT / "Dockerfile", None, ())


def rule(path: str, action: str, target: str = "", **more: Any) -> dict[str, Any]:
    return {"path": str(ROOT / path), "action": action, "target": target, **more}


def team(*raw: dict[str, Any]) -> dict[str, tuple[WatchRule, ...]]:
    return watch_rules({"services": {"api": {"develop": {"watch": list(raw)}}}}, ROOT)


def on_team(rules: dict[str, tuple[WatchRule, ...]], changed: list[str], deleted: tuple[str, ...] = ()) -> Plan:
    return plan(changed, deleted, {"api": "api"}, rules, {"api": OPEN}, ROOT)


def test_a_change_of_an_input_that_no_sync_rule_covers_rebuilds() -> None:
    rules = team(rule("src", "sync", "/app/src"))
    assert on_team(rules, ["src/a.py", "setup.cfg"]).rebuilds == (
        Rebuild("api", "api", "setup.cfg is an input of its image outside every sync rule"),
    )


def test_a_file_the_rule_ignores_is_an_input_no_sync_covers_so_a_rebuild() -> None:
    rules = team(rule("src", "sync", "/app/src", ignore=["tests/"]))
    assert on_team(rules, ["src/a.py"]).syncs[0].copies == (Copy("src/a.py", "/app/src/a.py"),)
    assert on_team(rules, ["src/tests/test_a.py"]).targets == ["api"]


def test_a_restart_rule_copies_nothing_so_an_input_under_it_alone_rebuilds() -> None:
    rules = team(rule("conf", "restart", "/etc/app"))
    assert (
        on_team(rules, ["conf/app.ini"]).rebuilds[0].why
        == "conf/app.ini is an input of its image outside every sync rule"
    )


def test_every_matching_rule_acts_as_in_compose_not_the_first_alone() -> None:
    """Two sync rules over one file: copied to both targets; the restart one of them asks is done."""
    rules = team(rule("src", "sync", "/app/src"), rule("src/static", "sync+restart", "/srv/static"))
    assert on_team(rules, ["src/static/a.css"]).syncs == (
        Sync("api", (Copy("src/static/a.css", "/app/src/static/a.css"), Copy("src/static/a.css", "/srv/static/a.css")),
             (), True),
    )  # fmt: skip
    assert on_team(rules, ["src/a.py"]).syncs[0].restart is False


def test_a_rebuild_rule_over_a_synced_file_rebuilds_whatever_the_order() -> None:
    for rules in (
        team(rule("src", "sync", "/app/src"), rule("src/schema.sql", "rebuild")),
        team(rule("src/schema.sql", "rebuild"), rule("src", "sync", "/app/src")),
    ):
        assert on_team(rules, ["src/a.py", "src/schema.sql"]).targets == ["api"]


def test_each_sync_exec_command_runs_once_per_burst_in_declaration_order_after_the_restart() -> None:
    reload, build = {"command": ["kill", "-HUP", "1"]}, {"command": ["make", "assets"]}
    rules = team(
        rule("assets", "sync+exec", "/app/assets", exec=build),
        rule("src", "sync+exec", "/app/src", exec=reload),
        rule("src/views", "sync+restart", "/app/src/views"),
    )
    found = on_team(rules, ["src/a.py", "src/b.py", "src/views/v.html", "assets/x.css"]).syncs[0]
    assert found.execs == (Exec(("make", "assets")), Exec(("kill", "-HUP", "1")))
    assert found.restart and found.after == "restart and exec"
    assert len(found.copies) == 4  # v.html once: both of its rules land it at /app/src/views/v.html


def test_a_path_both_changed_and_deleted_is_deleted_and_a_dotted_path_is_cleaned_first() -> None:
    rules = team(rule("src", "sync", "/app/src"))
    found = on_team(rules, ["src/a.py", "src/./b.py"], ("src/a.py",)).syncs[0]
    assert (found.copies, found.deletes, found.after) == (
        (Copy("src/b.py", "/app/src/b.py"),),
        ("/app/src/a.py",),
        "nothing",
    )


def test_a_path_outside_the_project_is_never_synced_by_a_rule_on_the_whole_project() -> None:
    """A context wider than the project (`..`): a file of it outside the project is an input no rule covers."""
    wide = Inputs(ROOT.parent, ROOT / "Dockerfile", None, ())
    rules = team(rule(".", "sync", "/app"))
    found = plan(["../shared/lib.py"], [], {"api": "api"}, rules, {"api": wide}, ROOT)
    assert found.rebuilds == (
        Rebuild("api", "api", "../shared/lib.py is an input of its image outside every sync rule"),
    )
    assert plan(["src/a.py"], [], {"api": "api"}, rules, {"api": wide}, ROOT).syncs[0].copies == (
        Copy("src/a.py", "/app/src/a.py"),
    )


def test_a_service_sharing_a_rebuilt_target_is_rebuilt_with_it() -> None:
    """A job running the api's image, with no rules of its own: one image per target, so the api is rebuilt
    too rather than synced onto an image about to be replaced."""
    rules = team(rule("src", "sync+restart", "/app/src"))
    found = plan(["src/a.py"], [], {"api": "api", "migrate": "api"}, rules, {"api": OPEN}, ROOT)
    assert found.syncs == ()
    assert found.rebuilds == (
        Rebuild("api", "api", "its image api is rebuilt for migrate"),
        Rebuild("migrate", "api", "no develop.watch rules"),
    )
    assert found.targets == ["api"]


def test_an_empty_burst_plans_nothing() -> None:
    assert on_team(team(rule("src", "sync", "/app/src")), []) == Plan()
