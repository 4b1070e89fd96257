"""ListenOutput without a device: the callback driven by hand, the jitter buffer, mixing,
adaptation, catch-up, trimming a backlog, the instant, faded switch between calls, and that
the callback creates no arrays and allocates no buffers."""

from __future__ import annotations

import statistics
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from helpers import peak_frequency, tone_s

from console.audio.player import TRIM_WINDOW_S, ListenOutput
from console.audio.ring import RingBuffer
from console.core.events import Role

RATE = 48000
BLOCK = 480  # 10 ms at 48 kHz
MS = RATE // 1000


@dataclass
class Track:
    key: str
    call_id: str
    rate: int
    role: Any


class Clock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def player(clock: Clock | None = None, **kwargs: Any) -> ListenOutput:
    kwargs.setdefault("min_ms", 40.0)  # these tests' figures are for a 40 ms jitter buffer
    out = ListenOutput(clock=clock or Clock(), **kwargs)
    assert out.configure(RATE, 2) == BLOCK
    return out


def run(out: ListenOutput, outdata: np.ndarray) -> np.ndarray:
    """One callback; a copy of what it wrote."""
    out._callback(outdata, BLOCK, None, None)
    return outdata.copy()


def new_outdata() -> np.ndarray:
    return np.full((BLOCK, 2), 7.0, np.float32)  # garbage the callback must overwrite


def cust(call_id: str = "A", key: str = "A-c", rate: int = RATE, role: Any = "customer"
         ) -> Track:
    return Track(key, call_id, rate, role)


def agent(call_id: str = "A", key: str = "A-a", rate: int = RATE, role: Any = Role.AGENT
          ) -> Track:
    return Track(key, call_id, rate, role)


def listening(seconds: float, fed_ms: int = 40, both: bool = False
              ) -> tuple[Clock, ListenOutput, np.ndarray, np.ndarray]:
    """Call A selected on a player with its own clock, and a 440 Hz tone `seconds` long whose
    first `fed_ms` (40: the jitter target, so it plays) are fed to the customer's lane, and
    the agent's too with `both`. Returns the clock, the player, new outdata and the tone."""
    clock = Clock()
    out = player(clock)
    out.select("A", {})
    x = tone_s(440, RATE, seconds)
    if fed_ms:
        out.feed(cust(), x[: fed_ms * MS])
        if both:
            out.feed(agent(), x[: fed_ms * MS])
    return clock, out, new_outdata(), x


# --- starting ---------------------------------------------------------------------------------


def test_nothing_plays_before_select() -> None:
    out = player()
    od = new_outdata()
    out.feed(cust(), tone_s(440, RATE, 0.2))
    for _ in range(5):
        assert not run(out, od).any()
    assert out.stats().buffered_ms == {"customer": 0.0, "agent": 0.0}


def test_nothing_plays_until_jitter_target_is_fed() -> None:
    out = player()
    out.select("A", {})
    od = new_outdata()
    x = tone_s(440, RATE, 0.1)
    out.feed(cust(), x[: 30 * MS])
    for _ in range(3):
        assert not run(out, od).any()
    assert out.stats().buffered_ms["customer"] == pytest.approx(30.0)
    out.feed(cust(), x[30 * MS : 40 * MS])
    block = run(out, od)
    assert np.abs(block[:, 0]).max() > 0.1
    # played from the oldest of the 40 ms, faded in from silence
    expected = x[:BLOCK] / 32768.0 * np.linspace(0.0, 1.0, BLOCK)
    assert np.allclose(block[:, 0], expected, atol=1e-6)
    assert out.stats().buffered_ms["customer"] == pytest.approx(30.0)
    assert out.stats().target_ms["customer"] == pytest.approx(40.0)


def test_other_calls_audio_is_ignored() -> None:
    out = player()
    out.select("A", {})
    od = new_outdata()
    out.feed(cust(call_id="B", key="B-c"), tone_s(440, RATE, 0.2))
    out.feed(agent(call_id="B", key="B-a"), tone_s(440, RATE, 0.2))
    for _ in range(5):
        assert not run(out, od).any()
    assert out.stats().buffered_ms == {"customer": 0.0, "agent": 0.0}


