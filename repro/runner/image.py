"""Find the image a pin names, and prove it is that content before anything runs.

A registry digest (``name@sha256:…``, the manifest digest) and an image ID (the config
digest) are different hashes. A digest pin is checked against the image's ``RepoDigests``; an
ID pin against its ``Id``. Whatever the pin, the container is then created from the image
*ID* that was checked, so a tag moved in the meantime cannot change what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from repro.errors import EngineError, ImageError
from repro.manifest.model import ImagePin, split_name
from repro.runner.engine import Engine
from repro.runner.transfer import load_image
from repro.store.images import ImageArchive

__all__ = [
    "ImageFacts",
    "inspect_image",
    "normalize_repository",
    "pin_for_tag",
    "resolve_image",
    "resolve_recorded",
]


@dataclass(frozen=True)
class ImageFacts:
    """What the engine says about a verified image."""

    id: str
    repo_digests: tuple[str, ...]
    os: str
    architecture: str
    variant: str | None
    how: str
    """How it was found: ``local`` or ``pulled``."""


def normalize_repository(name: str) -> str:
    """Docker Hub's short names and long names compare equal: ``busybox`` = ``docker.io/library/busybox``."""
    first, slash, rest = name.partition("/")
    if not slash:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    if first in ("index.docker.io", "registry-1.docker.io"):
        return f"docker.io/{rest}"
    return name


def _facts(attrs: dict[str, Any], how: str, known_digests: tuple[str, ...] = ()) -> ImageFacts:
    return ImageFacts(
        id=str(attrs["Id"]),
        repo_digests=tuple(attrs.get("RepoDigests") or ()) or known_digests,
        os=str(attrs.get("Os", "")),
        architecture=str(attrs.get("Architecture", "")),
        variant=attrs.get("Variant"),
        how=how,
    )


