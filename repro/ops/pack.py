"""``repro pack``: one archive an evaluator can take to a clean machine.

The runs chosen and the upstream runs whose outputs they mounted, their images (archived
first), one git bundle per repository holding exactly the recorded commits, the inputs up to a
size limit, the paper's claims file when there is one (``--claims-file``, else ``claims.yaml``
here or at the repository's root), and the runs' signed evidence: their statements travel in
their folders, and ``evidence/`` holds the public keys that signed them, a checkpoint of the
store's log (signed now when a key is at hand, else the newest the store keeps) and each run's
inclusion proof under it. The archive's layout and index are :mod:`repro.artifact.index`'s.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro import __version__
from repro.artifact.citation import projects_of
from repro.artifact.guide import ClaimPlan, evaluation_guide
from repro.artifact.index import (
    EVIDENCE,
    ArtifactIndex,
    ClaimsEntry,
    EvidenceEntry,
    InputEntry,
    KeyEntry,
    RepositoryEntry,
)
from repro.artifact.rocrate import CrateLayout, crate_metadata
from repro.artifact.tarball import add_bytes, add_images, add_tree, refuse_links_out, writing
from repro.errors import UsageError
from repro.evidence.ledger import sign_log, stored_checkpoints
from repro.evidence.proofs import proofs_document
from repro.evidence.statements import read_statement, store_keys
from repro.manifest.load import load_manifest
from repro.ops.carry import archive_images, bundle_commits, find_inputs, with_upstream
from repro.ops.claims import CLAIMS_FILE, claim_points, find_claims_file, open_claims
from repro.ops.verify_claims import fastest
from repro.signing.dsse import EnvelopeError
from repro.signing.keys import configured_key, load_signing_key
from repro.signing.note import SignedCheckpoint
from repro.store.images import ImageArchive
from repro.store.layout import find_git_root
from repro.store.record import InputRecord, RunRecord
from repro.store.store import Store

__all__ = ["DEFAULT_INPUT_LIMIT", "PackResult", "pack", "select_runs"]

DEFAULT_INPUT_LIMIT = 1 << 30


@dataclass
class PackResult:
    path: Path
    runs: list[RunRecord]
    index: ArtifactIndex
    bytes: int = 0
    parts_bytes: dict[str, int] = field(default_factory=dict)
    """What the parts would take on their own: run folders, images as separate copies, inputs, code."""
    claims: list[ClaimPlan] = field(default_factory=list)
    """The claims the artifact carries, with what checking each takes."""


def select_runs(store: Store, refs: Sequence[str], manifests: Sequence[str], every: bool) -> list[RunRecord]:
    """The runs an artifact should carry: named ones, a manifest's, or the newest succeeded
    run of every point."""
    if sum(bool(x) for x in (refs, manifests, every)) != 1:
        raise UsageError("give run ids, --manifest MANIFEST, or --all (one of them)")
    if refs:
        return [store.load(store.resolve(ref)) for ref in refs]
    newest = [store.load(run_id) for run_id in store.latest_succeeded()]
    if every:
        return newest
    names = {load_manifest(path).model.name for path in manifests}
    chosen = [record for record in newest if record.manifest.name in names]
    if not chosen:
        raise UsageError(f"no succeeded runs of {', '.join(sorted(names))} in {store.root}")
    return chosen


def pack(
    refs: Sequence[str] = (),
    *,
    manifests: Sequence[str] = (),
    every: bool = False,
    output: Path | str,
    store: Path | str | None = None,
    max_input_bytes: int = DEFAULT_INPUT_LIMIT,
    claims_file: Path | str | None = None,
    key: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PackResult:
    """Write an artifact holding the selected runs and everything needed to rerun them, the
    claims file (``claims_file``, else ``claims.yaml`` here or at the repository's root, if any),
    and the runs' signed evidence (a checkpoint signed with ``key``, default the configured key)."""
    chosen = Store.locate(store)
    chosen.require()
    # A run that mounted another run's outputs (from:) reruns against them: that run goes too.
    records = sorted(with_upstream(chosen, select_runs(chosen, refs, manifests, every)), key=lambda r: r.id)
    claims = _claims(chosen, claims_file, records, progress)
    for record in records:
        refuse_links_out(chosen.real_run_folder(record.id).outputs, record.id)
    output = Path(output)
    archive = ImageArchive(chosen.layout)
    archive_images(archive, records, progress)
    evidence, evidence_files = _evidence(chosen, records, key, progress)
    with tempfile.TemporaryDirectory(prefix="repro-pack-") as scratch:
        repositories = _bundles(records, Path(scratch), progress)
        inputs = _inputs(records, max_input_bytes, chosen, progress)
        index = ArtifactIndex(
            repro=__version__,
            runs=[r.id for r in records],
            repositories=[entry for entry, _ in repositories],
            inputs=[entry for entry, _ in inputs],
            images=sorted({r.image.id for r in records}),
            evidence=evidence,
        )
        plans: list[ClaimPlan] = []
        if claims is not None:
            path, plans = claims
            index.claims = _claims_entry(path, index)
        result = PackResult(path=output, runs=records, index=index, claims=plans)
        # Written under a temporary name: a cut-short artifact never passes for a whole one.
        parts = _write(output, chosen, archive, records, index, repositories, inputs, claims, evidence_files)
        result.bytes = output.stat().st_size
        result.parts_bytes = parts
    return result


def _write(
    output: Path,
    chosen: Store,
    archive: ImageArchive,
    records: Sequence[RunRecord],
    index: ArtifactIndex,
    repositories: list[tuple[RepositoryEntry, Path]],
    inputs: list[tuple[InputEntry, Path | None]],
    claims: tuple[Path, list[ClaimPlan]] | None,
    evidence: dict[str, bytes],
) -> dict[str, int]:
    with writing(output) as tar:
        guide = evaluation_guide(records, index, claims[1] if claims else (), artifact=output.name)
        add_bytes(tar, "EVALUATION.md", guide.encode())
        if claims is not None and index.claims is not None:
            add_bytes(tar, index.claims.file, claims[0].read_bytes())
        add_bytes(tar, "ro-crate-metadata.json", _crate(chosen, records, inputs).encode())
        add_bytes(tar, "artifact.json", index.model_dump_json(indent=2).encode())
        # The store's facts, less its log: the unpacked store starts a log of its own, while the
        # lab's log is vouched for by the evidence (its checkpoint and proofs).
        facts = {name: value for name, value in chosen.facts.items() if name != "log"}
        add_bytes(tar, _in_store(chosen, chosen.layout.marker), json.dumps(facts).encode() + b"\n")
        for name, data in sorted(evidence.items()):
            add_bytes(tar, name, data)
        run_bytes = sum(
            add_tree(tar, folder, _in_store(chosen, folder))
            for folder in (chosen.run_folder(record.id).path for record in records)
        )
        image_bytes = add_images(tar, archive, index.images, _in_store(chosen, chosen.root))
        for repository, bundle in repositories:
            add_tree(tar, bundle, repository.bundle)
        input_bytes = sum(
            add_tree(tar, source, entry.packed)
            for entry, source in inputs
            if entry.packed is not None and source is not None
        )
    return {
        "runs": run_bytes,
        "images as separate copies": sum(e.bytes for e in (archive.get(i) for i in index.images) if e),
        "images in the artifact": image_bytes,
        "inputs": input_bytes,
        "code bundles": sum(bundle.stat().st_size for _, bundle in repositories),
    }


def _evidence(
    store: Store, records: Sequence[RunRecord], key: Path | str | None, progress: Callable[[str], None] | None
) -> tuple[EvidenceEntry | None, dict[str, bytes]]:
    """What the artifact carries to check its runs offline: the signers' public keys, a
    checkpoint of the store's log and each run's inclusion proof under it (nothing, when no run
    is signed and no key is at hand)."""
    signers: set[str] = set()
    signed_runs = 0
    for record in records:
        keyids = set()
        for path in store.run_folder(record.id).statements():
            try:
                keyids.update(read_statement(path).keyids)
            except EnvelopeError:
                continue
        signed_runs += bool(keyids)
        signers |= keyids
    signing = load_signing_key(key) if key is not None or configured_key() is not None else None
    if not signers and signing is None:
        return None, {}
    checkpoint: SignedCheckpoint | None = None
    if signing is not None:
        store.fold()
        store.log_records(records)
        checkpoint, _ = sign_log(store, signing)
        signers.add(signing.public.key_id)
    else:
        kept = stored_checkpoints(store)
        checkpoint = kept[-1][1] if kept else None
        if checkpoint is None and progress:
            progress("no key to sign the store's log with, and no checkpoint kept: the runs' statements travel alone")
    files: dict[str, bytes] = {}
    known = store_keys(store)
    if checkpoint is not None:
        files[f"{EVIDENCE}/checkpoint.txt"] = checkpoint.text.encode()
        document = proofs_document(store, checkpoint, [record.id for record in records])
        files[f"{EVIDENCE}/proofs.json"] = json.dumps(document, indent=1).encode() + b"\n"
        signers |= {public.key_id for public in checkpoint.signers(known)}
    keys = []
    for public in known:
        if public.key_id in signers:
            name = f"{EVIDENCE}/keys/{public.name}-{public.short_id}.pub"
            files[name] = public.pem().encode()
            keys.append(KeyEntry(name=public.name, id=public.key_id, file=name))
    entry = EvidenceEntry(
        signed_runs=signed_runs,
        keys=keys,
        checkpoint=f"{EVIDENCE}/checkpoint.txt" if checkpoint is not None else None,
        proofs=f"{EVIDENCE}/proofs.json" if checkpoint is not None else None,
    )
    return entry, files


def _in_store(store: Store, path: Path) -> str:
    """Where a path of the store goes in the artifact (its store keeps the store's layout)."""
    relative = path.relative_to(store.root).as_posix()
    return "store" if relative == "." else f"store/{relative}"


def _crate(store: Store, records: Sequence[RunRecord], inputs: list[tuple[InputEntry, Path | None]]) -> str:
    """The artifact's RO-Crate: its root is the artifact's folder; it carries the runs' folders
    under ``store/`` and the packed inputs under ``inputs/``."""
    packed = {entry.digest: entry for entry, _ in inputs if entry.packed is not None}

    def input_path(item: InputRecord) -> str | None:
        entry = packed.get(item.digest)
        if entry is None or entry.packed is None:
            return None
        return entry.packed if entry.single_file else f"{entry.packed}/"

    return crate_metadata(
        records,
        layout=CrateLayout(
            run_folder=lambda record: f"store/runs/{record.id}",
            input_path=input_path,
            statements=lambda record: [
                path.relative_to(store.run_folder(record.id).path).as_posix()
                for path in store.run_folder(record.id).statements()
            ],
        ),
        name=f"repro artifact: {', '.join(sorted({r.manifest.name for r in records}))}",
        projects=projects_of(records),
    )


def _bundles(
    records: Sequence[RunRecord], scratch: Path, progress: Callable[[str], None] | None
) -> list[tuple[RepositoryEntry, Path]]:
    """One git bundle per repository, holding exactly the recorded commits."""
    commits: dict[str, set[str]] = {}
    for record in records:
        if record.git is not None and record.git.commit is not None:
            commits.setdefault(record.git.root, set()).add(record.git.commit)
    bundles = []
    for number, (root, wanted) in enumerate(sorted(commits.items())):
        if progress:
            progress(f"bundling {len(wanted)} commit(s) of {root}")
        bundle = scratch / f"{number}-{Path(root).name}.bundle"
        bundle_commits(root, wanted, bundle, scratch / f"mirror-{number}")
        bundles.append((RepositoryEntry(root=root, bundle=f"code/{bundle.name}", commits=sorted(wanted)), bundle))
    return bundles


def _inputs(
    records: Sequence[RunRecord], limit: int, store: Store, progress: Callable[[str], None] | None
) -> list[tuple[InputEntry, Path | None]]:
    """Each distinct input: packed (checked against its recorded digest) or listed to fetch."""
    entries = []
    for digest, (item, copy) in sorted(find_inputs(records, limit, store, progress).items()):
        source = copy or Path(item.source)
        entry = InputEntry(
            digest=item.digest,
            bytes=item.bytes,
            source=item.source,
            packed=f"inputs/{digest.removeprefix('sha256:')}" if copy is not None else None,
            single_file=source.is_file(),
        )
        entries.append((entry, copy))
    return entries


def _claims(
    store: Store, explicit: Path | str | None, records: Sequence[RunRecord], progress: Callable[[str], None] | None
) -> tuple[Path, list[ClaimPlan]] | None:
    """The claims file to carry (None when there is none), read and judged here so that a bad
    one is refused before anything is written, and what checking each claim takes."""
    try:
        path = find_claims_file(explicit)
    except UsageError:
        if explicit is not None:
            raise
        return None
    claim_set = open_claims(path)
    packed = {record.id for record in records}
    plans = []
    for claim in claim_set.file.claims:
        points = claim_points(store, claim_set, claim)
        missing = [p.label for p in points if p.run not in packed]
        if missing and progress:
            progress(f"claim {claim.id}: {len(missing)} of its points are not among the packed runs")
        carried = [p for p in points if p.run in packed]
        quick = fastest(carried)
        plans.append(
            ClaimPlan(
                id=claim.id,
                title=claim.title,
                points=[p.label for p in carried],
                runs=[p.run for p in carried],
                durations=[p.duration or 0.0 for p in carried],
                quick_run=quick.run if quick else None,
                quick=(quick.duration or 0.0) if quick else 0.0,
                missing=missing,
            )
        )
    return path, plans


def _claims_entry(path: Path, index: ArtifactIndex) -> ClaimsEntry:
    """Where the claims file was: the repository (one the artifact bundles) and its folder there,
    so that its manifest paths resolve under the unpacked artifact's ``code/``."""
    root = find_git_root(path.parent)
    if root is not None:
        for entry in index.repositories:
            if Path(entry.root).resolve() == root.resolve():
                folder = path.parent.resolve().relative_to(root.resolve()).as_posix()
                return ClaimsEntry(file=CLAIMS_FILE, repository=entry.root, folder=folder)
    return ClaimsEntry(file=CLAIMS_FILE, repository=None)
