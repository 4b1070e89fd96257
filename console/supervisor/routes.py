"""Which of a call's streams carry the supervisor's voice: to the agent alone (whisper) or to
both parties (barge); or, when no stream can, why not in words for the screen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from console.core.events import Role
from console.core.reach import Injection

__all__ = ["Route", "StreamReach", "route"]

WHISPER, BARGE = "whisper", "barge"


@dataclass(frozen=True)
class StreamReach:
    uid: str
    injection: Injection | None
    can_send: bool = True  # an open socket to send on


@dataclass(frozen=True)
class Route:
    streams: tuple[str, ...]  # stream uids to send on; empty when refused
    reason: str  # why these, or why none

    @property
    def ok(self) -> bool:
        return bool(self.streams)


def _hears(inj: Injection) -> str:
    names = sorted(r.value for r in inj.hears)
    return " and ".join(names) if names else "nobody"


def _reaches(usable: Sequence[tuple[str, Injection]]) -> str:
    return "; ".join(f"stream {uid} reaches {_hears(inj)} ({inj.why})" for uid, inj in usable)


def route(mode: str, streams: Sequence[StreamReach], *, live: bool = True) -> Route:
    """Where a live voice (`live`) or a prompt goes for `mode` (whisper or barge)."""
    usable = [(s.uid, s.injection) for s in streams if s.can_send and s.injection is not None]
    if not usable:
        return Route((), f"Cannot {mode}: the call has no open stream to send audio on.")
    if live:
        queued = [uid for uid, inj in usable if inj.mode != "rtp"]
        usable = [(uid, inj) for uid, inj in usable if inj.mode == "rtp"]
        if queued and not usable:
            return Route((), f"Cannot {mode} live: the call's stream is in Telnyx MP3 mode, "
                             "which plays whole recordings queued (at most one a second). "
                             "Play a prompt instead, or request the stream with "
                             "stream_bidirectional_mode=rtp.")
    agent_only = [(uid, inj) for uid, inj in usable if inj.agent_only]
    customer_only = [(uid, inj) for uid, inj in usable if inj.hears == {Role.CUSTOMER}]
    both = [(uid, inj) for uid, inj in usable if inj.hears == set(Role)]
    if mode == WHISPER:
        if agent_only:
            uid, inj = agent_only[0]
            return Route((uid,), f"to the agent alone: {inj.why}")
        return Route((), "Cannot whisper: no stream of this call reaches the agent alone, "
                         f"so the customer could hear. {_reaches(usable)}.")
    if both:
        uid, inj = both[0]
        return Route((uid,), f"to both parties: {inj.why}")
    if agent_only and customer_only:
        return Route((agent_only[0][0], customer_only[0][0]),
                     "to both parties: one stream reaches the agent, another the customer")
    return Route((), f"Cannot barge: no stream (or pair of streams) of this call reaches both "
                     f"parties. {_reaches(usable)}.")
