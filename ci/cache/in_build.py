"""prod's registry cache through one build: the layout of its refs from the cache plan (ci/cache/registry.py,
ci/cache/refs.py), each target's refs given to bake once its identity is known, the cache failures BuildKit built
on without, and the branch refs tagged after the build. A problem degrades the plan, or ends the build with
--strict-cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ci.builds import bake
from ci.builds.bakefile import ResolvedTarget
from ci.builds.buildargs import prod_args
from ci.builds.trace import BuildTrace
from ci.cache import refs, registry
from ci.core.errors import CiError


def layout(plan: registry.CachePlan, project: str, branches: refs.Branches, *, no_cache: bool) -> refs.Layout | None:
    """The registry cache's refs for this build; None without a registry to read."""
    if not plan.import_cache:
        return None
    problem = None if plan.export_cache else "the builder cannot export registry cache (see the cache step)"
    return refs.Layout(plan.registry, project, branches, problem, no_cache)


def per_target(
    root: Path,
    cache_plan: registry.CachePlan,
    layout: refs.Layout | None,
    refs: dict[str, refs.TargetCache],
    *,
    strict: bool,
) -> bake.PerTarget | None:
    """Each target's cache refs once its identity is known, kept in REFS for the report."""
    if layout is None:
        return None
    ignore_error = not strict

    def entries(plan: bake.Plan, resolved: dict[str, ResolvedTarget]) -> dict[str, dict[str, Any]]:
        refs.update(layout.targets(root, plan, resolved, prod_args(datetime.now(UTC))))
        for target in refs.values():
            if target.problem:
                cache_plan.degrade(f"registry cache of {target.target}: {target.problem}", strict=strict)
        declared = {name: t.cache_to for name, t in resolved.items()}
        return {name: t.override(ignore_error, declared.get(name, ())) for name, t in refs.items()}

    return entries


def tag_branches(plan: registry.CachePlan, caches: dict[str, refs.TargetCache], *, strict: bool) -> None:
    """The branch refs, tagged on the identity refs just exported; a failure degrades the cache, as an
    export's does."""
    for target in caches.values():
        for problem in target.tag_exported():
            plan.degrade(f"registry cache: {problem}", strict=strict)


def cache_problems(trace: BuildTrace, plan: registry.CachePlan, *, strict: bool) -> None:
    """Registry cache that failed during the build: BuildKit built on without it."""
    for error in trace.cache_errors():
        if strict:
            raise CiError(f"registry cache failed during the build: {error}")
        plan.degrade(f"registry cache unavailable during the build: {error}", strict=False)
