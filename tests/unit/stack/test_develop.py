"""Each service's develop.watch rules, read from `docker compose config --format json` as compose 2.26 and 2.40
print it: paths made relative to the project, patterns joined to their rule's path, the rules watch cannot
follow refused in one line naming the service and the rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci.core.errors import UsageError
from ci.stack.develop import Action, Exec, WatchRule, watch_rules

ROOT = Path("/srv/shop")

# What `docker compose config --format json` printed for the same rules, 2.26.1 and 2.40.3 alike (only 2.40
# accepts `include` and `initial_sync`: they are in the 2.40 case below). `exec` is on every rule.
PRINTED = json.loads("""
{"name": "shop", "services": {
  "api": {"image": "shop-api:dev", "develop": {"watch": [
    {"path": "/srv/shop/api/src", "action": "sync", "target": "/app/src", "exec": {"command": null},
     "ignore": ["*.pyc", "tests/", "!tests/conftest.py", "/srv/shop/api/src/generated", "/elsewhere/x"]},
    {"path": "/srv/shop/api/src", "action": "sync+exec", "target": "/app/src",
     "exec": {"command": ["kill", "-HUP", "1"], "user": "root", "working_dir": "/app", "environment": {"A": "b"}}},
    {"path": "/srv/shop/requirements.txt", "action": "rebuild", "exec": {"command": null}}]}},
  "db": {"image": "postgres:16"},
  "web": {"image": "shop-web:dev", "develop": {"watch": [
    {"path": "/srv/shop", "action": "sync+restart", "target": "/srv/www/", "exec": {"command": null},
     "include": ["*.html"], "initial_sync": true},
    {"path": "/srv/shop/nginx.conf", "action": "restart", "target": "/etc/nginx/nginx.conf",
     "exec": {"command": null}}]}}}}
