"""What an experiment's own repository says about itself: its ``CITATION.cff`` (authors, licence,
where its code lives). Read at the commit a run recorded, never guessed: a fact the file does not
state stays unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from repro.provenance.git import file_at_commit
from repro.store.record import RunRecord

__all__ = ["Author", "ProjectFacts", "projects_of", "read_citation"]

_MAX_BYTES = 1 << 18


@dataclass(frozen=True)
class Author:
    name: str
    person: bool
    """A person (``given-names``/``family-names``), else an entity (a lab, a company)."""
    orcid: str | None = None
    email: str | None = None
    url: str | None = None
    affiliation: str | None = None


@dataclass(frozen=True)
class ProjectFacts:
    """What a repository states about itself (empty when it states nothing)."""

    license: str | None = None
    """An SPDX identifier or a URL."""
    authors: tuple[Author, ...] = field(default_factory=tuple)
    url: str | None = None
    """Where its code lives (``repository-code``, else ``url``)."""
    license_file: str | None = None
    """The text of its licence file (``LICENSE``, ``COPYING``…), when the citation names no licence."""


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _author(data: Any) -> Author | None:
    if not isinstance(data, dict):
        return None
    given, family = _text(data.get("given-names")), _text(data.get("family-names"))
    if given or family:
        particle = _text(data.get("name-particle"))
        name = " ".join(part for part in (given, particle, family) if part)
        person = True
    elif name_ := _text(data.get("name")):
        name, person = name_, False
    else:
        return None
    return Author(
        name=name,
        person=person,
        orcid=_text(data.get("orcid")),
        email=_text(data.get("email")),
        url=_text(data.get("website")),
        affiliation=_text(data.get("affiliation")),
    )


def read_citation(text: bytes | str | None) -> ProjectFacts:
    """The facts a ``CITATION.cff`` states (nothing, if it is absent or unreadable)."""
    if not text or len(text) > _MAX_BYTES:
        return ProjectFacts()
    try:
        # No aliases: a citation file has no use for them, and they can expand without bound.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            return ProjectFacts()
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return ProjectFacts()
    if not isinstance(data, dict):
        return ProjectFacts()
    license_ = data.get("license")
    if isinstance(license_, list):  # CFF allows a list: several licences at once, an SPDX "OR"
        license_ = license_[0] if len(license_) == 1 else None
    authors = tuple(a for a in map(_author, data.get("authors") or []) if a is not None)
    return ProjectFacts(
        license=_text(license_) or _text(data.get("license-url")),
        authors=authors,
        url=_text(data.get("repository-code")) or _text(data.get("url")),
    )


_LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "COPYING", "COPYING.md")


def _license_file(root: str, commit: str) -> str | None:
    for name in _LICENSE_FILES:
        data = file_at_commit(root, commit, name)
        if data and len(data) <= _MAX_BYTES:
            text = data.decode("utf-8", "replace").strip()
            if text:
                return text
    return None


def projects_of(records: Iterable[RunRecord], repositories: Mapping[str, str] | None = None) -> dict[str, ProjectFacts]:
    """What each run's repository states about itself at the run's commit (by run id): its
    ``CITATION.cff`` there. ``repositories`` maps a recorded root to where it is now (an
    unpacked artifact's clones). A run without a commit, or whose repository is gone, gets none."""
    found: dict[tuple[str, str], ProjectFacts] = {}
    by_run: dict[str, ProjectFacts] = {}
    for record in records:
        git = record.git
        if git is None or git.commit is None:
            continue
        where = (repositories or {}).get(git.root, git.root)
        if (where, git.commit) not in found:
            facts = read_citation(file_at_commit(where, git.commit, "CITATION.cff"))
            if facts.license is None:
                facts = replace(facts, license_file=_license_file(where, git.commit))
            found[where, git.commit] = facts
        by_run[record.id] = found[where, git.commit]
    return by_run
