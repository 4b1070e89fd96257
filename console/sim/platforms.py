"""Each platform's side of one media stream, as the simulator plays it: the frames it writes
(PROTOCOLS.md sections 1-3 and the fixtures in tests/data/protocols/fixtures/<platform>/)
and how it reads what the console sends back.

A `Platform` subclass per platform; one instance per WebSocket stream. The orchestration
(pacing, loss and reordering, the playback queue that echoes marks once the audio before
them has played) is the client's (console/sim/client.py); here are only the words.

Choices made where the documents leave a gap (each marked UNVERIFIED in the fixtures):
- Plivo: no `connected` and no `stop` (the socket just closes); `extra_headers` is repeated
  on every media frame as the fixture shows; a checkpoint's `playedStream` comes only for
  audio that was played, so a clear drops the pending ones and answers `clearedAudio`.
- Exotel: 100 ms chunks; a chunk's timestamp is chunk x 100 ms (the docs' example: chunk 2
  at 200); `media.track` only when both tracks are streamed; a clear returns pending marks
  as Twilio does.
- Vonage: one mixed track (the socket is a participant); the `websocket:connected` form of
  the first frame; a clear answers `websocket:cleared` and drops pending notifies.
- Bandwidth: `sequenceNumber` on media frames (Pipecat's shape), no DTMF, no marks.
- Platforms that cannot set a header on the upgrade (Plivo, Exotel, Vonage, Bandwidth) carry
  the stream token as `?token=` in the URL, as the Connect snippets tell users to.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from random import Random
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from console.audio.codecs import alaw_decode, ulaw_decode
from console.protocol.twilio import signature

__all__ = ["FRAME_S", "PLATFORMS", "Heard", "Platform", "Wire", "platform_for"]

Pcm = npt.NDArray[np.int16]
FRAME_S = 0.02
_ACCOUNT = "AC" + "0" * 31 + "1"


@dataclass(frozen=True)
class Wire:
    """How a stream's audio goes out: codec, rate, L16 byte order, frame length, and whether
    it goes as binary frames (raw bytes) or base64 inside JSON."""

    codec: str
    rate: int
    byte_order: str
    frame_s: float = FRAME_S
    binary: bool = False
    mixed: bool = False  # one track carrying both parties

    @property
    def frame_ms(self) -> int:
        return round(self.frame_s * 1000)


@dataclass
class Heard:
    """One message from the console, as the platform reads it."""

    record: dict[str, Any]  # what StreamResult.received keeps
    kind: str = ""  # "media", "mark", "clear", or "" (nothing to act on)
    audio: bytes = b""  # media payload as it came
    pcm: Pcm | None = None  # the same decoded, 16-bit at `rate`
    rate: int = 8000
    name: str = ""  # a mark's name
    token: Any = None  # what the platform echoes with the mark (Vonage's notify payload)
    problem: str | None = None  # what the platform would complain about
    whole: bool = False  # a whole recording (an MP3 file), not one frame of a live stream

    @property
    def seconds(self) -> float:
        return 0.0 if self.pcm is None else self.pcm.size / self.rate


def decode(codec: str, rate: int, byte_order: str, data: bytes) -> tuple[Pcm | None, int]:
    """Audio the console sent, as the platform would play it: (16-bit samples, rate); None
    for a codec the simulator does not decode (G722, OPUS: kept as received only)."""
    if codec == "PCMU":
        return ulaw_decode(data), 8000
    if codec == "PCMA":
        return alaw_decode(data), 8000
    if codec == "L16":
        usable = data[: len(data) - len(data) % 2]
        dtype = "<i2" if byte_order == "little" else ">i2"
        return np.frombuffer(usable, dtype).astype(np.int16), rate
    if codec == "MP3":
        from console.audio.mp3 import decode_mp3

        pcm, mp3_rate = decode_mp3(data)  # Mp3Error (a ValueError) if it is not one
        return pcm, mp3_rate
    return None, rate


def _uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("token", token)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query),
                       parts.fragment))


def _json(text: str | bytes) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(message, record): the message when it is a JSON object, else None and why."""
    if isinstance(text, bytes):
        return None, {"binary": len(text)}
    try:
        msg = json.loads(text)
    except ValueError:
        return None, {"invalid": text[:200]}
    if not isinstance(msg, dict):
        return None, {"invalid": text[:200]}
    return msg, msg


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


