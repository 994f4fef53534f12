"""The stat cache: unchanged files are not read again; any content change is noticed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from repro.provenance import statcache
from repro.provenance.hashing import hash_tree
from repro.provenance.statcache import StatCache


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[StatCache]:
    cache = StatCache(tmp_path / "cache" / "digests.sqlite")
    yield cache
    cache.close()


def test_an_unchanged_file_is_read_once(tmp_path: Path, cache: StatCache, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "disk.img").write_bytes(b"x" * 100_000)
    monkeypatch.setattr("repro.provenance.statcache._SETTLED_NS", 0)
    first = hash_tree(data, hasher=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    second = hash_tree(data, hasher=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    assert first.digest == second.digest
    assert first.files[0].sha256 == hashlib.sha256(b"x" * 100_000).hexdigest()


def test_a_change_that_keeps_size_and_mtime_is_noticed(
    tmp_path: Path, cache: StatCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repro.provenance.statcache._SETTLED_NS", 0)
    path = tmp_path / "disk.img"
    path.write_bytes(b"a" * 4096)
    before = path.stat()
    assert cache(path, path.stat()) == hashlib.sha256(b"a" * 4096).hexdigest()
    path.write_bytes(b"b" * 4096)  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    if after.st_ctime_ns == before.st_ctime_ns and after.st_ino == before.st_ino:
        pytest.fail("the file system kept ctime and inode: the cache would be fooled here")
    assert cache(path, after) == hashlib.sha256(b"b" * 4096).hexdigest()
    assert cache.hits == 0


def test_a_file_replaced_by_another_is_noticed(
    tmp_path: Path, cache: StatCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repro.provenance.statcache._SETTLED_NS", 0)
    path = tmp_path / "disk.img"
    path.write_bytes(b"old")
    cache(path, path.stat())
    replacement = tmp_path / "new.img"
    replacement.write_bytes(b"new")
    replacement.replace(path)
    assert cache(path, path.stat()) == hashlib.sha256(b"new").hexdigest()


def test_recently_changed_files_are_not_remembered(
    tmp_path: Path, cache: StatCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Recently" made an hour wide: a test paused for the usual two seconds would see a settled file.
    monkeypatch.setattr(statcache, "_SETTLED_NS", 3600 * 10**9)
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"just written")
    cache(path, path.stat())
    cache(path, path.stat())
    assert (cache.hits, cache.misses) == (0, 2)
