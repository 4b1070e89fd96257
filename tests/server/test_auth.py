"""Handshake authentication, checked over real WebSocket upgrades."""

from __future__ import annotations

import json

import pytest
from support import running_engine, shared_dir
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


def test_twilio_signature_vector_and_url_candidates() -> None:
    vec = json.loads((shared_dir() / "protocols/fixtures/twilio/"
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
        good = signature("12345", "wss://console.example.com/twilio/media")
        assert await _status(base + "/twilio/media", {"X-Twilio-Signature": good}) == 101
        assert await _status(base + "/twilio/media", {"X-Twilio-Signature": good[:-2]}) == 403
        assert engine.rejected_handshakes == 3
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3
    assert all("127.0.0.1:" in m for m in refused)  # the peer is logged


async def test_stream_limit_refuses_with_503(settings) -> None:  # type: ignore[no-untyped-def]
    settings.max_streams = 2
    settings.no_auth = True
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        async with connect(url), connect(url):
            assert await _status(url) == 503
        # Slots free up again once those sockets are gone.
        import asyncio

        for _ in range(500):  # up to 10 s on a busy machine
            if not engine.sessions:
                break
            await asyncio.sleep(0.02)
        assert await _status(url) == 101