class Platform:
    """One stream as the platform writes and reads it. Twilio-shaped by default."""

    name: ClassVar[str]
    # Codec -> the rates the platform streams it at (the first is the default).
    codecs: ClassVar[dict[str, tuple[int, ...]]] = {"PCMU": (8000,)}
    default_codec: ClassVar[str] = "PCMU"
    frame_s: ClassVar[float] = FRAME_S
    binary: ClassVar[bool] = False
    byte_order: ClassVar[str | None] = None  # L16 byte order the platform fixes, if it does
    can_split: ClassVar[bool] = True  # one stream per party's leg
    has_stop: ClassVar[bool] = True
    counts_chunks: ClassVar[bool] = True  # frames carry a counter the console reorders by
    clear_returns_marks: ClassVar[bool] = True  # a clear sends back the marks still pending

    def __init__(self, call_key: str, leg: str, tracks: tuple[str, ...], wire: Wire,
                 numbers: tuple[str, str], params: dict[str, str], rng: Random) -> None:
        self.call_key, self.leg, self.tracks, self.wire = call_key, leg, tracks, wire
        self.from_number, self.to_number = numbers
        self.params = params
        self.stream_id = self.new_stream_id(rng)
        self.seq = 0

    # --- what the platform is ---------------------------------------------------------

    @classmethod
    def wire_for(cls, codec: str, rate: int, byte_order: str) -> Wire:
        """The stream's wire format, or ValueError naming what the platform streams."""
        codec = (codec or cls.default_codec).upper()
        rates = cls.codecs.get(codec)
        if rates is None:
            raise ValueError(f"{cls.name} does not stream {codec}; it streams "
                             + ", ".join(cls.codecs))
        rate = rate or rates[0]
        if rate not in rates:
            raise ValueError(f"{cls.name} streams {codec} at "
                             + " or ".join(f"{r} Hz" for r in rates) + f", not {rate} Hz")
        return Wire(codec, rate, cls.byte_order or byte_order, cls.frame_s, cls.binary,
                    mixed=not cls.can_split)

    @classmethod
    def new_call_key(cls, rng: Random) -> str:
        return _uuid(rng)

    def new_stream_id(self, rng: Random) -> str:
        return _uuid(rng)

    @classmethod
    def handshake(cls, url: str, token: str, twilio_auth_token: str = ""
                  ) -> tuple[str, dict[str, str]]:
        """URL and headers of the upgrade: a token in the URL unless the platform can send
        a header (the subclasses that can say which)."""
        return (_with_token(url, token) if token else url), {}

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _extra(self) -> dict[str, str]:
        """Custom parameters: `leg`, then the caller's ("agent:name" on that leg only)."""
        out = {"leg": self.leg}
        for key, value in self.params.items():
            leg, _, name = key.rpartition(":")
            if not leg or leg == self.leg:
                out[name] = value
        return out

    # --- frames the platform writes ---------------------------------------------------

    def start_frames(self) -> list[str]:
        raise NotImplementedError

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> str | bytes:
        raise NotImplementedError

    def dtmf_frame(self, digit: str) -> str | None:
        return None

    def stop_frame(self) -> str | None:
        return None

    # --- what the console sends back --------------------------------------------------

    def read(self, raw: str | bytes) -> Heard:
        raise NotImplementedError

    def mark_played(self, heard: Heard) -> str | None:
        """The frame saying a mark's audio has played (None: the platform has no marks)."""
        return None

    def clear_done(self) -> str | None:
        """The frame acknowledging a clear, if the platform sends one."""
        return None

    def _twilio_like(self, msg: dict[str, Any], id_key: str | None, codec: str, rate: int
                     ) -> Heard:
        """media / mark / clear as Twilio, Telnyx, SignalWire and Exotel take them."""
        heard = Heard(msg)
        if id_key is not None and msg.get(id_key) != self.stream_id:
            heard.problem = f"{msg.get('event')!r} without this stream's {id_key}"
        event = msg.get("event")
        if event == "media":
            media = msg.get("media")
            data = _b64(media.get("payload")) if isinstance(media, dict) else None
            if data is None:
                heard.problem = "media without a base64 payload"
                return heard
            heard.kind, heard.audio, heard.whole = "media", data, codec == "MP3"
            try:
                heard.pcm, heard.rate = decode(codec, rate, self.wire.byte_order, data)
            except ValueError as exc:  # an MP3 message that is not an MP3 file
                heard.problem = str(exc)
        elif event == "mark":
            mark = msg.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if isinstance(name, str):
                heard.kind, heard.name = "mark", name
            else:
                heard.problem = "mark without a name"
        elif event == "clear":
            heard.kind = "clear"
        else:
            heard.problem = f"{self.name} takes no {event!r} message"
        return heard


