"""LiveResampler: steady block sizes, exact length, the right pitch, ~1 ms delay, agreement
with soxr, seamless joins, anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import peak_frequency, tone_s

from console.audio.codecs import LiveResampler, resample

RATIOS = [(8000, 48000), (16000, 48000), (48000, 8000), (48000, 16000), (8000, 44100),
          (44100, 8000)]


def two_tones(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 6000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1500 * t + 0.3)
    return np.rint(x).astype(np.int16)


def feed(r: LiveResampler, x: np.ndarray, block: int) -> list[np.ndarray]:
    return [r.process(x[i : i + block]) for i in range(0, x.size, block)]


def phase_delay_s(y: np.ndarray, rate: int, freq: float, start: int) -> float:
    """Delay of the `freq` component of y against sin(2*pi*freq*t), by least squares
    (modulo one period)."""
    t = np.arange(y.size)[start:] / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, y[start:].astype(np.float64), rcond=None)
    # a sin(wt) + b cos(wt) = A sin(w(t - d)), so -w d = atan2(b, a)
    period = 1.0 / freq
    return float((-np.arctan2(b, a) / (2 * np.pi * freq)) % period)


def fractional_shift(y: np.ndarray, samples: float) -> np.ndarray:
    """y delayed by a fractional number of samples (band-limited, circular)."""
    f = np.fft.rfftfreq(y.size)
    shifted: np.ndarray = np.fft.irfft(np.fft.rfft(y) * np.exp(-2j * np.pi * f * samples), y.size)
    return shifted


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
@pytest.mark.parametrize("block_ms", [10.0, 20.0])
def test_steady_output_size_per_block(from_rate: int, to_rate: int, block_ms: float) -> None:
    block = int(from_rate * block_ms / 1000)
    sizes = [o.size for o in feed(LiveResampler(from_rate, to_rate),
                                  tone_s(440, from_rate, 0.5), block)]
    expected = round(block * to_rate / from_rate)
    assert all(abs(s - expected) <= 1 for s in sizes[2:]), (expected, sorted(set(sizes)))
    assert sizes[0] > 0  # output from the very first block: no start-up hold


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_odd_block_sizes_stay_steady(from_rate: int, to_rate: int) -> None:
    block = 37
    sizes = [o.size for o in feed(LiveResampler(from_rate, to_rate),
                                  tone_s(440, from_rate, 0.2), block)]
    full = sizes[:-1]  # the last block may be short
    expected = block * to_rate / from_rate
    assert all(abs(s - expected) <= 1 for s in full[2:]), (expected, sorted(set(full)))


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_total_length_is_exact_ratio(from_rate: int, to_rate: int) -> None:
    x = tone_s(440, from_rate, 1.0)
    out = feed(LiveResampler(from_rate, to_rate), x, from_rate // 100)
    total = sum(o.size for o in out)
    assert abs(total - x.size * to_rate / from_rate) <= 2
    # and with an awkward block size
    out = feed(LiveResampler(from_rate, to_rate), x, 37)
    assert abs(sum(o.size for o in out) - x.size * to_rate / from_rate) <= 2


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_tone_keeps_its_pitch(from_rate: int, to_rate: int) -> None:
    out = np.concatenate(feed(LiveResampler(from_rate, to_rate), tone_s(440, from_rate, 1.0),
                              from_rate // 100))
    assert out.dtype == np.int16
    assert abs(peak_frequency(out, to_rate) - 440) <= 2
    # level kept: amplitude 8000 in, about 8000 out
    steady = out[to_rate // 10 :]
    assert 7800 <= np.max(np.abs(steady)) <= 8200


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_delay_under_2ms_by_impulse(from_rate: int, to_rate: int) -> None:
    x = np.zeros(from_rate // 10, np.int16)
    at = from_rate // 20
    x[at] = 20000
    y = np.concatenate(feed(LiveResampler(from_rate, to_rate), x, from_rate // 100))
    peak = int(np.argmax(np.abs(y)))
    delay = peak / to_rate - at / from_rate
    assert 0.0 <= delay < 0.002, delay


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_delay_under_2ms_by_phase(from_rate: int, to_rate: int) -> None:
    y = np.concatenate(feed(LiveResampler(from_rate, to_rate), tone_s(440, from_rate, 0.5),
                            from_rate // 100))
    delay = phase_delay_s(y, to_rate, 440, to_rate // 20)
    assert delay < 0.002, delay
    # the ideal sine, delayed by that much, is what comes out
    t = np.arange(y.size) / to_rate
    ideal = 8000 * np.sin(2 * np.pi * 440 * (t - delay))
    err = np.abs(y[to_rate // 20 :] - ideal[to_rate // 20 :])
    assert np.max(err) < 0.01 * 8000


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_matches_soxr_after_alignment(from_rate: int, to_rate: int) -> None:
    x = two_tones(from_rate, 1.0)
    y = np.concatenate(feed(LiveResampler(from_rate, to_rate), x, from_rate // 100))
    ref = resample(x, from_rate, to_rate).astype(np.float64)
    assert ref.size == y.size
    delay = phase_delay_s(y, to_rate, 440, to_rate // 10)
    aligned = fractional_shift(ref, delay * to_rate)
    edge = to_rate // 10  # start-up of both, and the circular shift's wrap
    diff = np.abs(y[edge:-edge] - aligned[edge:-edge])
    amplitude = float(np.max(np.abs(ref)))
    # measured: about 0.2% of amplitude for every ratio here
    assert np.max(diff) < 0.01 * amplitude, np.max(diff) / amplitude


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
@pytest.mark.parametrize("block", [37, 1])
def test_joins_are_seamless(from_rate: int, to_rate: int, block: int) -> None:
    x = two_tones(from_rate, 0.3 if block > 1 else 0.03)
    whole = LiveResampler(from_rate, to_rate).process(x)
    pieces = np.concatenate(feed(LiveResampler(from_rate, to_rate), x, block))
    assert pieces.size == whole.size
    assert np.max(np.abs(pieces.astype(np.int32) - whole.astype(np.int32))) <= 1


def test_uneven_blocks_are_seamless() -> None:
    x = two_tones(8000, 0.5)
    whole = LiveResampler(8000, 44100).process(x)
    r = LiveResampler(8000, 44100)
    rng = np.random.default_rng(7)
    parts, i = [], 0
    while i < x.size:
        n = int(rng.integers(0, 300))
        parts.append(r.process(x[i : i + n]))
        i += n
    pieces = np.concatenate(parts)
    assert pieces.size == whole.size
    assert np.max(np.abs(pieces.astype(np.int32) - whole.astype(np.int32))) <= 1


@pytest.mark.parametrize("from_rate", [48000, 44100])
def test_anti_aliasing_5khz_to_8khz(from_rate: int) -> None:
    amplitude = 8000.0
    x = tone_s(5000, from_rate, 0.5, amplitude)
    y = np.concatenate(feed(LiveResampler(from_rate, 8000), x, from_rate // 100))
    steady = y[400:].astype(np.float64)
    rms_out = max(float(np.sqrt(np.mean(steady**2))), 1e-9)
    rms_in = amplitude / np.sqrt(2)
    assert 20 * np.log10(rms_out / rms_in) <= -40.0


def test_passband_tone_near_new_nyquist_is_kept() -> None:
    # 3 kHz at 48 kHz is under 8 kHz's Nyquist: it must pass, not be cut with the aliases
    y = np.concatenate(feed(LiveResampler(48000, 8000), tone_s(3000, 48000, 0.5), 480))
    steady = y[400:].astype(np.float64)
    assert np.sqrt(np.mean(steady**2)) > 0.8 * 8000 / np.sqrt(2)
    assert abs(peak_frequency(y, 8000) - 3000) <= 4


@pytest.mark.parametrize(("from_rate", "to_rate"), RATIOS)
def test_empty_input(from_rate: int, to_rate: int) -> None:
    r = LiveResampler(from_rate, to_rate)
    out = r.process(np.zeros(0, np.int16))
    assert out.dtype == np.int16
    assert out.size == 0
    # an empty block in the middle changes nothing
    x = tone_s(440, from_rate, 0.1)
    a = LiveResampler(from_rate, to_rate)
    first = a.process(x[: x.size // 2])
    assert a.process(x[:0]).size == 0
    joined = np.concatenate((first, a.process(x[x.size // 2 :])))
    assert np.array_equal(joined, r.process(x))


def test_full_scale_is_clipped_not_wrapped() -> None:
    x = tone_s(440, 8000, 0.2, 32767)
    y = np.concatenate(feed(LiveResampler(8000, 48000), x, 80))
    # overshoot past full scale must saturate; a wrap would jump to the other rail (~65536)
    assert np.max(np.abs(np.diff(y.astype(np.int32)))) < 8000
    assert np.max(y) >= 32000 and np.min(y) <= -32000


@pytest.mark.parametrize(("src", "dst"), [(12345, 16000), (47999, 8000), (8001, 48000),
                                          (1_000_003, 16000), (11025, 96000)])
def test_odd_rates_cost_a_bounded_filter_and_keep_time(src: int, dst: int) -> None:
    # A rate a peer names used to size the filter: 1,000,003 Hz built a bank of millions of
    # taps and stalled the engine for seconds.
    from console.audio.codecs import MAX_PHASES

    r = LiveResampler(src, dst)
    assert r.up <= MAX_PHASES and r._bank.size <= 1_100_000
    produced = r.process(np.zeros(src, np.int16)).size  # one second in
    assert abs(produced - dst) <= dst * 0.0005 + r.taps


def test_a_ratio_past_64_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot resample"):
        LiveResampler(10_000_019, 16000)
    with pytest.raises(ValueError, match="cannot resample"):
        LiveResampler(0, 16000)
