"""An SBOM generator by BuildKit's protocol (moby/buildkit docs/attestations/sbom-protocol.md), run by BuildKit in
the image ci/provision builds (ci/sbom/Dockerfile): each root filesystem it mounts, the image's at
BUILDKIT_SCAN_SOURCE and each stage's under BUILDKIT_SCAN_SOURCE_EXTRAS (a stage that sets
`ARG BUILDKIT_SBOM_SCAN_STAGE=true`), read for its OS packages (dpkg), Python distributions (`*.dist-info`,
`*.egg-info`) and npm packages (`node_modules`), and written to BUILDKIT_SCAN_DESTINATION/<name>.spdx.json as an
in-toto statement of an SPDX 2.3 document, which BuildKit attaches to the image. spdx-tools builds, validates and
writes the document, packageurl-python the package URLs. Nothing of the filesystem scanned is run or trusted: a
metadata file that is a symbolic link, too large or malformed is left out, and said so on stderr."""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from packageurl import PackageURL
from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory, Package, PackagePurpose
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.validation.uri_validators import validate_url

TOOL = "mainza-sbom-generator-1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
PREDICATE_TYPE = "https://spdx.dev/Document"  # the one BuildKit 0.13 takes from a generator
NAMESPACE = "https://spdx.org/spdxdocs/mainza"  # + /<name>-<digest of what was found>: unique per content
# Metadata files larger than this are not a package's: left out rather than read into memory.
MAX_METADATA_BYTES = 1 << 20
MAX_DPKG_STATUS_BYTES = 64 << 20
SKIPPED_TOP = frozenset({"proc", "sys", "dev"})  # kernel filesystems, empty in a scanned stage

ECOSYSTEMS = ("deb", "pypi", "npm")
PYTHON_METADATA = (".dist-info", ".egg-info")


@dataclass(frozen=True, order=True)
class Found:
    """A package found in a root filesystem: its ecosystem (ECOSYSTEMS), name, version, where its metadata is
    (a path in the scanned filesystem) and its package URL."""

    ecosystem: str
    name: str
    version: str
    where: str
    purl: str
    homepage: str = ""


def warn(line: str) -> None:
    print(f"sbom: {line}", file=sys.stderr)


def read_text(root: Path, path: Path, limit: int = MAX_METADATA_BYTES) -> str | None:
    """PATH's text, or None (said on stderr) when it leads out of ROOT (a symbolic link that is absolute or
    climbs out: it would name the generator's own files), is not a regular file, is larger than LIMIT or cannot
    be read."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        warn(f"{inside(root, path)}: leads out of the filesystem scanned, left out")
        return None
    try:
        size = real.stat().st_size
    except OSError:
        return None
    if not real.is_file():
        warn(f"{inside(root, path)}: not a regular file, left out")
        return None
    if size > limit:
        warn(f"{inside(root, path)}: {size} bytes, over {limit}: left out")
        return None
    try:
        return real.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        warn(f"{inside(root, path)}: {err.strerror or err}, left out")
        return None


def purl_of(where: str, kind: str, namespace: str | None, name: str, version: str, **qualifiers: str) -> str | None:
    """The package URL, or None (said on stderr) for a name or version it cannot hold (an npm name `@scope/`)."""
    try:
        return str(PackageURL(kind, namespace, name, version, {k: v for k, v in qualifiers.items() if v}).to_string())
    except ValueError as err:
        warn(f"{where}: no package URL ({err}), left out")
        return None


def inside(root: Path, path: Path) -> str:
    """PATH as the scanned filesystem names it: `/usr/lib/...`."""
    return "/" + path.relative_to(root).as_posix()


# --- OS packages: dpkg's database --------------------------------------------------------------------------


def os_release(root: Path) -> dict[str, str]:
    """The scanned filesystem's os-release (ID, VERSION_ID...), {} when it has none."""
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        text = read_text(root, root / candidate)
        if text is not None:
            pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
            return {key.strip(): value.strip().strip("'\"") for key, _, value in pairs}
    return {}


