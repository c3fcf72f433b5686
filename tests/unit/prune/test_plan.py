"""The choices of `nox -s prune`, without an engine: arguments, buildx flags, what goes and what stays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ci import docker as dk
from ci import frame
from ci.builds.ledger import Built
from ci.core.errors import UsageError
from ci.prune import plan as pr
from ci.sessions import prune
from ci.stack import owned
from ci.stack.services import repository

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
P = "mainza"

# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("24h", 86400), ("90m", 5400), ("1h30m", 5400), ("30s", 30), ("1.5h", 5400), ("2h0m10s", 7210)],
)
def test_until_accepts_go_durations_in_hours_minutes_seconds(raw: str, seconds: int) -> None:
    assert pr.parse_duration(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", ["1d", "24", "24H", "1h 30m", "-1h", "0s", "0h0m", "", "soon", "30ms"])
def test_until_rejects_other_forms_and_zero_naming_the_accepted_forms(raw: str) -> None:
    with pytest.raises(UsageError) as err:
        pr.parse_duration(raw)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--until {raw!r} is not a duration")
    assert "24h, 90m, 1h30m, 30s" in message


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("0", 0),
        ("1048576", 1048576),
        ("512MB", 512 * 1024**2),
        ("10GB", 10 * 1024**3),
        ("10gb", 10 * 1024**3),
        ("10G", 10 * 1024**3),
        ("10GiB", 10 * 1024**3),
        ("1.5g", 3 * 1024**3 // 2),
        ("100 kB", 100 * 1024),
        ("2048b", 2048),
    ],
)
def test_keep_storage_reads_sizes_as_docker_does(raw: str, size: int) -> None:
    assert pr.parse_size(raw) == size


@pytest.mark.parametrize("raw", ["10gigs", "-1", "ten", "", "1e9", "10 G B", "GB"])
def test_keep_storage_rejects_other_forms_naming_the_accepted_forms(raw: str) -> None:
    with pytest.raises(UsageError) as err:
        pr.parse_size(raw)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--keep-storage {raw!r} is not a size")
    assert "512MB, 10GB" in message


@pytest.mark.parametrize("raw", ["0", "-1", "three", "1.5", ""])
def test_keep_must_be_a_whole_number_of_builds_of_at_least_one(raw: str) -> None:
    with pytest.raises(UsageError, match="is not a number of builds"):
        pr.parse_keep(raw)


# --- buildx flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buildx", "buildkit", "flag"),
    [
        ("0.13.1+ds1", "v0.0.0+unknown", "--keep-storage"),  # this host: Debian's buildx, moby's builder
        ("0.17.1", "v0.17.0", "--keep-storage"),
        ("0.18.0", "v0.16.2", "--reserved-space"),
        ("0.18.0", "v0.0.0+unknown", "--reserved-space"),
        ("0.18.0", None, "--reserved-space"),
        ("v0.18.0", "v0.17.0", "--max-used-space"),
        ("0.19.0-desktop.1", "v0.18.2", "--max-used-space"),
        ("garbage", "v0.17.0", "--keep-storage"),
    ],
)
def test_space_flag_is_the_newest_both_buildx_and_the_builder_support(
    buildx: str, buildkit: str | None, flag: str
) -> None:
    assert pr.space_flag(buildx, buildkit) == flag


# --- docker's printed sizes and times -------------------------------------------------------------


def test_system_df_rows_become_figures_per_type() -> None:
    rows = [
        {"Active": "2", "Reclaimable": "449.9MB (51%)", "Size": "881.6MB", "TotalCount": "4", "Type": "Images"},
        {"Active": "2", "Reclaimable": "0B (0%)", "Size": "36.86kB", "TotalCount": "2", "Type": "Containers"},
        {"Active": "0", "Reclaimable": "0B", "Size": "0B", "TotalCount": "0", "Type": "Local Volumes"},
        {"Active": "0", "Reclaimable": "359.7kB", "Size": "359.7kB", "TotalCount": "66", "Type": "Build Cache"},
    ]
    figures = dk.disk_figures(rows)
    assert figures["images"] == {"count": 4, "active": 2, "size": 881_600_000, "reclaimable": 449_900_000}
    assert figures["containers"]["size"] == 36_860 and figures["volumes"]["count"] == 0
    assert figures["build_cache"] == {"count": 66, "active": 0, "size": 359_700, "reclaimable": 359_700}


def test_go_times_from_system_df_are_read_with_their_offset() -> None:
    parsed = pr.parse_go_time("2026-11-23 21:09:04.103048347 +0000 UTC")
    assert parsed == datetime(2026, 11, 23, 21, 9, 4, 103048, tzinfo=UTC)
    assert pr.parse_go_time("") is None


def test_the_total_buildx_prune_prints_is_read_in_bytes() -> None:
    output = "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED\nabc\ttrue\t12.39kB\t3 seconds ago\nTotal:\t12.39kB\n"
    assert pr.parse_prune_total(output) == 12390
    assert pr.parse_prune_total("") is None


# --- build cache ----------------------------------------------------------------------------------


def record(rid: str, hours_ago: float | None, size: int, **kw: Any) -> pr.CacheRecord:
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    fields: dict[str, Any] = {"type": "regular", "in_use": False, "shared": False, "description": ""} | kw
    return pr.CacheRecord(id=rid, last_used=last, size=size, **fields)


def test_cache_selection_takes_old_unused_private_records_only() -> None:
    records = [
        record("old", 30, 100),
        record("never-used", None, 10),
        record("recent", 2, 100),
        record("in-use", 30, 100, in_use=True),
        record("shared-with-an-image", 30, 100, shared=True),
        record("internal", 30, 100, type="internal"),
        record("frontend", 30, 100, type="frontend"),
        record("cache-mount", 48, 100, type="exec.cachemount"),
    ]
    chosen = pr.select_cache(records, NOW, timedelta(hours=24), 0)
    assert [r.id for r in chosen] == ["old", "never-used", "cache-mount"]


def test_cache_budget_keeps_old_records_while_the_private_cache_fits() -> None:
    records = [record("a", 50, 300), record("b", 40, 300), record("c", 30, 300), record("new", 1, 300)]
    records.append(record("shared", 60, 10_000, shared=True))  # not counted: it is an image's data
    assert pr.select_cache(records, NOW, timedelta(hours=24), 1200) == []
    # 1200 private bytes, budget 700: the least recently used go first until it fits.
    assert [r.id for r in pr.select_cache(records, NOW, timedelta(hours=24), 700)] == ["a", "b"]


def test_cache_records_are_read_from_system_df_verbose() -> None:
    rows = [
        {
            "CacheType": "regular",
            "Description": "[deps 2/3] COPY x",
            "ID": "w1c",
            "InUse": "false",
            "LastUsedAt": "2026-01-09 10:00:00.5 +0000 UTC",
            "Shared": "true",
            "Size": "12.3kB",
        }
    ]
    [parsed] = pr.cache_records(rows)
    assert parsed == pr.CacheRecord(
        "w1c", "regular", False, True, datetime(2026, 1, 9, 10, 0, 0, 500000, tzinfo=UTC), 12300, "[deps 2/3] COPY x"
    )


# --- containers, volumes, images ------------------------------------------------------------------


def container(
    cid: str,
    status: str,
    image: str = "sha256:other",
    labels: dict[str, str] | None = None,
    anonymous: tuple[str, ...] = (),
    named: tuple[str, ...] = (),
) -> dk.ContainerFacts:
    return dk.ContainerFacts(cid, f"c-{cid}", image, status, labels or {}, anonymous + named, anonymous)


def compose(project: str = P) -> dict[str, str]:
    return {dk.COMPOSE_PROJECT_LABEL: project, dk.PROJECT_LABEL: P}


def image(
    iid: str, *tags: str, minutes_ago: int = 0, digests: bool = True, labels: dict[str, str] | None = None
) -> dk.ImageFacts:
    repos = sorted({repository(t) for t in tags})
    return dk.ImageFacts(
        f"sha256:{iid}",
        tags,
        tuple(f"{r}@sha256:{iid}" for r in repos) if digests else (),
        NOW - timedelta(minutes=minutes_ago),
        labels or {},
    )


def owner(*built: str) -> owned.Ownership:
    """The project's: the images BUILT (ids without sha256:, as the ledger lists them), and its services'
    repositories."""
    repositories = {f"{P}-backend": "backend", f"{P}-frontend": "frontend"}
    return owned.Ownership(P, frozenset(f"sha256:{b}" for b in built), repositories)


def plan(
    containers: list[dk.ContainerFacts],
    images: Sequence[dk.ImageFacts] = (),
    *argv: str,
    detail: dict[str, list[dict[str, Any]]] | None = None,
    built: Sequence[str] = (),
) -> pr.Plan:
    options = parse_options(list(argv))
    return pr.make_plan(owner(*built), containers, list(images), detail or {}, options, NOW)


def ids(items: list[owned.Item], kind: str) -> list[str]:
    return [i.id for i in items if i.kind == kind]


def test_only_stopped_containers_compose_made_for_this_project_are_removed_never_one_run_by_hand() -> None:
    containers = [
        container("exited", "exited", labels=compose()),
        container("dead", "dead", labels=compose()),
        # `docker run` of the project's own build, and of an image that inherited its label: their owners'.
        container("run-outside-compose", "exited", image="sha256:b1", labels={dk.PROJECT_LABEL: P}),
        container("run-from-a-derived-image", "exited", labels={dk.PROJECT_LABEL: P}),
        container("running", "running", labels=compose()),
        container("created", "created", labels=compose()),  # compose up may be about to start it
        container("other-compose-project-on-our-image", "exited", image="sha256:b1", labels=compose("someone-else")),
        container("unlabelled", "exited"),
        container("other-project-image", "exited", labels={dk.PROJECT_LABEL: "other"}),
    ]
    result = plan(containers, [image("b1", f"{P}-backend:b1")])
    assert ids(result.remove, "container") == ["exited", "dead"]
    assert ids(result.keep, "container") == ["running", "created", "run-outside-compose", "run-from-a-derived-image"]
    why = {i.id: i.why for i in result.keep}
    assert why["run-outside-compose"] == "run outside compose: its owner's, never the suite's"
    assert why["sha256:b1"].startswith("used by container c-")


def test_anonymous_volumes_go_with_their_containers_only_with_volumes() -> None:
    containers = [
        container("stopped", "exited", labels=compose(), anonymous=("anon1", "shared-anon"), named=("data",)),
        container("foreign", "running", anonymous=("shared-anon",)),
    ]
    without = plan(containers)
    assert ids(without.remove, "volume") == []
    assert [i.why for i in without.keep if i.id == "anon1"] == [
        "anonymous volume of c-stopped: removed only with --volumes"
    ]
    with_volumes = plan(containers, [], "--volumes")
    assert ids(with_volumes.remove, "volume") == ["anon1"]  # never "data" (named), nor one still mounted
    assert "also mounted by c-foreign" in next(i.why for i in with_volumes.keep if i.id == "shared-anon")


def test_old_builds_beyond_keep_and_dangling_images_go_newest_builds_stay() -> None:
    images = [image(f"b{n}", f"{P}-backend:b{n}", minutes_ago=10 - n) for n in range(1, 6)]
    images += [image("f1", f"{P}-frontend:dev", minutes_ago=3), image("dangling", minutes_ago=20)]
    result = plan([], images, built=["dangling"])
    assert ids(result.remove, "image") == ["sha256:b2", "sha256:b1", "sha256:dangling"]
    assert set(ids(result.keep, "image")) == {"sha256:b5", "sha256:b4", "sha256:b3", "sha256:f1"}
    b1 = next(i for i in result.remove if i.id == "sha256:b1")
    assert b1.why == "build 5 of backend, newest first (keeping 3)"
    assert b1.refs == (f"{P}-backend@sha256:b1",)  # containerd store: only this repository's tags, by identity


def test_an_image_a_container_uses_stays_unless_that_container_is_removed_too() -> None:
    images = [image(f"b{n}", f"{P}-backend:b{n}", minutes_ago=10 - n) for n in range(1, 5)]
    images.append(image("dangling-used", minutes_ago=30))
    containers = [
        container("running", "running", image="sha256:b1", labels=compose()),
        container("foreign-stopped", "exited", image="sha256:dangling-used"),
        container("ours-stopped", "exited", image="sha256:b2", labels=compose()),
    ]
    result = plan(containers, images, "--keep", "1", built=["dangling-used"])
    assert ids(result.remove, "image") == ["sha256:b3", "sha256:b2"]
    why = {i.id: i.why for i in result.keep if i.kind == "image"}
    assert why["sha256:b1"] == "used by container c-running"
    assert why["sha256:dangling-used"] == "used by container c-foreign-stopped"


def test_a_build_also_tagged_elsewhere_or_not_a_service_build_stays() -> None:
    images = [
        image("b1", f"{P}-backend:b1", "localhost:5000/team/backend:b1", minutes_ago=9),
        image("b0", f"{P}-backend:b0", "team/backend:b0", minutes_ago=10),  # not in the ledger: not the project's
        image("tool", f"{P}-tools:1", minutes_ago=8, labels={dk.PROJECT_LABEL: P}),
        image("b2", f"{P}-backend:b2", minutes_ago=2),
        image("renamed", "team/app:3", minutes_ago=20),  # built by the project, its names moved on since
    ]
    result = plan([], images, "--keep", "1", built=["b1", "renamed"])
    assert ids(result.remove, "image") == []
    why = {i.id: i.why for i in result.keep}
    assert why["sha256:b1"] == "also tagged localhost:5000/team/backend:b1"
    assert why["sha256:renamed"] == "named only team/app:3 by now: theirs"
    assert why["sha256:tool"] == (
        f"carries {P}'s label, not its build (none in its ledger, named outside its repositories)"
    )
    assert "sha256:b0" not in why


def test_a_build_with_several_tags_goes_by_repository_digest_or_by_id_on_the_classic_store() -> None:
    images = [
        image("old", f"{P}-backend:abc123", f"{P}-backend:latest", minutes_ago=9),
        image("classic", f"{P}-frontend:x", minutes_ago=9, digests=False),
        image("new", f"{P}-backend:def456", minutes_ago=1),
        image("newf", f"{P}-frontend:y", minutes_ago=1),
    ]
    refs = {i.id: i.refs for i in plan([], images, "--keep", "1").remove}
    assert refs == {"sha256:old": (f"{P}-backend@sha256:old",), "sha256:classic": ("sha256:classic",)}


def test_plan_sizes_come_from_system_df_verbose() -> None:
    detail = {
        "Containers": [{"ID": "gone", "Size": "32.8kB"}],
        "Images": [{"ID": "sha256:dangling", "UniqueSize": "103.3MB", "Size": "419MB"}],
        "Volumes": [{"Name": "anon", "Size": "1.5MB"}],
        "BuildCache": [
            {"ID": "r", "CacheType": "regular", "InUse": "false", "Shared": "false", "Size": "57.8MB", "LastUsedAt": ""}
        ],
    }
    containers = [container("gone", "exited", labels=compose(), anonymous=("anon",))]
    result = plan(containers, [image("dangling")], "--volumes", detail=detail, built=["dangling"])
    sizes = {i.kind: i.size for i in result.remove}
    assert sizes == {"container": 32_800, "volume": 1_500_000, "image": 103_300_000, "build cache": 57_800_000}
    assert result.size_of() == 32_800 + 1_500_000 + 103_300_000 + 57_800_000


def test_anonymous_volumes_are_those_not_named_at_creation() -> None:
    inspect = {
        "HostConfig": {
            "Binds": ["data:/data", "/host/path:/host"],
            "Mounts": [{"Type": "volume", "Source": "proj_db", "Target": "/db"}, {"Type": "volume", "Target": "/c"}],
        },
        "Mounts": [
            {"Type": "volume", "Name": "data"},
            {"Type": "bind", "Source": "/host/path"},
            {"Type": "volume", "Name": "proj_db"},
            {"Type": "volume", "Name": "a" * 64},  # the unnamed --mount
            {"Type": "volume", "Name": "b" * 64},  # an image VOLUME
        ],
    }
    assert dk.anonymous_volumes(inspect) == ("a" * 64, "b" * 64)


# --- what is the project's ------------------------------------------------------------------------


def built(iid: str, target: str = "backend", tag: str = "dev", *tags: str) -> Built:
    return Built(f"sha256:{iid}", target, tag, tags or (f"{P}-{target}:{tag}",), "2026-01-10T11:00:00Z")


def test_an_image_built_from_the_projects_and_its_hand_run_container_and_volume_all_stay() -> None:
    """Another team's image FROM the project's (it inherits the label), under its own name and dangling, and
    a stopped container run from it with an anonymous volume: prune with --volumes takes none of them."""
    labels = {dk.PROJECT_LABEL: P}
    images = [
        image("derived", "team/app:1", "team/app:latest", labels=labels),
        image("derived-old", minutes_ago=30, labels=labels),
        image("b1", f"{P}-backend:dev", minutes_ago=5, labels=labels),
    ]
    run = container("team-app", "exited", image="sha256:derived", labels=labels, anonymous=("their-data",))
    result = plan([run], images, "--volumes", "--keep", "1")
    assert [i for i in result.remove if i.kind != "build cache"] == []
    why = {i.id: i.why for i in result.keep}
    assert why["team-app"] == "run outside compose: its owner's, never the suite's"
    assert why["sha256:derived"] == why["sha256:derived-old"]
    assert why["sha256:derived"].startswith(f"carries {P}'s label, not its build")
    assert "their-data" not in why  # a volume of a container that is not the project's is not even considered


# --- --until's floor -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1h", "60m", "3600s", "24h", "1000h"])
def test_until_accepts_the_floor_and_beyond(raw: str) -> None:
    assert pr.parse_until(raw) >= timedelta(hours=1)


@pytest.mark.parametrize("raw", ["1d", "24", "-1h", "0s", "soon"])
def test_until_that_is_no_duration_names_the_forms_and_the_floor(raw: str) -> None:
    with pytest.raises(UsageError) as err:
        pr.parse_until(raw)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--until {raw!r} is not a duration")
    assert "1h or more, e.g. 24h, 90m, 1h30m" in message


@pytest.mark.parametrize("raw", ["1s", "30s", "59m59s", "0.5h"])
def test_until_below_the_floor_is_one_line_naming_it(raw: str) -> None:
    with pytest.raises(UsageError) as err:
        pr.parse_until(raw)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--until {raw!r} is shorter than the floor of 1h:")
    assert "the whole engine's" in message


def test_the_build_cache_item_of_the_plan_says_it_is_engine_wide() -> None:
    detail = {
        "BuildCache": [
            {"ID": "r", "CacheType": "regular", "InUse": "false", "Shared": "false", "Size": "1MB", "LastUsedAt": ""}
        ]
    }
    [item] = plan([], [], detail=detail).of("build cache")
    assert item.name == "1 record, engine-wide" and "every project's" in item.why


def parse_options(argv: list[str]) -> pr.Options:
    """prune's options as the frame parses its arguments."""
    options: pr.Options = frame.parse_arguments(prune.SESSION, argv).options
    return options
