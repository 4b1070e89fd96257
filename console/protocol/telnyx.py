"""Telnyx Media Streaming frames (PROTOCOLS.md section 1)."""

from __future__ import annotations

import base64
import json
from typing import Any

from console.core.events import (
    Command,
    Connected,
    Dtmf,
    Mark,
    Media,
    Provider,
    ProviderError,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    Stopped,
    StreamEvent,
    TrackName,
)
from console.protocol.base import (
    FrameError,
    as_int,
    as_str,
    media_body,
    normalise_format,
    opt_str,
    require_dict,
    track_name,
)

__all__ = ["encode_command", "looks_like", "parse"]

AUTH_HEADER = "x-telnyx-streaming-auth-token"


def looks_like(msg: dict[str, Any]) -> bool:
    """True when a frame is unmistakably Telnyx's (snake_case ids at the top level)."""
    if "stream_id" in msg:
        return True
    start = msg.get("start")
    return isinstance(start, dict) and "call_control_id" in start


def parse(msg: dict[str, Any]) -> StreamEvent:
    event = msg.get("event")
    if not isinstance(event, str):
        raise FrameError("missing_field", "frame has no event name")
    stream_id = opt_str(msg.get("stream_id"), "stream_id")
    seq = as_int(msg.get("sequence_number"), "sequence_number")
    if event == "media":
        track, chunk, timestamp, payload = media_body(msg.get("media"))
        return Media(stream_id, track, payload, chunk, timestamp, seq)
    if event == "start":
        return _start(msg, stream_id, seq)
    if event == "connected":
        inner = msg.get("connected")
        token = None
        if isinstance(inner, dict):
            token = opt_str(inner.get(AUTH_HEADER), "connected token")
        return Connected(Provider.TELNYX, opt_str(msg.get("version"), "version"), token)
    if event == "dtmf":
        dtmf = require_dict(msg.get("dtmf"), "dtmf")
        digit = as_str(dtmf.get("digit"), "dtmf.digit")
        dtmf_track = dtmf.get("track")
        return Dtmf(
            stream_id,
            digit,
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
        # Current docs put the error under "payload", older ones under "error".
        body = msg.get("payload")
        if not isinstance(body, dict):
            body = msg.get("error")
        body = require_dict(body if body is not None else {}, "error")
        code_raw = body.get("code")
        try:
            code = as_int(code_raw, "error.code")
        except FrameError:
            code = None
        return ProviderError(
            stream_id,
            code,
            str(body.get("title") or "error"),
            str(body.get("detail") or ""),
        )
    raise FrameError("unknown_event", f"unknown Telnyx event {event!r:.40}")


def _start(msg: dict[str, Any], stream_id: str | None, seq: int | None) -> Started:
    start = require_dict(msg.get("start"), "start")
    if stream_id is None:
        # Some integrations nest it; the docs keep it at the top level.
        stream_id = opt_str(start.get("stream_id"), "start.stream_id")
    if not stream_id:
        raise FrameError("missing_field", "start frame has no stream_id")
    fmt_obj = require_dict(start.get("media_format") or {}, "start.media_format")
    if not fmt_obj:
        raise FrameError("missing_field", "start frame has no media_format")
    fmt = normalise_format(
        fmt_obj.get("encoding"), fmt_obj.get("sample_rate"), fmt_obj.get("channels", 1)
    )
    call_control_id = opt_str(start.get("call_control_id"), "start.call_control_id")
    session = opt_str(start.get("call_session_id"), "start.call_session_id")
    params_raw = start.get("custom_parameters")
    params: dict[str, str] = {}
    if isinstance(params_raw, dict):
        params = {str(k): "" if v is None else str(v) for k, v in params_raw.items()}
    elif isinstance(params_raw, list):
        # The REST request's [{name, value}] shape, in case it is passed through as is.
        for item in params_raw:
            if isinstance(item, dict) and "name" in item:
                params[str(item["name"])] = str(item.get("value", ""))
    tags_raw = start.get("tags")
    tags = tuple(str(t) for t in tags_raw) if isinstance(tags_raw, list) else ()
    tracks_raw = start.get("tracks")
    tracks: tuple[TrackName, ...] = ()
    if isinstance(tracks_raw, list):
        tracks = tuple(track_name(t, "start.tracks") for t in tracks_raw)
    return Started(
        provider=Provider.TELNYX,
        stream_id=stream_id,
        call_key=session or call_control_id or stream_id,
        media_format=fmt,
        tracks=tracks,
        call_control_id=call_control_id,
        account_id=opt_str(start.get("user_id"), "start.user_id"),
        from_number=opt_str(start.get("from"), "start.from"),
        to_number=opt_str(start.get("to"), "start.to"),
        custom_parameters=params,
        client_state=opt_str(start.get("client_state"), "start.client_state"),
        tags=tags,
        sequence=seq,
    )


def encode_command(command: Command, stream_id: str | None = None) -> str:
    """Frame to send back on a bidirectional (RTP mode) stream. Telnyx needs no stream_id."""
    if isinstance(command, SendMedia):
        payload = base64.b64encode(command.payload).decode("ascii")
        return json.dumps({"event": "media", "media": {"payload": payload}})
    if isinstance(command, SendMark):
        return json.dumps({"event": "mark", "mark": {"name": command.name}})
    if isinstance(command, SendClear):
        return json.dumps({"event": "clear"})
    raise TypeError(f"not a command: {command!r}")
