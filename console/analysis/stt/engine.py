"""Speech to text behind one interface. faster-whisper decodes a whole 30 s window whatever
the utterance length, so utterances (of any calls) are packed into one window, separated by
a second of silence, and each recognised word goes back to the utterance it falls in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["RATE", "FasterWhisperEngine", "SttEngine", "pack"]

RATE = 16000
GAP_S = 1.0
WINDOW_S = 28.0  # under Whisper's 30 s window, leaving room for the gaps
Audio = npt.NDArray[np.float32]


class SttEngine(Protocol):
    name: str

    def transcribe_batch(self, audios: list[Audio]) -> list[str]:
        """Text of each 16 kHz mono float32 utterance, in order."""
        ...


@dataclass(frozen=True)
class Packed:
    audio: Audio
    spans: list[tuple[float, float]]  # where each utterance sits in `audio`, in seconds


def pack(audios: list[Audio], gap_s: float = GAP_S) -> Packed:
    gap = np.zeros(int(gap_s * RATE), np.float32)
    parts: list[Audio] = []
    spans = []
    pos = 0
    for a in audios:
        spans.append((pos / RATE, (pos + a.size) / RATE))
        parts += [a, gap]
        pos += a.size + gap.size
    return Packed(np.concatenate(parts) if parts else np.zeros(0, np.float32), spans)


def windows(audios: list[Audio], limit_s: float = WINDOW_S) -> list[list[int]]:
    """Indices of `audios` grouped so each group's packed length fits one window."""
    groups: list[list[int]] = []
    length = limit_s + 1
    for i, a in enumerate(audios):
        seconds = a.size / RATE + GAP_S
        if length + seconds > limit_s:
            groups.append([])
            length = 0.0
        groups[-1].append(i)
        length += seconds
    return groups


class FasterWhisperEngine:
    def __init__(self, model: Path | str, threads: int = 2, beam_size: int = 1) -> None:
        from faster_whisper import WhisperModel

        self.name = f"faster-whisper ({Path(str(model)).name})"
        # Greedy decoding: beam search wandered across the gaps between packed utterances.
        self.beam_size = beam_size
        self._model = WhisperModel(str(model), device="cpu", compute_type="int8",
                                   cpu_threads=threads)

    def transcribe_batch(self, audios: list[Audio]) -> list[str]:
        texts = [""] * len(audios)
        for group in windows(audios):
            packed = pack([audios[i] for i in group])
            words = self._words(packed.audio)
            buckets: list[list[str]] = [[] for _ in group]
            for start, end, word in words:
                mid = (start + end) / 2
                best = min(range(len(group)), key=lambda k: _distance(packed.spans[k], mid))
                buckets[best].append(word)
            for k, i in enumerate(group):
                texts[i] = "".join(buckets[k]).strip()
        return texts

    def _words(self, audio: Audio) -> list[tuple[float, float, str]]:
        segments, _info = self._model.transcribe(
            audio, language="en", beam_size=self.beam_size, condition_on_previous_text=False,
            vad_filter=False, word_timestamps=True)
        return [(w.start, w.end, w.word) for s in segments for w in (s.words or [])]


def _distance(span: tuple[float, float], t: float) -> float:
    start, end = span
    return 0.0 if start <= t <= end else min(abs(t - start), abs(t - end))
