"""Plivo Audio Stream frames (PROTOCOLS.md section 3.1): `<Stream>` XML, JSON text frames.

Frames from Plivo (camelCase; no `connected` frame, `start` comes first):
- `start`: `sequenceNumber` (a number), `start.{callId, streamId, accountId, tracks[],
  mediaFormat{encoding, sampleRate}}` and a top-level `extra_headers` string (`k=v` pairs from
  the `extraHeaders` attribute; the docs show `,` between pairs, their example `;`: both are
  split). The pairs become the stream's custom parameters, so `leg=agent`, `reaches=...` and
  the like work as on the other platforms. The frame names no numbers: `from`/`to` pairs, if
  the app sends them, fill from/to.
- `media`: `sequenceNumber`, `streamId`, `media.{track, timestamp (a string of Unix epoch
  milliseconds), chunk (a number, counted per track), payload}`.
- `dtmf` (shape unverified: `dtmf.digit`, or a top-level `digit`), `playedStream {streamId,
  name}` when a checkpoint is reached (Plivo's support pages call it `played`; both are
  taken) and `clearedAudio` when the queue was cleared. Both map to `Mark`: `playedStream` as
  the checkpoint's name, `clearedAudio` as a mark named CLEARED_MARK, the one trace that a
  clear took effect (Twilio and Telnyx answer a clear by returning the queued marks; Plivo
  says so instead). A checkpoint the console sends may not use that name (encode_command
  refuses it), so the two never mix.
- No `stop` is documented: a Plivo-derived platform just closes the socket, which the server
  treats as the stop. A `stop` (or `error`) frame, if one comes, is read as on Twilio.

Media format: the `contentType` attribute is `audio/x-l16;rate=8000` (the default),
`audio/x-l16;rate=16000` or `audio/x-mulaw;rate=8000`, and the start frame says which. Plivo
does not document the byte order of `audio/x-l16`, so `byte_order` stays None and the
console's L16 decoder decides from the audio (or Settings > L16 byte order). A start frame
without `mediaFormat` is taken as the documented default, L16 at 8 kHz.

Audio back (`bidirectional="true"` only): `playAudio {media:{contentType, sampleRate,
payload}}` with `audio/x-mulaw` at 8000 Hz or `audio/x-l16` at 8000/16000 Hz (the codec may
not change between messages), `checkpoint {streamId, name}` (a mark) and `clearAudio
{streamId}` (a clear).

Reach rule: Plivo plays returned audio "to the party on the call", i.e. the leg whose XML runs
the `<Stream>`, like Twilio's `<Connect><Stream>`. A bidirectional stream must carry the
inbound track only, so a stream with the outbound track is one-way and takes nothing back.
Unknown: whether the other party also hears it once the leg is bridged by `<Dial>` (with
`keepCallAlive="true"` the stream runs alone, so nobody else is on the call), Plivo's own
conference/coach features for agent-only audio (not researched), the L16 byte order in both
directions, the exact `dtmf` shape, and whether a `stop` frame is ever sent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from console.core.events import (
    Command,
    Dtmf,
    Mark,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    StreamEvent,
)
from console.protocol.base import (
    MAX_VALUE,
    FrameError,
    as_str,
    counter,
    custom_parameters,
    dtmf_digit,
    event_name,
    normalise_format,
    opt_str,
    parse_common,
    require_dict,
    start_tracks,
    track_name,
)

__all__ = [
    "CLEARED_MARK",
    "HAS_CLEAR",
    "HAS_MARK",
    "PLAYBACK_FORMATS",
    "SENDS_AUDIO_BACK",
    "encode_command",
    "looks_like",
    "parse",
]

SENDS_AUDIO_BACK = True  # on bidirectional="true" streams (inbound track only)
HAS_MARK = True  # checkpoint -> playedStream
HAS_CLEAR = True  # clearAudio -> clearedAudio

# Name of the Mark a `clearedAudio` frame becomes.
CLEARED_MARK = "clearedAudio"

# What playAudio takes: canonical codec -> (contentType, sample rates).
PLAYBACK_FORMATS: dict[str, tuple[str, tuple[int, ...]]] = {
    "PCMU": ("audio/x-mulaw", (8000,)),
    "L16": ("audio/x-l16", (8000, 16000)),
}

# Plivo's documented default contentType, for a start frame that does not say.
_DEFAULT_ENCODING = "audio/x-l16"
_DEFAULT_RATE = 8000
_PLAYED_EVENTS = frozenset({"playedStream", "played"})


def looks_like(msg: dict[str, Any]) -> bool:
    """True for a Plivo frame: a top-level camelCase `streamId` (Twilio says `streamSid`,
    Bandwidth nests `streamId` under `metadata`), or a start with `streamId` and `callId`."""
    if not isinstance(msg.get("event"), str):
        return False
    if "streamId" in msg:
        return True
    start = msg.get("start")
    return isinstance(start, dict) and "streamId" in start and "callId" in start


def parse(msg: dict[str, Any]) -> StreamEvent:
    event = event_name(msg)
    stream_id = opt_str(msg.get("streamId"), "streamId")
    seq = counter(msg.get("sequenceNumber"), "sequenceNumber", "bad_sequence")
    if event == "start":
        return _start(msg, stream_id, seq)
    if event in _PLAYED_EVENTS:
        name = msg.get("name")
        if name is None:
            raise FrameError("missing_field", f"{event} frame has no checkpoint name")
        return Mark(stream_id, as_str(name, f"{event}.name"), seq)
    if event == "clearedAudio":
        return Mark(stream_id, CLEARED_MARK, seq)
    if event == "dtmf":
        return _dtmf(msg, stream_id, seq)
    return parse_common(event, msg, stream_id, seq, "Plivo")


def _dtmf(msg: dict[str, Any], stream_id: str | None, seq: int | None) -> Dtmf:
    # Unverified shape: Pipecat reads dtmf.digit; a flat `digit` is taken too.
    body = msg.get("dtmf")
    if body is None:
        if "digit" not in msg:
            raise FrameError("missing_field", "dtmf frame has no digit")
        body = {"digit": msg["digit"]}
    dtmf = require_dict(body, "dtmf")
    track = dtmf.get("track")
    return Dtmf(
        stream_id,
        dtmf_digit(dtmf.get("digit")),
        None,
        track_name(track, "dtmf.track") if track is not None else None,
        seq,
    )


def _start(msg: dict[str, Any], stream_id: str | None, seq: int | None) -> Started:
    start = require_dict(msg.get("start"), "start")
    stream_id = opt_str(start.get("streamId"), "start.streamId") or stream_id
    if not stream_id:
        raise FrameError("missing_field", "start frame has no streamId")
    fmt_obj = start.get("mediaFormat")
    fmt_obj = {} if fmt_obj is None else require_dict(fmt_obj, "start.mediaFormat")
    encoding = fmt_obj.get("encoding")
    rate = fmt_obj.get("sampleRate")
    if encoding is None:
        encoding = _DEFAULT_ENCODING
        if rate is None:
            rate = _DEFAULT_RATE
    fmt = normalise_format(encoding, rate, fmt_obj.get("channels", 1))
    call_id = opt_str(start.get("callId"), "start.callId")
    params = _extra_headers(msg.get("extra_headers"))
    return Started(
        provider=Provider.PLIVO,
        stream_id=stream_id,
        call_key=call_id or stream_id,
        media_format=fmt,
        tracks=start_tracks(start.get("tracks")),
        call_control_id=call_id,
        account_id=opt_str(start.get("accountId"), "start.accountId"),
        from_number=params.get("from") or params.get("From"),
        to_number=params.get("to") or params.get("To"),
        custom_parameters=params,
        sequence=seq,
    )


def _extra_headers(raw: Any) -> dict[str, str]:
    """`extra_headers` ("k=v,k2=v2", or with `;`) as custom parameters; an object is taken as
    {name: value} too. Bounded like every other custom parameter."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return custom_parameters(raw)
    text = as_str(raw, "extra_headers", MAX_VALUE)
    pairs: dict[str, str] = {}
    for item in text.replace(";", ",").split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key:
            pairs[key] = value.strip()
    return custom_parameters(pairs)


