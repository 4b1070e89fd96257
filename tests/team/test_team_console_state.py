"""The team console's bookkeeping without a bus: facts applied once, in the right calls;
waveform points placed in step however messages arrive; ended calls let go."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from console.config import Settings
from console.core.events import (
    CallEnded,
    CallStarted,
    Provider,
    Role,
    TrackName,
    TrackOpened,
    TranscriptSegment,
)
from console.team import wire
from console.team.console import TeamEngine
from console.team.schema import Fact


class _Msg:
    def __init__(self, data: bytes) -> None:
        self.data = data


def _engine(tmp_path: Path) -> tuple[TeamEngine, list]:  # type: ignore[type-arg]
    engine = TeamEngine(Settings(bus_url="nats://t@127.0.0.1:1",
                                 data_dir=str(tmp_path)).validate())
    seen: list = []  # type: ignore[type-arg]
    engine.bus.subscribe(seen.append)
    engine._joined = True
    return engine, seen


def _call(engine: TeamEngine, n0: int = 1) -> None:
    engine._apply(Fact("east", "r1", n0, CallStarted("c1", Provider.TELNYX, "+1", "+2",
                                                   time.time(), "east")))
    engine._apply(Fact("east", "r1", n0 + 1, TrackOpened("c1", "s1", "s1/inbound",
                                                       TrackName.INBOUND, Role.CUSTOMER,
                                                       8000, time.time())))


def test_facts_apply_once_and_only_to_known_calls(tmp_path: Path) -> None:
    engine, seen = _engine(tmp_path)
    _call(engine)
    seg = TranscriptSegment("c1", "g1", Role.CUSTOMER, 0.0, 1.0, "hello", True)
    engine._apply(Fact("east", "r1", 3, seg))
    engine._apply(Fact("east", "r1", 3, seg))  # replay and live overlap
    engine._apply(Fact("east", "r1", 2, seg))  # older than what was applied
    engine._apply(Fact("east", "r2", 1, TranscriptSegment("c1", "g2", Role.AGENT, 1.0,
                                                          2.0, "hi", True)))  # a new run
    engine._apply(Fact("east", "r1", 9, TranscriptSegment("other", "g3", Role.AGENT, 0.0,
                                                          1.0, "x", True)))  # unknown call
    texts = [e.text for e in seen if isinstance(e, TranscriptSegment)]
    assert texts == ["hello", "hi"]
    assert engine.registry.calls["c1"].node == "east"
    assert "east" in engine.nodes  # watched from its first call on


def test_waveform_points_stay_in_step(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    _call(engine)
    ring = engine.registry.rings["s1/inbound"]

    async def wave(pos: int, values: list[int]) -> None:
        await engine._on_wave(_Msg(wire.pack_wave(
            "c1", 200, [("s1/inbound", "customer", pos)], [np.array(values, np.int16)])))

    import asyncio

    async def play() -> None:
        await wave(5000, [1, 2, 3])  # joined mid-call: the ring starts here
        await wave(5003, [4, 5])
        await wave(5004, [5, 6, 7])  # overlaps by one: not drawn twice
        await wave(5010, [9])  # three points lost on the way: a gap of silence
        await engine._on_wave(_Msg(b"garbage"))
    asyncio.run(play())
    out = np.zeros(ring.written, np.int16)
    ring.read_into(out, 0)
    assert out.tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 9]
    assert engine.bad_facts == 1


def test_ended_calls_are_let_go(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    _call(engine)
    engine._apply(Fact("east", "r1", 3, CallEnded("c1", time.time(), "ended")))
    engine._forget_ended(time.monotonic())
    assert "c1" in engine.registry.calls  # the window still shows it for a while
    engine._forget_ended(time.monotonic() + 61)
    assert "c1" not in engine.registry.calls and not engine.registry.rings
