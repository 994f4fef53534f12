"""``python -m repro`` is the ``repro`` command."""

from repro.cli.main import entry

entry()
