"""Calls, their streams and tracks, and the hot path from a media frame to PCM in a ring.

Runs on the engine thread only. Readers on other threads touch nothing here but the ring
buffers (`TrackState.ring`) and the immutable events on the bus.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from console.audio.codecs import CodecError, Decoder, make_decoder
from console.audio.jitter import DISCONTINUITY, DUPLICATE, ReorderBuffer
from console.audio.ring import RingBuffer
from console.core.bus import EventBus
from console.core.events import (
    CallEnded,
    CallStarted,
    Dtmf,
    DtmfReceived,
    Mark,
    MarkReceived,
    Media,
    MediaFormat,
    Provider,
    ProviderError,
    Role,
    Started,
    StreamClosed,
    StreamOpened,
    StreamProblem,
    TrackName,
    TrackOpened,
)
from console.core.reach import Injection, InjectionDefaults, injection_for
from console.core.roles import LegInfo, RoleRules

__all__ = ["CallRegistry", "CallState", "Recorder", "StreamState", "TrackState", "call_key"]

log = logging.getLogger(__name__)
Pcm = npt.NDArray[np.int16]


class AudioTap(Protocol):
    """Something that follows each track's decoded audio (analysis, listening)."""

    def feed(self, track: TrackState, pcm: Pcm) -> None: ...

    def track_ended(self, track: TrackState) -> None: ...


class KeypadFilter(Protocol):
    """Decides which DTMF digits may be shown as pressed (see analysis.redaction)."""

    gap_s: float

    def push(self, digit: str, at_s: float) -> list[tuple[str, float]]: ...

    def due(self, now_s: float) -> list[tuple[str, float]]: ...

    def flush(self) -> list[tuple[str, float]]: ...


class Recorder(Protocol):
    def frames(self, track_key: str, chunks: list[int | None], timestamps: list[int | None],
               arrival_ms: int, sizes: list[int], pcm: Pcm) -> None:
        """A batch of consecutive decoded frames of one track: `sizes` splits `pcm`."""


@dataclass(eq=False, slots=True)
class TrackState:
    key: str
    call_id: str
    stream_id: str
    name: TrackName
    role: Role
    rate: int
    ring: RingBuffer
    jitter: ReorderBuffer[tuple[bytes, int | None]]
    decoder: Decoder | None  # per track: G.722 and Opus decoders carry state
    opened_at: float
    stream_opened_at: float
    position: int = 0  # samples on the live timeline, silence for lost frames included
    frame_samples: int = 0
    frames: int = 0
    # Frames released in order but not yet decoded: decoding waits for the flush that the
    # loop runs once it has read what the sockets hold, so a busy engine decodes in batches.
    out: list[tuple[int | None, tuple[bytes, int | None], int]] = field(default_factory=list)
    dirty: bool = False
    call_offset_s: float = 0.0  # where the track's first sample sits on the call's timeline
    # The reorder buffer's count of missing frames when `out` was last played: unchanged
    # means no frame in `out` follows a gap (only the reorder buffer releases gaps, into
    # `out`), so the flush need not look at every frame for one.
    missing_played: int = 0


@dataclass(eq=False, slots=True)
class StreamState:
    uid: str  # unique within the console: the provider's id, suffixed if it was seen before
    stream_id: str
    call_id: str
    provider: Provider
    media_format: MediaFormat
    decoder: Decoder | None  # the first track's; later tracks get their own
    codec_error: str | None
    leg: LegInfo
    opened_at: float
    offset_s: float  # where this stream starts on the call's timeline
    custom_parameters: dict[str, str]
    call_control_id: str | None
    tracks: dict[TrackName, TrackState] = field(default_factory=dict)
    frames: int = 0
    bad_frames: int = 0
    closed: bool = False
    sender: Callable[[str | bytes], None] | None = None  # text or binary frames
    injection: Injection | None = None  # who hears audio sent back on this stream



@dataclass(eq=False, slots=True)
class CallState:
    id: str
    provider: Provider
    from_number: str | None
    to_number: str | None
    started_at: float
    streams: dict[str, StreamState] = field(default_factory=dict)
    ended_at: float | None = None
    state: str = "active"

    @property
    def open_streams(self) -> list[StreamState]:
        return [s for s in self.streams.values() if not s.closed]

    def tracks(self) -> list[TrackState]:
        return [t for s in self.streams.values() for t in s.tracks.values()]


