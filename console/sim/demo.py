"""Demo mode: keeps a few realistic calls going against the console's own engine, mixing
every platform the simulator plays and their codecs, each ending and a new one starting a
little later. Each call names its agent, team and queue in the stream's custom parameters
(`demo_labels`), as a contact centre's dial plan would: the Agents view and the wall's
filters have something to show."""

from __future__ import annotations

import asyncio
import contextlib
import random

from console.sim.client import PLATFORMS, SimOptions, plan_calls, play_call
from console.sim.dialogues import Dialogue, load_dialogues

__all__ = ["DemoCalls", "demo_labels"]

_VARIANTS = [("telnyx", "PCMU"), ("twilio", "PCMU"), ("plivo", "L16"), ("telnyx", "PCMA"),
             ("exotel", "L16"), ("vonage", "L16"), ("telnyx", "L16"), ("signalwire", "PCMU"),
             ("bandwidth", "PCMU")]
# Who answers each demo dialogue: the agent its recording names (full name here), in one of
# two teams; the dialogue's subject decides the queue.
_ROSTER = {"Priya": ("Priya Shah", "Retention"), "Hannah": ("Hannah Okafor", "Retention"),
           "Callum": ("Callum Reid", "Care"), "Grace": ("Grace Lin", "Care"),
           "Sam": ("Sam Ortiz", "Care")}
_BILLING = ("charge", "billing", "bill", "payment", "refund")


def demo_labels(dialogue: Dialogue) -> dict[str, str]:
    """The custom parameters naming a demo call's agent, team and queue (deterministic)."""
    first = dialogue.agent_name or "Alex"
    agent, team = _ROSTER.get(first, (first, "Care"))
    about = f"{dialogue.name} {dialogue.title}".lower()
    queue = "Billing" if any(word in about for word in _BILLING) else "Support"
    return {"agent": agent, "team": team, "queue": queue}


class DemoCalls:
    def __init__(self, url: str, token: str, calls: int = 4, seed: int = 7) -> None:
        self.url = url
        self.token = token
        self.calls = calls
        self.rng = random.Random(seed)
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        dialogues = load_dialogues()
        self._tasks = [asyncio.create_task(self._lane(i, dialogues)) for i in range(self.calls)]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)

    async def _lane(self, lane: int, dialogues: tuple) -> None:  # type: ignore[type-arg]
        await asyncio.sleep(lane * 1.2)  # calls arrive one after another, not all at once
        n = lane
        while True:
            provider, codec = _VARIANTS[n % len(_VARIANTS)]
            d = dialogues[n % len(dialogues)]
            # A little reordering where frames carry a counter to put them back in order.
            opts = SimOptions(url=self.url, provider=provider, codec=codec, token=self.token,
                              dialogue=d.name, seed=self.rng.getrandbits(32),
                              params=demo_labels(d),
                              reorder=0.01 if PLATFORMS[provider].counts_chunks else 0.0)
            plan = plan_calls(dialogues, opts)[0]
            result = await play_call(plan, opts)
            if any(s.error for s in result.streams):
                await asyncio.sleep(5)  # the engine is not reachable; do not spin
            await asyncio.sleep(self.rng.uniform(1.5, 4.0))
            n += self.calls

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
