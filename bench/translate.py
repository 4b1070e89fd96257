#!/usr/bin/env python3
"""Live translation on a Spanish caller (tests/data/translate): language detection, quality
of the English against reference translations, latency and CPU, for Whisper base through
console.analysis.stt.translate, against what the console did before (tiny.en transcribing
Spanish audio as if it were English).

Each line is one utterance as the voice detector cuts it: 8 kHz mu-law from the phone line,
decoded and resampled to 16 kHz, decoded in batches (--batch, default 1: a lone caller's
utterance, nothing queued beside it). Runs:
  detect      language detected per utterance, any of Whisper's 99 languages
  detect en/es  the same, detection limited to English and Spanish (`candidates`)
  given es    the track's language already known (the pipeline learns it from its first
              sure detections), so only the two decodes run over a short context
  given es, greedy translation  the same with beam 1 for the English (the engine uses 5)
  tiny.en     today's English-only engine on the Spanish audio: what a supervisor saw
English lines are decoded too (detection both ways; their English is their original). For
the detection runs, how soon and how surely a Spanish caller's track would settle on a
language under three rules, over 48 calls (each line starting one, the next lines following).

Quality of the English: corpus BLEU-4 (one reference per line; lower case, punctuation split
off, as sacreBLEU's 13a tokenizer does; own implementation below) and WER of the English
against the reference translation (console.analysis.wer; a translation worded differently
from the reference counts as errors, so WER overstates the harm). Latency: wall time of the
batch an utterance was in. CPU: this process's CPU seconds per second of audio; a call's
cost assumes the customer talks 40 % of the call's time.

    .venv/bin/python bench/translate.py [--threads 2] [--batch 1] [--context 12]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from console.analysis.stt.engine import FasterWhisperEngine  # noqa: E402
from console.analysis.stt.models import find_model  # noqa: E402
from console.analysis.stt.translate import Heard, TranslatingEngine  # noqa: E402
from console.analysis.wer import edit_distance, word_errors  # noqa: E402
from console.audio.codecs import resample  # noqa: E402
from console.audio.wav import read_wav  # noqa: E402

DATA = REPO / "tests" / "data" / "translate"
TALK_SHARE = 0.4  # of a call's time, the customer's speech
SURE = 0.6  # the pipeline settles a track's language on a detection this sure


@dataclass(frozen=True)
class Line:
    id: str
    language: str
    said: str  # as spoken
    english: str  # reference translation (the line itself for English lines)
    audio: npt.NDArray[np.float32]  # 16 kHz

    @property
    def seconds(self) -> float:
        return self.audio.size / 16000


def load() -> list[Line]:
    out = []
    for name, language in (("spanish.jsonl", "es"), ("english.jsonl", "en")):
        for raw in (DATA / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(raw)
            pcm, rate = read_wav(DATA / "audio" / f"{row['id']}.wav")
            audio = resample(pcm[:, 0], rate, 16000).astype(np.float32) / 32768.0
            out.append(Line(row["id"], language, row[language], row["en"], audio))
    return out


# --- BLEU --------------------------------------------------------------------------------------


def bleu_tokens(text: str) -> list[str]:
    """Lower case; words, numbers and each punctuation mark apart (13a-like)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", text.lower().replace("’", "'"))


