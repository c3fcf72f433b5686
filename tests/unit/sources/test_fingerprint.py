"""A build context's digest: the files BuildKit selects, their contents; what changed between two."""

from __future__ import annotations

from pathlib import Path

from ci.sources.fingerprint import changed_files, fingerprint


def test_changed_files_names_modified_added_and_removed() -> None:
    assert changed_files({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "d": "4"}) == [
        "modified b",
        "added d",
        "removed c",
    ]


def test_fingerprint_follows_the_dockerignore_and_contents(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*\n!src/\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print(1)\n")
    (tmp_path / "notes.txt").write_text("outside the context\n")
    before = fingerprint(tmp_path)
    assert list(before.files) == ["src/app.py"]
    (tmp_path / "notes.txt").write_text("changed, still outside\n")
    assert fingerprint(tmp_path).digest == before.digest
    (tmp_path / "src" / "app.py").write_text("print(2)\n")
    assert fingerprint(tmp_path).digest != before.digest
