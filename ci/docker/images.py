"""Images on the engine: inspected, looked up, listed by project, removed and pushed; whether a registry
serves one, and why not in a few words with the fix.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from python_on_whales.exceptions import DockerException

from ci.core.units import short_id
from ci.docker.credentials import ca_file
from ci.docker.engine import (
    BUILD_ARGS_LABEL,
    PROJECT_LABEL,
    SOURCE_DIGEST_LABEL,
    Engine,
    _cli,
    _inspect,
    error_line,
    failed,
)


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int
    labels: dict[str, str]
    tags: tuple[str, ...]


def inspect_image(engine: Engine, ref: str) -> ImageInfo | None:
    try:
        image = engine._client.image.inspect(ref)
    except DockerException:
        return None
    labels = (image.config.labels if image.config else None) or {}
    return ImageInfo(str(image.id), int(image.size or 0), dict(labels), tuple(image.repo_tags or ()))


def tagged(engine: Engine, refs: list[str]) -> dict[str, str]:
    """The image each of REFS names now, by ref (one `docker image ls`); a ref naming none is left out."""
    if not refs:
        return {}
    filters = [f"--filter=reference={ref}" for ref in refs]
    out = _cli(engine, "image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", *filters)
    found = dict(line.rsplit(" ", 1) for line in out.splitlines() if " " in line)
    return {ref: found[ref] for ref in refs if ref in found}


def image_source_digest(engine: Engine, ref: str) -> str | None:
    """The source fingerprint an image carries (label mainza.source-digest); None without one."""
    image = inspect_image(engine, ref)
    return image.labels.get(SOURCE_DIGEST_LABEL) if image else None


def image_build_args(engine: Engine, ref: str) -> str | None:
    """The digest of the build args that shaped an image (label mainza.build-args); None without one."""
    image = inspect_image(engine, ref)
    return image.labels.get(BUILD_ARGS_LABEL) if image else None


def image_exists(engine: Engine, ref: str) -> bool:
    """Whether the engine has REF locally (the docker driver builds FROM a local image without pulling)."""
    try:
        return bool(engine._client.image.exists(ref))
    except DockerException:
        return False


def project_image_ids(engine: Engine, project: str) -> list[str]:
    try:
        return [i.id for i in engine._client.image.list(filters=[("label", f"{PROJECT_LABEL}={project}")])]
    except DockerException as err:
        raise failed(err, f"could not list the {project} images") from None


def remove_images(engine: Engine, refs: list[str], *, force: bool = True) -> None:
    """Remove REFS that are present (forced: a dev rebuild's or a benchmark's own images)."""
    present = [ref for ref in refs if image_exists(engine, ref)]
    try:
        if present:
            engine._client.image.remove(present, force=force)
    except DockerException as err:
        raise failed(err, "could not remove images") from None


@dataclass(frozen=True)
class ImageFacts:
    id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: datetime
    labels: Mapping[str, str] = field(default_factory=dict)


def _created(text: str) -> datetime:
    # RFC 3339 with nanoseconds: Python reads at most microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00")))


def image_facts(engine: Engine, ids: Sequence[str] | None = None) -> list[ImageFacts]:
    """The images IDS, else every image on the engine, tagged or dangling, whoever made them (what is the
    project's is decided from its own records: ci/prune/plan.py); one that is gone is left out."""
    if ids is None:
        try:
            ids = [i.id for i in engine._client.image.list()]
        except DockerException as err:
            raise failed(err, "could not list images") from None
    return [
        ImageFacts(
            i["Id"],
            tuple(i.get("RepoTags") or ()),
            tuple(i.get("RepoDigests") or ()),
            _created(i["Created"]),
            dict((i.get("Config") or {}).get("Labels") or {}),
        )
        for i in _inspect(engine, "image", list(dict.fromkeys(ids)))
    ]


def tag_image(engine: Engine, image_id: str, ref: str) -> None:
    """Point REF at the image IMAGE_ID (moving it from the image it named, if any)."""
    try:
        engine._client.image.tag(image_id, ref)
    except DockerException as err:
        raise failed(err, f"could not tag image {short_id(image_id)} as {ref}") from None


def remove_image(engine: Engine, ref: str) -> str | None:
    """Remove an image reference, never forced (the engine refuses one a container uses): None, or why not."""
    try:
        engine._client.image.remove(ref, force=False, prune=True)
    except DockerException as err:
        return error_line(err)
    return None


MANIFEST_DEADLINE = 10.0  # seconds a registry has to give one manifest: a host that never answers is not waited on


def image_resolvable(engine: Engine, ref: str, deadline: float = MANIFEST_DEADLINE) -> str | None:
    """None when a registry serves REF's manifest (`buildx imagetools inspect`: nothing is pulled), else why not
    (one line, the registry's or buildx's own words); no answer within DEADLINE seconds is one too."""
    command = [*engine._client.client_config.docker_cmd, "buildx", "imagetools", "inspect", "--raw", ref]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=deadline, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"no answer within {deadline:g}s"
    except OSError as err:  # no docker client: the engine step has said so already
        return str(err)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {done.returncode}").removeprefix("ERROR: ")


DENIED = re.compile(r"no basic auth credentials|authoriz|unauthorized|denied|\b40[13]\b", re.IGNORECASE)
NOT_FOUND = re.compile(r": not found$|manifest unknown|\b404\b")
UNREACHABLE = re.compile(r"dial tcp|no such host|connection refused|i/o timeout|handshake timeout|unreachable")


@dataclass(frozen=True)
class Refusal:
    """Why a registry did not give an image, in a few words with what to do (`why`). DEFINITE: the registry
    said so itself (not found, denied); otherwise it could not be asked from here (unreachable, a certificate
    this client does not trust, no answer in time), which a pull by the engine, through its own mirrors, proxy
    and CAs, may still get past."""

    why: str
    definite: bool


def refusal(image: str, cause: str) -> Refusal:
    """CAUSE (a registry's or the engine's words for a failed resolve of IMAGE) as a Refusal."""
    host = image_registry(image)
    if DENIED.search(cause):
        return Refusal(
            f"{host} denied the pull: check the name, or log in (`docker login {host}`) as a user who may pull it", True
        )
    if NOT_FOUND.search(cause):
        return Refusal(f"not found in {host}: check its name and tag (compose.yaml, .env), or push it there", True)
    if "x509" in cause or "certificate" in cause:
        return Refusal(f"{host}'s certificate is not trusted: put its CA in {ca_file(host)}", False)
    if UNREACHABLE.search(cause) or cause.startswith("no answer within"):
        why = cause.rsplit(": ", 1)[-1]
        return Refusal(f"{host} is unreachable ({why}): check its name and the network, or use a mirror", False)
    return Refusal(cause, False)


def push_image(engine: Engine, ref: str) -> None:
    try:
        engine._client.image.push(ref, quiet=True)
    except DockerException as err:
        raise failed(err, f"push of {ref} refused") from None


def image_registry(image: str) -> str:
    """The registry an image reference pulls from: its first component when that names a host (a dot, a
    port or localhost), else Docker Hub, as the engine reads it."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"
