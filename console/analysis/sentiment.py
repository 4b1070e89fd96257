"""Sentiment of what each speaker says: VADER with a contact-centre lexicon, per final
segment, and a smoothed score per speaker for the gauge."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["CALL_CENTRE_PHRASES", "Mood", "SentimentScorer"]

# Phrases that mean trouble (or relief) on a support call but that a general lexicon reads as
# neutral: each adds its valence to the segment before VADER's normalisation.
CALL_CENTRE_PHRASES: dict[str, float] = {
    "cancel my account": -2.5,
    "cancel my subscription": -2.5,
    "close my account": -2.0,
    "cancel": -1.2,
    "on hold": -1.5,
    "been waiting": -1.5,
    "waiting for": -0.8,
    "refund": -1.2,
    "charged twice": -2.2,
    "double charged": -2.2,
    "overcharged": -2.2,
    "third time": -2.0,
    "second time": -1.2,
    "again and again": -1.5,
    "still not working": -2.2,
    "not working": -1.8,
    "doesn't work": -1.8,
    "does not work": -1.8,
    "keeps dropping": -1.8,
    "no internet": -1.5,
    "outage": -1.5,
    "speak to a manager": -2.0,
    "supervisor": -0.8,
    "switch providers": -2.0,
    "waste of time": -2.5,
    "ridiculous": -2.2,
    "unacceptable": -2.5,
    "that's fixed": 2.0,
    "that helps": 1.8,
    "that's great": 2.2,
    "all set": 1.2,
    "problem solved": 2.2,
    "you've been very helpful": 2.5,
    "really appreciate": 2.2,
    "thanks so much": 2.0,
}
_WORD = re.compile(r"[a-z']+")


class SentimentScorer:
    def __init__(self, phrases: dict[str, float] | None = None) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()
        self.phrases = dict(CALL_CENTRE_PHRASES if phrases is None else phrases)
        # Longest first, so "cancel my account" counts once, not also as "cancel".
        self._ordered = sorted(self.phrases, key=len, reverse=True)

    def score(self, text: str) -> float:
        """Compound sentiment in [-1, 1]."""
        lower = " ".join(_WORD.findall(text.lower()))
        scores = self._vader.polarity_scores(text)
        raw = _unnormalise(scores["compound"])
        seen = lower
        negated = bool(re.search(r"\b(not|no|never|don't|do not|won't|didn't)\b", lower))
        for phrase in self._ordered:
            if phrase in seen:
                bias = self.phrases[phrase]
                # "I don't want to cancel" is not a cancellation: soften negative phrases
                # under a negation rather than flip them.
                if negated and bias < 0 and _negates(lower, phrase):
                    bias *= 0.2
                raw += bias
                seen = seen.replace(phrase, " ")
        return round(raw / math.sqrt(raw * raw + 15), 4)


def _unnormalise(compound: float) -> float:
    # VADER's compound is x / sqrt(x^2 + 15); recover x to add phrase valences to it.
    compound = max(-0.9999, min(0.9999, compound))
    return compound * math.sqrt(15 / (1 - compound * compound))


def _negates(text: str, phrase: str) -> bool:
    at = text.find(phrase)
    before = text[max(0, at - 25) : at]
    return bool(re.search(r"\b(not|no|never|don't|do not|won't|didn't)\b", before))


TURN = 0.6  # a line this far from the smoothed value is a turn...
TURN_CONFIDENCE = 0.6  # ...when judged with at least this confidence


@dataclass
class Mood:
    """A speaker's smoothed sentiment: each new segment pulls it by a weight that grows with
    the segment's length, and older opinion fades with time."""

    half_life_s: float = 30.0
    value: float | None = None
    at_s: float = 0.0
    history: list[tuple[float, float]] = field(default_factory=list)

    def update(self, score: float, at_s: float, duration_s: float,
               confidence: float | None = None) -> float:
        if self.value is None:
            self.value = score
        else:
            fade = 0.5 ** (max(0.0, at_s - self.at_s) / self.half_life_s)
            weight = min(0.8, 0.25 + 0.1 * duration_s)
            if (confidence or 0.0) >= TURN_CONFIDENCE and abs(score - self.value) >= TURN:
                # A sure, sharp turn ("that's it, I'm leaving") shows at once: smoothing is
                # for noise, not for hiding the moment a call goes wrong.
                weight = max(weight, 0.85)
            keep = (1 - weight) * fade
            self.value = (keep * self.value + weight * score) / (keep + weight)
        self.at_s = at_s
        self.value = round(max(-1.0, min(1.0, self.value)), 4)
        self.history.append((at_s, self.value))
        return self.value
