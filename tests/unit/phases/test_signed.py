"""verify --signed's judgement of one pushed image, from what the registry holds (pure: no registry, no cosign)."""

from __future__ import annotations

from typing import Any

from ci.phases.signed import Expected, Published, problems, published
from ci.sign.cosign import Verified

PUSHED = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
SOURCES = "sha256:" + "c" * 64
REVISION = "d" * 40
EXPECTED = Expected("backend", "r/p-backend:abc1234", f"r/p-backend@{PUSHED}", "abc1234", REVISION, SOURCES)


def raw(commit: str = "abc1234", revision: str = REVISION, sources: str = SOURCES) -> dict[str, Any]:
    """imagetools' JSON for one platform, as `published_image` reads it."""
    slsa = {
        "invocation": {"parameters": {"args": {"build-arg:GIT_COMMIT": commit, "label:x": "y"}}},
        "metadata": {"https://mobyproject.org/buildkit@v1#metadata": {"vcs": {"revision": revision}}},
    }
    return {"image": {"config": {"Labels": {"mainza.source-digest": sources}}}, "provenance": {"SLSA": slsa}}


def test_the_image_prod_pushed_signed_of_the_expected_commit_and_sources_passes() -> None:
    assert problems(EXPECTED, PUSHED, published(raw()), Verified(True)) == []


def test_a_provenance_naming_another_commit_fails_naming_both() -> None:
    found = problems(EXPECTED, PUSHED, published(raw(commit="fff0000")), Verified(True))
    assert found == ["its provenance names commit fff0000, not abc1234"]
    found = problems(EXPECTED, PUSHED, published(raw(revision="e" * 40)), Verified(True))
    assert found == [f"its provenance's revision is {'e' * 12}, not {'d' * 12}"]


def test_a_tag_moved_to_an_unsigned_image_of_other_sources_says_each() -> None:
    found = problems(EXPECTED, OTHER, published(raw(sources=OTHER)), Verified(False, "unsigned: no signature"))
    assert found == [
        "unsigned: no signature",
        f"its tag r/p-backend:abc1234 names {'b' * 12}, not the digest prod pushed {'a' * 12} (moved)",
        f"its sources {'b' * 12} are not {'c' * 12}",
    ]


def test_no_provenance_and_no_label_are_failures_never_passes() -> None:
    bare = {"image": {"config": {"Labels": {}}}, "provenance": None}
    assert problems(EXPECTED, PUSHED, published(bare), Verified(True)) == [
        "no provenance attestation",
        f"its sources none are not {'c' * 12}",
    ]
    assert problems(EXPECTED, PUSHED, Published(), Verified(True))[0] == "no provenance attestation"


def test_each_platform_of_a_multi_platform_index_is_held_to_the_same() -> None:
    amd, arm = raw(), raw(commit="0ld0000")
    index = {
        "image": {"linux/amd64": amd["image"], "linux/arm64": arm["image"]},
        "provenance": {"linux/amd64": amd["provenance"], "linux/arm64": arm["provenance"]},
    }
    assert problems(EXPECTED, PUSHED, published(index), Verified(True)) == [
        "its provenance names commit 0ld0000/abc1234, not abc1234"
    ]


def test_a_provenance_without_a_revision_is_held_to_its_commit_alone() -> None:
    assert problems(EXPECTED, PUSHED, published(raw(revision="")), Verified(True)) == []
