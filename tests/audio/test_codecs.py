"""Codecs: G.711 bit-exactness against audioop, L16 byte order, G.722, Opus, AMR-WB, resampling."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from helpers import peak_frequency, tone_s

from console.audio import codecs
from console.audio.codecs import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ULAW_DECODE,
    ULAW_ENCODE,
    CodecError,
    L16Decoder,
    Resampler,
    alaw_decode,
    alaw_encode,
    make_decoder,
    make_encoder,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from console.core.events import MediaFormat
from console.protocol.base import normalise_format

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_CODES = bytes(range(256))
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


# --- G.711 -----------------------------------------------------------------------------------


def test_ulaw_decode_table_matches_audioop_for_all_codes() -> None:
    ref = np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype="<i2")
    assert ULAW_DECODE.dtype == np.int16
    assert ULAW_DECODE.shape == (256,)
    np.testing.assert_array_equal(ULAW_DECODE, ref)
    np.testing.assert_array_equal(ulaw_decode(ALL_CODES), ref)


def test_alaw_decode_table_matches_audioop_for_all_codes() -> None:
    ref = np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), dtype="<i2")
    assert ALAW_DECODE.dtype == np.int16
    np.testing.assert_array_equal(ALAW_DECODE, ref)
    np.testing.assert_array_equal(alaw_decode(ALL_CODES), ref)


def test_ulaw_encoder_matches_audioop_for_all_int16() -> None:
    ref = np.frombuffer(audioop.lin2ulaw(ALL_INT16.astype("<i2").tobytes(), 2), dtype=np.uint8)
    assert ULAW_ENCODE.shape == (65536,)
    np.testing.assert_array_equal(ULAW_ENCODE, ref)
    assert ulaw_encode(ALL_INT16) == ref.tobytes()
    assert make_encoder("PCMU").encode(ALL_INT16) == ref.tobytes()


def test_alaw_encoder_matches_audioop_for_all_int16() -> None:
    ref = np.frombuffer(audioop.lin2alaw(ALL_INT16.astype("<i2").tobytes(), 2), dtype=np.uint8)
    assert ALAW_ENCODE.shape == (65536,)
    np.testing.assert_array_equal(ALAW_ENCODE, ref)
    assert alaw_encode(ALL_INT16) == ref.tobytes()
    assert make_encoder("pcma").encode(ALL_INT16) == ref.tobytes()


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8)],
)
def test_ulaw_known_itu_values(code: int, value: int) -> None:
    assert int(ULAW_DECODE[code]) == value


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)],
)
def test_alaw_known_itu_values(code: int, value: int) -> None:
    assert int(ALAW_DECODE[code]) == value


def test_g711_silence_codes() -> None:
    assert ulaw_encode(np.zeros(4, dtype=np.int16)) == b"\xff" * 4
    assert alaw_encode(np.zeros(4, dtype=np.int16)) == b"\xd5" * 4


def test_g711_round_trip_is_idempotent_on_table_values() -> None:
    # Every decoded code re-encodes to a code that decodes to the same value.
    for table_dec, enc in ((ULAW_DECODE, ulaw_encode), (ALAW_DECODE, alaw_encode)):
        again = np.frombuffer(enc(table_dec), dtype=np.uint8)
        np.testing.assert_array_equal(table_dec[again], table_dec)


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA"])
def test_g711_decoders_from_make_decoder(encoding: str) -> None:
    dec = make_decoder(MediaFormat(encoding, 8000))
    assert dec.rate == 8000
    ref = audioop.ulaw2lin if encoding == "PCMU" else audioop.alaw2lin
    payload = bytes(random.Random(3).randrange(256) for _ in range(160))
    out = dec.decode(payload)
    assert out.dtype == np.int16
    assert out.size == 160
    np.testing.assert_array_equal(out, np.frombuffer(ref(payload, 2), dtype="<i2"))


def test_g711_encoder_rate_is_8000() -> None:
    assert make_encoder("PCMU", 16000).rate == 8000
    assert make_encoder("PCMA").rate == 8000


# --- L16 -------------------------------------------------------------------------------------


def test_l16_big_and_little_endian() -> None:
    payload = bytes([0x12, 0x34, 0xFE, 0xDC])
    big = L16Decoder(16000, "big").decode(payload)
    little = L16Decoder(16000, "little").decode(payload)
    assert big.dtype == np.int16 and little.dtype == np.int16
    assert big.tolist() == [0x1234, -0x0124]
    assert little.tolist() == [0x3412, -0x2302]


def test_l16_make_decoder_prefers_stated_byte_order() -> None:
    fmt = MediaFormat("L16", 16000, 1, "little", "audio/L16;endianness=little")
    dec = make_decoder(fmt, l16_byte_order="big")
    assert isinstance(dec, L16Decoder)
    assert dec.byte_order == "little"
    assert dec.decided
    assert dec.rate == 16000
    default = make_decoder(MediaFormat("L16", 16000), l16_byte_order="big")
    assert isinstance(default, L16Decoder) and default.byte_order == "big" and default.decided
    auto = make_decoder(MediaFormat("L16", 16000))
    assert isinstance(auto, L16Decoder) and not auto.decided


@pytest.mark.parametrize(("order", "dtype"), [("little", "<i2"), ("big", ">i2")])
def test_l16_auto_detects_byte_order_of_a_tone(order: str, dtype: str) -> None:
    signal = tone_s(440, 16000, 1.0)
    data = signal.astype(dtype).tobytes()
    dec = L16Decoder(16000, "auto")
    assert not dec.decided
    out = []
    for i in range(0, len(data), 640):
        out.append(dec.decode(data[i : i + 640]))
    assert dec.decided
    assert dec.byte_order == order
    # Decided on the first frame, so nothing came out in the wrong order.
    np.testing.assert_array_equal(np.concatenate(out), signal)


@pytest.mark.parametrize(("order", "dtype"), [("little", "<i2"), ("big", ">i2")])
def test_l16_auto_decides_on_quiet_tone_within_a_second(order: str, dtype: str) -> None:
    signal = tone_s(440, 16000, 1.0, amplitude=300.0)
    data = signal.astype(dtype).tobytes()
    dec = L16Decoder(16000, "auto")
    for i in range(0, len(data), 640):
        dec.decode(data[i : i + 640])
    assert dec.decided
    assert dec.byte_order == order


def test_l16_auto_stays_undecided_on_silence() -> None:
    dec = L16Decoder(16000, "auto")
    for _ in range(100):
        out = dec.decode(bytes(640))
        assert out.size == 320
        assert not out.any()
    assert not dec.decided
    assert dec.byte_order == "big"  # the default per PROTOCOLS.md 1.5


def test_l16_decided_order_is_not_reconsidered() -> None:
    dec = L16Decoder(16000, "big")
    data = tone_s(440, 16000, 0.2).astype("<i2").tobytes()
    dec.decode(data)
    assert dec.byte_order == "big"


def test_l16_odd_length_payload_carry() -> None:
    dec = L16Decoder(8000, "big")
    assert dec.decode(b"\x12").size == 0
    out = dec.decode(b"\x34\x56\x78\x9a")
    assert out.tolist() == [0x1234, 0x5678]  # 0x9a carried
    out = dec.decode(b"\xbc")
    assert out.tolist() == [np.int16(np.uint16(0x9ABC))]
    assert dec.decode(b"").size == 0


def test_l16_odd_split_stream_equals_whole() -> None:
    signal = tone_s(300, 8000, 0.1)
    data = signal.astype(">i2").tobytes()
    dec = L16Decoder(8000, "big")
    rng = random.Random(5)
    pos, parts = 0, []
    while pos < len(data):
        step = rng.randrange(1, 50)
        parts.append(dec.decode(data[pos : pos + step]))
        pos += step
    np.testing.assert_array_equal(np.concatenate(parts), signal)


def test_l16_stereo_is_mixed_to_mono() -> None:
    frames = np.array([[100, 300], [-200, -400], [1000, 0]], dtype=np.int16)
    dec = L16Decoder(16000, "little", channels=2)
    out = dec.decode(frames.astype("<i2").tobytes())
    assert out.tolist() == [200, -300, 500]


@pytest.mark.parametrize("order", ["big", "little"])
def test_l16_encoder_round_trip(order: str) -> None:
    signal = tone_s(440, 16000, 0.02)
    enc = make_encoder("L16", 16000, order)
    assert enc.rate == 16000
    payload = enc.encode(signal)
    assert len(payload) == 640
    expected = signal.astype("<i2" if order == "little" else ">i2").tobytes()
    assert payload == expected
    np.testing.assert_array_equal(L16Decoder(16000, order).decode(payload), signal)


# --- G.722 -----------------------------------------------------------------------------------


def test_g722_round_trip_16k_tone() -> None:
    signal = tone_s(440, 16000, 1.0)
    enc = make_encoder("G722")
    assert enc.rate == 16000
    # A start frame's "G722 at 8000" is normalised to 16 kHz audio.
    fmt = normalise_format("G722", 8000)
    assert fmt.sample_rate == 16000
    dec = make_decoder(fmt)
    assert dec.rate == 16000
    out = []
    for i in range(0, signal.size, 320):
        packet = enc.encode(signal[i : i + 320])
        assert len(packet) == 160  # 20 ms at 64 kbit/s
        pcm = dec.decode(packet)
        assert pcm.dtype == np.int16
        assert pcm.size == 320
        out.append(pcm)
    decoded = np.concatenate(out).astype(np.float64)
    x = signal.astype(np.float64)
    best = max(
        range(0, 200),
        key=lambda d: float(np.corrcoef(x[: x.size - d], decoded[d:])[0, 1]),
    )
    corr = float(np.corrcoef(x[: x.size - best], decoded[best:])[0, 1])
    assert corr > 0.9
    assert peak_frequency(decoded.astype(np.int16), 16000) == pytest.approx(440, abs=5)


# --- Opus ------------------------------------------------------------------------------------


def _opus_round_trip(rate: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    signal = tone_s(440, rate, seconds)
    enc = make_encoder("OPUS", rate)
    assert enc.rate == rate
    dec = make_decoder(normalise_format("OPUS", rate))
    assert dec.rate == rate
    frame = rate // 50
    out = []
    for i in range(0, signal.size, frame):
        packet = enc.encode(signal[i : i + frame])
        assert packet  # one Opus packet per 20 ms
        out.append(dec.decode(packet))
    decoded = np.concatenate(out)
    assert decoded.dtype == np.int16
    return signal, decoded


def test_opus_round_trip_16k() -> None:
    signal, decoded = _opus_round_trip(16000, 1.0)
    # Decoded at 48 kHz and resampled to the stated rate; the streaming resampler holds
    # back a few ms, so allow a little slack.
    assert abs(decoded.size - signal.size) <= 0.05 * signal.size
    assert peak_frequency(decoded, 16000) == pytest.approx(440, abs=10)
    assert np.abs(decoded).max() > 2000


def test_opus_round_trip_8k() -> None:
    signal, decoded = _opus_round_trip(8000, 2.0)
    # Resampling 48 kHz -> 8 kHz holds back more (about 110 ms here); bound it at 150 ms.
    assert 0 <= signal.size - decoded.size <= 0.150 * 8000
    assert peak_frequency(decoded, 8000) == pytest.approx(440, abs=10)


# --- AMR-WB ----------------------------------------------------------------------------------

AMRWB_BITS = {8: 477, 9: 40, 15: 0}


def amrwb_octet_aligned(frames: list[tuple[int, int]], cmr: int = 15) -> bytes:
    """RFC 4867 octet-aligned: CMR byte, one ToC byte per frame, each frame padded to octets."""
    out = bytearray([cmr << 4])
    for i, (ft, _) in enumerate(frames):
        follow = 1 if i < len(frames) - 1 else 0
        out.append((follow << 7) | (ft << 3) | (1 << 2))
    for ft, bits in frames:
        n = AMRWB_BITS[ft]
        size = (n + 7) // 8
        if size:
            out += (bits << (size * 8 - n)).to_bytes(size, "big")
    return bytes(out)


def amrwb_bandwidth_efficient(frames: list[tuple[int, int]], cmr: int = 15) -> bytes:
    """RFC 4867 bandwidth-efficient: 4-bit CMR, 6-bit ToC entries, speech bits back to back."""
    value, nbits = cmr, 4
    for i, (ft, _) in enumerate(frames):
        follow = 1 if i < len(frames) - 1 else 0
        value = (value << 6) | (follow << 5) | (ft << 1) | 1
        nbits += 6
    for ft, bits in frames:
        value = (value << AMRWB_BITS[ft]) | bits
        nbits += AMRWB_BITS[ft]
    pad = -nbits % 8
    return (value << pad).to_bytes((nbits + pad) // 8, "big")


def _amrwb_frames() -> list[tuple[int, int]]:
    rng = random.Random(20240611)
    return [(15, 0), (9, rng.getrandbits(40)), (8, rng.getrandbits(477))]


def test_amrwb_payload_builders_differ() -> None:
    frames = _amrwb_frames()
    octet = amrwb_octet_aligned(frames)
    bwe = amrwb_bandwidth_efficient(frames)
    assert octet != bwe
    assert len(octet) == 1 + 3 + 0 + 5 + 60
    assert len(bwe) == (4 + 18 + 40 + 477 + 7) // 8


def test_amrwb_both_payload_formats_give_identical_storage_frames() -> None:
    frames = _amrwb_frames()
    a = codecs._amrwb_octet_aligned(amrwb_octet_aligned(frames))
    b = codecs._amrwb_bandwidth_efficient(amrwb_bandwidth_efficient(frames))
    assert a is not None and b is not None
    assert a == b
    assert [f[0] for f in a] == [(15 << 3) | 4, (9 << 3) | 4, (8 << 3) | 4]
    assert [len(f) for f in a] == [1, 1 + 5, 1 + 60]
    # A bandwidth-efficient payload is not mistaken for an octet-aligned one.
    assert codecs._amrwb_octet_aligned(amrwb_bandwidth_efficient(frames)) is None


@pytest.mark.parametrize(
    "frames",
    [
        [(15, 0)],
        [(8, random.Random(1).getrandbits(477))],
        [(15, 0), (8, random.Random(2).getrandbits(477))],
        [(8, random.Random(3).getrandbits(477)), (8, random.Random(4).getrandbits(477))],
    ],
    ids=["no_data", "mode8", "no_data+mode8", "mode8x2"],
)
def test_amrwb_octet_aligned_and_bandwidth_efficient_decode_identically(
    frames: list[tuple[int, int]],
) -> None:
    fmt = normalise_format("AMR-WB", 16000)
    dec_a, dec_b = make_decoder(fmt), make_decoder(fmt)
    assert dec_a.rate == 16000
    pcm_a = dec_a.decode(amrwb_octet_aligned(frames))
    pcm_b = dec_b.decode(amrwb_bandwidth_efficient(frames))
    assert pcm_a.dtype == np.int16
    assert pcm_a.size == 320 * len(frames)  # 20 ms per frame at 16 kHz
    np.testing.assert_array_equal(pcm_a, pcm_b)
    assert getattr(dec_a, "failures", 0) == 0
    assert getattr(dec_b, "failures", 0) == 0


def test_amrwb_no_data_sid_and_mode8_decode_identically_in_both_formats() -> None:
    frames = _amrwb_frames()
    fmt = normalise_format("AMR-WB", 16000)
    dec_a, dec_b = make_decoder(fmt), make_decoder(fmt)
    pcm_a = dec_a.decode(amrwb_octet_aligned(frames))
    pcm_b = dec_b.decode(amrwb_bandwidth_efficient(frames))
    np.testing.assert_array_equal(pcm_a, pcm_b)
    assert pcm_a.size % 320 == 0
    assert pcm_a.size >= 640  # NO_DATA and the speech frame at least


def test_amrwb_sid_frame_keeps_20ms_on_the_timeline() -> None:
    # Every ToC entry is 20 ms of call time. A SID (comfort noise) frame must still yield
    # 320 samples, or the track's audio timeline shrinks by 20 ms per SID.
    fmt = normalise_format("AMR-WB", 16000)
    sid = [(9, random.Random(9).getrandbits(40))]
    dec_a, dec_b = make_decoder(fmt), make_decoder(fmt)
    assert dec_a.decode(amrwb_octet_aligned(sid)).size == 320
    assert dec_b.decode(amrwb_bandwidth_efficient(sid)).size == 320


def test_amrwb_garbage_payload_counts_a_failure() -> None:
    dec = make_decoder(normalise_format("AMR-WB", 16000))
    assert dec.decode(b"\xf0\xff").size == 0
    assert getattr(dec, "failures", 0) >= 1
    assert dec.decode(b"").size == 0


# --- unsupported -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["SPEEX", "audio/x-speex", "G729"])
def test_unsupported_decoder_raises_codec_error_naming_encoding(encoding: str) -> None:
    fmt = normalise_format(encoding, 8000)
    with pytest.raises(CodecError) as info:
        make_decoder(fmt)
    assert encoding in str(info.value)
    assert "PCMU" in str(info.value)  # says what is supported


@pytest.mark.parametrize("encoding", ["AMR-WB", "SPEEX"])
def test_unsupported_encoder_raises_codec_error_naming_encoding(encoding: str) -> None:
    with pytest.raises(CodecError, match=encoding):
        make_encoder(encoding)


def test_codec_error_is_runtime_error() -> None:
    assert issubclass(CodecError, RuntimeError)


# --- resampling ------------------------------------------------------------------------------


def test_resample_8k_to_16k_preserves_tone() -> None:
    signal = tone_s(440, 8000, 1.0)
    out = resample(signal, 8000, 16000)
    assert out.dtype == np.int16
    assert out.size == 16000
    assert peak_frequency(out, 16000) == pytest.approx(440, abs=2)
    # Amplitude survives (away from the edges).
    assert np.abs(out[1000:-1000]).max() == pytest.approx(8000, rel=0.05)


def test_resample_16k_to_8k_preserves_tone() -> None:
    out = resample(tone_s(1000, 16000, 0.5), 16000, 8000)
    assert out.size == 4000
    assert peak_frequency(out, 8000) == pytest.approx(1000, abs=4)


def test_resample_same_rate_and_empty_are_identity() -> None:
    signal = tone_s(440, 8000, 0.01)
    assert resample(signal, 8000, 8000) is signal
    assert resample(np.zeros(0, dtype=np.int16), 8000, 16000).size == 0


def test_resample_clips_instead_of_wrapping() -> None:
    # A full-scale 200 Hz square wave: the filter's overshoot must saturate at the int16
    # limits, never wrap around to the opposite sign.
    square = np.where(np.arange(800) % 40 < 20, 32767, -32768).astype(np.int16)
    out = resample(square, 8000, 16000)
    assert out.size == 1600
    assert out.max() == 32767
    assert out.min() == -32768
    phase = np.arange(out.size) % 80  # one period is 80 samples at 16 kHz
    high = (phase >= 10) & (phase < 30)
    low = (phase >= 50) & (phase < 70)
    assert (out[high] > 16000).all()
    assert (out[low] < -16000).all()


def test_streaming_resampler_matches_one_shot() -> None:
    signal = tone_s(440, 8000, 1.0)
    one_shot = resample(signal, 8000, 16000)
    rs = Resampler(8000, 16000)
    chunks = [signal[i : i + 160] for i in range(0, signal.size, 160)]
    parts = [rs.process(c, last=(i == len(chunks) - 1)) for i, c in enumerate(chunks)]
    streamed = np.concatenate(parts)
    assert streamed.dtype == np.int16
    assert streamed.size == one_shot.size
    diff = np.abs(streamed.astype(np.int32) - one_shot.astype(np.int32))
    assert diff.max() <= 2


def test_streaming_resampler_has_no_clicks_at_joins() -> None:
    signal = tone_s(440, 8000, 0.5)
    rs = Resampler(8000, 16000)
    streamed = np.concatenate([rs.process(signal[i : i + 80]) for i in range(0, 4000, 80)])
    # A clean 440 Hz tone at 16 kHz moves at most 2*pi*440/16000*8000 ~ 1382 per sample
    # (skip the filter's start-up transient).
    assert np.abs(np.diff(streamed[32:].astype(np.int32))).max() < 1450
