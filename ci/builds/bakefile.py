"""The bake file: read as text (its groups, its variables' defaults) for what must work even when buildx
cannot resolve it, and its resolved definition (`bake --print`) read in one shape for every buildx."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci.core.settings import VARIABLES, Settings

# BuildKit's own SBOM generator, from Docker Hub: the one prod names when SBOM_GENERATOR is not set (ci/provision
# sets it to the host's own). prod asks for an SBOM only where the builder resolves the generator, doctor says
# whether it does.
SBOM_SCANNER = VARIABLES["SBOM_GENERATOR"].default


def bake_groups(bake_text: str) -> list[str]:
    """The group names declared in an HCL bake file, in order."""
    return list(dict.fromkeys(re.findall(r'^\s*group\s+"([^"]+)"', bake_text, re.M)))


# `variable "NAME" {` at the start of a line (HCL takes the label quoted or bare); a commented-out one is not.
_VARIABLE = re.compile(r'^[ \t]*variable[ \t]+"?([A-Za-z_][A-Za-z0-9_-]*)"?[ \t]*\{', re.M)


def bake_variables(bake_text: str) -> list[str]:
    """The variables an HCL bake file declares, in order: those bake reads from its environment."""
    return list(dict.fromkeys(_VARIABLE.findall(bake_text)))


def bake_environment(settings: Settings) -> dict[str, str]:
    """What bake is given beneath a session's own variables: the host's defaults, and every variable the
    bake file declares as the settings' view sets it (exported, .env or the host's), as compose is given .env.
    buildx reads exported variables by itself; .env it never reads."""
    try:
        declared = bake_variables(settings.bake_file.read_text())
    except OSError:
        declared = []
    return {**settings.host_defaults, **{name: settings.env[name] for name in declared if name in settings.env}}


# --- the resolved definition (`bake --print`) -------------------------------------------------------------

Entry = dict[str, str]


def entries(value: object) -> tuple[Entry, ...]:
    """A list-of-specs field (cache-from, cache-to, output, attest) as key/value entries, whichever form
    buildx printed: strings "type=registry,ref=x,mode=max" up to 0.18, objects {"type": ..., "ref": ...}
    for cache and output from 0.19 and attest from 0.20."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    found = []
    for item in items:
        if isinstance(item, dict):
            found.append({str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in item.items()})
        elif isinstance(item, str) and item.strip():
            pairs = (part.partition("=") for part in item.split(",") if part.strip())
            found.append({k.strip(): v.strip() for k, _, v in pairs})
    return tuple(found)


@dataclass(frozen=True)
class ResolvedTarget:
    """One target of `bake --print`, the fields this project reads, in one shape for every buildx."""

    name: str
    context: str = "."  # as bake resolved it: relative to the working directory, or absolute
    dockerfile: str = "Dockerfile"  # relative to the context, or absolute
    inline: bool = False  # dockerfile-inline: no Dockerfile on disk
    args: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    cache_from: tuple[Entry, ...] = ()
    cache_to: tuple[Entry, ...] = ()
    output: tuple[Entry, ...] = ()
    attest: tuple[Entry, ...] = ()
    contexts: dict[str, str] = field(default_factory=dict)  # named contexts: a folder, an image, a target

    @property
    def remote(self) -> bool:
        """A git or URL context: nothing on this disk."""
        return _remote(self.context)

    def context_path(self, root: Path) -> Path:
        return (root / self.context).resolve()

    def dockerfile_path(self, root: Path) -> Path | None:
        """Its Dockerfile on this disk (bake resolved ROOT's definition); None for a remote context or an
        inline Dockerfile."""
        if self.remote or self.inline:
            return None
        dockerfile = Path(self.dockerfile)
        return dockerfile if dockerfile.is_absolute() else self.context_path(root) / dockerfile

    def outside(self, root: Path) -> str | None:
        """Why this target reads a folder or file outside the project ROOT, symlinks followed (its context, a
        named context, its Dockerfile), in one line naming it; None when it reads none. The suite fingerprints
        every file of a context into the build record, and buildx would be granted reading it."""
        top = root.resolve()
        local = {"context": self.context} if not self.remote else {}
        local |= {f"context {name}": path for name, path in self.contexts.items() if not _remote(path)}
        if not self.inline and not self.remote:
            local["dockerfile"] = str(Path(self.context) / self.dockerfile)
        for what, path in local.items():
            resolved = (top / path).resolve()
            if not resolved.is_relative_to(top):
                return (
                    f"target {self.name}: its {what} {path} is outside the project ({resolved} is not under {top}): "
                    "keep every context and Dockerfile in the project"
                )
        return None

    def cache_refs(self, field_name: str = "cache_from") -> list[str]:
        return [e["ref"] for e in getattr(self, field_name) if "ref" in e]


def resolved_targets(definition: Mapping[str, Any]) -> dict[str, ResolvedTarget]:
    """The targets of a resolved bake definition, sorted by name."""
    found = {}
    for name, raw in sorted((definition.get("target") or {}).items()):
        found[name] = ResolvedTarget(
            name=name,
            context=str(raw.get("context") or "."),
            dockerfile=str(raw.get("dockerfile") or "Dockerfile"),
            inline="dockerfile-inline" in raw,
            args={str(k): str(v) for k, v in (raw.get("args") or {}).items()},
            tags=tuple(str(t) for t in raw.get("tags") or ()),
            cache_from=entries(raw.get("cache-from")),
            cache_to=entries(raw.get("cache-to")),
            output=entries(raw.get("output")),
            attest=entries(raw.get("attest")),
            contexts={str(k): str(v) for k, v in (raw.get("contexts") or {}).items()},
        )
    return found


def outside(root: Path, targets: Iterable[ResolvedTarget]) -> str | None:
    """The first of TARGETS that reads outside the project ROOT, as one line (ResolvedTarget.outside)."""
    return next(filter(None, (target.outside(root) for target in targets)), None)


def _remote(context: str) -> bool:
    """A context that is not a folder on this disk: a git or URL context, an image, another target."""
    return re.match(r"^[a-z][a-z0-9+.-]*://|^git@|^target:", context) is not None
