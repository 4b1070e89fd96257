"""Sentiment by meaning: what lexicons miss on a support call (implicit complaints,
sarcasm, polite requests), with the real embedding model; and a gauge that turns with
the call."""

from __future__ import annotations

import pytest

from console.analysis.sentiment import Mood
from console.analysis.sentiment_model import NEUTRAL_BAND, SentimentModel


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.default()


@pytest.mark.parametrize(("text", "label"), [
    ("I've been stuck on hold for nearly an hour", "negative"),  # no negative word
    ("oh fantastic, you've cut me off again", "negative"),  # sarcasm
    ("please could you tell me my balance, thanks very much", "neutral"),  # polite request
    ("honestly it's not bad at all", "positive"),  # negation, both ways
    ("I'm not happy with this one bit", "negative"),
    ("brilliant, that's fixed it, thank you", "positive"),
    ("what's my account number", "neutral"),
])
def test_lines_lexicons_get_wrong(model: SentimentModel, text: str, label: str) -> None:
    verdict = model.verdict(text)
    assert verdict.label == label, verdict
    assert 1 / 3 <= verdict.confidence <= 1


def test_the_score_never_contradicts_the_label(model: SentimentModel) -> None:
    for text in ("thanks", "ok", "this is a joke", "I suppose that's fine", "", "hmm"):
        v = model.verdict(text)
        if v.label == "neutral":
            assert abs(v.score) < NEUTRAL_BAND
        elif v.label == "negative":
            assert v.score <= -NEUTRAL_BAND
        else:
            assert v.score >= NEUTRAL_BAND


def test_a_sure_sudden_turn_shows_at_once() -> None:
    calm, turned = Mood(), Mood()
    for t in range(5):  # a pleasant call so far
        calm.update(0.6, t * 5.0, 2.0, 0.9)
        turned.update(0.6, t * 5.0, 2.0, 0.9)
    unsure = calm.update(-0.8, 26.0, 2.0, 0.4)  # a guess moves it a little
    sure = turned.update(-0.8, 26.0, 2.0, 0.9)  # a sure turn moves it most of the way
    assert unsure > -0.2  # smoothed: one unsure line is not the whole call
    assert sure < -0.5