def dpkg_paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The paragraphs of a dpkg status file, each field's first line (continuation lines are left out)."""
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] not in ("", " ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if fields:
            yield fields


def debian_packages(root: Path) -> list[Found]:
    """The packages dpkg has installed (var/lib/dpkg/status, and status.d/ as distroless images keep them)."""
    release = os_release(root)
    distro = release.get("ID", "debian") or "debian"
    qualifier = f"{distro}-{release['VERSION_ID']}" if release.get("VERSION_ID") else ""
    sources = [root / "var/lib/dpkg/status"]
    status_d = root / "var/lib/dpkg/status.d"
    if status_d.is_dir() and not status_d.is_symlink():
        sources += sorted(status_d.iterdir())
    found = []
    for source in sources:
        if not source.exists():
            continue
        text = read_text(root, source, MAX_DPKG_STATUS_BYTES)
        for fields in dpkg_paragraphs(text or ""):
            name, version = fields.get("Package", ""), fields.get("Version", "")
            status = fields.get("Status")  # status.d/ has none: it holds installed packages only
            if not name or not version or (status is not None and not status.endswith(" installed")):
                continue
            where = inside(root, source)
            purl = purl_of(where, "deb", distro, name, version, arch=fields.get("Architecture", ""), distro=qualifier)
            if purl:
                found.append(Found("deb", name, version, where, purl, fields.get("Homepage", "")))
    return found


# --- Python distributions and npm packages: one walk of the filesystem ---------------------------------------


def walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """Every folder of ROOT with its Python metadata entries (`*.dist-info`, `*.egg-info`) and its files, symbolic
    links not followed, the kernel's filesystems and the insides of the metadata folders left out."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        if folder == str(root):
            dirs[:] = [d for d in dirs if d not in SKIPPED_TOP]
        metas = [d for d in [*dirs, *files] if d.endswith(PYTHON_METADATA)]
        dirs[:] = sorted(d for d in dirs if not d.endswith(PYTHON_METADATA))
        yield Path(folder), sorted(metas), files


def python_distribution(root: Path, meta: Path) -> Found | None:
    """The distribution a `*.dist-info` folder (its METADATA) or `*.egg-info` folder or file (PKG-INFO)
    describes, or None when it names none."""
    source = meta / "METADATA" if meta.name.endswith(".dist-info") else meta / "PKG-INFO" if meta.is_dir() else meta
    text = read_text(root, source)
    if text is None:
        return None
    headers = email.parser.HeaderParser().parsestr(text)
    name, version = str(headers.get("Name", "")).strip(), str(headers.get("Version", "")).strip()
    if not name or not version:
        warn(f"{inside(root, source)}: no Name or Version, left out")
        return None
    normalized = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503, as the purl spec asks for pypi
    purl = purl_of(inside(root, source), "pypi", None, normalized, version)
    if purl is None:
        return None
    return Found("pypi", name, version, inside(root, source), purl, str(headers.get("Home-page", "") or ""))


def npm_package(root: Path, folder: Path) -> Found | None:
    """The package a folder of node_modules holds (its package.json), or None when it names none."""
    source = folder / "package.json"
    text = read_text(root, source)
    if text is None:
        return None
    try:
        manifest: Any = json.loads(text)
    except ValueError:
        warn(f"{inside(root, source)}: not JSON, left out")
        return None
    name = manifest.get("name") if isinstance(manifest, dict) else None
    version = manifest.get("version") if isinstance(manifest, dict) else None
    if not isinstance(name, str) or not name.strip() or not isinstance(version, str) or not version.strip():
        warn(f"{inside(root, source)}: no name or version, left out")
        return None
    scope, _, bare = name.rpartition("/") if name.startswith("@") else ("", "", name)
    purl = purl_of(inside(root, source), "npm", scope or None, bare, version)
    if purl is None:
        return None
    homepage = manifest.get("homepage")
    return Found("npm", name, version, inside(root, source), purl, homepage if isinstance(homepage, str) else "")


def in_node_modules(folder: Path) -> bool:
    """Whether FOLDER is a package's own folder: node_modules/NAME or node_modules/@SCOPE/NAME."""
    parent = folder.parent
    return parent.name == "node_modules" or (parent.name.startswith("@") and parent.parent.name == "node_modules")


def language_packages(root: Path) -> list[Found]:
    found = []
    for folder, metas, files in walk(root):
        for meta in sorted(metas):
            distribution = python_distribution(root, folder / meta)
            if distribution:
                found.append(distribution)
        if "package.json" in files and in_node_modules(folder):
            package = npm_package(root, folder)
            if package:
                found.append(package)
    return found


def scan(root: Path) -> list[Found]:
    """Every package found in the root filesystem ROOT, sorted."""
    return sorted({*debian_packages(root), *language_packages(root)})


# --- the document --------------------------------------------------------------------------------------------


def spdx_id(kind: str, index: int, name: str) -> str:
    return f"SPDXRef-{kind}-{index}-{re.sub(r'[^A-Za-z0-9.]+', '-', name).strip('-')[:60]}"


def created_at(environ: Mapping[str, str]) -> datetime:
    """SOURCE_DATE_EPOCH's time when BuildKit gives it (reproducible builds), else now; whole seconds."""
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def document(name: str, found: list[Found], created: datetime) -> Document:
    """The SPDX 2.3 document of the filesystem NAME: it describes a package for the filesystem, which
    contains each package found, identified by its package URL, located by its metadata file."""
    digest = hashlib.sha256("\n".join(f"{f.purl} {f.where}" for f in found).encode()).hexdigest()[:16]
    creators = [Actor(ActorType.TOOL, TOOL), Actor(ActorType.TOOL, f"spdx-tools-{metadata.version('spdx-tools')}")]
    info = CreationInfo("SPDX-2.3", "SPDXRef-DOCUMENT", name, f"{NAMESPACE}/{name}-{digest}", creators, created)
    top = Package(
        "SPDXRef-filesystem",
        name,
        SpdxNoAssertion(),
        files_analyzed=False,
        primary_package_purpose=PackagePurpose.CONTAINER,
        comment="the root filesystem BuildKit gave the generator",
    )
    packages = [top]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, top.spdx_id)]
    for index, f in enumerate(found):
        ref = ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", f.purl)
        package = Package(
            spdx_id(f.ecosystem, index, f.name),
            f.name,
            SpdxNoAssertion(),
            version=f.version,
            files_analyzed=False,
            homepage=f.homepage if f.homepage and not validate_url(f.homepage) else None,
            source_info=f"found in {f.where}",
            license_concluded=SpdxNoAssertion(),
            license_declared=SpdxNoAssertion(),
            copyright_text=SpdxNoAssertion(),
            external_references=[ref],
            primary_package_purpose=PackagePurpose.OPERATING_SYSTEM if f.ecosystem == "deb" else PackagePurpose.LIBRARY,
        )
        packages.append(package)
        relationships.append(Relationship(top.spdx_id, RelationshipType.CONTAINS, package.spdx_id))
    return Document(info, packages=packages, relationships=relationships)