class Telnyx(Platform):
    name = "telnyx"
    _last_mp3: float | None = None  # when the last MP3 message came (MP3 mode)
    codecs: ClassVar[dict[str, tuple[int, ...]]] = {
        "PCMU": (8000,), "PCMA": (8000,), "L16": (16000, 8000), "G722": (16000,),
        "OPUS": (16000,)}

    @classmethod
    def handshake(cls, url: str, token: str, twilio_auth_token: str = ""
                  ) -> tuple[str, dict[str, str]]:
        return url, ({"x-telnyx-streaming-auth-token": token} if token else {})

    def start_frames(self) -> list[str]:
        w = self.wire
        return [
            json.dumps({"event": "connected", "version": "1.0.0"}),
            json.dumps({"event": "start", "sequence_number": str(self._next_seq()),
                        "stream_id": self.stream_id, "start": {
                            "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
                            "call_control_id": f"v3:{self.stream_id}-{self.leg}",
                            "call_session_id": self.call_key,
                            "from": self.from_number, "to": self.to_number,
                            "custom_parameters": self._extra(),
                            "media_format": {"encoding": w.codec, "sample_rate": w.rate,
                                             "channels": 1}}}),
        ]

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> str:
        ts = (chunk - 1) * self.wire.frame_ms
        return (f'{{"event":"media","sequence_number":"{self._next_seq()}","stream_id":'
                f'"{self.stream_id}","media":{{"track":"{track}","chunk":"{chunk}",'
                f'"timestamp":"{ts}","payload":"{payload!s}"}}}}')

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "stream_id": self.stream_id,
                           "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                        time.gmtime()),
                           "sequence_number": str(self._next_seq()), "dtmf": {"digit": digit}})

    def stop_frame(self) -> str:
        return json.dumps({"event": "stop", "sequence_number": str(self._next_seq()),
                           "stop": {"call_control_id": f"v3:{self.stream_id}-{self.leg}"},
                           "stream_id": self.stream_id})

    def _return_format(self) -> tuple[str, int]:
        """What the stream was asked to take back (its stream_bidirectional_* parameters):
        MP3 files in MP3 mode, else the codec at its rate; PCMU at 8 kHz by default."""
        params = {k.lower(): v for k, v in self._extra().items()}
        mode = params.get("bidirectional_mode") or params.get("stream_bidirectional_mode")
        if mode and mode.lower() == "mp3":
            return "MP3", 0
        codec = (params.get("bidirectional_codec") or params.get("stream_bidirectional_codec")
                 or "PCMU").upper()
        rate = params.get("bidirectional_sampling_rate") or params.get(
            "stream_bidirectional_sampling_rate") or "8000"
        return codec, int(rate) if rate.isdigit() else 8000

    def read(self, raw: str | bytes) -> Heard:
        msg, record = _json(raw)
        if msg is None:
            return Heard(record, problem="Telnyx takes JSON text frames only")
        codec, rate = self._return_format()
        heard = self._twilio_like(msg, None, codec, rate)
        if heard.kind == "media" and codec == "MP3":
            now = time.monotonic()
            last, self._last_mp3 = self._last_mp3, now
            if last is not None and now - last < 1.0 and heard.problem is None:
                heard.problem = ("Telnyx takes at most one MP3 message a second "
                                 f"(error 100005); this one came {now - last:.2f} s after")
        return heard

    def mark_played(self, heard: Heard) -> str:
        return json.dumps({"event": "mark", "stream_id": self.stream_id,
                           "sequence_number": str(self._next_seq()),
                           "mark": {"name": heard.name}})


