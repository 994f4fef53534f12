"""Content digests: files, folders, links, special files, and files that change while read."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from repro.provenance.hashing import HashError, hash_file, hash_tree


def test_a_file_digest_is_its_sha256(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several blocks and a partial one
    path.write_bytes(data)
    assert hash_file(path) == hashlib.sha256(data).hexdigest()


def test_a_tree_lists_every_entry_and_its_digest_tracks_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "empty").mkdir()
    tree = hash_tree(tmp_path)
    assert [(e.path, e.kind) for e in tree.entries] == [
        ("a", "dir"),
        ("a/x.txt", "file"),
        ("b.txt", "file"),
        ("empty", "dir"),
    ]
    assert tree.entries[1].sha256 == hashlib.sha256(b"x").hexdigest()
    assert tree.total_bytes == 2
    before = tree.digest
    assert hash_tree(tmp_path).digest == before  # deterministic
    (tmp_path / "b.txt").write_text("B")
    assert hash_tree(tmp_path).digest != before
    (tmp_path / "b.txt").write_text("b")
    assert hash_tree(tmp_path).digest == before
    (tmp_path / "b.txt").rename(tmp_path / "c.txt")
    assert hash_tree(tmp_path).digest != before


def test_symlinks_are_recorded_as_links_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "loop").symlink_to(root)
    tree = hash_tree(root)
    links = {e.path: e.target for e in tree.entries if e.kind == "link"}
    assert links == {"escape": str(outside), "loop": str(root)}
    assert all(e.sha256 is None for e in tree.entries)
    before = tree.digest
    outside.write_text("changed")  # the link's target changes, the tree does not
    assert hash_tree(root).digest == before


def test_special_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(HashError, match="is a FIFO"):
        hash_tree(tmp_path)


def test_a_file_rewritten_between_stat_and_read_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"a" * 1000)
    before = os.lstat(path)
    path.write_bytes(b"b" * 2000)  # rewritten after the stat the hasher was given
    with pytest.raises(HashError, match="changed while it was being hashed"):
        hash_file(path, before)


def test_a_file_growing_while_it_is_read_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "growing"
    path.write_bytes(os.urandom(64 * 1024 * 1024))
    stop = threading.Event()

    def append() -> None:
        with path.open("ab") as handle:
            while not stop.is_set():
                handle.write(b"more")
                handle.flush()

    writer = threading.Thread(target=append)
    writer.start()
    try:
        with pytest.raises(HashError, match="changed while"):
            hash_file(path)
    finally:
        stop.set()
        writer.join()


def test_a_single_file_root_has_one_entry(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(b"\0" * 10)
    tree = hash_tree(path)
    assert [(e.path, e.kind, e.size) for e in tree.entries] == [("", "file", 10)]


def test_many_files_hash_the_same_on_one_or_many_threads(tmp_path: Path) -> None:
    for index in range(40):
        (tmp_path / f"f{index:02d}").write_bytes(os.urandom(10_000 + index))
    assert hash_tree(tmp_path, workers=1).digest == hash_tree(tmp_path, workers=4).digest
