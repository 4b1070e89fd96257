"""WAV read/write: 16-bit PCM mono and stereo, G.711 mu-law and A-law."""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from console.audio.codecs import ALAW_DECODE, ULAW_DECODE, alaw_encode, ulaw_encode
from console.audio.wav import read_wav, wav_header, write_wav


def tone(freq: float, rate: int, n: int, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(n) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_round_trip_mono(tmp_path: Path) -> None:
    samples = tone(440, 16000, 1600)
    samples[0], samples[1] = -32768, 32767
    path = tmp_path / "mono.wav"
    write_wav(path, samples, 16000)
    assert path.stat().st_size == 44 + 2 * 1600
    data, rate = read_wav(path)
    assert rate == 16000
    assert data.dtype == np.int16
    assert data.shape == (1600, 1)
    np.testing.assert_array_equal(data[:, 0], samples)


def test_round_trip_stereo(tmp_path: Path) -> None:
    left = tone(440, 8000, 800)
    right = tone(1000, 8000, 800, 3000.0)
    stereo = np.stack([left, right], axis=1)
    path = tmp_path / "stereo.wav"
    write_wav(str(path), stereo, 8000)
    data, rate = read_wav(str(path))
    assert rate == 8000
    assert data.shape == (800, 2)
    np.testing.assert_array_equal(data, stereo)


def test_written_file_is_readable_by_stdlib_wave(tmp_path: Path) -> None:
    stereo = np.stack([tone(440, 8000, 400), tone(300, 8000, 400)], axis=1)
    path = tmp_path / "std.wav"
    write_wav(path, stereo, 8000)
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2
        assert w.getsampwidth() == 2
        assert w.getframerate() == 8000
        assert w.getnframes() == 400
        frames = np.frombuffer(w.readframes(400), dtype="<i2").reshape(-1, 2)
    np.testing.assert_array_equal(frames, stereo)


def test_write_to_binary_stream() -> None:
    samples = tone(440, 8000, 160)
    buf = io.BytesIO()
    write_wav(buf, samples, 8000)
    blob = buf.getvalue()
    assert blob[:4] == b"RIFF" and blob[8:12] == b"WAVE"
    assert struct.unpack("<I", blob[4:8])[0] == len(blob) - 8
    assert blob[44:] == samples.astype("<i2").tobytes()


def test_read_stdlib_written_file(tmp_path: Path) -> None:
    samples = tone(440, 22050, 500)
    path = tmp_path / "by_wave.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(samples.astype("<i2").tobytes())
    data, rate = read_wav(path)
    assert rate == 22050
    np.testing.assert_array_equal(data[:, 0], samples)


def test_mulaw_wav_format_tag_7(tmp_path: Path) -> None:
    pcm = tone(440, 8000, 800)
    body = ulaw_encode(pcm)
    header = wav_header(8000, 1, len(body), bits=8, tag=7)
    fmt = struct.unpack("<HHIIHH", header[20:36])
    assert fmt == (7, 1, 8000, 8000, 1, 8)
    path = tmp_path / "ulaw.wav"
    path.write_bytes(header + body)
    data, rate = read_wav(path)
    assert rate == 8000
    assert data.shape == (800, 1)
    expected = ULAW_DECODE[np.frombuffer(body, dtype=np.uint8)]
    np.testing.assert_array_equal(data[:, 0], expected)
    # mu-law keeps the tone within its quantisation error.
    assert np.abs(data[:, 0].astype(np.int32) - pcm).max() < 400


def test_alaw_wav_format_tag_6(tmp_path: Path) -> None:
    pcm = tone(440, 8000, 320)
    body = alaw_encode(pcm)
    path = tmp_path / "alaw.wav"
    path.write_bytes(wav_header(8000, 1, len(body), bits=8, tag=6) + body)
    data, rate = read_wav(path)
    assert rate == 8000
    np.testing.assert_array_equal(data[:, 0], ALAW_DECODE[np.frombuffer(body, dtype=np.uint8)])


def test_mulaw_stereo_wav(tmp_path: Path) -> None:
    codes = bytes(range(256))  # 128 stereo frames
    path = tmp_path / "ulaw2.wav"
    path.write_bytes(wav_header(8000, 2, 128, bits=8, tag=7) + codes)
    data, _ = read_wav(path)
    assert data.shape == (128, 2)
    np.testing.assert_array_equal(data.reshape(-1), ULAW_DECODE)


def test_skips_unknown_chunks_including_odd_sized_ones(tmp_path: Path) -> None:
    samples = tone(440, 8000, 100)
    body = samples.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    chunks = (
        b"fmt " + struct.pack("<I", 16) + fmt
        + b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd size + pad byte
        + b"data" + struct.pack("<I", len(body)) + body
    )
    blob = b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
    path = tmp_path / "list.wav"
    path.write_bytes(blob)
    data, rate = read_wav(path)
    assert rate == 8000
    np.testing.assert_array_equal(data[:, 0], samples)


def test_extensible_pcm_is_read(tmp_path: Path) -> None:
    samples = tone(440, 16000, 64)
    body = samples.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, 16000, 32000, 2, 16) + bytes(24)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(body)) + body
    path = tmp_path / "ext.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    data, rate = read_wav(path)
    assert rate == 16000
    np.testing.assert_array_equal(data[:, 0], samples)


def test_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"OggS" + bytes(40))
    with pytest.raises(ValueError, match="not a RIFF/WAVE"):
        read_wav(path)


def test_missing_data_chunk(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(wav_header(8000, 1, 0)[:36])
    with pytest.raises(ValueError, match="missing"):
        read_wav(path)


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    path.write_bytes(wav_header(8000, 1, 4, bits=32, tag=3) + bytes(16))
    with pytest.raises(ValueError, match="format tag 3"):
        read_wav(path)
