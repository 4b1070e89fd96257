"""What the window shows of each call, folded from bus events. Plain Python (no Qt), so it
is tested on its own and the widgets only render it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from console.core.events import (
    AlertRaised,
    CallEnded,
    CallEvent,
    CallStarted,
    CallTopic,
    ConversationUpdate,
    DtmfReceived,
    MarkReceived,
    Role,
    SentimentSample,
    SpeechActivity,
    StreamClosed,
    StreamOpened,
    StreamProblem,
    TrackOpened,
    TranscriptSegment,
)
from console.core.labels import LABEL_KEYS, LABEL_LIMIT, stream_labels

# LABEL_KEYS, LABEL_LIMIT and stream_labels live in console.core.labels (the store reads
# them too); they stay importable from here.
__all__ = ["LABEL_KEYS", "LABEL_LIMIT", "CallInfo", "CallsModel", "Changes", "TrackInfo",
           "stream_labels"]


def topic_label(topic: str) -> str:
    """A topic as the window shows it ("account_change" -> "Account change")."""
    return topic.replace("_", " ").capitalize() if topic else ""


@dataclass
class TrackInfo:
    key: str
    role: Role
    track: str  # inbound or outbound


@dataclass
class CallInfo:
    id: str
    provider: str
    from_number: str | None
    to_number: str | None
    started_at: float
    state: str = "active"
    ended_at: float | None = None
    node: str = ""  # the ingest node holding the call (team mode)
    codec: str = ""
    tracks: list[TrackInfo] = field(default_factory=list)
    streams: int = 0
    dtmf: list[tuple[str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    segments: dict[str, TranscriptSegment] = field(default_factory=dict)
    sentiment: dict[Role, float] = field(default_factory=dict)
    sentiment_confidence: dict[Role, float | None] = field(default_factory=dict)
    sentiment_history: dict[Role, list[tuple[float, float]]] = field(default_factory=dict)
    alerts: list[AlertRaised] = field(default_factory=list)
    caller_name: str = ""
    # Who and where, from the stream's custom parameters (the wall filters by them).
    agent: str = ""
    team: str = ""
    queue: str = ""
    metrics: ConversationUpdate | None = None
    transcript_rev: int = 0  # bumped with every transcript line (the wall's search caches)
    topic: str = ""  # what the call is about, as far as it has gone
    topic_confidence: float = 0.0
    # Who is talking, by the voice detector; empty without speech analysis (the tiles
    # then go by the audio level).
    speaking: dict[Role, bool] = field(default_factory=dict)

    @property
    def title(self) -> str:
        number = self.from_number or "Unknown caller"
        return f"{self.caller_name} · {number}" if self.caller_name else number

    def duration(self, now: float | None = None) -> float:
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def track_for(self, role: Role) -> TrackInfo | None:
        """The party's own voice: the inbound track on their leg, else what the other leg
        hears of them."""
        mine = [t for t in self.tracks if t.role is role]
        own = [t for t in mine if t.track == "inbound"]
        return own[0] if own else mine[0] if mine else None

    def transcript(self) -> list[TranscriptSegment]:
        return sorted(self.segments.values(), key=lambda s: (s.start_s, s.segment_id))


def caller_name(params: dict[str, str]) -> str:
    """A display name from the stream's custom parameters, when the dial plan passes one."""
    lower = {k.strip().lower().replace("_", ""): v.strip() for k, v in params.items()}
    for key in ("callername", "customername", "name", "displayname"):
        if lower.get(key):
            return lower[key]
    return " ".join(p for p in (lower.get("firstname", ""), lower.get("lastname", "")) if p)


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    updated: set[str] = field(default_factory=set)
    transcript: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.ended or self.updated)


class CallsModel:
    def __init__(self) -> None:
        self.calls: dict[str, CallInfo] = {}

    def active(self) -> list[CallInfo]:
        return sorted((c for c in self.calls.values() if c.state == "active"),
                      key=lambda c: c.started_at)

    def apply(self, events: list[CallEvent]) -> Changes:
        ch = Changes()
        for ev in events:
            self._apply(ev, ch)
        return ch

    def forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def _apply(self, ev: CallEvent, ch: Changes) -> None:
        if isinstance(ev, CallStarted):
            call = self.calls.get(ev.call_id)
            if call is None:
                self.calls[ev.call_id] = CallInfo(ev.call_id, ev.provider.value, ev.from_number,
                                                  ev.to_number, ev.started_at, node=ev.node)
            else:
                call.state, call.ended_at = "active", None
            ch.added.append(ev.call_id)
            return
        call = self.calls.get(getattr(ev, "call_id", None) or "")
        if call is None or isinstance(ev, MarkReceived):  # nothing on screen shows marks
            return
        if isinstance(ev, SpeechActivity):
            call.speaking[ev.speaker] = ev.speaking  # read by the tiles' 30 fps tick
            return
        ch.updated.add(call.id)
        if isinstance(ev, StreamOpened):
            call.streams += 1
            call.caller_name = call.caller_name or caller_name(ev.custom_parameters)
            for name, value in stream_labels(ev.custom_parameters).items():
                if value and not getattr(call, name):  # the first leg to say it wins
                    setattr(call, name, value)
            call.codec = f"{ev.media_format.encoding}/{ev.media_format.sample_rate // 1000}k"
            if ev.codec_error:
                call.problems.append(ev.codec_error)
        elif isinstance(ev, TrackOpened):
            call.tracks.append(TrackInfo(ev.track_key, ev.role, ev.track.value))
        elif isinstance(ev, CallEnded):
            call.state, call.ended_at = ev.state, ev.ended_at
            ch.ended.append(call.id)
        elif isinstance(ev, DtmfReceived):
            call.dtmf.append((ev.digit, ev.at_s))
        elif isinstance(ev, TranscriptSegment):
            call.segments[ev.segment_id] = ev
            call.transcript_rev += 1
            ch.transcript.add(call.id)
        elif isinstance(ev, SentimentSample):
            call.sentiment[ev.speaker] = ev.score
            call.sentiment_confidence[ev.speaker] = ev.confidence
            call.sentiment_history.setdefault(ev.speaker, []).append((ev.at_s, ev.score))
        elif isinstance(ev, AlertRaised):
            call.alerts.append(ev)
        elif isinstance(ev, StreamProblem):
            if ev.kind != "bad_frame" or len(call.problems) < 20:
                call.problems.append(ev.message)
        elif isinstance(ev, ConversationUpdate):
            call.metrics = ev
        elif isinstance(ev, CallTopic):
            call.topic, call.topic_confidence = ev.topic, ev.confidence
        elif isinstance(ev, StreamClosed):
            pass
