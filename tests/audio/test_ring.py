"""RingBuffer: absolute positions, wrap-around, underruns, latest(), silence."""

from __future__ import annotations

import numpy as np
import pytest

from console.audio.ring import RingBuffer


def ramp(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def test_capacity_is_a_power_of_two_at_least_seconds_times_rate() -> None:
    assert RingBuffer(1.0, 8000).capacity == 8192
    assert RingBuffer(8, 1).capacity == 8
    assert RingBuffer(9, 1).capacity == 16
    rb = RingBuffer(2.0, 16000)
    assert rb.capacity >= 32000
    assert rb.capacity & (rb.capacity - 1) == 0
    assert rb.rate == 16000
    assert rb.written == 0


def test_write_and_read_into() -> None:
    rb = RingBuffer(16, 1)
    rb.write(ramp(1, 10))
    assert rb.written == 10
    out = np.full(4, -1, dtype=np.int16)
    assert rb.read_into(out, 3) == 4
    assert out.tolist() == [4, 5, 6, 7]


def test_read_into_across_wrap_around() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 6))
    rb.write(ramp(7, 6))  # positions 6..11 wrap to slots 6,7,0,1,2,3
    assert rb.written == 12
    out = np.zeros(6, dtype=np.int16)
    assert rb.read_into(out, 5) == 6
    assert out.tolist() == [6, 7, 8, 9, 10, 11]
    out = np.zeros(8, dtype=np.int16)
    assert rb.read_into(out, 4) == 8
    assert out.tolist() == list(range(5, 13))


def test_many_small_writes_wrap_correctly() -> None:
    rb = RingBuffer(16, 1)
    total = np.arange(1, 101, dtype=np.int16)
    for i in range(0, 100, 7):
        rb.write(total[i : i + 7])
    assert rb.written == 100
    out = np.zeros(16, dtype=np.int16)
    assert rb.read_into(out, 84) == 16
    np.testing.assert_array_equal(out, total[84:])


def test_underrun_zero_fills_and_returns_count() -> None:
    rb = RingBuffer(16, 1)
    rb.write(ramp(1, 5))
    out = np.full(8, -1, dtype=np.int16)
    assert rb.read_into(out, 2) == 3
    assert out.tolist() == [3, 4, 5, 0, 0, 0, 0, 0]


def test_read_at_or_past_the_write_position_is_all_zero() -> None:
    rb = RingBuffer(16, 1)
    rb.write(ramp(1, 5))
    out = np.full(4, -1, dtype=np.int16)
    assert rb.read_into(out, 5) == 0
    assert not out.any()
    out[:] = -1
    assert rb.read_into(out, 50) == 0
    assert not out.any()


def test_read_into_empty_out() -> None:
    rb = RingBuffer(16, 1)
    rb.write(ramp(1, 5))
    assert rb.read_into(np.zeros(0, dtype=np.int16), 0) == 0


def test_read_older_than_capacity_skips_to_oldest_kept() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 20))  # keeps positions 12..19 (values 13..20)
    out = np.zeros(4, dtype=np.int16)
    assert rb.read_into(out, 0) == 4
    assert out.tolist() == [13, 14, 15, 16]


def test_write_bigger_than_capacity_keeps_the_tail_and_counts_everything() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 3))
    rb.write(ramp(4, 21))  # 21 samples into a ring of 8
    assert rb.written == 24
    out = np.zeros(8, dtype=np.int16)
    assert rb.read_into(out, 16) == 8
    assert out.tolist() == list(range(17, 25))
    # And the ring keeps working after it.
    rb.write(ramp(25, 3))
    out = np.zeros(4, dtype=np.int16)
    assert rb.read_into(out, 23) == 4
    assert out.tolist() == [24, 25, 26, 27]


def test_write_exactly_capacity() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 5))
    rb.write(ramp(6, 8))
    assert rb.written == 13
    np.testing.assert_array_equal(rb.latest(8), ramp(6, 8))


def test_write_empty_is_a_no_op() -> None:
    rb = RingBuffer(8, 1)
    rb.write(np.zeros(0, dtype=np.int16))
    assert rb.written == 0


def test_latest() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 12))
    assert rb.latest(3).tolist() == [10, 11, 12]
    assert rb.latest(8).tolist() == list(range(5, 13))
    assert rb.latest(0).size == 0
    copy = rb.latest(2)
    copy[:] = 0
    assert rb.latest(2).tolist() == [11, 12]  # a copy, not a view


def test_latest_before_anything_written_is_zeros() -> None:
    rb = RingBuffer(8, 1)
    out = rb.latest(5)
    assert out.dtype == np.int16
    assert out.tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("n", [4, 8])
def test_latest_with_fewer_samples_written_pads_zeros_in_front(n: int) -> None:
    rb = RingBuffer(8, 1)
    rb.write(np.array([1, 2, 3], dtype=np.int16))
    assert rb.latest(n).tolist() == [0] * (n - 3) + [1, 2, 3]


def test_latest_with_fewer_samples_after_wrapping_data_was_silence() -> None:
    rb = RingBuffer(8, 1)
    rb.write(np.array([7, 8], dtype=np.int16))
    assert rb.latest(2).tolist() == [7, 8]
    assert rb.latest(1).tolist() == [8]


def test_latest_longer_than_capacity_ends_with_the_newest_sample() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 20))
    out = rb.latest(10)
    assert out.size == 10
    assert out[-1] == 20  # "the last n samples": newest at the end
    assert out.tolist() == [0, 0, *range(13, 21)]


def test_write_silence() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 6))
    rb.write_silence(4)  # wraps: slots 6, 7, 0, 1
    assert rb.written == 10
    rb.write(ramp(11, 2))
    assert rb.latest(8).tolist() == [5, 6, 0, 0, 0, 0, 11, 12]
    rb.write_silence(0)
    rb.write_silence(-3)
    assert rb.written == 12


def test_write_silence_overwrites_old_data() -> None:
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 8))
    rb.write_silence(8)
    assert rb.written == 16
    assert not rb.latest(8).any()


def test_write_silence_longer_than_capacity_counts_every_sample() -> None:
    # `written` counts every sample ever written, so positions stay aligned with time.
    rb = RingBuffer(8, 1)
    rb.write(ramp(1, 3))
    rb.write_silence(20)
    assert rb.written == 23
    assert not rb.latest(8).any()
    rb.write(ramp(100, 2))
    assert rb.written == 25
    out = np.zeros(2, dtype=np.int16)
    assert rb.read_into(out, 23) == 2
    assert out.tolist() == [100, 101]
