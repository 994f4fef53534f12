"""``repro ui``: the view page served live from a store, read-only.

The page is ``repro view``'s, built from the store at each load, with what only a live page can
show: the running points (as ``repro ps`` lists them) every second, and a running point's log
as it is written (the page asks for what follows the bytes it has, every 0.4 s).

Nothing is written, ever: the server answers GET and HEAD only, reads the store through a
:class:`repro.store.peek.StorePeek` (the index opened read-only, the journal's records read
where they lie, orphans shown as orphaned, not finished), and a session leaves every file of
the store byte for byte as it was.

What a request may reach: the page, four JSON answers, and the files of runs the index (or the
journal) knows — their logs and the output files their records list, nothing else. A run id
must have a run id's shape and be known before it is used in a path; a file's path must be a
plain relative path (:func:`repro.store.names.safe_relative`) named in the record, and must
lie inside the run's folder once links are resolved. Everything else is 404. Files are sent as
downloads, or as plain text when asked — never as a page of this origin — with ``nosniff`` and
a sandboxing policy. The page itself carries the same strict Content-Security-Policy as the
file ``repro view`` writes, allowing requests back to this server only.

It binds 127.0.0.1 unless told otherwise; and on a loopback address, it answers only requests
that name it by a loopback name (a page elsewhere cannot point a name of its own at it).

Built on the standard library's ``ThreadingHTTPServer``: a read-only server of one page and a
few JSON answers needs no framework, and adds no dependency to install or keep patched.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from repro.artifact.view.model import columns
from repro.artifact.view.page import Page, render_page
from repro.errors import StoreError, UsageError
from repro.ops.view import late_metrics, run_details, view_runs
from repro.store.files import open_stored
from repro.store.layout import RunFolder
from repro.store.names import is_run_id, safe_relative
from repro.store.peek import StorePeek
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.index import IndexRow
    from repro.store.record import RunRecord

__all__ = ["DEFAULT_PORT", "UiServer", "is_loopback", "ui"]

DEFAULT_PORT = 8765
_LOG_CHUNK = 1 << 16
_FILE_CHUNK = 1 << 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class UiServer:
    """A running ``repro ui``: serve until :meth:`shutdown` (or Ctrl-C in :meth:`serve`)."""

    store: Store
    host: str
    port: int
    httpd: ThreadingHTTPServer

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def serve(self) -> None:
        """Answer requests until interrupted (Ctrl-C) or shut down."""
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.httpd.server_close()

    def shutdown(self) -> None:
        self.httpd.shutdown()


def ui(*, host: str = "127.0.0.1", port: int = DEFAULT_PORT, store: Path | str | None = None) -> UiServer:
    """A server of the live view of the store, bound to ``host``:``port`` (0: any free port), not
    yet serving (call :meth:`UiServer.serve`)."""
    chosen = Store.locate(store)
    chosen.require()
    live = _Live(StorePeek(chosen))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    try:
        httpd = Server((host, port), _handler(live))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use: give another with --port N (0: any free one)") from exc
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}): give another --host or --port") from exc
    bound = httpd.server_address[1]
    live.allowed_hosts = _allowed_hosts(host, int(bound))
    return UiServer(store=chosen, host=host, port=int(bound), httpd=httpd)


def _allowed_hosts(host: str, port: int) -> set[str] | None:
    """The ``Host`` headers a loopback server answers (None: any, on an address asked for)."""
    if not is_loopback(host):
        return None
    names = {host, "localhost", "127.0.0.1", "[::1]", f"[{host}]"}
    return {f"{name}:{port}" for name in names}


class _Live:
    """What the server reads from the store, each time it is asked (never writing)."""

    def __init__(self, peek: StorePeek) -> None:
        self.peek = peek
        self.page = Page()
        self.allowed_hosts: set[str] | None = None
        self._cached: tuple[object, bytes] | None = None
        self._lock = threading.Lock()

    def _version(self) -> object:
        """What changes when the store's runs change: the index file and the journal's entries."""
        try:
            index = self.peek.layout.index.stat()
            seen: object = (index.st_mtime_ns, index.st_size)
        except OSError:
            seen = None
        return seen, tuple(sorted(entry.path.name for entry in self.peek.store.journal.pending()))

    def page_html(self) -> bytes:
        version = self._version()
        with self._lock:
            if self._cached is not None and self._cached[0] == version:
                return self._cached[1]
        rows, fresh = self.peek.rows()
        metrics = self.peek.metrics(rows, fresh)
        running = {record.id: record for record in self.peek.running()}
        runs = view_runs(rows, metrics, {**fresh, **running})
        store = self.peek.store.root
        title = f"repro ui: {store}"
        running_now = list(running.values())
        late = late_metrics([*fresh.values(), *running_now, *self._one_record_per_manifest(rows)])
        data = columns(runs, late_metrics=late)
        html = render_page(runs, data, title=title, details=None, live=True, page=self.page).encode()
        with self._lock:
            self._cached = (version, html)
        return html

    def _one_record_per_manifest(self, rows: Sequence[IndexRow]) -> list[RunRecord]:
        """The newest record of each manifest (what its nondeterministic metrics are)."""
        seen: dict[str, str] = {}
        for row in rows:
            seen.setdefault(row.name, row.id)
        found = []
        for run_id in seen.values():
            try:
                found.append(self.peek.store.load(run_id))
            except (UsageError, StoreError):
                continue
        return found

    def running(self) -> list[dict[str, Any]]:
        from repro.execute.orphans import driver_state

        now = datetime.now(UTC)
        return [
            {
                "id": record.id,
                "manifest": record.manifest.name,
                "label": record.point.label,
                "state": "orphaned" if driver_state(record) == "dead" else "running",
                "started": record.started_at.timestamp(),
                "elapsed": max(0.0, (now - record.started_at).total_seconds()),
            }
            for record in self.peek.running()
        ]

    def details(self, record: RunRecord) -> dict[str, Any]:
        reruns: dict[str, list[str]] = {}
        rows, _ = self.peek.rows()
        for row in rows:
            if row.reproduces == record.id:
                reruns.setdefault(record.id, []).append(row.id)
        return run_details(self.peek.store, record, None, reruns, load=self.peek.load)

    def log(self, record: RunRecord, stream: str, offset: int) -> dict[str, Any]:
        folder = self.peek.store.run_folder(record.id)
        path = folder.stdout if stream == "stdout" else folder.stderr
        data = b""
        try:
            with os.fdopen(open_stored(path, real_parent=True), "rb") as handle:  # never through a link
                handle.seek(offset)
                data = handle.read(_LOG_CHUNK)
        except (FileNotFoundError, StoreError):
            pass
        data = _whole_characters(data)
        return {
            "text": data.decode("utf-8", errors="replace"),
            "offset": offset + len(data),
            "running": record.status.value == "running",
        }

    def record(self, run_id: str) -> RunRecord | None:
        """The record of ``run_id`` if it is a run this store knows; None otherwise."""
        if not is_run_id(run_id) or not self.peek.knows(run_id):
            return None
        try:
            return self.peek.load(run_id)
        except (UsageError, StoreError):
            return None


def _whole_characters(data: bytes) -> bytes:
    """``data`` less a UTF-8 character cut at its end (the next read starts with it)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # a lead byte: is its character complete?
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= length else data[:-back]
    return data


