"""Provider detection from the first frames, and one entry point for decoding any frame."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson

from console.core.events import Command, MediaFormat, Provider, StreamEvent
from console.protocol import bandwidth, exotel, plivo, signalwire, telnyx, twilio, vonage
from console.protocol.base import FrameError

__all__ = ["ADAPTERS", "FrameDecoder", "detect", "encoder_for", "load_frame", "loads"]

loads = orjson.loads

Parser = Callable[[dict[str, Any]], StreamEvent]
Encoder = Callable[[Command, "str | None"], "str | bytes"]

ADAPTERS: dict[Provider, tuple[Parser, Encoder]] = {
    Provider.TELNYX: (telnyx.parse, telnyx.encode_command),
    Provider.TWILIO: (twilio.parse, twilio.encode_command),
    Provider.PLIVO: (plivo.parse, plivo.encode_command),
    Provider.EXOTEL: (exotel.parse, exotel.encode_command),
    Provider.VONAGE: (vonage.parse, vonage.encode_command),
    Provider.SIGNALWIRE: (signalwire.parse, signalwire.encode_command),
    Provider.BANDWIDTH: (bandwidth.parse, bandwidth.encode_command),
}

# Asked in this order: Twilio's test (a top-level sequenceNumber or streamSid) also fits
# Plivo's, SignalWire's and Bandwidth's frames, so it comes last.
_DETECTORS: tuple[tuple[Provider, Callable[[dict[str, Any]], bool]], ...] = (
    (Provider.TELNYX, telnyx.looks_like),
    (Provider.VONAGE, vonage.looks_like),
    (Provider.BANDWIDTH, bandwidth.looks_like),
    (Provider.SIGNALWIRE, signalwire.looks_like),
    (Provider.PLIVO, plivo.looks_like),
    (Provider.EXOTEL, exotel.looks_like),
    (Provider.TWILIO, twilio.looks_like),
)


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
    """Provider whose frame this is, or None while it is still ambiguous. Of `connected`
    frames only Telnyx's decides (a version, no protocol); Twilio's and SignalWire's are
    alike and Exotel's is bare, so the start frame after them decides (`connected_as`)."""
    if msg.get("event") == "connected":
        if "protocol" not in msg and ("version" in msg or telnyx.looks_like(msg)
                                      or isinstance(msg.get("connected"), dict)):
            return Provider.TELNYX
        return None
    for provider, looks_like in _DETECTORS:
        if looks_like(msg):
            return provider
    return None


def connected_as(msg: dict[str, Any]) -> Provider | None:
    """Whose protocol an undecided `connected` frame is in, to read it (not to decide)."""
    return Provider.TWILIO if "protocol" in msg else None


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
                    shape = connected_as(msg)
                    return ADAPTERS[shape][0](msg) if shape is not None else None
                raise FrameError("unknown_provider", "cannot tell which platform sent this "
                                                     f"frame (event {msg.get('event')!r:.30}); "
                                                     "this console understands "
                                                     + ", ".join(p.value for p in ADAPTERS))
            self._set(provider)
        assert self._parse is not None
        return self._parse(msg)

    def encode(self, command: Command, stream_id: str | None) -> str | bytes:
        if self.provider is None:
            raise FrameError("unknown_provider", "no provider detected on this stream yet")
        return ADAPTERS[self.provider][1](command, stream_id)


def encoder_for(provider: Provider, codec: str = "PCMU", rate: int = 8000,
                media_format: MediaFormat | None = None) -> Encoder:
    """The encoder for audio sent back on a stream: some platforms name the codec and rate
    in every message (Plivo's playAudio, Bandwidth's playAudio), so it is bound here."""
    if provider is Provider.PLIVO:
        return functools.partial(plivo.encode_command, codec=codec, rate=rate)
    if provider is Provider.BANDWIDTH:
        return functools.partial(bandwidth.encode_command, media_format=media_format)
    return ADAPTERS[provider][1]
