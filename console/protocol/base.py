"""Shared parsing helpers and the error every adapter raises for a bad frame."""

from __future__ import annotations

import binascii
import re
from typing import Any

from console.core.events import (
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    ProviderError,
    Stopped,
    StreamEvent,
    TrackName,
)

__all__ = [
    "MAX_CHANNELS",
    "MAX_COUNTER",
    "MAX_PARAMS",
    "MAX_RATE",
    "MAX_TEXT",
    "MAX_VALUE",
    "FrameError",
    "as_int",
    "as_str",
    "b64decode",
    "counter",
    "custom_parameters",
    "dtmf_digit",
    "event_name",
    "media_body",
    "media_frame",
    "normalise_format",
    "opt_str",
    "parse_common",
    "require_dict",
    "start_tracks",
    "tags",
    "track_name",
]


class FrameError(ValueError):
    """A frame that cannot be understood. `kind` is a short stable label for counters."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# Where numbers from a peer are allowed to be, checked as they enter (each out-of-range value
# is a bad frame of its own kind, counted, and the frame goes no further):
#   media.chunk, sequence numbers, media.timestamp: 0 .. 2**53-1. Counters and milliseconds
#     (Unix epoch milliseconds too) for centuries; anything past it is not a counter, and it
#     keeps every later sum inside SQLite's and NumPy's 64-bit integers.
#   sample rate: 1 .. 384,000 Hz here; the decoders take 8,000-48,000 Hz and refuse other
#     rates for that stream with a problem on the call (console.audio.codecs).
#   channels: 1 .. 8 here; the decoders take 1 or 2.
#   frame and payload sizes: the server's message limit (Settings.max_message_bytes).
#   ids, names, numbers and other text: MAX_TEXT characters; custom parameters: MAX_PARAMS
#     of them, names MAX_TEXT and values MAX_VALUE; client state MAX_VALUE; tags MAX_PARAMS
#     (each over its limit is "oversize_field"). DTMF digits: one of 0-9 * # A-D.
MAX_COUNTER = 2**53 - 1
MAX_RATE = 384_000
MAX_CHANNELS = 8
MAX_TEXT = 256
MAX_VALUE = 4096
MAX_PARAMS = 64
_DIGITS = frozenset("0123456789*#ABCDabcd")


def event_name(msg: dict[str, Any]) -> str:
    """The frame's `event`, which every JSON platform names it by."""
    event = msg.get("event")
    if not isinstance(event, str):
        raise FrameError("missing_field", "frame has no event name")
    return event


def counter(value: Any, where: str, kind: str) -> int | None:
    """A chunk, sequence number or timestamp: None when absent, else 0 .. MAX_COUNTER."""
    if type(value) is str and len(value) <= 15 and value.isascii() and value.isdigit():
        return int(value)  # nearly every frame: under 10^15, so in range
    if isinstance(value, str) and len(value) > 19 and value.strip().lstrip("-").isdigit():
        raise FrameError(kind, f"{where} of {len(value.strip())} digits is outside 0..2^53-1")
    n = as_int(value, where)
    if n is not None and not 0 <= n <= MAX_COUNTER:
        raise FrameError(kind, f"{where} {n:.6g} is outside 0..2^53-1")
    return n


