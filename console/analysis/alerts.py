"""Alert rules: by meaning (example sentences, console.analysis.intents), phrases and
patterns per speaker, long silence, overtalk, and sentiment dropping below a threshold.
Defaults cover cancellation, escalation, legal threats, repeat contact, payment disputes
and profanity; a TOML file (or Settings) adds and changes rules.

Each rule has a cool-down: after it fires on a call, the same rule on the same call stays
quiet that long. A rule that says something lasting about the call (the customer wants to
cancel, threatens to sue) fires once a call; one that can recur (a silence, overtalk) every
few minutes at most. Repeats of what the supervisor already knows are what makes them stop
reading alerts (bench/alert_fatigue.py measures it)."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.analysis.intent_examples import INTENT_EXAMPLES
from console.core.events import AlertRaised, Role

__all__ = ["DEFAULT_COOLDOWNS", "DEFAULT_RULES", "FALLBACK_COOLDOWN_S", "ONCE_PER_CALL",
           "AlertEngine", "AlertRule", "AlertSettings", "load_rules"]

ONCE_PER_CALL = math.inf  # a cool-down that never ends: the rule fires once a call


@dataclass(frozen=True)
class AlertRule:
    name: str
    phrases: tuple[str, ...] = ()
    regex: str = ""
    speaker: str = "any"  # customer, agent or any
    severity: str = "warning"
    # By meaning (console.analysis.intents): sentences that mean this, sentences that look
    # alike but do not, and how similar (cosine, 0-1) a line must be to the closest example
    # to fire (it must also be nearer the examples than lines without an intent).
    examples: tuple[str, ...] = ()
    unlike: tuple[str, ...] = ()
    threshold: float = 0.45
    # Seconds the rule stays quiet on a call after firing there (ONCE_PER_CALL: never
    # again); None: the settings' cool-down (AlertSettings.cooldown).
    cooldown_s: float | None = None

    def pattern(self) -> re.Pattern[str]:
        parts = [r"\b" + re.escape(p.lower()).replace(r"\ ", r"\s+") + r"\b"
                 for p in self.phrases]
        if self.regex:
            parts.append(self.regex)
        return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)


# The shipped meaning head (console.analysis.heads) also judges the default intent rules, so
# their closest example may be further away than a rule's that has examples alone.
HEAD_FLOOR = 0.40

DEFAULT_RULES: tuple[AlertRule, ...] = (
    # Literal phrases only where they cannot mean anything else; meaning does the rest.
    AlertRule("cancellation",
              ("cancel my account", "cancel my subscription", "close my account",
               "cancel the service", "switch providers", "switching providers",
               "take my business elsewhere"),
              r"\bcancel(?:l?ing)?\s+(?:my|the|our)\s+(?:account|service|contract|plan)\b",
              "customer", "critical", INTENT_EXAMPLES["cancellation"],
              threshold=HEAD_FLOOR),
    AlertRule("escalation",
              ("speak to a manager", "talk to a manager", "your manager", "your supervisor",
               "escalate this"),
              "", "customer", "warning", INTENT_EXAMPLES["escalation"],
              threshold=HEAD_FLOOR),
    AlertRule("legal_threat",
              ("legal action", "take you to court", "sue you", "sue your company",
               "the ombudsman", "my solicitor", "my attorney"),
              "", "customer", "critical", INTENT_EXAMPLES["legal_threat"],
              threshold=HEAD_FLOOR),
    AlertRule("repeat_contact",
              ("third time i've called", "called several times", "called you three times",
               "still not fixed", "nobody called me back"),
              "", "customer", "warning", INTENT_EXAMPLES["repeat_contact"],
              threshold=HEAD_FLOOR),
    AlertRule("payment_dispute",
              ("charged twice", "double charged", "don't recognise this charge",
               "didn't authorise", "didn't authorize", "chargeback", "dispute the charge"),
              "", "customer", "warning", INTENT_EXAMPLES["payment_dispute"],
              threshold=HEAD_FLOOR),
    AlertRule("profanity", ("fuck", "fucking", "shit", "bullshit", "bastard", "asshole",
                            "damn it", "piss off"), "", "any", "warning"),
)


# Built-in cool-downs per rule, for rules that set none of their own while the settings
# give no single cool-down either. Once a customer has said they want to cancel, sue or that
# this is their third call, saying it again tells the supervisor nothing new; an escalation
# or a dispute may come back after a while; silence, overtalk and a sentiment drop can recur
# and matter again, but not every few seconds.
DEFAULT_COOLDOWNS: dict[str, float] = {
    "cancellation": ONCE_PER_CALL,
    "legal_threat": ONCE_PER_CALL,
    "repeat_contact": ONCE_PER_CALL,
    "escalation": 300.0,
    "payment_dispute": 300.0,
    "profanity": 120.0,
    "negative_sentiment": 180.0,
    "long_silence": 120.0,
    "overtalk": 60.0,
}
FALLBACK_COOLDOWN_S = 30.0  # a configured rule with no cool-down anywhere
# Severity of the rules that watch the conversation rather than words; a [[alerts.rules]]
# entry of the same name changes it (and its cool-down).
BUILTIN_SEVERITY = {"negative_sentiment": "warning", "long_silence": "info", "overtalk": "info"}


@dataclass(frozen=True)
class AlertSettings:
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    long_silence_s: float = 12.0
    overtalk_s: float = 2.0
    sentiment_below: float = -0.5
    # One cool-down for every rule that sets none of its own (what every rule had before
    # per-rule cool-downs); None: each rule's built-in one (DEFAULT_COOLDOWNS).
    cooldown_s: float | None = None

    def cooldown(self, rule: str) -> float:
        """How long `rule` stays quiet on a call after firing there: the rule's own, else
        the settings' single one, else the built-in one for that rule."""
        own = next((r.cooldown_s for r in self.rules if r.name == rule), None)
        if own is not None:
            return own
        if self.cooldown_s is not None:
            return self.cooldown_s
        return DEFAULT_COOLDOWNS.get(rule, FALLBACK_COOLDOWN_S)


