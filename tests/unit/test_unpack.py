"""Unpacking an artifact trusts none of its members (hand-made hostile tar members; Debian 12's
Python 3.11.2 has no tarfile extraction filter to lean on)."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from repro.artifact.tarball import writing
from tests.conftest import Project

TOP = "repro-artifact"
INDEX = {"artifact_version": 1, "repro": "0.1.0", "runs": [], "repositories": [], "inputs": [], "images": []}


def add(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def artifact(path: Path, extra: Callable[[tarfile.TarFile], None]) -> Path:
    """An artifact at ``path``, compressed as its name says (as ``repro pack`` writes one)."""
    with writing(path) as tar:
        add(tar, f"{TOP}/artifact.json", json.dumps(INDEX).encode())
        add(tar, f"{TOP}/EVALUATION.md", b"# guide\n")
        add(tar, f"{TOP}/ro-crate-metadata.json", b"{}")
        add(tar, f"{TOP}/store/store.json", b'{"repro_store": 1}\n')
        extra(tar)
    return path


def test_a_plain_artifact_unpacks(project: Project, tmp_path: Path) -> None:
    made = artifact(tmp_path / "a.tar", lambda tar: add(tar, f"{TOP}/store/runs/r/outputs/x", b"data"))
    result = project.repro("unpack", str(made), "-C", str(tmp_path / "here"))
    assert result.code == 0, result.err
    assert (tmp_path / "here" / ".repro" / "runs" / "r" / "outputs" / "x").read_bytes() == b"data"
    assert not [p for p in (tmp_path / "here").iterdir() if p.name.startswith(".unpacking")]


@pytest.mark.parametrize(
    ("file", "magic"),
    [("a.tar.zst", b"\x28\xb5\x2f\xfd"), ("a.tzst", b"\x28\xb5\x2f\xfd"), ("a.tar.gz", b"\x1f\x8b"), ("a", b"repro")],
)
def test_an_artifact_is_compressed_as_its_name_says_and_unpacks_as_a_stream(
    project: Project, tmp_path: Path, file: str, magic: bytes
) -> None:
    made = artifact(tmp_path / file, lambda tar: add(tar, f"{TOP}/store/runs/r/outputs/x", b"data" * 10_000))
    assert made.read_bytes().startswith(magic), "the first member's name begins a plain tar"
    with made.open("rb") as raw:  # read as unpack reads it: a pipe, never seeking
        piped = tmp_path / "piped"
        piped.write_bytes(raw.read())
    result = project.repro("unpack", str(piped), "-C", str(tmp_path / "here"))
    assert result.code == 0, result.err
    assert (tmp_path / "here" / ".repro" / "runs" / "r" / "outputs" / "x").read_bytes() == b"data" * 10_000


def test_an_interrupted_write_leaves_no_artifact_and_an_earlier_one_untouched(tmp_path: Path) -> None:
    earlier = tmp_path / "a.tar.zst"
    earlier.write_bytes(b"the artifact packed yesterday")

    with pytest.raises(KeyboardInterrupt):
        _interrupted(earlier)

    assert earlier.read_bytes() == b"the artifact packed yesterday"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.tar.zst"], "no partial file is left"


def _interrupted(path: Path) -> None:
    """Write an artifact at ``path``, and press Ctrl-C (SIGINT's KeyboardInterrupt) half-way."""
    with writing(path) as tar:
        add(tar, f"{TOP}/artifact.json", json.dumps(INDEX).encode())
        raise KeyboardInterrupt


def test_setuid_bits_and_owners_are_never_restored(project: Project, tmp_path: Path) -> None:
    def extra(tar: tarfile.TarFile) -> None:
        add(tar, f"{TOP}/store/runs/r/outputs/su", b"#!", mode=0o4755, uid=0, gid=0)
        add(tar, f"{TOP}/store/runs/r/outputs/theirs", b"x", mode=0o2666, uid=1234, gid=1234, uname="eve")
        add(tar, f"{TOP}/store/runs/r/outputs/d", type=tarfile.DIRTYPE, mode=0o1777)

    result = project.repro("unpack", str(artifact(tmp_path / "a.tar", extra)), "-C", str(tmp_path / "here"))
    assert result.code == 0, result.err
    outputs = tmp_path / "here" / ".repro" / "runs" / "r" / "outputs"
    assert stat.S_IMODE((outputs / "su").stat().st_mode) == 0o755
    assert stat.S_IMODE((outputs / "theirs").stat().st_mode) == 0o644
    assert stat.S_IMODE((outputs / "d").stat().st_mode) == 0o755
    theirs = (outputs / "theirs").stat()
    assert (theirs.st_uid, theirs.st_gid) == (os.getuid(), os.getgid()), "files belong to whoever unpacks"


HOSTILE: dict[str, tuple[Callable[[tarfile.TarFile], None], str]] = {
    "absolute name": (lambda t: add(t, "/tmp/owned", b"x"), "outside the artifact's folder"),
    "dot-dot name": (lambda t: add(t, f"{TOP}/../owned", b"x"), "outside the artifact's folder"),
    "outside the top folder": (lambda t: add(t, "other/owned", b"x"), "outside the artifact's folder"),
    "absolute symlink": (
        lambda t: add(t, f"{TOP}/store/l", type=tarfile.SYMTYPE, linkname="/etc/shadow"),
        "refusing to unpack link",
    ),
    "symlink out, then a file through it": (
        lambda t: (
            add(t, f"{TOP}/store/out", type=tarfile.SYMTYPE, linkname="../../.."),
            add(t, f"{TOP}/store/out/owned", b"x"),
        ),
        "outside the artifact's folder",
    ),
    "hard link out": (
        lambda t: add(t, f"{TOP}/store/h", type=tarfile.LNKTYPE, linkname="/etc/passwd"),
        "outside the artifact's folder",
    ),
    "device node": (
        lambda t: add(t, f"{TOP}/store/sda", type=tarfile.BLKTYPE, devmajor=8),
        "not a file, folder or link",
    ),
    "FIFO": (lambda t: add(t, f"{TOP}/store/pipe", type=tarfile.FIFOTYPE), "not a file, folder or link"),
}


@pytest.mark.parametrize("file", ["a.tar", "a.tar.zst"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_members_are_refused_and_nothing_is_left(
    project: Project, tmp_path: Path, name: str, file: str
) -> None:
    extra, expected = HOSTILE[name]
    target = tmp_path / "here"
    result = project.repro("unpack", str(artifact(tmp_path / file, extra)), "-C", str(target))
    assert result.code == 2, result.err
    (line,) = result.err.strip().splitlines()
    assert expected in line
    assert "Traceback" not in result.err
    assert not target.exists(), "a refused artifact leaves nothing behind"
    assert not Path("/tmp/owned").exists()


def test_an_artifact_that_expands_past_the_limit_stops_early(project: Project, tmp_path: Path) -> None:
    """3 MB on disk, 2 GB unpacked: refused as soon as the members' sizes pass --max-size."""
    bomb = tmp_path / "bomb.tar.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as raw, tarfile.open(fileobj=raw, mode="w|") as tar:  # type: ignore[call-overload]
        add(tar, f"{TOP}/artifact.json", json.dumps(INDEX).encode())
        zero = tarfile.TarInfo(f"{TOP}/store/zeros")
        zero.size = 2 * 10**9
        tar.addfile(zero, _Zeros(zero.size))
    assert bomb.stat().st_size < 3 * 10**6
    target = tmp_path / "here"
    result = project.repro("unpack", str(bomb), "-C", str(target), "--max-size", "100m")
    assert result.code == 2
    assert "expands to more than 104,857,600 bytes" in result.err
    assert not target.exists()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def test_a_sibling_folder_named_like_old_staging_is_left_alone(project: Project, tmp_path: Path) -> None:
    sibling = tmp_path / ".here.unpacking"
    sibling.mkdir()
    (sibling / "precious").write_text("keep me\n")
    link = tmp_path / ".other.unpacking"
    link.symlink_to(tmp_path / "elsewhere")
    made = artifact(tmp_path / "a.tar", lambda tar: add(tar, f"{TOP}/store/runs/r/outputs/x", b"data"))

    for target in ("here", "other"):
        result = project.repro("unpack", str(made), "-C", str(tmp_path / target))
        assert result.code == 0, result.err
        unpacked = tmp_path / target / ".repro" / "runs" / "r" / "outputs" / "x"
        assert unpacked.read_bytes() == b"data", f"{target}: the artifact went where it was asked to"

    assert sorted(p.name for p in sibling.iterdir()) == ["precious"]
    assert (sibling / "precious").read_text() == "keep me\n"
    assert link.is_symlink(), "the link is left as it was"
    assert not (tmp_path / "elsewhere").exists(), "nothing was written through the link"


def test_a_folder_that_is_not_empty_is_refused(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "here"
    target.mkdir()
    (target / "mine").write_text("x")
    result = project.repro("unpack", str(artifact(tmp_path / "a.tar", lambda tar: None)), "-C", str(target))
    assert result.code == 2
    assert "is not an empty folder" in result.err
    assert (target / "mine").read_text() == "x"
