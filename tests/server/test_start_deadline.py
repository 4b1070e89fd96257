"""Sockets that never send `start` neither hold stream slots nor stay open: real sockets
against a running engine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from helpers import pcmu_frames, telnyx_media, telnyx_start, telnyx_stop, tone, wait_for
from support import running_engine
from websockets.asyncio.client import ClientConnection, connect

HEADERS = {"x-telnyx-streaming-auth-token": "test-token"}


@contextlib.asynccontextmanager
async def _idle_sockets(url: str, n: int) -> AsyncIterator[list[ClientConnection]]:
    """`n` authenticated sockets that never send a frame, opened one after the other."""
    socks: list[ClientConnection] = []
    try:
        for _ in range(n):
            socks.append(await connect(url, additional_headers=HEADERS, open_timeout=5))
        yield socks
    finally:
        await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)


async def _call(url: str, engine, sid: str, frames: int = 25) -> None:  # type: ignore[no-untyped-def]
    """A real call: start, `frames` 20 ms frames, stop; every frame must arrive."""
    audio = pcmu_frames(tone(160 * frames))
    async with connect(url, additional_headers=HEADERS, open_timeout=5) as ws:
        await ws.send(telnyx_start(sid, f"call-{sid}"))
        for i, frame in enumerate(audio):
            await ws.send(telnyx_media(sid, "inbound", i + 1, frame))
        await ws.send(telnyx_stop(sid))
    await wait_for(lambda: f"call-{sid}" in engine.registry.calls
                   and engine.registry.calls[f"call-{sid}"].state == "ended", 10)
    stream = next(iter(engine.registry.calls[f"call-{sid}"].streams.values()))
    assert stream.tracks[next(iter(stream.tracks))].frames == frames


async def _closed(ws: ClientConnection, timeout: float) -> tuple[int | None, str | None]:
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code, ws.close_reason


async def test_idle_sockets_do_not_lock_out_calls_and_are_closed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.max_streams = 3
    settings.start_timeout_s = 2.0
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/stream"
        async with _idle_sockets(url, settings.max_streams + 10) as idle:
            assert engine.stats().pending == 13
            # A real call connects and streams while all of them are still open.
            await _call(url, engine, "real")
            assert all(ws.close_code is None for ws in idle)
            # Then the start deadline closes every idle one, with a reason that says why.
            results = await asyncio.gather(*(_closed(ws, 6) for ws in idle))
        assert set(results) == {(1008, "no start frame within 2 s")}
        stats = engine.stats()
        assert (stats.start_timeouts, stats.pending, stats.streams) == (13, 0, 0)
        assert stats.media_frames == 25


async def test_a_flood_of_pending_sockets_evicts_the_oldest(settings) -> None:  # type: ignore[no-untyped-def]
    settings.max_pending = 5
    settings.start_timeout_s = 30.0  # only the bound acts here
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/stream"
        async with _idle_sockets(url, 8) as idle:
            oldest = await asyncio.gather(*(_closed(ws, 5) for ws in idle[:3]))
            assert set(oldest) == {(1013, "too many connections waiting to start")}
            assert all(ws.close_code is None for ws in idle[3:])
            # The newest socket is a real call: it starts before it could be evicted.
            await _call(url, engine, "flooded")
            assert engine.stats().evicted_pending == 4  # one more made room for the call
        assert engine.stats().start_timeouts == 0


async def test_start_beyond_max_streams_is_refused_and_the_rest_go_on(settings) -> None:  # type: ignore[no-untyped-def]
    settings.max_streams = 1
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/stream"
        async with _idle_sockets(url, 2) as (first, second):
            await first.send(telnyx_start("one", "call-one"))
            await wait_for(lambda: engine.limits.started == 1, 5)
            await second.send(telnyx_start("two", "call-two"))
            assert await _closed(second, 5) == (1013, "too many streams")
            assert engine.stats().refused_starts == 1 and "call-two" not in engine.registry.calls
            # The admitted stream is untouched.
            await first.send(telnyx_media("one", "inbound", 1, pcmu_frames(tone(160))[0]))
            await wait_for(lambda: engine.stats().media_frames == 1, 5)
            assert first.close_code is None


def test_start_timeout_is_validated() -> None:
    import pytest

    from console.config import ConfigError, Settings

    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="start_timeout_s"):
            Settings(start_timeout_s=bad).validate()
    with pytest.raises(ConfigError, match="max_pending"):
        Settings(max_pending=0).validate()
