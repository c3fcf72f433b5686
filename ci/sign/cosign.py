"""cosign as a subprocess: sign an image by digest with the project's key, verify one with its public key,
offline (no transparency log: `--tlog-upload=false`, `--offline`, `--private-infrastructure`), the signature
beside the image in the same registry (cosign's `sha256-HEX.sig` tag).

The key's password reaches cosign in its environment alone (COSIGN_PASSWORD, ci/core/settings.py `Signing`),
never on its command line; whatever cosign prints is made inert (secrets redacted, controls escaped) before it
is shown. A registry on this machine may answer plain HTTP (`--allow-http-registry`, for loopback alone, by
the project's one rule: ci/core/fetch.py `is_loopback`); one with a CA of its own is verified with the CAs the
engine trusts for it (certs.d, which the caller reads through the Docker door) added to the usual trust, as a
bundle file cosign is given (`--registry-cacert`: cosign reads neither certs.d nor, once given one, the system's).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.core import tls
from ci.core.errors import CiError
from ci.core.fetch import is_loopback
from ci.core.inert import inert
from ci.core.settings import ENV_KEY, Signing
from ci.core.versions import parse_version

COSIGN = "cosign"
SECONDS = 120  # one sign or verify, the registry's round trips included
LINE = 300  # characters of cosign's message shown in a line


@dataclass(frozen=True)
class Verified:
    """One image's signature check: OK, or WHY it fails in a few words (`unsigned`, `signed by another key`)."""

    ok: bool
    why: str = ""


def available() -> str | None:
    """Where cosign is on PATH; None when it is not installed."""
    return shutil.which(COSIGN)


def generate_key_pair(folder: Path, password: str) -> tuple[Path, Path]:
    """A new key pair in FOLDER (cosign.key, its password PASSWORD; cosign.pub): the bench's, a test's."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {"COSIGN_PASSWORD": password, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [COSIGN, "generate-key-pair"], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CiError(f"cosign could not make a key pair in {folder}: {message(done.stderr)}")
    return folder / "cosign.key", folder / "cosign.pub"


def registry_host(ref: str) -> str:
    """The host of REF's registry, without its port: `localhost` of `localhost:5000/a/b@sha256:...`."""
    first = ref.split("/", 1)[0]
    if first.startswith("["):
        return first[: first.index("]") + 1]
    return first.rsplit(":", 1)[0] if first.count(":") == 1 else first


def transport(ref: str, cacert: str = "") -> list[str]:
    """Plain HTTP allowed only to a registry on this machine (the local one answers no TLS); CACERT: a bundle of
    the CAs that verify the registry's certificate, when it has a CA of its own."""
    if is_loopback(registry_host(ref)):
        return ["--allow-http-registry=true"]
    return [f"--registry-cacert={cacert}"] if cacert else []


def sign_command(ref: str, key: str, cacert: str = "") -> list[str]:
    """`cosign sign` of REF (by digest) with KEY (a path or env://NAME): no transparency log, no prompt."""
    return [COSIGN, "sign", "--key", key, "--tlog-upload=false", "--yes", *transport(ref, cacert), ref]


def verify_command(ref: str, public_key: str, cacert: str = "") -> list[str]:
    """`cosign verify` of REF with PUBLIC_KEY, offline: no transparency log asked, nothing but the registry."""
    offline = ["--insecure-ignore-tlog=true", "--offline=true", "--private-infrastructure=true"]
    return [COSIGN, "verify", "--key", public_key, *offline, *transport(ref, cacert), "--output", "json", ref]


