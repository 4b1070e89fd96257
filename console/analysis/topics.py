"""What a call is about: billing, technical, cancellation, account change, sales, or other.

Each topic is a handful of example sentences. Every final line of the call adds evidence to
the topic it is clearly closer to in meaning than to the others (sentence embeddings, as for
intent alerts), the customer's lines counting more than the agent's and short lines less.
The call's topic is the one with the most evidence so far, so it settles early and still
follows a call that changes course. Teams list their own topics in a TOML file ([[topics]]
name, examples).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from console.analysis.embeddings import Embedder, default_embedder

__all__ = ["DEFAULT_TOPICS", "OTHER", "Topic", "TopicModel", "TopicTracker", "load_topics"]

OTHER = "other"
MARGIN = 0.1  # a line is evidence for a topic it is this much closer to than to the rest
FULL_WORDS = 6  # a shorter line ("yes I can") says little about the call: less weight
MIN_EVIDENCE = 0.05  # less than this in total: still "other"
# The customer says why they called; the agent's offers and scripts count for less.
WEIGHTS = {"customer": 1.0, "agent": 0.25}


@dataclass(frozen=True)
class Topic:
    name: str
    examples: tuple[str, ...]


DEFAULT_TOPICS: tuple[Topic, ...] = (
    Topic("billing", (
        "I have a question about my bill",
        "why is my bill so high this month",
        "there's a charge on my bill I don't understand",
        "when is my payment due",
        "can I pay my balance now",
        "I was charged twice this month",
        "I'd like to set up a payment plan",
        "my direct debit didn't go through",
        "can you explain these fees on my invoice",
        "I want a refund",
    )),
    Topic("technical", (
        "my internet keeps dropping out",
        "the router lights are flashing red",
        "I can't connect to the wifi",
        "the app keeps crashing when I log in",
        "I have no signal on my phone",
        "the TV box won't turn on",
        "my connection is really slow",
        "I get an error message when I try to sign in",
        "there's no dial tone on the line",
        "the outage in my area still isn't fixed",
    )),
    Topic("cancellation", (
        "I want to cancel my subscription",
        "please close my account",
        "I'm leaving for another provider",
        "I want to end my contract",
        "how much is the fee to leave early",
        "stop my service at the end of the month",
    )),
    Topic("account_change", (
        "I've moved house and need to update my address",
        "I need to change the name on the account",
        "can you update my email address",
        "I want to add my partner to the account",
        "I need to reset my password",
        "please change my phone number on file",
        "I lost my card and need a replacement",
        "can I change the date my payment comes out",
    )),
    Topic("sales", (
        "I'm interested in upgrading to a faster plan",
        "what deals do you have for new customers",
        "I'd like to add a second line",
        "how much is the premium package",
        "can I buy a new phone from you",
        "I want to sign up for your service",
        "do you have anything cheaper than what I have",
        "tell me about your broadband offers",
    )),
)


def load_topics(path: Path) -> tuple[Topic, ...]:
    """Topics from TOML: [[topics]] with name and examples (they replace the defaults)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read topics from {path}: {exc}") from None
    topics = []
    for raw in data.get("topics", []):
        name = str(raw.get("name", "")).strip()
        examples = tuple(str(e) for e in raw.get("examples", []) if str(e).strip())
        if not name or len(name) > 40 or not examples:
            raise ValueError(f"{path}: each topic needs a name (at most 40 characters) and "
                             "at least one example")
        if name == OTHER:
            raise ValueError(f"{path}: '{OTHER}' is what a call is when no topic fits")
        topics.append(Topic(name, examples))
    if not topics:
        raise ValueError(f"{path} lists no [[topics]]")
    return tuple(topics)


class TopicModel:
    """Thread-safe once built (scoring only reads)."""

    def __init__(self, topics: Sequence[Topic] = DEFAULT_TOPICS,
                 embedder: Embedder | None = None) -> None:
        self.topics = tuple(topics)
        self.names = [t.name for t in self.topics]
        self.embedder = embedder or default_embedder()
        texts = [e for t in self.topics for e in t.examples]
        self._owner = np.array([i for i, t in enumerate(self.topics) for _ in t.examples])
        self._examples = self.embedder.embed_examples(texts)

    @classmethod
    def default(cls) -> TopicModel:
        return cls()

    def similarities(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Per topic, how close the closest piece of a line is to its closest example."""
        sims = vectors @ self._examples.T
        best = sims.max(axis=0) if sims.size else np.zeros(len(self._owner), np.float32)
        return np.array([best[self._owner == i].max() for i in range(len(self.topics))],
                        dtype=np.float32)

    def tracker(self) -> TopicTracker:
        return TopicTracker(self.names)

    def classify(self, lines: Sequence[str],
                 speakers: Sequence[str] | None = None) -> tuple[str, float]:
        """The topic of a whole conversation (lines in order), and its confidence."""
        tracker = self.tracker()
        if lines:
            vectors = self.embedder.embed(list(lines))
            for i, vector in enumerate(vectors):
                who = speakers[i] if speakers else "customer"
                tracker.add(self.similarities(vector[None]), who, len(lines[i].split()))
        return tracker.topic, tracker.confidence


@dataclass
class TopicTracker:
    """One call's evidence for each topic."""

    names: list[str]
    evidence: npt.NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.evidence = np.zeros(len(self.names))

    def add(self, similarities: npt.NDArray[np.float32], speaker: str, words: int = 0) -> None:
        sims = similarities.astype(np.float64)
        # Raw similarities run high for any short, everyday line; what counts is how much
        # closer a line is to one topic than to the others on average.
        others = (sims.sum() - sims) / max(1, sims.size - 1)
        gain = np.clip(sims - others - MARGIN, 0.0, None)
        weight = WEIGHTS.get(speaker, 0.5) * (min(1.0, words / FULL_WORDS) if words else 1.0)
        self.evidence += weight * gain

    @property
    def topic(self) -> str:
        if self.evidence.sum() < MIN_EVIDENCE:
            return OTHER
        return self.names[int(np.argmax(self.evidence))]

    @property
    def confidence(self) -> float:
        total = float(self.evidence.sum())
        if total < MIN_EVIDENCE:
            return 0.0
        return round(float(self.evidence.max()) / total, 3)
