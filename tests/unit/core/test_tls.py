"""Whom the sessions trust over TLS."""

from __future__ import annotations

import os
import ssl
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from ci.core import tls


def test_trust_is_requests_ca_bundle_first_then_the_systems_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/my-ca.pem")
    assert tls.trust() == "/etc/my-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    system = tmp_path / "system.pem"
    system.write_text("a bundle")
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: SimpleNamespace(cafile=str(system)))
    assert tls.trust() == str(system)
    system.unlink()
    assert tls.trust() is True  # requests' own bundle


def test_a_bundle_with_extra_cas_is_a_private_file_of_its_own_removed_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    usual, ca = tmp_path / "usual.pem", tmp_path / "registry-ca.crt"
    usual.write_text("USUAL ROOTS\n")
    ca.write_text("THE REGISTRY'S CA\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(usual))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # What a neighbour plants where the bundle used to go, by a name anyone could tell in advance.
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    for name in ("mainza-ca-registry.test_5443.pem", "mainza-ca-.pem"):
        os.symlink(victim, tmp_path / name)
    with tls.trust_with([ca]) as bundle:
        assert isinstance(bundle, str) and Path(bundle).parent == tmp_path
        assert not Path(bundle).is_symlink() and stat.S_IMODE(os.stat(bundle).st_mode) == 0o600
        assert Path(bundle).read_text() == "USUAL ROOTS\n\nTHE REGISTRY'S CA\n"
    assert not Path(bundle).exists() and victim.read_text() == "not yours\n"
    with pytest.raises(RuntimeError), tls.trust_with([ca]) as bundle:
        raise RuntimeError("the request failed")
    assert not Path(bundle).exists()
    with tls.trust_with([]) as usual_only:
        assert usual_only == str(usual)


def test_a_bundle_over_requests_own_roots_keeps_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: SimpleNamespace(cafile=None))
    ca = tmp_path / "ca.crt"
    ca.write_text("EXTRA\n")
    with tls.trust_with([ca]) as bundle:
        assert isinstance(bundle, str)
        text = Path(bundle).read_text()
    assert text.startswith(Path(DEFAULT_CA_BUNDLE_PATH).read_text()) and text.endswith("\nEXTRA\n")


def test_a_bundle_file_for_a_child_is_a_path_with_extra_cas_and_none_without(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """cosign and buildx take one file: the usual roots and the CAs while the block lasts; "" keeps theirs."""
    roots, ca = tmp_path / "roots.pem", tmp_path / "ca.crt"
    roots.write_text("ROOTS\n")
    ca.write_text("OWNCA\n")
    monkeypatch.setattr(tls, "trust", lambda: str(roots))
    with tls.bundle_file([]) as none:
        assert none == ""
    with tls.bundle_file([ca]) as path:
        assert Path(path).read_text().split() == ["ROOTS", "OWNCA"]
    assert not Path(path).exists()