@dataclass(slots=True)
class Counters:
    media_frames: int = 0
    missing_frames: int = 0
    late_frames: int = 0
    duplicate_frames: int = 0
    undecodable_frames: int = 0
    decode_errors: int = 0
    discontinuities: int = 0
    bad_frames: int = 0
    bad_by_kind: dict[str, int] = field(default_factory=dict)
    provider_errors: int = 0


_GROUP_PARAMS = ("coach_call", "coachcall", "call_session_id")  # coachcall: Plivo allows
# only letters and digits in extraHeaders names
# Most silence put in for lost frames at one gap: the reorder window (250 frames) of 20 ms.
MAX_FILL_S = 5.0


# Parameters that carry credentials (a platform may copy the stream URL's ?token= into its
# start frame): used for nothing after the handshake, and never stored or shown.
_SECRET_PARAMS = frozenset({"token", "auth_token", "stream_token", "stream_auth_token",
                            "authorization", "password", "secret", "sig", "signature"})


def _kept_parameters(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k.strip().lower() not in _SECRET_PARAMS}


def call_key(start: Started) -> str:
    """Which call a stream belongs to: the provider's own key (Telnyx call_session_id,
    Twilio callSid) unless a custom parameter names the call, which joins legs that the
    provider gives different ids (e.g. Twilio conference participants)."""
    params = {k.strip().lower(): v.strip() for k, v in start.custom_parameters.items()}
    for name in _GROUP_PARAMS:
        if params.get(name):
            return params[name]
    return start.call_key


