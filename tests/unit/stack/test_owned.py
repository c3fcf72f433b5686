"""What of the engine is the project's (its builds, its repositories, never a label), and the previous builds
dev's clean step removes, without an engine."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ci import docker as dk
from ci.builds.ledger import Built
from ci.stack import owned
from tests.unit.prune.test_plan import P, built, image

# --- what is the project's ------------------------------------------------------------------------


def test_ownership_is_what_the_builds_made_and_the_repositories_they_tagged() -> None:
    owner = owned.Ownership.of(
        P, [built("d1"), built("p1", "frontend", "abc123", f"{P}-frontend:abc123", f"reg.test/{P}-frontend:latest")]
    )
    assert owner.built == {"sha256:d1", "sha256:p1"}
    assert owner.services == ["backend", "frontend"]
    assert owner.service(f"reg.test/{P}-frontend:abc123") == "frontend"  # the registry's repository it pushed to
    assert owner.service(f"{P}-backend:anything") == "backend"
    assert owner.service(f"{P}-tools:1") is None and owner.service("backend:dev") is None
    assert owner.service(f"other/{P}-backend:dev") is None


@pytest.mark.parametrize(
    ("facts", "ours"),
    [
        (image("d1"), True),  # dangling, and the ledger lists it
        (image("x", "team/app:1", labels={dk.PROJECT_LABEL: P}), False),  # built FROM the project's
        (image("y", labels={dk.PROJECT_LABEL: P}), False),  # dangling, labelled, not in the ledger
        (image("z", f"{P}-backend:old"), True),  # a build from before the ledger, by its name alone
        (image("w", f"{P}-backend:old", "team/app:2"), False),  # named by someone else too, not in the ledger
        (image("d1", "team/app:3"), True),  # built by the project, named by someone else since
    ],
)
def test_an_image_is_the_projects_by_its_build_or_its_names_never_by_its_label(
    facts: dk.ImageFacts, ours: bool
) -> None:
    assert owned.Ownership.of(P, [built("d1")]).owns(facts) is ours


# --- dev's clean step -----------------------------------------------------------------------------


def leftovers(images: Sequence[dk.ImageFacts], builds: Sequence[Built], *, current: Sequence[str] = ("now",),
              in_use: Sequence[str] = ()) -> dict[str, owned.Item]:  # fmt: skip
    found = owned.leftover_builds(
        owned.Ownership.of(P, builds),
        builds,
        "dev",
        ["backend", "frontend"],
        [f"sha256:{c}" for c in current],
        images,
        [f"sha256:{u}" for u in in_use],
    )
    return {i.id.removeprefix("sha256:"): i for i in found}


def test_dev_removes_its_previous_builds_by_their_ledger_ids_never_prods_nor_the_current_nor_one_in_use() -> None:
    builds = [
        built("old"),
        built("older", "frontend"),
        built("prod", "backend", "abc123", f"{P}-backend:abc123", f"{P}-backend:latest"),
        built("used"),
        built("worker", "worker"),  # a service not in the stack
        built("now"),
    ]
    images = [
        image("old", f"{P}-backend:rollback"),
        image("older"),
        image("prod", f"{P}-backend:abc123", f"{P}-backend:latest"),
        image("used"),
        image("worker"),
        image("now", f"{P}-backend:dev"),
        image("unknown", labels={dk.PROJECT_LABEL: P}),  # not in the ledger: never dev's
    ]
    found = leftovers(images, builds, in_use=["used"])
    assert sorted(found) == ["old", "older"]
    assert found["old"].refs == (f"{P}-backend@sha256:old",) and found["older"].refs == ("sha256:older",)
    assert found["old"].why == "previous dev build of backend"


def test_dev_untags_only_its_names_of_a_previous_build_someone_else_named_too() -> None:
    builds = [built("shared"), built("classic"), built("theirs")]
    images = [
        image("shared", f"{P}-backend:rollback", "team/app:1"),
        image("classic", f"{P}-backend:rollback", "team/app:2", digests=False),
        image("theirs", "team/app:3"),  # its project's names moved on: the image is theirs now
    ]
    found = leftovers(images, builds)
    assert sorted(found) == ["classic", "shared"]
    assert found["shared"].refs == (f"{P}-backend@sha256:shared",)  # drops the repository's tags, not theirs
    assert found["classic"].refs == (f"{P}-backend:rollback",)  # the classic store: by name, never the id
    assert found["shared"].why == "previous dev build of backend, also tagged team/app:1: untagged only"
