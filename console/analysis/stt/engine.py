"""Speech to text behind one interface.

Whisper's encoder is built for 30 s windows, and on two cores that fixed window was most of
the cost of each utterance (0.31 s of encoder time however short the speech). Here each
utterance is encoded over a shorter context that still covers it (at least 12 s), several
utterances of any calls in one batch, and decoded together. An utterance's text is simply
its row of the batch: nothing has to be split back by timestamps.

Measured on this machine kind (tiny.en int8, two threads): 110-120 ms per utterance in
batches of 3-4 against 160-170 ms for utterances packed into one 30 s window, with the same
or better word error rate. Contexts under about 12 s made tiny.en repeat short phrases
without end ("5 5 5 5 ...", or "4 Queen of Cloves. 4 Queen of Cloves. 4 Queen of Cloves");
such a runaway is caught and decoded again over the full 30 s window, as Whisper was
trained.

Final text is decoded with a beam search of 5 (Whisper's own default), tentative text
greedily. On real speech through the phone band (bench/real_speech.py) the beam cut tiny.en's
live word errors by about a seventh for about 15 % more CPU (the encoder, shared by both, is
most of the cost); tentative text is replaced within a second, so it does not pay for it.
Whisper's previous-text prompt (the speaker's last line) was measured too and made tiny.en
worse on the same set (with or without the beam), so it is not used."""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["RATE", "FasterWhisperEngine", "SttEngine", "context_frames", "is_runaway", "pieces",
           "repeats_phrase", "too_many_words"]

RATE = 16000
FRAMES_PER_S = 100  # Whisper's mel frames
FULL_FRAMES = 3000  # the 30 s window Whisper was trained on
MIN_CONTEXT_S = 12.0
TAIL_S = 0.5  # silence after the speech: Whisper ends a transcript better with some
MAX_PIECE_S = 29.0  # longer audio is cut into pieces that each fit the full window
MAX_BATCH = 8  # utterances decoded together; bounds memory and one batch's wait
BEAM_SIZE = 5  # final text; tentative text is decoded greedily
# A runaway decode repeats itself; text this compressible is a loop, not speech (Whisper's
# own fallback threshold).
LOOP_RATIO = 2.4
TOKENS_PER_S = 12  # far above fast speech (about 5); a decode that reaches it is a loop
# A loop too short for the compression ratio to show: the same phrase several times in a row.
# People repeat a word ("no no no", "bye bye") but rarely a phrase three times over; a false
# alarm only costs a second decode over the full window, whose text is kept as it is.
MAX_PHRASE_WORDS = 8
PHRASE_REPEATS = 3  # a phrase of two words or more
WORD_REPEATS = 4  # a single word
_WORD = re.compile(r"[\w']+")
# More words than anyone says in the time: made up, not heard. Whisper base, given the
# 0.4 s left after a long turn was cut, said "So, we're going to go to the".
MAX_WORDS_PER_S = 5.0
EXTRA_WORDS = 3
# Whisper's own "nothing was said" rule: high no-speech probability and low confidence.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
SILENT_DB = -60.0  # RMS, dB of full scale; the VAD never passes audio this quiet

Audio = npt.NDArray[np.float32]


class SttEngine(Protocol):
    name: str

    def transcribe_batch(self, audios: list[Audio],
                         tentative: list[bool] | None = None) -> list[str]:
        """Text of each 16 kHz mono float32 utterance, in order (`tentative[i]`: utterance i
        is still being spoken and its text only for the moment)."""
        ...


def context_frames(seconds: float, minimum_s: float = MIN_CONTEXT_S) -> int:
    """Encoder frames for audio of this length: speech plus a tail, at least the minimum
    context, rounded up to a whole second, never more than the full window."""
    needed = max(minimum_s, seconds + TAIL_S)
    return min(FULL_FRAMES, math.ceil(needed) * FRAMES_PER_S)


def pieces(audios: list[Audio], limit_s: float = MAX_PIECE_S) -> list[tuple[int, Audio]]:
    """(index of the utterance, audio) for each piece that fits one window, in order."""
    step = int(limit_s * RATE)
    out: list[tuple[int, Audio]] = []
    for i, a in enumerate(audios):
        out += [(i, a[k : k + step]) for k in range(0, max(a.size, 1), step)]
    return out


def repeats_phrase(text: str, max_words: int = MAX_PHRASE_WORDS) -> bool:
    """Whether some phrase of 1..`max_words` words comes back to back PHRASE_REPEATS times
    (a single word WORD_REPEATS times), ignoring case and punctuation."""
    words = _WORD.findall(text.lower())
    for n in range(1, max_words + 1):
        need = WORD_REPEATS if n == 1 else PHRASE_REPEATS
        if len(words) < n * need:
            break
        # The phrase at i repeats k times in a row exactly when words[j] == words[j + n] for
        # the (k - 1) * n positions j from i on: look for a run of that many matches.
        run = 0
        for a, b in zip(words, words[n:], strict=False):
            run = run + 1 if a == b else 0
            if run >= (need - 1) * n:
                return True
    return False


def too_many_words(text: str, seconds: float) -> bool:
    """Whether `text` has more words than could be said in `seconds` of audio."""
    return len(_WORD.findall(text)) > EXTRA_WORDS + MAX_WORDS_PER_S * seconds