def _segments(raw: str) -> list[str] | None:
    """The path's segments, each percent-decoded once; None when one could name something else
    than a plain name (``..``, ``.``, a decoded ``/`` or NUL, an empty segment inside)."""
    parts = raw.split("/")[1:]
    decoded = []
    for index, part in enumerate(parts):
        try:
            name = unquote(part, errors="strict") if "%" in part else part
        except UnicodeDecodeError:
            return None
        if name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            return None
        if not name and index != len(parts) - 1:
            return None
        decoded.append(name)
    return decoded


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_FILE_POLICY = "sandbox; default-src 'none'"


def _handler(live: _Live) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def version_string(self) -> str:
            return "repro-ui"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
            pass  # the CLI says where it serves; requests are not news

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _refuse(self) -> None:
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self._end(b"repro ui is read-only\n", "text/plain; charset=utf-8", head=False)

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815 - the standard library's names

        def _answer(self, *, head: bool) -> None:
            if live.allowed_hosts is not None and self.headers.get("Host", "") not in live.allowed_hosts:
                self._status(HTTPStatus.MISDIRECTED_REQUEST, "this server answers to its loopback name only\n", head)
                return
            split = urlsplit(self.path)
            segments = _segments(split.path)
            query = parse_qs(split.query)
            try:
                if segments is None:
                    self._status(HTTPStatus.NOT_FOUND, "not found\n", head)
                elif segments in ([""], []):
                    self._page(head)
                elif segments == ["api", "running"]:
                    self._json(live.running(), head)
                elif len(segments) >= 3 and segments[:2] == ["api", "runs"]:
                    self._api_run(segments[2:], query, head)
                elif len(segments) >= 3 and segments[0] == "files":
                    self._file(segments[1], segments[2:], "text" in query.get("as", []), head)
                else:
                    self._status(HTTPStatus.NOT_FOUND, "not found\n", head)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _page(self, head: bool) -> None:
            body = live.page_html()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Security-Policy", live.page.policy(live=True) + "; frame-ancestors 'none'")
            self.send_header("X-Frame-Options", "DENY")
            self._end(body, "text/html; charset=utf-8", head)

        def _api_run(self, rest: list[str], query: dict[str, list[str]], head: bool) -> None:
            record = live.record(rest[0])
            if record is None:
                self._status(HTTPStatus.NOT_FOUND, "no such run\n", head)
            elif len(rest) == 1:
                self._json(live.details(record), head)
            elif rest[1:] == ["log"]:
                stream = query.get("stream", ["stdout"])[0]
                try:
                    offset = int(query.get("offset", ["0"])[0])
                except ValueError:
                    offset = -1
                if stream not in ("stdout", "stderr") or offset < 0:
                    self._status(HTTPStatus.NOT_FOUND, "no such log\n", head)
                else:
                    self._json(live.log(record, stream, offset), head)
            else:
                self._status(HTTPStatus.NOT_FOUND, "not found\n", head)

        def _file(self, run_id: str, parts: list[str], as_text: bool, head: bool) -> None:
            record = live.record(run_id)
            folder = live.peek.store.run_folder(run_id) if record is not None else None
            path = _listed_file(record, folder, parts)
            if path is None:
                self._status(HTTPStatus.NOT_FOUND, "not found\n", head)
                return
            try:
                descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                self._status(HTTPStatus.NOT_FOUND, "not found\n", head)
                return
            with os.fdopen(descriptor, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    self._status(HTTPStatus.NOT_FOUND, "not found\n", head)
                    return
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Security-Policy", _FILE_POLICY)
                name = parts[-1].replace('"', "")
                is_log = parts in (["stdout.log"], ["stderr.log"])
                if as_text or is_log:
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Disposition", "inline")
                else:
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Disposition", f"attachment; filename*=UTF-8''{_quote(name)}")
                self.send_header("Content-Length", str(info.st_size))
                for header, value in _SECURITY_HEADERS.items():
                    self.send_header(header, value)
                self.end_headers()
                if not head:
                    for chunk in _chunks(handle):
                        self.wfile.write(chunk)

        def _json(self, value: object, head: bool) -> None:
            self.send_response(HTTPStatus.OK)
            body = json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
            self._end(body, "application/json; charset=utf-8", head)

        def _status(self, status: HTTPStatus, text: str, head: bool) -> None:
            self.send_response(status)
            self._end(text.encode(), "text/plain; charset=utf-8", head)

        def _end(self, body: bytes, content_type: str, head: bool) -> None:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for header, value in _SECURITY_HEADERS.items():
                self.send_header(header, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


def _listed_file(record: RunRecord | None, folder: RunFolder | None, parts: list[str]) -> Path | None:
    """The file a request names, if it is one the server may send: a log of the run, or an output
    file its record lists, inside the run's folder once links are resolved."""
    if record is None or folder is None:
        return None
    if parts in (["stdout.log"], ["stderr.log"]):
        path = folder.stdout if parts[0] == "stdout.log" else folder.stderr
    elif parts[0] == "outputs" and len(parts) > 1 and record.outputs is not None:
        relative = safe_relative("/".join(parts[1:]))
        if relative is None:
            return None
        listed = {entry.path for entry in record.outputs.files if entry.kind == "file"}
        if relative.as_posix() not in listed:
            return None
        path = folder.outputs / relative
    else:
        return None
    try:
        inside = Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder.path))
    except OSError:
        return None
    return path if inside else None


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _chunks(handle: Any) -> Iterator[bytes]:
    while chunk := handle.read(_FILE_CHUNK):
        yield chunk
