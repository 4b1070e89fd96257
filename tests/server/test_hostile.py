"""The hostile suite: every malformed kind (console.sim.hostile) hundreds of times over, while
healthy calls stream beside it. Nothing crashes, every bad frame is filed under its kind, and
the healthy calls lose no frame. (bench/hostile.py runs it ten thousand times per kind,
with faults injected.)"""

from __future__ import annotations

import asyncio
import logging
import resource

import pytest
from helpers import wait_for
from support import running_engine
from test_bad_input import _check_healthy

from console.sim.client import SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.sim.hostile import ATTACKS, attack

HEADERS = {"x-telnyx-streaming-auth-token": "test-token"}
PER_KIND = 500


async def _healthy_call(url: str, seed: int, seconds: float = 3.0):  # type: ignore[no-untyped-def]
    opts = SimOptions(url=url, token="test-token", speed=4.0, duration=seconds, seed=seed,
                      dialogue="friendly-address-change")
    plan = plan_calls(load_dialogues(), opts)[0]
    return plan, await play_call(plan, opts)


async def test_every_malformed_kind_is_counted_and_healthy_calls_lose_nothing(
        settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    settings.idle_timeout_s = 60
    async with running_engine(settings) as engine:
        url = f"ws://127.0.0.1:{engine.port}/stream"
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        healthy = [asyncio.create_task(_healthy_call(url, seed)) for seed in (1, 2)]
        result = await attack(url, HEADERS, PER_KIND,
                              frame_limit=settings.max_message_bytes, sockets=4)
        done = [await h for h in healthy]
        assert result.refused == 0
        # every socket that never said who it was got closed as unrecognised, and counted
        assert result.unrecognised == result.sent["unknown_provider"] > 0
        assert engine.stats().unrecognised == result.unrecognised
        assert sum(result.sent.values()) >= PER_KIND * len(ATTACKS)
        # Every frame of every kind reached the engine and was filed under its own kind.
        await wait_for(lambda: sum(engine.stats().bad_by_kind.values())
                       >= sum(result.expected.values()), 20)
        kinds = engine.stats().bad_by_kind
        assert kinds == result.expected
        assert engine.registry.counters.discontinuities == result.leaps
        # The hostile streams themselves were opened and ended like any other.
        await wait_for(lambda: all(c.state == "ended" for c in engine.registry.calls.values()
                                   if c.id.startswith("hostile-")))
        assert engine.store.flush()
        for plan, played in done:
            _check_healthy(settings, plan, played, 3.0)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        assert grown_mb < 300, grown_mb
    # No traceback: nothing a peer sent reached code that did not expect it.
    assert not [r for r in caplog.records if r.exc_info], [
        r.getMessage() for r in caplog.records if r.exc_info][:3]
