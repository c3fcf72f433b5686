"""The registry cache of prod builds, laid out so that a cache ref holding a good cache is never replaced by
a poorer one, whatever the order of commits.

BuildKit's cache export can write a manifest whose records carry no layers for the stages a build never
had to pull, a stage served entirely from cache (moby/buildkit#7139, #5560, #2279; docker/buildx#414,
#3878): the next fresh runner reruns them. A target whose inputs a commit left alone is such a build, so
a ref overwritten by every build forgets the dependency steps of whichever target the last commit did
not touch. Hence, for each target, beside the bake file's refs per branch:

- an identity ref, `<registry>/<project>/<target>:id-<key>`, the key a digest of what the target is built
  from (its inputs' fingerprint, its build args, its Dockerfile); written once, by the first build of that
  identity, which must run the step that writes its new build info and so holds every layer of its image;
  never again: a build whose identity the registry holds already exports nothing, the one case where
  an export could lose layers;
- cache-from that ref alone when the registry holds it: it has every layer of the image, and another
  ref's record of an equal step (a `pip install` run elsewhere) would give another image id, as BuildKit
  picks among equal records; else the refs of the target's earlier identities (its input history, newest
  first) and the branch refs: the states a revert returns to, and the builds that last ran its dependency
  steps, so a record that one ref lost is found in another (BuildKit merges the imports and takes a
  record that has its layers);
- cache-to the identity ref; the branch's ref (CACHE_BRANCH) is then tagged on the same manifest in the
  registry (two exporters to one repository race on BuildKit 0.13: a manifest PUT before its blobs,
  "400 Bad Request"). The branch ref and the default branch's are what a clone without history, or a
  plain `docker buildx bake`, still finds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci.builds.bakefile import Entry, ResolvedTarget
from ci.cache.registry import copy_tag, holds
from ci.cache.registry_api import Presence
from ci.core.settings import CacheVariables
from ci.sources.git import Commit, current_branch, toplevel
from ci.sources.git_history import Repository, TargetFiles

if TYPE_CHECKING:
    from ci.builds.bake import Plan
    from ci.builds.buildargs import BuildArgs

IDENTITY_TAG = "id-"
BRANCH_TAG = "branch-"
EARLIER_IDENTITIES = 10  # earlier states of a target's inputs imported as cache, beside its own


READABLE = 80  # characters of a branch's name kept in its tag, before its hash (a tag holds 128)
BRANCH_HASH = 12  # hex digits of the sha256 of a branch's exact name


def branch_tag(branch: str, default: str) -> str:
    """The tag of BRANCH's cache ref: `branch-<name>-<hash>`, the name with what a tag cannot hold as `-` and
    cut to 80 characters (readable), the hash 12 hex digits of the sha256 of the exact name, so that
    distinct branches never share a ref (`feature/a` and `feature-a`, names differing only in characters a
    tag cannot hold, or after their first 80). The DEFAULT branch keeps a plain `branch-<name>` where its
    name is a tag already (`main`): the ref earlier versions wrote, so the cache every build reads survives
    the change (a plain tag ends as a hashed one only for a name made as a preimage of that hash).
    docker-bake.hcl's branch_tag is the same rule, for a plain `docker buildx bake`."""
    if branch == default and re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", branch):
        return BRANCH_TAG + branch
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", branch)[:READABLE]
    digest = hashlib.sha256(branch.encode(errors="surrogateescape")).hexdigest()[:BRANCH_HASH]
    return f"{BRANCH_TAG}{readable}-{digest}"


@dataclass(frozen=True)
class Branches:
    """The branch this build caches for, and the default branch whose cache it also reads."""

    branch: str
    default: str

    @classmethod
    def of(cls, variables: CacheVariables, root: Path) -> Branches:
        """CACHE_BRANCH, else the CI's branch variable, else the checked-out branch (the default branch when
        detached); CACHE_DEFAULT_BRANCH, else `main` (VARIABLES: the settings' `cache`)."""
        default = variables.default_branch
        return cls(variables.branch or current_branch(root) or default, default)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(branch_tag(b, self.default) for b in (self.branch, self.default)))


def identity_key(target: ResolvedTarget, args: Mapping[str, str], source_digest: str) -> str:
    """The identity ref's key: what the target is built from, as the sessions pass it to bake."""
    basis = {"dockerfile": target.dockerfile, "args": {**target.args, **args}, "sources": source_digest}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:20]


def earlier_keys(
    root: Path, target: ResolvedTarget, build_args: Callable[[Commit | None], dict[str, str]], limit: int
) -> list[str]:
    """The identity keys of TARGET's committed input states, newest first (HEAD's own state first), from
    git's objects; none outside git or for a remote context."""
    top = toplevel(root)
    if top is None or target.remote:
        return []
    context = root / target.context
    files = TargetFiles.of(top, context, Path(target.dockerfile))
    if not (top / files.context).resolve().is_relative_to(top.resolve()):
        return []
    states = Repository(top).states("HEAD", files, limit=limit)
    return [identity_key(target, build_args(s.commit), s.sources.digest) for s in states]