def resolve_image(
    engine: Engine,
    pin: ImagePin,
    *,
    pull: bool = True,
    archive: ImageArchive | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageFacts:
    """Find ``pin``'s content and verify it: in the engine, else pulled by digest, else loaded
    from the store's archive."""
    attrs = inspect_image(engine, pin.reference)
    if attrs is not None:
        facts = _facts(attrs, "local")
        verify(pin, facts)
        return facts
    failures = []
    if pin.kind == "digest" and pull:
        if progress:
            progress(f"pulling {pin.reference}")
        try:
            _pull(engine, pin)
        except ImageError as exc:
            failures.append(str(exc))
        else:
            attrs = inspect_image(engine, pin.reference)
            if attrs is not None:
                facts = _facts(attrs, "pulled")
                verify(pin, facts)
                return facts
    if archive is not None:
        archived = _from_archive(
            engine,
            archive,
            pin.digest if pin.kind == "id" else None,
            pin.reference if pin.kind == "digest" else None,
            progress,
        )
        if archived is not None:
            verify(pin, archived)
            return archived
    if failures:
        raise ImageError(failures[0])
    if pin.kind == "id":
        raise ImageError(
            f"image {pin.name} (id {pin.digest[:19]}…) is not in the engine nor in the store's archive — "
            "build or load it (docker load -i FILE), then check its id with: "
            "docker image inspect --format '{{.Id}}' NAME"
        )
    raise ImageError(f"image {pin.reference} is not in the engine nor in the store's archive, and was not pulled")


def _from_archive(
    engine: Engine,
    archive: ImageArchive,
    image_id: str | None,
    repository_digest: str | None,
    progress: Callable[[str], None] | None,
) -> ImageFacts | None:
    """Load the archived image with this ID (or registry digest); None when it is not archived."""
    found = archive.find(image_id, repository_digest)
    if found is None:
        return None
    loaded_id, digests = found.id, found.repo_digests
    if progress:
        progress(f"loading {loaded_id[:19]}… from the store's archive")
    load_image(engine, archive, loaded_id)
    attrs = inspect_image(engine, loaded_id)
    if attrs is None:
        raise ImageError(f"image {loaded_id} was loaded from the archive but the engine does not show it")
    # A loaded image has no registry digests; the archive recorded them when it verified them.
    return _facts(attrs, "archive", tuple(digests))


def resolve_recorded(
    engine: Engine,
    image_id: str,
    repo_digests: list[str],
    *,
    archive: ImageArchive | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageFacts:
    """The image a record ran, by its ID: in the engine, else pulled by one of its registry
    digests (keeping it only if the ID matches), else loaded from the store's archive."""
    attrs = inspect_image(engine, image_id)
    if attrs is not None:
        return _facts(attrs, "local")
    failures = []
    for entry in repo_digests:
        repository, _, digest = entry.partition("@")
        pin = ImagePin(name=repository, kind="digest", digest=digest)
        if progress:
            progress(f"pulling {entry}")
        try:
            _pull(engine, pin)
        except ImageError as exc:
            failures.append(str(exc))
            continue
        attrs = inspect_image(engine, image_id)
        if attrs is not None:
            return _facts(attrs, "pulled")
        failures.append(f"{entry} was pulled but is not image {image_id}")
    archived = _from_archive(engine, archive, image_id, None, progress) if archive is not None else None
    if archived is not None:
        return archived
    reason = f" (pulling: {failures[0]})" if failures else ""
    raise ImageError(
        f"image {image_id} is not in the engine, not pullable, and not archived in this store{reason} — "
        "load it (docker load), or rerun from a store that archived it (repro archive)"
    )


def pin_for_tag(engine: Engine, name: str, *, pull: bool = False) -> ImagePin:
    """The content pin for the image ``name`` (``repo:tag``) names in the engine now.

    The registry digest when the engine has one for this repository (the image came from, or
    went to, a registry); otherwise the image ID of a local-only image. With ``pull``, or when
    the engine lacks the image, the tag is pulled first.
    """
    attrs = None if pull else inspect_image(engine, name)
    if attrs is None:
        repository, tag = split_name(name)
        _pull_reference(engine, repository, tag or "latest", name)
        attrs = inspect_image(engine, name)
        if attrs is None:
            raise ImageError(f"image {name} was pulled but the engine does not show it")
    wanted = normalize_repository(split_name(name)[0])
    for entry in attrs.get("RepoDigests") or ():
        repository, _, digest = entry.partition("@")
        if normalize_repository(repository) == wanted:
            return ImagePin(name=name, kind="digest", digest=digest)
    return ImagePin(name=name, kind="id", digest=str(attrs["Id"]))


def verify(pin: ImagePin, facts: ImageFacts) -> None:
    """Raise :class:`ImageError` unless ``facts`` describe the content ``pin`` names."""
    if pin.kind == "id":
        if facts.id != pin.digest:
            raise ImageError(f"image {pin.name}: expected id {pin.digest}, found {facts.id}; refusing to run it")
        return
    wanted = normalize_repository(pin.repository)
    for entry in facts.repo_digests:
        repository, _, digest = entry.partition("@")
        if digest == pin.digest and normalize_repository(repository) == wanted:
            return
    found = ", ".join(facts.repo_digests) or "no registry digest"
    raise ImageError(f"image {pin.reference}: the engine's image has {found}; refusing to run it")


def inspect_image(engine: Engine, reference: str) -> dict[str, Any] | None:
    """What the engine says of the image ``reference`` names, or None when it has no such image."""
    import docker.errors

    try:
        attrs: dict[str, Any] = engine.client.api.inspect_image(reference)  # type: ignore[no-untyped-call]  # untyped in types-docker
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code in (400, 404):  # a malformed or unknown reference
            return None
        raise EngineError(f"the engine failed to inspect {reference}: {exc.explanation or exc}") from exc
    return attrs


def _pull(engine: Engine, pin: ImagePin) -> None:
    _pull_reference(engine, pin.repository, pin.digest, pin.reference)


def _pull_reference(engine: Engine, repository: str, tag: str, shown: str) -> None:
    import docker.errors
    import requests.exceptions

    try:
        for event in engine.client.api.pull(repository, tag=tag, stream=True, decode=True):
            if isinstance(event, dict) and event.get("error"):
                raise docker.errors.APIError(str(event["error"]))
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        reason = getattr(exc, "explanation", None) or str(exc)
        raise ImageError(
            f"image {shown} is not in the engine and pulling it failed "
            f"({reason.splitlines()[0][:160]}) — load it from an archive, or make its registry reachable"
        ) from exc
