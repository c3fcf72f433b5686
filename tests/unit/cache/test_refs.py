"""The registry cache's layout (ci/cache/refs.py): branch refs, identity keys, and when a target exports."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from ci.builds.bakefile import ResolvedTarget
from ci.cache import refs, registry
from ci.cache.registry_api import Presence
from ci.core.errors import CiError
from ci.core.settings import cache_variables
from ci.sources.git import Commit

TARGET = ResolvedTarget("backend", args={"PYTHON_IMAGE": "python:3.11-slim", "GIT_COMMIT": "tree"})
CLEAN = Commit("1a2b3c4", "1a2b3c4" + "0" * 33, 1_700_000_000, False)


def layout(**changes: object) -> refs.Layout:
    values: dict[str, object] = {
        "registry": "localhost:5000",
        "project": "p",
        "branches": refs.Branches("feature/x", "main"),
        "export_problem": None,
        "no_cache": False,
    } | changes
    return refs.Layout(**values)  # type: ignore[arg-type]


def test_a_branch_tag_is_its_readable_name_and_a_hash_of_the_exact_name_the_default_branchs_plain() -> None:
    # docker-bake.hcl's branch_tag, the same rule (tests/integration/test_cache_refs.py holds them together)
    digest = hashlib.sha256(b"feature/new ui").hexdigest()[:12]
    assert refs.Branches("feature/new ui", "main").tags == (f"branch-feature-new-ui-{digest}", "branch-main")
    assert refs.Branches("main", "main").tags == ("branch-main",)
    assert refs.Branches("main", "trunk").tags == (refs.branch_tag("main", "trunk"), "branch-trunk")
    assert refs.branch_tag("main", "trunk") != "branch-main"
    assert refs.branch_tag("release/1.0", "release/1.0").startswith("branch-release-1.0-")  # not a tag as it is


@pytest.mark.parametrize("default", ["main", "feature/a", "feature-a", "x" * 300])
def test_distinct_branches_never_share_a_cache_ref_and_every_tag_is_a_valid_one(default: str) -> None:
    names = ["main", "Main", "feature/a", "feature-a", "feature_a", "feature a", "feature--a", "fëature", "fäature"]
    names += ["機能", "功能", "x" * 300, "x" * 301, "x" * 80 + "a", "x" * 80 + "b", "-", "a..b", "a/b/c", "a-b-c"]
    tags = [refs.branch_tag(name, default) for name in names]
    assert len(set(tags)) == len(names), [t for t in tags if tags.count(t) > 1]
    assert all(re.fullmatch(r"[\w][\w.-]{0,127}", tag, re.ASCII) for tag in tags)
    assert refs.branch_tag("fëature", default).startswith("branch-f-ature-")  # still readable


def test_the_branch_is_cache_branch_then_the_cis_then_the_checkout(tmp_path: Path) -> None:
    env = {"GITHUB_REF_NAME": "12/merge", "GITHUB_HEAD_REF": "feature"}
    assert refs.Branches.of(cache_variables({**env, "CACHE_BRANCH": "mine"}), tmp_path) == refs.Branches("mine", "main")
    assert refs.Branches.of(cache_variables(env), tmp_path).branch == "feature"  # a pull request's source branch
    trunk = cache_variables({"CACHE_DEFAULT_BRANCH": " trunk ", "CACHE_BRANCH": " "})
    assert refs.Branches.of(trunk, tmp_path) == refs.Branches("trunk", "trunk")  # tmp_path: no git, no branch


def test_the_identity_key_follows_sources_and_build_args_only() -> None:
    key = refs.identity_key(TARGET, {"GIT_COMMIT": "1a2b3c4"}, "sha256:aa")
    assert key == refs.identity_key(TARGET, {"GIT_COMMIT": "1a2b3c4"}, "sha256:aa")
    assert key != refs.identity_key(TARGET, {"GIT_COMMIT": "1a2b3c4"}, "sha256:bb")
    assert key != refs.identity_key(TARGET, {"GIT_COMMIT": "5d6e7f8"}, "sha256:aa")
    other_base = ResolvedTarget("backend", args={**TARGET.args, "PYTHON_IMAGE": "python:3.12-slim"})
    assert key != refs.identity_key(other_base, {"GIT_COMMIT": "1a2b3c4"}, "sha256:aa")
    # A build arg from .env (bake resolves the target with it: ci/core/settings.py bake_variables) is another identity,
    # so a build with another API URL never reads nor writes the identity ref of one with the first.
    api = ResolvedTarget("backend", args={**TARGET.args, "VITE_API_URL": "https://api.example.test"})
    assert key != refs.identity_key(api, {"GIT_COMMIT": "1a2b3c4"}, "sha256:aa")


@pytest.mark.parametrize(
    ("changes", "identity", "held", "why"),
    [
        ({}, CLEAN, "absent", ""),
        ({}, CLEAN, "unknown", ""),  # the registry does not say: export, as a build of a new identity would
        ({}, CLEAN, "present", "the registry holds its identity already (id-k)"),
        ({"no_cache": True}, CLEAN, "present", ""),  # every step ran: the cache is whole
        ({}, Commit("1a2b3c4", "f" * 40, 1, True), "absent", "its inputs are not a commit's"),
        ({}, None, "absent", "its inputs are not a commit's"),
        ({"export_problem": "the builder cannot export"}, CLEAN, "absent", "the builder cannot export"),
    ],
)
def test_a_target_exports_unless_its_cache_could_be_poorer(
    changes: dict[str, object], identity: Commit | None, held: Presence, why: str
) -> None:
    found = layout(**changes).not_exported(identity, held, "id-k")
    assert found.startswith(why) and bool(found) == bool(why)


def test_the_override_adds_identity_refs_and_replaces_cache_to() -> None:
    repo = "localhost:5000/p/backend"
    target = refs.TargetCache(
        "backend", repo, "id-n", (f"{repo}:id-k", f"{repo}:id-j", f"{repo}:branch-main"), (),
        "the builder cannot export registry cache",
    )  # fmt: skip
    assert target.override(ignore_error=True) == {
        "cache-from": [f"type=registry,ref={repo}:{tag}" for tag in ("id-k", "id-j", "branch-main")],
        "cache-to": [],
    }
    assert target.line(6, 8) == (
        "backend cache: 6/8 steps cached, from localhost:5000/p/backend:{id-k, id-j, branch-main}; "
        "not exported: the builder cannot export registry cache"
    )
    exporting = refs.TargetCache("backend", repo, "id-n", (), (f"{repo}:id-n", f"{repo}:branch-main"))
    # One exporter: the branch ref is tagged on its manifest after the build (two race on BuildKit 0.13).
    assert exporting.override(ignore_error=False)["cache-to"] == [
        f"type=registry,ref={repo}:id-n,mode=max,ignore-error=false"
    ]
    assert exporting.line(2, 8).endswith("no ref in the registry yet; exported to id-n, branch-main")


def test_the_identity_refs_cache_to_keeps_the_compression_the_bake_file_declares() -> None:
    repo = "localhost:5000/p/backend"
    exporting = refs.TargetCache("backend", repo, "id-n", (), (f"{repo}:id-n",))
    declared = ({"type": "registry", "ref": f"{repo}:branch-main", "mode": "max", "ignore-error": "true",
                 "compression": "zstd", "compression-level": "3", "oci-mediatypes": "true"},)  # fmt: skip
    assert exporting.override(ignore_error=False, declared=declared)["cache-to"] == [
        f"type=registry,ref={repo}:id-n,mode=max,ignore-error=false,compression=zstd,compression-level=3,"
        "oci-mediatypes=true"
    ]


def test_a_degraded_cache_says_so_first_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    plan = registry.CachePlan("registry.test:5443/team")
    assert plan.verdict() == ""
    plan.degrade("registry.test:5443 wants a login: run `docker login registry.test:5443`", strict=False)
    plan.degrade("a second reason", strict=False)
    assert plan.status == "degraded"
    assert plan.verdict() == "cache degraded: registry.test:5443 wants a login: run `docker login registry.test:5443`"
    assert capsys.readouterr().out.count("warning: ") == 2
    other = registry.CachePlan("localhost:5000")
    other.degrade("localhost:5000 answered HTTP 500", strict=False)
    assert other.verdict().endswith(": fix the registry, or `--strict-cache` to fail on it")
    with pytest.raises(CiError, match="--strict-cache"):
        other.degrade("again", strict=True)


def test_a_degraded_cache_verdict_keeps_the_cause_and_the_fix_short(capsys: pytest.CaptureFixture[str]) -> None:
    host = "registry.test:5443"
    refused = registry.CachePlan(f"{host}/team")
    refused.degrade(
        f"{host} refused the login Docker has for it (/home/ci/.docker/config.json): wrong user or password, or "
        f"expired; run `docker login {host}` again; building without registry cache",
        strict=False,
    )
    assert refused.verdict() == (
        f"cache degraded: {host} refused the login Docker has for it: wrong user or password, or expired; "
        f"run `docker login {host}` again"
    )
    untrusted = registry.CachePlan(f"{host}/team")
    untrusted.degrade(
        f"cache registry {host}/team unavailable: {host}'s certificate is not trusted: put its CA in "
        f"/etc/docker/certs.d/{host}/ca.crt (the engine reads it too) or REQUESTS_CA_BUNDLE; building without "
        "registry cache",
        strict=False,
    )
    assert untrusted.verdict() == (
        f"cache degraded: {host}'s certificate is not trusted: put its CA in /etc/docker/certs.d/{host}/ca.crt "
        "or REQUESTS_CA_BUNDLE"
    )
    assert "(the engine reads it too)" in capsys.readouterr().out  # the warning keeps every detail


def test_distinct_bytes_count_a_blob_two_refs_share_once() -> None:
    shared, own = ("sha256:a", 100), ("sha256:b", 7)
    refs = [
        registry.CacheRef("r/p/backend:id-1", 100, 1, frozenset({shared})),
        registry.CacheRef("r/p/backend:branch-main", 107, 2, frozenset({shared, own})),
    ]
    assert registry.distinct_bytes(refs) == 107
    assert registry.distinct_bytes([]) == 0
