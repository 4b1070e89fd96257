"""How much a live call needs the supervisor, 0-100, and why: the customer's sentiment
(where it is and where it is going), the alerts raised (by severity, recent ones weighing
more), long silence and overtalk, and how long the call has run against the usual handle time
of its topic. Plain Python: the wall computes it on its 1 Hz tick and sorts by it.

The points are additive and capped at 100. A call earns at most:
  sentiment level 30, sentiment falling 15, alerts 50, silence 15, overtalk 15, duration 25
so one strong signal (a legal threat just now: 35) reads as medium, two together as high.

Usual handle times (minutes, `DEFAULT_HANDLE_MINUTES`) are round figures from published
contact-centre benchmarks: ContactBabel's US benchmarking report (2014, as reported by
destinationCRM) puts the average service call at 6 min 21 s and the average sales call at
6 min 48 s of talk time; technical support runs longer (troubleshooting, 6-10 min and more in
telecoms), simple account changes shorter. A team puts its own figures (its AHT per topic)
in `handle-times.toml` beside the console's config.toml: `[handle_minutes]`, topic = minutes.
"""

from __future__ import annotations

import math
import tomllib
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from console.core.events import Role
from console.ui.model import CallInfo, topic_label

__all__ = ["DEFAULT_HANDLE_MINUTES", "HANDLE_TIMES_FILE", "NO_RISK", "Risk", "RiskSettings",
           "level_of", "load_handle_minutes", "score_call", "settings_from_config"]

DEFAULT_HANDLE_MINUTES: dict[str, float] = {
    "billing": 6.0,
    "technical": 9.0,
    "cancellation": 8.0,
    "account_change": 5.0,
    "sales": 7.0,
    "other": 6.0,
}
SEVERITY_POINTS = {"critical": 35.0, "warning": 15.0, "info": 4.0}
# Alerts the pipeline raises from what this score measures itself (the customer's sentiment,
# silence, overtalk): counted once, from the measure.
MEASURED_RULES = frozenset({"negative_sentiment", "long_silence", "overtalk"})
# A rule that fires again on the same call adds less: the first time says most of it.
REPEAT_FACTOR = 0.4
HIGH, MEDIUM = 60, 30  # level thresholds (score >= HIGH: high; >= MEDIUM: medium)
MIN_REASON = 5.0  # a part worth fewer points is not named as a reason


@dataclass(frozen=True)
class RiskSettings:
    handle_minutes: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_HANDLE_MINUTES))
    default_minutes: float = 6.0  # before the topic is known, or a topic not in the table
    alert_half_life_s: float = 120.0  # an alert's extra weight for being recent halves so
    alert_floor: float = 0.4  # ...down to this share of its points, kept for the whole call
    trend_window_s: float = 90.0  # the sentiment slope is fitted over the last this long
    silence_from_s: float = 10.0  # silence starts counting here (alerts say 12 s)...
    silence_full_s: float = 40.0  # ...and earns its full points here
    overtalk_full: int = 6  # overtalks for full points
    overrun_full: float = 2.5  # times the usual handle time for full duration points


@dataclass(frozen=True)
class Risk:
    score: int
    level: str  # "low", "medium" or "high"
    reasons: tuple[str, ...]  # the strongest first

    @property
    def badge(self) -> str:
        """The badge style the window shows the level in."""
        return {"high": "critical", "medium": "warning"}.get(self.level, "info")


NO_RISK = Risk(0, "low", ())


def level_of(score: float) -> str:
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


def _clamp01(x: float) -> float:
    return 0.0 if x <= 0 else 1.0 if x >= 1 else x