def _cooldown(value: object, where: str) -> float:
    """A cool-down from TOML: seconds (0 or more, `inf` for once a call) or "call"."""
    if value == "call":
        return ONCE_PER_CALL
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
            or value < 0:
        raise ValueError(f"{where}: cooldown_s must be seconds (0 or more) or \"call\"")
    return float(value)


def load_rules(path: Path) -> AlertSettings:
    """Rules from TOML: [alerts] thresholds and cooldown_s (one cool-down for every rule
    that sets none), and [[alerts.rules]] with name, phrases, regex, speaker, severity,
    cooldown_s (seconds, or "call" for once a call), and by meaning examples, unlike and
    threshold (0-1); a rule with a default's name replaces it. An entry named
    negative_sentiment, long_silence or overtalk sets that rule's severity and cool-down."""
    data: dict[str, Any] = tomllib.loads(path.read_text()).get("alerts", {})
    rules = {r.name: r for r in DEFAULT_RULES}
    for raw in data.get("rules", []):
        rule = AlertRule(str(raw["name"]), tuple(str(p) for p in raw.get("phrases", [])),
                         str(raw.get("regex", "")), str(raw.get("speaker", "any")),
                         str(raw.get("severity", "warning")),
                         tuple(str(e) for e in raw.get("examples", [])),
                         tuple(str(e) for e in raw.get("unlike", [])),
                         float(raw.get("threshold", 0.45)),
                         _cooldown(raw["cooldown_s"], f"alert rule {raw['name']}")
                         if "cooldown_s" in raw else None)
        if rule.severity not in ("info", "warning", "critical"):
            raise ValueError(f"alert rule {rule.name}: severity must be info, warning or "
                             "critical")
        if not 0.0 < rule.threshold <= 1.0:
            raise ValueError(f"alert rule {rule.name}: threshold must be in (0, 1]")
        if rule.speaker not in ("customer", "agent", "any"):
            raise ValueError(f"alert rule {rule.name}: speaker must be customer, agent or any")
        rule.pattern()  # a bad regex is reported now, not in the middle of a call
        rules[rule.name] = rule
    return AlertSettings(
        tuple(rules.values()),
        float(data.get("long_silence_s", 12.0)),
        float(data.get("overtalk_s", 2.0)),
        float(data.get("sentiment_below", -0.5)),
        _cooldown(data["cooldown_s"], "[alerts]") if "cooldown_s" in data else None,
    )


@dataclass
class AlertEngine:
    """One per call."""

    call_id: str
    settings: AlertSettings = field(default_factory=AlertSettings)
    _last: dict[str, float] = field(default_factory=dict)
    _below: bool = False

    def __post_init__(self) -> None:
        self._patterns = [(r, r.pattern()) for r in self.settings.rules]
        self._severity = {**BUILTIN_SEVERITY,
                          **{r.name: r.severity for r in self.settings.rules}}
        self._cooldowns: dict[str, float] = {}

    def _raise(self, rule: str, speaker: Role | None, at_s: float, text: str,
               severity: str) -> list[AlertRaised]:
        cooldown = self._cooldowns.get(rule)
        if cooldown is None:
            cooldown = self._cooldowns[rule] = self.settings.cooldown(rule)
        last = self._last.get(rule)
        if last is not None and at_s - last < cooldown:
            return []
        self._last[rule] = at_s
        return [AlertRaised(self.call_id, rule, speaker, round(at_s, 2), text, severity)]

    def on_segment(self, speaker: Role, text: str, at_s: float) -> list[AlertRaised]:
        out: list[AlertRaised] = []
        for rule, pattern in self._patterns:
            if rule.speaker not in ("any", speaker.value):
                continue
            match = pattern.search(text)
            if match:
                out += self._raise(rule.name, speaker, at_s, match.group(0), rule.severity)
        return out

    def on_fired(self, speaker: Role, fired: Sequence[Any], at_s: float) -> list[AlertRaised]:
        """Rules that fired on a line by meaning or literally (console.analysis.intents);
        the alert's text is the words that fired it."""
        out: list[AlertRaised] = []
        for f in fired:
            out += self._raise(f.rule, speaker, at_s, f.evidence,
                               self._severity.get(f.rule, "warning"))
        return out

    def on_sentiment(self, speaker: Role, score: float, at_s: float) -> list[AlertRaised]:
        if speaker is not Role.CUSTOMER:
            return []
        if score >= self.settings.sentiment_below:
            self._below = False
            return []
        if self._below:
            return []  # once per drop, not on every segment while it stays low
        self._below = True
        return self._raise("negative_sentiment", speaker, at_s,
                           f"customer sentiment {score:+.2f}",
                           self._severity["negative_sentiment"])

    def on_silence(self, silent_s: float, at_s: float) -> list[AlertRaised]:
        if silent_s < self.settings.long_silence_s:
            return []
        return self._raise("long_silence", None, at_s, f"{silent_s:.0f} s of silence",
                           self._severity["long_silence"])

    def on_overtalk(self, overlap_s: float, at_s: float) -> list[AlertRaised]:
        if overlap_s < self.settings.overtalk_s:
            return []
        return self._raise("overtalk", None, at_s, f"both talking for {overlap_s:.1f} s",
                           self._severity["overtalk"])
