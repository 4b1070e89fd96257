"""Vonage Voice API WebSocket endpoint (PROTOCOLS.md section 3.3).

Wire: an NCCO `connect` to a `websocket` endpoint makes Vonage open the socket. Its first
message is a JSON **text** frame: the NCCO `headers` merged with `content-type` (legacy docs
[V2]), named `"event": "websocket:connected"` in newer docs and the AsyncAPI [V3]. Every
audio message after it is a **binary** frame of raw 16-bit signed little-endian linear PCM,
mono ([V3]; no base64, no JSON), in both directions: `parse_binary` reads them, and
`encode_command(SendMedia)` returns the bytes to send. Text commands back: `{"action":
"clear"}` and `{"action": "notify", "payload": {...}}`; text events: `websocket:cleared`,
`websocket:notify` and `websocket:dtmf` (their shapes are UNVERIFIED: read leniently).

Ids: Vonage names no stream and no call on the socket. The first frame carries only what
the NCCO `headers` put there, so the answer webhook should copy its `uuid` (the caller's
leg) and `conversation_uuid` into them. `parse` takes the stream id from `uuid`/`call_uuid`
(else the conversation id) and the call key from `conversation_uuid` (else the leg uuid);
with none of them it makes a fresh id, FALLBACK_PREFIX + 32 hex digits, so two sockets
without ids never share a call. A `coach_call` header groups legs, like any custom
parameter.

Reach rule: the socket is a call **participant**, not a tap [V2]. It receives the mix of
everything else in the conversation as one track (legs cannot be separated), and audio
sent back is heard by the parties it is connected to: in a 1-to-1 `connect` from the
caller's NCCO that is the caller; in a conversation holding caller and agent it is both
(a barge). A whisper to the agent alone would need Vonage's conference controls, not
researched. Unknown: the 24 kHz rate (newer docs, unverified), whether `notify` echoes its
payload unchanged, and whether a `websocket:notify` still comes for audio a `clear` dropped.
Vonage sends no stop frame: the socket closing ends the stream. It buffers at most 3072
messages (about 60 s of 20 ms frames), so audio must be paced near real time.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

from console.core.events import (
    Command,
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    StreamEvent,
    TrackName,
)
from console.protocol.base import (
    FrameError,
    as_str,
    custom_parameters,
    dtmf_digit,
    normalise_format,
    opt_str,
)

__all__ = [
    "FALLBACK_PREFIX",
    "HAS_CLEAR",
    "HAS_MARK",
    "MAX_AUDIO_BYTES",
    "SENDS_AUDIO_BACK",
    "encode_command",
    "frame_bytes",
    "looks_like",
    "parse",
    "parse_binary",
]

SENDS_AUDIO_BACK = True
HAS_MARK = True  # as `notify`, echoed by `websocket:notify` (UNVERIFIED shape)
HAS_CLEAR = True

# base.py has no payload limit of its own (the server checks each message against
# Settings.max_message_bytes, 256 KiB by default): the same default here.
MAX_AUDIO_BYTES = 256 * 1024
FALLBACK_PREFIX = "vonage-"
# The mark name a `websocket:cleared` acknowledgement is reported under.
CLEARED_MARK = "websocket:cleared"

_EVENT_PREFIX = "websocket:"
_CONTENT_TYPE = "content-type"
# Header names (compared lower-case) that may carry the ids the answer webhook received.
_LEG_KEYS = ("uuid", "call_uuid", "leg_uuid", "leg_id")
_CONVERSATION_KEYS = ("conversation_uuid", "conversation_id", "conversation")
_FROM_KEYS = ("from", "caller", "from_number")
_TO_KEYS = ("to", "callee", "to_number")


def looks_like(msg: dict[str, Any]) -> bool:
    """A `websocket:*` event, or the legacy first frame: NCCO headers with an audio/l16
    content-type at the top level (no other platform puts `content-type` there)."""
    event = msg.get("event")
    if isinstance(event, str) and event.startswith(_EVENT_PREFIX):
        return True
    ctype = msg.get(_CONTENT_TYPE)
    return isinstance(ctype, str) and ctype.strip().lower().startswith("audio/l16")


def parse(msg: dict[str, Any]) -> StreamEvent:
    event = msg.get("event")
    if event is None or event == "websocket:connected":
        if event is None and _CONTENT_TYPE not in msg:
            raise FrameError("missing_field", "frame has no event name")
        return _start(msg)
    if not isinstance(event, str):
        raise FrameError("wrong_type", "event must be a string")
    if event == "websocket:dtmf":
        inner = msg.get("dtmf")
        digit = msg.get("digit")
        if digit is None and isinstance(inner, dict):
            digit = inner.get("digit")  # Pipecat reads either place [P5]
        if digit is None:
            raise FrameError("missing_field", "websocket:dtmf has no digit")
        return Dtmf(None, dtmf_digit(digit))
    if event == "websocket:notify":
        return Mark(None, _marker(msg))
    if event == "websocket:cleared":
        # The acknowledgement of our `clear`: reported as a mark so the console sees the
        # flush land (Telnyx and Twilio answer a clear with the pending marks instead).
        return Mark(None, CLEARED_MARK)
    raise FrameError("unknown_event", f"unknown Vonage event {event!r:.40}")


def _marker(msg: dict[str, Any]) -> str:
    """The name we put in a `notify` payload. UNVERIFIED echo: the payload as sent, with
    `marker` (the fixture) or `name`, or a bare string; or those keys at the top level."""
    payload = msg.get("payload")
    for holder in (payload, msg):
        if isinstance(holder, dict):
            for key in ("marker", "name"):
                if holder.get(key) is not None:
                    return as_str(holder[key], f"websocket:notify {key}")
    if isinstance(payload, str):
        return as_str(payload, "websocket:notify payload")
    raise FrameError("missing_field", "websocket:notify carries no marker name")


def _start(msg: dict[str, Any]) -> Started:
    ctype = msg.get(_CONTENT_TYPE)
    if ctype is None:
        raise FrameError("missing_field", "first frame has no content-type")
    if not isinstance(ctype, str):  # as_str would take a number as text
        raise FrameError("wrong_type", "content-type must be a string")
    fmt = _format(as_str(ctype, _CONTENT_TYPE))
    headers = {k: v for k, v in msg.items() if k not in ("event", _CONTENT_TYPE)}
    # Nested header values keep their JSON form (custom_parameters would give a repr).
    params = custom_parameters({
        k: json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else v
        for k, v in headers.items()
    })
    lower = {k.lower(): v for k, v in headers.items()}
    leg = _first(lower, _LEG_KEYS)
    conversation = _first(lower, _CONVERSATION_KEYS)
    stream_id = leg or conversation or FALLBACK_PREFIX + uuid.uuid4().hex
    return Started(
        provider=Provider.VONAGE,
        stream_id=stream_id,
        call_key=conversation or stream_id,
        media_format=fmt,
        tracks=(TrackName.INBOUND,),  # one mixed track: the socket hears the conversation
        call_control_id=leg,
        from_number=_first(lower, _FROM_KEYS),
        to_number=_first(lower, _TO_KEYS),
        custom_parameters=params,
    )


def _first(headers: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = headers.get(key)
        if isinstance(value, (dict, list)):
            continue  # not an id
        text = opt_str(value, f"header {key}")
        if text:
            return text
    return None


def _format(ctype: str) -> MediaFormat:
    fmt = normalise_format(ctype, None)
    if fmt.encoding == "L16" and fmt.byte_order is None:
        fmt = replace(fmt, byte_order="little")  # Vonage's L16 is little-endian [V3]
    return fmt


def parse_binary(data: bytes | bytearray | memoryview, limit: int = MAX_AUDIO_BYTES) -> Media:
    """One binary audio message: raw 16-bit PCM of the socket's one (mixed) track. It
    carries no stream id, counter or timestamp; 20 ms is 320 bytes at 8 kHz, 640 at 16."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrameError("wrong_type", f"audio frame must be bytes, got {type(data).__name__}")
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if size > limit:
        raise FrameError("oversize", f"audio frame of {size} bytes is over the {limit}-byte "
                                     "limit")
    if size == 0:
        raise FrameError("bad_payload", "empty audio frame")
    if size % 2:
        raise FrameError("bad_payload", f"audio frame of {size} bytes is not whole 16-bit "
                                        "samples")
    return Media(None, TrackName.INBOUND, bytes(data))


def frame_bytes(sample_rate: int, ms: int = 20) -> int:
    """Bytes of `ms` milliseconds of mono 16-bit audio: the frame size Vonage expects."""
    return sample_rate * ms // 1000 * 2


def encode_command(command: Command, stream_id: str | None = None) -> str | bytes:
    """Audio goes back as a binary frame of raw PCM (the console's encoder makes it in the
    stream's format, little-endian L16); clear and notify are JSON text. No stream id."""
    if isinstance(command, SendMedia):
        if len(command.payload) % 2:
            raise FrameError("bad_payload", f"{len(command.payload)} bytes of audio are not "
                                            "whole 16-bit samples")
        return bytes(command.payload)
    if isinstance(command, SendMark):
        return json.dumps({"action": "notify", "payload": {"marker": command.name}})
    if isinstance(command, SendClear):
        return json.dumps({"action": "clear"})
    raise TypeError(f"not a command: {command!r}")
