"""Microphone audio on its way into a call: a noise gate, and 20 ms frames in the codec the
stream takes back (resampled from the microphone's rate)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from console.audio.codecs import Encoder, LiveResampler, make_encoder

__all__ = ["FrameEncoder", "Level", "NoiseGate", "level_of"]

Pcm = npt.NDArray[np.int16]
FRAME_S = 0.02  # what Telnyx and Twilio both take as the smallest chunk


class Level:
    __slots__ = ("peak_db", "rms_db")

    def __init__(self, rms_db: float, peak_db: float) -> None:
        self.rms_db, self.peak_db = rms_db, peak_db


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 1e-9 else -120.0


def level_of(pcm: Pcm) -> Level:
    """RMS and peak of a block in dBFS (0 dB = full scale)."""
    if pcm.size == 0:
        return Level(-120.0, -120.0)
    f = pcm.astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.dot(f, f) / f.size))
    peak = float(np.max(np.abs(f)))
    return Level(_db(rms), _db(peak))


class NoiseGate:
    """Opens when a frame is louder than `threshold_db`, closes `hold_s` after the last one:
    room noise between words does not reach the call, the ends of words are not clipped."""

    def __init__(self, threshold_db: float = -50.0, hold_s: float = 0.3) -> None:
        self.threshold_db = threshold_db
        self.hold_s = hold_s
        self._open_until = -1.0
        self.is_open = False

    def process(self, level: Level, now_s: float) -> bool:
        if level.rms_db >= self.threshold_db:
            self._open_until = now_s + self.hold_s
        self.is_open = now_s < self._open_until
        return self.is_open

    def reset(self) -> None:
        self._open_until = -1.0
        self.is_open = False


class FrameEncoder:
    """Microphone samples in, whole 20 ms payloads in the stream's codec out."""

    def __init__(self, codec: str, rate: int, mic_rate: int, l16_byte_order: str = "big"
                 ) -> None:
        self.codec = codec
        self.encoder: Encoder = make_encoder(codec, rate, l16_byte_order)
        self.rate = self.encoder.rate
        self.frame = int(self.rate * FRAME_S)
        self._resampler = LiveResampler(mic_rate, self.rate) if mic_rate != self.rate else None
        self._pending = np.zeros(0, np.int16)

    def push(self, pcm: Pcm) -> list[bytes]:
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        if self._pending.size:
            pcm = np.concatenate((self._pending, pcm))
        whole = pcm.size - pcm.size % self.frame
        self._pending = pcm[whole:].copy()
        return [self.encoder.encode(pcm[i : i + self.frame])
                for i in range(0, whole, self.frame)]
