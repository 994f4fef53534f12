"""Test images written byte for byte, so they have the same image ID on every machine.

`docker build` and `docker import` stamp the current time into an image's config, and an
image's ID is the digest of its config: built twice (on two machines, or after the engine was
emptied), a test image got two IDs, and anything derived from the ID (a point's key) changed
with it. These images are written here instead, as the archive `docker load` (and `podman load`)
reads: layer tars whose members have fixed times, owners and modes; a config whose `created`
is fixed and whose `rootfs.diff_ids` are the layers' digests; and `manifest.json`. Their ID
depends only on the files inside (for the busybox image: the bytes of Debian's
``/bin/busybox``, so its package version).

Every image carries the label :data:`TEST_LABEL`: `scripts/clean-engine` finds by it the test
images left untagged (an image repro loaded from a store's archive has no tag).

Nothing here needs an engine: the e2e fixtures load what this writes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import platform
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CREATED", "TEST_LABEL", "WrittenImage", "busybox_image", "busybox_layer", "file_layer"]

CREATED = "2026-01-01T00:00:00Z"
"""The creation time every test image's config states (any fixed time would do)."""
MTIME = 1767225600
""":data:`CREATED` as a Unix time: the modification time of every member of every layer."""
TEST_LABEL = "org.repro.test-image"
"""The label (value ``"1"``) that marks an image as one the tests made."""
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")


def _member(name: str, kind: bytes, mode: int, size: int = 0, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = target
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _tar(members: Sequence[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A tar of ``members`` in the order given (USTAR: no extended headers, no times of today)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def busybox_layer(busybox: bytes, applets: Sequence[str]) -> bytes:
    """A layer holding ``/bin/busybox`` and a symlink to it for each applet (as
    ``busybox --install -s /bin`` makes them)."""
    members = [
        (_member("bin", tarfile.DIRTYPE, 0o755), b""),
        (_member("bin/busybox", tarfile.REGTYPE, 0o755, len(busybox)), busybox),
    ]
    for applet in sorted(set(applets) - {"busybox"}):
        members.append((_member(f"bin/{applet}", tarfile.SYMTYPE, 0o777, target="/bin/busybox"), b""))
    return _tar(members)


def file_layer(files: Mapping[str, bytes]) -> bytes:
    """A layer adding regular files (mode 0644) at these paths (relative to ``/``, no folders)."""
    return _tar([(_member(name, tarfile.REGTYPE, 0o644, len(data)), data) for name, data in sorted(files.items())])


def _architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class WrittenImage:
    """An image as layer tars and a config: its ID is known before any engine sees it."""

    layers: tuple[bytes, ...]
    config: bytes

    @classmethod
    def of(cls, layers: Sequence[bytes]) -> WrittenImage:
        config = {
            "architecture": _architecture(),
            "os": "linux",
            "created": CREATED,
            "config": {"Env": [PATH], "Cmd": ["/bin/sh"], "Labels": {TEST_LABEL: "1"}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer) for layer in layers]},
            "history": [{"created": CREATED, "created_by": "tests/images.py"} for _ in layers],
        }
        return cls(tuple(layers), json.dumps(config, sort_keys=True, separators=(",", ":")).encode())

    @property
    def id(self) -> str:
        return _digest(self.config)

    def with_files(self, files: Mapping[str, bytes]) -> WrittenImage:
        """This image with one more layer, adding ``files``."""
        return WrittenImage.of([*self.layers, file_layer(files)])

    def archive(self, tag: str | None = None) -> bytes:
        """The tar `docker load` reads (named ``tag`` once loaded, if given)."""
        config_name = f"{self.id.removeprefix('sha256:')}.json"
        layer_names = [f"{_digest(layer).removeprefix('sha256:')}/layer.tar" for layer in self.layers]
        manifest = [{"Config": config_name, "RepoTags": [tag] if tag else None, "Layers": layer_names}]
        members = [(_member(config_name, tarfile.REGTYPE, 0o644, len(self.config)), self.config)]
        for name, layer in zip(layer_names, self.layers, strict=True):
            members.append((_member(name.split("/")[0], tarfile.DIRTYPE, 0o755), b""))
            members.append((_member(name, tarfile.REGTYPE, 0o644, len(layer)), layer))
        text = json.dumps(manifest).encode()
        members.append((_member("manifest.json", tarfile.REGTYPE, 0o644, len(text)), text))
        return _tar(members)


@functools.cache
def busybox_image(path: Path = BUSYBOX) -> WrittenImage:
    """Debian's static busybox (``path``) in an otherwise empty image, its applets linked in /bin."""
    listed = subprocess.run([str(path), "--list"], capture_output=True, text=True, check=True)
    return WrittenImage.of([busybox_layer(path.read_bytes(), listed.stdout.split())])
