"""Single-writer ring buffer of int16 samples that readers on other threads copy from."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["BlockIO", "RingBuffer"]


class RingBuffer:
    """`written` counts every sample ever written; readers address absolute positions.

    The engine thread writes; the UI timer and audio callbacks read. Capacity is kept far
    above any read so a read never races a wrap-around in practice.
    """

    __slots__ = ("_buf", "_mask", "capacity", "rate", "written")

    def __init__(self, seconds: float, rate: int) -> None:
        size = 1
        while size < int(seconds * rate):
            size <<= 1
        self._buf = np.zeros(size, dtype=np.int16)
        self._mask = size - 1
        self.capacity = size
        self.rate = rate
        self.written = 0

    def write(self, samples: npt.NDArray[np.int16]) -> None:
        n = samples.size
        if n == 0:
            return
        if n >= self.capacity:
            samples = samples[-self.capacity :]
            self.written += n - self.capacity
            n = self.capacity
        start = self.written & self._mask
        end = start + n
        if end <= self.capacity:
            self._buf[start:end] = samples
        else:
            split = self.capacity - start
            self._buf[start:] = samples[:split]
            self._buf[: n - split] = samples[split:]
        self.written += n

    def write_silence(self, n: int) -> None:
        if n <= 0:
            return
        zeros = min(n, self.capacity)
        self.written += n - zeros  # positions still count every sample
        start = self.written & self._mask
        end = start + zeros
        if end <= self.capacity:
            self._buf[start:end] = 0
        else:
            self._buf[start:] = 0
            self._buf[: end - self.capacity] = 0
        self.written += zeros

    def read_into(self, out: npt.NDArray[np.int16], position: int) -> int:
        """Copy samples from absolute `position` into `out` without allocating.

        Returns how many were available; the rest of `out` is zeroed (an underrun)."""
        n = out.size
        available = self.written - position
        oldest = self.written - self.capacity
        if position < oldest:
            position = oldest
            available = self.capacity
        take = max(0, min(n, available))
        if take:
            start = position & self._mask
            end = start + take
            if end <= self.capacity:
                out[:take] = self._buf[start:end]
            else:
                split = self.capacity - start
                out[:split] = self._buf[start:]
                out[split:take] = self._buf[: take - split]
        if take < n:
            out[take:] = 0
        return take

    def latest(self, n: int) -> npt.NDArray[np.int16]:
        """A copy of the last `n` samples, zeros in front where there are none."""
        out = np.zeros(n, dtype=np.int16)
        avail = min(n, self.written, self.capacity)
        if avail:
            self.read_into(out[n - avail :], self.written - avail)
        return out


class BlockIO:
    """Copies blocks of one fixed size out of, or into, RingBuffers without creating any array,
    not even a view: for audio callbacks. Slicing the ring would make a view per copy; here
    preallocated index arrays address it (`take`/`put` wrap at the power-of-two capacity).
    One instance per thread: the index arrays are scratch."""

    __slots__ = ("_idx", "_offset", "_steps", "_tail", "_taken", "_zeros", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._steps = np.arange(size, dtype=np.intp)
        self._idx = np.zeros(size, dtype=np.intp)
        self._offset = np.zeros((), dtype=np.intp)  # 0-d: broadcasting it allocates nothing
        self._taken = np.zeros((), dtype=np.intp)
        self._tail = np.zeros(size, dtype=np.bool_)
        self._zeros = np.zeros(size, dtype=np.int16)

    def _address(self, ring: RingBuffer, position: int) -> None:
        self._offset[()] = position & ring._mask
        np.add(self._steps, self._offset, out=self._idx)

    def read(self, ring: RingBuffer, out: npt.NDArray[np.int16], position: int) -> int:
        """`ring.read_into(out, position)` for an `out` of `size` samples, allocating nothing:
        how many samples were available; the rest of `out` is zeroed."""
        n = self.size
        available = ring.written - position
        if available > ring.capacity:  # overwritten already: the oldest there is
            position = ring.written - ring.capacity
            available = ring.capacity
        if available <= 0:
            out.fill(0)
            return 0
        self._address(ring, position)
        ring._buf.take(self._idx, out=out, mode="wrap")
        if available < n:
            self._taken[()] = available
            np.greater_equal(self._steps, self._taken, out=self._tail)
            np.copyto(out, self._zeros, where=self._tail)
            return available
        return n

    def write(self, ring: RingBuffer, samples: npt.NDArray[np.int16]) -> None:
        """`ring.write(samples)` for `size` samples in any shape (a (frames, 1) callback
        buffer too), allocating nothing; other sizes go through `ring.write`."""
        if samples.size != self.size or self.size > ring.capacity:
            ring.write(samples.reshape(-1))
            return
        self._address(ring, ring.written)
        ring._buf.put(self._idx, samples, mode="wrap")
        ring.written += self.size
