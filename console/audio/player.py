"""Listening: the selected call on the supervisor's output device.

The engine thread feeds each track's decoded audio in (`feed`); it is resampled to the
device's rate and written to one ring per speaker. The PortAudio callback copies from those
rings into the device buffer: no allocation, no lock, no waiting. Each ring is played a little
behind its newest sample (the jitter buffer); the engine thread sizes that delay between
`min_ms` and `max_ms` from how unevenly audio arrives and how often the callback ran dry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from console.audio.codecs import LiveResampler
from console.audio.devices import DeviceStream, open_stream_args
from console.audio.ring import RingBuffer

__all__ = ["CHANNEL_MODES", "ListenOutput", "PlayerStats"]

Pcm = npt.NDArray[np.int16]
CHANNEL_MODES = ("mix", "split")  # split: customer left, agent right
_ROLES = ("customer", "agent")


class _Track(Protocol):
    key: str
    call_id: str
    rate: int

    @property
    def role(self) -> Any: ...  # a Role: compared by its string value


class _History(Protocol):
    rate: int

    def latest(self, n: int) -> Pcm: ...


@dataclass
class PlayerStats:
    callbacks: int
    underruns: int
    catch_ups: int
    target_ms: dict[str, float]
    buffered_ms: dict[str, float]


class _Lane:
    """One speaker's audio at the device rate. The engine thread writes the ring, `target`
    and `jump_*`; the callback owns `read_pos`, `playing` and the counters."""

    __slots__ = ("block", "boost", "buf", "fbuf", "jitter", "jump_gen", "jump_pos", "key",
                 "last_arrival", "last_samples", "pending_jump", "playing", "quiet_since",
                 "read_pos", "resampler", "ring", "seen_gen", "seen_underruns", "target",
                 "underruns")

    def __init__(self, rate: int, block: int, target: int) -> None:
        self.ring = RingBuffer(4.0, rate)
        self.block = block
        self.buf = np.zeros(block, np.int16)
        self.fbuf = np.zeros(block, np.float32)
        self.read_pos = 0
        self.playing = False
        self.pending_jump = False
        self.target = target
        self.jump_gen = 0
        self.seen_gen = 0
        self.jump_pos = 0
        self.underruns = 0
        self.seen_underruns = 0
        self.key = ""
        self.resampler: LiveResampler | None = None
        self.jitter = 0.0  # seconds, smoothed as RTP does (RFC 3550, 6.4.1)
        self.last_arrival = 0.0
        self.last_samples = 0.0
        self.boost = 0.0
        self.quiet_since = 0.0


class ListenOutput(DeviceStream):
    """Plays one call. `open` raises AudioDeviceError with a message for the supervisor."""

    output = True

    def __init__(self, device: str | int | None = None, *, mode: str = "mix",
                 volume: float = 1.0, min_ms: float = 40.0, max_ms: float = 120.0,
                 block_ms: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(device)
        self.mode = mode if mode in CHANNEL_MODES else "mix"
        self.volume = float(volume)
        self.min_ms, self.max_ms = min_ms, max_ms
        self.block_ms = block_ms
        self.clock = clock
        self.call_id: str | None = None
        self.rate = 0
        self.channels = 0
        self.callbacks = 0
        self.catch_ups = 0
        self.probe: Callable[[Any, Any], None] | None = None  # benchmarks only
        self._lanes: dict[str, _Lane] = {}
        self._gain = np.float32(self.volume / 32768.0)
        self._fade_in = np.zeros(0, np.float32)
        self._fade_out = np.zeros(0, np.float32)

    # --- device ---------------------------------------------------------------------------

    def open(self) -> None:
        sd, kwargs = open_stream_args(self.device, output=True)
        block = self.configure(int(kwargs.pop("samplerate")), int(kwargs.pop("channels")))
        self._start(sd, samplerate=self.rate, channels=self.channels, dtype="float32",
                    blocksize=block, callback=self._callback, **kwargs)

    def configure(self, rate: int, channels: int) -> int:
        """Buffers for a device at `rate` with `channels`; the block size in frames."""
        self.rate = rate
        self.channels = max(1, min(2, channels))
        block = max(1, int(self.rate * self.block_ms / 1000))
        target = self._ms(self.min_ms)
        self._lanes = {r: _Lane(self.rate, block, target) for r in _ROLES}
        self._fade_in = np.linspace(0.0, 1.0, block, dtype=np.float32)
        self._fade_out = self._fade_in[::-1].copy()
        return block

    def _ms(self, ms: float) -> int:
        return int(self.rate * ms / 1000)

    # --- engine thread --------------------------------------------------------------------

    def set_volume(self, volume: float) -> None:
        self.volume = max(0.0, min(2.0, float(volume)))
        self._gain = np.float32(self.volume / 32768.0)

    def select(self, call_id: str | None, history: dict[str, tuple[str, _History]]) -> None:
        """Play `call_id` from now on. `history` maps role -> (track key, ring at the
        track's rate): the last `target` of it is queued at once, so sound starts within a
        block and the jitter buffer is already full."""
        self.call_id = call_id
        for role, lane in self._lanes.items():
            lane.key = ""
            lane.resampler = None
            lane.boost = 0.0
            lane.jitter = 0.0
            lane.last_arrival = 0.0
            lane.target = self._ms(self.min_ms)
            start = lane.ring.written
            entry = history.get(role) if call_id is not None else None
            if entry is not None:
                key, ring = entry
                lane.key = key
                lane.resampler = (LiveResampler(ring.rate, self.rate)
                                  if ring.rate != self.rate else None)
                n = int(ring.rate * self.min_ms / 1000)
                self._write(lane, ring.latest(n))
            lane.jump_pos = start
            lane.jump_gen += 1  # the callback fades the old call out and this one in

    def feed(self, track: _Track, pcm: Pcm) -> None:
        if track.call_id != self.call_id or not self._lanes:
            return
        role = str(getattr(track.role, "value", track.role))
        lane = self._lanes.get(role)
        if lane is None:
            return
        if lane.key != track.key:  # a new leg or a reconnect: its own resampler
            lane.key = track.key
            lane.resampler = (LiveResampler(track.rate, self.rate)
                              if track.rate != self.rate else None)
            lane.last_arrival = 0.0
        self._adapt(lane, pcm.size / track.rate)
        self._write(lane, pcm)

    def track_ended(self, track: _Track) -> None:
        lane = self._lanes.get(str(getattr(track.role, "value", track.role)))
        if lane is not None and lane.key == track.key:
            lane.key = ""  # whatever comes next on this lane starts its own resampler

    @staticmethod
    def _write(lane: _Lane, pcm: Pcm) -> None:
        if lane.resampler is not None:
            pcm = lane.resampler.process(pcm)
        if pcm.size:
            lane.ring.write(pcm)

    def _adapt(self, lane: _Lane, duration: float) -> None:
        now = self.clock()
        if lane.last_arrival:
            # How much later (or earlier) this audio came than the previous batch's length.
            d = abs((now - lane.last_arrival) - lane.last_samples)
            lane.jitter += (d - lane.jitter) / 16.0
        lane.last_arrival, lane.last_samples = now, duration
        if lane.underruns != lane.seen_underruns:  # ran dry: keep more in hand for a while
            lane.seen_underruns = lane.underruns
            lane.boost = min(self.max_ms, lane.boost + 20.0)
            lane.quiet_since = now
        elif lane.boost and now - lane.quiet_since > 5.0:
            lane.boost = max(0.0, lane.boost - 10.0)
            lane.quiet_since = now
        want = max(self.min_ms, 20.0 + 3000.0 * lane.jitter) + lane.boost
        lane.target = self._ms(min(self.max_ms, want))

    # --- PortAudio thread: copies only ----------------------------------------------------

    def _pull(self, lane: _Lane, frames: int) -> None:
        """Fill lane.fbuf with the next block of this speaker, scaled to the volume."""
        buf = lane.buf
        if lane.jump_gen != lane.seen_gen:
            lane.seen_gen = lane.jump_gen
            if lane.playing:  # one more block of the old call, faded out: no click
                lane.ring.read_into(buf, lane.read_pos)
                np.multiply(buf, self._gain, out=lane.fbuf)
                np.multiply(lane.fbuf, self._fade_out, out=lane.fbuf)
                # The new call starts like any start: once its lane holds the target.
                lane.playing = False
                lane.read_pos = lane.jump_pos
                return
            lane.read_pos = lane.jump_pos
        written = lane.ring.written
        avail = written - lane.read_pos
        if not lane.playing:
            if avail < lane.target:
                lane.fbuf.fill(0.0)
                return
            lane.playing = True
            lane.pending_jump = True  # starts from silence: fade in
            lane.read_pos = written - lane.target
        elif avail > lane.target + max(lane.target, self._ms(60)):
            lane.read_pos = written - lane.target  # far behind (clock drift, a burst)
            self.catch_ups += 1
        got = lane.ring.read_into(buf, lane.read_pos)
        lane.read_pos += got
        if got < frames:
            lane.playing = False
            lane.underruns += 1
        np.multiply(buf, self._gain, out=lane.fbuf)
        if lane.pending_jump:
            lane.pending_jump = False
            np.multiply(lane.fbuf, self._fade_in, out=lane.fbuf)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        self.callbacks += 1
        lanes = self._lanes
        cust, agent = lanes["customer"], lanes["agent"]
        if frames != cust.block:  # PortAudio keeps the block size it was given
            outdata.fill(0)
            return
        self._pull(cust, frames)
        self._pull(agent, frames)
        if self.channels == 1 or self.mode == "mix":
            np.add(cust.fbuf, agent.fbuf, out=cust.fbuf)
            np.clip(cust.fbuf, -1.0, 1.0, out=cust.fbuf)
            for ch in range(self.channels):
                outdata[:, ch] = cust.fbuf
        else:
            outdata[:, 0] = cust.fbuf
            outdata[:, 1] = agent.fbuf
        if self.probe is not None:
            self.probe(outdata, time_info)

    # --- health ---------------------------------------------------------------------------

    def stats(self) -> PlayerStats:
        lanes = self._lanes
        rate = self.rate or 1
        return PlayerStats(
            callbacks=self.callbacks,
            underruns=sum(lane.underruns for lane in lanes.values()),
            catch_ups=self.catch_ups,
            target_ms={r: 1000 * lane.target / rate for r, lane in lanes.items()},
            buffered_ms={r: 1000 * max(0, lane.ring.written - lane.read_pos) / rate
                         for r, lane in lanes.items()},
        )
