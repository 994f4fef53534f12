"""Checks that need several fields or the file system: placeholders, mounts, sensitive paths.

Each check yields ``(loc, message)`` pairs so the loader can report every problem at once,
each with its line.
"""

from __future__ import annotations

import contextlib
import os
import string
from collections.abc import Iterator
from pathlib import Path

from repro.manifest.model import Manifest, Mount, UpstreamRef

__all__ = [
    "Problem",
    "check_manifest",
    "placeholders",
    "resolve_source",
    "sensitive_reason",
    "upstream_manifest_path",
]

Problem = tuple[tuple[str | int, ...], str]

_SYSTEM_FOLDERS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run")
_SOCKET_NAMES = ("docker.sock", "podman.sock", "containerd.sock")


def placeholders(text: str) -> list[str]:
    """The ``{name}`` fields in ``text``; ``{{``/``}}`` are literal braces.

    Raises ValueError for text that is not a valid template (a lone brace, ``{a.b}``, ``{0}``).
    """
    names = []
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(
                f"placeholder {{{field}}} is not a parameter name (write {{{{ and }}}} for literal braces)"
            )
        if spec or conversion:
            # A format spec can fail for some points only (`{x:d}` with a string x): keep it out.
            raise ValueError(f"placeholder {{{field}}} may not carry a format spec or conversion; use {{{field}}}")
        names.append(field)
    return names


def check_manifest(manifest: Manifest, folder: Path, *, require_sources: bool = True) -> Iterator[Problem]:
    """Every cross-field and file-system problem of ``manifest`` read from ``folder``."""
    if manifest.nondeterministic_metrics and manifest.metrics is None:
        yield ("nondeterministic",), "{metrics: [...]} needs a metrics: file to apply to"
    if manifest.tolerance and manifest.metrics is None:
        yield ("tolerance",), "tolerances apply to metrics: name the metrics: file they are in"
    yield from _check_parameters(manifest)
    yield from _check_placeholders(manifest)
    yield from _check_mounts(manifest, folder, require_sources)


def _check_parameters(manifest: Manifest) -> Iterator[Problem]:
    for name in manifest.sweep:
        if name in manifest.params:
            yield ("sweep", name), f"{name!r} is also in params: give it in one place only"
    known = set(manifest.param_names)
    hint = ", ".join(manifest.param_names) or "none"
    for field in ("exclude", "points"):
        for index, entry in enumerate(getattr(manifest, field)):
            if not entry:
                yield (field, index), "an empty entry: name at least one parameter"
            for name in entry:
                if name not in known:
                    yield (
                        (field, index, name),
                        f"{name!r} is not a parameter (declare it in params or sweep; parameters: {hint})",
                    )


def _check_placeholders(manifest: Manifest) -> Iterator[Problem]:
    known = set(manifest.param_names)
    hint = ", ".join(sorted(known)) or "none"
    fields: list[tuple[tuple[str | int, ...], str]] = [
        (("command", index), word) for index, word in enumerate(manifest.command)
    ]
    fields += [(("env", name), value) for name, value in manifest.env.items() if isinstance(value, str)]
    for loc, text in fields:
        try:
            names = placeholders(text)
        except ValueError as exc:
            yield loc, str(exc)
            continue
        for name in names:
            if name not in known:
                yield (
                    loc,
                    f"unknown placeholder {{{name}}} (parameters: {hint}; write {{{{{{{{ }}}}}}}} for literal braces)",
                )


def _check_mounts(manifest: Manifest, folder: Path, require_sources: bool) -> Iterator[Problem]:
    targets: dict[str, int] = {}
    for index, mount in enumerate(manifest.mounts):
        loc: tuple[str | int, ...] = ("mounts", index)
        if mount.target in targets:
            yield (*loc, "target"), f"{mount.target} is already the target of mounts[{targets[mount.target]}]"
        targets.setdefault(mount.target, index)
        if _overlaps(mount.target, manifest.outputs):
            yield (*loc, "target"), f"{mount.target} overlaps the output folder {manifest.outputs}"
        if mount.upstream is not None:
            yield from _check_upstream(mount.upstream, (*loc, "from"), folder, require_sources)
            continue
        assert mount.source is not None  # a mount has a source or a from (the model checks)
        if "{" in mount.source:
            yield (*loc, "source"), "placeholders are not allowed in mount sources"
            continue
        try:
            yield from _check_source(mount, loc, folder, require_sources)
        except (OSError, RuntimeError, ValueError) as exc:  # a loop of links, a path the kernel refuses
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            yield (*loc, "source"), f"{mount.source} cannot be checked ({reason}); mount a plain folder or file"


def _check_upstream(
    upstream: UpstreamRef, loc: tuple[str | int, ...], folder: Path, require_sources: bool
) -> Iterator[Problem]:
    """The upstream manifest must exist (what it says is checked when its run is resolved)."""
    path = upstream_manifest_path(upstream, folder)
    if require_sources and not path.is_file():
        yield (*loc, "manifest"), f"{upstream.manifest} does not exist (the upstream manifest, relative to this one)"


def upstream_manifest_path(upstream: UpstreamRef, folder: Path) -> Path:
    """The absolute path of the manifest a ``from:`` mount names (relative to ``folder``)."""
    path = Path(upstream.manifest)
    return (path if path.is_absolute() else folder / path).absolute()


def _check_source(mount: Mount, loc: tuple[str | int, ...], folder: Path, require_sources: bool) -> Iterator[Problem]:
    assert mount.source is not None
    source = resolve_source(mount.source, folder)
    relative = not Path(mount.source).is_absolute()
    if relative and not mount.allow_outside and not source.is_relative_to(folder.resolve()):
        yield (*loc, "source"), f"{mount.source} escapes the manifest's folder (set allow_outside: true if intended)"
        return
    if not source.exists():
        if require_sources:
            yield (*loc, "source"), f"{mount.source} does not exist"
        return
    reason = sensitive_reason(source)
    if reason and not mount.allow_sensitive:
        yield (*loc, "source"), f"{mount.source} is sensitive ({reason}); set allow_sensitive: true if you mean it"


def resolve_source(source: str, folder: Path) -> Path:
    """A mount source as an absolute, symlink-free host path."""
    path = Path(source)
    if not path.is_absolute():
        path = folder / path
    return path.resolve()


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def sensitive_reason(path: Path) -> str | None:
    """Why mounting ``path`` would expose the host, or None when it does not."""
    text = str(path)
    if text == "/":
        return "the host's root folder"
    if path.name in _SOCKET_NAMES or (path.is_socket() and "docker" in text):
        return "a container engine socket gives root on the host"
    for folder in _SYSTEM_FOLDERS:
        if text == folder or text.startswith(folder + "/"):
            return f"system folder {folder}"
    for home in _home_folders():
        if path == home or home.is_relative_to(path):
            return "a whole home folder, with its dot-folders"
        if path.is_relative_to(home) and path.relative_to(home).parts[0].startswith("."):
            return f"a dot-folder in {home} (keys, credentials)"
    return None


def _home_folders() -> set[Path]:
    homes = {Path("/root")}
    for candidate in (os.environ.get("HOME"), str(Path("~").expanduser())):
        if candidate and candidate != "/":
            homes.add(Path(candidate).resolve())
    home_root = Path("/home")
    if home_root.is_dir():
        with contextlib.suppress(OSError):
            homes.update(child.resolve() for child in home_root.iterdir() if child.is_dir())
    return homes
