"""Every kind of bad input on one stream, with a healthy call beside it that loses nothing."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from helpers import pcmu_frames, telnyx_media, telnyx_start, telnyx_stop, tone, wait_for
from support import running_engine
from websockets.asyncio.client import connect

from console.audio.codecs import ulaw_decode, ulaw_encode
from console.sim.client import SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.export_wav import call_audio

HEADERS = {"x-telnyx-streaming-auth-token": "test-token"}

BAD_FRAMES = {
    "invalid_json": '{"event": "media", ',
    "wrong_type": json.dumps([1, 2, 3]),
    "bad_base64": json.dumps({"event": "media", "stream_id": "bad", "media": {
        "track": "inbound", "chunk": "1", "timestamp": "0", "payload": "!!!not base64!!!"}}),
    "unknown_event": json.dumps({"event": "teleport", "stream_id": "bad"}),
    "binary_frame": b"\x00\x01\x02\x03" * 40,
    "oversize": json.dumps({"event": "media", "stream_id": "bad",
                            "media": {"payload": "A" * 300_000}}),
}


def _expected(dialogue, seconds: float) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    n = int(seconds * 50) * 160
    return (ulaw_decode(ulaw_encode(dialogue.customer[:n])),
            ulaw_decode(ulaw_encode(dialogue.agent[:n])))


async def _healthy_call(url: str, seconds: float = 3.0):  # type: ignore[no-untyped-def]
    opts = SimOptions(url=url, token="test-token", speed=4.0, duration=seconds,
                      dialogue="friendly-address-change")
    plan = plan_calls(load_dialogues(), opts)[0]
    return plan, await play_call(plan, opts)


def _check_healthy(settings, plan, result, seconds: float) -> None:  # type: ignore[no-untyped-def]
    assert result.streams[0].error is None
    conn = db_connect(db_path(settings.data_path()), readonly=True)
    row = conn.execute("SELECT * FROM streams WHERE call_id = ?", (plan.call_key,)).fetchone()
    assert row["frames"] == result.frames_sent
    assert row["dropped"] == 0
    stereo, rate = call_audio(conn, settings.data_path(), plan.call_key)
    cust, agent = _expected(plan.dialogue, seconds)
    assert rate == 8000
    assert np.array_equal(stereo[:, 0], cust)
    assert np.array_equal(stereo[:, 1], agent)


async def test_bad_frames_are_counted_and_the_stream_goes_on(settings) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/stream"
        healthy = asyncio.create_task(_healthy_call(url))
        sig = tone(160 * 20)
        frames = pcmu_frames(sig)
        async with connect(url, additional_headers=HEADERS) as ws:
            # Media before start: counted, dropped.
            await ws.send(telnyx_media("bad", "inbound", 1, frames[0]))
            await ws.send(telnyx_start("bad", "bad-call"))
            for i, f in enumerate(frames):
                await ws.send(telnyx_media("bad", "inbound", i + 1, f))
                # One of every kind of bad frame, between good ones.
                kinds = list(BAD_FRAMES)
                if i < len(kinds):
                    await ws.send(BAD_FRAMES[kinds[i]])
            await ws.send(telnyx_stop("bad"))
            await ws.send(telnyx_media("bad", "inbound", 99, frames[0]))  # after stop
        plan, result = await healthy
        await wait_for(lambda: engine.registry.calls.get("bad-call") is not None
                       and engine.registry.calls["bad-call"].state == "ended")
        engine.store.flush()
        kinds = engine.stats().bad_by_kind
        for kind in [*BAD_FRAMES, "media_before_start", "media_after_stop"]:
            assert kinds.get(kind) == 1, (kind, kinds)
        conn = db_connect(db_path(settings.data_path()), readonly=True)
        stereo, _ = call_audio(conn, settings.data_path(), "bad-call")
        assert np.array_equal(stereo[:, 0], ulaw_decode(ulaw_encode(sig)))
        problems = conn.execute("SELECT kind, message FROM problems WHERE call_id='bad-call'"
                                ).fetchall()
        assert any("base64" in p["message"] for p in problems)
        _check_healthy(settings, plan, result, 3.0)


async def test_wrong_types_and_shapes_never_break_the_stream(settings) -> None:  # type: ignore[no-untyped-def]
    odd = [
        {"event": "media", "stream_id": "w", "media": "not an object"},
        {"event": "media", "stream_id": "w", "media": {"track": "sideways", "payload": ""}},
        {"event": "media", "stream_id": "w", "media": {"track": "inbound", "chunk": True,
                                                       "payload": ""}},
        {"event": "media", "stream_id": "w", "media": {"track": "inbound", "chunk": "x1",
                                                       "payload": ""}},
        {"event": "media", "stream_id": "w", "media": {"track": 7, "payload": ""}},
        {"event": "dtmf", "stream_id": "w", "dtmf": None},
        {"event": "mark", "stream_id": "w", "mark": {"name": {"a": 1}}},
        {"event": 12},
        {"stream_id": "w"},
        {"event": "start", "stream_id": "w2", "start": {"call_control_id": "x"}},
        {"event": "error", "stream_id": "w", "error": {"code": "not-a-number", "title": "odd"}},
    ]
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        frames = pcmu_frames(tone(160 * 10))
        async with connect(url, additional_headers=HEADERS) as ws:
            await ws.send(telnyx_start("w", "w-call"))
            for i, f in enumerate(frames):
                await ws.send(telnyx_media("w", "inbound", i + 1, f))
                if i < len(odd):
                    await ws.send(json.dumps(odd[i]))
            for extra in odd[len(frames):]:
                await ws.send(json.dumps(extra))
            await ws.send(telnyx_stop("w"))
        await wait_for(lambda: "w-call" in engine.registry.calls
                       and engine.registry.calls["w-call"].state == "ended")
        stream = next(iter(engine.registry.calls["w-call"].streams.values()))
        assert stream.tracks[next(iter(stream.tracks))].frames == 10
        # Everything but the provider's own error frame counts as bad.
        assert engine.stats().bad_frames == len(odd) - 1
        assert engine.registry.counters.provider_errors == 1


async def test_socket_closed_without_stop_ends_the_call(settings) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        frames = pcmu_frames(tone(160 * 25))
        ws = await connect(url, additional_headers=HEADERS)
        await ws.send(telnyx_start("v", "vanish"))
        for i, f in enumerate(frames):
            await ws.send(telnyx_media("v", "inbound", i + 1, f))
        # Vanish without a close handshake: drop the TCP connection.
        ws.transport.abort()
        await wait_for(lambda: "vanish" in engine.registry.calls
                       and engine.registry.calls["vanish"].state == "ended")
        engine.store.flush()
        conn = db_connect(db_path(settings.data_path()), readonly=True)
        row = conn.execute("SELECT end_reason, frames FROM streams WHERE call_id='vanish'"
                           ).fetchone()
        assert (row["end_reason"], row["frames"]) == ("closed", 25)
        stereo, _ = call_audio(conn, settings.data_path(), "vanish")
        assert stereo.shape[0] == 25 * 160  # nothing received was lost


async def test_huge_message_beyond_hard_limit_closes_only_that_socket(settings) -> None:  # type: ignore[no-untyped-def]
    settings.hard_max_message_bytes = 512 * 1024
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        healthy = asyncio.create_task(_healthy_call(url, 2.0))
        frames = pcmu_frames(tone(160 * 5))
        async with connect(url, additional_headers=HEADERS, max_size=None) as ws:
            await ws.send(telnyx_start("h", "huge"))
            for i, f in enumerate(frames):
                await ws.send(telnyx_media("h", "inbound", i + 1, f))
            await ws.send(json.dumps({"event": "media", "payload": "A" * 600_000}))
            with pytest.raises(Exception):  # noqa: B017 - the server closes with 1009
                for _ in range(500):
                    await ws.send(telnyx_media("h", "inbound", 6, frames[0]))
                    await asyncio.sleep(0.02)
        await wait_for(lambda: "huge" in engine.registry.calls
                       and engine.registry.calls["huge"].state == "ended")
        plan, result = await healthy
        engine.store.flush()
        conn = db_connect(db_path(settings.data_path()), readonly=True)
        stereo, _ = call_audio(conn, settings.data_path(), "huge")
        assert stereo.shape[0] == 5 * 160  # the frames before the huge one are kept
        _check_healthy(settings, plan, result, 2.0)


async def test_idle_socket_is_closed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.idle_timeout_s = 0.4
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/"
        async with connect(url, additional_headers=HEADERS) as ws:
            await ws.send(telnyx_start("i", "idle-call"))
            await ws.send(telnyx_media("i", "inbound", 1, b"\xff" * 160))
            await wait_for(lambda: "idle-call" in engine.registry.calls
                           and engine.registry.calls["idle-call"].state == "ended", 5)
        engine.store.flush()
        conn = db_connect(db_path(settings.data_path()), readonly=True)
        row = conn.execute("SELECT end_reason FROM streams WHERE call_id='idle-call'").fetchone()
        assert row["end_reason"] == "idle"


async def test_numbers_that_jump_or_overflow_stop_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    """Chunks that jump by 10^12 (either way), timestamps past int64, absurd sample rates:
    each used to hang the engine loop, grow memory by hundreds of MB a second, stall it for
    seconds or kill the store writer. Now: bad frames or a discontinuity, counted."""
    import resource

    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/stream"
        healthy = asyncio.create_task(_healthy_call(url, 3.0))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sig = tone(160 * 60)
        frames = pcmu_frames(sig)
        async with connect(url, additional_headers=HEADERS) as ws:
            await ws.send(telnyx_start("j", "jumpy"))
            for i in range(20):
                await ws.send(telnyx_media("j", "inbound", i + 1, frames[i]))
            await ws.send(telnyx_media("j", "inbound", 10**12, frames[20]))  # restarts there
            for i in range(21, 40):
                await ws.send(telnyx_media("j", "inbound", 10**12 + i - 20, frames[i]))
            await ws.send(telnyx_media("j", "inbound", 1, frames[40]))  # counter restarted
            for i in range(41, 60):
                await ws.send(telnyx_media("j", "inbound", i - 39, frames[i]))
            await ws.send(telnyx_media("j", "inbound", 61, frames[0], timestamp=10**30))
            negative = json.loads(telnyx_media("j", "inbound", 1, frames[0]))
            negative["media"]["chunk"] = -(10**12)
            await ws.send(json.dumps(negative))
            await ws.send(telnyx_stop("j"))
        for rate in (1_000_003, 10_000_019, 10**12):
            async with connect(url, additional_headers=HEADERS) as ws:
                await ws.send(telnyx_start(f"r{rate}", f"rate-{rate}", rate=rate))
                for i in range(5):
                    await ws.send(telnyx_media(f"r{rate}", "inbound", i + 1, frames[i]))
        async with connect(url, additional_headers=HEADERS) as ws:  # real, but not decoded
            await ws.send(telnyx_start("hi", "hi-rate", encoding="L16", rate=96000))
            await ws.send(telnyx_media("hi", "inbound", 1, b"\x00\x01" * 1920))
            await ws.send(telnyx_stop("hi"))
        plan, result = await healthy
        await wait_for(lambda: all(engine.registry.calls.get(c) is not None
                                   and engine.registry.calls[c].state == "ended"
                                   for c in ("jumpy", "hi-rate")))
        assert engine.store.flush()
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        assert grown_mb < 200, grown_mb
        kinds = engine.stats().bad_by_kind
        assert kinds.get("bad_timestamp") == 1 and kinds.get("bad_chunk") == 1, kinds
        assert kinds.get("bad_rate") == 3, kinds
        assert engine.registry.counters.discontinuities == 2
        assert not any(c.startswith("rate-") for c in engine.registry.calls)
        conn = db_connect(db_path(settings.data_path()), readonly=True)
        # Every frame of the jumpy stream is kept, one after another, with no filled gap.
        stereo, _ = call_audio(conn, settings.data_path(), "jumpy")
        assert np.array_equal(stereo[:, 0], ulaw_decode(ulaw_encode(sig)))
        problems = [(r["kind"], r["message"]) for r in conn.execute(
            "SELECT kind, message FROM problems WHERE call_id IN ('jumpy', 'hi-rate')")]
        jumps = [m for k, m in problems if k == "discontinuity"]
        assert "jumped to 1000000000000" in jumps[0] and "jumped to 1;" in jumps[1]
        assert any("96000 Hz is not supported" in m for k, m in problems if k == "codec")
        _check_healthy(settings, plan, result, 3.0)
