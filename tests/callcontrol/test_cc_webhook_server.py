"""The webhook endpoint over real sockets on 127.0.0.1: http.client (an independent HTTP
parser for our answers) and raw asyncio streams (for what http.client will not send)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import http.client
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from helpers import wait_for

from console.callcontrol.events import WebhookEvent
from console.callcontrol.webhook_server import WebhookServer

PATH = "/telnyx/webhooks"
# Signed here with `cryptography` directly, not with console.callcontrol.signature.sign.
PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
PUBLIC_B64 = base64.b64encode(PRIVATE.public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def event_body(event_type: str = "call.answered", event_id: str = "ev-1",
               leg: str = "v3:leg-1", occurred_at: str = "2026-01-01T00:00:00Z") -> bytes:
    return json.dumps({"data": {
        "record_type": "event", "event_type": event_type, "id": event_id,
        "occurred_at": occurred_at,
        "payload": {"call_control_id": leg, "call_leg_id": "leg", "state": "answered"},
    }}).encode()


def signed(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = PRIVATE.sign(f"{stamp}|".encode() + body)
    return {"telnyx-timestamp": str(stamp),
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "Content-Type": "application/json"}


class Endpoint:
    def __init__(self, server: WebhookServer, events: list[WebhookEvent]) -> None:
        self.server = server
        self.events = events

    @property
    def port(self) -> int:
        return self.server.port


async def make_endpoint(handler: Callable[[WebhookEvent], None] | None = None,
                        **kwargs: Any) -> Endpoint:
    events: list[WebhookEvent] = []

    def record(event: WebhookEvent) -> None:
        events.append(event)
        if handler is not None:
            handler(event)

    server = WebhookServer("127.0.0.1", 0, PATH, PUBLIC_B64, record, **kwargs)
    await server.start()
    return Endpoint(server, events)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = await make_endpoint()
    yield ep
    await ep.server.stop()


def http_post(port: int, body: bytes, headers: dict[str, str], path: str = PATH,
              context: ssl.SSLContext | None = None) -> tuple[int, dict[str, Any]]:
    """One POST with the standard library's client (blocking: run it in a thread)."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def raw_post(body: bytes, headers: dict[str, str], path: str = PATH,
             extra: str = "") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode() + body


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send raw bytes on a new connection; the answer, and whether the server then closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        status, headers, body = await read_response(reader)
        closed = await asyncio.wait_for(reader.read(1), 10) == b"" if \
            headers.get("connection") == "close" else False
        return status, headers, body, closed
    finally:
        writer.close()


# -- the happy path, duplicates, stale ---------------------------------------------------

async def test_cc_good_post_then_duplicate(endpoint: Endpoint) -> None:
    body = event_body()
    status, answer = await asyncio.to_thread(http_post, endpoint.port, body, signed(body))
    assert (status, answer) == (200, {"ok": True})
    assert [e.id for e in endpoint.events] == ["ev-1"]
    assert endpoint.events[0].call_control_id == "v3:leg-1"
    # Telnyx redelivers: same event, new signing time. 200 (or it retries), handler not again.
    status, answer = await asyncio.to_thread(http_post, endpoint.port, body,
                                             signed(body, int(time.time()) + 1))
    assert (status, answer) == (200, {"ok": True})
    assert len(endpoint.events) == 1
    stats = endpoint.server.stats
    assert (stats.accepted, stats.duplicate, stats["accepted"]) == (1, 1, 1)


async def test_cc_stale_after_hangup_is_200_not_handled(endpoint: Endpoint) -> None:
    hangup = event_body("call.hangup", "h1", occurred_at="2026-01-01T00:00:10Z")
    answered = event_body("call.answered", "a1", occurred_at="2026-01-01T00:00:00Z")
    for body in (hangup, answered):
        status, _ = await asyncio.to_thread(http_post, endpoint.port, body, signed(body))
        assert status == 200
    assert [e.event_type for e in endpoint.events] == ["call.hangup"]
    assert endpoint.server.stats.stale == 1


