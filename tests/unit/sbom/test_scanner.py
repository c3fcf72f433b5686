"""The SBOM generator by BuildKit's protocol, on root filesystems made in tmp_path as BuildKit mounts them: what it
lists (dpkg's installed packages, Python distributions in a venv and in Debian's dist-packages, npm packages,
scoped and nested), what it leaves out (removed packages, metadata that leads out of the filesystem, malformed or
oversized files, names SPDX refuses), and the statement it writes, read back and validated by spdx-tools' own
parser as BuildKit's exporter reads it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from spdx_tools.spdx.parser.json import json_parser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from ci.sbom import scanner
from tests.conftest import ROOT

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.36-9+deb12u4
Homepage: https://www.gnu.org/software/libc/libc.html
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: dpkg
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 1:1.21.22
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def image_root(tmp: Path) -> Path:
    """The backend's kind of image: Debian, a venv with FastAPI, pip in Debian's own dist-packages (egg-info)."""
    root = tmp / "core" / "sbom"
    write(root / "var/lib/dpkg/status", DPKG_STATUS)
    write(root / "usr/lib/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    (root / "etc").mkdir()
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")  # as Debian links it
    site = root / "opt/venv/lib/python3.11/site-packages"
    write(site / "fastapi-0.165.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fastapi\nVersion: 0.165.0\n\nx\n")
    write(site / "typing_extensions-4.16.0.dist-info/METADATA", "Name: typing_extensions\nVersion: 4.16.0\n")
    write(root / "usr/lib/python3/dist-packages/wheel-0.38.4.egg-info/PKG-INFO", "Name: wheel\nVersion: 0.38.4\n")
    write(root / "usr/lib/python3/dist-packages/six-1.16.0.egg-info", "Name: six\nVersion: 1.16.0\n")  # a file
    return root


def stage_root(tmp: Path) -> Path:
    """The frontend's build stage: node_modules with a plain, a scoped and a nested package."""
    root = tmp / "extras" / "sbom-build"
    modules = root / "app/node_modules"
    write(
        modules / "vite/package.json", json.dumps({"name": "vite", "version": "6.4.6", "homepage": "https://vite.dev"})
    )
    write(modules / "@esbuild/linux-x64/package.json", json.dumps({"name": "@esbuild/linux-x64", "version": "0.25.0"}))
    write(modules / "vite/node_modules/rollup/package.json", json.dumps({"name": "rollup", "version": "4.40.0"}))
    # a bundle's own package.json, not a folder of node_modules
    write(modules / "vite/dist/package.json", json.dumps({"name": "not-a-package", "version": "9"}))
    write(root / "app/package.json", json.dumps({"name": "mainza-frontend", "version": "0.0.0"}))  # the app itself
    return root


def listed(found: list[scanner.Found]) -> set[tuple[str, str, str]]:
    return {(f.ecosystem, f.name, f.version) for f in found}


def test_an_image_lists_its_installed_os_packages_and_its_python_distributions_with_their_purls(tmp_path: Path) -> None:
    found = scanner.scan(image_root(tmp_path))
    assert listed(found) == {
        ("deb", "libc6", "2.36-9+deb12u4"), ("deb", "dpkg", "1:1.21.22"),
        ("pypi", "fastapi", "0.165.0"), ("pypi", "typing_extensions", "4.16.0"),
        ("pypi", "wheel", "0.38.4"), ("pypi", "six", "1.16.0"),
    }  # fmt: skip
    by_name = {f.name: f for f in found}
    assert by_name["libc6"].purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    assert by_name["libc6"].homepage == "https://www.gnu.org/software/libc/libc.html"
    assert by_name["typing_extensions"].purl == "pkg:pypi/typing-extensions@4.16.0"  # the purl spec's name
    assert by_name["fastapi"].where == "/opt/venv/lib/python3.11/site-packages/fastapi-0.165.0.dist-info/METADATA"