def require_dict(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FrameError("wrong_type", f"{where} must be an object, got {type(obj).__name__}")
    return obj


def as_int(value: Any, where: str) -> int | None:
    """Numbers arrive as strings of digits or as ints; absent stays None."""
    kind = type(value)
    if kind is str and len(value) <= 19 and value.isascii() and value.isdigit():
        return int(value)  # the common case, first
    if kind is int:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if isinstance(value, bool):
        raise FrameError("wrong_type", f"{where} must be a number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        if 0 < len(digits) <= 19 and digits.isascii() and digits.isdigit():
            return int(text)
    raise FrameError("wrong_type", f"{where} must be an integer, got {value!r:.40}")


def as_str(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    """A peer's text field (an id, a name, a number), at most `limit` characters."""
    if isinstance(value, str):
        if len(value) > limit:
            raise FrameError("oversize_field", f"{where} is {len(value)} characters long, "
                                               f"over {limit}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_COUNTER <= value <= MAX_COUNTER:
            raise FrameError("oversize_field", f"{where} {value:.6g} is not an id")
        return str(value)
    raise FrameError("wrong_type", f"{where} must be a string, got {type(value).__name__}")


def opt_str(value: Any, where: str, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else as_str(value, where, limit)


def b64decode(text: Any, where: str = "media.payload") -> bytes:
    if type(text) is not str:
        raise FrameError("wrong_type", f"{where} must be a base64 string")
    try:
        return _a2b(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    # Tolerate missing padding and embedded whitespace, but nothing outside the alphabet.
    cleaned = "".join(text.split())
    if not _B64.fullmatch(cleaned):
        raise FrameError("bad_base64", f"{where} is not valid base64")
    try:
        return binascii.a2b_base64(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError) as exc:
        raise FrameError("bad_base64", f"{where} is not valid base64: {exc}") from None


_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_a2b = binascii.a2b_base64

_TRACKS = {
    "inbound": TrackName.INBOUND,
    "inbound_track": TrackName.INBOUND,
    "outbound": TrackName.OUTBOUND,
    "outbound_track": TrackName.OUTBOUND,
}


def track_name(value: Any, where: str = "media.track") -> TrackName:
    found = _TRACKS.get(value) if type(value) is str else None
    if found is not None:
        return found
    if not isinstance(value, str):
        raise FrameError("wrong_type", f"{where} must be a string")
    found = _TRACKS.get(value.strip().lower())
    if found is None:
        raise FrameError("bad_value", f"{where} {value!r:.40} is not inbound or outbound")
    return found


def media_body(media: Any) -> tuple[TrackName, int | None, int | None, bytes]:
    """The `media` object of an inbound media frame, which Telnyx and Twilio shape alike:
    (track, chunk, timestamp, payload bytes). A missing track means the only one, inbound."""
    if type(media) is not dict:
        raise FrameError("wrong_type", "media must be an object")
    track = media.get("track")
    return (
        _INBOUND if track is None else track_name(track),
        counter(media.get("chunk"), "media.chunk", "bad_chunk"),
        counter(media.get("timestamp"), "media.timestamp", "bad_timestamp"),
        b64decode(media.get("payload")),
    )


_INBOUND = TrackName.INBOUND
_OUTBOUND = TrackName.OUTBOUND
_NO_SEQUENCE = object()


def media_frame(msg: dict[str, Any]) -> tuple[TrackName, int | None, int | None, bytes]:
    """A whole inbound media frame, Telnyx's or Twilio's: its sequence number checked like any
    number (under either provider's name; its value is not used), then `media_body`.

    The media path of every frame. The shape nearly every frame has (track "inbound" or
    "outbound", sequence number, chunk and timestamp as strings of at most 15 ASCII digits,
    padded base64) is checked here in a few steps; anything else takes the full checks,
    which decide and say what is wrong. Both accept and refuse exactly the same frames."""
    seq = msg.get("sequence_number", _NO_SEQUENCE)
    if seq is _NO_SEQUENCE:
        seq = msg.get("sequenceNumber")
    media = msg.get("media")
    if type(media) is dict:
        name = media.get("track")
        chunk = media.get("chunk")
        stamp = media.get("timestamp")
        payload = media.get("payload")
        # Compared, not looked up: a fresh string would be hashed first.
        track = _INBOUND if name == "inbound" else _OUTBOUND if name == "outbound" else None
        if (track is not None and type(chunk) is str and type(stamp) is str
                and type(payload) is str and len(chunk) <= 15 and len(stamp) <= 15
                and chunk.isascii() and chunk.isdigit() and stamp.isascii() and stamp.isdigit()
                and (seq is None or (type(seq) is str and len(seq) <= 15 and seq.isascii()
                                     and seq.isdigit()))):
            try:
                # Strict base64 is b64decode's first try too; what it refuses (no padding,
                # whitespace, junk) goes to the full checks below.
                return track, int(chunk), int(stamp), _a2b(payload, strict_mode=True)
            except (binascii.Error, ValueError):
                pass
    if seq is not None:
        counter(seq, "sequence number", "bad_sequence")
    return media_body(media)


def parse_common(event: str, msg: dict[str, Any], stream_id: str | None,
                 seq: int | None, provider: str) -> StreamEvent:
    """The frames Telnyx and Twilio shape alike: media, dtmf, mark, stop and error.

    Errors may sit under "payload" (current Telnyx docs) or "error" (older ones), with a
    numeric or string code."""
    if event == "media":
        track, chunk, timestamp, payload = media_body(msg.get("media"))
        return Media(stream_id, track, payload, chunk, timestamp, seq)
    if event == "dtmf":
        dtmf = require_dict(msg.get("dtmf"), "dtmf")
        dtmf_track = dtmf.get("track")
        return Dtmf(
            stream_id,
            dtmf_digit(dtmf.get("digit")),
            opt_str(msg.get("occurred_at"), "occurred_at"),
            track_name(dtmf_track, "dtmf.track") if dtmf_track is not None else None,
            seq,
        )
    if event == "mark":
        mark = require_dict(msg.get("mark"), "mark")
        return Mark(stream_id, as_str(mark.get("name"), "mark.name"), seq)
    if event == "stop":
        return Stopped(stream_id, seq)
    if event == "error":
        body = next((b for b in (msg.get("payload"), msg.get("error")) if isinstance(b, dict)),
                    {})
        try:
            code = counter(body.get("code"), "error.code", "bad_value")
        except FrameError:
            code = None
        # Shown and stored as the provider's words: kept, but never at any length.
        title = str(body.get("title") or body.get("message") or "error")[:MAX_TEXT]
        return ProviderError(stream_id, code, title, str(body.get("detail") or "")[:MAX_VALUE])
    raise FrameError("unknown_event", f"unknown {provider} event {event!r:.40}")


def dtmf_digit(value: Any) -> str:
    digit = as_str(value, "dtmf.digit")
    if len(digit) != 1 or digit not in _DIGITS:
        raise FrameError("bad_value", f"dtmf.digit {digit!r:.20} is not a keypad key")
    return digit.upper()


def custom_parameters(raw: Any) -> dict[str, str]:
    """{name: value} as the start frame carries them; the REST [{name, value}] list too."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [(item["name"], item.get("value", "")) for item in raw
                 if isinstance(item, dict) and "name" in item]
    if len(pairs) > MAX_PARAMS:
        raise FrameError("oversize_field", f"{len(pairs)} custom parameters, over {MAX_PARAMS}")
    params: dict[str, str] = {}
    for key, value in pairs:
        name = key if isinstance(key, str) else str(key)
        text = "" if value is None else value if isinstance(value, str) else str(value)
        if len(name) > MAX_TEXT or len(text) > MAX_VALUE:
            raise FrameError("oversize_field", f"custom parameter {name[:40]!r} is over "
                                               f"{MAX_TEXT} characters or its value over "
                                               f"{MAX_VALUE}")
        params[name] = text
    return params


def tags(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    if len(raw) > MAX_PARAMS:
        raise FrameError("oversize_field", f"{len(raw)} tags, over {MAX_PARAMS}")
    return tuple(as_str(t, "start.tags") if not isinstance(t, (list, dict)) else str(t)[:MAX_TEXT]
                 for t in raw)


def start_tracks(raw: Any) -> tuple[TrackName, ...]:
    if isinstance(raw, list):
        if len(raw) > MAX_PARAMS:
            raise FrameError("oversize_field", f"{len(raw)} tracks named, over {MAX_PARAMS}")
        return tuple(dict.fromkeys(track_name(t, "start.tracks") for t in raw))
    return ()

# Encoding names as providers write them, to the console's canonical names.
_ENCODINGS = {
    "pcmu": "PCMU",
    "audio/x-mulaw": "PCMU",
    "audio/mulaw": "PCMU",
    "audio/pcmu": "PCMU",
    "audio/basic": "PCMU",
    "mulaw": "PCMU",
    "ulaw": "PCMU",
    "g711_ulaw": "PCMU",
    "g711u": "PCMU",
    "pcma": "PCMA",
    "audio/x-alaw": "PCMA",
    "audio/alaw": "PCMA",
    "audio/pcma": "PCMA",
    "alaw": "PCMA",
    "g711_alaw": "PCMA",
    "g711a": "PCMA",
    "l16": "L16",
    "audio/l16": "L16",
    "audio/x-l16": "L16",
    "linear16": "L16",
    "pcm16": "L16",
    "slin": "L16",
    "audio/x-raw": "L16",
    "g722": "G722",
    "audio/g722": "G722",
    "opus": "OPUS",
    "audio/opus": "OPUS",
    "amr-wb": "AMR-WB",
    "amrwb": "AMR-WB",
    "amr_wb": "AMR-WB",
    "audio/amr-wb": "AMR-WB",
}

# Sample rate a codec implies when the frame does not say.
_DEFAULT_RATES = {"PCMU": 8000, "PCMA": 8000, "L16": 8000, "G722": 16000, "OPUS": 48000,
                  "AMR-WB": 16000}


def normalise_format(encoding: Any, sample_rate: Any, channels: Any = 1) -> MediaFormat:
    """Canonical media format from a start frame's own words (e.g. "audio/x-mulaw;rate=8000")."""
    if not isinstance(encoding, str) or not encoding.strip():
        raise FrameError("missing_field", "media format has no encoding")
    raw = encoding.strip()
    base, _, params = raw.partition(";")
    name = _ENCODINGS.get(base.strip().lower(), base.strip().upper())
    rate = as_int(sample_rate, "media_format.sample_rate")
    byte_order: str | None = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        key = key.strip().lower()
        if key == "rate" and rate is None:
            rate = as_int(val.strip(), "media_format rate")
        elif key in ("endianness", "byte-order", "byteorder"):
            byte_order = "little" if val.strip().lower().startswith("little") else "big"
    if base.strip().lower() == "audio/x-raw" and byte_order is None:
        byte_order = "little"  # raw "slin" is little-endian by its providers' docs
    if name == "G722":
        # RTP advertises G.722 at an 8000 Hz clock, but the audio itself is 16 kHz.
        rate = 16000
    if rate is None or rate == 0:
        rate = _DEFAULT_RATES.get(name, 8000)
    elif not 0 < rate <= MAX_RATE:
        raise FrameError("bad_rate", f"sample rate {rate:.6g} Hz is outside 1..{MAX_RATE}")
    chans = as_int(channels, "media_format.channels")
    if chans is None or chans == 0:
        chans = 1
    elif not 0 < chans <= MAX_CHANNELS:
        raise FrameError("bad_channels", f"{chans:.3g} channels is outside 1..{MAX_CHANNELS}")
    return MediaFormat(name, rate, chans, byte_order, raw)
