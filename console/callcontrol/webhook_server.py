"""The endpoint Telnyx posts Call Control webhooks to.

A small, strict HTTP/1.1 server on asyncio streams: Telnyx sends `POST <path>` with a
Content-Length body and the two signature headers, and wants a 2xx quickly. The signature is
checked on the raw bytes before anything is parsed; the event then passes EventGate
(duplicates and stale events are answered 200 too, or Telnyx would retry them) and only then
reaches the handler, on the server's loop.

Everything a peer controls is bounded: the request head (16 KB, 100 header lines), the body
(`max_body`, and a Content-Length is required: chunked bodies get 411), the time to send a
request head and a body (`request_timeout_s` each), and the number of open connections. A peer
that vanishes mid-request just loses its connection. Rejections are counted in `stats` and
logged at most once per reason per minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from console.callcontrol.events import EventGate, WebhookError, WebhookEvent, parse_event
from console.callcontrol.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    load_public_key,
    verify,
)

__all__ = ["MAX_HEAD", "MAX_HEADER_LINES", "WebhookServer", "WebhookStats"]

log = logging.getLogger("console.callcontrol")

MAX_HEAD = 16 * 1024
MAX_HEADER_LINES = 100
LOG_PERIOD_S = 60.0
# After refusing a request mid-stream, keep reading (and dropping) what the peer still sends
# for a moment before closing: closing with unread data makes the kernel send a reset, and
# the peer may then lose our answer (the 413 or 408 it should see).
LINGER_S = 1.0
LINGER_BYTES = 1024 * 1024

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters other than tab
_DIGITS = re.compile(r"[0-9]{1,15}")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
# Headers whose repetition makes a request ambiguous (framing, or what was signed).
_SINGLE = frozenset({"content-length", "transfer-encoding", "host", "expect",
                     TIMESTAMP_HEADER, SIGNATURE_HEADER})
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Content Too Large", 431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


@dataclass
class WebhookStats:
    """What the endpoint has seen since it started. Also readable as stats["accepted"]."""

    accepted: int = 0  # admitted and handed to the handler
    duplicate: int = 0  # an event id seen before (200)
    stale: int = 0  # overtaken by a later event for the same leg (200)
    bad_signature: int = 0  # 401
    malformed: int = 0  # signed, but not a Telnyx event the console can read (400)
    too_large: int = 0  # 413
    not_found: int = 0  # 404: another path
    method_not_allowed: int = 0  # 405: not POST
    bad_request: int = 0  # not well-formed HTTP/1.1 (400, 411, 431, 505)
    timeouts: int = 0  # a request head or body not complete in time (408)
    abandoned: int = 0  # the peer went away mid-request
    handler_errors: int = 0  # the handler raised (the answer was still 200)
    connections: int = 0  # connections accepted, in all
    refused_connections: int = 0  # closed at once: max_connections were open

    def __getitem__(self, name: str) -> int:
        value: int = getattr(self, name)
        return value

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _HttpError(Exception):
    """A request refused before its body was read: answered, then the connection closes
    (its framing can no longer be trusted)."""

    def __init__(self, status: int, counter: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.counter = counter


@dataclass
class _Head:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names
    keep_alive: bool


class _Throttle:
    """At most one log line per reason per period; says how many were left out."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def log(self, level: int, reason: str, msg: str, *args: object,
            exc_info: bool = False) -> None:
        now = time.monotonic()
        last = self._last.get(reason)
        if last is not None and now - last < self.period_s:
            self._skipped[reason] = self._skipped.get(reason, 0) + 1
            return
        self._last[reason] = now
        skipped = self._skipped.pop(reason, 0)
        if skipped:
            msg += " (%d more like it in the last minute)"
            args = (*args, skipped)
        log.log(level, msg, *args, exc_info=exc_info)