""")


def rules(config: dict[str, Any] = PRINTED, root: Path = ROOT) -> dict[str, tuple[WatchRule, ...]]:
    return watch_rules(config, root)


def one(rule: dict[str, Any], service: str = "api") -> WatchRule:
    return rules({"services": {service: {"develop": {"watch": [rule]}}}})[service][0]


def test_each_services_rules_are_read_in_declaration_order_and_a_service_without_any_is_left_out() -> None:
    found = rules()
    assert list(found) == ["api", "web"]
    api, web = found["api"], found["web"]
    assert [(r.index, r.path, r.action, r.target) for r in api] == [
        (1, "api/src", Action.SYNC, "/app/src"),
        (2, "api/src", Action.SYNC_EXEC, "/app/src"),
        (3, "requirements.txt", Action.REBUILD, ""),
    ]
    assert api[1].exec == Exec(("kill", "-HUP", "1"), user="root", working_dir="/app", environment=(("A", "b"),))
    assert api[0].exec is None and api[2].exec is None  # compose prints `exec: {command: null}` on every rule
    assert web[0] == WatchRule("web", 1, ".", Action.SYNC_RESTART, "/srv/www", include=("*.html",), initial_sync=True)
    assert web[1].action.restarts and not web[1].action.syncs


def test_ignore_patterns_are_relative_to_the_rules_path_and_kept_relative_to_the_project() -> None:
    """compose joins each pattern to the rule's path (an absolute one stays as it is): one outside the
    project matches none of its files."""
    assert rules()["api"][0].ignore == (
        "api/src/*.pyc",
        "api/src/tests",
        "!api/src/tests/conftest.py",
        "api/src/generated",
    )


@pytest.mark.parametrize(
    ("path", "covered"),
    [
        ("api/src/main.py", True),
        ("api/src", True),  # the rule's path itself
        ("api/src/main.pyc", False),  # ignored
        ("api/src/tests/test_main.py", False),  # below an ignored folder
        ("api/src/tests/conftest.py", True),  # `!` brings it back
        ("api/src/generated/models.py", False),  # an absolute pattern, inside the project
        ("api/srcs/main.py", False),  # a sibling that shares the rule's name as a prefix
        ("api/main.py", False),
        ("api/src/../main.py", False),  # cleaned first: api/main.py
        ("../srv/shop/api/src/x.py", False),  # outside the project
        ("/srv/shop/api/src/x.py", False),  # absolute: not a project path
    ],
)
def test_a_rule_covers_the_files_below_its_path_that_its_patterns_keep(path: str, covered: bool) -> None:
    assert rules()["api"][0].covers(path) is covered


def test_include_narrows_a_rule_and_a_rule_on_the_project_covers_all_of_it_but_what_lies_outside() -> None:
    web = rules()["web"][0]
    assert web.covers("index.html")
    assert not web.covers("app.js")
    assert not web.covers("pages/about.html")  # as in .dockerignore, `*` stops at a slash: `**/*.html` would not
    assert not web.covers("../etc/passwd.html")


@pytest.mark.parametrize(
    ("rule_path", "target", "path", "lands"),
    [
        ("/srv/shop/api/src", "/app/src", "api/src/pkg/main.py", "/app/src/pkg/main.py"),
        ("/srv/shop/api/src", "/app/src/", "api/src/main.py", "/app/src/main.py"),
        ("/srv/shop/nginx.conf", "/etc/nginx/nginx.conf", "nginx.conf", "/etc/nginx/nginx.conf"),  # a file rule
        ("/srv/shop", "/srv/www", "pages/a.html", "/srv/www/pages/a.html"),  # the project's folder
        ("/srv/shop/", "/", "a.html", "/a.html"),
    ],
)
def test_a_file_lands_at_the_target_joined_to_its_path_below_the_rules(
    rule_path: str, target: str, path: str, lands: str
) -> None:
    assert one({"path": rule_path, "action": "sync", "target": target}).container_path(path) == lands


def test_compose_2_40s_initial_sync_and_include_are_kept_and_2_26s_absence_of_them_is_their_default() -> None:
    old = one({"path": "/srv/shop/api", "action": "sync", "target": "/app", "exec": {"command": None}})
    assert (old.initial_sync, old.include) == (False, ())


def test_a_root_given_through_a_symlink_or_relative_still_places_the_rules(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "api").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    config = {
        "services": {"api": {"develop": {"watch": [{"path": str(real / "api"), "action": "sync", "target": "/a"}]}}}
    }
    assert rules(config, tmp_path / "link")["api"][0].path == "api"  # compose printed the resolved folder


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            {"path": "/srv/other/src", "action": "sync", "target": "/app"},
            "service api, develop.watch rule 1: path '/srv/other/src' is outside the project (/srv/shop)",
        ),
        (
            {"path": "/srv/shop-old/src", "action": "sync", "target": "/app"},  # shares the root's name as a prefix
            "path '/srv/shop-old/src' is outside the project",
        ),
        ({"path": "/srv/shop/../etc", "action": "sync", "target": "/app"}, "path '/srv/shop/../etc' is outside"),
        ({"path": "", "action": "rebuild"}, "path '' is outside the project"),
        (
            {"path": "/srv/shop/src", "action": "sync+reload", "target": "/app"},
            "action 'sync+reload' is not one watch knows (sync, sync+restart, sync+exec, restart, rebuild)",
        ),
        ({"path": "/srv/shop/src", "action": "sync", "target": "app/src"}, "target 'app/src' is not an absolute"),
        ({"path": "/srv/shop/src", "action": "sync+restart"}, "target '' is not an absolute path"),
        (
            {"path": "/srv/shop/src", "action": "sync+exec", "target": "/app", "exec": {"command": None}},
            "action sync+exec has no exec command",
        ),
    ],
)
def test_a_rule_watch_cannot_follow_is_refused_in_one_line_naming_the_service_and_the_rule(
    rule: dict[str, Any], said: str
) -> None:
    with pytest.raises(UsageError, match=r"^compose\.yaml: service api, develop\.watch rule 1: ") as refused:
        one(rule)
    assert said in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_later_rule_is_named_by_its_place_and_the_first_refusal_stops_the_reading() -> None:
    config = {"services": {"api": {"develop": {"watch": [
        {"path": "/srv/shop/a", "action": "sync", "target": "/a"},
        {"path": "/srv/shop/b", "action": "bogus", "target": "/b"},
    ]}}}}  # fmt: skip
    with pytest.raises(UsageError, match="rule 2: action 'bogus'"):
        rules(config)


def test_an_exec_environment_given_as_a_list_and_a_variable_without_a_value_are_read() -> None:
    rule = one({"path": "/srv/shop/a", "action": "sync+exec", "target": "/a",
                "exec": {"command": ["true"], "environment": ["B=2", "A=1=1", "C"], "privileged": True}})  # fmt: skip
    assert rule.exec == Exec(("true",), environment=(("A", "1=1"), ("B", "2"), ("C", "")), privileged=True)
    mapped = one({"path": "/srv/shop/a", "action": "sync+exec", "target": "/a",
                  "exec": {"command": ["true"], "environment": {"C": None}}})  # fmt: skip
    assert mapped.exec is not None and mapped.exec.environment == (("C", ""),)


def test_no_services_or_no_develop_section_is_no_rules() -> None:
    assert rules({}) == {}
    assert rules({"services": {"api": {"image": "x", "develop": {}}, "db": {"develop": {"watch": []}}}}) == {}
