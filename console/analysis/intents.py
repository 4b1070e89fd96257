"""Intent alerts by meaning: what was said is compared with example sentences per rule.

A rule fires when a segment, one of its sentences or a window of its words is nearest in
meaning (cosine similarity of sentence embeddings) to the rule's examples rather than to
lines that carry no intent ("I cancelled my dentist appointment" is not a cancellation),
and close enough to them (a per-rule threshold). Callers paraphrase and recognisers garble
words; the meaning of a sentence survives both far better than a literal phrase does.
Literal phrases and patterns still fire as before, with a score of 1.

Rules that the shipped intent head knows (console.analysis.heads: the default ones) are
judged by both: the head's probability and the neighbours' vote, blended.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from console.analysis.alerts import DEFAULT_RULES, AlertRule
from console.analysis.embeddings import Embedder, default_embedder
from console.analysis.heads import LinearHead, shipped_heads
from console.analysis.intent_examples import NO_INTENT

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
    """Thread-safe once built (matching only reads).

    A piece of a line is compared with every example: each rule's examples, its
    counter-examples and a shared bank of lines that carry no intent. Its nearest K
    neighbours vote, closer ones far more (a softmax over similarity); a rule fires when it
    wins most of the vote (VOTE) and its best example is at least the rule's threshold
    close. Ordinary talk and look-alikes thus win their own votes instead of needing a
    threshold tuned for every phrasing."""

    K = 7
    TEMPERATURE = 0.03
    VOTE = 0.6  # share of the neighbours' vote a rule must win
    HEAD_WEIGHT = 0.7  # the head's share in the blend, where it knows the rule
    HEAD_VOTE = 0.7  # the blend a rule the head knows must reach

    def __init__(self, rules: Sequence[AlertRule], embedder: Embedder | None = None,
                 no_intent: Sequence[str] = NO_INTENT,
                 head: LinearHead | bool | None = True) -> None:
        """`head`: True for the shipped intent head (if it can be used), False for none, or
        a head of one's own."""
        self.rules = tuple(rules)
        self.patterns = {r.name: r.pattern() for r in self.rules}
        self.semantic = [r for r in self.rules if r.examples]
        self.embedder = (embedder or default_embedder()) if self.semantic else None
        texts: list[str] = []
        owner: list[int] = []  # rule index per example; -1: no intent
        for i, rule in enumerate(self.semantic):
            texts += rule.examples
            owner += [i] * len(rule.examples)
            texts += rule.unlike
            owner += [-1] * len(rule.unlike)
        if self.semantic:
            texts += list(no_intent)
            owner += [-1] * len(no_intent)
        self._owner = np.array(owner, dtype=np.int64)
        self._examples: npt.NDArray[np.float32] = (
            self.embedder.embed_examples(texts) if self.embedder is not None and texts
            else np.zeros((0, 384), dtype=np.float32))
        if head is True:
            head = (shipped_heads(self.embedder).get("intent")
                    if self.embedder is not None else None)
        self.head: LinearHead | None = head or None
        # Per semantic rule, the head's class for it (None: examples alone).
        self._head_class = [self.head.index(r.name) if self.head is not None else None
                            for r in self.semantic]

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

    def scores(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per piece, each semantic rule's score (0-1): the neighbours' vote, blended with
        the head's probability where the head knows the rule."""
        out = self.votes(vectors)
        if self.head is not None and any(c is not None for c in self._head_class):
            probs = self.head.probabilities(vectors)
            for i, c in enumerate(self._head_class):
                if c is not None:
                    out[:, i] = (self.HEAD_WEIGHT * probs[:, c]
                                 + (1 - self.HEAD_WEIGHT) * out[:, i])
        return out

    def votes(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per piece, each semantic rule's share of its nearest neighbours' vote."""
        sims = vectors @ self._examples.T
        k = min(self.K, sims.shape[1])
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(sims, nearest, axis=1)
        weights = np.exp((near - near.max(axis=1, keepdims=True)) / self.TEMPERATURE)
        weights /= weights.sum(axis=1, keepdims=True)
        owners = self._owner[nearest]
        out = np.zeros((vectors.shape[0], len(self.semantic)))
        for i in range(len(self.semantic)):
            out[:, i] = (weights * (owners == i)).sum(axis=1)
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
        sims = v @ self._examples.T
        share = self.scores(v)
        for i, rule in enumerate(self.semantic):
            if rule.name in fired or not _speaks(rule, speaker):
                continue
            best = sims[:, self._owner == i].max(axis=1)
            vote = self.VOTE if self._head_class[i] is None else self.HEAD_VOTE
            ok = (share[:, i] >= vote) & (best >= rule.threshold)
            if ok.any():
                piece = int(np.argmax(np.where(ok, share[:, i] + best, -1.0)))
                fired[rule.name] = Fired(rule.name, round(float(best[piece]), 3),
                                         pieces[piece])
        return list(fired.values())


def _speaks(rule: AlertRule, speaker: str) -> bool:
    return rule.speaker in ("any", speaker)