@dataclass(frozen=True)
class TargetCache:
    """One target's registry cache in a build: the refs it reads that the registry holds, the refs it
    writes, and why it writes none."""

    target: str
    repository: str  # <registry>/<project>/<target>
    identity: str  # the tag of its identity ref
    found: tuple[str, ...]  # cache-from: refs the registry holds, its identities' newest first, then branches'
    exports: tuple[str, ...]  # the refs written: the identity ref by cache-to, then the others tagged on it
    not_exported: str = ""  # why nothing is exported
    problem: str = ""  # why the registry did not say which refs it holds (a login, a right, TLS)

    @property
    def identity_ref(self) -> str:
        return f"{self.repository}:{self.identity}"

    def override(self, ignore_error: bool, declared: Iterable[Entry] = ()) -> dict[str, Any]:
        """The target's cache entries in the bake override: cache-from is added to the bake file's (none:
        prod sets CACHE_FROM_BRANCHES=false), cache-to replaces its (bake merges the one, replaces the
        other, buildx 0.13 to 0.29), keeping the options the bake file DECLARED for it (its cache-to
        entries: the compression) but for the ref and the error rule."""
        kept = {
            k: v for entry in declared for k, v in entry.items() if k not in ("type", "ref", "mode", "ignore-error")
        }
        flags = "".join(
            f",{k}={v}" for k, v in {"mode": "max", "ignore-error": str(ignore_error).lower(), **kept}.items()
        )
        return {
            "cache-from": [f"type=registry,ref={ref}" for ref in self.found],
            "cache-to": [f"type=registry,ref={ref}{flags}" for ref in self.exports[:1]],
        }

    def tag_exported(self) -> list[str]:
        """After the build: the other refs tagged on the identity ref's manifest; the problems."""
        problems = []
        for ref in self.exports[1:]:
            problem = copy_tag(self.exports[0], ref.rpartition(":")[2])
            if problem:
                problems.append(problem)
        return problems

    def line(self, cached: int, steps: int, failed: bool = False) -> str:
        """Where its cache came from, and what became of it (FAILED: the registry failed during the
        build), in one line."""
        short = [ref.removeprefix(f"{self.repository}:") for ref in self.found]
        source = f"from {self.repository}:{{{', '.join(short)}}}" if short else "no ref in the registry yet"
        to = ", ".join(ref.removeprefix(f"{self.repository}:") for ref in self.exports)
        outcome = f"exported to {to}" if self.exports else f"not exported: {self.not_exported}"
        if self.exports and failed:
            outcome = f"export to {to} may have failed: the registry failed during the build"
        return f"{self.target} cache: {cached}/{steps} steps cached, {source}; {outcome}"

    def figures(self, failed: bool = False) -> dict[str, Any]:
        return {
            "identity_ref": self.identity_ref,
            "cache_from": list(self.found),
            "cache_to": list(self.exports),
            "not_exported": self.not_exported,
            "registry_failed": failed,
        }


@dataclass(frozen=True)
class Layout:
    """What prod decided about the registry cache, before building: where, for which branches, whether
    it may export at all (`export_problem`: why not), and whether every step reruns (--no-cache)."""

    registry: str
    project: str
    branches: Branches
    export_problem: str | None
    no_cache: bool

    def targets(
        self, root: Path, plan: Plan, resolved: Mapping[str, ResolvedTarget], build_args: BuildArgs
    ) -> dict[str, TargetCache]:
        """Each target's refs, once its identity is known (PLAN): which it reads, which it writes."""
        found = {}
        for name, target in resolved.items():
            repository = f"{self.registry}/{self.project}/{name}"
            own = IDENTITY_TAG + identity_key(target, plan.args[name], plan.prints[name].digest)
            earlier = [IDENTITY_TAG + k for k in earlier_keys(root, target, build_args, EARLIER_IDENTITIES + 1)]
            identities = [f"{repository}:{tag}" for tag in dict.fromkeys([own, *earlier])]
            branches = [f"{repository}:{tag}" for tag in self.branches.tags]
            held, problem = holds([*identities, *branches])
            whole = held[identities[0]] == "present" and not self.no_cache
            reading = (identities[0],) if whole else tuple(r for r in [*identities, *branches] if held[r] != "absent")
            why = self.not_exported(plan.identities.get(name), held[identities[0]], own)
            exports = () if why else (identities[0], branches[0])
            found[name] = TargetCache(name, repository, own, reading, exports, why, problem or "")
        return found

    def not_exported(self, identity: Commit | None, held: Presence, own: str) -> str:
        """Why a target exports no cache; "" when it does."""
        if self.export_problem:
            return self.export_problem
        if identity is None or identity.dirty:
            return "its inputs are not a commit's (uncommitted edits): no later build would find that cache"
        if held == "present" and not self.no_cache:
            # A build of an identity the registry holds is served from cache: its export could lose layers.
            return f"the registry holds its identity already ({own})"
        return ""