def is_runaway(text: str, tokens: int, cap: int, seconds: float | None = None) -> bool:
    """A decode that used up its token allowance, whose text mostly repeats itself, that
    says the same phrase over and over, or (given the audio's length) that has more words
    than the audio could hold."""
    if tokens >= cap or (seconds is not None and too_many_words(text, seconds)):
        return True
    blob = text.encode()
    if len(blob) > 24 and len(blob) / len(zlib.compress(blob)) > LOOP_RATIO:
        return True
    return repeats_phrase(text)


def _level_db(audio: Audio) -> float:
    power = float(np.dot(audio, audio)) / audio.size if audio.size else 0.0
    return 10 * math.log10(power) if power > 0 else -math.inf


@dataclass(frozen=True)
class _Decoded:
    text: str
    runaway: bool


class FasterWhisperEngine:
    def __init__(self, model: Path | str, threads: int = 1,
                 min_context_s: float = MIN_CONTEXT_S, beam_size: int = BEAM_SIZE) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.name = f"faster-whisper ({Path(str(model)).name})"
        self.min_context_s = min_context_s
        self.beam_size = max(1, beam_size)
        self.redecoded = 0  # runaways decoded again over the full window
        self._model = WhisperModel(str(model), device="cpu", compute_type="int8",
                                   cpu_threads=threads)
        self._tokenizer = Tokenizer(self._model.hf_tokenizer,
                                    self._model.model.is_multilingual, task="transcribe",
                                    language="en")
        # Plain text, no timestamp tokens: each utterance has its own row, so timestamps
        # would only lengthen the decode.
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]

    def transcribe_batch(self, audios: list[Audio],
                         tentative: list[bool] | None = None) -> list[str]:
        """Text of each utterance; `tentative[i]` true: decoded greedily (text of speech
        still going on, soon replaced), else with the engine's beam."""
        parts = pieces(audios)
        beams = [1 if tentative and tentative[i] else self.beam_size for i, _ in parts]
        # Silence or nothing at all is left out: Whisper would make up a word ("you") for
        # it. The rest goes in order of length, so little of each batch is padding.
        order = sorted((k for k, (_, a) in enumerate(parts) if _level_db(a) > SILENT_DB),
                       key=lambda k: parts[k][1].size)
        decoded: dict[int, str] = {}
        for start in range(0, len(order), MAX_BATCH):
            chunk = order[start : start + MAX_BATCH]
            results = self._decode([parts[k][1] for k in chunk], self.min_context_s,
                                   [beams[k] for k in chunk])
            for k, result in zip(chunk, results, strict=True):
                if result.runaway:
                    self.redecoded += 1
                    result = self._decode([parts[k][1]], FULL_FRAMES / FRAMES_PER_S,
                                          [beams[k]])[0]
                    if too_many_words(result.text, parts[k][1].size / RATE):
                        result = _Decoded("", False)  # made up again: nothing is kept
                decoded[k] = result.text
        texts: list[list[str]] = [[] for _ in audios]
        for k, (owner, _audio) in enumerate(parts):
            if decoded.get(k):
                texts[owner].append(decoded[k])
        return [" ".join(t) for t in texts]

    def _decode(self, audios: list[Audio], minimum_s: float,
                beams: list[int]) -> list[_Decoded]:
        """Each audio decoded with its beam size (1: greedy) over one shared encoding."""
        import ctranslate2

        longest = max(a.size for a in audios) / RATE
        frames = context_frames(longest, minimum_s)
        features = np.stack([self._features(a, frames) for a in audios])
        mixed = len(set(beams)) > 1
        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(features),
                                           to_cpu=mixed)
        cap = min(self._model.max_length - len(self._prompt),
                  10 + int(longest * TOKENS_PER_S))
        out: dict[int, _Decoded] = {}
        for beam in sorted(set(beams)):
            rows = [i for i, b in enumerate(beams) if b == beam]
            # One generate call takes one beam size: the rows of each go over their slice
            # of the encoding (copied out only when the batch mixes the two kinds).
            part = (ctranslate2.StorageView.from_array(
                np.ascontiguousarray(np.asarray(encoded)[rows])) if mixed else encoded)
            results = self._model.model.generate(
                part, [self._prompt] * len(rows), beam_size=beam,
                max_length=len(self._prompt) + cap, suppress_blank=True,
                suppress_tokens=[-1], return_scores=True, return_no_speech_prob=True)
            out.update((i, self._result(r, cap, audios[i].size / RATE))
                       for i, r in zip(rows, results, strict=True))
        return [out[i] for i in range(len(audios))]

    def _features(self, audio: Audio, frames: int) -> npt.NDArray[np.float32]:
        # Zeros appended before the mel transform, as Whisper pads its own windows: the
        # silence then has the level the model saw in training.
        padded = np.zeros((frames + 1) * 160, np.float32)
        padded[: audio.size] = audio
        mel = self._model.feature_extractor(padded, padding=0)
        return np.ascontiguousarray(mel[:, :frames], dtype=np.float32)

    def _result(self, result: Any, cap: int, seconds: float) -> _Decoded:
        eot = self._tokenizer.eot
        tokens = [t for t in result.sequences_ids[0] if t < eot]
        text = self._tokenizer.decode(tokens).strip()
        logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > NO_SPEECH_PROB and logprob < LOW_LOGPROB:
            return _Decoded("", False)
        return _Decoded(text, is_runaway(text, len(tokens), cap, seconds))

