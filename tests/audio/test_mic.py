"""MicInput without a device: its callback driven by hand writes each block into the ring
without making an array, and the engine thread takes the same samples back out."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
from helpers import tone_s

from console.audio.mic import MicInput
from console.audio.ring import BlockIO, RingBuffer

RATE = 48000
BLOCK = 480


class Tracked(np.ndarray):
    """Counts every array numpy makes from one of these (views and slices included)."""

    made = 0

    def __array_finalize__(self, obj: Any) -> None:
        Tracked.made += 1


def test_callback_writes_blocks_that_take_returns() -> None:
    mic = MicInput()
    try:
        assert mic.configure(RATE) == BLOCK
        x = tone_s(1000, RATE, 0.2)
        for i in range(0, x.size, BLOCK):
            mic._callback(x[i : i + BLOCK].reshape(-1, 1), BLOCK, None, None)
        assert mic.callbacks == x.size // BLOCK
        frames = []
        while (frame := mic.take(960)) is not None:
            frames.append(frame)
        assert np.array_equal(np.concatenate(frames), x)
        mic.drain_wakeups()
    finally:
        mic.dispose()


def test_callback_allocates_nothing() -> None:
    """1000 callbacks under tracemalloc: at most a few Python integers alive at once, nothing
    kept; with its ring Tracked, not one array or view made (before: a column view of the
    block and one or two slices of the ring per call)."""
    mic = MicInput()
    try:
        mic.configure(RATE)
        block = tone_s(1000, RATE, 0.01).reshape(-1, 1)
        for _ in range(5):
            mic._callback(block, BLOCK, None, None)
        mic.drain_wakeups()
        peaks, kept = [], 0
        tracemalloc.start()
        try:
            for _ in range(1000):  # 1000 wake-up bytes: the pipe holds them
                held = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                mic._callback(block, BLOCK, None, None)
                now, peak = tracemalloc.get_traced_memory()
                peaks.append(peak - held)
                kept += now - held
        finally:
            tracemalloc.stop()
        # Integers only. tracemalloc sees every thread: the few worst are left out, as a
        # test runner's own thread (pytest-xdist) may allocate during one of the 1000.
        assert sorted(peaks)[-5] <= 4 * 32, sorted(set(peaks))
        assert kept < 1024
        assert mic.ring is not None and mic.io is not None
        mic.ring._buf = mic.ring._buf.view(Tracked)
        for name in BlockIO.__slots__:
            value = getattr(mic.io, name)
            if isinstance(value, np.ndarray):
                setattr(mic.io, name, value.view(Tracked))
        tracked_block = block.view(Tracked)
        Tracked.made = 0
        for _ in range(20):
            mic._callback(tracked_block, BLOCK, None, None)
        assert Tracked.made == 0
        assert mic.callbacks == 1025
    finally:
        mic.dispose()


def test_block_io_matches_the_ring_everywhere() -> None:
    """BlockIO reads and writes what RingBuffer.read_into/write do, across the wrap-around,
    past the newest sample (zeros) and behind the oldest (the oldest there is)."""
    ring, ref = RingBuffer(0.01, 8000), RingBuffer(0.01, 8000)  # 128 samples
    io = BlockIO(48)
    rng = np.random.default_rng(3)
    for _ in range(40):
        block = rng.integers(-30000, 30000, 48).astype(np.int16)
        io.write(ring, block.reshape(-1, 1))
        ref.write(block)
        assert ring.written == ref.written
        for position in (ring.written - 48, ring.written - 20, ring.written - 128,
                         ring.written - 200, ring.written + 5, ring.written):
            got, want = np.zeros(48, np.int16), np.zeros(48, np.int16)
            assert io.read(ring, got, position) == ref.read_into(want, position)
            assert np.array_equal(got, want)
    other = rng.integers(-3, 3, 30).astype(np.int16)  # a block of another size
    io.write(ring, other)
    assert np.array_equal(ring.latest(30), other)
