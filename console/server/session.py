"""One provider connection: frames in, typed events to the registry, commands back out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.core.events import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Provider,
    ProviderError,
    Started,
    Stopped,
    StreamEvent,
)
from console.protocol import vonage
from console.protocol.base import FrameError, media_frame
from console.protocol.detect import FrameDecoder, load_frame

if TYPE_CHECKING:
    from console.core.registry import CallRegistry, StreamState

__all__ = ["StreamSession"]

log = logging.getLogger("console.server")


class StreamSession:
    """Parses every frame of one socket. Nothing a peer sends can raise out of `handle`."""

    __slots__ = ("_reported", "admit", "decoder", "max_bytes", "messages", "peer", "refused",
                 "registry", "sender", "stopped", "stream", "unrecognised")

    def __init__(self, registry: CallRegistry, peer: str, max_bytes: int,
                 sender: Callable[[str | bytes], None] | None = None) -> None:
        self.registry = registry
        self.peer = peer
        self.max_bytes = max_bytes
        self.decoder = FrameDecoder()
        self.stream: StreamState | None = None
        self.stopped = False
        self.messages = 0  # the idle watchdog compares this between its rounds
        self.sender = sender
        self._reported: dict[str, int] = {}
        # Asked before the first start frame takes a stream slot (console.server.limits);
        # once refused, the socket is being closed and its remaining frames are ignored.
        self.admit: Callable[[StreamSession], bool] | None = None
        # Told when the first frames are no known platform's: the socket is then closed.
        self.unrecognised: Callable[[StreamSession, str], None] | None = None
        self.refused = False

    def handle(self, message: str | bytes) -> None:
        self.messages += 1
        if self.refused:
            return
        if len(message) > self.max_bytes:
            self._bad("oversize", f"frame of {len(message)} bytes is over the "
                                  f"{self.max_bytes}-byte limit")
            return
        try:
            if not isinstance(message, str) and self.decoder.provider is Provider.VONAGE:
                self._binary_audio(message)  # Vonage: raw L16 in binary frames
                return
            msg = load_frame(message)
            # Media is nearly every frame: checked in one call (media_frame), then straight
            # to the registry, no event object.
            if msg.get("event") == "media":
                stream = self.stream
                if stream is not None and not self.stopped:
                    track, chunk, timestamp, payload = media_frame(msg)
                    self.registry.add_frame(stream, track, chunk, timestamp, payload)
                    return
            event = self.decoder.decode_obj(msg)
        except FrameError as exc:
            self._bad(exc.kind, str(exc))
            if exc.kind == "unknown_provider" and self.stream is None and self.unrecognised:
                self.refused = True
                self.unrecognised(self, str(exc))
            return
        except Exception as exc:  # a parser bug must not take the stream down
            self._internal(exc)
            return
        try:
            self._dispatch(event)
        except Exception as exc:  # nor a bug in what follows a start, stop or dtmf
            self._internal(exc)

    def _binary_audio(self, message: bytes) -> None:
        stream = self.stream
        if stream is None or self.stopped:
            self._bad("media_before_start" if stream is None else "media_after_stop",
                      "binary audio outside a stream")
            return
        media = vonage.parse_binary(message, limit=self.max_bytes)
        self.registry.add_frame(stream, media.track, None, None, media.payload)

    def _internal(self, exc: Exception) -> None:
        kind = f"internal_{type(exc).__name__}"
        if kind not in self._reported:  # one traceback per kind; then it is counted
            log.error("unexpected error handling a frame from %s", self.peer, exc_info=exc)
        self._bad(kind, f"{type(exc).__name__}: {exc}")

    def _dispatch(self, event: StreamEvent | None) -> None:
        self.registry.flush()  # everything before this frame is in place first
        stream = self.stream
        if type(event) is Media:
            if stream is not None and not self.stopped:
                # A platform whose media frames the fast path does not read (Bandwidth's
                # eventType, for one): the parsed event goes the same way.
                self.registry.add_frame(stream, event.track, event.chunk, event.timestamp,
                                        event.payload)
            elif stream is None:
                self._bad("media_before_start", "media frame before the start frame")
            else:
                self._bad("media_after_stop", "media frame after the stop frame")
            return
        if event is None or isinstance(event, Connected):
            return
        if isinstance(event, Started):
            self._start(event)
        elif isinstance(event, Stopped):
            if stream is None:
                self._bad("stop_before_start", "stop frame before the start frame")
            elif not self.stopped:
                self.stopped = True
                self.registry.close_stream(stream, "stop")
        elif isinstance(event, Dtmf):
            if stream is None:
                self._bad("dtmf_before_start", "dtmf frame before the start frame")
            else:
                self.registry.on_dtmf(stream, event)
        elif isinstance(event, Mark):
            if stream is not None:
                self.registry.on_mark(stream, event)
        elif isinstance(event, ProviderError):
            log.warning("%s reports an error on stream %s: %s %s", self.peer,
                        event.stream_id, event.code, event.title)
            self.registry.on_provider_error(stream, event)

    def _start(self, event: Started) -> None:
        if self.stream is not None:
            if event.stream_id == self.stream.stream_id and not self.stopped:
                self._bad("duplicate_start", "second start frame for the same stream")
                return
            # A new stream on the same socket: the previous one is over.
            if not self.stopped:
                self.registry.close_stream(self.stream, "replaced")
        elif self.admit is not None and not self.admit(self):
            self.refused = True
            return
        self.stopped = False
        self.stream = self.registry.open_stream(event, self.sender)
        s = self.stream
        log.info("stream %s from %s: call %s, %s/%d, leg %s", s.uid, self.peer, s.call_id,
                 s.media_format.encoding, s.media_format.sample_rate, s.leg.leg.value)
        if s.codec_error:
            log.error("stream %s: %s", s.uid, s.codec_error)

    def close(self, reason: str) -> None:
        if self.stream is not None and not self.stopped:
            self.stopped = True
            self.registry.close_stream(self.stream, reason)

    def _bad(self, kind: str, message: str) -> None:
        n = self._reported.get(kind, 0) + 1
        self._reported[kind] = n
        report = n <= 3 or n % 1000 == 0  # a flood of one fault is logged, not echoed 10k times
        if report:
            where = self.stream.uid if self.stream else "no stream yet"
            suffix = f" (x{n})" if n > 3 else ""
            log.warning("bad frame from %s (%s): %s%s", self.peer, where, message, suffix)
        self.registry.on_bad_frame(self.stream, kind, message, report)
