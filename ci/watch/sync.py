"""A sync turn's work, and what a synced container is held to afterwards.

`carry`: a service's part of a burst's plan (ci/watch/plan.py `Sync`) put into its running container: the
files copied (owned by the container's user), the deleted ones removed, the restart or the commands its rules
ask, the container waited for by the one health rule (ci/stack/live.py), then the proof (ci/watch/proof.py):
every synced path read back and held to the tree. A copy, delete, restart, command or wait that fails is
CiError; a proof that fails is the answer's, typed.

`at_tree`: a container synced earlier (its entry in the sync record, ci/builds/synced.py) is at the tree only
while the tree's fingerprint is the one recorded at the sync AND every rule's path, read back whole, is the
tree's: verify's source check and watch's start ask it. A file only in the container that its image was not
built from (build-info.json, written by the build) is the image's, not a sync's: not a difference.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ci import docker as dk
from ci.builds.record import TargetRecord
from ci.builds.synced import ServiceSync, SyncedRule, read_synced
from ci.core.errors import CiError
from ci.core.units import short_id
from ci.sources.fingerprint import fingerprint
from ci.sources.identity import Inputs
from ci.stack import live
from ci.stack.develop import Action, WatchRule
from ci.stack.services import Job
from ci.watch.plan import Copy, Sync
from ci.watch.proof import Difference, Proof, Synced, Why, compare_tree, prove_sync


@dataclass(frozen=True)
class Carried:
    proof: Proof
    sync_seconds: float  # the copy, the delete, the restart and the commands
    up_seconds: float  # the wait for health after them


def carry(
    engine: dk.Engine, service: str, container: str, sync: Sync, root: Path, user: dk.ContainerUser,
    jobs: Mapping[str, Job] | None = None,
) -> Carried:  # fmt: skip
    """SYNC of SERVICE put into CONTAINER (an id) from the tree at ROOT, by USER's ownership, and proven.
    Raises CiError (docker's line) when a step before the proof fails."""
    start = time.monotonic()
    dk.copy_into(engine, container, [dk.CopyFile(root / c.local, c.container) for c in sync.copies], user)
    dk.delete_paths(engine, container, list(sync.deletes))
    with dk.container_events(engine, ("health_status", "die")) as events:
        if sync.restart:
            dk.restart_container(engine, container)
        for command in sync.execs:  # after the restart, in declaration order, as compose 2.40 runs them
            dk.run_in(engine, container, command.command, user=command.user, workdir=command.working_dir,
                      environment=dict(command.environment), privileged=command.privileged)  # fmt: skip
        synced = time.monotonic()
        live.wait_healthy(engine, [service], events, jobs)
    up = time.monotonic()
    proof = prove_sync(engine, container, [Synced(root / c.local, c.container) for c in sync.copies],
                       list(sync.deletes), user)  # fmt: skip
    return Carried(proof, synced - start, up - synced)


def entry_of(
    sync: Sync, container: dk.ContainerInfo, rules: Sequence[WatchRule], inputs: Inputs, tree_digest: str
) -> ServiceSync:
    """The sync record's entry for a proven SYNC onto CONTAINER: its image, the tree's fingerprint at the sync
    (TREE_DIGEST), the service's sync RULES, now."""
    return ServiceSync(
        container=container.id,
        image=container.image,
        tree_digest=tree_digest,
        proven=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        rules=tuple(SyncedRule(r.path, r.target, r.ignore, r.include) for r in rules if r.action.syncs),
        files=tuple(sorted(c.container for c in sync.copies)),
        deleted=tuple(sorted(sync.deletes)),
    )


def tree_digest(inputs: Inputs) -> str:
    return fingerprint(inputs.context, inputs.dockerfile).digest


# --- a synced container, held to the tree ---------------------------------------------------------------------


def ignored_by(rule: SyncedRule, inputs: Inputs, root: Path) -> Callable[[str], bool]:
    """What compare_tree leaves out under RULE's path: what the rule does not cover (its ignore, its include)
    and what the target's inputs leave out (their ignore file)."""
    as_rule = WatchRule("", 0, rule.path, Action.SYNC, rule.target, rule.ignore, rule.include)

    def ignored(rel: str) -> bool:
        path = rel if rule.path == "." else posixpath.join(rule.path, rel)
        return not as_rule.covers(path) or not inputs.includes(root / path)

    return ignored


def at_tree(
    engine: dk.Engine, root: Path, service: str, entry: ServiceSync, inputs: Inputs, built: TargetRecord
) -> str:
    """Whether the container of ENTRY (SERVICE's, synced) is at the tree: the line that says so, or CiError
    naming what differs. BUILT: the build record's build of its target, which must be the image it runs; every
    input no sync rule covers (a requirements file, the Dockerfile) must be as that build had it, as no sync
    carries it; a file only in the container that the build was not made from is the build's own."""
    root = root.resolve()
    advice = "save it again under `nox -s watch`, or rebuild (`nox -s dev`)"
    if built.image_id != entry.image:
        raise CiError(
            f"{service}: synced onto {short_id(entry.image)}, but the build record's is {short_id(built.image_id)}: "
            "rebuild (`nox -s dev`)"
        )
    now = fingerprint(inputs.context, inputs.dockerfile)
    if now.digest != entry.tree_digest:
        raise CiError(
            f"{service}: synced from the tree at {short_id(entry.tree_digest)} onto {short_id(entry.image)}, "
            f"but the tree is now {now.short}: {advice}"
        )
    carried = uncarried(entry.rules, inputs, root, now.files, built.files)
    if carried:
        raise CiError(
            f"{service}: {carried[0]} differs from its image's build and no sync rule carries it: "
            "rebuild (`nox -s dev`)"
        )
    user = dk.container_user(engine, entry.container)
    found: list[Difference] = []
    for rule in entry.rules:
        compared = compare_tree(engine, entry.container, root / rule.path, rule.target,
                                ignored_by(rule, inputs, root), user)  # fmt: skip
        found += [d for d in compared.differences if not _built_by_image(d, rule, inputs, root, built.files)]
    if found:
        more = f"; and {len(found) - 1} more" if len(found) > 1 else ""
        raise CiError(f"{service}: synced container differs from the tree: {found[0]}{more}: {advice}")
    return f"synced from the tree onto {short_id(entry.image)} built from an earlier tree ({entry.line()})"


def uncarried(
    rules: Sequence[SyncedRule], inputs: Inputs, root: Path, now: Mapping[str, str], built: Mapping[str, str]
) -> list[str]:
    """The inputs (NOW: the tree's, by path in the context) that differ from the image's build (BUILT) and that
    no sync rule of RULES covers: what the container cannot have, whatever its syncs. The Dockerfile and its
    ignore file are never carried, whatever rule covers them: they make the image (as ci/watch/plan.py has it)."""
    as_rules = [WatchRule("", 0, r.path, Action.SYNC, r.target, r.ignore, r.include) for r in rules]
    makers = {inputs.dockerfile, inputs.ignore_file}
    found = []
    for rel in sorted(set(now) | set(built)):
        path = (inputs.context / rel).resolve()
        covered = (
            path not in makers
            and path.is_relative_to(root)
            and any(r.covers(path.relative_to(root).as_posix()) for r in as_rules)
        )
        if not covered and now.get(rel) != built.get(rel):
            found.append(rel)
    return found


def _built_by_image(found: Difference, rule: SyncedRule, inputs: Inputs, root: Path, built: Mapping[str, str]) -> bool:
    """Whether FOUND is a file only in the container that the image made itself (not one it was built from)."""
    if found.why != Why.EXTRA:
        return False
    rel = posixpath.relpath(found.path, rule.target)
    tree = (root / rule.path / rel) if rel != "." else root / rule.path
    return not tree.is_relative_to(inputs.context) or tree.relative_to(inputs.context).as_posix() not in built


# --- a running container, brought to the tree at watch's start ---------------------------------------------


@dataclass(frozen=True)
class CatchUp:
    """A service's container against the tree as watch starts: SYNC carries what differs (nothing: at the tree),
    or REBUILD says why no sync can bring it there."""

    sync: Sync | None = None
    rebuild: str = ""
    compared: int = 0  # files compared by content, on both sides
    files: tuple[str, ...] = ()  # what SYNC carries as a turn's line shows it: the tree's paths, "P (deleted)"

    @property
    def differs(self) -> bool:
        return self.sync is not None and bool(self.sync.copies or self.sync.deletes)


def synced_rule(rule: WatchRule) -> SyncedRule:
    return SyncedRule(rule.path, rule.target, rule.ignore, rule.include)


def catch_up(
    engine: dk.Engine, root: Path, service: str, container: str, rules: Sequence[WatchRule], inputs: Inputs,
    built: TargetRecord, user: dk.ContainerUser,
) -> CatchUp:  # fmt: skip
    """SERVICE's running CONTAINER (an id, running BUILT's image) against the tree at ROOT, by content, never
    by time: every file under each sync rule's path read back and compared both ways (edits and deletions made
    while nothing watched, a sync of an earlier tree, a file copied in by hand). What differs is what its sync
    carries (the restart or command of each rule it touches); an input no sync rule carries that differs from
    BUILT (a requirements file, the Dockerfile) is a rebuild. A container that cannot be read is CiError."""
    root = root.resolve()
    syncing = [r for r in rules if r.action.syncs]
    now = fingerprint(inputs.context, inputs.dockerfile)
    carried = uncarried([synced_rule(r) for r in syncing], inputs, root, now.files, built.files)
    if carried:
        return CatchUp(rebuild=f"{carried[0]} differs from its image's build and no sync rule carries it")
    copies: dict[str, Copy] = {}
    deletes: dict[str, str] = {}  # the container's path: the tree's
    touched: list[WatchRule] = []
    compared = 0
    for rule in syncing:
        kept = synced_rule(rule)
        found = compare_tree(engine, container, root / rule.path, rule.target, ignored_by(kept, inputs, root), user)
        differences = [d for d in found.differences if not _built_by_image(d, kept, inputs, root, built.files)]
        compared += found.same + len(found.differences)
        if not differences:
            continue
        touched.append(rule)
        extra = {d.path for d in differences if d.why == Why.EXTRA}
        for pair in found.to_copy:
            copies[pair.container] = Copy(pair.tree.relative_to(root).as_posix(), pair.container)
        for path in found.to_delete:
            if path in extra:
                deletes[path] = posixpath.normpath(posixpath.join(rule.path, posixpath.relpath(path, rule.target)))
    execs = tuple(r.exec for r in touched if r.exec is not None)
    sync = Sync(service, tuple(copies.values()), tuple(deletes), any(r.action.restarts for r in touched), execs)
    files = sorted([c.local for c in copies.values()] + [f"{p} (deleted)" for p in deletes.values()])
    return CatchUp(sync, compared=compared, files=tuple(files))


SyncCheck = Callable[[str, dk.ContainerInfo, TargetRecord], str]


def checker(engine: dk.Engine, root: Path, reports_dir: Path, project: str) -> SyncCheck:
    """verify's question about a service (its name, its container, its target's build): "" when no sync
    speaks of its container, else at_tree's line (or its CiError)."""
    record = read_synced(reports_dir, project)

    def check(service: str, container: dk.ContainerInfo, target: TargetRecord) -> str:
        entry = record.of(service, container.id)
        if entry is None:
            return ""
        inputs = Inputs.of(root / target.context, Path(target.dockerfile))
        return at_tree(engine, root, service, entry, inputs, target)

    return check
