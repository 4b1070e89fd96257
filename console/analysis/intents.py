"""Intent alerts by meaning: what was said is compared with example sentences per rule.

A rule fires when a segment, one of its sentences or a window of its words comes close
enough (cosine similarity of sentence embeddings, per-rule threshold) to one of the rule's
examples, and closer to them than to the rule's counter-examples ("I cancelled my dentist
appointment" is not a cancellation). Callers paraphrase and recognisers garble words; the
meaning of a sentence survives both far better than a literal phrase does. Literal phrases
and patterns still fire as before, with a score of 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from console.analysis.alerts import DEFAULT_RULES, AlertRule
from console.analysis.embeddings import Embedder, default_embedder

__all__ = ["Fired", "IntentMatcher", "windows"]

WINDOW_WORDS = 10  # long sentences are also read in windows of this many words
_SENTENCES = re.compile(r"(?<=[.?!])\s+")


@dataclass(frozen=True, slots=True)
class Fired:
    rule: str
    score: float  # 1.0 for a literal match; else the similarity that fired it
    evidence: str  # the words that fired it


def windows(text: str) -> list[str]:
    """The pieces of a segment that are compared: the whole, each sentence, and for long
    sentences overlapping windows of words (an intent said in passing is not diluted by
    the rest of a long turn)."""
    text = " ".join(text.split())
    if not text:
        return []
    out = [text]
    for sentence in _SENTENCES.split(text):
        words = sentence.split()
        if sentence != text and words:
            out.append(sentence)
        if len(words) > WINDOW_WORDS + 4:
            step = WINDOW_WORDS // 2
            for start in range(0, len(words) - WINDOW_WORDS + step, step):
                out.append(" ".join(words[start:start + WINDOW_WORDS]))
    return list(dict.fromkeys(out))


class IntentMatcher:
    """Thread-safe once built (matching only reads)."""

    def __init__(self, rules: Sequence[AlertRule], embedder: Embedder | None = None) -> None:
        self.rules = tuple(rules)
        self.patterns = {r.name: r.pattern() for r in self.rules}
        self.semantic = [r for r in self.rules if r.examples]
        self.embedder = (embedder or default_embedder()) if self.semantic else None
        texts: list[str] = []
        owner: list[int] = []  # rule index per example; negative: a counter-example
        for i, rule in enumerate(self.semantic):
            texts += rule.examples
            owner += [i] * len(rule.examples)
            texts += rule.unlike
            owner += [-(i + 1)] * len(rule.unlike)
        self._owner = np.array(owner, dtype=np.int64)
        self._examples: npt.NDArray[np.float32] = (
            self.embedder.embed(texts) if self.embedder is not None and texts
            else np.zeros((0, 384), dtype=np.float32))

    @classmethod
    def default(cls) -> IntentMatcher:
        return cls(DEFAULT_RULES)

    def literal(self, text: str, speaker: str) -> list[Fired]:
        out = []
        for rule in self.rules:
            if not _speaks(rule, speaker):
                continue
            found = self.patterns[rule.name].search(text)
            if found:
                out.append(Fired(rule.name, 1.0, found.group(0)))
        return out

    def match(self, text: str, speaker: str = "customer",
              vectors: npt.NDArray[np.float32] | None = None) -> list[Fired]:
        """Rules that fire on `text` said by `speaker` (customer, agent): literal matches,
        then meaning. `vectors` are the embeddings of windows(text), if already computed."""
        fired = {f.rule: f for f in self.literal(text, speaker)}
        pieces = windows(text)
        if not self.semantic or not pieces:
            return list(fired.values())
        assert self.embedder is not None
        v = self.embedder.embed(pieces) if vectors is None else vectors
        sims = v @ self._examples.T  # pieces x examples
        for i, rule in enumerate(self.semantic):
            if rule.name in fired or not _speaks(rule, speaker):
                continue
            mine = sims[:, self._owner == i]
            best_piece = int(np.argmax(mine.max(axis=1)))
            best = float(mine[best_piece].max())
            if best < rule.threshold:
                continue
            unlike = sims[best_piece, self._owner == -(i + 1)]
            if unlike.size and float(unlike.max()) >= best:
                continue  # closer to what this rule is not
            fired[rule.name] = Fired(rule.name, round(best, 3), pieces[best_piece])
        return list(fired.values())


def _speaks(rule: AlertRule, speaker: str) -> bool:
    return rule.speaker in ("any", speaker)