class CallRegistry:
    def __init__(
        self,
        bus: EventBus,
        rules: RoleRules | None = None,
        recorder: Recorder | None = None,
        *,
        clock: Callable[[], float] = time.time,
        ring_seconds: float = 30.0,
        jitter_depth: int = 3,
        l16_byte_order: str = "auto",
    ) -> None:
        self.bus = bus
        self.rules = rules or RoleRules()
        self.recorder = recorder
        # What follows the decoded audio (the analysis pipeline, the supervisor's listening
        # output); a tuple replaced whole, so walking it never races a change.
        self.taps: tuple[AudioTap, ...] = ()
        self.node = ""  # this ingest node's name in team mode, on every CallStarted
        self.injection_defaults = InjectionDefaults()
        self.clock = clock
        self.ring_seconds = ring_seconds
        self.jitter_depth = jitter_depth
        self.l16_byte_order = l16_byte_order
        self.calls: dict[str, CallState] = {}
        # Track key -> ring buffer: what other threads (UI, audio) read; a single dict read
        # is safe from another thread where walking `calls` would not be.
        self.rings: dict[str, RingBuffer] = {}
        self.counters = Counters()
        self._seen_stream_ids: set[str] = set()
        # How a flush gets run after a burst of frames (the engine sets loop.call_soon);
        # None flushes at once, frame by frame.
        self.schedule: Callable[[Callable[[], None]], object] | None = None
        # Keypad redaction: when set, DTMF digits go through one filter per call and are
        # published only once the filter has decided on them (card and PIN entry as "*").
        self.keypad_filter: Callable[[], KeypadFilter] | None = None
        self.later: Callable[[float, Callable[[], None]], object] | None = None
        # Per call: the redactor, and what each held digit came with, in press order.
        self._dtmf: dict[str, tuple[KeypadFilter,
                                    deque[tuple[str, str | None, str | None]]]] = {}
        self._dirty: list[TrackState] = []
        self._flush_pending = False
        self._failures: dict[str, dict[str, int]] = {}  # track -> exception kind -> count

    # --- streams ------------------------------------------------------------------------

    def open_stream(self, start: Started, sender: Callable[[str | bytes], None] | None = None
                    ) -> StreamState:
        now = self.clock()
        key = call_key(start)
        call = self.calls.get(key)
        if call is None or call.state != "active":
            if call is None:
                call = CallState(key, start.provider, start.from_number, start.to_number, now)
                self.calls[call.id] = call
            else:  # the same call comes back (a reconnect or a new leg after the last ended)
                call.state, call.ended_at = "active", None
            self.bus.publish(CallStarted(call.id, call.provider, call.from_number,
                                         call.to_number, call.started_at, self.node))
        else:
            call.from_number = call.from_number or start.from_number
            call.to_number = call.to_number or start.to_number
        uid = start.stream_id
        n = 2
        while uid in self._seen_stream_ids:
            uid = f"{start.stream_id}#{n}"
            n += 1
        self._seen_stream_ids.add(uid)
        decoder: Decoder | None = None
        codec_error: str | None = None
        try:
            decoder = make_decoder(start.media_format, self.l16_byte_order)
        except CodecError as exc:
            codec_error = str(exc)
        leg = self.rules.leg_for(start.custom_parameters, start.from_number, start.to_number)
        injection = injection_for(start.provider, leg, start.tracks, start.custom_parameters,
                                  self.injection_defaults, start.media_format)
        stream = StreamState(
            uid=uid,
            stream_id=start.stream_id,
            call_id=call.id,
            provider=start.provider,
            media_format=start.media_format,
            decoder=decoder,
            codec_error=codec_error,
            leg=leg,
            opened_at=now,
            offset_s=max(0.0, now - call.started_at),
            custom_parameters=_kept_parameters(start.custom_parameters),
            call_control_id=start.call_control_id,
            sender=sender,
            injection=injection,
        )
        call.streams[uid] = stream
        self.bus.publish(StreamOpened(
            call.id, uid, start.provider, start.media_format, start.tracks, leg.roles(),
            leg.leg.value, _kept_parameters(start.custom_parameters), start.call_control_id, now,
            codec_error,
        ))
        if codec_error:
            self.bus.publish(StreamProblem(call.id, uid, "codec", codec_error, now))
        return stream

    def close_stream(self, stream: StreamState, reason: str) -> None:
        if stream.closed:
            return
        for track in stream.tracks.values():
            out = track.out
            before = len(out)
            track.jitter.flush_into(out)
            # Frames the reorder buffer still held are played too, not left in `out`.
            if len(out) != before and not track.dirty:
                track.dirty = True
                self._dirty.append(track)
        self.flush()
        for tap in self.taps:
            for track in stream.tracks.values():
                tap.track_ended(track)
        stream.closed = True
        now = self.clock()
        dropped = sum(t.jitter.missing for t in stream.tracks.values())
        call = self.calls[stream.call_id]
        audio_s = max((t.position / t.rate for t in stream.tracks.values()), default=0.0)
        self.bus.publish(StreamClosed(call.id, stream.uid, now, reason, stream.frames, dropped,
                                      round(audio_s, 3)))
        if not call.open_streams and call.state == "active":
            entry = self._dtmf.get(call.id)
            if entry is not None:  # the call is over: whatever is held is decided now
                self._release(call.id, entry[0].flush())
                del self._dtmf[call.id]
            call.state = "interrupted" if reason == "shutdown" else "ended"
            call.ended_at = now
            self.bus.publish(CallEnded(call.id, now, call.state))

    def close_all(self, reason: str = "shutdown") -> None:
        for call in list(self.calls.values()):
            for stream in call.open_streams:
                self.close_stream(stream, reason)

    def add_tap(self, tap: AudioTap) -> None:
        if tap not in self.taps:
            self.taps = (*self.taps, tap)

    def remove_tap(self, tap: AudioTap) -> None:
        self.taps = tuple(t for t in self.taps if t is not tap)

    # --- frames -------------------------------------------------------------------------

    def on_media(self, stream: StreamState, media: Media) -> None:
        self.add_frame(stream, media.track, media.chunk, media.timestamp, media.payload)

    def add_frame(self, stream: StreamState, name: TrackName, chunk: int | None,
                  timestamp: int | None, payload: bytes) -> None:
        """The hot path: one media frame, already validated. Kept short on purpose."""
        self.counters.media_frames += 1
        stream.frames += 1
        track = stream.tracks.get(name)
        if track is None:
            track = self._open_track(stream, name)
        out = track.out
        before = len(out)
        status = track.jitter.push_into(chunk, (payload, timestamp), out)
        if status:  # nearly every frame is OK (0): one test for it
            if status == DISCONTINUITY:
                self._discontinuity(stream, track, chunk)
            else:
                if status == DUPLICATE:
                    self.counters.duplicate_frames += 1
                else:
                    self.counters.late_frames += 1
                    shifted = None if chunk is None else chunk + track.jitter.shift
                    self._keep_late(track, shifted, timestamp, payload)
                return
        if not track.dirty and len(out) != before:
            track.dirty = True
            self._dirty.append(track)
            if self.schedule is None:
                self.flush()
            elif not self._flush_pending:
                self._flush_pending = True
                self.schedule(self.flush)

    def _discontinuity(self, stream: StreamState, track: TrackState, chunk: int | None) -> None:
        # A counter that jumped by more than the reorder window: the track carries on from
        # the new value with no silence for the gap (which may be anything a peer claims).
        self.counters.discontinuities += 1
        n = track.jitter.discontinuities
        if n <= 3 or n % 1000 == 0:
            self.bus.publish(StreamProblem(
                stream.call_id, stream.uid, "discontinuity",
                f"{track.name.value} track: chunk counter jumped to {chunk}; the timeline "
                f"starts again there ({n} so far)", self.clock()))

    def flush(self) -> None:
        """Decode every frame released since the last flush into rings and the recorder."""
        self._flush_pending = False
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, []
        now = self.clock()
        for track in dirty:
            track.dirty = False
            items, track.out = track.out, []
            try:
                self._play(track, items, int((now - track.stream_opened_at) * 1000))
            except Exception as exc:  # a decoder or tap bug costs these frames, not the engine
                self._decode_failed(track, exc, len(items))

    def _decode_failed(self, track: TrackState, exc: Exception, frames: int) -> None:
        self.counters.decode_errors += frames
        kind = type(exc).__name__
        seen = self._failures.setdefault(track.key, {})
        n = seen[kind] = seen.get(kind, 0) + 1
        if n == 1:  # one traceback per kind per track; after that the counters speak
            log.error("track %s: %d frames lost to %s", track.key, frames, kind,
                      exc_info=exc)
            self.bus.publish(StreamProblem(track.call_id, track.stream_id, "decode",
                                           f"{track.name.value} track: {kind}: {exc}",
                                           self.clock()))

    def _play(self, track: TrackState,
              items: list[tuple[int | None, tuple[bytes, int | None], int]],
              arrival_ms: int) -> None:
        missing = track.jitter.missing
        gapless = missing == track.missing_played  # no item of `items` follows a gap
        track.missing_played = missing
        decoder = track.decoder
        if decoder is None:
            self.counters.undecodable_frames += len(items)
            return
        bps = getattr(decoder, "bytes_per_sample", 0)  # table codecs decode a batch at once
        if bps and gapless:
            self._play_run(track, decoder, bps, items, arrival_ms)
            return
        ring = track.ring
        taps = self.taps
        chunks: list[int | None] = []
        stamps: list[int | None] = []
        payloads: list[bytes] = []
        parts: list[Pcm] = []
        sizes: list[int] = []

        def decode_run() -> None:
            if not payloads:
                return
            if bps:
                pcm = decoder.decode(b"".join(payloads))
                run_sizes = [len(p) // bps for p in payloads]
                run_sizes[-1] = max(0, run_sizes[-1] + pcm.size - sum(run_sizes))
            else:
                pieces = [decoder.decode(p) for p in payloads]
                run_sizes = [x.size for x in pieces]
                pcm = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
            if pcm.size:
                ring.write(pcm)
                track.position += pcm.size
                parts.append(pcm)
                for tap in taps:
                    tap.feed(track, pcm)
                sizes.extend(run_sizes)
                if not track.frame_samples:
                    track.frame_samples = run_sizes[0] or pcm.size
            else:
                del chunks[len(chunks) - len(payloads):]
                del stamps[len(stamps) - len(payloads):]
            payloads.clear()

        for key, (payload, timestamp), missing in items:
            if missing:
                decode_run()
                self.counters.missing_frames += missing
                # Frames of any size (up to the frame limit) may go missing: never more than
                # MAX_FILL_S of silence, however many a peer skips.
                gap = min(missing * (track.frame_samples or track.rate // 50),
                          int(MAX_FILL_S * track.rate))
                ring.write_silence(gap)
                track.position += gap
                if taps:  # keeps transcript times (and what is heard) on the audio's timeline
                    silence = np.zeros(gap, np.int16)
                    for tap in taps:
                        tap.feed(track, silence)
            chunks.append(key)
            stamps.append(timestamp)
            payloads.append(payload)
        decode_run()
        track.frames += len(sizes)
        if self.recorder is not None and parts:
            pcm_all = parts[0] if len(parts) == 1 else np.concatenate(parts)
            # Frames that decoded to nothing (a codec warming up) are not recorded.
            kept = [(c, t, n) for c, t, n in zip(chunks, stamps, sizes, strict=True) if n]
            self.recorder.frames(track.key, [k[0] for k in kept], [k[1] for k in kept],
                                 arrival_ms, [k[2] for k in kept], pcm_all)

    def _play_run(self, track: TrackState, decoder: Decoder, bps: int,
                  items: list[tuple[int | None, tuple[bytes, int | None], int]],
                  arrival_ms: int) -> None:
        """The common case, kept lean: consecutive frames of a table codec, none lost."""
        one = len(items) == 1
        if one:
            pcm = decoder.decode(items[0][1][0])
        else:
            pcm = decoder.decode(b"".join([item[1][0] for item in items]))
        n = pcm.size
        if not n:
            return
        track.ring.write(pcm)
        track.position += n
        track.frames += len(items)
        for tap in self.taps:
            tap.feed(track, pcm)
        if not track.frame_samples:
            track.frame_samples = n if one else len(items[0][1][0]) // bps or n
        recorder = self.recorder
        if recorder is not None:  # the per-frame lists only when something keeps them
            if one:
                key, (_, timestamp), _ = items[0]
                recorder.frames(track.key, [key], [timestamp], arrival_ms, [n], pcm)
                return
            sizes = [len(item[1][0]) // bps for item in items]
            sizes[-1] = max(0, sizes[-1] + n - sum(sizes))
            recorder.frames(track.key, [item[0] for item in items],
                            [item[1][1] for item in items], arrival_ms, sizes, pcm)

    def _keep_late(self, track: TrackState, chunk: int | None, timestamp: int | None,
                   payload: bytes) -> None:
        # A frame that missed its live slot still belongs in the recording, where it is
        # placed by its chunk. Stateful codecs cannot decode it out of order.
        decoder = track.decoder
        if self.recorder is None or decoder is None or not getattr(decoder, "bytes_per_sample",
                                                                   0):
            return
        pcm = decoder.decode(payload)
        if pcm.size:
            arrival_ms = int((self.clock() - track.stream_opened_at) * 1000)
            self.recorder.frames(track.key, [chunk], [timestamp], arrival_ms, [pcm.size], pcm)

    def _open_track(self, stream: StreamState, name: TrackName) -> TrackState:
        decoder = stream.decoder
        if decoder is not None and stream.tracks:
            decoder = make_decoder(stream.media_format, self.l16_byte_order)
        # A stream whose codec or rate was refused decodes nothing: its ring stays small.
        rate = decoder.rate if decoder else 8000
        role = stream.leg.role_of(name)
        track = TrackState(
            key=f"{stream.uid}/{name.value}",
            call_id=stream.call_id,
            stream_id=stream.uid,
            name=name,
            role=role,
            rate=rate,
            ring=RingBuffer(self.ring_seconds, rate),
            jitter=ReorderBuffer(self.jitter_depth),
            decoder=decoder,
            opened_at=self.clock(),
            stream_opened_at=stream.opened_at,
            call_offset_s=stream.offset_s + max(0.0, self.clock() - stream.opened_at),
        )
        stream.tracks[name] = track
        self.rings[track.key] = track.ring
        self.bus.publish(TrackOpened(stream.call_id, stream.uid, track.key, name, role, rate,
                                     track.opened_at))
        return track

    def on_dtmf(self, stream: StreamState, dtmf: Dtmf) -> None:
        self.flush()
        at_s = round(self.position_s(stream), 3)
        track = dtmf.track.value if dtmf.track else None
        if self.keypad_filter is None:
            self.bus.publish(DtmfReceived(stream.call_id, stream.uid, dtmf.digit, at_s,
                                          dtmf.occurred_at, track))
            return
        if stream.call_id not in self._dtmf:
            self._dtmf[stream.call_id] = (self.keypad_filter(), deque())
        redactor, held = self._dtmf[stream.call_id]
        held.append((stream.uid, dtmf.occurred_at, track))
        self._release(stream.call_id, redactor.push(dtmf.digit, at_s))
        if self.later is not None:
            self.later(redactor.gap_s + 0.05, lambda: self._dtmf_due(stream.call_id, stream))

    def _dtmf_due(self, call_id: str, stream: StreamState) -> None:
        entry = self._dtmf.get(call_id)
        if entry is not None:
            self._release(call_id, entry[0].due(self.position_s(stream)))

    def _release(self, call_id: str, digits: list[tuple[str, float]]) -> None:
        entry = self._dtmf.get(call_id)
        if entry is None:
            return
        for digit, at_s in digits:  # released in the order they were pressed
            uid, occurred_at, track = entry[1].popleft()
            self.bus.publish(DtmfReceived(call_id, uid, digit, at_s, occurred_at, track))

    def on_mark(self, stream: StreamState, mark: Mark) -> None:
        self.bus.publish(MarkReceived(stream.call_id, stream.uid, mark.name, self.clock()))

    def on_provider_error(self, stream: StreamState | None, error: ProviderError) -> None:
        self.counters.provider_errors += 1
        text = f"provider error {error.code}: {error.title}"
        if error.detail:
            text += f" ({error.detail})"
        self.bus.publish(StreamProblem(
            stream.call_id if stream else None, stream.uid if stream else error.stream_id,
            "provider_error", text, self.clock(),
            {"code": error.code, "title": error.title, "detail": error.detail},
        ))

    def on_bad_frame(self, stream: StreamState | None, kind: str, message: str,
                     report: bool) -> None:
        self.counters.bad_frames += 1
        self.counters.bad_by_kind[kind] = self.counters.bad_by_kind.get(kind, 0) + 1
        if stream is not None:
            stream.bad_frames += 1
        if report:
            self.bus.publish(StreamProblem(
                stream.call_id if stream else None, stream.uid if stream else None,
                "bad_frame", message, self.clock(), {"kind": kind},
            ))

    def position_s(self, stream: StreamState) -> float:
        """How far into the call this stream's audio has come, on the call's timeline."""
        best = 0.0
        for track in stream.tracks.values():
            waiting = track.jitter.pending_frames + len(track.out)
            pending = waiting * (track.frame_samples or track.rate // 50)
            best = max(best, (track.position + pending) / track.rate)
        if not stream.tracks:
            best = max(0.0, self.clock() - stream.opened_at)
        return stream.offset_s + best

    # --- views --------------------------------------------------------------------------

    def active_calls(self) -> list[CallState]:
        # list() copies in one C-level step: safe to call from the UI thread too.
        return [c for c in list(self.calls.values()) if c.state == "active"]

    def forget_ended(self, keep: int = 200, audio_grace_s: float = 60.0) -> None:
        """Drop the oldest ended calls from memory (the store keeps them), and the live
        audio of every call ended over `audio_grace_s` ago: a ring holds 30 s of each track
        (about 1 MB a call), which, kept for 200 ended calls, was most of a busy console's
        memory. Their waveforms go blank; History plays the recording."""
        ended = sorted((c for c in self.calls.values() if c.state != "active"),
                       key=lambda c: c.ended_at or 0.0)
        old = self.clock() - audio_grace_s
        for call in ended:
            if (call.ended_at or 0.0) > old:
                break
            for track in call.tracks():
                if track.ring.capacity > 1:
                    self.rings.pop(track.key, None)
                    track.ring = RingBuffer(0.0, track.rate)
        for call in ended[: max(0, len(ended) - keep)]:
            for track in call.tracks():
                self.rings.pop(track.key, None)
                self._failures.pop(track.key, None)
            # Stream ids are kept unique among the calls in memory (what a repeat could be
            # confused with); older ones are the store's, which replaces a repeat.
            self._seen_stream_ids.difference_update(call.streams)
            del self.calls[call.id]
