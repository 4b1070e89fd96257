"""Every platform's stream through the real engine: its documented frames over a real
socket make a call labelled with the right platform, with audio in the track's ring, and
what the console sends back is in that platform's own words."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from support import fixtures_dir, running_engine
from websockets.asyncio.client import connect

from console.core.events import Provider, Role, SendClear, SendMedia

FIX = fixtures_dir()
HEADERS = {"Authorization": "Bearer test-token"}


def _frames(platform: str) -> list[str]:
    """The platform's documented frames in order, each media frame sent ten times with its
    counters moved on (the reorder buffer holds a few frames back)."""
    out = []
    for path in sorted((FIX / platform).glob(f"from_{platform}_*.json")):
        msg = json.loads(path.read_text())
        if "media" not in (msg.get("event"), msg.get("eventType")):
            out.append(json.dumps(msg))
            continue
        for i in range(10):
            frame = json.loads(json.dumps(msg))
            media = frame.get("media")
            if isinstance(media, dict) and "chunk" in media:
                media["chunk"] = type(media["chunk"])(int(media["chunk"]) + i)
            for key in ("sequenceNumber", "sequence_number"):
                if key in frame:
                    frame[key] = type(frame[key])(int(frame[key]) + i)
            out.append(json.dumps(frame))
    return out


def _signalwire() -> list[str]:
    # Twilio's shapes with SignalWire's UUID ids (PROTOCOLS.md 3.4).
    sid, call = "720796a0-0b8a-4c5e-8b2a-6f1e2d3c4b5a", "8a3c0f12-77aa-4e1b-9c2d-5e6f7a8b9c0d"
    payload = base64.b64encode(bytes([0xFF]) * 160).decode()
    return [json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid,
                        "start": {"streamSid": sid, "callSid": call, "accountSid": call,
                                  "tracks": ["inbound"], "customParameters": {},
                                  "mediaFormat": {"encoding": "audio/x-mulaw",
                                                  "sampleRate": 8000, "channels": 1}}}),
            *[json.dumps({"event": "media", "sequenceNumber": str(i + 2), "streamSid": sid,
                          "media": {"track": "inbound", "chunk": str(i + 1),
                                    "timestamp": str(i * 20), "payload": payload}})
              for i in range(10)]]


def _vonage() -> list[str | bytes]:
    head = _frames("vonage")[1]  # websocket:connected
    tone = (4000 * np.sin(np.arange(320) / 5)).astype("<i2").tobytes()
    return [head, *[tone] * 10]


CASES = {
    "plivo": (Provider.PLIVO, lambda: _frames("plivo")),
    "exotel": (Provider.EXOTEL, lambda: _frames("exotel")),
    "bandwidth": (Provider.BANDWIDTH, lambda: _frames("bandwidth")),
    "signalwire": (Provider.SIGNALWIRE, _signalwire),
    "vonage": (Provider.VONAGE, _vonage),
}


# Each platform's own word for "stop playing what I sent" (PROTOCOLS.md 3.1-3.5).
CLEAR = {
    "plivo": lambda m: m.get("event") == "clearAudio",
    "exotel": lambda m: m.get("event") == "clear" and "stream_sid" in m,
    "bandwidth": lambda m: m.get("eventType") == "clear",
    "signalwire": lambda m: m.get("event") == "clear" and "streamSid" in m,
    "vonage": lambda m: m.get("action") == "clear",
}


@pytest.mark.parametrize("platform", sorted(CASES))
async def test_each_platform_makes_a_labelled_call_with_audio(settings, platform: str
                                                              ) -> None:
    provider, frames = CASES[platform]
    async with running_engine(settings) as engine:
        async with connect(engine.url, additional_headers=HEADERS) as ws:
            all_frames = frames()
            stops = [f for f in all_frames if isinstance(f, str) and '"stop"' in f]
            for frame in all_frames:
                if frame not in stops:
                    await ws.send(frame)
            for _ in range(100):
                calls = list(engine.registry.calls.values())
                if calls and any(t.ring.written for t in calls[0].tracks()):
                    break
                await asyncio.sleep(0.02)
            call = calls[0]
            assert call.provider is provider
            assert any(t.ring.written > 0 for t in call.tracks())
            stream = next(iter(call.streams.values()))
            assert stream.codec_error is None
            inj = stream.injection
            assert inj is not None and inj.why
            # What goes back is the platform's own shape (or a clear refusal).
            if inj.hears:
                out = engine.send_command(stream, SendClear())
                assert out is True
                got = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert CLEAR[platform](got), got
            for frame in stops:
                await ws.send(frame)
        assert engine.stats().unrecognised == 0
        bad = {k: v for k, v in engine.stats().bad_by_kind.items()}
        assert not bad, bad
    assert stream.closed


async def test_vonage_audio_goes_back_as_binary_l16(settings) -> None:
    async with running_engine(settings) as engine, \
            connect(engine.url, additional_headers=HEADERS) as ws:
        for frame in _vonage():
            await ws.send(frame)
        for _ in range(100):
            if engine.registry.calls:
                break
            await asyncio.sleep(0.02)
        stream = next(iter(next(iter(engine.registry.calls.values())).streams.values()))
        assert stream.injection is not None
        assert stream.injection.byte_order == "little"
        assert stream.injection.hears == {Role.CUSTOMER, Role.AGENT}  # barge, never whisper
        pcm = (np.arange(320) - 160).astype("<i2").tobytes()
        assert engine.send_command(stream, SendMedia(pcm))
        got = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(got, bytes) and got == pcm
