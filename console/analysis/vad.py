"""Voice activity per track: 20 ms frames through WebRTC's VAD, turned into utterances.

Speech starts after a few voiced frames (so a click is not a word), keeps a short pre-roll so
the first syllable reaches the recogniser, and ends after a hang time of silence; very long
turns are cut so text keeps flowing."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from console.audio.codecs import Resampler

__all__ = ["Segmenter", "Utterance", "VadSettings"]

Pcm = npt.NDArray[np.int16]
VAD_RATES = (8000, 16000, 32000, 48000)


@dataclass(frozen=True)
class VadSettings:
    aggressiveness: int = 2  # 0 (lenient) .. 3 (strict)
    start_frames: int = 3  # voiced frames among the last `window` that start speech
    window: int = 5
    hang_s: float = 0.6  # silence that ends an utterance
    pre_roll_s: float = 0.2
    max_utterance_s: float = 15.0
    # WebRTC's VAD has no level threshold and fires on faint line noise; frames quieter than
    # this (RMS, dB of full scale) are never speech. Speech on a call sits near -30..-15.
    min_level_dbfs: float = -48.0


@dataclass(frozen=True)
class Utterance:
    start_s: float  # on the track's own timeline
    end_s: float
    audio: Pcm  # at `rate`
    rate: int


class Segmenter:
    def __init__(self, rate: int, settings: VadSettings | None = None) -> None:
        import webrtcvad

        self.settings = s = settings or VadSettings()
        self.rate = rate if rate in VAD_RATES else 16000
        self._resampler = None if rate == self.rate else Resampler(rate, self.rate)
        self._vad = webrtcvad.Vad(s.aggressiveness)
        self._min_power = (32768.0 * 10 ** (s.min_level_dbfs / 20)) ** 2
        self.frame = self.rate // 50
        self._carry = np.zeros(0, np.int16)
        self._recent: deque[bool] = deque(maxlen=s.window)
        self._pre: deque[Pcm] = deque(maxlen=max(1, int(s.pre_roll_s * 50)))
        self._speech: list[Pcm] = []
        self._silent_frames = 0
        self.frames_seen = 0
        self.speaking = False
        self._start_frame = 0

    @property
    def now_s(self) -> float:
        return self.frames_seen / 50.0

    def feed(self, pcm: Pcm) -> list[Utterance]:
        """Add audio (any length); returns the utterances that ended in it."""
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        if self._carry.size:
            pcm = np.concatenate([self._carry, pcm])
        usable = pcm.size - pcm.size % self.frame
        self._carry = pcm[usable:].copy()
        out: list[Utterance] = []
        for i in range(0, usable, self.frame):  # per 20 ms frame, never per sample
            done = self._frame(pcm[i : i + self.frame])
            if done is not None:
                out.append(done)
        return out

    def current(self) -> Utterance | None:
        """The utterance still being spoken, so far (for tentative text)."""
        if not self.speaking or not self._speech:
            return None
        audio = np.concatenate(self._speech)
        start = self._start_frame / 50.0
        return Utterance(start, start + audio.size / self.rate, audio, self.rate)

    def flush(self) -> Utterance | None:
        """The utterance in progress, if any (at the end of a stream)."""
        return self._finish() if self.speaking else None

    def _frame(self, frame: Pcm) -> Utterance | None:
        s = self.settings
        f = frame.astype(np.float32)
        loud = float(np.dot(f, f)) / f.size >= self._min_power
        voiced = loud and self._vad.is_speech(frame.tobytes(), self.rate)
        self.frames_seen += 1
        self._recent.append(voiced)
        if not self.speaking:
            self._pre.append(frame)
            if sum(self._recent) >= s.start_frames:
                self.speaking = True
                self._speech = list(self._pre)
                self._start_frame = self.frames_seen - len(self._pre)
                self._silent_frames = 0
            return None
        self._speech.append(frame)
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        too_long = len(self._speech) >= s.max_utterance_s * 50
        if self._silent_frames >= s.hang_s * 50 or too_long:
            return self._finish(trim=not too_long)
        return None

    def _finish(self, trim: bool = True) -> Utterance:
        frames = self._speech
        if trim and self._silent_frames:
            # Keep a little of the trailing silence: the recogniser likes a clean ending.
            keep = max(0, len(frames) - self._silent_frames + 5)
            frames = frames[:keep]
        audio = np.concatenate(frames) if frames else np.zeros(0, np.int16)
        start = self._start_frame / 50.0
        self.speaking = False
        self._speech = []
        self._pre.clear()
        self._recent.clear()
        self._silent_frames = 0
        return Utterance(start, start + audio.size / self.rate, audio, self.rate)
