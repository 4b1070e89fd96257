"""Bandwidth BXML `<StartStream>` WebSocket frames (PROTOCOLS.md section 3.5).

Every frame shape here is UNVERIFIED (the fixtures say so); they follow Bandwidth's
api-docs "Websocket Packet Format" as PROTOCOLS.md records it, read leniently:
- `{"eventType": "start", "metadata": {accountId, callId, streamId, streamName, tracks:
  [{name, mediaFormat: {encoding "audio/PCMU", sampleRate 8000}}]}, "streamParams": {..}}`;
- `{"eventType": "media", "track", "payload"}`, maybe with a `sequenceNumber` (Pipecat sends
  one; the docs table does not), as a number or a string;
- `{"eventType": "stop", "metadata"?}`. No DTMF and no marks on the socket.
Back: `{"eventType": "playAudio", "media": {"contentType": "audio/pcmu" or
"audio/pcm;rate=N", "payload"}}` and `{"eventType": "clear"}`. Bandwidth has no mark: a
SendMark raises FrameError("not_supported").

Ids: the stream id is `metadata.streamId` (else the call id), the call key `metadata.callId`.
Media frames carry no stream id (None; `metadata.streamId` is taken if one appears) and no
chunk counter: `sequenceNumber`, when sent, may count every message of the stream, so it is
kept as the frame's sequence, never as a per-track chunk (it would show false gaps).

Tracks (documented): `inbound` is media the platform receives from the call executing the
BXML, `outbound` media it sends to that call [BW1]. The socket itself carries no auth: put
a token in a `<StreamParam>` and check it from `custom_parameters` (`streamParams`).

Reach rule: only a stream started with `mode="bidirectional"` [BW3] takes audio back
(`SENDS_AUDIO_BACK` means "can, on such a stream"). [inference] What is sent plays to the
call executing the BXML, i.e. the party on the stream's leg, as on Twilio; whether a bridged
peer hears it too, and whether `clear` also drops audio queued before it, are not
documented here. PCM's byte order is not documented: L16 streams leave it unset.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from console.core.events import (
    Command,
    Media,
    MediaFormat,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    Stopped,
    StreamEvent,
    TrackName,
)
from console.protocol.base import (
    MAX_PARAMS,
    FrameError,
    b64decode,
    counter,
    custom_parameters,
    normalise_format,
    opt_str,
    require_dict,
    track_name,
)

__all__ = ["HAS_CLEAR", "HAS_MARK", "SENDS_AUDIO_BACK", "encode_command", "looks_like",
           "parse"]

SENDS_AUDIO_BACK = True  # with <StartStream mode="bidirectional"> only
HAS_MARK = False
HAS_CLEAR = True

_EVENTS = frozenset(("start", "media", "stop"))
_BOTH = frozenset(("both", "both_tracks"))


def looks_like(msg: dict[str, Any]) -> bool:
    """camelCase `eventType` (every other platform says `event`) naming a stream frame, or
    Bandwidth's `metadata` object with its ids."""
    if msg.get("eventType") in _EVENTS:
        return True
    meta = msg.get("metadata")
    return ("eventType" in msg and isinstance(meta, dict)
            and ("streamId" in meta or "callId" in meta))


def parse(msg: dict[str, Any]) -> StreamEvent:
    event = msg.get("eventType")
    if event is None:
        event = msg.get("event")  # lenient: the unverified shape may name it so
    if event is None:
        raise FrameError("missing_field", "frame has no eventType")
    if not isinstance(event, str):
        raise FrameError("wrong_type", "eventType must be a string")
    meta = msg.get("metadata")
    if meta is not None:
        meta = require_dict(meta, "metadata")
    seq = counter(msg.get("sequenceNumber"), "sequenceNumber", "bad_sequence")
    if event == "start":
        return _start(msg, meta or {}, seq)
    stream_id = _stream_id(msg, meta)
    if event == "media":
        track = msg.get("track")
        media = msg.get("media")
        # Lenient: a Twilio-like nested `media` object, if that is what arrives.
        body = media if isinstance(media, dict) and "payload" not in msg else msg
        if track is None:
            track = body.get("track")
        return Media(
            stream_id,
            TrackName.INBOUND if track is None else track_name(track, "track"),
            b64decode(body.get("payload"), "payload"),
            None,
            counter(body.get("timestamp"), "timestamp", "bad_timestamp"),
            seq,
        )
    if event == "stop":
        return Stopped(stream_id, seq)
    raise FrameError("unknown_event", f"unknown Bandwidth event {event!r:.40}")


