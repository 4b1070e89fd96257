"""Prompts (a recorded message, a standard notice) into a call: whole MP3 files at most one a
second on a Telnyx MP3-mode stream, 20 ms frames on an RTP stream; stopped with a clear;
audited. Real engine, real socket."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time

import numpy as np
import pytest
from helpers import peak_frequency, telnyx_start, tone_s
from support import audit_rows, running_engine
from websockets.asyncio.client import connect

from console.audio.codecs import ulaw_decode
from console.audio.mp3 import decode_mp3
from console.core.events import Role
from console.core.reach import Injection
from console.supervisor.prompts import MP3_INTERVAL_S, schedule

HEADERS = {"Authorization": "Bearer test-token"}
AGENT_MP3 = Injection(frozenset({Role.AGENT}), "MP3", 8000, "opposite", mode="mp3")
AGENT_RTP = Injection(frozenset({Role.AGENT}), "PCMU", 8000, "opposite")


def test_mp3_mode_sends_whole_files_a_second_apart() -> None:
    pcm = tone_s(440, 16000, 23.0)
    items = schedule(pcm, 16000, AGENT_MP3)
    assert [round(i.at_s, 2) for i in items] == [0.0, MP3_INTERVAL_S, 2 * MP3_INTERVAL_S]
    assert all(b.at_s - a.at_s >= 1.0 for a, b in itertools.pairwise(items))
    lengths = []
    for item in items:
        audio, rate = decode_mp3(item.command.payload)
        assert rate == 16000 and abs(peak_frequency(audio[4000:20000], rate) - 440) < 5
        lengths.append(audio.size / rate)
    assert sum(lengths) == pytest.approx(23.0, abs=0.3)


def test_rtp_streams_get_20_ms_frames() -> None:
    items = schedule(tone_s(440, 16000, 1.0), 16000, AGENT_RTP)
    assert len(items) == 50 and all(len(i.command.payload) == 160 for i in items)
    assert items[-1].at_s == pytest.approx(0.98)
    with pytest.raises(ValueError, match="no audio"):
        schedule(np.zeros(0, np.int16), 8000, AGENT_RTP)


async def _call(engine, params: dict[str, str]):  # type: ignore[no-untyped-def]
    ws = await connect(engine.url, additional_headers=HEADERS)
    await ws.send(telnyx_start("s1", "call-1", params=params))
    for _ in range(100):
        if "call-1" in engine.registry.calls:
            break
        await asyncio.sleep(0.02)
    return ws


async def _media(ws, n: int, timeout: float = 20.0) -> list[tuple[float, bytes]]:  # type: ignore[no-untyped-def]
    out: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if msg.get("event") == "media":
            out.append((time.monotonic(), base64.b64decode(msg["media"]["payload"])))
    return out


async def test_a_prompt_on_an_mp3_mode_stream_plays_end_to_end(settings) -> None:
    async with running_engine(settings) as engine:
        ws = await _call(engine, {"leg": "customer", "bidirectional_mode": "mp3"})
        try:
            stream = next(iter(engine.registry.calls["call-1"].streams.values()))
            assert stream.injection is not None and stream.injection.mode == "mp3"
            r = await engine.play_prompt("call-1", tone_s(440, 16000, 12.0), 16000,
                                         "whisper", "this call may be monitored", "Ana")
            assert r.ok and "agent alone" in r.reason
            got = await _media(ws, 2)
            assert len(got) == 2 and got[1][0] - got[0][0] >= 1.0  # never two in a second
            heard = np.concatenate([decode_mp3(p)[0] for _, p in got])
            assert abs(peak_frequency(heard[8000:40000], 16000) - 440) < 5
            await asyncio.sleep(0.3)  # the last send ends the prompt
            assert engine.store.flush()
            actions = [a for a, _ in audit_rows(engine.data_dir, "call-1")]
            assert "prompt_start" in actions and "prompt_end" in actions
        finally:
            await ws.close()


async def test_a_prompt_on_an_rtp_stream_is_frames_and_stop_clears(settings) -> None:
    async with running_engine(settings) as engine:
        ws = await _call(engine, {"leg": "customer"})
        try:
            r = await engine.play_prompt("call-1", tone_s(300, 8000, 3.0), 8000, "whisper")
            assert r.ok
            got = await _media(ws, 10)
            assert all(len(p) == 160 for _, p in got)
            assert abs(peak_frequency(ulaw_decode(b"".join(p for _, p in got)), 8000)
                       - 300) < 10
            assert await engine.stop_prompt("call-1", "enough")
            seen = []
            for _ in range(200):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                seen.append(msg.get("event"))
                if msg.get("event") == "clear":
                    break
            assert seen[-1] == "clear"
            # barge is refused where one stream reaches the agent alone, and audited
            refused = await engine.play_prompt("call-1", tone_s(300, 8000, 1.0), 8000,
                                               "barge")
            assert not refused.ok and "Cannot barge" in refused.reason
        finally:
            await ws.close()
        assert engine.store.flush()
        actions = [a for a, _ in audit_rows(engine.data_dir, "call-1")]
        assert actions.count("prompt_start") == 1 and "prompt_stop" in actions
        assert "prompt_refused" in actions