class Twilio(Platform):
    name = "twilio"

    @classmethod
    def new_call_key(cls, rng: Random) -> str:
        return "CA" + uuid.UUID(int=rng.getrandbits(128)).hex

    def new_stream_id(self, rng: Random) -> str:
        return "MZ" + uuid.UUID(int=rng.getrandbits(128)).hex

    @classmethod
    def handshake(cls, url: str, token: str, twilio_auth_token: str = ""
                  ) -> tuple[str, dict[str, str]]:
        if twilio_auth_token:
            parts = urlsplit(url)
            signed = f"{parts.scheme}://{parts.netloc}{parts.path}"
            return url, {"X-Twilio-Signature": signature(twilio_auth_token, signed)}
        return url, ({"Authorization": f"Bearer {token}"} if token else {})

    def _account(self) -> str:
        return _ACCOUNT

    def _media_format(self) -> dict[str, Any]:
        return {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}

    def start_frames(self) -> list[str]:
        params = {"leg": self.leg, "from": self.from_number, "to": self.to_number,
                  **self._extra()}
        return [
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            json.dumps({"event": "start", "sequenceNumber": str(self._next_seq()), "start": {
                "accountSid": self._account(), "streamSid": self.stream_id,
                "callSid": self.call_key, "tracks": list(self.tracks),
                "customParameters": params, "mediaFormat": self._media_format()},
                "streamSid": self.stream_id}),
        ]

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> str:
        ts = (chunk - 1) * self.wire.frame_ms
        return (f'{{"event":"media","sequenceNumber":"{self._next_seq()}","media":'
                f'{{"track":"{track}","chunk":"{chunk}","timestamp":"{ts}",'
                f'"payload":"{payload!s}"}},"streamSid":"{self.stream_id}"}}')

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "streamSid": self.stream_id,
                           "sequenceNumber": str(self._next_seq()),
                           "dtmf": {"track": "inbound_track", "digit": digit}})

    def stop_frame(self) -> str:
        return json.dumps({"event": "stop", "sequenceNumber": str(self._next_seq()),
                           "stop": {"accountSid": self._account(), "callSid": self.call_key},
                           "streamSid": self.stream_id})

    def read(self, raw: str | bytes) -> Heard:
        msg, record = _json(raw)
        if msg is None:  # Twilio's warning 31950
            return Heard(record, problem=f"{self.name} takes JSON text frames only")
        # Audio back is always mu-law at 8 kHz (PROTOCOLS.md 2.1), whatever the stream is.
        return self._twilio_like(msg, "streamSid", "PCMU", 8000)

    def mark_played(self, heard: Heard) -> str:
        return json.dumps({"event": "mark", "sequenceNumber": str(self._next_seq()),
                           "streamSid": self.stream_id, "mark": {"name": heard.name}})


class SignalWire(Twilio):
    """Twilio's frames with UUID sids (signalwire.looks_like) and the cXML `codec`
    attribute's L16; the bearer token of `authBearerToken` on the upgrade (UNVERIFIED
    header, presumably Authorization)."""

    name = "signalwire"
    codecs: ClassVar[dict[str, tuple[int, ...]]] = {"PCMU": (8000,), "L16": (16000, 8000)}

    @classmethod
    def new_call_key(cls, rng: Random) -> str:
        return _uuid(rng)

    def new_stream_id(self, rng: Random) -> str:
        return _uuid(rng)

    @classmethod
    def handshake(cls, url: str, token: str, twilio_auth_token: str = ""
                  ) -> tuple[str, dict[str, str]]:
        return url, ({"Authorization": f"Bearer {token}"} if token else {})

    def _account(self) -> str:
        # The Project ID, a UUID like every SignalWire sid; made from the call's.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "signalwire-project:" + self.call_key))

    def _media_format(self) -> dict[str, Any]:
        if self.wire.codec == "L16":  # the codec attribute's spelling (UNVERIFIED here)
            return {"encoding": f"L16@{self.wire.rate}h", "sampleRate": self.wire.rate,
                    "channels": 1}
        return super()._media_format()


