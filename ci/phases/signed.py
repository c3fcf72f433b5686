"""verify --signed, the phase: each pushed image of the latest build, by digest, held to what the sessions expect
of it. Its signature verifies with the project's public key, offline (ci/sign/cosign.py); its provenance
attestation names the commit expected (the `GIT_COMMIT` build arg the sessions give: the commit that last
changed the target's inputs, and BuildKit's `vcs:revision`, the whole tree's); its source fingerprint label is
the tree's (or `--commit REF`'s); and the tag a deploy pulls still names the digest prod pushed. One testcase
per image, one line per failure naming the service and why.

What is checked is the image its tag names in the registry now: a tag moved onto another image is caught by
that image's own failures (unsigned, other sources), and named as moved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci import docker as dk
from ci.builds.record import BuildRecord
from ci.core.errors import CiError
from ci.core.report import Check, Report
from ci.core.settings import Settings, Signing
from ci.core.units import short_id
from ci.phases.deployment import reference
from ci.sign import cosign
from ci.sources.fingerprint import fingerprint
from ci.sources.git import read_commit
from ci.sources.git_history import Repository, TargetFiles
from ci.sources.identity import Inputs, identity

COMMIT_ARG = "build-arg:GIT_COMMIT"  # the target's identity, as the sessions give it (ci/builds/buildargs.py)
SOURCES_LABEL = f"label:{dk.SOURCE_DIGEST_LABEL}"


@dataclass(frozen=True)
class Expected:
    """What one pushed image must be: TAG (what a deploy pulls), PUSHED (`REPO@sha256:...`, prod's record), the
    target's identity GIT_COMMIT, the whole tree's REVISION ("" unknown: not checked) and its SOURCE_DIGEST."""

    target: str
    tag: str
    pushed: str
    git_commit: str
    revision: str
    source_digest: str

    @property
    def pushed_digest(self) -> str:
        return self.pushed.rsplit("@", 1)[1]

    @property
    def repository(self) -> str:
        return self.pushed.rsplit("@", 1)[0]


@dataclass(frozen=True)
class Published:
    """What the registry holds at a digest, per platform: its labels, and its provenance's build args and
    revision (None: no provenance attestation)."""

    labels: tuple[dict[str, str], ...] = ()
    provenance: tuple[dict[str, str] | None, ...] = ()
    revisions: tuple[str, ...] = field(default=())


def _per_platform(value: Any, has: str) -> list[Any]:
    """imagetools' value for one platform (a dict with HAS), or its values keyed by platform."""
    if not isinstance(value, dict):
        return []
    return [value] if has in value or not value else [v for v in value.values() if isinstance(v, dict)]


def published(raw: Mapping[str, Any]) -> Published:
    """imagetools' JSON (ci/docker `published_image`) read: each platform's labels, provenance args, revision."""
    labels = tuple(
        {str(k): str(v) for k, v in ((image.get("config") or {}).get("Labels") or {}).items()}
        for image in _per_platform(raw.get("image"), "config")
    )
    args: list[dict[str, str] | None] = []
    revisions = []
    for attestation in _per_platform(raw.get("provenance"), "SLSA") or [None]:
        slsa = (attestation or {}).get("SLSA") if attestation else None
        if not isinstance(slsa, dict):
            args.append(None)
            continue
        params = ((slsa.get("invocation") or {}).get("parameters") or {}).get("args") or {}
        args.append({str(k): str(v) for k, v in params.items()})
        moby = (slsa.get("metadata") or {}).get("https://mobyproject.org/buildkit@v1#metadata") or {}
        revisions.append(str((moby.get("vcs") or {}).get("revision") or ""))
    return Published(labels, tuple(args), tuple(revisions))


def problems(expected: Expected, digest: str, found: Published, signature: cosign.Verified) -> list[str]:
    """Why the image its tag names (DIGEST) is not what EXPECTED says, each in a few words; none: it is."""
    found_problems = [] if signature.ok else [signature.why]
    if digest != expected.pushed_digest:
        found_problems.append(
            f"its tag {expected.tag} names {short_id(digest)}, not the digest prod pushed "
            f"{short_id(expected.pushed_digest)} (moved)"
        )
    if not found.provenance or any(p is None for p in found.provenance):
        found_problems.append("no provenance attestation")
    else:
        commits = sorted({(p or {}).get(COMMIT_ARG, "") for p in found.provenance})
        if commits != [expected.git_commit]:
            found_problems.append(
                f"its provenance names commit {'/'.join(commits) or 'none'}, not {expected.git_commit}"
            )
        revisions = sorted(set(found.revisions))
        if expected.revision and any(revisions) and revisions != [expected.revision]:
            shown = "/".join(r[:12] for r in revisions)
            found_problems.append(f"its provenance's revision is {shown}, not {expected.revision[:12]}")
    sources = sorted({labels.get(dk.SOURCE_DIGEST_LABEL, "") for labels in found.labels})
    if sources != [expected.source_digest]:
        shown = "/".join(short_id(s) if s else "none" for s in sources) or "none"
        found_problems.append(f"its sources {shown} are not {short_id(expected.source_digest)}")
    return found_problems


# --- what the tree (or a commit) expects ---------------------------------------------------------------


def expectations(settings: Settings, record: BuildRecord, commit_ref: str | None) -> list[Expected]:
    """Each pushed target of RECORD with what it must be: the working tree's identity and fingerprint, or
    COMMIT_REF's (from git's objects alone). CiError when no target was pushed."""
    pushed = {name: t for name, t in record.targets.items() if t.pushed}
    if not pushed:
        raise CiError(
            f"no pushed image in {record.what}: run `nox -s prod -- --push --sign` first, then verify -- --signed"
        )
    found = []
    if commit_ref is not None:
        top, commit = reference(settings.root, commit_ref)
        repo = Repository(top)
    for name, t in pushed.items():
        context = settings.root / t.context
        tag = f"{t.pushed.rsplit('@', 1)[0]}:{record.tag}"
        if commit_ref is None:
            sources = fingerprint(context, context / t.dockerfile)
            made = identity(Inputs.of(context, Path(t.dockerfile)), sources)
            head = read_commit(settings.root)
            label = made.label if made else "unknown"
            found.append(Expected(name, tag, t.pushed, label, head.full if head else "", sources.digest))
        else:
            state = next(repo.states(commit.full, TargetFiles.of(top, context, Path(t.dockerfile))), None)
            if state is None:
                raise CiError(f"{name}: --commit {commit_ref} has none of its inputs")
            found.append(Expected(name, tag, t.pushed, state.commit.short, commit.full, state.sources.digest))
    return found


# --- the checks ------------------------------------------------------------------------------------------


def check_image(engine: dk.Engine, signing: Signing, expected: Expected) -> tuple[str, list[str]]:
    """The image EXPECTED's tag names now, by digest: that digest, and its problems."""
    digest = dk.published_digest(engine, expected.tag) or expected.pushed_digest
    ref = f"{expected.repository}@{digest}"
    found = published(dk.published_image(engine, ref))
    return digest, problems(expected, digest, found, cosign.verify(ref, signing, dk.engine_cas(ref)))


def run_signed(report: Report, engine: dk.Engine, signing: Signing, wanted: list[Expected]) -> Iterator[str]:
    """A testcase per image (`backend signature`); yields each failure's line, naming the service and why."""
    for expected in wanted:
        name = f"{expected.target} signature"
        try:
            digest, found = check_image(engine, signing, expected)
        except CiError as err:
            line = f"{expected.target}: {err}"
            report.add(Check(name, "failed", message=line))
            yield line
            continue
        if found:
            line = f"{expected.target}: {'; '.join(found)}"
            report.add(Check(name, "failed", message=line))
            yield line
        else:
            message = (
                f"{expected.repository}@{short_id(digest)} signed with COSIGN_PUBLIC_KEY, provenance commit "
                f"{expected.git_commit}, sources {short_id(expected.source_digest)}"
            )
            report.add(Check(name, message=message))
