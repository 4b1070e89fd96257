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
    # alike but do not, and how similar (cosine, 0-1) a line must be to fire.
    examples: tuple[str, ...] = ()
    unlike: tuple[str, ...] = ()
    threshold: float = 0.5

    def pattern(self) -> re.Pattern[str]:
        parts = [r"\b" + re.escape(p.lower()).replace(r"\ ", r"\s+") + r"\b"
                 for p in self.phrases]
        if self.regex:
            parts.append(self.regex)
        return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "cancellation",
        ("cancel my account", "cancel my subscription", "close my account", "cancel the service",
         "switch providers", "switching providers", "take my business elsewhere"),
        r"\bcancel(?:l?ing)?\b[^.?!]{0,30}\b(?:account|service|contract|plan)\b",
        "customer", "critical",
        examples=(
            "I want to cancel my subscription",
            "please close my account",
            "I'd like to end my contract with you",
            "I'm leaving, I'm going to another provider",
            "just shut the whole thing off, I don't want it any more",
            "how do I terminate my service",
            "I want out of this plan",
            "stop my membership from next month",
            "I'm done with you, close it all down",
            "I'm switching to your competitor",
            "I don't want to be a customer any more",
            "discontinue my line please",
            "can you cancel everything on my account",
            "I'd like to unsubscribe and not be billed again",
            "I want to cancel my sub scription",
            "cancel the count please",
        ),
        unlike=(
            "I cancelled my dentist appointment",
            "the flight was cancelled because of the weather",
            "can I cancel that last request and check my balance instead",
            "I want to keep my account open",
            "I was thinking of leaving but you sorted it out",
            "please don't cancel anything",
            "the concert got cancelled",
            "I'd like to upgrade my plan",
            "can I move to a bigger package",
        ),
        threshold=0.5),
    AlertRule(
        "escalation",
        ("speak to a manager", "talk to a manager", "your manager", "a supervisor",
         "escalate this", "file a complaint"),
        r"\bmanager\b", "customer", "warning",
        examples=(
            "let me speak to your manager",
            "I want to talk to someone above you",
            "put your supervisor on the phone",
            "I want this escalated",
            "get me someone senior who can actually help",
            "I want to make a formal complaint",
            "who is your boss, I want to speak to them",
            "transfer me to someone in charge",
            "I need to speak to somebody higher up",
            "I'm going to complain about you",
        ),
        unlike=(
            "my manager at work asked me to call",
            "I am the office manager for our company",
            "no need to escalate anything, thanks",
            "the supervisor at my building let the engineer in",
        ),
        threshold=0.5),
    AlertRule(
        "legal_threat",
        ("my lawyer", "an attorney", "legal action", "take you to court", "sue you",
         "the ombudsman", "report you to"),
        r"\bsu(?:e|ing)\b", "customer", "critical",
        examples=(
            "I'm going to take legal action against you",
            "you'll be hearing from my lawyer",
            "I'll see you in court",
            "I'm contacting my solicitor about this",
            "I'm reporting you to the regulator",
            "I'll go to the ombudsman",
            "I'm going to sue your company",
            "my attorney will be in touch",
            "this is going to the small claims court",
            "I'll report this to trading standards",
            "I'm going to file a complaint with the consumer protection agency",
        ),
        unlike=(
            "my lawyer friend recommended your service",
            "I work at a law firm, can I pay by invoice",
            "the court date for my parking ticket is next week",
            "Sue from your office called me yesterday",
        ),
        threshold=0.5),
    AlertRule(
        "repeat_contact",
        ("third time i've called", "called several times", "called you three times",
         "keep calling", "called last week", "still not fixed", "nobody called me back"),
        "", "customer", "warning",
        examples=(
            "this is the third time I've called about this",
            "I've rung you four times already and nothing has been done",
            "I called last week and was promised it would be fixed",
            "nobody ever called me back like they said they would",
            "I keep having to call you about the same problem",
            "every time I call I get told something different",
            "I already explained all of this to someone yesterday",
            "it's still not fixed after all these calls",
            "you said someone would ring me back and nobody did",
            "I've been chasing this for weeks",
            "I shouldn't have to keep phoning you",
        ),
        unlike=(
            "this is my first time calling",
            "I called to say thank you, it's fixed now",
            "my mother calls me three times a day",
            "can you call me back later this afternoon",
        ),
        threshold=0.5),
    AlertRule(
        "payment_dispute",
        ("charged twice", "double charged", "don't recognise this charge",
         "didn't authorize", "chargeback", "dispute the charge", "refund the charge"),
        "", "customer", "warning",
        examples=(
            "I've been charged twice for the same thing",
            "there's a charge on my card I don't recognise",
            "I never authorised this payment",
            "I want my money back for this charge",
            "I'm disputing this with my bank",
            "you took money from my account without asking",
            "I was billed for something I never ordered",
            "the amount you took is wrong, I want a refund",
            "I'm going to do a chargeback on my credit card",
            "why did you take two payments this month",
            "I got charged after I cancelled",
            "there's a double payment on my statement",
        ),
        unlike=(
            "I'd like to pay my bill by card",
            "can you tell me when my next payment is due",
            "the refund arrived, thank you",
            "I want to set up a direct debit",
            "how much is the monthly charge for the new plan",
        ),
        threshold=0.5),
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
                         float(raw.get("threshold", 0.5)))
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