def _slope_per_minute(samples: list[tuple[float, float]], since: float) -> float:
    """Least-squares slope of the samples at or after `since` (score per minute); 0 with too
    few of them, or too short a span, to call it a trend."""
    start = bisect_left(samples, (since, -math.inf))
    recent = samples[start:]
    if len(recent) < 3 or recent[-1][0] - recent[0][0] < 10.0:
        return 0.0
    n = len(recent)
    mt = sum(t for t, _ in recent) / n
    ms = sum(s for _, s in recent) / n
    var = sum((t - mt) ** 2 for t, _ in recent)
    if var <= 0:
        return 0.0
    return 60.0 * sum((t - mt) * (s - ms) for t, s in recent) / var


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def score_call(call: CallInfo, now: float | None = None,
               settings: RiskSettings | None = None) -> Risk:
    """The call's risk at wall-clock time `now` (default: the call's duration so far)."""
    st = settings or RiskSettings()
    elapsed = call.duration(now)
    parts: list[tuple[float, str]] = []

    # Sentiment: the customer's level now, and whether it is falling.
    level = call.sentiment.get(Role.CUSTOMER)
    if level is not None and math.isfinite(level):
        points = 30.0 * _clamp01(-level / 0.8)
        parts.append((points, "customer very upset" if level <= -0.6 else "customer upset"))
    history = call.sentiment_history.get(Role.CUSTOMER) or []
    if history:
        slope = _slope_per_minute(history, history[-1][0] - st.trend_window_s)
        if math.isfinite(slope):
            parts.append((15.0 * _clamp01(-slope / 0.6), "customer sentiment falling"))

    # Alerts: severity, more for recent ones, less for a rule firing again.
    by_rule: dict[str, float] = {}
    worst: dict[str, float] = {}
    for alert in call.alerts:
        if alert.rule in MEASURED_RULES and alert.speaker is not Role.AGENT:
            continue  # counted from what it measures, not twice
        base = SEVERITY_POINTS.get(alert.severity, SEVERITY_POINTS["warning"])
        age = max(0.0, elapsed - alert.at_s)
        recency = st.alert_floor + (1 - st.alert_floor) * 0.5 ** (age / st.alert_half_life_s)
        points = base * recency
        seen = alert.rule in by_rule
        by_rule[alert.rule] = by_rule.get(alert.rule, 0.0) + points * (
            REPEAT_FACTOR if seen else 1.0)
        worst[alert.rule] = max(worst.get(alert.rule, 0.0), points)
    alert_total = min(50.0, sum(by_rule.values()))
    if by_rule:
        # One reason per rule, worth its share of the (capped) total.
        scale = alert_total / sum(by_rule.values())
        for rule, points in by_rule.items():
            count = sum(1 for a in call.alerts if a.rule == rule and not (
                rule in MEASURED_RULES and a.speaker is not Role.AGENT))
            name = rule.replace("_", " ")
            parts.append((points * scale, f"{name} ×{count}" if count > 1 else name))

    # Silence and overtalk, from the conversation metrics.
    m = call.metrics
    if m is not None:
        silence = m.longest_silence_s
        if math.isfinite(silence) and silence > st.silence_from_s:
            span = max(1e-6, st.silence_full_s - st.silence_from_s)
            parts.append((15.0 * _clamp01((silence - st.silence_from_s) / span),
                          f"{silence:.0f} s of silence"))
        if m.overtalk_count > 0:
            parts.append((15.0 * _clamp01(m.overtalk_count / max(1, st.overtalk_full)),
                          f"talking over each other ×{m.overtalk_count}"))

    # Duration against the usual handle time of the call's topic.
    topic = call.topic if call.topic in st.handle_minutes else ""
    usual_min = st.handle_minutes.get(topic, st.default_minutes) if topic \
        else st.default_minutes
    usual = max(30.0, 60.0 * usual_min)
    if elapsed > usual:
        overrun = (elapsed / usual - 1.0) / max(1e-6, st.overrun_full - 1.0)
        what = f"{topic_label(topic).lower()} calls" if topic and topic != "other" \
            else "calls"
        parts.append((25.0 * _clamp01(overrun),
                      f"{_minutes(elapsed)}, {what} take {usual_min:g}"))

    parts = [(p, text) for p, text in parts if math.isfinite(p)]  # a peer's odd numbers
    total = sum(p for p, _ in parts)
    score = round(min(100.0, total))
    reasons = tuple(text for p, text in sorted(parts, key=lambda x: -x[0])
                    if p >= MIN_REASON)
    return Risk(score, level_of(score), reasons)


def load_handle_minutes(path: str | Path) -> dict[str, float]:
    """Usual handle times from a TOML file:

        [handle_minutes]
        billing = 6
        technical = 12

    Topics not named keep their defaults. ValueError with the reason for a bad file."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read handle times from {path}: {exc}") from None
    table = raw.get("handle_minutes", {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [handle_minutes] must be a table of topic = minutes")
    out = dict(DEFAULT_HANDLE_MINUTES)
    for topic, minutes in table.items():
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) \
                or not 0.5 <= minutes <= 240:
            raise ValueError(f"{path}: handle time for {topic!r} must be 0.5-240 minutes, "
                             f"not {minutes!r}")
        out[str(topic)] = float(minutes)
    return out


HANDLE_TIMES_FILE = "handle-times.toml"  # beside the console's config.toml


def settings_from_config() -> tuple[RiskSettings, str]:
    """Risk settings with the team's handle times when `handle-times.toml` sits beside the
    config file; the defaults otherwise. The second value says what went wrong, if anything
    (the window shows it; a bad file never stops the console)."""
    from console.config import config_path

    path = config_path().parent / HANDLE_TIMES_FILE
    if not path.exists():
        return RiskSettings(), ""
    try:
        return RiskSettings(handle_minutes=load_handle_minutes(path)), ""
    except ValueError as exc:
        return RiskSettings(), str(exc)