class Plivo(Platform):
    name = "plivo"
    codecs: ClassVar[dict[str, tuple[int, ...]]] = {"L16": (8000, 16000), "PCMU": (8000,)}
    default_codec = "L16"  # contentType audio/x-l16;rate=8000 is Plivo's default
    has_stop = False  # the socket just closes
    clear_returns_marks = False  # playedStream only for audio played; clearedAudio instead

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch_ms = int(time.time() * 1000)
        self._account = "MA" + uuid.uuid5(uuid.NAMESPACE_URL, self.call_key).hex[:18].upper()
        self._content_type: str | None = None

    def _headers(self) -> str:
        # extraHeaders are `k=v` pairs, alphanumeric: numbers lose their "+".
        pairs = {**self._extra(), "from": self.from_number.lstrip("+"),
                 "to": self.to_number.lstrip("+")}
        return ",".join(f"{k}={v}" for k, v in pairs.items())

    def start_frames(self) -> list[str]:
        encoding = "audio/x-l16" if self.wire.codec == "L16" else "audio/x-mulaw"
        return [json.dumps({"event": "start", "sequenceNumber": self._next_seq(), "start": {
            "callId": self.call_key, "streamId": self.stream_id, "accountId": self._account,
            "tracks": list(self.tracks),
            "mediaFormat": {"encoding": encoding, "sampleRate": self.wire.rate}},
            "extra_headers": self._headers()})]

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> str:
        return json.dumps({"event": "media", "sequenceNumber": self._next_seq(),
                           "streamId": self.stream_id, "media": {
                               "track": track,
                               "timestamp": str(self.epoch_ms + (chunk - 1) * self.wire.frame_ms),
                               "chunk": chunk, "payload": payload},
                           "extra_headers": self._headers()})

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "sequenceNumber": self._next_seq(),
                           "streamId": self.stream_id, "dtmf": {"digit": digit}})

    def read(self, raw: str | bytes) -> Heard:
        msg, record = _json(raw)
        if msg is None:
            return Heard(record, problem="Plivo takes JSON text frames only")
        heard = Heard(msg)
        event = msg.get("event")
        if event in ("checkpoint", "clearAudio") and msg.get("streamId") != self.stream_id:
            heard.problem = f"{event} without this stream's streamId"
        if event == "playAudio":
            self._play(msg, heard)
        elif event == "checkpoint":
            if isinstance(msg.get("name"), str):
                heard.kind, heard.name = "mark", msg["name"]
            else:
                heard.problem = "checkpoint without a name"
        elif event == "clearAudio":
            heard.kind = "clear"
        else:
            heard.problem = f"Plivo takes no {event!r} event"
        return heard

    def _play(self, msg: dict[str, Any], heard: Heard) -> None:
        media = msg.get("media")
        if not isinstance(media, dict):
            heard.problem = "playAudio without media"
            return
        data = _b64(media.get("payload"))
        ctype, rate = media.get("contentType"), media.get("sampleRate")
        if data is None:
            heard.problem = "playAudio without a base64 payload"
            return
        if ctype == "audio/x-mulaw" and rate == 8000:
            codec = "PCMU"
        elif ctype == "audio/x-l16" and rate in (8000, 16000):
            codec = "L16"
        else:
            heard.problem = f"Plivo cannot play {ctype!r} at {rate!r} Hz"
            return
        if self._content_type is None:
            self._content_type = f"{ctype};{rate}"
        elif self._content_type != f"{ctype};{rate}":
            heard.problem = "playAudio changed its contentType or sampleRate mid-stream"
        heard.kind, heard.audio = "media", data
        heard.pcm, heard.rate = decode(codec, rate, self.wire.byte_order, data)

    def mark_played(self, heard: Heard) -> str:
        return json.dumps({"event": "playedStream", "streamId": self.stream_id,
                           "name": heard.name})

    def clear_done(self) -> str:
        return json.dumps({"sequenceNumber": self._next_seq(), "event": "clearedAudio",
                           "streamId": self.stream_id})