def test_a_build_stage_lists_its_npm_packages_scoped_and_nested_but_not_the_app_nor_a_bundles_package_json(
    tmp_path: Path,
) -> None:
    found = scanner.scan(stage_root(tmp_path))
    assert listed(found) == {
        ("npm", "vite", "6.4.6"),
        ("npm", "@esbuild/linux-x64", "0.25.0"),
        ("npm", "rollup", "4.40.0"),
    }
    assert {f.purl for f in found} >= {"pkg:npm/%40esbuild/linux-x64@0.25.0", "pkg:npm/rollup@4.40.0"}


def test_metadata_leading_out_of_the_filesystem_is_never_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An absolute link resolves in the generator's own filesystem, a relative one can climb out: neither is the
    scanned image's, and neither is followed, nor a linked folder walked into."""
    root = tmp_path / "root"
    secret = write(tmp_path / "outside/package.json", json.dumps({"name": "outside", "version": "1"}))
    (root / "node_modules/abs").mkdir(parents=True)
    (root / "node_modules/abs/package.json").symlink_to(secret)
    (root / "node_modules/rel").mkdir()
    (root / "node_modules/rel/package.json").symlink_to("../../../outside/package.json")
    (root / "node_modules/linked").symlink_to(secret.parent, target_is_directory=True)
    write(root / "var/lib/dpkg/placeholder", "")
    (root / "var/lib/dpkg/status").symlink_to("/var/lib/dpkg/status")  # the generator's own dpkg database
    assert scanner.scan(root) == []
    assert "leads out of the filesystem scanned" in capsys.readouterr().err


def test_malformed_and_oversized_metadata_is_left_out_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    write(root / "node_modules/broken/package.json", "{not json")
    write(root / "node_modules/listy/package.json", "[1, 2]")
    write(root / "node_modules/nameless/package.json", json.dumps({"version": "1.0.0"}))
    write(root / "node_modules/typed/package.json", json.dumps({"name": ["x"], "version": 3}))
    write(root / "node_modules/@scope/package.json", json.dumps({"name": "@scope/", "version": "1.0.0"}))
    write(root / "node_modules/huge/package.json", json.dumps({"name": "huge", "version": "1", "x": "a" * (1 << 20)}))
    write(root / "site/empty-1.0.dist-info/METADATA", "Metadata-Version: 2.1\n")
    write(root / "site/ok-1.0.dist-info/METADATA", "Name: ok\nVersion: 1.0\n")
    assert listed(scanner.scan(root)) == {("pypi", "ok", "1.0")}
    err = capsys.readouterr().err
    assert "/node_modules/broken/package.json: not JSON" in err and "over 1048576" in err
    assert "/site/empty-1.0.dist-info/METADATA: no Name or Version" in err
    assert "/node_modules/@scope/package.json: no package URL (Invalid purl: name is a required" in err


