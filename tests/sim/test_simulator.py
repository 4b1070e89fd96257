"""The simulator against a real engine: commands flow back into the call the way the
provider would take them (media played, marks echoed after it, clear flushes)."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import wait_for
from support import running_engine

from console.core.events import MarkReceived, SendClear, SendMark, SendMedia
from console.sim.client import SimOptions, _schedule, plan_calls, play_call
from console.sim.dialogues import load_dialogues


@pytest.mark.parametrize("provider", ["telnyx", "twilio"])
async def test_commands_reach_the_call_and_marks_come_back(settings, provider: str) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        marks: list[MarkReceived] = []
        engine.bus.subscribe(lambda e: marks.append(e) if isinstance(e, MarkReceived) else None)
        opts = SimOptions(url=f"ws://127.0.0.1:{engine.port}/x", provider=provider,
                          token="test-token", speed=1.0, duration=3.0)
        plan = plan_calls(load_dialogues(), opts)[0]
        call = asyncio.create_task(play_call(plan, opts))
        await wait_for(lambda: plan.call_key in engine.registry.calls)
        stream = next(iter(engine.registry.calls[plan.call_key].streams.values()))
        whisper = bytes([0x55]) * 160  # 20 ms of PCMU
        for _ in range(10):  # 200 ms of audio, then a mark after it
            assert engine.send_command(stream, SendMedia(whisper))
        assert engine.send_command(stream, SendMark("w-end"))
        await wait_for(lambda: any(m.name == "w-end" for m in marks), 3)
        # A mark with audio queued ahead of it comes back at once when cleared. Handed over
        # a few per turn of the loop, as whisper comes: the engine holds at most 10 audio
        # frames per stream for sending (supervisor/outbound.py) and drops beyond that.
        for i in range(100):
            engine.send_command(stream, SendMedia(whisper))
            if i % 5 == 4:
                await asyncio.sleep(0)
        engine.send_command(stream, SendMark("w-cut"))
        engine.send_command(stream, SendClear())
        await wait_for(lambda: any(m.name == "w-cut" for m in marks), 1)
        result = await call
    got = result.streams[0].received
    kinds = [m["event"] for m in got]
    assert kinds.count("media") == 110 and kinds.count("mark") == 2 and "clear" in kinds
    first = got[0]
    if provider == "twilio":  # Twilio wants the streamSid on every message
        assert all(m["streamSid"] == stream.stream_id for m in got)
    else:  # Telnyx needs none
        assert "stream_id" not in first and "streamSid" not in first
    assert result.streams[0].received_media[:160] == whisper
    w_end = next(m for m in marks if m.name == "w-end")
    assert w_end.call_id == plan.call_key


async def test_split_legs_make_one_call_with_both_roles(settings) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        opts = SimOptions(url=f"ws://127.0.0.1:{engine.port}/", token="test-token",
                          legs="split", speed=0, duration=2.0)
        plan = plan_calls(load_dialogues(), opts)[0]
        result = await play_call(plan, opts)
        assert len(result.streams) == 2
        await wait_for(lambda: engine.registry.calls[plan.call_key].state == "ended")
        call = engine.registry.calls[plan.call_key]
        roles = {(t.stream_id, t.name.value): t.role.value for t in call.tracks()}
        assert sorted(roles.values()) == ["agent", "customer"]


async def test_stagger_and_many_calls(settings) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        opts = SimOptions(url=f"ws://127.0.0.1:{engine.port}/", token="test-token", calls=6,
                          speed=0, duration=1.0, stagger=0.01, reorder=0.2, duplicate=0.05)
        from console.sim.client import run

        results = await run(opts, load_dialogues())
        assert len({r.plan.call_key for r in results}) == 6
        await wait_for(lambda: len(engine.registry.calls) == 6
                       and all(c.state == "ended" for c in engine.registry.calls.values()))
        counters = engine.registry.counters
        assert counters.duplicate_frames > 0 and counters.missing_frames == 0


def test_schedule_swaps_drops_and_doubles() -> None:
    import random

    opts = SimOptions(url="", reorder=0.3, loss=0.1, duplicate=0.1)
    order = _schedule(1000, opts, random.Random(3))
    assert order != sorted(order)
    assert len(set(order)) < 1000  # some lost
    assert len(order) != len(set(order))  # some doubled


def test_simulate_summary_json(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--out keeps what the console sent back, for inspection."""
    import subprocess
    import sys

    async def main() -> None:
        async with running_engine(settings) as engine:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console", "simulate", "--url",
                f"ws://127.0.0.1:{engine.port}/", "--token", "test-token", "--speed", "0",
                "--duration", "1", "--out", str(tmp_path / "back.json"), "--json",
                stdout=subprocess.PIPE)
            out, _ = await proc.communicate()
            assert proc.returncode == 0
            summary = json.loads(out)
            assert summary[0]["streams"][0]["sent"] == {"inbound": 50, "outbound": 50}

    asyncio.run(main())
    assert json.loads((tmp_path / "back.json").read_text())[0]["streams"][0]["received"] == []
