"""The labelled language sets in tests/data/language/ (intents, sentiment, call topics) are
well-formed, as large and as varied as issue 14 asks, and in step with the lines they were
made from (tests/data/language/source/, by scripts/make-language-sets)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "language"

INTENTS = {"cancellation", "escalation", "legal_threat", "repeat_contact", "payment_dispute"}
INTENT_KINDS = {"clean", "paraphrase", "asr_synthetic", "harmless_negative", "neutral"}
SENTIMENT_KINDS = {"explicit", "implicit_complaint", "sarcasm", "negation", "neutral_request",
                   "polite_neutral", "mixed"}
TOPICS = {"billing", "technical", "cancellation", "account_change", "sales", "other"}

Rows = list[dict[str, Any]]


def _rows(name: str) -> list[dict[str, Any]]:
    text = (DATA / name).read_bytes().decode("utf-8")  # fails on anything but UTF-8
    assert text.endswith("\n")
    rows = []
    for no, line in enumerate(text.split("\n")[:-1], 1):
        row = json.loads(line)  # every line is one JSON object
        assert isinstance(row, dict), f"{name}:{no}"
        rows.append(row)
    return rows


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _no_duplicates(rows: list[dict[str, Any]]) -> None:
    seen = Counter(_norm(r["text"]) for r in rows)
    assert not [t for t, n in seen.items() if n > 1]


@pytest.fixture(scope="module")
def intents() -> list[dict[str, Any]]:
    return _rows("intents.jsonl")


@pytest.fixture(scope="module")
def sentiment() -> list[dict[str, Any]]:
    return _rows("sentiment.jsonl")


@pytest.fixture(scope="module")
def calls() -> list[dict[str, Any]]:
    return _rows("topics.jsonl")


@pytest.fixture(scope="module")
def maker() -> ModuleType:
    """scripts/make-language-sets as a module, for its readers of the written sources."""
    path = ROOT / "scripts" / "make-language-sets"
    loader = importlib.machinery.SourceFileLoader("make_language_sets", str(path))
    spec = importlib.util.spec_from_loader("make_language_sets", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_language_sets"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


def test_language_set_intent_lines_are_well_formed(intents: list[dict[str, Any]]) -> None:
    for r in intents:
        assert {"text", "intent", "kind", "speaker"} <= r.keys()
        assert r["text"] == r["text"].strip() and r["text"]
        assert r["intent"] in INTENTS | {"none"}
        assert r["kind"] in INTENT_KINDS
        assert r["speaker"] in ("customer", "agent")
        # A line that carries an intent is said plainly, paraphrased or recognised; the two
        # negative kinds are for lines without one.
        if r["intent"] != "none":
            assert r["kind"] in ("clean", "paraphrase", "asr_synthetic")
        elif r["kind"] != "asr_synthetic":
            assert r["kind"] in ("harmless_negative", "neutral")
        if r["kind"] == "asr_synthetic":
            assert r["spoken_kind"] in INTENT_KINDS - {"asr_synthetic"}
            assert r["spoken"] and r["voice"]
        else:
            assert "spoken" not in r
    _no_duplicates(intents)


def test_language_set_intents_have_the_size_and_mix_asked_for(intents: Rows) -> None:
    assert len(intents) >= 300
    by_intent = Counter(r["intent"] for r in intents)
    for intent in INTENTS:
        assert by_intent[intent] >= 40, intent
        asr = sum(r["intent"] == intent and r["kind"] == "asr_synthetic" for r in intents)
        assert 0.25 <= asr / by_intent[intent] <= 0.45, intent  # about a third
        for kind in ("clean", "paraphrase"):
            assert sum(r["intent"] == intent and r["kind"] == kind for r in intents) >= 10
    none = [r for r in intents if r["intent"] == "none"]
    assert len(none) >= 120
    harmless = [r for r in none if "harmless_negative" in (r["kind"], r.get("spoken_kind"))]
    assert len(harmless) >= len(none) / 2
    assert sum(r["kind"] == "neutral" for r in none) >= 30
    # Customers mostly; the agent's lines carry no customer intent whatever words they use.
    agent = [r for r in intents if r["speaker"] == "agent"]
    assert 10 <= len(agent) <= len(intents) / 5
    assert all(r["intent"] == "none" for r in agent)
    # Recognised lines are also among the intent-free ones, so garbles are no clue.
    assert sum(r["kind"] == "asr_synthetic" for r in none) >= 15


def test_language_set_sentiment_lines_are_well_formed(sentiment: list[dict[str, Any]]) -> None:
    for r in sentiment:
        assert {"text", "label", "kind", "asr"} <= r.keys()
        assert r["text"] == r["text"].strip() and r["text"]
        assert r["label"] in ("negative", "neutral", "positive")
        assert r["kind"] in SENTIMENT_KINDS
        assert r["asr"] is True or r["asr"] is False
        assert bool(r.get("spoken")) == r["asr"]
        # Labels that follow from the kind of line.
        if r["kind"] in ("implicit_complaint", "sarcasm"):
            assert r["label"] == "negative", r["text"]
        if r["kind"] in ("neutral_request", "polite_neutral"):
            assert r["label"] == "neutral", r["text"]
    _no_duplicates(sentiment)


def test_language_set_sentiment_has_the_size_and_mix_asked_for(sentiment: Rows) -> None:
    assert len(sentiment) >= 200
    assert sum(r["asr"] for r in sentiment) / len(sentiment) >= 0.60
    labels = Counter(r["label"] for r in sentiment)
    assert min(labels.values()) >= 40 and len(labels) == 3
    kinds = Counter(r["kind"] for r in sentiment)
    assert set(kinds) == SENTIMENT_KINDS
    assert min(kinds.values()) >= 10
    # Negation both ways: "not happy at all" and "it's not bad actually".
    assert {r["label"] for r in sentiment if r["kind"] == "negation"} == {"negative", "positive"}
    for kind in ("implicit_complaint", "sarcasm", "polite_neutral"):
        assert sum(r["asr"] for r in sentiment if r["kind"] == kind) >= 10, kind


def test_language_set_topic_calls_are_well_formed(calls: list[dict[str, Any]]) -> None:
    assert len(calls) >= 60
    assert len({c["id"] for c in calls}) == len(calls)
    for c in calls:
        assert c["topic"] in TOPICS
        assert 4 <= len(c["lines"]) <= 12, c["id"]
        for line in c["lines"]:
            assert line["speaker"] in ("customer", "agent")
            assert line["text"] == line["text"].strip() and line["text"]
            assert bool(line.get("asr")) == bool(line.get("spoken"))
        assert {line["speaker"] for line in c["lines"]} == {"customer", "agent"}
    topics = Counter(c["topic"] for c in calls)
    assert set(topics) == TOPICS and min(topics.values()) >= 8
    lines = [line for c in calls for line in c["lines"]]
    assert sum(bool(line.get("asr")) for line in lines) >= 0.2 * len(lines)
    for topic in TOPICS:  # every topic has calls heard through the recogniser
        assert any(line.get("asr") for c in calls if c["topic"] == topic
                   for line in c["lines"])


def test_language_sets_match_their_written_sources(maker: ModuleType,
                                                  intents: list[dict[str, Any]],
                                                  sentiment: list[dict[str, Any]],
                                                  calls: list[dict[str, Any]]) -> None:
    """Edit a source file without running scripts/make-language-sets, and this fails."""
    for written, rows, label in ((maker.read_intents(), intents, "intent"),
                                 (maker.read_sentiment(), sentiment, "label")):
        plain = {(r["text"], r[label]) for r in rows if "spoken" not in r}
        spoken = {(r["spoken"], r[label]) for r in rows if "spoken" in r}
        said = [(w.text, w.fields[label]) for w in written if w.say]
        assert plain == {(w.text, w.fields[label]) for w in written if not w.say}
        assert spoken <= set(said)
        assert len(spoken) >= 0.97 * len(said)  # a few may be dropped, see the script
    made = maker.read_topics()
    assert [(c.id, c.topic) for c in made] == [(c["id"], c["topic"]) for c in calls]
    for source, call in zip(made, calls, strict=True):
        assert ([line.get("spoken", line["text"]) for line in call["lines"]]
                == [w.text for w in source.lines])


def test_language_sets_readme_names_files_and_licences() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in ("intents.jsonl", "sentiment.jsonl", "topics.jsonl", "make-language-sets",
                 "CC0", "espeak-ng", "Piper"):
        assert name in readme, name
