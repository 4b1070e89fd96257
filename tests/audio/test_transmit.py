"""Microphone to call: levels in dBFS, the noise gate's hold, 20 ms frames in each codec."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import peak_frequency, tone_s

from console.audio.codecs import CodecError, alaw_decode, make_decoder, ulaw_decode
from console.audio.transmit import FrameEncoder, Level, NoiseGate, level_of
from console.core.events import MediaFormat


def push_blocks(enc: FrameEncoder, pcm: np.ndarray, block: int) -> list[list[bytes]]:
    return [enc.push(pcm[i : i + block]) for i in range(0, pcm.size, block)]


def loud() -> Level:
    return level_of(tone_s(440, 8000, 0.02, 8000))


def quiet() -> Level:
    return level_of(np.zeros(160, np.int16))


# --- levels -----------------------------------------------------------------------------------


def test_level_of_full_scale_sine() -> None:
    lvl = level_of(tone_s(1000, 48000, 0.1, 32767))
    assert lvl.rms_db == pytest.approx(-3.01, abs=0.1)
    assert lvl.peak_db == pytest.approx(0.0, abs=0.05)


def test_level_of_half_scale_sine() -> None:
    lvl = level_of(tone_s(1000, 48000, 0.1, 16384))
    assert lvl.rms_db == pytest.approx(-9.03, abs=0.1)
    assert lvl.peak_db == pytest.approx(-6.02, abs=0.05)


def test_level_of_silence_and_empty() -> None:
    for pcm in (np.zeros(480, np.int16), np.zeros(0, np.int16)):
        lvl = level_of(pcm)
        assert lvl.rms_db == -120.0
        assert lvl.peak_db == -120.0


def test_level_of_most_negative_sample_is_full_scale() -> None:
    lvl = level_of(np.full(100, -32768, np.int16))
    assert lvl.peak_db == pytest.approx(0.0, abs=1e-6)
    assert lvl.rms_db == pytest.approx(0.0, abs=1e-6)


# --- noise gate -------------------------------------------------------------------------------


def test_gate_stays_closed_below_threshold() -> None:
    gate = NoiseGate(threshold_db=-50.0, hold_s=0.3)
    hum = level_of(tone_s(50, 8000, 0.02, 20))  # about -67 dBFS rms
    assert hum.rms_db < -50.0
    assert not any(gate.process(hum, t * 0.02) for t in range(50))
    assert not gate.is_open


def test_gate_opens_holds_and_closes() -> None:
    gate = NoiseGate(threshold_db=-50.0, hold_s=0.3)
    assert not gate.process(quiet(), 0.0)
    assert gate.process(loud(), 1.0)
    assert gate.is_open
    assert gate.process(quiet(), 1.1)
    assert gate.process(quiet(), 1.29)
    assert not gate.process(quiet(), 1.31)
    assert not gate.is_open


def test_gate_hold_restarts_on_each_loud_frame() -> None:
    gate = NoiseGate(threshold_db=-50.0, hold_s=0.3)
    gate.process(loud(), 0.0)
    gate.process(loud(), 0.25)
    assert gate.process(quiet(), 0.5)  # 0.25 after the last loud frame
    assert not gate.process(quiet(), 0.56)


def test_gate_threshold_is_inclusive() -> None:
    gate = NoiseGate(threshold_db=-20.0, hold_s=0.1)
    assert gate.process(Level(-20.0, -17.0), 0.0)
    gate.reset()
    assert not gate.process(Level(-20.01, -17.0), 0.0)


def test_gate_reset_closes_at_once() -> None:
    gate = NoiseGate(threshold_db=-50.0, hold_s=0.3)
    assert gate.process(loud(), 0.0)
    gate.reset()
    assert not gate.is_open
    assert not gate.process(quiet(), 0.05)  # the hold is forgotten too


# --- frame encoder ----------------------------------------------------------------------------


def test_pcmu_from_48k_mic() -> None:
    enc = FrameEncoder("PCMU", 8000, 48000)
    assert (enc.rate, enc.frame) == (8000, 160)
    pushes = push_blocks(enc, tone_s(440, 48000, 1.0), 480)
    payloads = [p for push in pushes for p in push]
    assert 49 <= len(payloads) <= 51
    assert all(len(p) == 160 for p in payloads)
    # one payload every other 10 ms block: no bursts
    assert all(len(push) <= 1 for push in pushes)
    assert all(len(a) + len(b) == 1 for a, b in zip(pushes[2::2], pushes[3::2], strict=False))
    pcm = ulaw_decode(b"".join(payloads))
    assert abs(peak_frequency(pcm, 8000) - 440) <= 2
    assert 7000 < np.max(np.abs(pcm[800:])) < 9000


def test_pcma_from_48k_mic() -> None:
    enc = FrameEncoder("PCMA", 8000, 48000)
    payloads = [p for push in push_blocks(enc, tone_s(1000, 48000, 0.5), 480) for p in push]
    assert 24 <= len(payloads) <= 26
    assert all(len(p) == 160 for p in payloads)
    pcm = alaw_decode(b"".join(payloads))
    assert abs(peak_frequency(pcm, 8000) - 1000) <= 4


def test_pcmu_ignores_asked_rate() -> None:
    enc = FrameEncoder("PCMU", 16000, 48000)
    assert (enc.rate, enc.frame) == (8000, 160)


def test_l16_big_endian_16k() -> None:
    enc = FrameEncoder("L16", 16000, 48000)
    assert (enc.rate, enc.frame) == (16000, 320)
    payloads = [p for push in push_blocks(enc, tone_s(440, 48000, 1.0), 480) for p in push]
    assert 49 <= len(payloads) <= 51
    assert all(len(p) == 640 for p in payloads)
    data = b"".join(payloads)
    big = np.frombuffer(data, ">i2")
    little = np.frombuffer(data, "<i2")
    assert abs(peak_frequency(big, 16000) - 440) <= 2
    assert 7000 < np.max(np.abs(big[1600:])) < 9000
    # read the wrong way round it is rough noise, not a smooth tone
    assert np.mean(np.abs(np.diff(little.astype(np.int32)))) > \
        10 * np.mean(np.abs(np.diff(big.astype(np.int32))))


def test_l16_little_endian_on_request() -> None:
    enc = FrameEncoder("L16", 16000, 48000, l16_byte_order="little")
    data = b"".join(p for push in push_blocks(enc, tone_s(440, 48000, 0.5), 480) for p in push)
    little = np.frombuffer(data, "<i2")
    assert abs(peak_frequency(little, 16000) - 440) <= 4


def test_same_rate_needs_no_resampling() -> None:
    enc = FrameEncoder("L16", 16000, 16000)
    x = tone_s(440, 16000, 0.1)
    data = b"".join(p for push in push_blocks(enc, x, 100) for p in push)
    assert np.array_equal(np.frombuffer(data, ">i2"), x[: len(data) // 2])


def test_remainder_is_kept_for_next_push() -> None:
    enc = FrameEncoder("L16", 8000, 8000)
    x = tone_s(440, 8000, 0.1)
    assert enc.push(x[:100]) == []
    first = enc.push(x[100:250])
    assert len(first) == 1
    assert np.array_equal(np.frombuffer(first[0], ">i2"), x[:160])
    second = enc.push(x[250:320])
    assert np.array_equal(np.frombuffer(second[0], ">i2"), x[160:320])


def test_g722_frames() -> None:
    enc = FrameEncoder("G722", 16000, 48000)
    assert (enc.rate, enc.frame) == (16000, 320)
    payloads = [p for push in push_blocks(enc, tone_s(440, 48000, 1.0), 480) for p in push]
    assert 49 <= len(payloads) <= 51
    assert all(len(p) == 160 for p in payloads)
    dec = make_decoder(MediaFormat("G722", 16000))
    pcm = np.concatenate([dec.decode(p) for p in payloads])
    assert abs(peak_frequency(pcm, 16000) - 440) <= 3


@pytest.mark.parametrize("codec", ["GSM", "AMR-WB", ""])
def test_unknown_codec_raises(codec: str) -> None:
    with pytest.raises(CodecError):
        FrameEncoder(codec, 8000, 48000)