def _run(command: Sequence[str], signing: Signing) -> subprocess.CompletedProcess[str]:
    if available() is None:
        raise CiError("cosign is not installed: run `ci/provision` as root (Debian's cosign package, 2.x)")
    try:
        return subprocess.run(
            list(command), env=signing.child_env, capture_output=True, text=True, timeout=SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise CiError(f"cosign did not answer within {SECONDS}s: is the registry reachable?") from None


def message(stderr: str) -> str:
    """cosign's own reason, in one inert line: its last `Error: ...` line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    found = errors[-1] if errors else (lines[-1] if lines else "no message")
    return inert(found, LINE).replace("\n", " ")


def sign(ref: str, signing: Signing, cas: Sequence[Path] = ()) -> None:
    """Sign REF (`REGISTRY/NAME@sha256:...`, the index) with the project's key, its registry's certificate verified
    with CAS added (a registry with a CA of its own); CiError naming why not."""
    if not signing.key:
        raise CiError("no signing key: set COSIGN_KEY (a path, or env://NAME) and COSIGN_PASSWORD")
    with tls.bundle_file(cas) as cacert:
        done = _run(sign_command(ref, signing.key, cacert), signing)
    if done.returncode != 0:
        raise CiError(f"cosign could not sign {ref}: {why_not_signed(done.stderr)}")


def why_not_signed(stderr: str) -> str:
    text = stderr.lower()
    if "decrypt" in text:
        return "the key does not open with COSIGN_PASSWORD (wrong password, or another key)"
    return message(stderr)


def verify(ref: str, signing: Signing, cas: Sequence[Path] = ()) -> Verified:
    """Whether REF carries a signature that verifies with the public key, offline (CAS: as `sign`'s)."""
    if not signing.public_key:
        return Verified(False, "no public key: set COSIGN_PUBLIC_KEY (a path, or env://NAME)")
    with tls.bundle_file(cas) as cacert:
        done = _run(verify_command(ref, signing.public_key, cacert), signing)
    return Verified(True) if done.returncode == 0 else Verified(False, why_unverified(done.stderr))


def why_unverified(stderr: str) -> str:
    """cosign verify's failure in a few words: unsigned, signed by another key, or its own reason."""
    text = stderr.lower()
    if "no signatures found" in text:
        return "unsigned: no signature in the registry"
    if "no matching signatures" in text or "invalid signature" in text:
        return "signed by another key: no signature verifies with COSIGN_PUBLIC_KEY"
    return message(stderr)


# --- what doctor asks of cosign ----------------------------------------------------------------------------

MAJOR = 2  # cosign 3 fetches Sigstore's trust data by default (the network): the suite signs and checks with 2.x


def version() -> str:
    """cosign's version (its own gitVersion; Debian's build says `devel`, then the package's); "" unknown."""
    found = ""
    try:
        done = subprocess.run([COSIGN, "version", "--json"], capture_output=True, text=True, timeout=20, check=False)
        found = str(json.loads(done.stdout or "{}").get("gitVersion", "")).removeprefix("v")
    except (OSError, subprocess.TimeoutExpired, ValueError, AttributeError):
        pass
    if parse_version(found) is None:
        try:
            done = subprocess.run(
                ["dpkg-query", "-W", "-f", "${Version}", COSIGN],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            found = done.stdout.strip() if done.returncode == 0 else found
        except (OSError, subprocess.TimeoutExpired):
            pass
    return inert(found, 40)


def public_half(signing: Signing) -> str:
    """The public key of the private key COSIGN_KEY names, opened with COSIGN_PASSWORD (`cosign public-key`,
    offline); CiError naming why it does not open."""
    done = _run([COSIGN, "public-key", "--key", signing.key], signing)
    if done.returncode != 0:
        raise CiError(why_not_signed(done.stderr))
    return done.stdout


def same_key(first: str, second: str) -> bool:
    """Whether two PEM texts hold the same key: whitespace and line breaks aside."""
    return "".join(first.split()) == "".join(second.split())


def key_text(named: str, signing: Signing) -> str | None:
    """The text of a key NAMED as cosign takes it (a path, or env://NAME's value as given to cosign); None when
    it cannot be read from here: empty, no such file, or another of cosign's schemes (a KMS, a token)."""
    if named.startswith(ENV_KEY):
        return signing.child_env.get(named.removeprefix(ENV_KEY)) or None
    if "://" in named or named.startswith("pkcs11:"):
        return None
    try:
        return Path(named).read_text(errors="replace") or None
    except OSError:
        return None


def key_problem(named: str, signing: Signing) -> str | None:
    """Why cosign could not read the key NAMED, in a few words; None when it can or it is not ours to say."""
    if named.startswith(ENV_KEY):
        return None if key_text(named, signing) else f"{named.removeprefix(ENV_KEY)} (its env://) is not set"
    if "://" in named or named.startswith("pkcs11:"):
        return None
    return None if Path(named).is_file() else f"no file at {inert(named, LINE)}"
