"""WAV export: every frame lands where its chunk or timestamp puts it, across codecs, legs
and rates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import pcmu_frames, telnyx_media, telnyx_start, telnyx_stop, tone, wait_for
from support import running_engine
from websockets.asyncio.client import connect

from console.audio.codecs import alaw_decode, alaw_encode, resample, ulaw_decode, ulaw_encode
from console.sim.client import SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.export_wav import NotRecorded, call_audio

HEADERS = {"x-telnyx-streaming-auth-token": "test-token"}


def g711(x: np.ndarray) -> np.ndarray:
    return ulaw_decode(ulaw_encode(x))


async def _audio(engine, settings, call_id: str):  # type: ignore[no-untyped-def]
    await wait_for(lambda: call_id in engine.registry.calls
                   and engine.registry.calls[call_id].state == "ended")
    assert engine.store.flush()
    conn = db_connect(db_path(settings.data_path()), readonly=True)
    return call_audio(conn, settings.data_path(), call_id)


def _twilio_media(sid: str, track: str, chunk: int, ts: int, payload: bytes) -> str:
    import base64

    return json.dumps({"event": "media", "sequenceNumber": str(chunk), "streamSid": sid,
                       "media": {"track": track, "chunk": str(chunk), "timestamp": str(ts),
                                 "payload": base64.b64encode(payload).decode()}})


def _twilio_start(sid: str, call: str) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
        "streamSid": sid, "callSid": call, "accountSid": "AC1", "tracks": ["inbound",
                                                                          "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


async def test_timestamps_place_a_late_track_and_lost_frames(settings) -> None:  # type: ignore[no-untyped-def]
    cust, agent = tone(160 * 50, 300), tone(160 * 30, 700)
    cf, af = pcmu_frames(cust), pcmu_frames(agent)
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        async with connect(url, additional_headers=HEADERS) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call",
                                      "version": "1.0.0"}))
            await ws.send(_twilio_start("MZ1", "CA-ts"))
            for i in range(50):
                if i not in (10, 11, 12):  # lost in transit
                    await ws.send(_twilio_media("MZ1", "inbound", i + 1, 5 + i * 20, cf[i]))
                j = i - 20  # the agent's track starts 400 ms in, with its own counter
                if 0 <= j < 30:
                    await ws.send(_twilio_media("MZ1", "outbound", j + 1, 5 + i * 20, af[j]))
            await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1"}))
        stereo, rate = await _audio(engine, settings, "CA-ts")
    assert rate == 8000 and stereo.shape == (160 * 50, 2)
    expected_left = g711(cust)
    expected_left[1600:2080] = 0
    assert np.array_equal(stereo[:, 0], expected_left)
    assert not stereo[:3200, 1].any()
    assert np.array_equal(stereo[3200:, 1], g711(agent))


async def test_shared_chunk_counter_across_tracks(settings) -> None:  # type: ignore[no-untyped-def]
    """One counter for the whole stream (1, 3, 5 inbound; 2, 4, 6 outbound): no false gaps,
    and timestamps in units that are not milliseconds fall back to chunk order."""
    cust, agent = tone(160 * 40, 300), tone(160 * 40, 900)
    cf, af = pcmu_frames(cust), pcmu_frames(agent)
    order = list(range(40))
    order[5], order[6] = order[6], order[5]  # and a little reordering
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        async with connect(url, additional_headers=HEADERS) as ws:
            await ws.send(telnyx_start("S", "shared"))
            for i in order:
                await ws.send(telnyx_media("S", "inbound", 2 * i + 1, cf[i], 160 * i))
                await ws.send(telnyx_media("S", "outbound", 2 * i + 2, af[i], 160 * i))
            await ws.send(telnyx_stop("S"))
        stereo, _ = await _audio(engine, settings, "shared")
        assert engine.registry.counters.missing_frames == 0
    assert np.array_equal(stereo[:, 0], g711(cust))
    assert np.array_equal(stereo[:, 1], g711(agent))


async def test_split_legs_and_mixed_rates(settings) -> None:  # type: ignore[no-untyped-def]
    """Customer leg streams L16 at 16 kHz, agent leg PCMU at 8 kHz; one call, one WAV at 16k."""
    cust16 = tone(320 * 25, 500, rate=16000)
    agent8 = tone(160 * 25, 1000)
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        async with connect(url, additional_headers=HEADERS) as a, \
                connect(url, additional_headers=HEADERS) as b:
            await a.send(telnyx_start("A", "legs", "L16", 16000, {"leg": "customer"}))
            await b.send(telnyx_start("B", "legs", "PCMU", 8000, {"leg": "agent"}))
            for i in range(25):
                await a.send(telnyx_media("A", "inbound", i + 1,
                                          cust16[i * 320 : (i + 1) * 320].astype(">i2").tobytes()))
                await b.send(telnyx_media("B", "inbound", i + 1,
                                          ulaw_encode(agent8[i * 160 : (i + 1) * 160])))
            await a.send(telnyx_stop("A"))
            await b.send(telnyx_stop("B"))
        stereo, rate = await _audio(engine, settings, "legs")
    assert rate == 16000
    assert np.array_equal(stereo[: cust16.size, 0], cust16)
    want = resample(g711(agent8), 8000, 16000)
    got = stereo[: want.size, 1].astype(float)
    # Legs start a few ms apart on the wall clock; compare after the best small shift.
    best = max(np.corrcoef(got[200 + s : 6000 + s], want[200:6000])[0, 1] for s in range(0, 160))
    assert best > 0.99


@pytest.mark.parametrize("codec", ["PCMA", "L16", "G722", "OPUS"])
async def test_codecs_through_the_engine(settings, codec: str) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        opts = SimOptions(url=f"ws://127.0.0.1:{engine.port}/", token="test-token",
                          codec=codec, speed=0, duration=8.0, dialogue="angry-double-charge")
        plan = plan_calls(load_dialogues(), opts)[0]
        result = await play_call(plan, opts)
        assert result.streams[0].error is None
        stereo, rate = await _audio(engine, settings, plan.call_key)
    expect_rate = 8000 if codec == "PCMA" else 16000
    assert rate == expect_rate
    n = 8 * expect_rate
    assert stereo.shape[0] == pytest.approx(n, abs=expect_rate // 50)
    d = plan.dialogue
    src = np.stack([resample(d.customer, 8000, expect_rate)[:n],
                    resample(d.agent, 8000, expect_rate)[:n]], axis=1)
    if codec == "PCMA":  # table codecs come back bit for bit
        assert np.array_equal(stereo, alaw_decode(alaw_encode(src.ravel())).reshape(-1, 2))
        return
    if codec == "L16":
        assert np.array_equal(stereo, src)
        return
    # Codec delay is a few ms at most: find it, then both voices must match closely.
    m = n - 800
    for ch in (0, 1):
        got, want = stereo[:, ch].astype(float), src[:, ch].astype(float)
        corr = max(np.corrcoef(got[s : s + m], want[:m])[0, 1] for s in range(0, 400, 2))
        assert corr > 0.9, (ch, corr)


async def test_little_endian_l16_is_detected(settings) -> None:  # type: ignore[no-untyped-def]
    sig = tone(320 * 20, 440, rate=16000, amp=9000)
    async with running_engine(settings) as engine:
        async with connect(f"ws://127.0.0.1:{engine.port}/", additional_headers=HEADERS) as ws:
            await ws.send(telnyx_start("LE", "le", "L16", 16000))
            for i in range(20):
                await ws.send(telnyx_media("LE", "inbound", i + 1,
                                           sig[i * 320 : (i + 1) * 320].astype("<i2").tobytes()))
            await ws.send(telnyx_stop("LE"))
        stereo, _ = await _audio(engine, settings, "le")
    # The first frame is decided on, so everything after it is exact.
    assert np.array_equal(stereo[320:, 0], sig[320:])


async def test_unrecorded_call_says_how_to_record(settings) -> None:  # type: ignore[no-untyped-def]
    settings.record = False
    async with running_engine(settings) as engine:
        async with connect(f"ws://127.0.0.1:{engine.port}/", additional_headers=HEADERS) as ws:
            await ws.send(telnyx_start("N", "norec"))
            await ws.send(telnyx_media("N", "inbound", 1, b"\xff" * 160))
            await ws.send(telnyx_stop("N"))
        with pytest.raises(NotRecorded, match="--record"):
            await _audio(engine, settings, "norec")