def valid_document(name: str, found: list[Found], created: datetime) -> Document:
    """NAME's document as spdx-tools validates it: a package it finds invalid (a name or homepage of the
    filesystem's making) left out and said on stderr. ValueError when the document is still invalid."""
    doc = document(name, found, created)
    problems = validate_full_spdx_document(doc)
    ids = {p.spdx_id: f for p, f in zip(doc.packages[1:], found, strict=True)}
    # a package's own problem names it; one of its parts (a purl) names it as its parent
    named = ((m.context.spdx_id, m.context.parent_id) for m in problems if m.context)
    bad = {spdx for pair in named for spdx in pair if spdx in ids}
    if bad:
        for spdx in sorted(bad):
            warn(f"{ids[spdx].where}: {ids[spdx].name} is not valid in SPDX, left out")
        doc = document(name, [f for spdx, f in ids.items() if spdx not in bad], created)
        problems = validate_full_spdx_document(doc)
    if problems:
        raise ValueError("; ".join(m.validation_message for m in problems[:5]))
    return doc


def statement(doc: Document) -> dict[str, Any]:
    """The in-toto statement BuildKit reads from the generator: the SPDX document as its predicate, no subject
    (BuildKit makes the image its subject)."""
    converter = DocumentConverter()  # type: ignore[no-untyped-call]  # spdx-tools leaves its __init__ unannotated
    return {
        "_type": STATEMENT_TYPE,
        "predicateType": PREDICATE_TYPE,
        "subject": [],
        "predicate": converter.convert(doc),
    }


# --- the protocol ------------------------------------------------------------------------------------------


def targets(environ: Mapping[str, str]) -> list[Path]:
    """The filesystems to scan: BUILDKIT_SCAN_SOURCE, then each folder of BUILDKIT_SCAN_SOURCE_EXTRAS (none
    when it is unset, empty or not a folder, as the protocol asks)."""
    found = [Path(environ["BUILDKIT_SCAN_SOURCE"])]
    extras = environ.get("BUILDKIT_SCAN_SOURCE_EXTRAS", "").strip()
    if extras and Path(extras).is_dir():
        found += sorted(p for p in Path(extras).iterdir() if p.is_dir() and not p.is_symlink())
    return found


def summary(found: list[Found]) -> str:
    counts = {e: sum(1 for f in found if f.ecosystem == e) for e in ECOSYSTEMS}
    return f"{len(found)} packages (" + ", ".join(f"{e} {n}" for e, n in counts.items()) + ")"


def main(environ: Mapping[str, str] = os.environ) -> int:
    missing = [v for v in ("BUILDKIT_SCAN_DESTINATION", "BUILDKIT_SCAN_SOURCE") if not environ.get(v, "").strip()]
    if missing:
        print(f"sbom: error: {' and '.join(missing)} not set: BuildKit runs this generator", file=sys.stderr)
        return 2
    destination = Path(environ["BUILDKIT_SCAN_DESTINATION"])
    created = created_at(environ)
    for root in targets(environ):
        found = scan(root)
        try:
            text = json.dumps(statement(valid_document(root.name, found, created)), separators=(",", ":"))
        except ValueError as err:
            print(f"sbom: error: {root.name}: the SPDX document is not valid: {err}", file=sys.stderr)
            return 1
        (destination / f"{root.name}.spdx.json").write_text(text + "\n", encoding="utf-8")
        print(f"sbom: {root.name}: {summary(found)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
