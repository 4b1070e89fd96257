"""The risk score, the wall's filter and its stable order, on their own (no Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.events import AlertRaised, ConversationUpdate, Role, TranscriptSegment
from console.ui.model import CallInfo, stream_labels
from console.ui.risk import (
    HANDLE_TIMES_FILE,
    RiskSettings,
    load_handle_minutes,
    score_call,
    settings_from_config,
)
from console.ui.wall_order import WallFilter, WordsSaid, field_values, matches, rank

T0 = 1_000_000.0


def make_call(call_id: str = "c1", minutes: float = 2.0, **kw: object) -> tuple[CallInfo, float]:
    call = CallInfo(call_id, "telnyx", "+14155550100", "+18005550199", T0, **kw)  # type: ignore[arg-type]
    return call, T0 + 60 * minutes


def alert(rule: str, at_s: float, severity: str) -> AlertRaised:
    return AlertRaised("c1", rule, Role.CUSTOMER, at_s, "words", severity)


def test_risk_of_a_calm_call_is_zero_with_no_reasons() -> None:
    call, now = make_call()
    call.sentiment[Role.CUSTOMER] = 0.3
    call.sentiment_history[Role.CUSTOMER] = [(10.0 * i, 0.3) for i in range(10)]
    risk = score_call(call, now)
    assert (risk.score, risk.level, risk.reasons, risk.badge) == (0, "low", (), "info")


def test_risk_weighs_alerts_by_severity_and_recency() -> None:
    scores = {}
    for severity in ("critical", "warning", "info"):
        call, now = make_call()
        call.alerts.append(alert("legal_threat", 115.0, severity))
        scores[severity] = score_call(call, now).score
    assert scores["critical"] > scores["warning"] > scores["info"] > 0
    recent, now = make_call(minutes=12)
    recent.alerts.append(alert("legal_threat", 12 * 60 - 5, "critical"))
    old, _ = make_call(minutes=12)
    old.alerts.append(alert("legal_threat", 30.0, "critical"))
    assert score_call(recent, now).score > score_call(old, now).score > 0
    assert "legal threat" in score_call(recent, now).reasons
    # The same rule again adds less than a second rule would, and says how often it fired.
    again, _ = make_call(minutes=12)
    again.alerts += [alert("escalation", 700.0, "warning"), alert("escalation", 710.0,
                                                                   "warning")]
    other, _ = make_call(minutes=12)
    other.alerts += [alert("escalation", 700.0, "warning"),
                     alert("payment_dispute", 710.0, "warning")]
    assert score_call(again, now).score < score_call(other, now).score
    assert "escalation ×2" in score_call(again, now).reasons
    # An alert restating the customer's sentiment or a silence is counted from the measure.
    measured, now = make_call()
    measured.alerts += [alert("negative_sentiment", 115.0, "critical"),
                        AlertRaised("c1", "long_silence", None, 116.0, "20 s", "warning")]
    assert score_call(measured, now).score == 0
    measured.alerts.append(AlertRaised("c1", "negative_sentiment", Role.AGENT, 117.0,
                                       "agent sentiment", "warning"))
    assert score_call(measured, now).reasons == ("negative sentiment",)


def test_risk_sees_customer_sentiment_falling() -> None:
    falling, now = make_call()
    falling.sentiment[Role.CUSTOMER] = -0.3
    falling.sentiment_history[Role.CUSTOMER] = [(60 + 6.0 * i, 0.3 - 0.06 * i)
                                                for i in range(11)]
    flat, _ = make_call()
    flat.sentiment[Role.CUSTOMER] = -0.3
    flat.sentiment_history[Role.CUSTOMER] = [(60 + 6.0 * i, -0.3) for i in range(11)]
    r_falling, r_flat = score_call(falling, now), score_call(flat, now)
    assert r_falling.reasons[0] == "customer sentiment falling"
    assert "customer sentiment falling" not in r_flat.reasons
    assert "customer upset" in r_flat.reasons
    assert r_falling.score > r_flat.score > 0
    # The agent's mood is not the customer's.
    agent_only, _ = make_call()
    agent_only.sentiment[Role.AGENT] = -0.9
    assert score_call(agent_only, now).score == 0


def test_risk_counts_silence_overtalk_and_duration_against_the_topic() -> None:
    call, now = make_call(minutes=14, topic="billing")
    risk = score_call(call, now)
    assert risk.reasons == ("14 min, billing calls take 6",)
    technical, _ = make_call(minutes=14, topic="technical")
    assert 0 < score_call(technical, now).score < risk.score
    unknown, _ = make_call(minutes=14)
    assert score_call(unknown, now).reasons == ("14 min, calls take 6",)
    short, short_now = make_call(minutes=5, topic="billing")
    assert score_call(short, short_now).score == 0
    # The team's own handle time for billing: 14 minutes is then normal.
    slow = RiskSettings(handle_minutes={"billing": 15.0})
    assert score_call(call, now, slow).score == 0

    quiet, now = make_call()
    quiet.metrics = ConversationUpdate("c1", 30.0, 50.0, 0.4, 35.0, 5, 6.0)
    risk = score_call(quiet, now)
    assert set(risk.reasons) == {"35 s of silence", "talking over each other ×5"}
    assert risk.level == "low" and 20 <= risk.score < 30


def test_risk_is_capped_and_names_the_strongest_reasons_first() -> None:
    call, now = make_call(minutes=20, topic="billing")
    call.sentiment[Role.CUSTOMER] = -0.9
    call.sentiment_history[Role.CUSTOMER] = [(1080 + 6.0 * i, 0.5 - 0.14 * i)
                                             for i in range(11)]
    call.alerts += [alert("legal_threat", 1195.0, "critical"),
                    alert("cancellation", 1190.0, "critical")]
    call.metrics = ConversationUpdate("c1", 300.0, 500.0, 0.4, 45.0, 9, 20.0)
    risk = score_call(call, now)
    assert (risk.score, risk.level, risk.badge) == (100, "high", "critical")
    assert risk.reasons[:2] == ("customer very upset", "legal threat")
    assert "20 min, billing calls take 6" in risk.reasons


def test_risk_stays_in_range_for_extreme_numbers_from_a_peer() -> None:
    call, now = make_call()
    call.sentiment[Role.CUSTOMER] = -1e300
    call.sentiment_history[Role.CUSTOMER] = [(0.0, 1e300), (5.0, -1e300), (20.0, -1e300),
                                             (1e308, -1e300)]
    call.alerts.append(AlertRaised("c1", "x" * 300, None, -1e308, "w", "bogus"))
    call.metrics = ConversationUpdate("c1", 1e308, 1e308, None, 1e308, 2**60, 1e308)
    risk = score_call(call, now)
    assert 0 <= risk.score <= 100 and risk.level in ("low", "medium", "high")
    future, _ = make_call()
    assert score_call(future, T0 - 500.0).score == 0  # a start time in the future


def test_handle_times_come_from_a_toml_file_beside_the_config(tmp_path: Path) -> None:
    from console.config import config_path

    path = tmp_path / "times.toml"
    path.write_text("[handle_minutes]\nbilling = 12\nclaims = 20.5\n")
    minutes = load_handle_minutes(path)
    assert minutes["billing"] == 12.0 and minutes["claims"] == 20.5
    assert minutes["technical"] == 9.0  # not named: the default
    for bad in ("[handle_minutes]\nbilling = 0\n", "[handle_minutes]\nbilling = 'six'\n",
                "handle_minutes = 3\n", "[handle_minutes\n"):
        path.write_text(bad)
        with pytest.raises(ValueError):
            load_handle_minutes(path)
    assert settings_from_config() == (RiskSettings(), "")
    beside = config_path().parent / HANDLE_TIMES_FILE
    beside.parent.mkdir(parents=True, exist_ok=True)
    beside.write_text("[handle_minutes]\nbilling = 3\n")
    settings, problem = settings_from_config()
    assert settings.handle_minutes["billing"] == 3.0 and problem == ""
    beside.write_text("[handle_minutes]\nbilling = -1\n")
    settings, problem = settings_from_config()
    assert settings == RiskSettings() and "billing" in problem


def test_stream_labels_read_common_spellings() -> None:
    assert stream_labels({"agent_name": "Ana Silva", "Team": "Retention",
                          "queue_name": "billing-en"}) == {
        "agent": "Ana Silva", "team": "Retention", "queue": "billing-en"}
    assert stream_labels({"agentId": "a-17", "QUEUE": "tech"})["agent"] == "a-17"
    assert stream_labels({"agent-name": " Bo   Li ", "skill": "sales"}) == {
        "agent": "Bo Li", "team": "", "queue": "sales"}
    assert stream_labels({"role": "agent", "leg": "customer"}) == {
        "agent": "", "team": "", "queue": ""}
    assert len(stream_labels({"agent": "x" * 5000})["agent"]) == 80


def test_wall_filter_matches_fields_alerts_and_search() -> None:
    call, _ = make_call(node="n1", agent="Ana Silva", team="Retention", queue="billing",
                        topic="billing", caller_name="Jo Park")
    call.segments["s1"] = TranscriptSegment("c1", "s1", Role.CUSTOMER, 1.0, 2.0,
                                            "I was  charged TWICE this month", True)
    assert matches(call, WallFilter())
    assert matches(call, WallFilter(node="n1", agent="Ana Silva", team="Retention",
                                    queue="billing", topic="billing"))
    assert not matches(call, WallFilter(agent="Bo"))
    assert not matches(call, WallFilter(alerts_only=True))
    call.alerts.append(alert("payment_dispute", 2.0, "warning"))
    assert matches(call, WallFilter(alerts_only=True))
    for query in ("4155", "+1 415 555", "(415) 555-0100", "ana", "retention", "jo park",
                  "charged twice", "CHARGED"):
        assert matches(call, WallFilter(search=query)), query
    for query in ("4156", "refund", "Bo Li"):
        assert not matches(call, WallFilter(search=query)), query
    # The words are kept lower-cased per call and made again when the transcript changes.
    words = WordsSaid()
    assert not matches(call, WallFilter(search="refund"), words)
    call.segments["s2"] = TranscriptSegment("c1", "s2", Role.CUSTOMER, 3.0, 4.0,
                                            "I want a Refund", True)
    assert not matches(call, WallFilter(search="refund"), words)  # not told: kept text
    call.transcript_rev += 1
    assert matches(call, WallFilter(search="refund"), words)
    other, _ = make_call("c2", agent="Bo Li", node="n2")
    assert field_values([call, other]) == {
        "node": ["n1", "n2"], "team": ["Retention"], "queue": ["billing"],
        "agent": ["Ana Silva", "Bo Li"], "topic": ["billing"]}
    assert WallFilter(agent="x", alerts_only=True, search=" ").active() == 2


def test_rank_moves_only_past_a_meaningful_gap_and_keeps_pins() -> None:
    order = ["a", "b", "c", "d"]
    score = {"a": 10.0, "b": 50.0, "c": 18.0, "d": 30.0}
    assert rank(order, score) == ["b", "d", "c", "a"]
    # With a gap of 10, c (18) does not pass a (10): too close to be worth a move.
    assert rank(order, score, gap=10) == ["b", "d", "a", "c"]
    assert rank(["b", "d", "a", "c"], score, gap=10) == ["b", "d", "a", "c"]  # stable
    # A pinned call keeps its place; the others sort around it.
    assert rank(order, score, pinned={"a": 0}) == ["a", "b", "d", "c"]
    assert rank(order, score, pinned={"c": 2, "b": 3}) == ["d", "a", "c", "b"]
    # A pin past the end (calls ended) lands last; unknown pins are ignored.
    assert rank(["a", "b"], score, pinned={"a": 5, "zz": 0}) == ["b", "a"]
    start = {"a": 3, "b": 1, "c": 2, "d": 0}
    assert rank(order, {}, pinned={"a": 0}, key=start.__getitem__) == ["a", "d", "b", "c"]
