"""buildx: bake (streamed, printed, checked), what the installed buildx can do, and its builders."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from python_on_whales.exceptions import DockerException

from ci.core import tls
from ci.core.errors import CiError
from ci.docker.credentials import engine_cas
from ci.docker.engine import Engine, _cli, error_line, failed


@dataclass(frozen=True, kw_only=True)
class BakeCall:
    """One `buildx bake` of TARGETS from BAKE_FILES with VARIABLES, its metadata written to METADATA_FILE.

    The bake files are always named: with none, buildx would merge compose.yaml from the same folder.
    BUILDER: a buildx builder by name (None: the one bake would use). LOAD: `--load`, which replaces the
    targets' own outputs. Without GIT_INFO, buildx does not run git (six commands, 0.04 s) for the
    provenance of the build.
    """

    bake_files: Sequence[Path]
    targets: list[str]
    variables: Mapping[str, str]
    no_cache: bool
    metadata_file: Path
    builder: str | None = None
    git_info: bool = True
    load: bool = True


def bake_stream(engine: Engine, call: BakeCall) -> Iterator[str]:
    """Run CALL's bake with buildx's machine-readable progress and yield its output as it comes.

    "rawjson" is accepted by buildx 0.13 although its --help and python-on-whales' type hint do not list it.
    Nothing outside the working directory (the project) is granted: a target reading outside it is refused
    before bake runs (ci/builds/bake.py resolve_targets).
    Raises DockerFailed when bake fails, after the whole stream was yielded.
    """
    stream = engine._client.buildx.bake(
        targets=call.targets,
        files=list(call.bake_files),
        load=call.load,
        cache=not call.no_cache,
        progress=cast(Any, "rawjson"),
        # bake's variables reach buildx as its environment, where it also reads its own settings
        variables={**call.variables, **({} if call.git_info else {"BUILDX_GIT_INFO": "0"})},
        metadata_file=call.metadata_file,
        builder=call.builder,
        stream_logs=True,
    )
    try:
        yield from cast(Iterator[str], stream)
    except DockerException as err:
        raise failed(err) from None


# What `imagetools inspect` gives of a published image, by digest: its config (labels) and its provenance
# attestation (SLSA), each keyed by platform when the index holds several.
_PUBLISHED_FORMAT = '{"image":{{json .Image}},"provenance":{{json .Provenance}}}'


def _imagetools(engine: Engine, ref: str, template: str) -> str:
    """`buildx imagetools inspect REF --format TEMPLATE`. buildx's resolver reads no certs.d: a registry with a CA
    of its own is trusted through SSL_CERT_FILE (where Go reads its roots), a bundle of the usual roots and the
    CAs the engine trusts for it, for the command's life."""
    with tls.bundle_file(engine_cas(ref)) as bundle:
        env = {"SSL_CERT_FILE": bundle} if bundle else None
        return _cli(engine, "buildx", "imagetools", "inspect", ref, "--format", template, env=env)


def published_digest(engine: Engine, ref: str) -> str:
    """The digest REF (a tag) names in its registry now: the index's, as a pull by that tag gets it. DockerFailed
    in one line when the registry does not answer or holds no such tag."""
    try:
        found = json.loads(_imagetools(engine, ref, "{{json .Manifest}}"))
    except ValueError:
        raise CiError(f"{ref}: the registry's answer is not a manifest") from None
    return str(found.get("digest", "")) if isinstance(found, dict) else ""


def published_image(engine: Engine, ref: str) -> dict[str, Any]:
    """The config and provenance of REF (by digest) as its registry holds them: `{"image": ..., "provenance":
    ...}`, imagetools' JSON. DockerFailed in one line when the registry does not answer."""
    try:
        found = json.loads(_imagetools(engine, ref, _PUBLISHED_FORMAT))
    except ValueError:
        raise CiError(f"{ref}: the registry's answer is not an image's") from None
    return found if isinstance(found, dict) else {}


def bake_definition(
    engine: Engine, bake_file: Path, targets: list[str], variables: Mapping[str, str]
) -> dict[str, Any]:
    """`bake --print TARGETS`: the resolved groups and targets. DockerFailed with buildx's message."""
    try:
        definition = engine._client.buildx.bake(
            targets=targets, files=[bake_file], print=True, variables=dict(variables)
        )
    except DockerException as err:
        raise failed(err) from None
    return definition if isinstance(definition, dict) else {}


def bake_check(engine: Engine, bake_file: Path, targets: list[str], variables: Mapping[str, str]) -> str:
    """`bake --call check,format=json TARGETS` (buildx >= 0.16): the build checks of each target, building
    nothing; its JSON (each target's definition and findings). Raises DockerFailed (stdout and stderr kept)
    when a check fails."""
    return _cli(
        engine, "buildx", "bake", "--file", str(bake_file), "--call", "check,format=json", *targets, env=variables
    )


def buildx_version_line(engine: Engine) -> str:
    """`docker buildx version`, e.g. "github.com/docker/buildx v0.16.2 abc"; CiError when buildx is missing."""
    try:
        return engine._client.buildx.version().strip()
    except DockerException as err:
        raise failed(err, "docker buildx does not answer") from None


# --- builders ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    endpoint: str  # a docker context name for the docker driver
    status: str  # running, inactive, stopped, error...
    version: str | None  # BuildKit's, when the node reports it


@dataclass(frozen=True)
class BuilderFacts:
    name: str
    driver: str
    nodes: tuple[NodeFacts, ...]

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(node.status for node in self.nodes)


def inspect_builder(engine: Engine, name: str | None = None) -> BuilderFacts:
    """A buildx builder: NAME, else the one bake would use (BUILDX_BUILDER or the selected one)."""
    try:
        builder = engine._client.buildx.inspect(name)
    except (DockerException, ValueError) as err:
        if name:
            raise CiError(f"unknown builder {name!r}: `docker buildx ls` lists the builders") from None
        line = error_line(err) if isinstance(err, DockerException) else str(err)
        raise CiError(f"cannot inspect the current builder: {line}") from None
    nodes = tuple(NodeFacts(str(n.endpoint), str(n.status), n.version) for n in builder.nodes or [])
    return BuilderFacts(str(builder.name), str(builder.driver), nodes)
