"""cosign's commands as the suite runs them: offline, plain HTTP only to this machine, the password never on a
command line; its failures read as a few words, inert."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ci.core import secrets
from ci.core.errors import CiError
from ci.core.settings import signing
from ci.sign import cosign

REF = "localhost:5000/p-backend@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "host"),
    [
        (REF, "localhost"),
        ("127.0.0.1:5000/a/b@sha256:1", "127.0.0.1"),
        ("[::1]:5000/a@sha256:1", "[::1]"),
        ("registry.test:5443/team/a@sha256:1", "registry.test"),
        ("ghcr.io/org/a@sha256:1", "ghcr.io"),
    ],
)
def test_a_refs_registry_host_is_read_without_its_port(ref: str, host: str) -> None:
    assert cosign.registry_host(ref) == host


def test_plain_http_is_allowed_to_a_registry_on_this_machine_only() -> None:
    assert "--allow-http-registry=true" in cosign.sign_command(REF, "k.key")
    assert "--allow-http-registry=true" in cosign.verify_command("[::1]:5000/a@sha256:1", "k.pub")
    for ref in ("ghcr.io/org/a@sha256:1", "127.example.com:5000/a@sha256:1", "registry.test:5443/a@sha256:1"):
        assert not any("allow-http" in arg for arg in cosign.verify_command(ref, "k.pub"))
        assert not any("allow-http" in arg for arg in cosign.sign_command(ref, "k.key"))


def test_a_registry_with_a_ca_of_its_own_is_verified_with_the_engines_cas_added_to_the_usual_trust(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """cosign reads no certs.d, and --registry-cacert replaces its trust: it is given a bundle of both, which
    is gone after; a registry on this machine (plain HTTP) and one without a CA of its own are given none."""
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nOWNCA\n-----END CERTIFICATE-----\n")
    seen: list[tuple[list[str], str]] = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        given = [a.split("=", 1)[1] for a in command if a.startswith("--registry-cacert=")]
        seen.append((command, Path(given[0]).read_text() if given else ""))
        return subprocess.CompletedProcess(command, 0, "[]", "")

    monkeypatch.setattr(cosign, "available", lambda: "/usr/bin/cosign")
    monkeypatch.setattr(subprocess, "run", run)
    ref = "registry.test:5443/team/a@sha256:" + "b" * 64
    keys = signing({"COSIGN_KEY": "k.key", "COSIGN_PUBLIC_KEY": "k.pub"})
    cosign.sign(ref, keys, [ca])
    assert cosign.verify(ref, keys, [ca]).ok
    for command, bundle in seen:
        assert "OWNCA" in bundle and bundle.count("BEGIN CERTIFICATE") > 1  # the usual roots too
        [flag] = [a for a in command if a.startswith("--registry-cacert=")]
        assert not Path(flag.split("=", 1)[1]).exists()
    seen.clear()
    cosign.sign(ref, keys)
    cosign.sign(REF, keys, [ca])
    assert not any(a.startswith("--registry-cacert") for command, _ in seen for a in command)


def test_signing_uploads_to_no_transparency_log_and_verifying_asks_none() -> None:
    assert {"--tlog-upload=false", "--yes"} <= set(cosign.sign_command(REF, "k.key"))
    offline = {"--insecure-ignore-tlog=true", "--offline=true", "--private-infrastructure=true"}
    assert offline <= set(cosign.verify_command(REF, "k.pub"))


def test_the_password_and_an_env_key_reach_cosign_in_its_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    pem = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nS3cr3tK3yMaterialLine\n-----END X-----"
    env = {"COSIGN_KEY": "env://RELEASE_KEY", "RELEASE_KEY": pem, "COSIGN_PASSWORD": "hunter2-pass"}
    found = signing(env)
    assert found.key == "env://RELEASE_KEY" and found.has_password
    assert found.child_env["COSIGN_PASSWORD"] == "hunter2-pass" and found.child_env["RELEASE_KEY"] == pem
    assert "hunter2-pass" not in repr(found) and pem not in repr(found)
    seen: list[list[str]] = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(command)
        assert kwargs["env"] is found.child_env
        return subprocess.CompletedProcess(command, 1, "", "Error: decrypt: encrypted: decryption failed hunter2-pass")

    monkeypatch.setattr(cosign, "available", lambda: "/usr/bin/cosign")
    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(CiError) as err:
        cosign.sign(REF, found)
    assert "hunter2-pass" not in " ".join(seen[0]) and "RELEASE_KEY" in " ".join(seen[0])
    assert str(err.value) == f"cosign could not sign {REF}: the key does not open with COSIGN_PASSWORD " + (
        "(wrong password, or another key)"
    )
    assert secrets.redact("x hunter2-pass S3cr3tK3yMaterialLine y") == "x *** *** y"


def test_no_key_and_no_public_key_are_said_in_one_line() -> None:
    with pytest.raises(CiError, match="no signing key: set COSIGN_KEY"):
        cosign.sign(REF, signing({}))
    unverified = cosign.Verified(False, "no public key: set COSIGN_PUBLIC_KEY (a path, or env://NAME)")
    assert cosign.verify(REF, signing({})) == unverified


@pytest.mark.parametrize(
    ("stderr", "why"),
    [
        ("Error: no signatures found\nerror during command execution: no signatures found",
         "unsigned: no signature in the registry"),
        ("WARNING: Skipping tlog\nError: no matching signatures: invalid signature when validating ASN.1 encoded "
         "signature\nerror during command execution: ...", "signed by another key: no signature verifies with "
         "COSIGN_PUBLIC_KEY"),
        ('Error: Get "https://localhost:5999/v2/": connect: connection refused\n\x1b[31mmore',
         'Get "https://localhost:5999/v2/": connect: connection refused'),
        ("\x1b[2Jweird", "\\x1b[2Jweird"),
        ("", "no message"),
    ],
)  # fmt: skip
def test_a_failed_verification_reads_as_a_few_inert_words(stderr: str, why: str) -> None:
    assert cosign.why_unverified(stderr) == why


def test_cosign_missing_is_one_line_saying_to_provision(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cosign, "available", lambda: None)
    with pytest.raises(CiError, match=r"cosign is not installed: run `ci/provision`"):
        cosign.verify(REF, signing({"COSIGN_PUBLIC_KEY": str(tmp_path / "k.pub")}))
