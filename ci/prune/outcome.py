"""What `nox -s prune` found and did, and how it reads: `docker system df` before and after, the plan
(ci/prune/plan.py), what was removed and what the engine refused or kept (`Outcome`); its lines, the plan's
table and the figures' table on screen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ci import docker as dk
from ci.core import terminal
from ci.core.units import human
from ci.prune.plan import CACHE_SCOPE, Options, Plan
from ci.stack.owned import Item

DISK_TYPES = tuple(dk.DISK_TYPES.values())


@dataclass
class Outcome:
    """What the run found and did: prune.json, JUnit properties and the tables come from it."""

    options: Options | None = None
    tools: dict[str, str] = field(default_factory=dict)
    before: dict[str, dk.DiskUse] = field(default_factory=dict)
    after: dict[str, dk.DiskUse] = field(default_factory=dict)
    plan: Plan | None = None
    removed: list[Item] = field(default_factory=list)
    refused: list[Item] = field(default_factory=list)
    cache_pruned: int | None = None
    forgotten: list[str] = field(default_factory=list)  # ledger entries whose image was gone already

    def reclaimed(self) -> dict[str, int]:
        """Per type, the size `docker system df` lost between before and after (other work on the engine
        meanwhile shows too), and the total."""
        if not (self.before and self.after):
            return {}
        delta = {t: self.before[t]["size"] - self.after[t]["size"] for t in DISK_TYPES}
        return {**delta, "total": sum(delta.values())}

    def planned(self) -> dict[str, int]:
        if self.plan is None:
            return {}
        kinds = {"images": "image", "containers": "container", "volumes": "volume", "build_cache": "build cache"}
        per = {t: self.plan.size_of(k) for t, k in kinds.items()}
        return {**per, "total": sum(per.values())}


def plan_line(plan: Plan, *, dry_run: bool) -> str:
    verb = "would free" if dry_run else "frees"
    counts = ", ".join(terminal.plural(len(plan.of(k)), k) for k in ("container", "image", "volume"))
    cache = terminal.plural(len(plan.cache), "build cache record")
    return f"{counts} of this project, {cache} {CACHE_SCOPE}: {verb} {human(plan.size_of())}"


def verdict(outcome: Outcome, plan: Plan, *, dry_run: bool) -> str:
    """The last line. A prune: what the engine reclaimed by its own count (`docker system df` before and
    after), then the plan's estimate, named as such (image sizes are what removing each would free by
    docker's count: layers another image still uses, or content the store keeps, stay). A dry run: the
    estimate alone."""
    scope = plan_line(plan, dry_run=dry_run).split(":")[0]
    estimate = f"an estimated {human(plan.size_of())}"
    if dry_run:
        return f"would free {estimate} ({scope})"
    total = outcome.reclaimed().get("total", 0)
    engine = (
        f"the engine reclaimed {human(total)}"
        if total >= 0
        else f"the engine reclaimed nothing it could count (its use grew {human(-total)} meanwhile: other work)"
    )
    return f"{engine} (docker system df, before and after); the plan estimated {human(plan.size_of())} ({scope})"


def record(outcome: Outcome, item: Item, refused: str | None) -> None:
    if refused:
        outcome.refused.append(Item(item.kind, item.id, item.name, item.size, f"kept: {refused}", item.refs))
    else:
        outcome.removed.append(item)


def done_line(outcome: Outcome, kinds: Sequence[str]) -> str:
    parts = []
    for kind in kinds:
        done = [i for i in outcome.removed if i.kind == kind]
        refused = [i for i in outcome.refused if i.kind == kind]
        part = f"{terminal.plural(len(done), kind)} removed ({human(sum(i.size for i in done))})"
        parts.append(part + (f", {len(refused)} kept: {refused[0].why.removeprefix('kept: ')}" if refused else ""))
    return "; ".join(parts)


def describe(options: Options) -> str:
    budget = f"{options.keep_storage_text} ({options.keep_storage} bytes)" if options.keep_storage else "none"
    return (
        f"until {options.until}, keep {options.keep} builds, cache budget {budget}, "
        f"volumes {'yes' if options.volumes else 'no'}{', dry run' if options.dry_run else ''}"
    )


def figures_line(figures: Mapping[str, dk.DiskUse]) -> str:
    size = sum(f["size"] for f in figures.values())
    reclaimable = sum(f["reclaimable"] for f in figures.values())
    # docker's own figures cover the whole engine, every project's: said so beside what this prune frees.
    return f"engine-wide: {human(size)} used, {human(reclaimable)} reclaimable by docker's count"


def plan_table(plan: Plan, project: str, *, dry_run: bool) -> str:
    action = "would remove" if dry_run else "remove"
    rows = [(action, i.kind, i.name, human(i.size), i.why) for i in plan.remove]
    rows += [("keep", i.kind, i.name, "", i.why) for i in plan.keep]
    if not rows:
        return f"\nnothing of {project} to remove, no build cache unused for that long ({CACHE_SCOPE})"
    total = f"\n{action}: {human(plan.size_of())} (as `docker system df --verbose` counts it)" if plan.remove else ""
    return f"\n{terminal.table(('action', 'kind', 'name', 'size', 'why'), rows, columns=terminal.width())}{total}"


def figures_table(outcome: Outcome, *, dry_run: bool) -> str:
    """`docker system df` before and after, what changed, and what the plan frees."""
    reclaimed, planned = outcome.reclaimed(), outcome.planned()
    rows = []
    for name in (*DISK_TYPES, "total"):
        types = DISK_TYPES if name == "total" else (name,)
        sizes = [
            sum(when[t][key] for t in types)
            for when in (outcome.before, outcome.after)
            for key in ("size", "reclaimable")
        ]
        cells = [*sizes, reclaimed[name], planned.get(name, 0)]
        rows.append((name.replace("_", " "), *(human(n) for n in cells)))
    headers = ("type", "size before", "reclaimable before", "size after", "reclaimable after", "reclaimed")
    return terminal.table((*headers, "would free" if dry_run else "planned"), rows, columns=terminal.width())


def data(outcome: Outcome, project: str) -> dict[str, Any]:
    """prune.json: the options, tools, figures, the plan, what was removed and refused."""
    dry_run = bool(outcome.options and outcome.options.dry_run)
    plan = outcome.plan
    return {
        "session": "prune",
        "project": project,
        "dry_run": dry_run,
        "options": {k: v for k, v in asdict(outcome.options).items() if k != "until_delta"} if outcome.options else {},
        "tools": outcome.tools,
        "before": outcome.before,
        "after": outcome.after,
        "reclaimed_bytes": outcome.reclaimed(),
        "planned_bytes": outcome.planned(),
        "plan": {
            "remove": [asdict(i) for i in plan.remove],
            "keep": [asdict(i) for i in plan.keep],
            "build_cache_records": [asdict(r) for r in plan.cache],
        }
        if plan
        else None,
        "removed": [asdict(i) for i in outcome.removed],
        "refused": [asdict(i) for i in outcome.refused],
        "build_cache_pruned_bytes": outcome.cache_pruned,
        "build_cache_scope": CACHE_SCOPE,
    }
