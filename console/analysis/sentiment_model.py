"""Sentiment of a line as recognised: negative, neutral or positive, with a confidence.

Lexicons read words; on a support call the words often lie. "I've been waiting forty
minutes" has no negative word, "oh great, another fee" has a positive one, and "could you
please check my balance, thank you" is a polite request, not praise. Here a line's sentence
embedding is compared with labelled example lines (the nearest ones vote, weighted by
similarity), and the vote is blended with the contact-centre lexicon score
(console.analysis.sentiment), which still knows plain words better than a handful of
examples can. The examples are part of the product: teams can add their own. Where the
shipped sentiment head (console.analysis.heads, trained on some thousand lines) can be used,
it joins the blend: it has seen far more ways of complaining than the examples hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from console.analysis.embeddings import Embedder, default_embedder
from console.analysis.heads import LinearHead, shipped_heads
from console.analysis.sentiment import SentimentScorer

__all__ = ["EXAMPLES", "LABELS", "SentimentModel", "Verdict"]

LABELS = ("negative", "neutral", "positive")
K = 11  # nearest examples that vote
TEMPERATURE = 0.05  # how much more a closer example's vote counts
LEXICON_WEIGHT = 0.1  # share of the lexicon's opinion in the blend
HEAD_WEIGHT = 0.4  # share of the trained head's, when there is one
NEUTRAL_BAND = 0.05  # |score| below this reads as neutral (VADER's convention)

EXAMPLES: dict[str, tuple[str, ...]] = {
    "negative": (
        # explicit
        "this is absolutely ridiculous", "I'm really angry about this",
        "your service is terrible", "this is the worst company I've ever dealt with",
        "I'm fed up with all of this", "that's completely unacceptable",
        "I'm so disappointed", "you people are useless",
        # implicit complaints: no negative word, still a complaint
        "I've been waiting forty minutes to speak to someone",
        "this is the third time I've had to call", "I was told it would be fixed last week",
        "the engineer never turned up", "nobody has called me back",
        "I've been without internet for three days", "I was on hold for an hour",
        "it's been two weeks and I still haven't got my refund",
        "you charged me twice", "my bill doubled and nobody told me why",
        "I keep getting passed from one department to another",
        "I've explained this four times already",
        # sarcasm
        "oh great, another fee, just what I needed", "wonderful, so it's broken again",
        "brilliant, thanks for nothing", "yeah, fantastic service as always",
        "perfect, now I get to wait even longer", "lovely, cut off in the middle of my call",
        "oh well done, you've managed to break it again",
        "thanks a bunch, now I have no phone at all",
        "amazing how you can charge me more for less",
        "nice to know my loyalty counts for nothing",
        "sure, I'll just sit here and wait all day then",
        # mixed, ending badly
        "you've been polite, but I still have no service",
        "I know it's not your fault, but this is a disaster",
        "the new plan is nice but the bill is a joke",
        # negation
        "I'm not happy at all", "this is not good enough", "that doesn't help me one bit",
        "I don't appreciate being lied to", "it's not working and it never has",
        "I'm not satisfied with that answer",
        # as recognisers write it
        "I've been waiting for 40 minutes to speak to some one",
        "this is the third time I call", "you charge me twice this month",
        "I'm not happy with this at all", "that's on acceptable",
    ),
    "neutral": (
        "could you please check my balance, thank you",
        "can you tell me when my contract ends please",
        "I'd like to update my address", "my account number is four five six seven",
        "I'm calling about my last bill", "what time do you close on Saturday",
        "can you send me a copy of the invoice please", "I need to change my payment date",
        "yes that's right", "okay, one moment", "let me just get my card",
        "hello, is this customer service", "could you spell that for me please",
        "I'd like to know what plans you have", "my date of birth is the third of May",
        "the router is in the hallway", "I'm calling for my mother's account",
        "please could you confirm the postcode", "I think it was on Tuesday",
        "can I pay by card", "thank you, I'll wait", "sure, go ahead",
        "I have a question about roaming", "what's the reference number",
        "could you put a note on the account please", "I'll need to check with my wife",
        "no, that's the only number", "I'd like to add a second line",
        # polite words, not praise
        "thanks for taking my call, I need to report a change of address",
        "please can you help me reset my password, thanks",
        # as recognisers write it
        "can you check my balance please thank you", "I like to update my address",
        "okay one second", "hello is this customer services",
    ),
    "positive": (
        "thank you so much, that's really helpful", "brilliant, that's sorted it",
        "you've been fantastic, I really appreciate it", "great, it's working now",
        "that's excellent news", "I'm really pleased with the new plan",
        "perfect, thank you for your help", "that's a relief, thanks",
        "you've made my day", "I'm very happy with the service",
        "wow, that was quick, thank you", "that's much better than I expected",
        "lovely, that's all I needed", "thanks, you've been really patient with me",
        "the new router works perfectly", "I'm glad that's fixed",
        "that's a great deal, I'll take it", "cheers, that's exactly what I wanted",
        "it's not bad at all actually", "I can't complain, it's been working well",
        "no problem at all, that's fine, thank you very much",
        "oh that's good, I was worried", "amazing, thank you",
        # mixed, ending well
        "it took ages, but you got there in the end, thanks",
        "I was furious earlier but you've sorted it, thank you",
        "not the best start, but I'm happy with how it ended",
        # as recognisers write it
        "thank you so much that's really help full", "great it's working now thanks",
        "that's brilliant thank you", "perfect thanks for your help",
    ),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str  # negative, neutral or positive
    confidence: float  # 0-1, the winning class's share
    score: float  # -1..1 for gauges and exports; its sign agrees with the label


class SentimentModel:
    """Thread-safe once built (classifying only reads; the lexicon scorer keeps no state
    between lines)."""

    def __init__(self, examples: dict[str, Sequence[str]] | None = None,
                 embedder: Embedder | None = None,
                 head: LinearHead | bool | None = True) -> None:
        """`head`: True for the shipped sentiment head (if it can be used), False for
        none, or a head of one's own (classes negative, neutral, positive)."""
        bank: dict[str, Sequence[str]] = dict(examples or EXAMPLES)
        self.embedder = embedder or default_embedder()
        texts = [t for label in LABELS for t in bank.get(label, ())]
        self._labels = np.array([LABELS.index(label) for label in LABELS
                                 for _ in bank.get(label, ())])
        if not texts:
            raise ValueError("sentiment examples: none given")
        self._examples = self.embedder.embed_examples(texts)
        self.lexicon = SentimentScorer()
        if head is True:
            head = shipped_heads(self.embedder).get("sentiment")
        self.head: LinearHead | None = head or None
        self._head_order: list[int] = []
        if self.head is not None:
            found = [self.head.index(label) for label in LABELS]
            if any(i is None for i in found):
                raise ValueError(f"a sentiment head needs the classes {LABELS}")
            self._head_order = [i for i in found if i is not None]

    @classmethod
    def default(cls) -> SentimentModel:
        return cls()

    def classify(self, text: str) -> tuple[str, float]:
        v = self.verdict(text)
        return v.label, v.confidence

    def verdict(self, text: str, vector: npt.NDArray[np.float32] | None = None) -> Verdict:
        if not text.strip():
            return Verdict("neutral", 1.0, 0.0)
        if vector is None:
            vector = self.embedder.embed([text])[0]
        probs = (1 - LEXICON_WEIGHT) * self._vote(vector) + LEXICON_WEIGHT * self._lexicon(text)
        if self.head is not None:
            learnt = self.head.probabilities(vector[None, :])[0, self._head_order]
            probs = (1 - HEAD_WEIGHT) * probs + HEAD_WEIGHT * learnt
        best = int(np.argmax(probs))
        confidence = float(probs[best])
        # One number for the gauge: how far the line leans, kept on the label's side of
        # the neutral band so the number and the label never disagree.
        lean = float(probs[2] - probs[0])
        if LABELS[best] == "neutral":
            score = max(-NEUTRAL_BAND + 0.001, min(NEUTRAL_BAND - 0.001, lean))
        elif LABELS[best] == "negative":
            score = min(-NEUTRAL_BAND, lean)
        else:
            score = max(NEUTRAL_BAND, lean)
        return Verdict(LABELS[best], round(confidence, 3), round(score, 3))

    def _vote(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        sims = self._examples @ vector
        nearest = np.argsort(sims)[-K:]
        weights = np.exp((sims[nearest] - sims[nearest].max()) / TEMPERATURE)
        votes = np.zeros(3)
        np.add.at(votes, self._labels[nearest], weights)
        out: npt.NDArray[np.float64] = votes / votes.sum()
        return out

    def _lexicon(self, text: str) -> npt.NDArray[np.float64]:
        s = self.lexicon.score(text)
        # A soft three-way split of the lexicon's score: clearly signed scores lean to
        # their side, small ones to neutral.
        neg, pos = max(0.0, -s), max(0.0, s)
        neutral = max(0.0, 1.0 - 2.5 * abs(s))
        probs = np.array([neg, neutral, pos]) + 1e-3
        out: npt.NDArray[np.float64] = probs / probs.sum()
        return out
