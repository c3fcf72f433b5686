"""Whom the sessions trust over TLS."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest

from ci import tls


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
