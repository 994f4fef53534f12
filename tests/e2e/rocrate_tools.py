"""Run the community's RO-Crate tools (``rocrate-validator`` from roc-validator, ``runcrate``)
with the JSON-LD contexts they fetch served from a folder, when one is given.

Usage: python rocrate_tools.py CONTEXTS_DIR|- rocrate-validator|runcrate ARGS…

Run by the validator's own venv (its pins conflict with repro's): the tests call it, it is not
imported. ``-`` serves nothing, and the tools fetch the contexts over the network as usual. The
tools fetch through ``requests`` (the validator's HTTP layer) and through ``urllib`` (rdflib's
JSON-LD parser), so both answer the known URLs from the folder; any other URL goes out.
"""

from __future__ import annotations

import email.message
import io
import sys
import urllib.request
import urllib.response
from pathlib import Path
from typing import Any

CONTEXTS = {
    "w3id.org/ro/crate/1.1/context": "rocrate-1.1.jsonld",
    "w3id.org/ro/crate/1.2/context": "rocrate-1.2.jsonld",
    "w3id.org/ro/terms/workflow-run/context": "wfrun.json",
}


def _known(url: str, folder: Path) -> bytes | None:
    bare = url.split("://", 1)[-1].split("#", 1)[0].rstrip("/")
    name = CONTEXTS.get(bare)
    return (folder / name).read_bytes() if name else None


def _serve_requests(folder: Path) -> None:
    import requests
    import requests.adapters

    original = requests.adapters.HTTPAdapter.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        data = _known(str(request.url), folder)
        if data is None:
            return original(self, request, *args, **kwargs)
        response = requests.Response()
        response.status_code = 200
        response._content = data
        response.headers["Content-Type"] = "application/ld+json"
        response.url = str(request.url)
        response.request = request
        response.encoding = "utf-8"
        return response

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]


class _Contexts(urllib.request.BaseHandler):
    handler_order = 100  # before the network handlers

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _open(self, request: urllib.request.Request) -> urllib.response.addinfourl | None:
        data = _known(request.full_url, self.folder)
        if data is None:
            return None
        headers = email.message.Message()
        headers["Content-Type"] = "application/ld+json"
        headers["Content-Length"] = str(len(data))
        return urllib.response.addinfourl(io.BytesIO(data), headers, request.full_url, 200)

    def http_open(self, request: urllib.request.Request) -> urllib.response.addinfourl | None:
        return self._open(request)

    def https_open(self, request: urllib.request.Request) -> urllib.response.addinfourl | None:
        return self._open(request)


def main(argv: list[str]) -> Any:
    contexts, tool, *args = argv
    if contexts != "-":
        folder = Path(contexts)
        _serve_requests(folder)
        urllib.request.install_opener(urllib.request.build_opener(_Contexts(folder)))
    if tool == "rocrate-validator":
        from rocrate_validator.cli import cli

        sys.argv = [tool, *args]
        return cli()
    if tool == "runcrate":
        from runcrate.cli import cli as runcrate_cli

        sys.argv = [tool, *args]
        return runcrate_cli()
    raise SystemExit(f"unknown tool {tool}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
