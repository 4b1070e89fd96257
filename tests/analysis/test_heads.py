"""The meaning heads (console/analysis/heads.py): the shipped file loads with the real
embedding model, refuses a file made for another model or damaged, and its heads change what
the intent matcher and the sentiment model decide."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from support import REPO

from console.analysis.alerts import DEFAULT_RULES
from console.analysis.embeddings import DIM, default_embedder
from console.analysis.heads import (
    HEADS_FILE,
    HeadsError,
    LinearHead,
    load_heads,
    save_heads,
    shipped_heads,
)
from console.analysis.intents import IntentMatcher
from console.analysis.sentiment_model import LABELS, SentimentModel

INTENTS = ("cancellation", "escalation", "legal_threat", "repeat_contact", "payment_dispute")


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    return default_embedder()


def _trainer() -> types.ModuleType:
    path = REPO / "scripts" / "train-meaning-heads"
    loader = importlib.machinery.SourceFileLoader("train_meaning_heads", str(path))
    module = types.ModuleType(loader.name)
    module.__file__ = str(path)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


def test_shipped_heads_load_with_the_classes_the_console_needs(embedder) -> None:  # type: ignore[no-untyped-def]
    assert HEADS_FILE.is_file()
    heads = load_heads(HEADS_FILE, embedder)
    assert set(heads["intent"].classes) == {"none", *INTENTS}
    assert set(heads["sentiment"].classes) == set(LABELS)
    assert shipped_heads(embedder)["intent"].classes == heads["intent"].classes
    vectors = embedder.embed(["I want to cancel my broadband and leave",
                              "thank you so much, you've been brilliant"])
    intent = heads["intent"].probabilities(vectors)
    sentiment = heads["sentiment"].probabilities(vectors)
    assert np.allclose(intent.sum(axis=1), 1.0) and np.allclose(sentiment.sum(axis=1), 1.0)
    assert heads["intent"].classes[int(intent[0].argmax())] == "cancellation"
    assert heads["sentiment"].classes[int(sentiment[1].argmax())] == "positive"


def test_heads_for_another_model_or_a_damaged_file_are_refused(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    head = LinearHead(("a", "b"), np.zeros((2, DIM), np.float32), np.zeros(2, np.float32))
    good = tmp_path / "good.npz"
    save_heads(good, {"x": head}, embedder)
    assert load_heads(good, embedder)["x"].classes == ("a", "b")
    other = tmp_path / "other.npz"
    probe = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    np.savez(other, probe=probe / np.linalg.norm(probe), **{
        "x.classes": np.array(["a", "b"]), "x.weights": head.weights, "x.bias": head.bias})
    with pytest.raises(HeadsError, match="another sentence-embedding model"):
        load_heads(other, embedder)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(good.read_bytes()[: 200])
    with pytest.raises(HeadsError, match="cannot read"):
        load_heads(damaged, embedder)
    with pytest.raises(HeadsError, match="shape"):
        LinearHead(("a",), np.zeros((2, DIM), np.float32), np.zeros(1, np.float32))


def test_the_intent_head_joins_the_vote_for_the_rules_it_knows(embedder) -> None:  # type: ignore[no-untyped-def]
    with_head = IntentMatcher(DEFAULT_RULES, embedder)
    alone = IntentMatcher(DEFAULT_RULES, embedder, head=False)
    assert with_head.head is not None and alone.head is None
    lines = ["my mobile is going to a different network at the end of the month",
             "the lady at the post office was rude to me"]
    v = embedder.embed(lines)
    assert not np.allclose(with_head.scores(v), alone.scores(v))
    assert np.allclose(alone.scores(v), alone.votes(v))
    assert "cancellation" in {f.rule for f in with_head.match(lines[0])}
    assert not with_head.match(lines[1])
    # a rule the head does not know is judged by its examples alone
    from console.analysis.alerts import AlertRule

    own = AlertRule("warranty", examples=("my warranty claim was refused",
                                          "you won't honour the guarantee"),
                    speaker="customer")
    mixed = IntentMatcher((*DEFAULT_RULES, own), embedder)
    i = [r.name for r in mixed.semantic].index("warranty")
    assert mixed._head_class[i] is None
    assert "warranty" in {f.rule for f in mixed.match("they refused my warranty claim")}


def test_the_sentiment_head_joins_the_blend(embedder) -> None:  # type: ignore[no-untyped-def]
    with_head = SentimentModel(embedder=embedder)
    alone = SentimentModel(embedder=embedder, head=False)
    assert with_head.head is not None and alone.head is None
    line = "I've had to stay in all day for your engineer and nobody came"
    assert with_head.verdict(line).label == "negative"
    assert with_head.verdict(line).confidence != alone.verdict(line).confidence
    wrong = LinearHead(("bad", "good"), np.zeros((2, DIM), np.float32),
                       np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="negative"):
        SentimentModel(embedder=embedder, head=wrong)


def test_training_lines_never_share_a_run_with_the_measuring_sets() -> None:
    trainer = _trainer()
    avoid = trainer.measuring_runs()
    measured = (REPO / "tests" / "data" / "language" / "intents.jsonl").read_text()
    first = __import__("json").loads(measured.splitlines()[0])["text"]
    assert trainer._runs(first) & avoid  # the sets are read
    texts, labels = trainer.build(
        "intent", trainer.TRAINING / "intents.txt", {"cancellation": (first,)},
        __import__("random").Random(3), False, avoid, ["okay, thanks"])
    assert first not in texts  # a measured line offered as training is dropped
    assert len(texts) > 2000 and set(labels) == {"none", *INTENTS}
    assert not any(trainer._runs(t) & avoid for t in texts)


def test_training_separates_what_it_is_shown() -> None:
    trainer = _trainer()
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(3, DIM)).astype(np.float32)
    x = np.concatenate([c + 0.3 * rng.normal(size=(40, DIM)) for c in centres])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    y = np.repeat(np.arange(3), 40)
    head = trainer.train(x, y, ["none", "p", "q"], steps=300)
    assert np.mean(head.probabilities(x).argmax(axis=1) == y) > 0.95