class Exotel(Platform):
    name = "exotel"
    # slin (audio/x-raw): 16-bit little-endian
    codecs: ClassVar[dict[str, tuple[int, ...]]] = {"L16": (8000, 16000, 24000)}
    default_codec = "L16"
    byte_order = "little"
    frame_s = 0.1  # Exotel sends about every 100 ms

    @classmethod
    def new_call_key(cls, rng: Random) -> str:
        return uuid.UUID(int=rng.getrandbits(128)).hex  # 32 hex digits, like its CallSid

    def new_stream_id(self, rng: Random) -> str:
        return uuid.UUID(int=rng.getrandbits(128)).hex

    def start_frames(self) -> list[str]:
        return [
            json.dumps({"event": "connected"}),
            json.dumps({"event": "start", "sequence_number": str(self._next_seq()),
                        "stream_sid": self.stream_id, "start": {
                            "stream_sid": self.stream_id, "call_sid": self.call_key,
                            "account_sid": "coachsim1", "from": self.from_number,
                            "to": self.to_number, "custom_parameters": self._extra(),
                            "media_format": {"encoding": "audio/x-raw",
                                             "sample_rate": str(self.wire.rate),
                                             "bit_rate": "16"}}}),
        ]

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> str:
        media: dict[str, Any] = {"chunk": str(chunk), "timestamp": str(chunk * self.wire.frame_ms),
                                 "payload": payload}
        if len(self.tracks) > 1:  # `track` only when both are streamed
            media = {"track": track, **media}
        return json.dumps({"event": "media", "sequence_number": str(self._next_seq()),
                           "stream_sid": self.stream_id, "media": media})

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "sequence_number": str(self._next_seq()),
                           "stream_sid": self.stream_id,
                           "dtmf": {"digit": digit, "duration": "100"}})

    def stop_frame(self) -> str:
        return json.dumps({"event": "stop", "sequence_number": str(self._next_seq()),
                           "stream_sid": self.stream_id,
                           "stop": {"call_sid": self.call_key, "account_sid": "coachsim1",
                                    "reason": "callended"}})

    def read(self, raw: str | bytes) -> Heard:
        msg, record = _json(raw)
        if msg is None:
            return Heard(record, problem="Exotel takes JSON text frames only")
        # Back: the stream's own raw slin (exotel.py), whole 320-byte blocks, <= 100 KB.
        heard = self._twilio_like(msg, "stream_sid", "L16", self.wire.rate)
        size = len(heard.audio)
        if heard.kind == "media" and (size % 320 or size > 100_000) and heard.problem is None:
            heard.problem = (f"Exotel plays whole 320-byte blocks up to 100 KB; {size} bytes "
                             "leave a gap")
        return heard

    def mark_played(self, heard: Heard) -> str:
        return json.dumps({"event": "mark", "sequence_number": str(self._next_seq()),
                           "stream_sid": self.stream_id, "mark": {"name": heard.name}})


