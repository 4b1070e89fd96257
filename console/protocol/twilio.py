"""Twilio Media Streams frames (PROTOCOLS.md section 2), also spoken by SignalWire."""

from __future__ import annotations

import base64
import hashlib
import hmac
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
    counter,
    custom_parameters,
    event_name,
    normalise_format,
    opt_str,
    parse_common,
    require_dict,
    start_tracks,
)

__all__ = ["encode_command", "looks_like", "parse", "signature", "signature_matches"]

SIGNATURE_HEADER = "x-twilio-signature"


def looks_like(msg: dict[str, Any]) -> bool:
    if "streamSid" in msg or "sequenceNumber" in msg:
        return True
    start = msg.get("start")
    if isinstance(start, dict) and ("callSid" in start or "streamSid" in start):
        return True
    return msg.get("event") == "connected" and "protocol" in msg


def parse(msg: dict[str, Any]) -> StreamEvent:
    event = event_name(msg)
    stream_id = opt_str(msg.get("streamSid"), "streamSid")
    seq = counter(msg.get("sequenceNumber"), "sequenceNumber", "bad_sequence")
    if event == "start":
        return _start(msg, stream_id, seq)
    if event == "connected":
        return Connected(Provider.TWILIO, opt_str(msg.get("version"), "version"))
    return parse_common(event, msg, stream_id, seq, "Twilio")


def _start(msg: dict[str, Any], stream_id: str | None, seq: int | None) -> Started:
    start = require_dict(msg.get("start"), "start")
    stream_id = stream_id or opt_str(start.get("streamSid"), "start.streamSid")
    if not stream_id:
        raise FrameError("missing_field", "start frame has no streamSid")
    fmt_obj = start.get("mediaFormat")
    if fmt_obj is None:
        fmt_obj = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    fmt_obj = require_dict(fmt_obj, "start.mediaFormat")
    fmt = normalise_format(
        fmt_obj.get("encoding", "audio/x-mulaw"), fmt_obj.get("sampleRate"),
        fmt_obj.get("channels", 1),
    )
    call_sid = opt_str(start.get("callSid"), "start.callSid")
    params = custom_parameters(start.get("customParameters"))
    return Started(
        provider=Provider.TWILIO,
        stream_id=stream_id,
        call_key=call_sid or stream_id,
        media_format=fmt,
        tracks=start_tracks(start.get("tracks")),
        call_control_id=call_sid,
        account_id=opt_str(start.get("accountSid"), "start.accountSid"),
        # Twilio's start frame carries no numbers; <Parameter> values may.
        from_number=params.get("from") or params.get("From"),
        to_number=params.get("to") or params.get("To"),
        custom_parameters=params,
        sequence=seq,
    )


def encode_command(command: Command, stream_id: str | None = None) -> str:
    """Frame for a bidirectional <Connect><Stream>: Twilio wants the streamSid on each."""
    sid = stream_id or ""
    if isinstance(command, SendMedia):
        payload = base64.b64encode(command.payload).decode("ascii")
        return json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})
    if isinstance(command, SendMark):
        return json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": command.name}})
    if isinstance(command, SendClear):
        return json.dumps({"event": "clear", "streamSid": sid})
    raise TypeError(f"not a command: {command!r}")


def signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(auth token, url + sorted key+value pairs))."""
    data = url + "".join(k + v for k, v in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(auth_token: str, urls: list[str], presented: str) -> bool:
    """Whether `presented` is the signature of any of `urls`. Any text is a valid input:
    a header value that is not ASCII (HTTP headers arrive as ISO-8859-1) is just wrong."""
    # Bytes, not str: compare_digest refuses non-ASCII str (a peer's header got HTTP 500).
    got = presented.encode("utf-8", "surrogateescape")
    ok = False
    for url in urls:
        # Check every candidate so timing does not reveal which one was close.
        ok |= hmac.compare_digest(signature(auth_token, url).encode("ascii"), got)
    return ok