def test_unknown_role_is_ignored() -> None:
    out = player()
    out.select("A", {})
    out.feed(Track("A-x", "A", RATE, "supervisor"), tone_s(440, RATE, 0.2))
    assert out.stats().buffered_ms == {"customer": 0.0, "agent": 0.0}


def test_wrong_frame_count_outputs_silence() -> None:
    out = player()
    out.select("A", {})
    out.feed(cust(), tone_s(440, RATE, 0.1))
    od = np.ones((256, 2), np.float32)
    out._callback(od, 256, None, None)
    assert not od.any()
    assert out.stats().buffered_ms["customer"] == pytest.approx(100.0)  # nothing consumed


def test_track_at_8k_is_resampled() -> None:
    out = player()
    out.select("A", {})
    od = new_outdata()
    out.feed(cust(rate=8000), tone_s(440, 8000, 0.04))  # 40 ms: exactly the target at 48 kHz
    assert out.stats().buffered_ms["customer"] == pytest.approx(40.0)
    left = []
    for i in range(20):
        if i % 2 == 0:
            out.feed(cust(rate=8000), tone_s(440, 8000, 0.6)[320 + i * 80 : 320 + (i + 2) * 80])
        left.append(run(out, od)[:, 0])
    y = np.concatenate(left)
    assert abs(peak_frequency(y, RATE) - 440) <= 5
    assert out.stats().underruns == 0


# --- mixing and volume ------------------------------------------------------------------------


def _play_both(out: ListenOutput, c: np.ndarray, a: np.ndarray, blocks: int) -> np.ndarray:
    out.select("A", {})
    od = new_outdata()
    out.feed(cust(), c[: 40 * MS])
    out.feed(agent(), a[: 40 * MS])
    got = []
    for i in range(blocks):
        got.append(run(out, od))
        lo = 40 * MS + i * BLOCK
        out.feed(cust(), c[lo : lo + BLOCK])
        out.feed(agent(), a[lo : lo + BLOCK])
    return np.concatenate(got)


def test_mix_sums_both_into_both_channels() -> None:
    c = tone_s(440, RATE, 0.5, 8000)
    a = tone_s(1000, RATE, 0.5, 4000)
    y = _play_both(player(mode="mix"), c, a, 10)
    expected = (c[: 10 * BLOCK].astype(np.float32) + a[: 10 * BLOCK]) / 32768.0
    expected[:BLOCK] *= np.linspace(0.0, 1.0, BLOCK, dtype=np.float32)
    assert np.allclose(y[:, 0], expected, atol=1e-6)
    assert np.array_equal(y[:, 0], y[:, 1])