class WebhookServer:
    """Receives Telnyx webhooks on `path`; calls `handler` once per admitted event."""

    def __init__(self, host: str, port: int, path: str, public_key: str,
                 handler: Callable[[WebhookEvent], None],
                 ssl_context: ssl.SSLContext | None = None, tolerance_s: float = 300.0,
                 max_body: int = 256 * 1024, clock: Callable[[], float] = time.time,
                 *, request_timeout_s: float = 10.0, max_connections: int = 256,
                 gate: EventGate | None = None) -> None:
        self.host = host
        self.port = port  # the bound port once started
        self.path = path if path.startswith("/") else "/" + path
        self._key = load_public_key(public_key)  # ValueError now rather than 401s later
        self._handler = handler
        self._ssl = ssl_context
        self.tolerance_s = tolerance_s
        self.max_body = max_body
        self._clock = clock
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.gate = gate if gate is not None else EventGate()
        self.stats = WebhookStats()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self._linger: set[asyncio.StreamWriter] = set()  # refused mid-request: linger on close
        self._throttle = _Throttle(LOG_PERIOD_S)

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, ssl=self._ssl, limit=MAX_HEAD,
            ssl_handshake_timeout=self.request_timeout_s if self._ssl else None)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Telnyx webhooks: listening on %s://%s:%d%s",
                 "https" if self._ssl else "http", self.host, self.port, self.path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # 3.11's Server.close() leaves accepted connections open: end them here.
        tasks = list(self._conns)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    # -- one connection ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._conns) >= self.max_connections:
            self.stats.refused_connections += 1
            self._throttle.log(logging.WARNING, "connections",
                               "Telnyx webhooks: %d connections open; closing a new one",
                               len(self._conns))
            await self._close(reader, writer)
            return
        self._conns.add(task)
        self.stats.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, OSError):
            # Gone mid-request (EOF or reset), or stopped reading our answer.
            self.stats.abandoned += 1
        finally:
            await self._close(reader, writer)
            self._conns.discard(task)

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection stays open for another."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                first = await reader.read(1)  # an idle keep-alive connection waits here
        except TimeoutError:
            return False
        if not first:
            return False
        try:
            async with asyncio.timeout(self.request_timeout_s):
                head = _parse_head(first + await _read_head(reader))
        except TimeoutError:
            return await self._timed_out(writer, "request head")
        except _HttpError as exc:
            return await self._refuse(writer, exc)

        headers = head.headers
        length_text = headers.get("content-length")
        try:
            if "transfer-encoding" in headers:
                raise _HttpError(411, "bad_request",
                                 "Transfer-Encoding is not accepted; send a Content-Length")
            if length_text is not None and not _DIGITS.fullmatch(length_text):
                raise _HttpError(400, "bad_request", "Content-Length is not a number")
            length = int(length_text) if length_text is not None else 0
            if head.path != self.path:
                raise _HttpError(404, "not_found", "no webhook endpoint at this path")
            if head.method != "POST":
                raise _HttpError(405, "method_not_allowed", "webhooks are POSTed")
            if length_text is None:
                raise _HttpError(411, "bad_request", "a Content-Length is required")
            if length > self.max_body:
                raise _HttpError(413, "too_large",
                                 f"body of {length} bytes is over the {self.max_body} limit")
        except _HttpError as exc:
            keep = head.keep_alive and await self._skip_body(reader, exc, headers, length_text)
            return await self._refuse(writer, exc, keep_alive=keep)

        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            async with asyncio.timeout(self.request_timeout_s):
                body = await reader.readexactly(length)
        except TimeoutError:
            return await self._timed_out(writer, "request body")
        status, answer = self._handle(headers, body)
        await self._respond(writer, status, answer, head.keep_alive)
        return head.keep_alive

    async def _skip_body(self, reader: asyncio.StreamReader, exc: _HttpError,
                         headers: dict[str, str], length_text: str | None) -> bool:
        """Read and drop the body of a refused request, so the connection can carry on;
        False when it cannot (no trustworthy length, too big, or never coming)."""
        if exc.status not in (404, 405):
            return False
        length = int(length_text) if length_text is not None else 0
        if length == 0:
            return True
        if length > self.max_body or headers.get("expect", "").lower() == "100-continue":
            return False  # an expecting client sends nothing until told to
        try:
            async with asyncio.timeout(self.request_timeout_s):
                await reader.readexactly(length)
        except TimeoutError:
            return False
        return True

    def _handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        now = self._clock()
        try:
            verify(self._key, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER),
                   body, now, self.tolerance_s)
        except SignatureError as exc:
            self.stats.bad_signature += 1
            self._throttle.log(logging.WARNING, "bad_signature",
                               "Telnyx webhook refused (401): %s", exc)
            return 401, {"ok": False, "error": str(exc)}
        try:
            event = parse_event(body)
        except WebhookError as exc:
            self.stats.malformed += 1
            self._throttle.log(logging.WARNING, "malformed",
                               "Telnyx webhook refused (400): %s", exc)
            return 400, {"ok": False, "error": str(exc)}
        reason = self.gate.admit(event, now)
        if reason is None:
            self.stats.accepted += 1
            try:
                self._handler(event)
            except Exception:
                # Received is received: a 5xx would only make Telnyx send it again.
                self.stats.handler_errors += 1
                self._throttle.log(logging.ERROR, "handler",
                                   "Telnyx webhook %s (%s): the handler failed",
                                   event.event_type, event.id, exc_info=True)
        elif reason.startswith("duplicate"):
            self.stats.duplicate += 1
            log.debug("Telnyx webhook dropped: %s", reason)
        else:
            self.stats.stale += 1
            self._throttle.log(logging.INFO, "stale", "Telnyx webhook dropped: %s", reason)
        return 200, {"ok": True}

    async def _timed_out(self, writer: asyncio.StreamWriter, what: str) -> bool:
        self.stats.timeouts += 1
        self._throttle.log(logging.WARNING, "timeout",
                           "Telnyx webhooks: %s not received within %.0f s; closing",
                           what, self.request_timeout_s)
        await self._respond(writer, 408, {"ok": False, "error": f"{what} took too long"}, False)
        return False

    async def _refuse(self, writer: asyncio.StreamWriter, exc: _HttpError,
                      keep_alive: bool = False) -> bool:
        setattr(self.stats, exc.counter, self.stats[exc.counter] + 1)
        self._throttle.log(logging.WARNING, exc.counter, "Telnyx webhooks: refused (%d): %s",
                           exc.status, exc)
        extra = "Allow: POST\r\n" if exc.status == 405 else ""
        await self._respond(writer, exc.status, {"ok": False, "error": str(exc)}, keep_alive,
                            extra)
        return keep_alive

    async def _respond(self, writer: asyncio.StreamWriter, status: int, answer: dict[str, Any],
                       keep_alive: bool, extra_headers: str = "") -> None:
        body = json.dumps(answer, separators=(",", ":")).encode("utf-8")
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
                f"{extra_headers}\r\n")
        writer.write(head.encode("latin-1") + body)
        if status >= 400 and not keep_alive:
            self._linger.add(writer)
        async with asyncio.timeout(self.request_timeout_s):
            await writer.drain()

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if writer in self._linger and writer.can_write_eof():  # not over TLS
                with contextlib.suppress(Exception):
                    writer.write_eof()
                    async with asyncio.timeout(LINGER_S):
                        dropped = 0
                        while dropped < LINGER_BYTES:
                            chunk = await reader.read(64 * 1024)
                            if not chunk:
                                break
                            dropped += len(chunk)
        finally:
            self._linger.discard(writer)
            writer.close()
        # Bounded: a TLS peer that never answers close_notify must not hold this task.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The rest of a request head, through its blank line; at most MAX_HEAD bytes."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise _HttpError(431, "bad_request",
                         f"request head is over {MAX_HEAD} bytes") from None


