"""Helpers for the window tests."""

from __future__ import annotations

import asyncio

from console.sim.client import SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues


def play(console, calls: int = 1, seconds: float = 1.5, speed: float = 1.0,  # type: ignore[no-untyped-def]
         **kw):  # type: ignore[no-untyped-def]
    """Start simulated calls on the engine's loop; returns the future of their results."""
    engine = console.engine
    opts = SimOptions(url=engine.url, token=console.settings.token, calls=calls,
                      duration=seconds, speed=speed, **kw)
    plans = plan_calls(load_dialogues(), opts)

    async def run():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(play_call(p, opts, i * 0.05)
                                      for i, p in enumerate(plans)))

    return plans, asyncio.run_coroutine_threadsafe(run(), engine.loop)
