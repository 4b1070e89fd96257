"""SignalWire Compatibility API `<Stream>` (cXML), PROTOCOLS.md section 3.4.

Wire: Twilio's Media Streams messages (connected/start/media/dtmf/mark/stop in; media/mark/
clear back), so frames go through `twilio.parse` and `twilio.encode_command`; only the
labels change (`Connected` and `Started` get Provider.SIGNALWIRE).

Detection: SignalWire's ids are UUIDs. Its REST reference [SW2] types AccountSid (the
Project ID), CallSid and the stream's sid as `uuid` (e.g. 720796a0-8ee9-4350-83bd-
2d07a3121f1e), where Twilio's are two letters and 32 hex digits (AC…, CA…, MZ…, §2.2). So a
Twilio-shaped frame whose `streamSid`, or whose start's streamSid, callSid or accountSid, is a
UUID is SignalWire's. The `connected` frame carries no id and cannot tell the two apart:
detection has to wait for `start` (which `twilio.looks_like` would claim too, so SignalWire
must be tried first). The handshake may tell earlier: `looks_like_handshake` spots an
`X-SignalWire-Signature` header (UNVERIFIED for WebSocket upgrades: SignalWire may sign
with `X-Twilio-Signature` like Twilio, §3.4).

Differences read leniently: `codec` (default `PCMU@8000h`, e.g. `L16@16000h`) may show in
`mediaFormat.encoding` in that form (the exact string is unverified), L16's byte order is not
documented (left unset: the decoder decides); with `both_tracks` the frames may say
`inbound_track`/`outbound_track` (accepted), and a start's track list may say `both_tracks`
(read as inbound and outbound).

Reach rule (as Twilio, §2.1/§2.5): only a bidirectional `<Connect><Stream>` takes audio
back, and it is played to the call leg running that cXML (the party on the stream's leg); a
`<Start><Stream>` or REST stream is one-way. To whisper to the agent alone, put the agent in
a conference and add the console's call as a participant with `Coaching`/`CallSidToCoach`
(these exist as in Twilio). Unknown: the header carrying `authBearerToken` (presumably
`Authorization: Bearer`), and how `realtime` paces what we send.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from console.core.events import Command, Connected, Provider, Started, StreamEvent
from console.protocol import twilio
from console.protocol.base import FrameError

__all__ = [
    "HAS_CLEAR",
    "HAS_MARK",
    "SENDS_AUDIO_BACK",
    "SIGNATURE_HEADERS",
    "encode_command",
    "looks_like",
    "looks_like_handshake",
    "parse",
]

SENDS_AUDIO_BACK = True  # on <Connect><Stream> only
HAS_MARK = True
HAS_CLEAR = True

# Header names seen in SignalWire webhook validators; for the WS upgrade, UNVERIFIED.
SIGNATURE_HEADERS = ("x-signalwire-signature", "x-signalwire-sha256-signature")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# cXML `codec` values such as "PCMU@8000h" or "L16@16000h".
_CODEC_AT = re.compile(r"\s*([A-Za-z0-9/_.+-]+)@(\d{1,6})h?\s*", re.IGNORECASE)
_BOTH = frozenset(("both", "both_tracks"))


def _is_uuid(value: Any) -> bool:
    return type(value) is str and len(value) == 36 and _UUID.fullmatch(value) is not None


def looks_like(msg: dict[str, Any]) -> bool:
    """A Twilio-shaped frame carrying a UUID sid (see the module docstring)."""
    if _is_uuid(msg.get("streamSid")):
        return True
    start = msg.get("start")
    return isinstance(start, dict) and any(
        _is_uuid(start.get(k)) for k in ("streamSid", "callSid", "accountSid"))


def looks_like_handshake(headers: list[tuple[str, str]]) -> bool:
    """Whether the upgrade request carries a SignalWire signature header."""
    return any(name.strip().lower() in SIGNATURE_HEADERS for name, _ in headers)


def parse(msg: dict[str, Any]) -> StreamEvent:
    if msg.get("event") == "start":
        msg = _lenient_start(msg)
    try:
        event = twilio.parse(msg)
    except FrameError as exc:
        if exc.kind == "unknown_event":  # say whose event it was
            raise FrameError(exc.kind, str(exc).replace("Twilio", "SignalWire")) from None
        raise
    if isinstance(event, (Connected, Started)):
        return replace(event, provider=Provider.SIGNALWIRE)
    return event


def _lenient_start(msg: dict[str, Any]) -> dict[str, Any]:
    """The start frame with SignalWire's own spellings turned into Twilio's (a copy)."""
    start = msg.get("start")
    if not isinstance(start, dict):
        return msg  # twilio.parse says what is wrong
    start = dict(start)
    fmt = start.get("mediaFormat")
    if isinstance(fmt, dict) and isinstance(fmt.get("encoding"), str):
        found = _CODEC_AT.fullmatch(fmt["encoding"])
        if found:
            fmt = dict(fmt, encoding=found.group(1))
            if fmt.get("sampleRate") is None:
                fmt["sampleRate"] = found.group(2)
            start["mediaFormat"] = fmt
    tracks = start.get("tracks")
    if isinstance(tracks, list) and any(
            isinstance(t, str) and t.strip().lower() in _BOTH for t in tracks):
        start["tracks"] = [x for t in tracks for x in (
            ("inbound", "outbound") if isinstance(t, str) and t.strip().lower() in _BOTH
            else (t,))]
    return dict(msg, start=start)


def encode_command(command: Command, stream_id: str | None = None) -> str:
    """Twilio's frames, with the streamSid on each."""
    return twilio.encode_command(command, stream_id)