class Vonage(Platform):
    """A participant of the conversation: it hears everyone else mixed as one track, in
    binary frames of 16-bit little-endian PCM after one JSON text frame."""

    name = "vonage"
    codecs: ClassVar[dict[str, tuple[int, ...]]] = {"L16": (16000, 8000)}
    default_codec = "L16"
    byte_order = "little"
    binary = True
    can_split = False
    has_stop = False
    counts_chunks = False
    clear_returns_marks = False  # UNVERIFIED: websocket:cleared stands for what was dropped

    @classmethod
    def new_call_key(cls, rng: Random) -> str:
        return "CON-" + _uuid(rng)

    def start_frames(self) -> list[str]:
        # The NCCO `headers` the answer webhook filled in, merged with the content-type.
        return [json.dumps({"event": "websocket:connected",
                            "content-type": f"audio/l16;rate={self.wire.rate}",
                            "uuid": self.stream_id, "conversation_uuid": self.call_key,
                            "from": self.from_number, "to": self.to_number,
                            **self._extra()})]

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> bytes:
        assert isinstance(payload, bytes)
        return payload

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"event": "websocket:dtmf", "digit": digit, "duration": 260})

    def read(self, raw: str | bytes) -> Heard:
        if isinstance(raw, bytes):
            heard = Heard({"binary": len(raw)}, "media", raw)
            if len(raw) % 2:
                heard.problem = f"{len(raw)} bytes are not whole 16-bit samples"
            heard.pcm, heard.rate = decode("L16", self.wire.rate, "little", raw)
            return heard
        msg, record = _json(raw)
        if msg is None:
            return Heard(record, problem="not a JSON command")
        heard = Heard(msg)
        action = msg.get("action")
        if action == "clear":
            heard.kind = "clear"
        elif action == "notify":
            payload = msg.get("payload")
            name = payload.get("marker", payload.get("name")) if isinstance(payload, dict) \
                else payload
            heard.kind, heard.name, heard.token = "mark", str(name), payload
        else:
            heard.problem = f"Vonage takes no {action!r} action"
        return heard

    def mark_played(self, heard: Heard) -> str:
        return json.dumps({"event": "websocket:notify", "payload": heard.token})

    def clear_done(self) -> str:
        return json.dumps({"event": "websocket:cleared"})


class Bandwidth(Platform):
    name = "bandwidth"
    counts_chunks = False  # media frames carry no chunk
    clear_returns_marks = False  # no marks at all

    @classmethod
    def new_call_key(cls, rng: Random) -> str:
        u = uuid.UUID(int=rng.getrandbits(128), version=4)
        return f"c-{u.hex[:8]}-{u}"

    def new_stream_id(self, rng: Random) -> str:
        return "s-" + _uuid(rng)

    def _metadata(self) -> dict[str, Any]:
        return {"accountId": "5555555", "callId": self.call_key, "streamId": self.stream_id,
                "streamName": f"coach-{self.leg}"}

    def start_frames(self) -> list[str]:
        fmt = {"encoding": "audio/PCMU", "sampleRate": 8000}
        params = {**self._extra(), "from": self.from_number, "to": self.to_number}
        return [json.dumps({"eventType": "start", "metadata": {
            **self._metadata(),
            "tracks": [{"name": t, "mediaFormat": fmt} for t in self.tracks]},
            "streamParams": params})]

    def media_frame(self, track: str, chunk: int, payload: str | bytes) -> str:
        return json.dumps({"eventType": "media", "track": track,
                           "sequenceNumber": self._next_seq(), "payload": payload})

    def stop_frame(self) -> str:
        return json.dumps({"eventType": "stop", "metadata": self._metadata()})

    def read(self, raw: str | bytes) -> Heard:
        msg, record = _json(raw)
        if msg is None:
            return Heard(record, problem="Bandwidth takes JSON text frames only")
        heard = Heard(msg)
        event = msg.get("eventType")
        if event == "clear":
            heard.kind = "clear"
            return heard
        if event != "playAudio":
            heard.problem = f"Bandwidth takes no {event!r} event"
            return heard
        media = msg.get("media")
        data = _b64(media.get("payload")) if isinstance(media, dict) else None
        if data is None or not isinstance(media, dict):
            heard.problem = "playAudio without a base64 payload"
            return heard
        ctype = str(media.get("contentType", "")).replace(" ", "").lower()
        if ctype == "audio/pcmu":
            codec, rate = "PCMU", 8000
        elif ctype.startswith("audio/pcm;rate=") and ctype[15:].isdigit():
            codec, rate = "L16", int(ctype[15:])
        else:
            heard.problem = f"Bandwidth cannot play {media.get('contentType')!r}"
            return heard
        heard.kind, heard.audio = "media", data
        heard.pcm, heard.rate = decode(codec, rate, self.wire.byte_order, data)
        return heard


PLATFORMS: dict[str, type[Platform]] = {
    p.name: p for p in (Telnyx, Twilio, Plivo, Exotel, Vonage, SignalWire, Bandwidth)}


def platform_for(name: str) -> type[Platform]:
    found = PLATFORMS.get(name.lower())
    if found is None:
        raise ValueError(f"no platform named {name!r}; the simulator plays "
                         + ", ".join(PLATFORMS))
    return found
