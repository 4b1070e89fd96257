"""Intent alerts by meaning, with the real embedding model: paraphrases and recogniser
garbles fire the right rule, look-alikes that mean something else do not, and literal
phrases still fire as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.analysis.alerts import DEFAULT_RULES, AlertEngine, AlertRule, AlertSettings, load_rules
from console.analysis.intents import IntentMatcher, windows
from console.core.events import Role


@pytest.fixture(scope="module")
def matcher() -> IntentMatcher:
    return IntentMatcher.default()


def _rules(matcher: IntentMatcher, text: str, speaker: str = "customer") -> set[str]:
    return {f.rule for f in matcher.match(text, speaker)}


@pytest.mark.parametrize(("text", "rule"), [
    ("honestly I'm done with you lot, shut the whole thing down", "cancellation"),
    ("I am cancel my sub but I do not want it anymore", "cancellation"),
    ("can I talk to your boss please", "escalation"),
    ("I will get my solicitor onto this", "legal_threat"),
    ("I've phoned you about this four times now and it is still broken", "repeat_contact"),
    ("you've taken the money out twice this month", "payment_dispute"),
])
def test_paraphrases_fire_their_rule(matcher: IntentMatcher, text: str, rule: str) -> None:
    assert rule in _rules(matcher, text)


@pytest.mark.parametrize("text", [
    "I cancelled my dentist appointment today",
    "the weather has been awful all week",
    "my cat knocked the router off the shelf",
    "what time do you close on Saturdays",
    "I would like to upgrade my plan please",
])
def test_harmless_lines_fire_nothing(matcher: IntentMatcher, text: str) -> None:
    assert _rules(matcher, text) == set()


def test_speaker_and_literal_rules(matcher: IntentMatcher) -> None:
    # Customer rules do not fire on the agent's words; profanity fires for anyone.
    assert _rules(matcher, "let me escalate this to my manager for you", "agent") == set()
    assert _rules(matcher, "oh shit, sorry", "agent") == {"profanity"}
    literal = [f for f in matcher.match("I want to cancel my account today") if
               f.rule == "cancellation"]
    assert literal and literal[0].score == 1.0 and "cancel my account" in literal[0].evidence


def test_an_intent_in_a_long_turn_is_found_in_its_window(matcher: IntentMatcher) -> None:
    text = ("well the engineer came on Tuesday and had a look at the box in the hallway and "
            "said it was fine but honestly at this point I just want to end the contract "
            "and move on with my life")
    pieces = windows(text)
    assert len(pieces) > 3 and all(len(p.split()) <= len(text.split()) for p in pieces)
    fired = [f for f in matcher.match(text) if f.rule == "cancellation"]
    assert fired and "contract" in fired[0].evidence


def test_rules_from_toml_with_examples(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('''
[[alerts.rules]]
name = "competitor"
examples = ["the other company offered me a better price", "your rival is cheaper"]
unlike = ["I compared prices and you are the cheapest"]
threshold = 0.55
speaker = "customer"
severity = "critical"
''')
    settings = load_rules(path)
    rule = next(r for r in settings.rules if r.name == "competitor")
    assert rule.threshold == 0.55 and len(rule.examples) == 2 and rule.unlike
    m = IntentMatcher(settings.rules)
    assert "competitor" in {f.rule for f in m.match("the other lot offered me a cheaper price")}
    path.write_text('[[alerts.rules]]\nname = "x"\nexamples = ["a"]\nthreshold = 1.5\n')
    with pytest.raises(ValueError, match="threshold"):
        load_rules(path)


def test_alert_engine_raises_fired_rules_with_their_words_and_cooldown(
        matcher: IntentMatcher) -> None:
    engine = AlertEngine("c1", AlertSettings(rules=(*DEFAULT_RULES,
                                                    AlertRule("x", examples=("example",)))))
    fired = matcher.match("I'm going to take you to court over this")
    first = engine.on_fired(Role.CUSTOMER, fired, 10.0)
    assert [(a.rule, a.severity, a.speaker) for a in first] == [
        ("legal_threat", "critical", Role.CUSTOMER)]
    assert first[0].text  # the words that fired it
    assert engine.on_fired(Role.CUSTOMER, fired, 20.0) == []  # within the cool-down