def encode_command(command: Command, stream_id: str | None = None, *,
                   codec: str = "PCMU", rate: int = 8000) -> str:
    """Frame for a bidirectional Plivo stream. Audio goes as `playAudio` in `codec` at `rate`
    (PCMU at 8000 Hz, or L16 at 8000 or 16000 Hz: what the payload already is; Plivo's own
    names such as "audio/x-l16" are taken too). Checkpoints and clears carry the streamId;
    playAudio does not (Plivo's examples have none)."""
    sid = stream_id or ""
    if isinstance(command, SendMedia):
        canonical = normalise_format(codec, rate).encoding
        offered = PLAYBACK_FORMATS.get(canonical)
        if offered is None or rate not in offered[1]:
            raise FrameError("not_supported", f"Plivo cannot play {codec} at {rate} Hz "
                                              "(playAudio takes audio/x-mulaw at 8000 Hz or "
                                              "audio/x-l16 at 8000 or 16000 Hz)")
        payload = base64.b64encode(command.payload).decode("ascii")
        return json.dumps({"event": "playAudio", "media": {
            "contentType": offered[0], "sampleRate": rate, "payload": payload}})
    if isinstance(command, SendMark):
        if command.name == CLEARED_MARK:
            raise FrameError("bad_value", f"a checkpoint may not be named {CLEARED_MARK!r}: "
                                          "that name stands for Plivo's clearedAudio")
        return json.dumps({"event": "checkpoint", "streamId": sid, "name": command.name})
    if isinstance(command, SendClear):
        return json.dumps({"event": "clearAudio", "streamId": sid})
    raise TypeError(f"not a command: {command!r}")
