"""What one burst of changes asks of each service: its files synced into the running container by its
`develop.watch` rules (ci/stack/develop.py), then a restart or a command, or its image rebuilt because a sync
cannot carry the change. Pure: the paths, the rules and the targets' inputs in, the plan out; nothing is
read from the disk or the engine.

compose watch's own rules, followed here (pkg/compose/watch.go: `maybeFileEvent` and `handleWatchBatch` in
2.26, `watchRule.Matches` and `handleWatchBatch` in 2.40): every rule that matches a file acts on it, not only
the first (a file two sync rules cover is copied to both targets; a restart asked by any of them restarts);
a path is matched under a rule's path, by its `include` and `ignore` relative to that path, and only when
the build context's ignore file keeps it (here: the target's inputs, ci/sources/identity.py, the
Dockerfile's own ignore file first, as 2.40 reads it); a file gone from the tree is deleted from the
container (internal/sync/tar.go: `rm -rf`); each `sync+exec` rule's command runs once per batch, in
declaration order, after the restart (2.40; 2.26 accepts the action but only copies). Where 2.26 rebuilds a
service and skips its syncs and 2.40 does both, a rebuild here carries the whole change.

Beyond compose, what makes a rebuild (compose would leave the container running other code than the tree's):
a changed input of the image that no sync rule covers (a requirements file, a file a rule ignores), the
Dockerfile or its ignore file, a rule whose action is `rebuild`, a service with no rules (every turn of
watch before them). And a service whose target is rebuilt for another of its services (a job that runs the
backend's image) is rebuilt with it: one image per target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.sources.build_context import go_clean
from ci.sources.identity import Inputs
from ci.stack.develop import Action, Exec, WatchRule


@dataclass(frozen=True)
class Copy:
    local: str  # relative to the project
    container: str  # absolute, in the container


@dataclass(frozen=True)
class Sync:
    """A service's files brought to the tree in its running container, and what runs after."""

    service: str
    copies: tuple[Copy, ...]
    deletes: tuple[str, ...]  # container paths of files gone from the tree
    restart: bool = False  # a sync+restart or restart rule matched
    execs: tuple[Exec, ...] = ()  # each matched sync+exec rule's command, once, in declaration order

    @property
    def after(self) -> str:
        """What follows the copy, in a few words: restart, exec, restart and exec, nothing."""
        said = [w for w, on in (("restart", self.restart), ("exec", bool(self.execs))) if on]
        return " and ".join(said) or "nothing"


@dataclass(frozen=True)
class Rebuild:
    """A service whose image is rebuilt (and its container recreated), and why in a few words."""

    service: str
    target: str
    why: str  # "backend/requirements.txt is outside every sync rule", "no develop.watch rules", ...


@dataclass(frozen=True)
class Plan:
    """The burst's plan: services synced, services rebuilt, in compose's order; a service the burst does not
    touch is in neither."""

    syncs: tuple[Sync, ...] = ()
    rebuilds: tuple[Rebuild, ...] = ()

    @property
    def targets(self) -> list[str]:
        """The targets to rebuild, once each, in order."""
        return list(dict.fromkeys(r.target for r in self.rebuilds))


def plan(
    changed: Iterable[str],
    deleted: Iterable[str],
    services: Mapping[str, str],
    rules: Mapping[str, Sequence[WatchRule]],
    inputs: Mapping[str, Inputs],
    root: Path,
) -> Plan:
    """The plan of one burst. CHANGED and DELETED: its paths relative to the project (ROOT: resolved, as the
    inputs' are) as the watcher reports them, a file present and one gone (a path in both is gone); SERVICES:
    each service's target, in compose's order; RULES: each service's develop.watch rules (none: rebuilt);
    INPUTS: each target's inputs. A service is touched when a path is one of its target's inputs."""
    gone = {go_clean(p) for p in deleted}
    paths = sorted({go_clean(p) for p in changed} | gone)
    decided: dict[str, Sync | Rebuild] = {}
    for service, target in services.items():
        mine = [p for p in paths if inputs[target].includes(root / p)]
        if mine:
            decided[service] = _service(service, target, mine, gone, rules.get(service, ()), inputs[target], root)
    # One image per target: a target rebuilt for one service is rebuilt for all it runs in.
    rebuilt = {d.target: d.service for d in decided.values() if isinstance(d, Rebuild)}
    for service, each in decided.items():
        target = services[service]
        if isinstance(each, Sync) and target in rebuilt:
            decided[service] = Rebuild(service, target, f"its image {target} is rebuilt for {rebuilt[target]}")
    return Plan(
        tuple(d for d in decided.values() if isinstance(d, Sync)),
        tuple(d for d in decided.values() if isinstance(d, Rebuild)),
    )


def _service(
    service: str, target: str, paths: list[str], gone: set[str], rules: Sequence[WatchRule], inputs: Inputs, root: Path
) -> Sync | Rebuild:
    """SERVICE's part of the plan, PATHS being its target's inputs that changed (GONE: those deleted)."""
    if not rules:
        return Rebuild(service, target, "no develop.watch rules")
    copies: dict[str, Copy] = {}  # by container path: two rules landing a file at one place copy it once
    deletes: dict[str, None] = {}
    restart = False
    execs: dict[int, Exec] = {}  # by rule index: each rule's command once
    for path in paths:
        if root / path in (inputs.dockerfile, inputs.ignore_file):
            return Rebuild(service, target, f"{path} changed (what the image is built by)")
        matched = [r for r in rules if r.covers(path)]
        rebuilding = next((r for r in matched if r.action == Action.REBUILD), None)
        if rebuilding is not None:
            return Rebuild(service, target, f"{path} changed (rule {rebuilding.index}: rebuild)")
        syncing = [r for r in matched if r.action.syncs]
        if not syncing:
            return Rebuild(service, target, f"{path} is an input of its image outside every sync rule")
        for rule in syncing:
            where = rule.container_path(path)
            if path in gone:
                deletes[where] = None
            else:
                copies[where] = Copy(path, where)
            if rule.exec is not None:
                execs[rule.index] = rule.exec
        restart = restart or any(r.action.restarts for r in matched)
    return Sync(service, tuple(copies.values()), tuple(deletes), restart, tuple(execs[i] for i in sorted(execs)))
