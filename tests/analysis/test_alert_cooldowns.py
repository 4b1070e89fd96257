"""Per-rule cool-downs: each rule's built-in one, a rule's own from TOML, one for every rule
(the old setting), and the real meaning matcher on a customer who keeps repeating herself."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from support import REPO

from console.analysis.alerts import (
    DEFAULT_COOLDOWNS,
    DEFAULT_RULES,
    ONCE_PER_CALL,
    AlertEngine,
    AlertRule,
    AlertSettings,
    load_rules,
)
from console.analysis.intents import IntentMatcher
from console.core.events import Role


def test_builtin_cooldowns_per_rule() -> None:
    a = AlertEngine("c")
    assert a.on_segment(Role.CUSTOMER, "I want to cancel my account", 5.0)
    assert a.on_segment(Role.CUSTOMER, "just cancel my account", 3000.0) == []  # once a call
    assert a.on_segment(Role.CUSTOMER, "get me your manager", 10.0)
    assert a.on_segment(Role.CUSTOMER, "your manager, now", 200.0) == []
    assert a.on_segment(Role.CUSTOMER, "your manager, now", 311.0)  # 300 s later
    assert a.on_segment(Role.AGENT, "oh shit", 20.0)
    assert a.on_segment(Role.AGENT, "shit", 100.0) == []
    assert a.on_segment(Role.AGENT, "shit", 141.0)
    # A long hold: the pipeline asks on every frame of it; once per two minutes is enough.
    silences = [t for t in range(30, 400) if a.on_silence(t - 17.0, float(t))]
    assert silences == [30, 150, 270, 390]
    assert [t for t in range(0, 200, 5) if a.on_overtalk(3.0, float(t))] == [0, 60, 120, 180]
    assert math.isinf(DEFAULT_COOLDOWNS["legal_threat"])


def test_cooldown_precedence_rule_then_settings_then_builtin() -> None:
    own = AlertRule("competitor", ("acme",), cooldown_s=5.0)
    settings = AlertSettings(rules=(*DEFAULT_RULES, own), cooldown_s=30.0)
    assert settings.cooldown("competitor") == 5.0  # the rule's own
    assert settings.cooldown("cancellation") == 30.0  # one for all, as before
    assert AlertSettings().cooldown("cancellation") == ONCE_PER_CALL  # built-in
    assert AlertSettings().cooldown("a_rule_nobody_knows") == 30.0
    a = AlertEngine("c", settings)
    hits = [t for t in range(0, 20) if a.on_segment(Role.CUSTOMER, "acme", float(t))]
    assert hits == [0, 5, 10, 15]


def test_cooldowns_and_severity_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('''
[alerts]
cooldown_s = 45
[[alerts.rules]]
name = "competitor"
phrases = ["acme"]
cooldown_s = "call"
[[alerts.rules]]
name = "profanity"
phrases = ["darn"]
cooldown_s = 0
[[alerts.rules]]
name = "long_silence"
severity = "warning"
cooldown_s = 600
''')
    s = load_rules(path)
    assert s.cooldown_s == 45 and s.cooldown("competitor") == ONCE_PER_CALL
    assert s.cooldown("profanity") == 0 and s.cooldown("escalation") == 45
    a = AlertEngine("c", s)
    assert a.on_segment(Role.AGENT, "darn", 1.0) and a.on_segment(Role.AGENT, "darn", 1.0)
    silence = a.on_silence(20.0, 30.0)
    assert [(x.rule, x.severity) for x in silence] == [("long_silence", "warning")]
    assert a.on_silence(20.0, 500.0) == [] and a.on_silence(20.0, 631.0)
    assert AlertEngine("c", AlertSettings()).on_silence(20.0, 30.0)[0].severity == "info"
    for bad, why in (('cooldown_s = -1', "cooldown_s"), ('cooldown_s = "soon"', "cooldown_s"),
                     ('cooldown_s = nan', "cooldown_s"), ('severity = "loud"', "severity")):
        path.write_text(f'[[alerts.rules]]\nname = "x"\nphrases = ["y"]\n{bad}\n')
        with pytest.raises(ValueError, match=why):
            load_rules(path)
    path.write_text('[alerts]\ncooldown_s = -3\n')
    with pytest.raises(ValueError, match=r"\[alerts\]: cooldown_s"):
        load_rules(path)


def test_meaning_alerts_of_a_customer_repeating_herself() -> None:
    """The angry demo call's customer, said three times over ten minutes, through the real
    embedding model: the old single cool-down raised each of her intents again each time;
    the per-rule ones say cancellation once and escalation twice."""
    matcher = IntentMatcher(DEFAULT_RULES)
    turns = json.loads((REPO / "resources" / "calls" / "angry-double-charge" /
                        "script.json").read_text())["turns"]
    said = [t["text"] for t in turns if t["speaker"] == "customer"]
    fired = [matcher.match(text, "customer") for text in said]

    def raised(settings: AlertSettings) -> dict[str, int]:
        engine = AlertEngine("c", settings)
        counts: dict[str, int] = {}
        for k in range(3):  # 0, 200 and 400 s into the call
            for i, hits in enumerate(fired):
                for alert in engine.on_fired(Role.CUSTOMER, hits, k * 200.0 + i * 5):
                    counts[alert.rule] = counts.get(alert.rule, 0) + 1
        return counts

    before, after = raised(AlertSettings(cooldown_s=30.0)), raised(AlertSettings())
    assert before["cancellation"] == 3 and after["cancellation"] == 1
    assert before["escalation"] == 3 and after["escalation"] == 2  # at 0 and 400 s
    assert before["payment_dispute"] == 3 and after["payment_dispute"] == 2
    assert sum(after.values()) < sum(before.values())
