"""Typed, provider-neutral events.

Stream events are what a protocol adapter makes of one provider frame. Call events are the
low-rate facts the engine publishes on the bus (audio never travels here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Provider(StrEnum):
    TELNYX = "telnyx"
    TWILIO = "twilio"
    PLIVO = "plivo"
    EXOTEL = "exotel"
    VONAGE = "vonage"
    SIGNALWIRE = "signalwire"
    BANDWIDTH = "bandwidth"


class TrackName(StrEnum):
    """Direction of a track as seen from the party on the stream's leg."""

    INBOUND = "inbound"  # what the platform receives from that party
    OUTBOUND = "outbound"  # what the platform sends to that party


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class MediaFormat:
    encoding: str  # normalised: PCMU, PCMA, L16, G722, OPUS, AMR-WB, or the raw name if unknown
    sample_rate: int
    channels: int = 1
    byte_order: str | None = None  # only for L16: "big", "little" or None (not stated)
    raw_encoding: str = ""


# --- stream events (protocol adapter output) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    provider: Provider
    version: str | None = None
    auth_token: str | None = None


@dataclass(frozen=True, slots=True)
class Started:
    provider: Provider
    stream_id: str
    call_key: str  # groups the legs of one call: call_session_id (Telnyx), callSid (Twilio)
    media_format: MediaFormat
    tracks: tuple[TrackName, ...] = ()
    call_control_id: str | None = None
    account_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    client_state: str | None = None
    tags: tuple[str, ...] = ()
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Media:
    stream_id: str | None
    track: TrackName
    payload: bytes
    chunk: int | None = None
    timestamp: int | None = None
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Dtmf:
    stream_id: str | None
    digit: str
    occurred_at: str | None = None
    track: TrackName | None = None
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    stream_id: str | None
    name: str
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderError:
    stream_id: str | None
    code: int | None
    title: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Stopped:
    stream_id: str | None
    sequence: int | None = None


StreamEvent = Connected | Started | Media | Dtmf | Mark | ProviderError | Stopped


# --- commands to the provider ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMedia:
    payload: bytes


@dataclass(frozen=True, slots=True)
class SendMark:
    name: str


@dataclass(frozen=True, slots=True)
class SendClear:
    pass


Command = SendMedia | SendMark | SendClear


# --- call events (the bus) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    provider: Provider
    from_number: str | None
    to_number: str | None
    started_at: float  # unix seconds
    node: str = ""  # the ingest node that holds the call (team mode); "" on one laptop


@dataclass(frozen=True, slots=True)
class StreamOpened:
    call_id: str
    stream_id: str
    provider: Provider
    media_format: MediaFormat
    tracks: tuple[TrackName, ...]
    roles: dict[str, str]  # track name -> role
    leg: str  # role of the party on this stream's leg
    custom_parameters: dict[str, str]
    call_control_id: str | None
    at: float
    codec_error: str | None = None


@dataclass(frozen=True, slots=True)
class TrackOpened:
    call_id: str
    stream_id: str
    track_key: str  # "<stream_id>/<track>"
    track: TrackName
    role: Role
    sample_rate: int
    at: float


@dataclass(frozen=True, slots=True)
class StreamClosed:
    call_id: str
    stream_id: str
    at: float
    reason: str  # "stop", "closed", "shutdown", "idle"
    frames: int
    dropped: int
    audio_s: float = 0.0  # seconds of audio the stream carried (longest track)


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    ended_at: float
    state: str  # "ended" or "interrupted"


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    call_id: str
    stream_id: str
    digit: str
    at_s: float  # position on the call's audio timeline
    occurred_at: str | None
    track: str | None


@dataclass(frozen=True, slots=True)
class MarkReceived:
    call_id: str
    stream_id: str
    name: str
    at: float


@dataclass(frozen=True, slots=True)
class StreamProblem:
    """Something went wrong on one stream; the stream (and every other) goes on."""

    call_id: str | None
    stream_id: str | None
    kind: str  # e.g. "provider_error", "codec", "bad_frame"
    message: str
    at: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    """A stretch of one speaker's speech as text: partial while still being spoken, then final
    (the final one replaces the partials with the same `segment_id`)."""

    call_id: str
    segment_id: str
    speaker: Role
    start_s: float
    end_s: float
    text: str
    final: bool
    sentiment: float | None = None  # -1 .. 1, on final segments
    # negative, neutral or positive, and how sure (0-1), when judged by meaning
    sentiment_label: str | None = None
    sentiment_confidence: float | None = None
    # A speaker of another language (translation on): `text` is the English, `original_text`
    # what they said, `language` its ISO 639-1 code
    original_text: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SentimentSample:
    call_id: str
    speaker: Role
    at_s: float
    score: float  # smoothed, -1 .. 1
    confidence: float | None = None  # of the line that moved it, 0-1 (gauges show it)


@dataclass(frozen=True, slots=True)
class AlertRaised:
    call_id: str
    rule: str
    speaker: Role | None
    at_s: float
    text: str
    severity: str = "warning"  # "info", "warning" or "critical"


@dataclass(frozen=True, slots=True)
class CallTopic:
    """What the call is about (billing, technical...), as far as it has gone: updated as
    the call goes on, from the meaning of what both parties said."""

    call_id: str
    topic: str
    confidence: float  # 0-1: how clearly this topic leads the others
    at_s: float


@dataclass(frozen=True, slots=True)
class CallScorecard:
    """The call's checklist as filled from its transcript by meaning (console.analysis.
    scorecard): one entry per item, each {name, label, weight, required, passed, similarity,
    segment_id, speaker, at_s, text}. Final when the call has ended (the store keeps it and
    the supervisor reviews it); not final while a call in focus is scored live."""

    call_id: str
    checklist: str
    items: tuple[dict[str, Any], ...]
    final: bool = True
    at: float = 0.0  # when it was scored (unix seconds)


@dataclass(frozen=True, slots=True)
class SupervisorAction:
    """Something the supervisor did to a call (listen, whisper, barge, stop, export...),
    kept in the call's audit trail."""

    call_id: str | None
    action: str
    at: float
    detail: str = ""
    supervisor: str = ""  # who did it (Settings > supervisor name, or --supervisor)


@dataclass(frozen=True, slots=True)
class ConversationUpdate:
    """How the conversation is going, from who spoke when (updated as speech ends)."""

    call_id: str
    customer_talk_s: float
    agent_talk_s: float
    talk_ratio: float | None  # the customer's share of all talk
    longest_silence_s: float
    overtalk_count: int
    overtalk_s: float


@dataclass(frozen=True, slots=True)
class SpeechActivity:
    """A speaker started or stopped talking, by the voice detector (before any text)."""

    call_id: str
    speaker: Role
    speaking: bool
    at_s: float


CallEvent = (
    CallStarted
    | StreamOpened
    | TrackOpened
    | StreamClosed
    | CallEnded
    | DtmfReceived
    | MarkReceived
    | StreamProblem
    | TranscriptSegment
    | SentimentSample
    | AlertRaised
    | CallTopic
    | CallScorecard
    | SupervisorAction
    | ConversationUpdate
    | SpeechActivity
)
