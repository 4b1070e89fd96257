"""A call put into a real store through the store writer, as the engine would."""

from __future__ import annotations

from pathlib import Path

from console.core.events import (
    AlertRaised,
    CallEnded,
    CallStarted,
    DtmfReceived,
    MediaFormat,
    Provider,
    Role,
    SentimentSample,
    StreamClosed,
    StreamOpened,
    SupervisorAction,
    TrackName,
    TrackOpened,
    TranscriptSegment,
)
from console.store.writer import StoreWriter

LINES = [
    (Role.AGENT, 0.5, 3.2, "Thank you for calling Harbor Bank, this is Grace.", 0.4),
    (Role.CUSTOMER, 3.9, 7.4, "I was charged twice, and I want a refund, \"today\".", -0.6),
    (Role.AGENT, 8.0, 11.0, "I'm sorry <about> that & I'll fix it\nright away.", 0.2),
    (Role.CUSTOMER, 3725.25, 3727.5, "Otherwise I will cancel my account.", -0.8),
]


def make_call(data_dir: Path, call_id: str = "call-1", started: float = 1_700_000_000.0,
              ended: float | None = 1_700_003_730.0) -> None:
    w = StoreWriter(data_dir)
    events = [
        CallStarted(call_id, Provider.TELNYX, "+14155550100", "+18005550100", started),
        StreamOpened(call_id, f"{call_id}-s", Provider.TELNYX, MediaFormat("PCMU", 8000),
                     (TrackName.INBOUND, TrackName.OUTBOUND),
                     {"inbound": "customer", "outbound": "agent"}, "customer",
                     {"leg": "customer"}, "v3:abc", started),
        TrackOpened(call_id, f"{call_id}-s", f"{call_id}-s/inbound", TrackName.INBOUND,
                    Role.CUSTOMER, 8000, started),
        TranscriptSegment(call_id, "p1", Role.CUSTOMER, 3.9, 5.0, "I was char", False),
    ]
    for i, (who, start, end, text, score) in enumerate(LINES):
        events.append(TranscriptSegment(call_id, f"s{i}", who, start, end, text, True, score))
        events.append(SentimentSample(call_id, who, end, score))
    events += [
        DtmfReceived(call_id, f"{call_id}-s", "1", 12.5, None, None),
        AlertRaised(call_id, "cancellation", Role.CUSTOMER, 3725.3, "cancel my account",
                    "critical"),
        SupervisorAction(call_id, "listen", started + 5, "started listening"),
    ]
    if ended is not None:
        events += [StreamClosed(call_id, f"{call_id}-s", ended, "stop", 100, 0, 3730.0),
                   CallEnded(call_id, ended, "ended")]
    for ev in events:
        w.on_event(ev)
    assert w.flush()
    w.close()
