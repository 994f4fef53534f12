"""Manifests: the YAML file that pins an experiment, its model, and its points."""

from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.model import ImagePin, Manifest, Mount, Resources, SecretFromHost

__all__ = ["ImagePin", "Manifest", "ManifestFile", "Mount", "Resources", "SecretFromHost", "load_manifest"]
