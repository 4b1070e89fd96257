"""Call topics from the meaning of what is said: the real embedding model, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.analysis.topics import OTHER, Topic, TopicModel, load_topics


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return TopicModel.default()


@pytest.mark.parametrize(("lines", "topic"), [
    (["thanks for calling, how can I help", "my wifi box has been blinking orange all "
      "morning and nothing loads"], "technical"),
    (["I moved to a new flat last week so my details are all wrong"], "account_change"),
    (["my statement is way more than normal this month, what is this fee"], "billing"),
    (["I'm thinking of getting the faster fibre, how much would that be"], "sales"),
    (["I just want to close everything down, I'm going to another company"],
     "cancellation"),
])
def test_calls_get_their_topic(model: TopicModel, lines: list[str], topic: str) -> None:
    got, confidence = model.classify(lines)
    assert got == topic and 0.3 < confidence <= 1.0


def test_small_talk_is_other_and_the_customer_counts_more(model: TopicModel) -> None:
    assert model.classify(["hello", "hi, can you hear me", "yes I can"]) == (OTHER, 0.0)
    assert model.classify([]) == (OTHER, 0.0)
    # The agent offers an upgrade; the customer's reason for calling still leads.
    lines = ["would you like to hear about our new premium package",
             "no, my internet has been down since yesterday and I need it fixed"]
    assert model.classify(lines, ["agent", "customer"])[0] == "technical"


def test_topic_follows_a_call_that_changes_course(model: TopicModel) -> None:
    tracker = model.tracker()
    for line in ("I have a question about the charges on my bill",):
        tracker.add(model.similarities(model.embedder.embed([line])), "customer")
    assert tracker.topic == "billing"
    for line in ("actually forget it, I want to cancel my contract",
                 "yes please close the account, I'm leaving",
                 "just end the service today"):
        tracker.add(model.similarities(model.embedder.embed([line])), "customer")
    assert tracker.topic == "cancellation"


def test_teams_list_their_own_topics(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[[topics]]\nname = "travel"\nexamples = ["I want to change my flight", '
                    '"my luggage was lost"]\n[[topics]]\nname = "loyalty"\n'
                    'examples = ["how many points do I have"]\n')
    topics = load_topics(path)
    assert [t.name for t in topics] == ["travel", "loyalty"]
    model = TopicModel(topics)
    assert model.classify(["the airline lost my suitcase"])[0] == "travel"
    for bad in ('[[topics]]\nname = ""\nexamples = ["x"]\n', '[[topics]]\nname = "other"\n'
                'examples = ["x"]\n', "", "[[topics]\n"):
        path.write_text(bad)
        with pytest.raises(ValueError):
            load_topics(path)
    assert isinstance(topics[0], Topic)
