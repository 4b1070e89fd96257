"""Every codec a telephony stream can carry, decoded to int16 PCM (and encoded back).

G.711 runs through numpy lookup tables that match the ITU reference encoder bit for bit;
L16 is a byte-order view; G.722, Opus and AMR-WB go through PyAV (ffmpeg). Resampling is soxr.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from console.core.events import MediaFormat

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "MAX_RATE",
    "MIN_RATE",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "CodecError",
    "Decimator",
    "Decoder",
    "Encoder",
    "LiveResampler",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "make_decoder",
    "make_encoder",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
]

Pcm = npt.NDArray[np.int16]

# Sample rates the decoders take: telephony's 8 kHz up to full-band 48 kHz.
MIN_RATE, MAX_RATE = 8000, 48000
# Most output phases a LiveResampler keeps. The usual rates (8-48 kHz to 8-48 kHz, 44.1 kHz
# included) need at most 640 and are exact; an odd rate (12,345 Hz to 16 kHz needs 3,200,
# a prime rate of 1,000,003 Hz 16,000) gets the nearest ratio within this bound, at most
# 0.05 % off in pitch and timing, so no rate a peer names can grow the filter past 100,000
# taps (it grew with the rate and stalled the engine for seconds).
MAX_PHASES = 1000


class CodecError(RuntimeError):
    """A stream's codec cannot be handled; the message says why, for the supervisor."""


# --- G.711 tables ----------------------------------------------------------------------------


def _ulaw_decode_table() -> Pcm:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> Pcm:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    # ITU G.711 mu-law on the 14-bit sample, as in the reference g711.c.
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    seg_end = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_end, mag, side="left")
    val = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    val = np.where(seg >= 8, 0x7F, val)
    return ((val ^ mask) & 0xFF).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    # ITU G.711 A-law on the 13-bit sample.
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg_end = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_end, mag, side="left")
    low = np.where(seg < 2, (mag >> 1) & 0x0F, (mag >> np.maximum(seg, 1)) & 0x0F)
    val = np.where(seg >= 8, 0x7F, (seg << 4) | low)
    return ((val ^ mask) & 0xFF).astype(np.uint8)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
ULAW_ENCODE = _ulaw_encode_table()  # indexed by sample + 32768
ALAW_ENCODE = _alaw_encode_table()


# Table decoding is `table.take(codes)`: about twice as fast as `table[codes]` at any size,
# and frombuffer's dtype passed by position skips NumPy's slow keyword parsing (the media
# path decodes every frame this way; at real time, one 20 ms frame at a time).
_U8 = np.dtype(np.uint8)


def ulaw_decode(data: bytes) -> Pcm:
    return ULAW_DECODE.take(np.frombuffer(data, _U8))


def alaw_decode(data: bytes) -> Pcm:
    return ALAW_DECODE.take(np.frombuffer(data, _U8))


def ulaw_encode(pcm: Pcm) -> bytes:
    return ULAW_ENCODE[pcm.astype(np.int32) + 32768].tobytes()


def alaw_encode(pcm: Pcm) -> bytes:
    return ALAW_ENCODE[pcm.astype(np.int32) + 32768].tobytes()


# --- resampling ------------------------------------------------------------------------------


def resample(pcm: Pcm, from_rate: int, to_rate: int) -> Pcm:
    """One-shot, high-quality resampling of a whole int16 signal."""
    if from_rate == to_rate or pcm.size == 0:
        return pcm
    import soxr

    out: npt.NDArray[np.float32] = soxr.resample(
        pcm.astype(np.float32) / 32768.0, from_rate, to_rate, quality="HQ")
    result: Pcm = np.clip(np.rint(out * 32768.0), -32768, 32767).astype(np.int16)
    return result


