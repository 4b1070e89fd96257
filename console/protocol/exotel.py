"""Exotel AgentStream frames (PROTOCOLS.md section 3.2): the Stream applet (one-way) and the
Voicebot applet (bidirectional), JSON text frames shaped like Twilio's but in snake_case.

Frames from Exotel:
- `connected`: `{"event": "connected"}` and nothing else. It names nobody, so `looks_like`
  leaves it to the start frame that follows.
- `start`: top-level `sequence_number` (a string) and `stream_sid`; `start.{stream_sid,
  call_sid, account_sid, from, to, custom_parameters{}, media_format{encoding, sample_rate
  (a string), bit_rate}}`.
- `media`: `sequence_number`, `stream_sid`, `media.{chunk, timestamp (ms, a string),
  payload}`; `media.track` (inbound/outbound) only when both tracks are streamed, so a frame
  without one is the inbound track. Exotel sends about every 100 ms.
- Voicebot only: `dtmf {digit, duration}` and `mark {name}` (echo of a mark sent).
- `stop` exists; its `stop.{call_sid, account_sid, reason}` shape is unverified, so only the
  event name is relied on (and the socket closing is a stop anyway).

Media format: base64 raw slin, 16-bit signed little-endian mono PCM, 8 kHz by default
(`?sample-rate=16000` or `24000` on the URL changes it), sent as `encoding: "audio/x-raw"`,
which `normalise_format` reads as little-endian L16. The beta extension guide adds
`audio/x-mulaw;rate=8000`, `audio/L16;rate=8000` and `audio/L16;rate=16000` (and calls
mu-law the default); the byte order of its `audio/L16` is not documented, so it stays None
and the console's decoder decides. A start frame without `media_format` is taken as the
base guide's default, slin at 8 kHz.

Audio back (Voicebot applet only): `media {stream_sid, media:{payload}}` with the same raw
slin at the stream's rate, `mark {stream_sid, mark:{name}}` and `clear {stream_sid}`. Each
payload must be a multiple of CHUNK_BYTES (320 bytes, 20 ms at 8 kHz: a shorter last packet
leaves a gap) and at most MAX_CHUNK_BYTES (100 KB, larger ones time out); encode_command
refuses anything else. Exotel asks for at least MIN_CHUNK_BYTES (3.2 KB, "100 ms", though
that is 200 ms of 8 kHz slin; the docs are inconsistent) against network jitter: a sender
should gather 20 ms frames into chunks of 100-200 ms. That is not enforced here.

Reach rule: Exotel plays returned audio "out to the caller", the party on the call leg that
runs the flow. The Voicebot applet holds the caller with the bot (the stream closes before
the next applet, e.g. a Connect to an agent, runs), so audio back never reaches an agent;
there is no whisper to an agent on Exotel, only speech to the caller. The Stream applet
(monitoring an agent's call) is one-way. Unknown: nothing in the start frame tells a Voicebot
stream from a Stream-applet one; whether `chunk` counts per track or per message when both
tracks are streamed; what Exotel plays back on a mu-law or 16 kHz stream (the docs describe
8 kHz slin only); the `stop.reason` values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from console.core.events import (
    Command,
    Connected,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    StreamEvent,
)
from console.protocol.base import (
    FrameError,
    as_int,
    counter,
    custom_parameters,
    event_name,
    normalise_format,
    opt_str,
    parse_common,
    require_dict,
    start_tracks,
)

__all__ = [
    "CHUNK_BYTES",
    "HAS_CLEAR",
    "HAS_MARK",
    "MAX_CHUNK_BYTES",
    "MIN_CHUNK_BYTES",
    "SENDS_AUDIO_BACK",
    "encode_command",
    "looks_like",
    "parse",
]

SENDS_AUDIO_BACK = True  # Voicebot applet only; the Stream applet is one-way
HAS_MARK = True
HAS_CLEAR = True

CHUNK_BYTES = 320
MIN_CHUNK_BYTES = 3200
MAX_CHUNK_BYTES = 100_000

_DEFAULT_FORMAT = {"encoding": "audio/x-raw", "sample_rate": "8000", "bit_rate": "16"}


def looks_like(msg: dict[str, Any]) -> bool:
    """True for an Exotel frame: snake_case `stream_sid` at the top level (Telnyx says
    `stream_id`, Twilio `streamSid`), or a start with `stream_sid` or `call_sid`."""
    if not isinstance(msg.get("event"), str):
        return False
    if "stream_sid" in msg:
        return True
    start = msg.get("start")
    return isinstance(start, dict) and ("stream_sid" in start or "call_sid" in start)


def parse(msg: dict[str, Any]) -> StreamEvent:
    event = event_name(msg)
    stream_id = opt_str(msg.get("stream_sid"), "stream_sid")
    seq = counter(msg.get("sequence_number"), "sequence_number", "bad_sequence")
    if event == "start":
        return _start(msg, stream_id, seq)
    if event == "connected":
        return Connected(Provider.EXOTEL, opt_str(msg.get("version"), "version"))
    if event == "dtmf":
        dtmf = msg.get("dtmf")
        if isinstance(dtmf, dict):
            # Not used, but a number like any other: checked, never passed on unchecked.
            counter(dtmf.get("duration"), "dtmf.duration", "bad_value")
    return parse_common(event, msg, stream_id, seq, "Exotel")


def _start(msg: dict[str, Any], stream_id: str | None, seq: int | None) -> Started:
    start = require_dict(msg.get("start"), "start")
    stream_id = opt_str(start.get("stream_sid"), "start.stream_sid") or stream_id
    if not stream_id:
        raise FrameError("missing_field", "start frame has no stream_sid")
    fmt_obj = start.get("media_format")
    fmt_obj = _DEFAULT_FORMAT if fmt_obj is None else require_dict(fmt_obj, "start.media_format")
    fmt = normalise_format(fmt_obj.get("encoding", _DEFAULT_FORMAT["encoding"]),
                           fmt_obj.get("sample_rate"), fmt_obj.get("channels", 1))
    bits = as_int(fmt_obj.get("bit_rate"), "start.media_format.bit_rate")
    if fmt.encoding == "L16" and bits is not None and bits != 16:
        # `bit_rate` is the sample size; linear PCM of another width is not L16.
        raise FrameError("bad_value", f"start.media_format.bit_rate {bits:.6g} is not 16 for "
                                      "linear PCM")
    call_sid = opt_str(start.get("call_sid"), "start.call_sid")
    params = custom_parameters(start.get("custom_parameters"))
    return Started(
        provider=Provider.EXOTEL,
        stream_id=stream_id,
        call_key=call_sid or stream_id,
        media_format=fmt,
        tracks=start_tracks(start.get("tracks")),
        call_control_id=call_sid,
        account_id=opt_str(start.get("account_sid"), "start.account_sid"),
        from_number=opt_str(start.get("from"), "start.from"),
        to_number=opt_str(start.get("to"), "start.to"),
        custom_parameters=params,
        sequence=seq,
    )


def encode_command(command: Command, stream_id: str | None = None) -> str:
    """Frame for a Voicebot (bidirectional) stream; each carries the stream_sid. Audio is the
    stream's own raw slin, in whole 320-byte blocks (see the module docstring)."""
    sid = stream_id or ""
    if isinstance(command, SendMedia):
        size = len(command.payload)
        if size == 0 or size % CHUNK_BYTES or size > MAX_CHUNK_BYTES:
            raise FrameError("bad_payload", f"Exotel plays audio in non-empty multiples of "
                                            f"{CHUNK_BYTES} bytes up to {MAX_CHUNK_BYTES}; "
                                            f"got {size} bytes")
        payload = base64.b64encode(command.payload).decode("ascii")
        return json.dumps({"event": "media", "stream_sid": sid, "media": {"payload": payload}})
    if isinstance(command, SendMark):
        return json.dumps({"event": "mark", "stream_sid": sid, "mark": {"name": command.name}})
    if isinstance(command, SendClear):
        return json.dumps({"event": "clear", "stream_sid": sid})
    raise TypeError(f"not a command: {command!r}")