def _parse_head(raw: bytes) -> _Head:
    # A client may send a stray CRLF after a previous body (RFC 9112 2.2: ignore it).
    lines = raw.lstrip(b"\r\n").decode("latin-1").split("\r\n")[:-2]
    if not lines:
        raise _HttpError(400, "bad_request", "empty request")
    if len(lines) - 1 > MAX_HEADER_LINES:
        raise _HttpError(431, "bad_request", f"more than {MAX_HEADER_LINES} header lines")
    if any("\n" in line or "\r" in line for line in lines):
        raise _HttpError(400, "bad_request", "lines must end in CRLF")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        raise _HttpError(400, "bad_request", "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if _VERSION.fullmatch(version):
            raise _HttpError(505, "bad_request", "only HTTP/1.1 and HTTP/1.0 are served")
        raise _HttpError(400, "bad_request", "malformed request line")

    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            raise _HttpError(400, "bad_request", "folded header lines are not accepted")
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise _HttpError(400, "bad_request", "malformed header line")
        value = value.strip(" \t")
        if _BAD_VALUE.search(value):
            raise _HttpError(400, "bad_request", "control characters in a header value")
        key = name.lower()
        if key in headers:
            if key in _SINGLE:
                raise _HttpError(400, "bad_request", f"{name} header repeated")
            headers[key] += ", " + value
        else:
            headers[key] = value
    if version == "HTTP/1.1" and "host" not in headers:
        raise _HttpError(400, "bad_request", "HTTP/1.1 request without Host")

    if target.startswith("/"):
        path = target.split("?", 1)[0]
    elif target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 3.2.2)
        path = urlsplit(target).path or "/"
    else:
        raise _HttpError(400, "bad_request", "malformed request target")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return _Head(method, path, version, headers, keep_alive)