def _stream_id(msg: dict[str, Any], meta: dict[str, Any] | None) -> str | None:
    found = opt_str(msg.get("streamId"), "streamId")
    if found is None and meta is not None:
        found = opt_str(meta.get("streamId"), "metadata.streamId")
    return found


def _start(msg: dict[str, Any], meta: dict[str, Any], seq: int | None) -> Started:
    call_id = opt_str(meta.get("callId"), "metadata.callId")
    stream_id = _stream_id(msg, meta) or call_id
    if not stream_id:
        raise FrameError("missing_field", "start frame has no metadata.streamId or callId")
    tracks, fmt = _tracks(meta.get("tracks"))
    params = custom_parameters(msg.get("streamParams"))
    return Started(
        provider=Provider.BANDWIDTH,
        stream_id=stream_id,
        call_key=call_id or stream_id,
        media_format=fmt,
        tracks=tracks,
        call_control_id=call_id,
        account_id=opt_str(meta.get("accountId"), "metadata.accountId"),
        # Not in the documented start frame; taken when present, else from the params.
        from_number=opt_str(meta.get("from"), "metadata.from") or params.get("from"),
        to_number=opt_str(meta.get("to"), "metadata.to") or params.get("to"),
        custom_parameters=params,
        sequence=seq,
    )


def _tracks(raw: Any) -> tuple[tuple[TrackName, ...], MediaFormat]:
    """Track names and the media format (the first track's; Bandwidth gives each track
    one, the same for both). Missing: one inbound track of μ-law at 8 kHz, the default."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise FrameError("wrong_type", "metadata.tracks must be a list")
    if len(raw) > MAX_PARAMS:
        raise FrameError("oversize_field", f"{len(raw)} tracks named, over {MAX_PARAMS}")
    names: list[TrackName] = []
    fmt_obj: dict[str, Any] | None = None
    for item in raw:
        entry = require_dict(item, "metadata.tracks[]")
        name = entry.get("name")
        if isinstance(name, str) and name.strip().lower() in _BOTH:
            names += [TrackName.INBOUND, TrackName.OUTBOUND]
        elif name is not None:
            names.append(track_name(name, "metadata.tracks[].name"))
        if fmt_obj is None and entry.get("mediaFormat") is not None:
            fmt_obj = require_dict(entry["mediaFormat"], "metadata.tracks[].mediaFormat")
    fmt_obj = fmt_obj or {}
    encoding = fmt_obj.get("encoding")
    if encoding is None:
        encoding = "audio/PCMU"
    return tuple(dict.fromkeys(names)), _format(encoding, fmt_obj.get("sampleRate"))


def _format(encoding: Any, rate: Any) -> MediaFormat:
    if isinstance(encoding, str):
        base, sep, rest = encoding.strip().partition(";")
        if base.strip().lower() == "audio/pcm":  # Bandwidth's name for 16-bit linear PCM
            fmt = normalise_format("audio/L16" + sep + rest, rate)
            return replace(fmt, raw_encoding=encoding.strip())
    return normalise_format(encoding, rate)


def encode_command(command: Command, stream_id: str | None = None,
                   media_format: MediaFormat | None = None) -> str:
    """playAudio in the stream's format: PCMU unless `media_format` says L16 (sent as
    Bandwidth's "audio/pcm;rate=N"). Bandwidth frames name no stream."""
    if isinstance(command, SendMedia):
        payload = base64.b64encode(command.payload).decode("ascii")
        content = "audio/pcmu"
        if media_format is not None and media_format.encoding == "L16":
            content = f"audio/pcm;rate={media_format.sample_rate}"
        elif media_format is not None and media_format.encoding != "PCMU":
            raise FrameError("not_supported", f"Bandwidth cannot play {media_format.encoding} "
                                              "(it takes audio/pcmu or audio/pcm)")
        return json.dumps({"eventType": "playAudio",
                           "media": {"contentType": content, "payload": payload}})
    if isinstance(command, SendMark):
        raise FrameError("not_supported", "Bandwidth cannot mark a point in played audio "
                                          "(its stream protocol has no mark event)")
    if isinstance(command, SendClear):
        return json.dumps({"eventType": "clear"})
    raise TypeError(f"not a command: {command!r}")
