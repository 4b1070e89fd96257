"""Alert rules: defaults, per-speaker phrases, TOML overrides, thresholds and cooldown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.analysis.alerts import AlertEngine, AlertSettings, load_rules
from console.core.events import Role


def test_default_rules() -> None:
    # One 30 s cool-down for all (the built-in ones fire cancellation once a call).
    a = AlertEngine("c", AlertSettings(cooldown_s=30))
    hits = a.on_segment(Role.CUSTOMER, "I want to cancel my account today", 5.0)
    assert [(h.rule, h.severity, h.speaker) for h in hits] == [
        ("cancellation", "critical", Role.CUSTOMER)]
    assert a.on_segment(Role.CUSTOMER, "Let me speak to a manager", 9.0)[0].rule == "escalation"
    assert a.on_segment(Role.CUSTOMER, "I'll take legal action", 12.0)[0].rule == "legal_threat"
    assert a.on_segment(Role.AGENT, "this is bullshit", 14.0)[0].rule == "profanity"
    # The agent mentioning cancellation is not the customer threatening it.
    assert a.on_segment(Role.AGENT, "would you like to cancel your plan?", 15.0) == []
    assert a.on_segment(Role.CUSTOMER, "can I cancel the late fee", 16.0) == []  # not account
    assert a.on_segment(Role.CUSTOMER, "I'm cancelling the contract", 50.0)[0].rule == \
        "cancellation"


def test_cooldown_and_thresholds() -> None:
    a = AlertEngine("c", AlertSettings(cooldown_s=30))
    assert a.on_segment(Role.CUSTOMER, "get me your manager", 1.0)
    assert a.on_segment(Role.CUSTOMER, "your manager now", 10.0) == []  # within cooldown
    assert a.on_segment(Role.CUSTOMER, "your manager now", 40.0)
    assert a.on_sentiment(Role.CUSTOMER, -0.3, 5.0) == []
    assert a.on_sentiment(Role.CUSTOMER, -0.7, 6.0)[0].rule == "negative_sentiment"
    assert a.on_sentiment(Role.CUSTOMER, -0.8, 7.0) == []  # still the same drop
    assert a.on_sentiment(Role.AGENT, -0.9, 8.0) == []
    assert a.on_silence(5.0, 10.0) == [] and a.on_silence(15.0, 20.0)[0].rule == "long_silence"
    assert a.on_overtalk(1.0, 3.0) == [] and a.on_overtalk(2.5, 4.0)[0].rule == "overtalk"


def test_rules_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('''
[alerts]
long_silence_s = 5
[[alerts.rules]]
name = "competitor"
phrases = ["other company", "Acme Telecom"]
speaker = "customer"
severity = "info"
[[alerts.rules]]
name = "profanity"
phrases = ["darn"]
''')
    s = load_rules(path)
    assert s.long_silence_s == 5
    a = AlertEngine("c", s)
    assert a.on_segment(Role.CUSTOMER, "Acme  telecom offers more", 1.0)[0].rule == "competitor"
    assert a.on_segment(Role.AGENT, "darn it", 2.0)[0].rule == "profanity"
    assert a.on_segment(Role.AGENT, "shit", 40.0) == []  # the default profanity was replaced
    path.write_text('[[alerts.rules]]\nname = "x"\nregex = "(unclosed"\n')
    with pytest.raises(re.error, match=r"missing \)|unterminated"):
        load_rules(path)
    path.write_text('[[alerts.rules]]\nname = "x"\nspeaker = "robot"\n')
    with pytest.raises(ValueError, match="customer, agent or any"):
        load_rules(path)
