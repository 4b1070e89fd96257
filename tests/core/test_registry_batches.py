"""The media hot path decodes in batches (one flush per loop turn): whatever the batching,
every frame received is played once, in order, with silence for what never came."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from helpers import pcmu_frames, tone

from console.core.bus import EventBus
from console.core.events import MediaFormat, Provider, Started, StreamClosed, TrackName
from console.core.registry import CallRegistry


class Rec:
    def __init__(self) -> None:
        self.chunks: list[int | None] = []
        self.stamps: list[int | None] = []

    def frames(self, key, chunks, stamps, arrival_ms, sizes, pcm) -> None:  # type: ignore[no-untyped-def]
        assert sum(sizes) == pcm.size and len(sizes) == len(chunks) == len(stamps)
        self.chunks += chunks
        self.stamps += stamps


def _world(deferred: bool) -> tuple[CallRegistry, Rec, list[Callable[[], None]], list[object]]:
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    rec = Rec()
    reg = CallRegistry(bus, recorder=rec, clock=lambda: 1000.0)
    pending: list[Callable[[], None]] = []
    if deferred:  # as the engine: one flush scheduled for the end of the loop turn
        reg.schedule = pending.append
    return reg, rec, pending, events


def _run(order: list[int], every: int | None) -> tuple[CallRegistry, Rec, np.ndarray, list[object]]:
    """Frames of a tone sent in `order` (chunk numbers from 1), flushed after every `every`
    frames (None: at once, frame by frame), then the stream is stopped."""
    frames = pcmu_frames(tone(160 * 40, amp=12000))
    reg, rec, pending, events = _world(every is not None)
    s = reg.open_stream(Started(Provider.TELNYX, "s1", "call", MediaFormat("PCMU", 8000)))
    for i, chunk in enumerate(order, 1):
        reg.add_frame(s, TrackName.INBOUND, chunk, chunk * 20, frames[chunk - 1])
        if every is not None and i % every == 0:
            for fn in pending:
                fn()
            pending.clear()
    reg.close_stream(s, "stop")  # with a flush perhaps still pending
    track = s.tracks[TrackName.INBOUND]
    return reg, rec, track.ring.latest(track.position), events


ORDERS = {
    "in order": list(range(1, 31)),
    "one lost": [*range(1, 11), *range(12, 31)],
    "reordered, lost, late and repeated": [1, 3, 2, 4, 5, 5, 9, 10, 11, 12, 6, 13, 15, 14,
                                           *range(16, 25), 27, 28, 29, 30],
    "lost just before the stop": [*range(1, 29), 30],
    "only two frames": [1, 2],
}


@pytest.mark.parametrize("order", list(ORDERS.values()), ids=list(ORDERS))
@pytest.mark.parametrize("every", [1, 2, 3, 7, 50])
def test_any_batching_plays_what_frame_by_frame_plays(order: list[int], every: int) -> None:
    reg0, rec0, audio0, _ = _run(order, None)
    reg, rec, audio, _ = _run(order, every)
    assert np.array_equal(audio, audio0)
    # A late frame goes to the recording as it comes (the export places it by its chunk),
    # the rest when its batch is decoded: the same frames, perhaps in another order.
    assert (sorted(zip(rec.chunks, rec.stamps, strict=True))
            == sorted(zip(rec0.chunks, rec0.stamps, strict=True)))
    assert reg.counters == reg0.counters


@pytest.mark.parametrize("every", [None, 1, 4])
def test_frames_the_reorder_buffer_holds_at_the_stop_are_played(every: int | None) -> None:
    # Frame 29 never comes: 30 waits for it in the reorder buffer when the stop arrives.
    order = ORDERS["lost just before the stop"]
    reg, rec, audio, events = _run(order, every)
    assert audio.size == 30 * 160  # 29 frames and 20 ms of silence where 29 was
    assert not audio[28 * 160 : 29 * 160].any() and audio[29 * 160 :].any()
    assert rec.chunks == order
    assert reg.counters.missing_frames == 1
    closed = next(e for e in events if isinstance(e, StreamClosed))
    assert closed.audio_s == pytest.approx(0.6)


def test_a_stream_of_fewer_frames_than_the_reorder_window_is_played() -> None:
    _, rec, audio, _ = _run([1, 2], None)
    assert audio.size == 320 and audio.any()
    assert rec.chunks == [1, 2]