def run(environ: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    code = scanner.main(environ)
    out = Path(environ.get("BUILDKIT_SCAN_DESTINATION", "/nonexistent"))
    return code, {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*"))} if out.is_dir() else {}


def test_the_protocol_writes_one_statement_per_filesystem_named_after_it_each_a_valid_spdx_document(
    tmp_path: Path,
) -> None:
    image, stage = image_root(tmp_path), stage_root(tmp_path)
    (out := tmp_path / "out").mkdir()
    environ = {
        "BUILDKIT_SCAN_SOURCE": str(image),
        "BUILDKIT_SCAN_SOURCE_EXTRAS": str(stage.parent),
        "BUILDKIT_SCAN_DESTINATION": str(out),
    }
    code, written = run(environ)
    assert code == 0 and sorted(written) == ["sbom-build.spdx.json", "sbom.spdx.json"]
    for name, statement in written.items():
        # what BuildKit's unbundler asks of each file: one in-toto statement of the SPDX predicate type
        assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
        assert statement["predicateType"] == "https://spdx.dev/Document" and statement["subject"] == []
        predicate = statement["predicate"]
        assert predicate["spdxVersion"] == "SPDX-2.3" and predicate["name"] == name.removesuffix(".spdx.json")
        # spdx-tools' own parser reads it back (as BuildKit's tools-golang does), and finds nothing invalid
        (bare := tmp_path / f"bare-{name}").write_text(json.dumps(predicate))
        assert validate_full_spdx_document(json_parser.parse_from_file(str(bare))) == []
    purls = {
        name: {ref["referenceLocator"] for p in s["predicate"]["packages"] for ref in p.get("externalRefs", [])}
        for name, s in written.items()
    }
    assert "pkg:pypi/fastapi@0.165.0" in purls["sbom.spdx.json"]
    assert "pkg:npm/vite@6.4.6" in purls["sbom-build.spdx.json"]
    relationships = written["sbom.spdx.json"]["predicate"]["relationships"]
    assert {r["relationshipType"] for r in relationships} == {"DESCRIBES", "CONTAINS"}
    assert sum(r["relationshipType"] == "CONTAINS" for r in relationships) == 6


def test_no_extras_when_the_variable_is_unset_empty_or_names_no_folder(tmp_path: Path) -> None:
    image = image_root(tmp_path)
    for extras in (None, "", str(tmp_path / "missing")):
        out = tmp_path / f"out-{extras is None}-{bool(extras)}"
        out.mkdir()
        environ = {"BUILDKIT_SCAN_SOURCE": str(image), "BUILDKIT_SCAN_DESTINATION": str(out)}
        if extras is not None:
            environ["BUILDKIT_SCAN_SOURCE_EXTRAS"] = extras
        assert run(environ)[0] == 0 and [p.name for p in out.iterdir()] == ["sbom.spdx.json"]


def test_without_the_protocols_variables_it_says_so_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scanner.main({"BUILDKIT_SCAN_SOURCE": str(tmp_path)}) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "sbom: error: BUILDKIT_SCAN_DESTINATION not set: BuildKit runs this generator"
    ]


def test_a_package_spdx_refuses_is_left_out_and_the_rest_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    write(root / "site/ok-1.0.dist-info/METADATA", "Name: ok\nVersion: 1.0\n")
    found = [
        *scanner.scan(root),
        scanner.Found("npm", "bad", "1.0", "/node_modules/bad/package.json", "not a purl"),
    ]
    doc = scanner.valid_document("sbom", found, datetime(2026, 1, 1, tzinfo=UTC))
    assert [p.name for p in doc.packages] == ["sbom", "ok"]
    assert "/node_modules/bad/package.json: bad is not valid in SPDX, left out" in capsys.readouterr().err


def test_the_document_is_the_same_for_the_same_packages_and_source_date_epoch(tmp_path: Path) -> None:
    """Its namespace is a digest of what it lists and its time SOURCE_DATE_EPOCH's: a rescan of an unchanged
    image writes the same attestation."""
    image = image_root(tmp_path)
    outs = []
    for n in range(2):
        (out := tmp_path / f"out{n}").mkdir()
        run({"BUILDKIT_SCAN_SOURCE": str(image), "BUILDKIT_SCAN_DESTINATION": str(out), "SOURCE_DATE_EPOCH": "0"})
        outs.append((out / "sbom.spdx.json").read_text())
    assert outs[0] == outs[1] and '"created":"1970-01-01T00:00:00Z"' in outs[0]


def test_the_generator_image_runs_this_file_with_the_pinned_requirements_ci_provision_builds_it_from() -> None:
    dockerfile = (ROOT / "ci/sbom/Dockerfile").read_text()
    assert 'CMD ["/opt/sbom/venv/bin/python", "-I", "/opt/sbom/scanner.py"]' in dockerfile
    requirements = [
        line for line in (ROOT / "ci/requirements-sbom.txt").read_text().splitlines() if line and line[0] != "#"
    ]
    assert requirements and all("==" in line for line in requirements)
    provision = (ROOT / "ci/provision").read_text()
    for name in ("sbom/Dockerfile", "sbom/scanner.py", "requirements-sbom.txt"):
        assert f'"$CI_DIR/{name}"' in provision
    assert os.access(ROOT / "ci/provision", os.X_OK)
