"""Alert rules: by meaning (example sentences, console.analysis.intents), phrases and
patterns per speaker, long silence, overtalk, and sentiment dropping below a threshold.
Defaults cover cancellation, escalation, legal threats, repeat contact, payment disputes
and profanity; a TOML file (or Settings) adds and changes rules."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.analysis.intent_examples import INTENT_EXAMPLES
from console.core.events import AlertRaised, Role

__all__ = ["DEFAULT_RULES", "AlertEngine", "AlertRule", "AlertSettings", "load_rules"]


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


@dataclass(frozen=True)
class AlertSettings:
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    long_silence_s: float = 12.0
    overtalk_s: float = 2.0
    sentiment_below: float = -0.5
    cooldown_s: float = 30.0  # the same rule on the same call is raised at most this often


def load_rules(path: Path) -> AlertSettings:
    """Rules from TOML: [alerts] thresholds, and [[alerts.rules]] with name, phrases, regex,
    speaker, severity, and by meaning examples, unlike and threshold (0-1); a rule with a
    default's name replaces it."""
    data: dict[str, Any] = tomllib.loads(path.read_text()).get("alerts", {})
    rules = {r.name: r for r in DEFAULT_RULES}
    for raw in data.get("rules", []):
        rule = AlertRule(str(raw["name"]), tuple(str(p) for p in raw.get("phrases", [])),
                         str(raw.get("regex", "")), str(raw.get("speaker", "any")),
                         str(raw.get("severity", "warning")),
                         tuple(str(e) for e in raw.get("examples", [])),
                         tuple(str(e) for e in raw.get("unlike", [])),
                         float(raw.get("threshold", 0.45)))
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
        float(data.get("cooldown_s", 30.0)),
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

    def _raise(self, rule: str, speaker: Role | None, at_s: float, text: str,
               severity: str) -> list[AlertRaised]:
        last = self._last.get(rule)
        if last is not None and at_s - last < self.settings.cooldown_s:
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
        severity = {r.name: r.severity for r in self.settings.rules}
        out: list[AlertRaised] = []
        for f in fired:
            out += self._raise(f.rule, speaker, at_s, f.evidence, severity.get(f.rule,
                                                                               "warning"))
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
                           f"customer sentiment {score:+.2f}", "warning")

    def on_silence(self, silent_s: float, at_s: float) -> list[AlertRaised]:
        if silent_s < self.settings.long_silence_s:
            return []
        return self._raise("long_silence", None, at_s, f"{silent_s:.0f} s of silence", "info")

    def on_overtalk(self, overlap_s: float, at_s: float) -> list[AlertRaised]:
        if overlap_s < self.settings.overtalk_s:
            return []
        return self._raise("overtalk", None, at_s, f"both talking for {overlap_s:.1f} s",
                           "info")
