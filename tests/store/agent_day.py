"""A day of calls put into a real store through the store writer, for the Agents tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from console.core.events import (
    AlertRaised,
    CallEnded,
    CallEvent,
    CallScorecard,
    CallStarted,
    ConversationUpdate,
    MediaFormat,
    Provider,
    Role,
    StreamOpened,
    SupervisorAction,
    TrackName,
    TranscriptSegment,
)
from console.store.scorecards import review_detail
from console.store.writer import StoreWriter


def item(name: str, passed: bool, weight: float = 1.0, required: bool = False
         ) -> dict[str, object]:
    return {"name": name, "label": name.capitalize(), "weight": weight, "required": required,
            "passed": passed, "similarity": 0.6, "segment_id": "s1", "speaker": "agent",
            "at_s": 1.0, "text": "hello"}


def call(call_id: str, started: float, *, ended: float | None = None,
         params: dict[str, str] | None = None, leg: str = "customer",
         numbers: tuple[str, str] = ("+14155550100", "+18005550100"),
         talk: tuple[float, float] | None = None, moods: Sequence[float] = (),
         alerts: Sequence[tuple[str, str]] = (), items: Sequence[dict[str, object]] = (),
         reviews: Sequence[tuple[str, str]] = ()) -> list[CallEvent]:
    """One call's events as the engine publishes them. `talk`: (customer, agent) seconds;
    `moods`: the customer's final segments' sentiment; `alerts`: (rule, severity);
    `items`: its final scorecard; `reviews`: (item, "pass"|"fail") by a supervisor."""
    other = "agent" if leg == "customer" else "customer"
    events: list[CallEvent] = [
        CallStarted(call_id, Provider.TELNYX, numbers[0], numbers[1], started),
        StreamOpened(call_id, f"{call_id}-s", Provider.TELNYX, MediaFormat("PCMU", 8000),
                     (TrackName.INBOUND, TrackName.OUTBOUND),
                     {"inbound": leg, "outbound": other}, leg, dict(params or {}), None,
                     started),
    ]
    for i, score in enumerate(moods):
        events.append(TranscriptSegment(call_id, f"c{i}", Role.CUSTOMER, i * 5.0, i * 5.0 + 2,
                                        "words", True, score))
    # The agent's lines carry sentiment too: they must not count as the customer's mood.
    events.append(TranscriptSegment(call_id, "a0", Role.AGENT, 1.0, 2.0, "hello", True, 0.9))
    if talk is not None:
        c, a = talk
        events.append(ConversationUpdate(call_id, c, a, round(c / (c + a), 3) if c + a else
                                         None, 1.0, 0, 0.0))
    for n, (rule, severity) in enumerate(alerts):
        events.append(AlertRaised(call_id, rule, Role.CUSTOMER, 3.0 + n, "said", severity))
    if ended is not None:
        events.append(CallEnded(call_id, ended, "ended"))
    if items:
        events.append(CallScorecard(call_id, "default", tuple(items), True, started + 1))
        for name, verdict in reviews:
            events.append(SupervisorAction(call_id, "scorecard", started + 2,
                                           review_detail(name, verdict, None), "Dana"))
    return events


def write(data_dir: Path, events: Sequence[CallEvent]) -> None:
    """Everything through one store writer, flushed and closed (a writer opened later marks
    the calls still live as interrupted, as after a crash)."""
    w = StoreWriter(data_dir)
    for ev in events:
        w.on_event(ev)
    assert w.flush()
    w.close()