def corpus_bleu(hypotheses: list[str], references: list[str], order: int = 4) -> float:
    """Papineni et al.'s corpus BLEU, one reference each: clipped n-gram precisions summed
    over the corpus, their geometric mean, times the brevity penalty; 0-100."""
    matched = [0] * order
    total = [0] * order
    hyp_len = ref_len = 0
    for hyp_text, ref_text in zip(hypotheses, references, strict=True):
        hyp, ref = bleu_tokens(hyp_text), bleu_tokens(ref_text)
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, order + 1):
            h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            r = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matched[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or min(matched) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / order
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * brevity * math.exp(log_precision)


def spanish_words(text: str) -> list[str]:
    """Lower case, accents dropped (a recogniser's "tardaria" for "tardaría" is the word
    heard), punctuation gone. Digits stay digits: "10" against "diez" counts as an error."""
    plain = unicodedata.normalize("NFKD", text.lower())
    return re.findall(r"[a-zñ]+|\d+", "".join(c for c in plain if not unicodedata.combining(c)))


def spanish_wer(hypotheses: list[str], references: list[str]) -> float:
    errors = words = 0
    for hyp_text, ref_text in zip(hypotheses, references, strict=True):
        hyp, ref = spanish_words(hyp_text), spanish_words(ref_text)
        errors += edit_distance(ref, hyp)
        words += len(ref)
    return 100 * errors / max(words, 1)


def wer(hypotheses: list[str], references: list[str]) -> float:
    errors = words = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        e, n = word_errors(ref, hyp)
        errors += e
        words += n
    return 100 * errors / max(words, 1)


# --- runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    heard: list[Heard]
    latency: list[float]  # per utterance: its batch's wall time
    cpu_s: float
    audio_s: float


def run(name: str, lines: list[Line], batch: int,
        decode: Callable[[list[Line]], list[Heard]]) -> Run:
    decode(lines[:1])  # first call allocates; not part of the figures
    heard: list[Heard] = []
    latency: list[float] = []
    cpu0 = time.process_time()
    for start in range(0, len(lines), batch):
        group = lines[start : start + batch]
        t0 = time.perf_counter()
        heard += decode(group)
        latency += [time.perf_counter() - t0] * len(group)
    cpu = time.process_time() - cpu0
    return Run(name, heard, latency, cpu, sum(line.seconds for line in lines))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def report(r: Run, lines: list[Line], show_detection: bool, original: bool = True) -> None:
    spanish = [(line, h) for line, h in zip(lines, r.heard, strict=True) if line.language == "es"]
    english = [(line, h) for line, h in zip(lines, r.heard, strict=True) if line.language == "en"]
    hyp = [h.english for _, h in spanish]
    ref = [line.english for line, _ in spanish]
    per_s = r.cpu_s / r.audio_s
    print(f"\n{r.name}")
    if show_detection:
        for group, lang in ((spanish, "es"), (english, "en")):
            right = sum(h.language == lang for _, h in group)
            wrong_sure = sum(h.language != lang and h.probability >= SURE for _, h in group)
            got = Counter(h.language for _, h in group if h.language != lang)
            print(f"  detection, {lang} lines: {right}/{len(group)} right"
                  f" ({100 * right / len(group):.0f} %); wrong and >= {SURE} sure: {wrong_sure}"
                  + (f"; wrong ones: {dict(got.most_common())}" if got else ""))
    if original:
        said = spanish_wer([h.original for _, h in spanish], [line.said for line, _ in spanish])
        print(f"  Spanish as said (the original line): WER {said:.1f} %")
    print(f"  Spanish -> English: BLEU {corpus_bleu(hyp, ref):.1f}, WER {wer(hyp, ref):.1f} %"
          f" ({len(spanish)} lines)")
    if english:
        english_wer = wer([h.english for _, h in english], [line.english for line, _ in english])
        print(f"  English lines: WER {english_wer:.1f} %")
    print(f"  latency per utterance: p50 {1000 * pct(r.latency, 50):.0f} ms,"
          f" p95 {1000 * pct(r.latency, 95):.0f} ms (utterances {min(x.seconds for x in lines):.1f}"
          f"-{max(x.seconds for x in lines):.1f} s)")
    print(f"  CPU: {per_s:.2f} s per audio s; a call with the customer talking"
          f" {100 * TALK_SHARE:.0f} % of the time: {100 * per_s * TALK_SHARE:.0f} % of one core")


# --- settling a track's language ------------------------------------------------------------


def settle_first(seen: list[tuple[str, float]]) -> tuple[str, int] | None:
    """The pipeline's rule: the first detection at least SURE."""
    for n, (lang, p) in enumerate(seen, 1):
        if p >= SURE:
            return lang, n
    return None


def settle_twice(seen: list[tuple[str, float]]) -> tuple[str, int] | None:
    """Two detections in a row of the same language, both at least SURE."""
    for n in range(2, len(seen) + 1):
        (a, pa), (b, pb) = seen[n - 2], seen[n - 1]
        if a == b and min(pa, pb) >= SURE:
            return a, n
    return None


def settle_votes(seen: list[tuple[str, float]]) -> tuple[str, int] | None:
    """Probabilities summed per language: settled when one reaches 1.5 (two fairly sure
    detections) and is at least three times any other."""
    votes: Counter[str] = Counter()
    for n, (lang, p) in enumerate(seen, 1):
        votes[lang] += p
        ranked = [*votes.most_common(2), ("", 0.0)]
        if ranked[0][1] >= 1.5 and ranked[0][1] >= 3 * ranked[1][1]:
            return ranked[0][0], n
    return None


RULES = {"first detection >= 0.6": settle_first, "two in a row >= 0.6": settle_twice,
         "summed votes": settle_votes}


def report_settling(r: Run, lines: list[Line]) -> None:
    """Each Spanish line starts a call whose caller then says the following lines (in the
    set's order, wrapping round): how often each rule settles the track on a wrong language,
    and after how many utterances."""
    seen = [(h.language, h.probability) for line, h in zip(lines, r.heard, strict=True)
            if line.language == "es"]
    calls = [seen[i:] + seen[:i] for i in range(len(seen))]
    for name, rule in RULES.items():
        settled = [rule(call) for call in calls]
        wrong = sum(1 for s in settled if s is not None and s[0] != "es")
        after = [s[1] for s in settled if s is not None]
        print(f"  settling a Spanish caller's track, {name}: wrong in {wrong} of {len(calls)}"
              f" calls, settled after {statistics.mean(after):.1f} utterances on average")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--context", type=float, default=None,
                        help="shortest encoder context, s (engine default when left out)")
    parser.add_argument("--show", action="store_true", help="print every line's texts")
    args = parser.parse_args()

    lines = load()
    spanish = [line for line in lines if line.language == "es"]
    print(f"{len(spanish)} Spanish and {len(lines) - len(spanish)} English lines,"
          f" {sum(x.seconds for x in lines):.0f} s; threads {args.threads}, batch {args.batch}")
    base = find_model("faster-whisper:base").path
    extra = {} if args.context is None else {"min_context_s": args.context}
    runs: list[tuple[Run, list[Line], bool, bool]] = []

    engine = TranslatingEngine(base, threads=args.threads, **extra)
    runs.append((run("base, detect (any language)", lines, args.batch,
                     lambda g: engine.process_batch([x.audio for x in g], [None] * len(g))),
                 lines, True, True))
    limited = TranslatingEngine(base, threads=args.threads, candidates=("en", "es"), **extra)
    runs.append((run("base, detect (en/es only)", lines, args.batch,
                     lambda g: limited.process_batch([x.audio for x in g], [None] * len(g))),
                 lines, True, True))
    runs.append((run("base, language given (es)", spanish, args.batch,
                     lambda g: engine.process_batch([x.audio for x in g], ["es"] * len(g))),
                 spanish, False, True))
    greedy = TranslatingEngine(base, threads=args.threads, translate_beam=1, **extra)
    runs.append((run("base, language given (es), greedy translation", spanish, args.batch,
                     lambda g: greedy.process_batch([x.audio for x in g], ["es"] * len(g))),
                 spanish, False, True))
    tiny = FasterWhisperEngine(find_model("faster-whisper:tiny.en").path, threads=args.threads)

    def as_english(group: list[Line]) -> list[Heard]:
        return [Heard("en", 1.0, t, t) for t in tiny.transcribe_batch([x.audio for x in group])]

    runs.append((run("tiny.en on the Spanish audio (the console before translation)", spanish,
                     args.batch, as_english), spanish, False, False))
    for r, group, detection, original in runs:
        report(r, group, detection, original)
        if detection:
            report_settling(r, group)
        if args.show:
            for line, h in zip(group, r.heard, strict=True):
                print(f"    {line.id} {h.language} {h.probability:.2f} | {h.original} | "
                      f"{h.english} || {line.english}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