class Resampler:
    """Streaming resampler that keeps filter state between blocks (no clicks at the joins)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        import soxr

        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")

    def process(self, pcm: Pcm, last: bool = False) -> Pcm:
        out: Pcm = np.asarray(self._stream.resample_chunk(pcm, last=last), dtype=np.int16)
        return out


class Decimator:
    """Integer-ratio downsampling with a windowed-sinc low-pass that carries its history,
    so every input block gives exactly len/ratio samples (soxr's streaming mode releases
    output in bursts, which would smear a track's frame timing)."""

    def __init__(self, ratio: int, taps_per_phase: int = 16) -> None:
        self.ratio = ratio
        n = ratio * taps_per_phase * 2 + 1
        k = np.arange(n) - (n - 1) / 2
        cutoff = 0.45 / ratio  # of the input rate; a little under the new Nyquist
        h = 2 * cutoff * np.sinc(2 * cutoff * k) * np.blackman(n)
        self._h = (h / h.sum()).astype(np.float64)
        self._hist = np.zeros(n - 1, dtype=np.float64)
        self._phase = 0

    def process(self, pcm: Pcm) -> Pcm:
        x = np.concatenate([self._hist, pcm.astype(np.float64)])
        self._hist = x[-(self._h.size - 1) :]
        y = np.convolve(x, self._h, mode="valid")
        out = y[self._phase :: self.ratio]
        self._phase = (self._phase - y.size) % self.ratio
        result: Pcm = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return result


class LiveResampler:
    """Any-ratio polyphase resampler for live audio: every block gives back what it can at
    once, about 1 ms behind (soxr's streaming mode holds 20-140 ms and releases in bursts,
    which a 40 ms jitter buffer cannot hide). Windowed-sinc (Kaiser) prototype filter."""

    def __init__(self, from_rate: int, to_rate: int, taps_per_phase: int = 16) -> None:
        if not 0 < from_rate <= 64 * to_rate or not 0 < to_rate <= 64 * from_rate:
            raise ValueError(f"cannot resample {from_rate} Hz to {to_rate} Hz live")
        # Input samples per output sample, as down/up with up (the phases) bounded.
        step = Fraction(from_rate, to_rate).limit_denominator(MAX_PHASES)
        self.up, self.down = step.denominator, step.numerator
        self.from_rate, self.to_rate = from_rate, to_rate
        # Input samples under the filter for each output sample; more when decimating, so
        # the cut-off can sit under the new Nyquist.
        self.taps = taps_per_phase * max(1, -(-self.down // self.up))
        n = self.up * self.taps
        k = np.arange(n) - (n - 1) / 2
        cutoff = 0.46 / max(self.up, self.down)  # of the upsampled rate
        h = 2 * cutoff * np.sinc(2 * cutoff * k) * np.kaiser(n, 8.0) * self.up
        # bank[p, j] = h[p + j*up]: the taps for output phase p, newest input first.
        self._bank = h.reshape(self.taps, self.up).T.astype(np.float32).copy()
        self._hist = np.zeros(self.taps - 1, np.float32)
        self._n_in = 0  # input samples consumed so far
        self._n_out = 0  # output samples produced so far
        self._offsets = np.arange(self.taps)

    def process(self, pcm: Pcm) -> Pcm:
        if pcm.size == 0:
            return np.zeros(0, np.int16)
        x = np.concatenate((self._hist, pcm.astype(np.float32)))
        first = self._n_in - self._hist.size  # input index of x[0]
        self._n_in += pcm.size
        last_m = (self._n_in * self.up - 1) // self.down  # newest output with its input here
        m = np.arange(self._n_out, last_m + 1, dtype=np.int64)
        self._n_out = last_m + 1
        self._hist = x[-(self.taps - 1):] if self.taps > 1 else x[:0]
        if m.size == 0:
            return np.zeros(0, np.int16)
        u = m * self.down
        base = u // self.up - first
        phase = u % self.up
        windows = x[base[:, None] - self._offsets[None, :]]
        y = np.einsum("ij,ij->i", windows, self._bank[phase])
        out: Pcm = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
        return out


# --- decoders --------------------------------------------------------------------------------


class Decoder(Protocol):
    rate: int

    def decode(self, payload: bytes) -> Pcm: ...


class G711Decoder:
    __slots__ = ("rate", "table")
    bytes_per_sample = 1  # stateless: any run of frames decodes in one call

    def __init__(self, table: Pcm, rate: int) -> None:
        self.table = table
        self.rate = rate

    def decode(self, payload: bytes) -> Pcm:
        return self.table.take(np.frombuffer(payload, _U8))


class L16Decoder:
    """16-bit linear PCM. Byte order is disputed for Telnyx, so "auto" decides from the audio:
    the right order gives a smooth signal, the wrong one a rough, loud one."""

    __slots__ = ("_carry", "_dtype", "_score", "bytes_per_sample", "channels", "decided", "rate")

    def __init__(self, rate: int, byte_order: str = "auto", channels: int = 1) -> None:
        self.rate = rate
        self.channels = max(1, channels)
        self.bytes_per_sample = 2 * self.channels
        self.decided = byte_order in ("big", "little")
        self._dtype = np.dtype("<i2") if byte_order == "little" else np.dtype(">i2")
        self._carry = b""
        self._score = 0.0  # evidence for little-endian (positive) versus big (negative)

    @property
    def byte_order(self) -> str:
        return "little" if self._dtype == np.dtype("<i2") else "big"

    def decode(self, payload: bytes) -> Pcm:
        if self._carry:
            payload = self._carry + payload
            self._carry = b""
        if len(payload) % 2:
            self._carry = payload[-1:]
            payload = payload[:-1]
        if not self.decided and payload:
            self._weigh(payload)
        pcm = np.frombuffer(payload, self._dtype).astype(np.int16)
        if self.channels > 1:
            usable = pcm.size - pcm.size % self.channels
            pcm = pcm[:usable].reshape(-1, self.channels).mean(axis=1).astype(np.int16)
        return pcm

    def _weigh(self, payload: bytes) -> None:
        big = np.frombuffer(payload, dtype=">i2").astype(np.float64)
        little = np.frombuffer(payload, dtype="<i2").astype(np.float64)
        rough_big = float(np.abs(np.diff(big)).sum())
        rough_little = float(np.abs(np.diff(little)).sum())
        if rough_big == rough_little:
            return  # silence reads the same both ways
        self._score += np.log((rough_big + 1.0) / (rough_little + 1.0))
        if abs(self._score) > 3.0:  # about a factor of 20 in roughness, summed over frames
            self.decided = True
            self._dtype = np.dtype("<i2") if self._score > 0 else np.dtype(">i2")


class PyAVDecoder:
    """G.722, Opus or AMR-WB through ffmpeg, one RTP payload at a time."""

    def __init__(self, codec: str, codec_rate: int, rate: int) -> None:
        try:
            import av
        except ImportError as exc:  # pragma: no cover - av is a hard dependency
            raise CodecError(f"{codec} needs PyAV (pip install av): {exc}") from None
        self._av = av
        try:
            ctx: Any = av.CodecContext.create(codec, "r")
        except Exception as exc:
            raise CodecError(f"this build of ffmpeg has no {codec} decoder: {exc}") from None
        self._ctx = ctx
        self._ctx.sample_rate = codec_rate
        self._ctx.layout = "mono"
        self.rate = rate
        self._codec_rate = codec_rate
        self._resampler: Resampler | Decimator | None = None
        self.failures = 0

    def _packets(self, payload: bytes) -> list[bytes]:
        return [payload]

    def decode(self, payload: bytes) -> Pcm:
        parts: list[Pcm] = []
        for packet in self._packets(payload):
            try:
                frames = self._ctx.decode(self._av.Packet(packet))
            except Exception:
                # Keep the timeline: a frame the decoder refuses (e.g. AMR-WB comfort-noise
                # SID frames, which ffmpeg does not implement) still lasts 20 ms.
                self.failures += 1
                parts.append(np.zeros(self._codec_rate // 50, np.int16))
                continue
            for frame in frames:
                arr = frame.to_ndarray()
                if arr.dtype != np.int16:
                    arr = np.clip(arr * 32768.0, -32768, 32767).astype(np.int16)
                if arr.ndim == 2 and arr.shape[0] > 1:
                    arr = arr.mean(axis=0).astype(np.int16)
                parts.append(arr.reshape(-1))
                if frame.sample_rate and frame.sample_rate != self._codec_rate:
                    self._codec_rate = frame.sample_rate
                    self._resampler = None
        if not parts:
            return np.zeros(0, dtype=np.int16)
        pcm = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if self._codec_rate != self.rate:
            if self._resampler is None:
                if self._codec_rate % self.rate == 0:
                    self._resampler = Decimator(self._codec_rate // self.rate)
                else:
                    self._resampler = Resampler(self._codec_rate, self.rate)
            pcm = self._resampler.process(pcm)
        return pcm


# AMR-WB speech bits per frame type (RFC 4867, 3GPP TS 26.201); 9 is SID, 14/15 carry none.
_AMRWB_BITS = {0: 132, 1: 177, 2: 253, 3: 285, 4: 317, 5: 365, 6: 397, 7: 461, 8: 477, 9: 40,
               14: 0, 15: 0}


def _amrwb_storage_frame(ft: int, q: int, speech: bytes) -> bytes:
    return bytes([(ft << 3) | (q << 2)]) + speech


class AmrWbDecoder(PyAVDecoder):
    """RTP AMR-WB payloads (RFC 4867, octet-aligned or bandwidth-efficient) turned into the
    storage format ffmpeg's decoder reads: one header byte then the speech bytes."""

    def __init__(self, rate: int) -> None:
        super().__init__("amrwb", 16000, rate)

    def _packets(self, payload: bytes) -> list[bytes]:
        if not payload:
            return []
        frames = _amrwb_octet_aligned(payload)
        if frames is None:
            frames = _amrwb_bandwidth_efficient(payload)
        if frames is None:
            self.failures += 1
            return []
        return frames


def _amrwb_octet_aligned(payload: bytes) -> list[bytes] | None:
    # CMR byte, ToC bytes (F|FT|Q|pad) until F=0, then each frame's speech octets.
    pos = 1
    toc: list[tuple[int, int]] = []
    while pos < len(payload):
        byte = payload[pos]
        pos += 1
        ft, q = (byte >> 3) & 0x0F, (byte >> 2) & 1
        if ft not in _AMRWB_BITS or byte & 0x03:
            return None
        toc.append((ft, q))
        if not byte & 0x80:
            break
    else:
        return None
    out: list[bytes] = []
    for ft, q in toc:
        size = (_AMRWB_BITS[ft] + 7) // 8
        if pos + size > len(payload):
            return None
        out.append(_amrwb_storage_frame(ft, q, payload[pos : pos + size]))
        pos += size
    return out if pos == len(payload) else None


def _amrwb_bandwidth_efficient(payload: bytes) -> list[bytes] | None:
    # 4-bit CMR, 6-bit ToC entries (F|FT|Q), then the speech bits packed back to back.
    bits = int.from_bytes(payload, "big")
    total = len(payload) * 8
    pos = 4

    def take(n: int) -> int:
        nonlocal pos
        value = (bits >> (total - pos - n)) & ((1 << n) - 1)
        pos += n
        return value

    toc: list[tuple[int, int]] = []
    while True:
        if pos + 6 > total:
            return None
        f, ft, q = take(1), take(4), take(1)
        if ft not in _AMRWB_BITS:
            return None
        toc.append((ft, q))
        if not f:
            break
    out: list[bytes] = []
    for ft, q in toc:
        n = _AMRWB_BITS[ft]
        if pos + n > total:
            return None
        speech = take(n) << ((-n) % 8)  # left-align into whole octets
        out.append(_amrwb_storage_frame(ft, q, speech.to_bytes((n + 7) // 8, "big")))
    return out if total - pos < 8 else None


def make_decoder(fmt: MediaFormat, l16_byte_order: str = "auto") -> Decoder:
    """Decoder for what the start frame says the stream carries. Rates outside
    MIN_RATE..MAX_RATE and more than two channels are refused (CodecError) for the stream."""
    enc = fmt.encoding
    if not MIN_RATE <= fmt.sample_rate <= MAX_RATE and enc != "G722":
        raise CodecError(f"sample rate {fmt.sample_rate} Hz is not supported: the console "
                         f"decodes {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= fmt.channels <= 2:
        raise CodecError(f"{fmt.channels} channels are not supported: the console decodes "
                         "mono and stereo")
    if enc == "PCMU":
        return G711Decoder(ULAW_DECODE, fmt.sample_rate)
    if enc == "PCMA":
        return G711Decoder(ALAW_DECODE, fmt.sample_rate)
    if enc == "L16":
        order = fmt.byte_order or l16_byte_order
        return L16Decoder(fmt.sample_rate, order, fmt.channels)
    if enc == "G722":
        return PyAVDecoder("g722", 16000, 16000)
    if enc == "OPUS":
        return PyAVDecoder("libopus", 48000, fmt.sample_rate)
    if enc == "AMR-WB":
        return AmrWbDecoder(fmt.sample_rate)
    raise CodecError(
        f"unsupported audio encoding {fmt.raw_encoding or enc!r}: the console decodes "
        "PCMU, PCMA, L16, G722, OPUS and AMR-WB"
    )


# --- encoders (audio the console sends into a call) -----------------------------------------


class Encoder(Protocol):
    rate: int

    def encode(self, pcm: Pcm) -> bytes: ...


class G711Encoder:
    __slots__ = ("rate", "table")

    def __init__(self, table: npt.NDArray[np.uint8], rate: int = 8000) -> None:
        self.table = table
        self.rate = rate

    def encode(self, pcm: Pcm) -> bytes:
        return self.table[pcm.astype(np.int32) + 32768].tobytes()


class L16Encoder:
    __slots__ = ("dtype", "rate")

    def __init__(self, rate: int, byte_order: str = "big") -> None:
        self.rate = rate
        self.dtype = np.dtype("<i2") if byte_order == "little" else np.dtype(">i2")

    def encode(self, pcm: Pcm) -> bytes:
        return pcm.astype(self.dtype).tobytes()


class PyAVEncoder:
    """G.722 or Opus; one call per 20 ms frame returns that frame's payload."""

    def __init__(self, codec: str, rate: int, bit_rate: int | None = None) -> None:
        import av

        self._av = av
        try:
            ctx: Any = av.CodecContext.create(codec, "w")
        except Exception as exc:
            raise CodecError(f"this build of ffmpeg has no {codec} encoder: {exc}") from None
        self._ctx = ctx
        self._ctx.sample_rate = rate
        self._ctx.layout = "mono"
        self._ctx.format = "s16"
        if bit_rate:
            self._ctx.bit_rate = bit_rate
        self._ctx.open()
        self.rate = rate
        self._pts = 0

    def encode(self, pcm: Pcm) -> bytes:
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += pcm.size
        return b"".join(bytes(p) for p in self._ctx.encode(frame))


def make_encoder(encoding: str, rate: int = 8000, l16_byte_order: str = "big") -> Encoder:
    enc = encoding.upper()
    if enc == "PCMU":
        return G711Encoder(ULAW_ENCODE, 8000)
    if enc == "PCMA":
        return G711Encoder(ALAW_ENCODE, 8000)
    if enc == "L16":
        return L16Encoder(rate, l16_byte_order)
    if enc == "G722":
        return PyAVEncoder("g722", 16000)
    if enc == "OPUS":
        return PyAVEncoder("libopus", rate if rate in (8000, 12000, 16000, 24000, 48000)
                           else 16000, 24000)
    raise CodecError(f"the console cannot send audio as {encoding!r} (no encoder)")
