"""Listening: the selected call on the supervisor's output device.

The engine thread feeds each track's decoded audio in (`feed`); it is resampled to the
device's rate and written to one ring per speaker. The PortAudio callback copies from those
rings into the device buffer: no lock, no waiting, and no arrays made (not even views: every
buffer it touches is preallocated and every numpy step writes with `out=`; the only objects it
creates are the interpreter's integer results). Each ring is played a little behind its newest
sample (the jitter buffer); the engine thread sizes that delay between `min_ms` and `max_ms`
from how unevenly audio arrives and how often the callback ran dry. The callback holds the
delay there: audio that piled up (the engine loop or the device stalling for a moment) is
skipped with a crossfade once the surplus has lasted `TRIM_WINDOW_S`, so one stall does not
add its length to everything heard afterwards.
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
from console.audio.ring import BlockIO, RingBuffer

__all__ = ["CHANNEL_MODES", "TRIM_WINDOW_S", "ListenOutput", "PlayerStats"]

Pcm = npt.NDArray[np.int16]
CHANNEL_MODES = ("mix", "split")  # split: customer left, agent right
_ROLES = ("customer", "agent")
# How long a lane must hold more than its target before the surplus is skipped: long enough
# that arrival jitter (which the target already covers) never looks like surplus.
TRIM_WINDOW_S = 0.5
_FAR_MS = 60.0  # this far beyond the target (and at least the target again): skip at once
_NONE = 1 << 62  # "no low-water mark yet"
_NO_LEAD = float("-inf")
# Scalars as 0-d arrays: a numpy scalar operand is turned into an array on every ufunc call.
_ONE, _MINUS_ONE = np.full((), 1.0, np.float32), np.full((), -1.0, np.float32)


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
    trims: int  # surplus skipped after it lasted TRIM_WINDOW_S
    device_xruns: int  # callbacks PortAudio flagged (the device ran dry: we were late)
    target_ms: dict[str, float]
    buffered_ms: dict[str, float]


class _Lane:
    """One speaker's audio at the device rate. The engine thread writes the ring, `target`,
    `far` and `jump_*`; the callback owns `read_pos`, `playing`, `low`, `window_left` and the
    counters. `fbuf` is this speaker's column of the player's stereo buffer."""

    __slots__ = ("boost", "buf", "far", "fbuf", "fbuf2", "io", "jitter", "jump_gen", "jump_pos",
                 "key", "last_arrival", "last_samples", "low", "pending_jump", "playing",
                 "quiet_since", "read_pos", "resampler", "ring", "seen_gen", "seen_underruns",
                 "target", "underruns", "window_left")

    def __init__(self, rate: int, block: int, target: int, far: int,
                 fbuf: npt.NDArray[np.float32]) -> None:
        self.ring = RingBuffer(4.0, rate)
        self.io = BlockIO(block)
        self.buf = np.zeros(block, np.int16)
        self.fbuf = fbuf
        self.fbuf2 = np.zeros(block, np.float32)  # the block faded out under a skip
        self.read_pos = 0
        self.playing = False
        self.pending_jump = False
        self.target = target
        self.far = far  # beyond this many samples in hand, skip to the target at once
        self.low = _NONE  # fewest samples in hand at a callback, this window
        self.window_left = 0
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
                 volume: float = 1.0, min_ms: float = 30.0, max_ms: float = 120.0,
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
        self.trims = 0
        self.device_xruns = 0
        self.probe: Callable[[Any, Any], None] | None = None  # benchmarks only
        self._lanes: dict[str, _Lane] = {}
        self._cust: _Lane | None = None
        self._agent: _Lane | None = None
        self._gain = np.full((), self.volume / 32768.0, np.float32)  # 0-d, as _ONE
        self._fade_in = np.zeros(0, np.float32)
        self._fade_out = np.zeros(0, np.float32)
        self._stereo = np.zeros((0, 2), np.float32)
        self._mono = self._stereo[:, :1]
        self._window = 1
        self._priming = False
        self._lead = _NO_LEAD
        self._half_block_s = 0.0

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
        # Customer left, agent right; "mix" sums into the left and copies it everywhere.
        self._stereo = np.zeros((block, 2), np.float32)
        self._mono = self._stereo[:, :1]
        self._lanes = {r: _Lane(self.rate, block, target, self._far(target),
                                self._stereo[:, i]) for i, r in enumerate(_ROLES)}
        self._cust, self._agent = self._lanes["customer"], self._lanes["agent"]
        self._fade_in = np.linspace(0.0, 1.0, block, dtype=np.float32)
        self._fade_out = self._fade_in[::-1].copy()
        self._window = max(1, round(TRIM_WINDOW_S * self.rate / block))
        self._half_block_s = block / self.rate / 2
        self._priming, self._lead = True, _NO_LEAD
        return block

    def _ms(self, ms: float) -> int:
        return int(self.rate * ms / 1000)

    def _far(self, target: int) -> int:
        return target + max(target, self._ms(_FAR_MS))

    # --- engine thread --------------------------------------------------------------------

    def set_volume(self, volume: float) -> None:
        self.volume = max(0.0, min(2.0, float(volume)))
        self._gain[()] = self.volume / 32768.0  # in place: the callback holds no copy

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
            lane.far = self._far(lane.target)
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
        target = self._ms(min(self.max_ms, want))
        lane.far = self._far(target)  # first: a callback in between sees a wider band only
        lane.target = target

    # --- PortAudio thread: copies only ----------------------------------------------------

    def _scaled(self, lane: _Lane, out: npt.NDArray[np.float32]) -> None:
        np.copyto(out, lane.buf)  # int16 -> float32 is exact; a mixed-type multiply would
        np.multiply(out, self._gain, out=out)  # need a casting buffer (an allocation)

    def _pull(self, lane: _Lane, frames: int) -> None:
        """Fill lane.fbuf with the next block of this speaker, scaled to the volume."""
        buf, fbuf = lane.buf, lane.fbuf
        if lane.jump_gen != lane.seen_gen:
            lane.seen_gen = lane.jump_gen
            if lane.playing:  # one more block of the old call, faded out: no click
                lane.io.read(lane.ring, buf, lane.read_pos)
                self._scaled(lane, fbuf)
                np.multiply(fbuf, self._fade_out, out=fbuf)
                # The new call starts like any start: once its lane holds the target.
                lane.playing = False
                lane.read_pos = lane.jump_pos
                return
            lane.read_pos = lane.jump_pos
        written = lane.ring.written
        avail = written - lane.read_pos
        skip_to = -1
        if not lane.playing:
            if avail < lane.target:
                fbuf.fill(0.0)
                return
            lane.playing = True
            lane.pending_jump = True  # starts from silence: fade in
            lane.read_pos = written - lane.target
            lane.low, lane.window_left = _NONE, self._window
        elif avail > lane.far:  # far behind (a burst): back to the target now
            skip_to = written - lane.target
            self.catch_ups += 1
            lane.low, lane.window_left = _NONE, self._window
        else:
            if avail < lane.low:
                lane.low = avail
            lane.window_left -= 1
            if lane.window_left <= 0:
                # Right after a start the lane holds `target` and, a block later, one block
                # less. Holding more than half a block beyond that for a whole window (a
                # stall's backlog, the device's clock running slow) is surplus: skip it.
                surplus = lane.low - (lane.target - frames)
                if surplus > frames // 2:
                    skip_to = lane.read_pos + surplus
                    self.trims += 1
                lane.low, lane.window_left = _NONE, self._window
        if skip_to >= 0:  # crossfade from where we were to where we skip to
            lane.io.read(lane.ring, buf, lane.read_pos)
            self._scaled(lane, lane.fbuf2)
            np.multiply(lane.fbuf2, self._fade_out, out=lane.fbuf2)
            lane.read_pos = skip_to
        got = lane.io.read(lane.ring, buf, lane.read_pos)
        lane.read_pos += got
        if got < frames:
            lane.playing = False
            lane.underruns += 1
        self._scaled(lane, fbuf)
        if lane.pending_jump:
            lane.pending_jump = False
            np.multiply(fbuf, self._fade_in, out=fbuf)
        elif skip_to >= 0:
            np.multiply(fbuf, self._fade_in, out=fbuf)
            np.add(fbuf, lane.fbuf2, out=fbuf)

    def _primed(self, time_info: Any) -> bool:
        """False while a new stream fills the device's buffer: PortAudio then calls back
        several times at once (ALSA: four 10 ms blocks within a millisecond), each buffer
        due a block later than the last. Playing the call into those would drain the jitter
        buffer at once, run dry and count it as late audio; silence fills them instead."""
        if time_info is None:  # driven by hand
            self._priming = False
            return True
        lead = time_info.outputBufferDacTime - time_info.currentTime
        growing = lead > self._lead + self._half_block_s
        self._lead = lead
        if growing:
            return False
        self._priming = False
        return True

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        self.callbacks += 1
        if status:  # CallbackFlags: true when PortAudio flags an underflow
            self.device_xruns += 1
        if self._priming and not self._primed(time_info):
            outdata.fill(0)
            return
        cust, agent = self._cust, self._agent
        if cust is None or agent is None or frames != cust.io.size:
            outdata.fill(0)  # PortAudio keeps the block size it was given: never here
            return
        self._pull(cust, frames)
        self._pull(agent, frames)
        if self.channels == 1 or self.mode == "mix":
            mixed = cust.fbuf
            np.add(mixed, agent.fbuf, out=mixed)
            np.minimum(mixed, _ONE, out=mixed)
            np.maximum(mixed, _MINUS_ONE, out=mixed)
            np.copyto(outdata, self._mono)  # the one column into every channel
        else:
            np.copyto(outdata, self._stereo)
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
            trims=self.trims,
            device_xruns=self.device_xruns,
            target_ms={r: 1000 * lane.target / rate for r, lane in lanes.items()},
            buffered_ms={r: 1000 * max(0, lane.ring.written - lane.read_pos) / rate
                         for r, lane in lanes.items()},
        )
