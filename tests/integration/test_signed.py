"""`prod -- --push --sign` and `verify -- --signed` on the real engine and the local registry, one push of the
example reused: digests recorded and signed, verified offline; then refused for an image signed by another key,
a tag moved onto an unsigned image of other sources, and an image whose signature is gone. The key's password
shows nowhere."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import Project, junit_results

pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-signed"
REGISTRY = f"127.0.0.1:5000/{NAME}-images"  # a repository path of this module's own
PASSWORD = "correct-horse-signed-7f3a"


@dataclass(frozen=True)
class Pushed:
    project: Project
    keys: Path
    run: subprocess.CompletedProcess[str]
    record: dict[str, str]  # target -> its pushed reference by digest

    def verify(self, public_key: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {"COSIGN_PUBLIC_KEY": str(public_key or self.keys / "cosign.pub"), "IMAGE_REGISTRY": REGISTRY}
        return self.project.ci("verify", "--signed", env=env)


def key_pair(folder: Path, password: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["cosign", "generate-key-pair"], cwd=folder, env={"COSIGN_PASSWORD": password, "PATH": "/usr/bin:/bin"},
        check=True, capture_output=True,
    )  # fmt: skip
    return folder


def everything_said(project: Project, *runs: subprocess.CompletedProcess[str]) -> str:
    reports = "".join(p.read_text(errors="replace") for p in project.reports.iterdir() if p.is_file())
    return reports + "".join(r.stdout + r.stderr for r in runs)


def manifest_url(ref: str) -> str:
    host, _, rest = ref.partition("/")
    name, _, reference = rest.partition("@") if "@" in rest else rest.rpartition(":")
    return f"http://{host}/v2/{name}/manifests/{reference}"


INDEX = {"Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"}


@pytest.fixture(scope="module")
def pushed(make_project: Callable[[str], Project], tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    project = make_project(NAME)
    keys = key_pair(tmp_path_factory.mktemp("keys"), PASSWORD)
    env = {"IMAGE_REGISTRY": REGISTRY, "COSIGN_KEY": str(keys / "cosign.key"), "COSIGN_PASSWORD": PASSWORD}
    run = project.ci("prod", "--push", "--sign", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads((project.reports / "last-build.json").read_text())
    return Pushed(project, keys, run, {name: t["pushed"] for name, t in record["targets"].items()})


def test_push_records_each_digest_signs_it_and_verify_passes_offline(pushed: Pushed) -> None:
    assert set(pushed.record) == {"backend", "frontend"}
    prod = json.loads((pushed.project.reports / "prod.json").read_text())
    last = pushed.run.stdout.strip().splitlines()[-1]
    for target, ref in pushed.record.items():
        repository, digest = ref.split("@")
        assert repository == f"{REGISTRY}/{NAME}-{target}" and digest.startswith("sha256:")
        assert f"{target} {digest}" in last and prod["pushed"][target] == ref
        # the digest recorded is the one the registry serves under the commit's tag, and it carries a signature
        tag = json.loads((pushed.project.reports / "last-build.json").read_text())["tag"]
        answer = requests.head(manifest_url(f"{repository}:{tag}"), headers=INDEX, timeout=5)
        assert answer.headers["Docker-Content-Digest"] == digest
        signature = manifest_url(f"{repository}:{digest.replace(':', '-')}.sig")
        assert requests.head(signature, headers=INDEX, timeout=5).status_code == 200
    start = time.monotonic()
    verify = pushed.verify()
    seconds = time.monotonic() - start
    print(f"verify --signed: {seconds:.1f}s")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    results = junit_results(pushed.project.reports / "junit-verify.xml")
    assert results["backend signature"] == results["frontend signature"] == "passed"
    assert PASSWORD not in everything_said(pushed.project, pushed.run, verify)


def test_an_image_signed_by_another_key_fails_naming_each_service(pushed: Pushed, tmp_path: Path) -> None:
    other = key_pair(tmp_path / "other", "another-password")
    run = pushed.verify(other / "cosign.pub")
    assert run.returncode == 1
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
    assert "backend: signed by another key" in line and "frontend: signed by another key" in line
    assert "Traceback" not in run.stderr


def test_a_tag_moved_to_an_unsigned_image_and_a_signature_gone_each_fail(pushed: Pushed) -> None:
    tag = json.loads((pushed.project.reports / "last-build.json").read_text())["tag"]
    backend_repo = pushed.record["backend"].split("@")[0]
    # the backend's tag moved onto the frontend's index, copied into the backend's repository: never signed there
    moved = subprocess.run(
        ["docker", "buildx", "imagetools", "create", "-t", f"{backend_repo}:{tag}", pushed.record["frontend"]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    # the frontend's signature deleted from the registry
    frontend_repo, frontend_digest = pushed.record["frontend"].split("@")
    signature = manifest_url(f"{frontend_repo}:{frontend_digest.replace(':', '-')}.sig")
    sig_digest = requests.head(signature, headers=INDEX, timeout=5).headers["Docker-Content-Digest"]
    assert requests.delete(manifest_url(f"{frontend_repo}@{sig_digest}"), timeout=5).status_code == 202
    try:
        run = pushed.verify()
        assert run.returncode == 1
        [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
        backend = line.split("; frontend: ")[0]
        assert backend.startswith("error: backend: unsigned: no signature in the registry")
        assert "(moved)" in backend and "its sources" in backend
        assert "frontend: unsigned: no signature in the registry" in line
        results = junit_results(pushed.project.reports / "junit-verify.xml")
        assert results["backend signature"] == results["frontend signature"] == "failure"
    finally:  # the backend's tag back where prod put it
        back = ["docker", "buildx", "imagetools", "create", "-t", f"{backend_repo}:{tag}", pushed.record["backend"]]
        subprocess.run(back, capture_output=True, check=False)
