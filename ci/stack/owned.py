"""What of the engine is the project's, by what its builds left and never by a label (the label
`mainza.project` that bake gives every image is inherited by an image someone builds FROM one of the
project's): `Ownership`; the previous builds dev's clean step removes, each an `Item` with the references
that remove exactly it. prune's plan (ci/prune/plan.py) is made of the same items and the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ci import docker as dk
from ci.builds.ledger import Built
from ci.core.units import short_id
from ci.stack.services import repository


@dataclass
class Item:
    """Something the plan removes or keeps, with the bytes it frees and why."""

    kind: str  # container | image | volume | build cache
    id: str
    name: str
    size: int
    why: str
    refs: tuple[str, ...] = ()  # for an image: the references to remove


@dataclass(frozen=True)
class Ownership:
    """What is PROJECT's, by what its builds left (never by a label): the images BUILT (their ids: the ledger,
    the build record) and the repositories those builds tagged, each with its service. `<project>-<service>`
    is the project's own repository for every service it builds (the bake file names images so)."""

    project: str
    built: frozenset[str] = frozenset()
    repositories: Mapping[str, str] = field(default_factory=dict)  # repository -> service

    @classmethod
    def of(cls, project: str, builds: Iterable[Built], image_ids: Iterable[str] = ()) -> Ownership:
        """From BUILDS (the ledger's, the record's) and more IMAGE_IDS the project built (the record's)."""
        found = list(builds)
        repositories = {f"{project}-{b.target}": b.target for b in found}
        repositories |= {repository(t): b.target for b in found for t in b.tags}
        return cls(project, frozenset({b.image_id for b in found} | set(image_ids)), repositories)

    def service(self, ref: str) -> str | None:
        """The service whose builds the repository of REF holds, None when it is not the project's."""
        return self.repositories.get(repository(ref))

    @property
    def services(self) -> list[str]:
        return sorted(set(self.repositories.values()))

    def owns(self, image: dk.ImageFacts) -> bool:
        """Built by the project, or tagged in its repositories alone; a dangling image only by its id."""
        return image.id in self.built or (bool(image.tags) and all(self.service(t) for t in image.tags))

    def foreign_tags(self, image: dk.ImageFacts) -> list[str]:
        """IMAGE's tags outside the project's repositories: someone else's names for it."""
        return [t for t in image.tags if not self.service(t)]

    def owns_container(self, container: dk.ContainerFacts) -> bool:
        """A container compose made for this project; never one run by hand (`docker run`), whatever image it
        runs: its writable layer and volumes may hold a person's work, which nothing tells from debris."""
        return container.labels.get(dk.COMPOSE_PROJECT_LABEL) == self.project

    def labelled(self, labels: Mapping[str, str]) -> bool:
        """Carries the project's label: inherited by an image built FROM the project's, so no proof."""
        return labels.get(dk.PROJECT_LABEL) == self.project


def image_refs(image: dk.ImageFacts, owner: Ownership) -> tuple[str, ...]:
    """How to remove exactly this image of the project, without force, or untag the project's names of it
    when someone else named it too. With the containerd image store, `repo@<id>` drops the repository's tags
    that point at this image and no other (a tag a concurrent build moved to a new image is not touched);
    without it (classic store), the id itself, or the project's tags by name when others stay."""
    own = {repository(t) for t in image.tags if owner.service(t)}
    by_digest = tuple(sorted({f"{r}@{image.id}" for r in own} & set(image.repo_digests)))
    if own and len(by_digest) == len(own):
        return by_digest
    if owner.foreign_tags(image):
        return tuple(sorted(t for t in image.tags if owner.service(t)))
    return (image.id,)


def leftover_builds(
    owner: Ownership,
    builds: Sequence[Built],
    tag: str,
    targets: Iterable[str],
    current: Iterable[str],
    images: Sequence[dk.ImageFacts],
    in_use: Iterable[str],
) -> list[Item]:
    """dev's clean step: the previous builds of TARGETS tagged TAG (dev's and watch's, never prod's) that the
    ledger BUILDS lists, but the CURRENT ones (the build record's image ids), still on the engine (IMAGES)
    and used by no container (IN_USE: their image ids). Each with the references that remove it, or that
    only untag the project's names of it when someone else named it too: it stays, theirs."""
    wanted, skip = set(targets), {*current, *in_use}
    previous = {b.image_id: b.target for b in builds if b.tag == tag and b.target in wanted}
    found = []
    for image in (i for i in images if i.id in previous and i.id not in skip):
        foreign = owner.foreign_tags(image)
        if foreign and len(foreign) == len(image.tags):
            continue  # no name of the project's left on it: someone else's now
        why = f"previous {tag} build of {previous[image.id]}"
        if foreign:
            why += f", also tagged {', '.join(foreign)}: untagged only"
        name = ", ".join(image.tags) or f"<none> {short_id(image.id)}"
        found.append(Item("image", image.id, name, 0, why, image_refs(image, owner)))
    return found
