"""Voice activity per track: 20 ms frames through a voice detector, turned into utterances.

Two detectors: WebRTC's (the default: about 0.3 ms of CPU per second of audio, native 8 kHz)
and Silero's neural one (ONNX, the model file faster-whisper ships), much steadier in noise
for 4-8 ms per second of audio (measured on the demo dialogues, clean and noisy).

Speech starts after a few voiced frames (so a click is not a word), keeps a short pre-roll so
the first syllable reaches the recogniser, and ends after a hang time of silence; very long
turns are cut so text keeps flowing."""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from console.audio.codecs import LiveResampler
from console.config import VAD_ENGINES

__all__ = ["VAD_ENGINES", "Segmenter", "Utterance", "VadSettings", "VadUnavailable",
           "silero_session"]

Pcm = npt.NDArray[np.int16]
_EMPTY: Pcm = np.zeros(0, np.int16)
WEBRTC_RATES = (8000, 16000, 32000, 48000)
SILERO_RATE = 16000
SILERO_CHUNK = 512  # samples the model takes at a time (32 ms)
SILERO_CONTEXT = 64  # samples of the previous chunk it sees with each one
SILERO_RESET_FRAMES = 25  # 0.5 s of quiet: the model's memory of the last speech is stale
# Started afresh, Silero misses a short first word ("Hello?") it catches when it has heard
# the line's quiet just before: that much of it is run through the model first.
WARM_FRAMES = 8
_NO_AUDIO = np.zeros(0, np.int16)


class VadUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class VadSettings:
    engine: str = "webrtc"  # or "silero"
    # WebRTC: 0 (lenient) .. 3 (strict). 1, not 2: on real hesitant speech through the phone
    # band 2 let quiet words fall out and cut sentences into fragments that Whisper decodes
    # worse alone (bench/real_speech.py: 76 word errors against 70 of 791, tiny.en); on the
    # demo calls the cuts are the same, and white line noise up to -40 dBFS gets in no more.
    aggressiveness: int = 1
    silero_threshold: float = 0.5  # Silero: speech probability that counts as voiced
    start_frames: int = 3  # voiced frames among the last `window` that start speech
    window: int = 5
    hang_s: float = 0.6  # silence that ends an utterance
    pre_roll_s: float = 0.2
    max_utterance_s: float = 15.0
    # WebRTC's VAD has no level threshold and fires on faint line noise; frames quieter than
    # this (RMS, dB of full scale) are never speech. Speech on a call sits near -30..-15.
    min_level_dbfs: float = -48.0