def test_mix_clips_to_full_scale() -> None:
    c = np.full(RATE // 2, 30000, np.int16)
    y = _play_both(player(mode="mix"), c, c, 5)
    assert y[BLOCK:].max() == pytest.approx(1.0)
    assert y.max() <= 1.0


def test_split_puts_customer_left_agent_right() -> None:
    c = tone_s(440, RATE, 0.5, 8000)
    a = tone_s(1000, RATE, 0.5, 4000)
    y = _play_both(player(mode="split"), c, a, 10)
    ramp = np.linspace(0.0, 1.0, BLOCK, dtype=np.float32)
    exp_c = c[: 10 * BLOCK] / np.float32(32768.0)
    exp_a = a[: 10 * BLOCK] / np.float32(32768.0)
    exp_c[:BLOCK] *= ramp
    exp_a[:BLOCK] *= ramp
    assert np.allclose(y[:, 0], exp_c, atol=1e-6)
    assert np.allclose(y[:, 1], exp_a, atol=1e-6)
    assert abs(peak_frequency(y[:, 0], RATE) - 440) <= 10
    assert abs(peak_frequency(y[:, 1], RATE) - 1000) <= 10


def test_split_on_mono_device_mixes() -> None:
    out = ListenOutput(clock=Clock(), mode="split", min_ms=40.0)
    out.configure(RATE, 1)
    out.select("A", {})
    c = tone_s(440, RATE, 0.1, 8000)
    out.feed(cust(), c[: 40 * MS])
    out.feed(agent(), c[: 40 * MS])
    od = np.zeros((BLOCK, 1), np.float32)
    out._callback(od, BLOCK, None, None)
    out._callback(od, BLOCK, None, None)
    assert np.allclose(od[:, 0], 2 * c[BLOCK : 2 * BLOCK] / 32768.0, atol=1e-6)


def test_unknown_mode_falls_back_to_mix() -> None:
    assert ListenOutput(mode="surround").mode == "mix"


def test_volume_scales_output() -> None:
    c = tone_s(440, RATE, 0.5, 8000)
    a = tone_s(1000, RATE, 0.5, 4000)
    full = _play_both(player(mode="split"), c, a, 8)
    quiet_out = player(mode="split")
    quiet_out.set_volume(0.5)
    half = _play_both(quiet_out, c, a, 8)
    assert np.allclose(half, full * 0.5, atol=1e-6)
    assert np.abs(half).max() > 0.05
    muted_out = player(mode="split")
    muted_out.set_volume(0.0)
    assert not _play_both(muted_out, c, a, 8).any()


def test_volume_is_clamped() -> None:
    out = player()
    out.set_volume(5.0)
    assert out.volume == 2.0
    out.set_volume(-1.0)
    assert out.volume == 0.0


# --- adaptation -------------------------------------------------------------------------------


def _play_until_dry(out: ListenOutput, clock: Clock, od: np.ndarray) -> None:
    before = out.stats().underruns
    for _ in range(50):
        run(out, od)
        clock.advance(0.01)
        if out.stats().underruns > before:
            return
    raise AssertionError("never ran dry")


def test_underrun_is_counted_and_silent_and_raises_target() -> None:
    clock, out, od, x = listening(1.0)
    for _ in range(4):
        assert run(out, od).any()
        clock.advance(0.01)
    assert out.stats().underruns == 0
    block = run(out, od)  # nothing left
    assert out.stats().underruns == 1
    assert not block.any()
    assert not run(out, od).any()
    assert out.stats().underruns == 1  # counted once, not on every silent block
    assert out.stats().target_ms["customer"] == pytest.approx(40.0)
    clock.advance(0.02)
    out.feed(cust(), x[40 * MS : 80 * MS])
    # one underrun keeps 20 ms more in hand (the arrival jitter here is small)
    assert out.stats().target_ms["customer"] == pytest.approx(60.0)


def test_repeated_underruns_bounded_by_max() -> None:
    clock, out, od, x = listening(0.5)
    targets = []
    for _ in range(10):
        _play_until_dry(out, clock, od)
        out.feed(cust(), x[: 20 * MS])  # the adaptation happens on the feed after running dry
        targets.append(out.stats().target_ms["customer"])
        stats = out.stats()
        while stats.buffered_ms["customer"] < stats.target_ms["customer"]:  # top up
            clock.advance(0.02)
            out.feed(cust(), x[: 20 * MS])
            stats = out.stats()
    assert targets[0] > 40.0
    assert targets == sorted(targets)
    assert max(targets) == pytest.approx(120.0)
    assert targets[-1] == pytest.approx(120.0)
    assert out.stats().underruns == 10


def test_regular_arrival_keeps_minimum_target() -> None:
    clock, out, _, x = listening(1.0, fed_ms=0)
    for i in range(40):
        out.feed(cust(), x[i * 20 * MS : (i + 1) * 20 * MS])
        clock.advance(0.02)
    assert out.stats().target_ms["customer"] == pytest.approx(40.0)


def test_irregular_arrival_raises_target() -> None:
    clock, out, _, x = listening(1.0, fed_ms=0)
    for i in range(40):
        out.feed(cust(), x[i * 20 * MS : (i + 1) * 20 * MS])
        clock.advance(0.0 if i % 2 == 0 else 0.04)  # same average rate, 20 ms of jitter
    target = out.stats().target_ms["customer"]
    assert target > 60.0
    assert target <= 120.0
    # the other lane is untouched
    assert out.stats().target_ms["agent"] == pytest.approx(40.0)


def test_extreme_jitter_is_bounded_by_max() -> None:
    clock, out, _, x = listening(0.5, fed_ms=0)
    for i in range(60):
        out.feed(cust(), x[:BLOCK])
        clock.advance(0.0 if i % 2 == 0 else 0.5)
    assert out.stats().target_ms["customer"] == pytest.approx(120.0)


def test_backlog_is_caught_up() -> None:
    clock, out, od, x = listening(1.5)
    pos = 40 * MS
    for _ in range(10):  # steady playback: 20 ms fed per two callbacks
        out.feed(cust(), x[pos : pos + 20 * MS])
        pos += 20 * MS
        clock.advance(0.02)
        run(out, od)
        run(out, od)
    assert out.stats().catch_ups == 0
    out.feed(cust(), x[pos : pos + 500 * MS])  # a burst: half a second at once
    assert out.stats().buffered_ms["customer"] > 500.0
    block = run(out, od)
    stats = out.stats()
    assert stats.catch_ups == 1
    target = stats.target_ms["customer"]
    assert target - 10.0 - 1e-9 <= stats.buffered_ms["customer"] <= target
    assert np.abs(block[:, 0]).max() > 0.1
    run(out, od)
    assert out.stats().catch_ups == 1  # once caught up, no more jumps
    assert out.stats().underruns == 0


# --- switching calls --------------------------------------------------------------------------


def _history(freq: float, rate: int = 8000) -> RingBuffer:
    ring = RingBuffer(4.0, rate)
    ring.write(tone_s(freq, rate, 1.0))
    return ring


def test_select_with_history_starts_at_once_with_fade_in() -> None:
    out = player()
    od = new_outdata()
    ring = _history(1000)
    out.select("B", {"customer": ("B-c", ring)})
    assert out.stats().buffered_ms["customer"] == pytest.approx(40.0)
    first = run(out, od)[:, 0]
    assert np.abs(first).max() > 0.1
    # faded in: silence at the start, ramping up
    assert abs(first[0]) < 1e-6
    assert np.abs(first[:48]).max() < 0.03
    assert np.abs(first[:120]).max() < np.abs(first[-120:]).max()
    second = run(out, od)[:, 0]
    assert np.abs(second[:48]).max() > 0.1  # full level from the next block


def test_switch_fades_old_call_out_then_new_in() -> None:
    clock, out, od, a_tone = listening(1.0)
    pos = 40 * MS
    for _ in range(6):
        out.feed(cust(), a_tone[pos : pos + 20 * MS])
        pos += 20 * MS
        clock.advance(0.02)
        run(out, od)
        run(out, od)
    played_a = out._lanes["customer"].read_pos
    assert run(out, od)[:, 0].any()
    played_a += BLOCK

    out.select("B", {"customer": ("B-c", _history(1000))})
    fade_out = run(out, od)[:, 0]
    # the next block of call A, faded out
    old = a_tone[played_a : played_a + BLOCK] / np.float32(32768.0)
    assert np.allclose(fade_out, old * np.linspace(1.0, 0.0, BLOCK), atol=1e-6)
    assert np.abs(fade_out[:48]).max() > 0.05
    assert np.abs(fade_out[-48:]).max() < 0.03
    fade_in = run(out, od)[:, 0]
    assert abs(fade_in[0]) < 1e-6
    assert np.abs(fade_in[:48]).max() < 0.03
    assert np.abs(fade_in[-48:]).max() > 0.05
    # call A's audio arriving late is dropped
    out.feed(cust(), a_tone[pos : pos + 20 * MS])
    assert out.stats().buffered_ms["customer"] == pytest.approx(30.0)


def test_switch_content_is_the_new_calls_tone_and_continues_seamlessly() -> None:
    out = player()
    od = new_outdata()
    b = tone_s(1000, 8000, 2.0, 8000)
    ring = RingBuffer(4.0, 8000)
    ring.write(b[:8000])
    out.select("B", {"customer": ("B-c", ring)})
    got = [run(out, od)[:, 0]]
    pos = 8000
    for i in range(40):  # the same track carries on, 20 ms at a time
        if i % 2 == 0:
            out.feed(cust(call_id="B", key="B-c", rate=8000), b[pos : pos + 160])
            pos += 160
        got.append(run(out, od)[:, 0])
    y = np.concatenate(got)
    assert abs(peak_frequency(y, RATE) - 1000) <= 5
    steady = y[BLOCK:]
    # no click where the history meets the live audio: slope never beyond a 1 kHz sine's
    max_step = 2 * np.pi * 1000 / RATE * 8000 / 32768
    assert np.abs(np.diff(steady)).max() < 1.2 * max_step
    assert np.abs(steady).max() > 0.2
    assert out.stats().underruns == 0


def test_select_none_silences() -> None:
    out = player()
    od = new_outdata()
    out.select("A", {})
    out.feed(cust(), tone_s(440, RATE, 0.1))
    assert run(out, od).any()
    out.select(None, {})
    run(out, od)  # the fade-out block
    out.feed(cust(), tone_s(440, RATE, 0.1))
    for _ in range(3):
        assert not run(out, od).any()


def test_switch_to_call_without_agent_history_is_not_an_underrun() -> None:
    """A lane the new call has no audio for yet goes quiet because of the switch, not
    because audio came late: it must not count as an underrun, nor raise that lane's jitter
    target for the new call."""
    clock, out, od, x = listening(1.0, both=True)
    pos = 40 * MS
    for _ in range(5):
        out.feed(cust(), x[pos : pos + 20 * MS])
        out.feed(agent(), x[pos : pos + 20 * MS])
        pos += 20 * MS
        clock.advance(0.02)
        run(out, od)
        run(out, od)
    assert out.stats().underruns == 0
    out.select("B", {"customer": ("B-c", _history(1000))})
    for _ in range(3):
        run(out, od)
    assert out.stats().underruns == 0
    out.feed(agent(call_id="B", key="B-a"), x[: 20 * MS])
    assert out.stats().target_ms["agent"] == pytest.approx(40.0)


def test_stop_listening_is_not_an_underrun() -> None:
    out = player()
    od = new_outdata()
    out.select("A", {})
    out.feed(cust(), tone_s(440, RATE, 0.1))
    out.feed(agent(), tone_s(440, RATE, 0.1))
    for _ in range(3):
        run(out, od)
    assert out.stats().underruns == 0
    out.select(None, {})
    assert run(out, od).any()  # call A faded out
    for _ in range(3):
        assert not run(out, od).any()
    assert out.stats().underruns == 0


# --- a new stream fills the device's buffer -----------------------------------------------------


@dataclass
class TimeInfo:
    """What PortAudio passes a callback (the two fields the player reads)."""

    currentTime: float  # PortAudio's names
    outputBufferDacTime: float


def test_device_priming_gets_silence_not_the_jitter_buffer() -> None:
    """ALSA (here through PulseAudio) starts a stream with four callbacks inside a
    millisecond, each buffer due 10 ms after the last (measured on the virtual sound card).
    Played into, they drained the 30 ms just queued by `select`: an underrun at once, and
    20 ms more delay for the next seconds. Now they get silence and the call plays from
    the first callback at the device's pace, with nothing run dry."""
    clock = Clock()
    out = player(clock, min_ms=30.0)
    od = new_outdata()
    history = RingBuffer(4.0, RATE)
    x = tone_s(440, RATE, 2.0)
    history.write(x[: 500 * MS])
    out.select("A", {"customer": ("A-c", history)})
    now = 50.0
    blocks = []
    for lead in (0.0, 0.01, 0.02, 0.03):  # the priming burst
        out._callback(od, BLOCK, TimeInfo(now, now + lead), None)
        blocks.append(od.copy())
        now += 0.0002
    assert not np.concatenate(blocks).any()
    pos = 500 * MS
    for i in range(40):  # then one callback per 10 ms, 20 ms of audio every other one
        now += 0.01
        clock.advance(0.01)
        if i % 2 == 1:
            out.feed(cust(), x[pos : pos + 20 * MS])
            pos += 20 * MS
        out._callback(od, BLOCK, TimeInfo(now, now + 0.03), None)
        blocks.append(od.copy())
        assert out.stats().underruns == 0, i
    assert np.abs(blocks[4]).max() > 0.05  # sound from the first paced callback
    assert out.stats().target_ms["customer"] == pytest.approx(30.0)


def test_a_device_that_does_not_prime_plays_from_its_second_callback() -> None:
    """The first callback of a stream is silent whatever the device (it cannot tell yet);
    with the lead steady from there, the call plays from the second."""
    out = player()
    od = new_outdata()
    out.select("B", {"customer": ("B-c", _history(1000))})
    out._callback(od, BLOCK, TimeInfo(1.0, 1.02), None)
    assert not od.any()
    out._callback(od, BLOCK, TimeInfo(1.01, 1.03), None)
    assert np.abs(od).max() > 0.05
    assert out.stats().underruns == 0


# --- a backlog is trimmed back to the target ----------------------------------------------------


def _steady(out: ListenOutput, clock: Clock, od: np.ndarray, x: np.ndarray, pos: int,
            seconds: float, early: float = 0.0) -> tuple[int, list[np.ndarray]]:
    """Real-time playback: 20 ms of `x` fed every other callback, each frame `early` s early
    or late in turn (arrival jitter); returns the new position and what played."""
    got = []
    for i in range(int(seconds * 100)):
        if i % 2 == 0:
            clock.advance(0.02 + (early if i % 4 == 0 else -early))
            out.feed(cust(), x[pos : pos + 20 * MS])
            pos += 20 * MS
        got.append(run(out, od)[:, 0])
    return pos, got


def test_stall_backlog_is_trimmed_back_to_target() -> None:
    """The engine loop stalls for 60 ms (opening the microphone takes 45 ms), then delivers
    what piled up at once: 60 ms more in hand than the target, but short of a catch-up.
    Before, that surplus stayed for the rest of the call (a fresh machine heard everything
    that much later); now it goes within a trim window, once, with a crossfade and no
    underrun."""
    clock, out, od, x = listening(10.0)
    pos, _ = _steady(out, clock, od, x, 40 * MS, 1.0)
    settled = out.stats().buffered_ms["customer"]
    assert settled <= 40.0
    out.feed(cust(), x[pos : pos + 60 * MS])  # the stall's backlog, all at once
    pos += 60 * MS
    assert out.stats().buffered_ms["customer"] >= settled + 60.0 - 1e-9
    pos, got = _steady(out, clock, od, x, pos, 2 * TRIM_WINDOW_S + 0.2)
    stats = out.stats()
    assert stats.buffered_ms["customer"] <= settled + 10.0  # back where it was (one block)
    assert stats.catch_ups == 0 and stats.underruns == 0
    assert stats.trims == 1
    # The skip is a crossfade: never a step beyond what the 440 Hz tone itself makes.
    y = np.concatenate(got)
    max_step = 2 * np.pi * 440 / RATE * 8000 / 32768
    assert np.abs(np.diff(y)).max() < 2.5 * max_step
    assert np.abs(y).min() < 0.01 and np.abs(y).max() > 0.2
    _steady(out, clock, od, x, pos, 3.0)
    assert out.stats().trims == 1  # once at the target, it stays there


def test_jitter_within_the_target_is_never_trimmed() -> None:
    """Frames arriving 8 ms early or late in turn: the lane's low point dips each time, so
    nothing counts as surplus and nothing is skipped."""
    clock, out, od, x = listening(10.0)
    _steady(out, clock, od, x, 40 * MS, 5.0, early=0.008)
    stats = out.stats()
    assert stats.trims == 0 and stats.catch_ups == 0 and stats.underruns == 0


# --- the callback allocates nothing -----------------------------------------------------------


def test_callback_keeps_its_buffers() -> None:
    clock = Clock()
    out = player(clock)
    od = new_outdata()
    lanes = dict(out._lanes)
    ids = {r: (id(lane.buf), id(lane.fbuf)) for r, lane in lanes.items()}
    out.select("A", {})
    x = tone_s(440, RATE, 1.0)
    out.feed(cust(), x[: 40 * MS])
    out.feed(agent(), x[: 40 * MS])
    for i in range(20):  # plays
        if i % 2 == 0:
            out.feed(cust(), x[: 20 * MS])
            out.feed(agent(), x[: 20 * MS])
        clock.advance(0.01)
        run(out, od)
    out.feed(cust(), x[: 500 * MS])  # a burst: catch-up
    for _ in range(10):  # then nothing: underruns
        run(out, od)
    out.select("B", {"customer": ("B-c", _history(1000))})  # a switch
    run(out, od)
    run(out, od)
    assert out._lanes == lanes
    assert {r: (id(lane.buf), id(lane.fbuf)) for r, lane in out._lanes.items()} == ids
    assert all(lane.buf.size == BLOCK and lane.fbuf.size == BLOCK for lane in lanes.values())
    stats = out.stats()
    assert stats.callbacks == 32
    assert stats.catch_ups == 1
    assert stats.underruns >= 2


class Tracked(np.ndarray):
    """Counts every array numpy makes from one of these: a view, a slice, a reshape, a
    result without `out=`. Views of the player's own buffers share their memory."""

    made = 0

    def __array_finalize__(self, obj: Any) -> None:
        Tracked.made += 1


def _track_arrays(out: ListenOutput) -> None:
    """Every array the callback can reach becomes a Tracked view of itself."""
    owners: list[Any] = [out]
    for lane in out._lanes.values():
        owners += [lane, lane.ring, lane.io]
    for owner in owners:
        names = getattr(owner, "__slots__", None) or list(vars(owner))
        for name in names:
            value = getattr(owner, name, None)
            if isinstance(value, np.ndarray):
                setattr(owner, name, value.view(Tracked))
    out._cust, out._agent = out._lanes["customer"], out._lanes["agent"]


def _peaks(calls: int, before: Callable[[], None], call: Callable[[], None]
           ) -> tuple[list[int], int, int]:
    """For each of `calls` calls: the most memory `call` held at once beyond what was held
    before it (tracemalloc's peak). Also what all of them kept, summed, and how many arrays
    they made from Tracked ones. `before` runs outside the measurement (the engine's part)."""
    peaks, kept, made = [], 0, 0
    tracemalloc.start()
    try:
        for _ in range(calls):
            before()
            was = Tracked.made
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            call()
            now, peak = tracemalloc.get_traced_memory()
            made += Tracked.made - was
            peaks.append(peak - held)
            kept += now - held
    finally:
        tracemalloc.stop()
    return peaks, kept, made


# Python integers (28-32 bytes each, a few alive at a time) are all the callback may create.
# An array or view is 96 bytes or more, a scalar turned into an array 100, a casting buffer
# about 2 KB: any of them on every call lifts the typical call above this.
INT_BYTES = 4 * 32


def worst(peaks: list[int]) -> int:
    """The worst call but four: tracemalloc sees every thread, and a test runner's own
    thread (pytest-xdist) may allocate during one of them."""
    return sorted(peaks)[-5]


def _steady_run(mode: str, channels: int, tracked: bool) -> tuple[list[int], int, int,
                                                                 ListenOutput, np.ndarray]:
    clock = Clock()
    out = ListenOutput(clock=clock, mode=mode, min_ms=40.0)
    out.configure(RATE, channels)
    out.select("A", {})
    x = tone_s(440, RATE, 1.0)
    block = x[:BLOCK]
    out.feed(cust(), x[: 40 * MS])
    out.feed(agent(), x[: 40 * MS])
    od = np.zeros((BLOCK, channels), np.float32)

    def feed() -> None:
        clock.advance(0.01)
        out.feed(cust(), block)
        out.feed(agent(), block)

    for _ in range(5):
        feed()
        out._callback(od, BLOCK, None, None)
    if tracked:
        od = od.view(Tracked)
        _track_arrays(out)

    peaks, kept, made = _peaks(1000, feed, lambda: out._callback(od, BLOCK, None, None))
    return peaks, kept, made, out, od


@pytest.mark.parametrize(("mode", "channels"), [("mix", 2), ("split", 2), ("mix", 1)])
def test_steady_callback_allocates_nothing(mode: str, channels: int) -> None:
    """Listening in steady state (10 ms fed to each speaker per 10 ms callback), 1000 times
    under tracemalloc: no buffer, array, view or scalar array on any call, nothing kept;
    and, with every array it can reach Tracked, not one array made.
    (Before: about 2.2 KB per call, a casting buffer and views.)"""
    peaks, kept, _, out, od = _steady_run(mode, channels, tracked=False)
    assert statistics.median(peaks) <= INT_BYTES, sorted(set(peaks))
    assert worst(peaks) < 512, sorted(set(peaks))
    assert kept < 1024
    stats = out.stats()
    assert stats.underruns == 0 and stats.callbacks == 1005
    assert np.abs(od).max() > 0.1  # it played all along
    # Subclass hooks cost memory of their own: arrays are counted in a run of their own.
    _, _, made, out, od = _steady_run(mode, channels, tracked=True)
    assert made == 0
    assert np.abs(od).max() > 0.1


def _every_path(tracked: bool) -> tuple[list[int], int, ListenOutput]:
    """Start, fade-in, steady play, trim, catch-up, underrun, restart and the faded switch
    to another call, one callback per 10 ms step."""
    clock = Clock()
    out = player(clock)
    od = new_outdata()
    if tracked:
        od = od.view(Tracked)
        _track_arrays(out)
    x = tone_s(440, RATE, 2.0)
    step = [0]

    def fed() -> None:  # the engine's part of each step, outside the measurement
        i = step[0]
        step[0] += 1
        clock.advance(0.01)
        if i == 0:
            out.select("A", {})
            out.feed(cust(), x[: 40 * MS])
            out.feed(agent(), x[: 40 * MS])
        elif i < 300 and i % 2 == 0:
            out.feed(cust(), x[: 20 * MS])
            out.feed(agent(), x[: 20 * MS])
        if i == 100:
            out.feed(cust(), x[: 60 * MS])  # a backlog: trimmed
        if i == 200:
            out.feed(cust(), x[: 500 * MS])  # a burst: caught up at once
        if i == 320:  # silence since 300: ran dry; now it comes back
            out.feed(cust(), x[: 60 * MS])
        if i == 340:
            out.select("B", {"customer": ("B-c", _history(1000))})

    peaks, _, made = _peaks(360, fed, lambda: out._callback(od, BLOCK, None, None))
    return peaks, made, out


def test_no_path_of_the_callback_makes_an_array() -> None:
    """Every path of the callback: not one array or view made, no call holding as much as
    a small array."""
    peaks, _, out = _every_path(tracked=False)
    stats = out.stats()
    assert stats.trims >= 1 and stats.catch_ups == 1 and stats.underruns >= 1
    assert worst(peaks) < 512, sorted(set(peaks))
    _, made, out = _every_path(tracked=True)
    assert out.stats().trims >= 1
    assert made == 0
