"""Telnyx Media Streaming frames (PROTOCOLS.md section 1)."""

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
    MAX_VALUE,
    FrameError,
    counter,
    custom_parameters,
    event_name,
    normalise_format,
    opt_str,
    parse_common,
    require_dict,
    start_tracks,
    tags,
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
    event = event_name(msg)
    stream_id = opt_str(msg.get("stream_id"), "stream_id")
    seq = counter(msg.get("sequence_number"), "sequence_number", "bad_sequence")
    if event == "start":
        return _start(msg, stream_id, seq)
    if event == "connected":
        inner = msg.get("connected")
        token = None
        if isinstance(inner, dict):
            token = opt_str(inner.get(AUTH_HEADER), "connected token", MAX_VALUE)
        return Connected(Provider.TELNYX, opt_str(msg.get("version"), "version"), token)
    return parse_common(event, msg, stream_id, seq, "Telnyx")


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
    params = custom_parameters(start.get("custom_parameters"))
    return Started(
        provider=Provider.TELNYX,
        stream_id=stream_id,
        call_key=session or call_control_id or stream_id,
        media_format=fmt,
        tracks=start_tracks(start.get("tracks")),
        call_control_id=call_control_id,
        account_id=opt_str(start.get("user_id"), "start.user_id"),
        from_number=opt_str(start.get("from"), "start.from"),
        to_number=opt_str(start.get("to"), "start.to"),
        custom_parameters=params,
        client_state=opt_str(start.get("client_state"), "start.client_state", MAX_VALUE),
        tags=tags(start.get("tags")),
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
