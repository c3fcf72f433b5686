"""ci/sources/dockerfile.py: a Dockerfile's instructions, its COPY sources, its base images."""

from __future__ import annotations

from pathlib import Path

from ci.sources.dockerfile import base_images, copy_sources, dockerfile_instructions, expand_source, substitute
from tests.conftest import APP


def test_dockerfile_instructions_join_continuations_and_skip_comments_and_heredocs() -> None:
    text = (
        "# escape=`\n"
        "FROM x AS a\n"
        "RUN one `\n"
        "# a comment inside\n"
        "\n"
        "    two\n"
        "COPY <<EOF /etc/conf\n"
        "COPY not/an/instruction /\n"
        "EOF\n"
        "copy a b /dest/\n"
    )
    got = [(i.line, i.keyword, i.args) for i in dockerfile_instructions(text)]
    assert got == [
        (2, "FROM", "x AS a"),
        (3, "RUN", "one two"),
        (7, "COPY", "<<EOF /etc/conf"),
        (10, "COPY", "a b /dest/"),
    ]


def test_copy_sources_of_the_repository_dockerfiles() -> None:
    backend = [(s.keyword, s.source) for s in copy_sources((APP / "Dockerfile").read_text())]
    assert ("COPY", "requirements-docker.txt") in backend
    assert ("COPY", "backend/") in backend
    assert not [s for _, s in backend if s.startswith("/opt")]  # COPY --from=deps is not from the context
    frontend = {s.source for s in copy_sources((APP / "Dockerfile.frontend").read_text())}
    assert {"frontend/package.json", "frontend/package-lock.json", "frontend/src", "frontend/nginx.conf"} <= frontend
    assert "/app/dist/" not in frontend


def test_copy_sources_forms() -> None:
    text = (
        'COPY ["a b.txt", "c", "/dst/"]\n'
        "ADD --chown=1:1 https://example.invalid/x.tgz local.tgz /dst/\n"
        "COPY --link --chmod=644 --from=build /out /dst\n"
        "COPY <<EOF /x\nhello\nEOF\n"
    )
    assert [s.source for s in copy_sources(text)] == ["a b.txt", "c", "local.tgz"]


def test_substitute() -> None:
    values = {"A": "1", "EMPTY": ""}
    assert substitute("$A ${A} ${B:-two} ${EMPTY:-d} ${A:+yes} ${B:+no}x", values) == "1 1 two d yes x"


def test_base_images_follow_args_and_skip_stages() -> None:
    text = (APP / "Dockerfile.frontend").read_text()
    assert base_images(text, {}) == [
        ("docker.io/library/node:20-slim", "${NODE_IMAGE}"),
        ("docker.io/library/nginx:1.27", "${NGINX_IMAGE}"),
    ]
    assert base_images(text, {"NODE_IMAGE": "localhost:5000/mirror/node:20-slim"})[0][0] == (
        "localhost:5000/mirror/node:20-slim"
    )
    assert base_images("FROM scratch AS a\nFROM a\nFROM --platform=$BUILDPLATFORM b:1 AS c\n", {}) == [("b:1", "b:1")]


def test_expand_source(tmp_path: Path) -> None:
    for rel in ("src/a.ts", "src/.hidden", "pkg.json", "pkg-lock.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert expand_source(tmp_path, "src/") == ([], ["src"])
    assert expand_source(tmp_path, "./pkg*.json") == (["pkg-lock.json", "pkg.json"], [])
    assert expand_source(tmp_path, "src/.h*") == (["src/.hidden"], [])
    assert expand_source(tmp_path, "missing") == ([], [])
    assert expand_source(tmp_path, ".") == ([], [""])
