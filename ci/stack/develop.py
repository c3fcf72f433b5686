"""Each service's `develop.watch` rules, as compose itself resolves them (`docker compose config --format json`):
the same rules a team writes for `docker compose watch`, for `nox -s watch` (ci/watch/plan.py).

What compose prints, checked with 2.26.1 (the host's) and 2.40.3 (the newest plugin): a list under
`services.NAME.develop.watch`, each rule with `path` made absolute (from the project's folder, itself resolved
when reached through a symlink; a symlink below it left as it is), `action`, `target` (absent for `rebuild`;
compose refuses a rule without one for the other actions), `ignore` when given, and `exec: {command: null}`
on every rule (`command` a list, a string split into one, for `sync+exec`; `user`, `working_dir`,
`environment` as given). Both accept the actions `sync`, `sync+restart`, `sync+exec`, `restart` and `rebuild`
and refuse any other; only 2.40 accepts `include` and `initial_sync` (2.26 refuses the file: "Additional
property initial_sync is not allowed"). `x-initialSync` appears in neither's output. Neither checks that the
path lies in the project, or that the target is absolute.

The patterns of `ignore` and `include` are relative to the rule's path, as compose's
pkg/watch/dockerignore.go `NewDockerPatternMatcher` joins each to it (a pattern already absolute stays so);
they are kept here joined to the rule's path and relative to the project, matched as moby/patternmatcher does
(ci/sources/build_context.py `matches`). Since 2.32 compose drops every non-`!` pattern of a list holding `*`;
2.26 does not: this reads them as 2.26 and the matcher do, where a rule leaves more files out, and a file
that no rule syncs is rebuilt (ci/watch/plan.py), never left stale.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ci.core.errors import UsageError
from ci.sources.build_context import go_clean, matches


class Action(StrEnum):
    """What a rule does when one of its files changes (compose's WatchAction)."""

    SYNC = "sync"
    SYNC_RESTART = "sync+restart"
    SYNC_EXEC = "sync+exec"
    RESTART = "restart"  # restart the container; nothing copied
    REBUILD = "rebuild"

    @property
    def syncs(self) -> bool:
        return self in (Action.SYNC, Action.SYNC_RESTART, Action.SYNC_EXEC)

    @property
    def restarts(self) -> bool:
        return self in (Action.SYNC_RESTART, Action.RESTART)


@dataclass(frozen=True)
class Exec:
    """The command a `sync+exec` rule runs in the container after its files are copied."""

    command: tuple[str, ...]
    user: str = ""
    working_dir: str = ""
    environment: tuple[tuple[str, str], ...] = ()  # name, value, sorted by name
    privileged: bool = False


@dataclass(frozen=True)
class WatchRule:
    """One rule of a service's `develop.watch`; `index` counts them in declaration order from 1 (compose's own
    messages count from 0: `develop.watch.0`)."""

    service: str
    index: int
    path: str  # relative to the project, slash-separated; "." for the project's folder itself
    action: Action
    target: str = ""  # absolute, in the container; empty for rebuild
    ignore: tuple[str, ...] = ()  # relative to the project: each pattern joined to `path` as compose does
    include: tuple[str, ...] = ()  # likewise; empty: every file under `path` (compose 2.40 and later)
    exec: Exec | None = None  # sync+exec's command
    initial_sync: bool = False  # compose 2.40 and later: sync when watch starts

    def covers(self, path: str) -> bool:
        """Whether the rule acts on a change to PATH (relative to the project): PATH is the rule's path or
        below it (compose's internal/paths `IsChild`), its `include` matches it and its `ignore` does not
        (pkg/compose/watch.go `watchRule.Matches`)."""
        path = go_clean(path)
        if path.startswith(("/", "../")) or path == "..":
            return False  # outside the project, where no rule's path lies
        if self.path != "." and path != self.path and not path.startswith(self.path + "/"):
            return False
        if self.include and not matches(path, list(self.include)):
            return False
        return not (self.ignore and matches(path, list(self.ignore)))

    def container_path(self, path: str) -> str:
        """Where PATH (relative to the project, covered by the rule) lands in the container: the target joined
        to PATH relative to the rule's path, as compose maps it."""
        path = go_clean(path)
        rel = path if self.path == "." else path[len(self.path) :].lstrip("/")
        return posixpath.join(self.target, rel) if rel else self.target


def watch_rules(config: Mapping[str, Any], root: Path) -> dict[str, tuple[WatchRule, ...]]:
    """The `develop.watch` rules of `docker compose config --format json` (CONFIG), by service, in compose's
    order; a service without any is not in it. ROOT: the project's folder, which every rule's path must lie
    in (watch syncs and proves the project's files alone). UsageError, one line naming the service and the
    rule: a path outside ROOT, an action watch does not know, a syncing rule whose target is not an absolute
    path in the container (compose copies it from `/` but deletes it from the working directory), a
    `sync+exec` without a command."""
    found = {}
    for name, raw in sorted((config.get("services") or {}).items()):
        develop = raw.get("develop") if isinstance(raw, Mapping) else None
        rules = develop.get("watch") if isinstance(develop, Mapping) else None
        if rules:
            found[str(name)] = tuple(_rule(str(name), i, each, root) for i, each in enumerate(rules, 1))
    return found


def _rule(service: str, index: int, raw: Mapping[str, Any], root: Path) -> WatchRule:
    where = f"compose.yaml: service {service}, develop.watch rule {index}"
    value = str(raw.get("action") or "")
    try:
        action = Action(value)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise UsageError(f"{where}: action {value!r} is not one watch knows ({known})") from None
    path = _relative(str(raw.get("path") or ""), root)
    if path is None:
        raise UsageError(
            f"{where}: path {raw.get('path')!r} is outside the project ({root}); watch syncs its files alone"
        )
    target = str(raw.get("target") or "")
    if action.syncs and not target.startswith("/"):
        raise UsageError(f"{where}: target {target!r} is not an absolute path in the container")
    command = (raw.get("exec") or {}).get("command") or []
    if action == Action.SYNC_EXEC and not command:
        raise UsageError(f"{where}: action sync+exec has no exec command")
    return WatchRule(
        service=service,
        index=index,
        path=path,
        action=action,
        target=posixpath.normpath(target) if target else "",
        ignore=_patterns(raw.get("ignore"), path, root),
        include=_patterns(raw.get("include"), path, root),
        exec=_exec(raw.get("exec") or {}) if action == Action.SYNC_EXEC else None,
        initial_sync=bool(raw.get("initial_sync")),
    )


def _relative(path: str, root: Path) -> str | None:
    """PATH (absolute, as compose prints it) relative to ROOT, slash-separated; None when outside it. Taken
    lexically (compose watches the path as written, a symlink as a link), against ROOT as given and as
    resolved: compose may print either."""
    if not path:
        return None
    absolute = Path(os.path.normpath(path))
    for base in (Path(os.path.normpath(root.absolute())), root.resolve()):
        if absolute.is_relative_to(base):
            return absolute.relative_to(base).as_posix() or "."
    return None


def _patterns(raw: object, path: str, root: Path) -> tuple[str, ...]:
    """A rule's patterns joined to its PATH, relative to the project (`!` kept in front). One made absolute
    outside the project matches none of its files and is left out."""
    found = []
    for each in raw if isinstance(raw, list) else []:
        text = str(each).strip()
        exception = text.startswith("!")
        text = text.removeprefix("!")
        if not text:
            continue
        if text.startswith("/"):
            rel = _relative(text, root)
            if rel is None:
                continue
        else:
            rel = go_clean(posixpath.join(path, text))
        found.append(("!" if exception else "") + rel)
    return tuple(found)


def _exec(raw: Mapping[str, Any]) -> Exec:
    environment = raw.get("environment") or {}
    if isinstance(environment, list):  # compose accepts "NAME=value" items too
        environment = dict(str(item).partition("=")[::2] for item in environment)
    return Exec(
        command=tuple(str(c) for c in raw.get("command") or ()),
        user=str(raw.get("user") or ""),
        working_dir=str(raw.get("working_dir") or ""),
        environment=tuple(sorted((str(k), "" if v is None else str(v)) for k, v in environment.items())),
        privileged=bool(raw.get("privileged")),
    )