class _Detector(Protocol):
    def voiced(self, frame: Pcm, loud: bool) -> bool:
        """Whether this frame is speech; a frame that is not `loud` never is."""
        ...

    def quiet(self, frames: int) -> None:
        """`frames` frames too quiet to be speech went by (the same as that many
        `voiced(frame, False)` calls, at the cost of one)."""
        ...

    def decide(self, frames: Pcm, loud: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """`voiced` for each row of `frames` in turn (quiet ones are never speech)."""
        ...


def _decide_each(detector: _Detector, frames: Pcm,
                 loud: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    voiced = np.zeros(len(frames), np.bool_)
    pos = 0
    heard = getattr(detector, "heard", None)
    for i in np.flatnonzero(loud).tolist():
        if i > pos:
            detector.quiet(i - pos)
            if heard is not None:
                heard(frames[max(pos, i - WARM_FRAMES):i])
        voiced[i] = detector.voiced(frames[i], True)
        pos = i + 1
    if pos < len(frames):
        detector.quiet(len(frames) - pos)
        if heard is not None:
            heard(frames[max(pos, len(frames) - WARM_FRAMES):])
    return voiced


class _WebRtc:
    def __init__(self, aggressiveness: int, rate: int) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._rate = rate

    def voiced(self, frame: Pcm, loud: bool) -> bool:
        return loud and bool(self._vad.is_speech(frame.tobytes(), self._rate))

    def quiet(self, frames: int) -> None:
        pass  # WebRTC's detector keeps no state across frames it is not given

    def decide(self, frames: Pcm, loud: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        voiced = np.zeros(len(frames), np.bool_)
        index = np.flatnonzero(loud)
        if index.size:
            is_speech, rate = self._vad.is_speech, self._rate
            voiced[index] = [is_speech(frame.tobytes(), rate) for frame in frames[index]]
        return voiced


def silero_model_path() -> Path:
    try:
        import faster_whisper
    except ImportError as exc:
        raise VadUnavailable(f"the Silero voice detector needs faster-whisper ({exc})") from exc
    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


@functools.cache
def silero_session() -> Any:
    """One ONNX session for every track: each track passes its own state in and out."""
    path = silero_model_path()
    if not path.exists():
        raise VadUnavailable(f"the Silero voice detector's model is missing ({path}); "
                             "reinstall faster-whisper or choose the WebRTC detector")
    try:
        import onnxruntime
    except ImportError as exc:
        raise VadUnavailable(f"the Silero voice detector needs onnxruntime ({exc})") from exc
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = opts.intra_op_num_threads = 1  # the engine thread's own work
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(str(path), sess_options=opts,
                                        providers=["CPUExecutionProvider"])


class _Silero:
    """Silero at 16 kHz: frames gather until a 32 ms chunk is whole; each frame is voiced
    when the newest chunk's speech probability reaches the threshold."""

    def __init__(self, threshold: float) -> None:
        self._session = silero_session()
        self._threshold = threshold
        self._quiet = 0
        self._reset()
        self.probability = 0.0

    def _reset(self) -> None:
        self._cold = True
        if not hasattr(self, "_recent"):
            self._recent = _NO_AUDIO
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(SILERO_CONTEXT, np.float32)
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)

    def quiet(self, frames: int) -> None:
        # Nobody talks most of a call. Quiet frames skip the model (its cost is per chunk);
        # after a longer quiet it starts afresh, as on a new stream.
        before = self._quiet
        self._quiet += frames
        if before < SILERO_RESET_FRAMES <= self._quiet:
            self._reset()
        self.probability = 0.0

    def decide(self, frames: Pcm, loud: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        return _decide_each(self, frames, loud)

    def heard(self, quiet: Pcm) -> None:
        """Quiet frames as they pass (the latest WARM_FRAMES are kept): after a fresh start
        the model hears them just before the speech."""
        if len(quiet):
            self._recent = np.concatenate((self._recent, quiet.reshape(-1)))[
                -WARM_FRAMES * quiet.shape[-1]:]

    def voiced(self, frame: Pcm, loud: bool) -> bool:
        if not loud:
            self.quiet(1)
            self.heard(frame)
            return False
        self._quiet = 0
        if self._cold:
            self._pending = self._recent.astype(np.float32) / 32768.0
            self._cold = False
        self._recent = _NO_AUDIO
        self._pending = np.concatenate((self._pending, frame.astype(np.float32) / 32768.0))
        n = self._pending.size // SILERO_CHUNK
        if n:
            chunks = self._pending[: n * SILERO_CHUNK].reshape(n, SILERO_CHUNK)
            before = np.vstack((self._context, chunks[:-1, -SILERO_CONTEXT:]))
            probs, self._h, self._c = self._session.run(
                None, {"input": np.hstack((before, chunks)), "h": self._h, "c": self._c})
            self.probability = float(probs[-1])
            self._context = chunks[-1, -SILERO_CONTEXT:].copy()
            self._pending = self._pending[n * SILERO_CHUNK :]
        return self.probability >= self._threshold


@dataclass(frozen=True)
class Utterance:
    start_s: float  # on the track's own timeline
    end_s: float
    audio: Pcm  # at `rate`
    rate: int


class Segmenter:
    def __init__(self, rate: int, settings: VadSettings | None = None) -> None:
        self.settings = s = settings or VadSettings()
        self._detector: _Detector
        if s.engine == "silero":
            self.rate = SILERO_RATE
            self._detector = _Silero(s.silero_threshold)
        elif s.engine == "webrtc":
            self.rate = rate if rate in WEBRTC_RATES else 16000
            self._detector = _WebRtc(s.aggressiveness, self.rate)
        else:
            raise VadUnavailable(f"unknown voice detector {s.engine!r}: "
                                 f"choose one of {', '.join(VAD_ENGINES)}")
        # Steady output about 1 ms behind; soxr's streaming mode would hold 20-140 ms and
        # delay every speech decision by as much.
        self._resampler = None if rate == self.rate else LiveResampler(rate, self.rate)
        self.frame = self.rate // 50
        # Loud enough to be speech: a frame's sum of squares (its mean power times its size).
        self._min_energy = (32768.0 * 10 ** (s.min_level_dbfs / 20)) ** 2 * self.frame
        # Whole frames: a count of frames reaches a limit in seconds when it reaches these.
        self._hang_frames = math.ceil(s.hang_s * 50)
        self._max_frames = math.ceil(s.max_utterance_s * 50)
        self._unvoiced = (False,) * s.window
        self._voiced = (True,) * s.window
        self._carry = np.zeros(0, np.int16)
        self._recent: deque[bool] = deque(maxlen=s.window)
        self._pre: deque[Pcm] = deque(maxlen=max(1, int(s.pre_roll_s * 50)))
        self._speech: list[Pcm] = []
        self._silent_frames = 0
        self.frames_seen = 0
        self.speaking = False
        self._start_frame = 0
        # When speech was decided to start (True) or end (False), track time in seconds,
        # since the caller last emptied it: `feed` may cover many frames at once.
        self.changes: list[tuple[float, bool]] = []

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
        # Whole frames are the rule: no new (empty) array for the carry then.
        self._carry = pcm[usable:].copy() if usable < pcm.size else _EMPTY
        out: list[Utterance] = []
        if usable <= 2 * self.frame:
            # At real time each track brings a frame at a time: whole-batch steps would cost
            # more than they save.
            for i in range(0, usable, self.frame):
                frame = pcm[i : i + self.frame]
                f = frame.astype(np.float32)
                if float(np.dot(f, f)) >= self._min_energy:
                    self._loud_frame(frame, out)
                else:
                    self._quiet_frame(frame, out)
            return out
        # A busy engine hands over many frames at once. Their levels are measured in one
        # step, only loud frames go to the detector, and the decisions are then taken a run
        # of like frames at a time (voiced or not: most of a call is long runs). Same
        # decisions as frame by frame, for a fraction of the cost.
        frames = pcm[:usable].reshape(-1, self.frame)
        f = frames.astype(np.float32)
        voiced = self._detector.decide(frames, np.einsum("ij,ij->i", f, f) >= self._min_energy)
        edges = (np.flatnonzero(voiced[1:] != voiced[:-1]) + 1).tolist()
        for start, stop in zip([0, *edges], [*edges, len(frames)], strict=True):
            if voiced[start]:
                self._voiced_run(frames, start, stop, out)
            else:
                self._unvoiced_run(frames, start, stop, out)
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

    def _loud_frame(self, frame: Pcm, out: list[Utterance]) -> None:
        voiced = self._detector.voiced(frame, True)
        self.frames_seen += 1
        self._recent.append(voiced)
        if not self.speaking:
            self._pre.append(frame)
            if sum(self._recent) >= self.settings.start_frames:
                self._start_speech()
            return
        self._speech.append(frame)
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        too_long = len(self._speech) >= self._max_frames
        if self._silent_frames >= self._hang_frames or too_long:
            out.append(self._finish(trim=not too_long))

    def _quiet_frame(self, frame: Pcm, out: list[Utterance]) -> None:
        """One frame too quiet to be speech (the real-time case of `_unvoiced_run`)."""
        self._detector.quiet(1)
        heard = getattr(self._detector, "heard", None)
        if heard is not None:
            heard(frame)
        self.frames_seen += 1
        self._recent.append(False)
        if not self.speaking:
            self._pre.append(frame)
            return
        self._speech.append(frame)
        self._silent_frames += 1
        too_long = len(self._speech) >= self._max_frames
        if self._silent_frames >= self._hang_frames or too_long:
            out.append(self._finish(trim=not too_long))

    def _unvoiced_run(self, frames: Pcm, start: int, stop: int, out: list[Utterance]) -> None:
        """Frames start..stop-1, none of them speech (the detector has seen them)."""
        while start < stop:
            if not self.speaking:
                # Unvoiced frames cannot start speech: only the counters and pre-roll move.
                n = stop - start
                self.frames_seen += n
                self._recent.extend(self._unvoiced[: min(n, len(self._unvoiced))])
                keep = self._pre.maxlen or 1
                self._pre.extend(frames[max(start, stop - keep) : stop])
                return
            # Speaking: silence grows until the hang time or the length limit ends the turn.
            n = max(1, min(stop - start, self._hang_frames - self._silent_frames,
                           self._max_frames - len(self._speech)))
            self._speech.extend(frames[start : start + n])
            self.frames_seen += n
            self._recent.extend(self._unvoiced[: min(n, len(self._unvoiced))])
            self._silent_frames += n
            start += n
            too_long = len(self._speech) >= self._max_frames
            if self._silent_frames >= self._hang_frames or too_long:
                out.append(self._finish(trim=not too_long))

    def _voiced_run(self, frames: Pcm, start: int, stop: int, out: list[Utterance]) -> None:
        """Frames start..stop-1, each one voiced."""
        s = self.settings
        window = len(self._voiced)
        while start < stop:
            if not self.speaking:
                # Frame by frame until speech starts; once the window is all voiced, more
                # voiced frames change nothing that could start it.
                for i in range(start, min(stop, start + window)):
                    self.frames_seen += 1
                    self._recent.append(True)
                    self._pre.append(frames[i])
                    if sum(self._recent) >= s.start_frames:
                        self._start_speech()
                        start = i + 1
                        break
                else:
                    self.frames_seen += stop - start - min(stop - start, window)
                    keep = self._pre.maxlen or 1
                    self._pre.extend(frames[max(start + window, stop - keep) : stop])
                    return
                continue
            # Speaking: voiced frames reset the silence; only the length limit ends the turn
            # (or a hang time of nothing at all).
            n = 1 if self._hang_frames <= 0 else max(1, min(stop - start,
                                                            self._max_frames - len(self._speech)))
            self._speech.extend(frames[start : start + n])
            self.frames_seen += n
            self._recent.extend(self._voiced[: min(n, window)])
            self._silent_frames = 0
            start += n
            too_long = len(self._speech) >= self._max_frames
            if self._silent_frames >= self._hang_frames or too_long:
                out.append(self._finish(trim=not too_long))

    def _start_speech(self) -> None:
        self.speaking = True
        self.changes.append((self.now_s, True))
        self._speech = list(self._pre)
        self._start_frame = self.frames_seen - len(self._pre)
        self._silent_frames = 0

    def _finish(self, trim: bool = True) -> Utterance:
        frames = self._speech
        if trim and self._silent_frames:
            # Keep a little of the trailing silence: the recogniser likes a clean ending.
            keep = max(0, len(frames) - self._silent_frames + 5)
            frames = frames[:keep]
        audio = np.concatenate(frames) if frames else np.zeros(0, np.int16)
        start = self._start_frame / 50.0
        self.speaking = False
        self.changes.append((self.now_s, False))
        self._speech = []
        self._pre.clear()
        self._recent.clear()
        self._silent_frames = 0
        return Utterance(start, start + audio.size / self.rate, audio, self.rate)