# -- signatures -----------------------------------------------------------------------------

async def test_cc_tampered_and_unsigned_are_401(endpoint: Endpoint) -> None:
    body = event_body()
    headers = signed(body)
    tampered = body.replace(b"v3:leg-1", b"v3:leg-X")
    status, answer = await asyncio.to_thread(http_post, endpoint.port, tampered, headers)
    assert status == 401 and "does not match" in answer["error"]
    status, answer = await asyncio.to_thread(http_post, endpoint.port, body,
                                             {"Content-Type": "application/json"})
    assert status == 401 and answer["error"] == "missing telnyx-timestamp header"
    old = signed(body, int(time.time()) - 301)
    status, answer = await asyncio.to_thread(http_post, endpoint.port, body, old)
    assert status == 401 and "tolerance" in answer["error"]
    assert endpoint.events == []
    assert endpoint.server.stats.bad_signature == 3


async def test_cc_signature_checked_before_parsing(endpoint: Endpoint) -> None:
    garbage = b'{"data": not json'
    status, _ = await asyncio.to_thread(http_post, endpoint.port, garbage,
                                        {"telnyx-timestamp": str(int(time.time())),
                                         "telnyx-signature-ed25519": "AAAA"})
    assert status == 401  # unsigned junk is never parsed
    status, answer = await asyncio.to_thread(http_post, endpoint.port, garbage, signed(garbage))
    assert status == 400 and answer == {"ok": False, "error": "body is not valid JSON"}
    wrong_type = b'{"data": {"id": 7, "event_type": "call.answered"}}'
    status, answer = await asyncio.to_thread(http_post, endpoint.port, wrong_type,
                                             signed(wrong_type))
    assert status == 400 and "data.id is a number" in answer["error"]
    stats = endpoint.server.stats
    assert (stats.bad_signature, stats.malformed, stats.accepted) == (1, 2, 0)


async def test_cc_rejections_logged_once_per_minute(endpoint: Endpoint,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="console.callcontrol")
    body = event_body()
    for n in range(3):
        status, _ = await asyncio.to_thread(http_post, endpoint.port, body + b" " * (n + 1),
                                            signed(body))
        assert status == 401
    refused = [r for r in caplog.records if "refused (401)" in r.getMessage()]
    assert len(refused) == 1
    assert endpoint.server.stats.bad_signature == 3


# -- HTTP: routing, framing, limits ------------------------------------------------------------

