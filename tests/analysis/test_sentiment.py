"""Sentiment on labelled contact-centre sentences, negation included."""

from __future__ import annotations

import pytest

from console.analysis.sentiment import Mood, SentimentScorer

LABELLED = [
    ("I want to cancel my account right now", -1),
    ("This is the third time I'm calling about this", -1),
    ("I've been on hold for forty minutes", -1),
    ("You charged me twice and I want a refund", -1),
    ("My internet is still not working", -1),
    ("This is ridiculous, let me speak to a manager", -1),
    ("Honestly this is a waste of time", -1),
    ("I'm not happy with the service at all", -1),
    ("Nobody ever calls me back", -1),
    ("It keeps dropping every evening", -1),
    ("I'm really frustrated with your company", -1),
    ("That is completely unacceptable", -1),
    ("I'm thinking about switching providers", -1),
    ("Thank you so much, that helps a lot", 1),
    ("Great, that's fixed now, I really appreciate it", 1),
    ("You've been very helpful today", 1),
    ("Perfect, that works for me", 1),
    ("Wonderful, thanks for sorting it out", 1),
    ("That's great news", 1),
    ("Excellent, problem solved", 1),
    ("Not bad at all, thanks", 1),
    ("I'm happy with the new plan", 1),
    ("I don't want to cancel, I just have a question", 0),
    ("My account number ends in four two", 0),
    ("I moved to a new address last week", 0),
    ("Can you check my last bill", 0),
    ("The router is in the living room", 0),
    ("I'm calling about my order", 0),
]


def test_accuracy_on_labelled_sentences() -> None:
    s = SentimentScorer()
    right = 0
    wrong = []
    for text, label in LABELLED:
        score = s.score(text)
        guess = -1 if score <= -0.2 else 1 if score >= 0.2 else 0
        right += guess == label
        if guess != label:
            wrong.append((text, score))
    assert right / len(LABELLED) >= 0.85, wrong


def test_negation_softens_rather_than_triggers() -> None:
    s = SentimentScorer()
    assert s.score("I do not want to cancel my account") > s.score("I want to cancel my account")
    assert s.score("I am not happy") < 0 < s.score("I am happy")
    assert -1 <= s.score("cancel " * 40) <= 1


def test_mood_smooths_and_fades() -> None:
    m = Mood(half_life_s=10)
    assert m.update(-0.8, 5, 3) == -0.8
    after_one_good = m.update(0.8, 10, 1)
    assert -0.8 < after_one_good < 0.8  # one good line does not wipe out a bad start
    much_later = Mood(half_life_s=10)
    much_later.update(-0.8, 0, 3)
    assert much_later.update(0.8, 120, 1) == pytest.approx(0.8, abs=0.01)  # old mood faded
    assert len(m.history) == 2
