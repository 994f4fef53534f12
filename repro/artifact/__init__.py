"""Formats for what leaves the store: the evaluator's artifact (its index, tar writing and
safe reading, restoring, the evaluation guide), RO-Crate metadata, and the report page.

Format code only: the commands that use it (``pack``, ``unpack``, ``export``, ``report``)
are in :mod:`repro.ops`.
"""
