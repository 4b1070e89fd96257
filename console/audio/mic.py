"""The supervisor's microphone: the PortAudio callback copies each block into a ring and
wakes the engine's loop through a non-blocking pipe (no lock, no wait, no array made: the
ring is addressed through preallocated indices); the engine thread takes whole frames from
there (`MicInput.take`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from console.audio.devices import DeviceStream, open_stream_args
from console.audio.ring import BlockIO, RingBuffer

__all__ = ["MicInput"]

Pcm = npt.NDArray[np.int16]
_WAKE = b"\x01"


class MicInput(DeviceStream):
    output = False

    def __init__(self, device: str | int | None = None, *, block_ms: float = 10.0) -> None:
        super().__init__(device)
        self.block_ms = block_ms
        self.rate = 0
        self.ring: RingBuffer | None = None
        self.io: BlockIO | None = None
        self.read_pos = 0
        self.callbacks = 0
        self.probe: Callable[[Any, Any], None] | None = None  # benchmarks only
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    @property
    def wake_fd(self) -> int:
        """Readable whenever new audio has come in (for loop.add_reader)."""
        return self._wake_r

    def open(self) -> None:
        sd, kwargs = open_stream_args(self.device, output=False)
        kwargs.pop("channels")
        block = self.configure(int(kwargs.pop("samplerate")))
        self._start(sd, samplerate=self.rate, channels=1, dtype="int16", blocksize=block,
                    callback=self._callback, **kwargs)

    def configure(self, rate: int) -> int:
        """Buffers for a microphone at `rate`; the block size in frames."""
        self.rate = rate
        self.ring = RingBuffer(4.0, rate)
        self.read_pos = 0
        block = max(1, int(rate * self.block_ms / 1000))
        self.io = BlockIO(block)
        return block

    def dispose(self) -> None:
        self.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        ring, io = self.ring, self.io
        if ring is None or io is None:
            return
        io.write(ring, indata)  # (frames, 1): written as is, no column view
        self.callbacks += 1
        if self.probe is not None:
            self.probe(indata, time_info)
        # Not contextlib.suppress: that makes an object per call. A full pipe means the
        # engine has wake-ups pending anyway.
        try:  # noqa: SIM105
            os.write(self._wake_w, _WAKE)
        except OSError:
            pass

    # --- engine thread --------------------------------------------------------------------

    def drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wake_r, 4096):
                pass

    def take(self, n: int) -> Pcm | None:
        """The next `n` samples, or None until that many have come in. Falls forward when
        the reader was so late that the ring wrapped (nothing stale is ever sent)."""
        ring = self.ring
        if ring is None:
            return None
        written = ring.written
        if written - self.read_pos > ring.capacity // 2:
            self.read_pos = written - n
        if written - self.read_pos < n:
            return None
        out = np.empty(n, np.int16)
        ring.read_into(out, self.read_pos)
        self.read_pos += n
        return out

    def skip_to_now(self) -> None:
        if self.ring is not None:
            self.read_pos = self.ring.written
