"""What a caller said in their own language, and the same in English, from one multilingual
Whisper model (base here: the smallest multilingual model that ships in registry packages).

Whisper does both jobs itself: it names the language of the audio (`detect_language`) and
decodes either the words as said (task "transcribe" with the language's token) or an English
rendering of them (task "translate"). Both decodes read the same encoder output, so each
batch is encoded once, as engine.py does it (short contexts, utterances of any calls side by
side), then decoded twice: greedily for the words as said, with a beam of 5 for the English
(greedy translation of Spanish phone speech scored BLEU 9 against 17 with the beam, which
costs 5-15 % more CPU; bench/translate.py). An English utterance is decoded once; its
English is its original. Silence, Whisper's no-speech rule and runaway decodes are handled
as in engine.py.

Language: given by the caller of `process_batch` (say, the language a track was found to
speak) or detected per utterance. Detection reads the full 30 s window: over engine.py's
short contexts it was wrong far more often. An utterance longer than one window is detected
over all its pieces, weighted by their length, so all its pieces are decoded in one
language."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from console.analysis.stt.engine import (
    FRAMES_PER_S,
    FULL_FRAMES,
    LOW_LOGPROB,
    MAX_BATCH,
    MIN_CONTEXT_S,
    NO_SPEECH_PROB,
    RATE,
    SILENT_DB,
    TOKENS_PER_S,
    Audio,
    FasterWhisperEngine,
    _level_db,
    context_frames,
    is_runaway,
    pieces,
)

__all__ = ["Heard", "TranslatingEngine", "from_wire", "to_wire"]

ENGLISH = "en"
TRANSCRIBE, TRANSLATE = "transcribe", "translate"
DETECT_CONTEXT_S = FULL_FRAMES / FRAMES_PER_S
TRANSCRIBE_BEAM = 1
TRANSLATE_BEAM = 5
Encoded = npt.NDArray[np.float32]  # (rows, frames / 2, model width)


@dataclass(frozen=True)
class Heard:
    """One utterance: its language (ISO 639-1; "" when nothing was heard to tell), how sure
    the detection was (1.0 when the language was given), the words as said, and in English
    (the same text when the language is English)."""

    language: str
    probability: float
    original: str
    english: str


def to_wire(heard: Heard) -> str:
    """Compact JSON for the worker pipe; the English is left out when it is the original."""
    blob: dict[str, Any] = {"l": heard.language, "p": round(heard.probability, 4),
                            "o": heard.original}
    if heard.english != heard.original:
        blob["e"] = heard.english
    return json.dumps(blob, ensure_ascii=False, separators=(",", ":"))


def from_wire(text: str) -> Heard:
    blob = json.loads(text)
    return Heard(blob["l"], float(blob["p"]), blob["o"], blob.get("e", blob["o"]))


@dataclass
class _Row:
    part: int  # index into the batch's pieces
    task: str
    text: str = ""
    spoken: bool = True  # False: Whisper's no-speech rule says nothing was said (text "")


class TranslatingEngine(FasterWhisperEngine):
    """`transcribe_batch` (English, inherited) still works; `process_batch` is the
    multilingual path. `candidates` limits detection to the languages a contact centre
    expects (say en and es): a short or unclear utterance then cannot come out as Welsh."""

    def __init__(self, model: Path | str, threads: int = 1,
                 min_context_s: float = MIN_CONTEXT_S,
                 candidates: Iterable[str] | None = None,
                 detect_context_s: float = DETECT_CONTEXT_S,
                 transcribe_beam: int = TRANSCRIBE_BEAM,
                 translate_beam: int = TRANSLATE_BEAM) -> None:
        super().__init__(model, threads=threads, min_context_s=min_context_s)
        self.detect_context_s = detect_context_s
        self.transcribe_beam = transcribe_beam
        self.translate_beam = translate_beam
        if not self._model.model.is_multilingual:
            raise ValueError(f"{self.name} is English-only: translation needs a multilingual "
                             "Whisper model (base)")
        self.name = f"faster-whisper ({Path(str(model)).name}, translating)"
        self._task_token = {TRANSCRIBE: self._tokenizer.transcribe,
                            TRANSLATE: self._tokenizer.translate}
        self.candidates = frozenset(candidates) if candidates else None
        unknown = [c for c in self.candidates or () if self._language_token(c) is None]
        if unknown:
            raise ValueError(f"languages Whisper does not know: {', '.join(unknown)}")

    def _language_token(self, language: str) -> int | None:
        token: int | None = self._model.hf_tokenizer.token_to_id(f"<|{language}|>")
        return token

    def _prompt_for(self, language: str, task: str) -> list[int]:
        token = self._language_token(language)
        assert token is not None
        return [self._tokenizer.sot, token, self._task_token[task], self._tokenizer.no_timestamps]

    # --- language ----------------------------------------------------------------------------

    def detect(self, audio: Audio) -> tuple[str, float]:
        """The language of one 16 kHz utterance and its probability; ("", 0.0) for silence.
        Audio longer than one window is judged on its first window."""
        first = pieces([audio])[0][1]
        if _level_db(first) <= SILENT_DB:
            return "", 0.0
        return self._detect(self._encode([first], self.detect_context_s))[0]

    def _detect(self, encoded: Encoded) -> list[tuple[str, float]]:
        import ctranslate2

        out = []
        for ranked in self._model.model.detect_language(
                ctranslate2.StorageView.from_array(encoded)):
            scores = [(token[2:-2], p) for token, p in ranked]
            if self.candidates is not None:
                scores = [(lang, p) for lang, p in scores if lang in self.candidates]
                total = sum(p for _, p in scores) or 1.0
                scores = [(lang, p / total) for lang, p in scores]
            out.append(max(scores, key=lambda s: s[1]))
        return out

    # --- decoding ----------------------------------------------------------------------------

    def process_batch(self, audios: list[Audio],
                      languages: list[str | None]) -> list[Heard]:
        """What each 16 kHz utterance said, in its language and in English, in order. A
        language that is None (or one Whisper does not know) is detected."""
        if len(languages) != len(audios):
            raise ValueError(f"{len(audios)} utterances but {len(languages)} languages")
        given = [lang if lang and self._language_token(lang) is not None else None
                 for lang in languages]
        parts = pieces(audios)
        # As in engine.py: silence is left out (Whisper would make up a word for it) and the
        # rest goes in order of length, so little of each batch is padding.
        order = sorted((k for k, (_, a) in enumerate(parts) if _level_db(a) > SILENT_DB),
                       key=lambda k: parts[k][1].size)
        # Detection reads the full 30 s window, as Whisper was trained: over 12 s contexts it
        # named 17 of 48 Spanish lines Italian, Thai, Japanese or Latin (10 of them with a
        # probability over 0.6), against 10 (6) over 30 s. A known language keeps the
        # short context, which costs a third as much.
        chunks: list[list[int]] = []
        contexts: list[float] = []
        for detecting, minimum_s in ((True, self.detect_context_s),
                                     (False, self.min_context_s)):
            group = [k for k in order if (given[parts[k][0]] is None) == detecting]
            for s in range(0, len(group), MAX_BATCH):
                chunks.append(group[s : s + MAX_BATCH])
                contexts.append(minimum_s)

        # Every chunk is encoded once and kept: the language of a long utterance is known
        # only once all its pieces have been heard, and both decodes read the same encoding.
        encoded = [self._encode([parts[k][1] for k in chunk], minimum_s)
                   for chunk, minimum_s in zip(chunks, contexts, strict=True)]
        votes: list[dict[str, float]] = [{} for _ in audios]
        for chunk, enc in zip(chunks, encoded, strict=True):
            if any(given[parts[k][0]] is None for k in chunk):
                for k, (lang, p) in zip(chunk, self._detect(enc), strict=True):
                    owner, audio = parts[k]
                    votes[owner][lang] = votes[owner].get(lang, 0.0) + p * audio.size
        language: list[str] = []
        probability: list[float] = []
        for i, known in enumerate(given):
            if known is not None:
                language.append(known)
                probability.append(1.0)
            elif votes[i]:
                best = max(votes[i], key=lambda v: votes[i][v])
                heard = sum(a.size for owner, a in parts if owner == i
                            and _level_db(a) > SILENT_DB)
                language.append(best)
                probability.append(votes[i][best] / heard)
            else:
                language.append("")
                probability.append(0.0)

        rows: dict[tuple[int, str], _Row] = {}
        for chunk, enc in zip(chunks, encoded, strict=True):
            longest = max(parts[k][1].size for k in chunk) / RATE
            where = {k: i for i, k in enumerate(chunk)}
            for task, beam in ((TRANSCRIBE, self.transcribe_beam),
                               (TRANSLATE, self.translate_beam)):
                # Nothing to translate where the transcription heard nothing.
                wanted = [_Row(k, task) for k in chunk
                          if task == TRANSCRIBE or (language[parts[k][0]] != ENGLISH
                                                    and rows[k, TRANSCRIBE].text)]
                if not wanted:
                    continue
                self._generate(enc[[where[r.part] for r in wanted]],
                               [self._prompt_for(language[parts[r.part][0]], task)
                                for r in wanted], wanted, [parts[r.part][1] for r in wanted],
                               longest, beam)
                rows.update(((r.part, r.task), r) for r in wanted)

        original: list[list[str]] = [[] for _ in audios]
        english: list[list[str]] = [[] for _ in audios]
        for k, (owner, _audio) in enumerate(parts):
            said = rows.get((k, TRANSCRIBE))
            if said is None or not said.text:
                continue
            original[owner].append(said.text)
            translated = rows.get((k, TRANSLATE))
            english[owner].append(translated.text if translated else said.text)
        out = []
        for i in range(len(audios)):
            if not original[i] and given[i] is None:
                # Noise that Whisper heard no words in: its "language" says nothing of the
                # caller, and must not settle a track's.
                language[i], probability[i] = "", 0.0
            out.append(Heard(language[i], probability[i], " ".join(original[i]),
                             " ".join(english[i])))
        return out

    def _encode(self, audios: list[Audio], minimum_s: float) -> Encoded:
        import ctranslate2

        longest = max(a.size for a in audios) / RATE
        frames = context_frames(longest, minimum_s)
        features = np.stack([self._features(a, frames) for a in audios])
        out = self._model.model.encode(ctranslate2.StorageView.from_array(features),
                                       to_cpu=True)
        return np.array(out, dtype=np.float32)

    def _generate(self, encoded: Encoded, prompts: list[list[int]], rows: list[_Row],
                  audios: list[Audio], longest_s: float, beam: int,
                  again: bool = True) -> None:
        """Decodes the rows (their text and no-speech verdict are set in place). A runaway
        is decoded again alone over the full 30 s window, as Whisper was trained, and that
        text is kept as it is."""
        import ctranslate2

        prompt_len = len(prompts[0])
        cap = min(self._model.max_length - prompt_len, 10 + int(longest_s * TOKENS_PER_S))
        results = self._model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded)), prompts,
            beam_size=beam, max_length=prompt_len + cap, suppress_blank=True, suppress_tokens=[-1],
            return_scores=True, return_no_speech_prob=True)
        for row, prompt, audio, result in zip(rows, prompts, audios, results, strict=True):
            text, tokens, spoken = self._read(result)
            # Whether anything was said is the transcription's call: a translation is only
            # asked for what was heard, and then kept, so the two texts come together.
            row.spoken = spoken or row.task == TRANSLATE
            row.text = text if row.spoken else ""
            if again and spoken and is_runaway(text, tokens, cap):
                self.redecoded += 1
                self._generate(self._encode([audio], FULL_FRAMES / FRAMES_PER_S), [prompt],
                               [row], [audio], audio.size / RATE, beam, again=False)

    def _read(self, result: Any) -> tuple[str, int, bool]:
        eot = self._tokenizer.eot
        tokens = [t for t in result.sequences_ids[0] if t < eot]
        text = self._tokenizer.decode(tokens).strip()
        logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        spoken = not (result.no_speech_prob > NO_SPEECH_PROB and logprob < LOW_LOGPROB)
        return text, len(tokens), spoken
