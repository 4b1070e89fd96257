"""Provider detection from the first frames, and one entry point for decoding any frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from console.core.events import Command, Provider, StreamEvent
from console.protocol import telnyx, twilio
from console.protocol.base import FrameError

__all__ = ["ADAPTERS", "FrameDecoder", "detect", "load_frame", "loads"]

loads = orjson.loads

Parser = Callable[[dict[str, Any]], StreamEvent]
Encoder = Callable[[Command, "str | None"], str]

ADAPTERS: dict[Provider, tuple[Parser, Encoder]] = {
    Provider.TELNYX: (telnyx.parse, telnyx.encode_command),
    Provider.TWILIO: (twilio.parse, twilio.encode_command),
}


def load_frame(data: str | bytes) -> dict[str, Any]:
    """JSON text frame to a dict, or FrameError saying what is wrong with it."""
    if isinstance(data, bytes):
        raise FrameError("binary_frame", f"binary frame of {len(data)} bytes where JSON text "
                                         "is expected")
    try:
        msg = loads(data)
    except (ValueError, RecursionError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise FrameError("invalid_json", f"invalid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise FrameError("wrong_type", f"frame is a JSON {type(msg).__name__}, not an object")
    return msg


def detect(msg: dict[str, Any]) -> Provider | None:
    """Provider whose frame this is, or None while it is still ambiguous."""
    if telnyx.looks_like(msg):
        return Provider.TELNYX
    if twilio.looks_like(msg):
        return Provider.TWILIO
    if msg.get("event") == "connected" and "version" in msg:
        return Provider.TELNYX  # Telnyx's connected frame has a version and nothing else
    return None


class FrameDecoder:
    """Per-connection decoder: detects the provider once, then parses every frame with it."""

    __slots__ = ("_parse", "provider")

    def __init__(self, provider: Provider | None = None) -> None:
        self.provider: Provider | None = None
        self._parse: Parser | None = None
        if provider is not None:
            self._set(provider)

    def _set(self, provider: Provider) -> None:
        self.provider = provider
        self._parse = ADAPTERS[provider][0]

    def decode(self, data: str | bytes) -> StreamEvent | None:
        """Typed event, None for a frame that identifies nobody yet, FrameError if bad."""
        return self.decode_obj(load_frame(data))

    def decode_obj(self, msg: dict[str, Any]) -> StreamEvent | None:
        """As `decode`, for a frame already parsed from JSON."""
        if self._parse is None:
            provider = detect(msg)
            if provider is None:
                if msg.get("event") == "connected":
                    return None
                raise FrameError("unknown_provider", "cannot tell which platform sent this "
                                                     f"frame (event {msg.get('event')!r:.30}); "
                                                     "this console understands "
                                                     + ", ".join(p.value for p in ADAPTERS))
            self._set(provider)
        assert self._parse is not None
        return self._parse(msg)

    def encode(self, command: Command, stream_id: str | None) -> str:
        if self.provider is None:
            raise FrameError("unknown_provider", "no provider detected on this stream yet")
        return ADAPTERS[self.provider][1](command, stream_id)
