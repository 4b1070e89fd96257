"""Handshake authentication, checked over real WebSocket upgrades."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os

import pytest
from helpers import telnyx_start, wait_for
from support import fixtures_dir, running_engine
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from console.protocol.twilio import signature
from console.server.auth import AuthPolicy, check_handshake, signed_url_candidates


def test_policy_decisions() -> None:
    p = AuthPolicy(token="tok")
    assert check_handshake(p, "/s", {"x-telnyx-streaming-auth-token": "tok"}).ok
    assert check_handshake(p, "/s?token=tok", {}).ok
    assert check_handshake(p, "/s", {"Authorization": "Bearer tok"}).ok
    missing = check_handshake(p, "/s", {})
    assert (missing.ok, missing.status) == (False, 401)
    wrong = check_handshake(p, "/s", {"X-Telnyx-Streaming-Auth-Token": "nope"})
    assert (wrong.ok, wrong.status) == (False, 403)
    assert check_handshake(AuthPolicy(no_auth=True), "/s", {}).ok


def test_basic_credentials_as_exotel_sends_them() -> None:
    p = AuthPolicy(token="tok")

    def basic(text: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}

    for good in ("exotel-key:tok", "tok:", "tok:anything"):
        result = check_handshake(p, "/s", basic(good))
        assert result.ok and result.method == "basic", good
    for bad in ("exotel-key:wrong", "tok", ":", ""):
        result = check_handshake(p, "/s", basic(bad))
        assert not result.ok, bad
    wrong = check_handshake(p, "/s", basic("key:wrong"))
    assert (wrong.status, wrong.reason) == (403, "wrong stream token")
    garbage = check_handshake(p, "/s", {"Authorization": "Basic !!!not-base64"})
    assert (garbage.ok, garbage.status) == (False, 401)
    assert "Basic" in garbage.reason


def test_twilio_signature_vector_and_url_candidates() -> None:
    vec = json.loads((fixtures_dir() / "twilio/"
                      "handshake_signature_test_vector.json").read_text())
    p = AuthPolicy(token="x", public_url=vec["url"], twilio_auth_token=vec["auth_token"])
    ok = check_handshake(p, "/twilio/media", {"X-Twilio-Signature":
                                              vec["expected_x_twilio_signature"]})
    assert ok.ok and ok.method == "twilio-signature"
    bad = check_handshake(p, "/twilio/media", {"X-Twilio-Signature": "AAAA"})
    assert (bad.ok, bad.status) == (False, 403)
    assert "public URL" in bad.reason
    # Only the origin configured: the request path completes the signed URL.
    cands = signed_url_candidates("wss://console.example.com:443", "/twilio/media", None)
    assert "wss://console.example.com/twilio/media" in cands
    no_token = check_handshake(AuthPolicy(token="x"), "/", {"X-Twilio-Signature": "abc"})
    assert no_token.status == 403 and "no Twilio auth token" in no_token.reason


async def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        async with connect(url, additional_headers=headers or {}, open_timeout=5):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_real_handshakes(settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    settings.public_url = "wss://console.example.com/twilio/media"
    settings.twilio_auth_token = "12345"
    async with running_engine(settings) as engine:
        base = f"ws://127.0.0.1:{engine.port}"
        assert await _status(base + "/any/path") == 401
        assert await _status(base + "/x", {"x-telnyx-streaming-auth-token": "bad"}) == 403
        assert await _status(base + "/x", {"x-telnyx-streaming-auth-token": "test-token"}) == 101
        assert await _status(base + "/x?token=test-token") == 101
        # Exotel's wss://KEY:TOKEN@host form: the client sends it as Basic.
        assert await _status(f"ws://exotel-key:test-token@127.0.0.1:{engine.port}/ex") == 101
        good = signature("12345", "wss://console.example.com/twilio/media")
        assert await _status(base + "/twilio/media", {"X-Twilio-Signature": good}) == 101
        assert await _status(base + "/twilio/media", {"X-Twilio-Signature": good[:-2]}) == 403
        assert engine.rejected_handshakes == 3
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3
    assert all("127.0.0.1:" in m for m in refused)  # the peer is logged


async def test_stream_limit_counts_started_streams_and_refuses_with_503(settings) -> None:  # type: ignore[no-untyped-def]
    settings.max_streams = 2
    settings.no_auth = True
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        async with connect(url) as a, connect(url) as b:
            await a.send(telnyx_start("lim-a", "lim-call-a"))
            await b.send(telnyx_start("lim-b", "lim-call-b"))
            await wait_for(lambda: engine.limits.started == 2, 5)
            assert await _status(url) == 503
        # Slots free up again once those sockets are gone.
        await wait_for(lambda: not engine.sessions, 10)
        assert await _status(url) == 101


# --- hostile credentials over real upgrade requests ------------------------------------

async def _raw_status(port: int, target: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """Send an upgrade request byte for byte (what no client library lets through: raw
    non-ASCII, repeated headers) and return the status code of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        key = base64.b64encode(os.urandom(16))
        lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1",
                 b"Upgrade: websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + key, b"Sec-WebSocket-Version: 13"]
        lines += [name + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 "), status
        return int(status.split()[1])
    finally:
        writer.close()


TELNYX = b"x-telnyx-streaming-auth-token"
TWILIO = b"X-Twilio-Signature"
AUTH = b"Authorization"
TWILIO_URL = "wss://console.example.com/twilio/media"

HOSTILE: list[tuple[str, bytes, list[tuple[bytes, bytes]], int]] = [
    ("twilio latin-1", b"/twilio/media", [(TWILIO, "\u00e9t\u00e9".encode("latin-1"))], 403),
    ("twilio utf-8", b"/twilio/media", [(TWILIO, "\u00e9t\u00e9=".encode())], 403),
    ("twilio 0xff run", b"/twilio/media", [(TWILIO, b"\xff" * 8000)], 403),
    ("twilio empty", b"/twilio/media", [(TWILIO, b"")], 403),
    ("twilio twice", b"/twilio/media", [(TWILIO, b"@GOOD@"), (TWILIO, b"@GOOD@")], 403),
    ("telnyx non-ascii", b"/", [(TELNYX, "test-t\u00f6ken".encode())], 403),
    ("telnyx tab", b"/", [(TELNYX, b"test\ttoken")], 403),
    ("telnyx huge", b"/", [(TELNYX, b"A" * 8000)], 403),
    ("telnyx empty", b"/", [(TELNYX, b"")], 403),
    ("telnyx bad then good", b"/", [(TELNYX, b"bad"), (TELNYX, b"test-token")], 403),
    ("telnyx good then bad", b"/", [(TELNYX, b"test-token"), (TELNYX, b"bad")], 403),
    ("query 0xff", b"/?token=%FF", [], 403),
    ("query surrogate", b"/?token=%ED%B3%BF", [], 403),
    ("query nul", b"/?token=%00", [], 403),
    ("query blank", b"/?token=", [], 403),
    ("query huge", b"/?token=" + b"B" * 7000, [], 403),
    ("query bad then good", b"/?token=bad&token=test-token", [], 403),
    ("query good twice", b"/?token=test-token&token=test-token", [], 403),
    ("bearer non-ascii", b"/", [(AUTH, "Bearer t\u00f6ken".encode())], 403),
    ("bearer empty", b"/", [(AUTH, b"Bearer")], 403),
    ("bearer huge", b"/", [(AUTH, b"Bearer " + b"C" * 8000)], 403),
    ("bearer twice", b"/", [(AUTH, b"Bearer test-token"), (AUTH, b"Bearer test-token")], 403),
    ("basic, wrong token", b"/", [(AUTH, b"Basic dGVzdDp0b2tlbg==")], 403),
    ("authorization empty", b"/", [(AUTH, b"")], 401),
    ("authorization binary", b"/", [(AUTH, b"\xff\xfe\x80")], 401),
    ("nothing", b"/", [], 401),
]


async def test_hostile_credentials_get_401_or_403(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    """Never a 500, whatever the bytes: each refused, and the server unharmed."""
    settings.public_url = TWILIO_URL
    settings.twilio_auth_token = "12345"
    good_sig = signature("12345", TWILIO_URL).encode()
    async with running_engine(settings) as engine:
        got = {}
        for name, target, headers, _ in HOSTILE:
            headers = [(k, good_sig if v == b"@GOOD@" else v) for k, v in headers]
            got[name] = await _raw_status(engine.port, target, headers)
        assert got == {name: want for name, _, _, want in HOSTILE}
        # Beyond websockets' 8 KiB line limit the HTTP layer refuses (431), not the console.
        assert await _raw_status(engine.port, b"/", [(TELNYX, b"A" * 9000)]) == 431
        assert engine.rejected_handshakes == len(HOSTILE)
        # The server took no harm: good credentials of every kind still open a stream.
        assert await _raw_status(engine.port, b"/", [(TELNYX, b"test-token")]) == 101
        assert await _raw_status(engine.port, b"/?token=test-token", []) == 101
        assert await _raw_status(engine.port, b"/", [(AUTH, b"Bearer test-token")]) == 101
        assert await _raw_status(engine.port, b"/twilio/media", [(TWILIO, good_sig)]) == 101
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_policy_refuses_repeated_and_malformed_credentials() -> None:
    p = AuthPolicy(token="tok")
    twice = check_handshake(p, "/", [("X-Telnyx-Streaming-Auth-Token", "no"),
                                     ("x-telnyx-streaming-auth-token", "tok")])
    assert (twice.ok, twice.status) == (False, 403) and "more than once" in twice.reason
    assert check_handshake(p, "/", [("Authorization", "bearer   tok  ")]).ok  # any case
    basic = check_handshake(p, "/", {"Authorization": "Basic dG9r"})
    assert (basic.status, basic.method) == (401, "authorization")
    # Headers arrive as ISO-8859-1 text; lone surrogates cannot arrive but must not raise.
    for odd in ("t\u00f6k", "\udcff", "\x00", "tok\u0301"):
        assert check_handshake(p, "/", {"x-telnyx-streaming-auth-token": odd}).status == 403
    sig = AuthPolicy(token="tok", twilio_auth_token="12345", public_url=TWILIO_URL)
    for odd in ("\u00e9", "\udcff", "\U0001f600" * 100):
        assert check_handshake(sig, "/", {"X-Twilio-Signature": odd}).status == 403