async def test_cc_wrong_path_and_method(endpoint: Endpoint) -> None:
    body = event_body()
    status, _ = await asyncio.to_thread(http_post, endpoint.port, body, signed(body),
                                        "/elsewhere")
    assert status == 404 and endpoint.events == []
    status, headers, _, _ = await exchange(
        endpoint.port, f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405 and headers["allow"] == "POST"
    stats = endpoint.server.stats
    assert (stats.not_found, stats.method_not_allowed) == (1, 1)


async def test_cc_refusal_keeps_connection_usable(endpoint: Endpoint) -> None:
    """A 404 with a body, then a good POST on the same connection: the body was skipped."""
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
    try:
        junk = b'{"x": 1}'
        writer.write(raw_post(junk, {}, path="/other") + raw_post(event_body(),
                                                                  signed(event_body())))
        status, headers, _ = await read_response(reader)
        assert status == 404 and headers["connection"] == "keep-alive"
        status, _, body = await read_response(reader)
        assert (status, json.loads(body)) == (200, {"ok": True})
    finally:
        writer.close()
    assert len(endpoint.events) == 1 and endpoint.server.stats.connections == 1


async def test_cc_oversize_is_413_and_closes() -> None:
    ep = await make_endpoint(max_body=1024)
    try:
        body = event_body() + b" " * 2000
        status, _, _, closed = await exchange(ep.port, raw_post(body, signed(body)))
        assert status == 413 and closed
        assert ep.server.stats.too_large == 1 and ep.events == []
        # At the limit exactly is fine.
        body = event_body()
        body += b" " * (1024 - len(body))
        status, _, _, _ = await exchange(ep.port, raw_post(body, signed(body)))
        assert status == 200 and len(ep.events) == 1
    finally:
        await ep.server.stop()


async def test_cc_oversize_body_still_sees_413() -> None:
    """A sender that pushes a big body before reading: the server drops the rest rather than
    resetting the connection, so the 413 reaches it."""
    ep = await make_endpoint(max_body=1024)
    try:
        body = b"x" * 400_000
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        writer.write(raw_post(body, signed(body)))
        await writer.drain()
        status, headers, _ = await read_response(reader)
        assert status == 413 and headers["connection"] == "close"
        writer.close()
        assert ep.server.stats.too_large == 1
    finally:
        await ep.server.stop()


async def test_cc_chunked_is_411(endpoint: Endpoint) -> None:
    body = event_body()
    raw = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           f"{len(body):x}\r\n").encode() + body + b"\r\n0\r\n\r\n"
    status, _, _, closed = await exchange(endpoint.port, raw)
    assert status == 411 and closed
    # No length at all is 411 too.
    status, _, _, closed = await exchange(endpoint.port,
                                          f"POST {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 411 and closed
    assert endpoint.events == [] and endpoint.server.stats.bad_request == 2


@pytest.mark.parametrize(("raw", "expected"), [
    (b"POST\r\n\r\n", 400),
    (b"POST /telnyx/webhooks\r\nHost: x\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"POST /telnyx/webhooks HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Content-Length: 6\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\n folded: yes\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\nX: bare-lf\r\n\r\n", 400),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 431),
    (b"POST /telnyx/webhooks HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
])
async def test_cc_malformed_http(endpoint: Endpoint, raw: bytes, expected: int) -> None:
    status, _, body, closed = await exchange(endpoint.port, raw)
    assert status == expected and closed
    assert json.loads(body)["ok"] is False
    assert endpoint.server.stats.bad_request == 1


async def test_cc_expect_100_continue(endpoint: Endpoint) -> None:
    body = event_body()
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
    try:
        head = raw_post(b"", signed(body), extra="Expect: 100-continue\r\n")
        head = head.replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode())
        writer.write(head)
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        status, _, _ = await read_response(reader)
        assert status == 200 and len(endpoint.events) == 1
    finally:
        writer.close()


# -- connections -------------------------------------------------------------------------

async def test_cc_keep_alive_two_requests_one_connection(endpoint: Endpoint) -> None:
    def two_posts() -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
        try:
            statuses = []
            for n in (1, 2):
                body = event_body(event_id=f"ev-{n}", leg=f"v3:leg-{n}")
                conn.request("POST", PATH, body=body, headers=signed(body))
                if n == 1:
                    sock = conn.sock
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
            assert conn.sock is sock  # http.client did not have to reconnect
            return statuses
        finally:
            conn.close()

    assert await asyncio.to_thread(two_posts) == [200, 200]
    assert [e.id for e in endpoint.events] == ["ev-1", "ev-2"]
    assert endpoint.server.stats.connections == 1


async def test_cc_connection_close_is_honoured(endpoint: Endpoint) -> None:
    body = event_body()
    status, headers, _, closed = await exchange(
        endpoint.port, raw_post(body, {**signed(body), "Connection": "close"}))
    assert status == 200 and headers["connection"] == "close" and closed


async def test_cc_peer_vanishing_mid_request_costs_nothing(endpoint: Endpoint) -> None:
    body = event_body()
    whole = raw_post(body, signed(body))
    for cut in (10, whole.index(b"\r\n\r\n") + 4 + 5):  # mid-head, then mid-body
        _, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        writer.write(whole[:cut])
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    await wait_for(lambda: endpoint.server.open_connections == 0)
    assert endpoint.server.stats.abandoned == 2 and endpoint.events == []
    status, _ = await asyncio.to_thread(http_post, endpoint.port, body, signed(body))
    assert status == 200 and len(endpoint.events) == 1


async def test_cc_slowloris_head_times_out() -> None:
    ep = await make_endpoint(request_timeout_s=0.3)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        raw = raw_post(event_body(), signed(event_body()))
        answer = b""
        # One byte every 70 ms: each arrives well within 0.3 s of the last, so only a
        # deadline on the whole head (not on each read) stops this.
        for n in range(len(raw)):
            writer.write(raw[n:n + 1])
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.07)
                break
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert b"Connection: close" in answer and n < len(raw) // 2
        await reader.readexactly(int(answer.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # Meanwhile the endpoint still serves a well-behaved sender.
        body = event_body()
        status, _ = await asyncio.to_thread(http_post, ep.port, body, signed(body))
        assert status == 200 and ep.server.stats.timeouts == 1
    finally:
        await ep.server.stop()


async def test_cc_idle_keep_alive_closed_quietly() -> None:
    ep = await make_endpoint(request_timeout_s=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, with no 408
        writer.close()
        assert ep.server.stats.timeouts == 0
    finally:
        await ep.server.stop()


async def test_cc_connection_limit_and_stop() -> None:
    ep = await make_endpoint(max_connections=2)
    streams = [await asyncio.open_connection("127.0.0.1", ep.port) for _ in range(2)]
    await wait_for(lambda: ep.server.open_connections == 2)
    extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", ep.port)
    assert await asyncio.wait_for(extra_reader.read(), 10) == b""
    extra_writer.close()
    assert ep.server.stats.refused_connections == 1
    # stop() ends connections that are still open.
    await ep.server.stop()
    for reader, writer in streams:
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    assert ep.server.open_connections == 0


async def test_cc_handler_raising_still_200(caplog: pytest.LogCaptureFixture) -> None:
    def explode(event: WebhookEvent) -> None:
        if event.id == "ev-boom":
            raise RuntimeError("handler bug")

    ep = await make_endpoint(handler=explode)
    try:
        boom = event_body(event_id="ev-boom")
        status, answer = await asyncio.to_thread(http_post, ep.port, boom, signed(boom))
        assert (status, answer) == (200, {"ok": True})
        assert ep.server.stats.handler_errors == 1
        assert any(r.exc_info and "handler failed" in r.getMessage() for r in caplog.records)
        # The event counts as received: its redelivery is a duplicate, and others still flow.
        status, _ = await asyncio.to_thread(http_post, ep.port, boom, signed(boom))
        fine = event_body(event_id="ev-fine", leg="v3:leg-2")
        status2, _ = await asyncio.to_thread(http_post, ep.port, fine, signed(fine))
        assert (status, status2) == (200, 200)
        assert [e.id for e in ep.events] == ["ev-boom", "ev-fine"]
        stats = ep.server.stats
        assert (stats.accepted, stats.duplicate, stats.handler_errors) == (2, 1, 1)
    finally:
        await ep.server.stop()


def test_cc_bad_public_key_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="neither base64 nor PEM"):
        WebhookServer("127.0.0.1", 0, PATH, "not a key", lambda e: None)


# -- TLS ------------------------------------------------------------------------------------

def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = generate_private_key(SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_cc_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    ep = await make_endpoint(ssl_context=server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))  # verifies name and chain
        body = event_body()
        status, answer = await asyncio.to_thread(http_post, ep.port, body, signed(body),
                                                 PATH, client_ctx)
        assert (status, answer) == (200, {"ok": True})
        tampered = body.replace(b"leg-1", b"leg-2")
        status, _ = await asyncio.to_thread(http_post, ep.port, tampered, signed(body),
                                            PATH, client_ctx)
        assert status == 401
        # Plain HTTP on the TLS port gets no answer a client could take for one.
        with pytest.raises((http.client.HTTPException, ConnectionError, ValueError)):
            await asyncio.to_thread(http_post, ep.port, body, signed(body))
        assert [e.id for e in ep.events] == ["ev-1"]
    finally:
        await ep.server.stop()
