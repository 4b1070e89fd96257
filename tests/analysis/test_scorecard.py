"""Scorecards by meaning (the real embedding model): the checklist file, filling it from a
call's lines with evidence, the score, what a peer may send, and the service that scores a
call when it ends and the call in focus while it is live."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from console.analysis.scorecard import (
    ChecklistError,
    ItemResult,
    Line,
    ScorecardMatcher,
    ScorecardService,
    checklist_from_settings,
    items_from_wire,
    load_checklist,
    score,
)
from console.core.events import (
    CallEnded,
    CallScorecard,
    CallStarted,
    Provider,
    Role,
    TranscriptSegment,
)


@pytest.fixture(scope="module")
def matcher() -> ScorecardMatcher:
    return ScorecardMatcher(checklist_from_settings(""))


def _lines(*said: tuple[str, str]) -> list[Line]:
    return [Line(f"s{n}", who, n * 4.0, text) for n, (who, text) in enumerate(said)]


def test_scorecard_default_checklist_has_the_five_items() -> None:
    checklist = checklist_from_settings("")
    assert [i.name for i in checklist.items] == ["greeting", "identity_verified", "empathy",
                                                 "resolution_offered", "closing"]
    identity = checklist.items[1]
    assert identity.required and identity.weight == 2 and identity.speaker == "agent"
    assert checklist.items[0].position == "opening"


def test_scorecard_team_checklist_adds_an_item_with_phrases(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text('name = "retention"\n[[items]]\nname = "recording_notice"\n'
                    'label = "Recording notice"\nweight = 3\nrequired = true\n'
                    'phrases = ["this call is recorded"]\n'
                    'examples = ["just so you know, calls are recorded for training"]\n')
    checklist = load_checklist(path)
    m = ScorecardMatcher(checklist)
    met = m.fill(_lines(("agent", "Hi! This call is recorded, how can I help?")))
    assert met[0].passed and met[0].similarity == 1.0  # the literal phrase
    missed = m.fill(_lines(("agent", "Hello, how can I help?")))
    assert not missed[0].passed and score(missed) == 0.0  # required


@pytest.mark.parametrize("body, match", [
    ("", "no \\[\\[items\\]\\]"),
    ('[[items]]\nname = "Bad Name"\nexamples = ["x"]\n', "name must be"),
    ('[[items]]\nname = "a"\n', "needs examples"),
    ('[[items]]\nname = "a"\nexamples = ["x"]\nweight = 0\n', "weight"),
    ('[[items]]\nname = "a"\nexamples = ["x"]\nspeaker = "robot"\n', "speaker"),
    ('[[items]]\nname = "a"\nexamples = ["x"]\n[[items]]\nname = "a"\nexamples = ["y"]\n',
     "twice"),
    ("not toml [", "cannot read"),
])
def test_scorecard_checklist_errors_say_what_is_wrong(tmp_path: Path, body: str,
                                                      match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ChecklistError, match=match):
        load_checklist(path)


def test_scorecard_fills_by_meaning_with_evidence(matcher: ScorecardMatcher) -> None:
    items = {i.name: i for i in matcher.fill(_lines(
        ("agent", "Morning, Hillcrest Energy, Jess speaking."),
        ("customer", "My heating bill doubled and I'm really stressed about it."),
        ("agent", "Oh no, I'm really sorry you're dealing with that. What's the postcode on "
                   "the account?"),
        ("customer", "It's BA1 2QT."),
        ("agent", "I've spread the balance over six months so it's half this month."),
        ("agent", "Anything else I can do for you today? Take care."),
    ))}
    assert all(i.passed for i in items.values()), {n: i.passed for n, i in items.items()}
    assert items["empathy"].segment_id == "s2" and items["empathy"].at_s == 8.0
    assert items["resolution_offered"].text.startswith("I've spread the balance")
    assert items["closing"].speaker == "agent"
    assert score(list(items.values())) == 100.0


def test_scorecard_ordinary_lines_meet_nothing(matcher: ScorecardMatcher) -> None:
    items = matcher.fill(_lines(
        ("agent", "Okay."), ("customer", "My router is flashing orange."),
        ("agent", "Which model is it?"), ("customer", "The black one."),
        ("agent", "Right, I see it here."),
    ))
    assert not any(i.passed for i in items), [(i.name, i.text) for i in items if i.passed]
    # A missed item keeps its nearest line; the greeting looks at the first two agent lines.
    assert items[0].text in ("Okay.", "Which model is it?") and not items[0].passed


def test_scorecard_apology_for_a_bad_line_is_not_empathy(matcher: ScorecardMatcher) -> None:
    items = {i.name: i for i in matcher.fill(_lines(
        ("agent", "Sorry, could you repeat that? The line is bad.")))}
    assert not items["empathy"].passed


def test_scorecard_customer_lines_never_meet_agent_items(matcher: ScorecardMatcher) -> None:
    items = matcher.fill(_lines(("customer", "I'm so sorry to bother you, thanks for calling "
                                              "me back, have a great day")))
    assert not any(i.passed for i in items) and all(i.text is None for i in items)


def test_scorecard_score_weights_and_reviews() -> None:
    items = [ItemResult("a", "A", 1.0, False, True), ItemResult("b", "B", 3.0, False, False)]
    assert score(items) == 25.0
    items[1].reviewed_passed = True  # overridden to met
    assert score(items) == 100.0 and score(items, reviewed=False) == 25.0
    assert items[1].review == "overridden"
    items.append(ItemResult("c", "C", 1.0, True, True, reviewed_passed=False))
    assert score(items) == 0.0 and score([]) is None


def test_scorecard_items_from_a_peer_are_range_checked() -> None:
    good = {"name": "greeting", "label": "Greeting", "weight": 1.0, "required": False,
            "passed": True, "similarity": 0.7, "segment_id": "s1", "speaker": "agent",
            "at_s": 1.5, "text": "hi"}
    bad = [{**good, "name": "Bad name"}, {**good, "weight": float("nan")},
           {**good, "weight": 1e9}, {**good, "passed": "yes"}, "not an object",
           {**good}]  # the last repeats a name
    out = items_from_wire([good, *bad, {**good, "name": "x", "at_s": -5, "speaker": "robot",
                                        "similarity": 7.0}])
    assert [i.name for i in out] == ["greeting", "x"]
    assert out[1].at_s is None and out[1].speaker is None and out[1].similarity is None


def test_scorecard_service_leaves_a_call_without_the_agents_voice_unscored() -> None:
    """One mixed track carries everyone as the customer: no card of misses for the agent."""
    got: list[CallScorecard] = []
    svc = ScorecardService(checklist_from_settings(""), got.append, settle_s=0.1).start()
    try:
        for call_id, role in (("mixed", Role.CUSTOMER), ("split", Role.AGENT)):
            svc.on_event(CallStarted(call_id, Provider.VONAGE, None, None, time.time()))
            svc.on_event(TranscriptSegment(call_id, "a", role, 0.5, 2.0,
                                           "Thanks for calling Acme, Sam speaking.", True))
            svc.on_event(CallEnded(call_id, time.time(), "ended"))
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the mixed call was due at the same moment
        assert [e.call_id for e in got] == ["split"]
    finally:
        svc.close()


def test_scorecard_service_scores_at_call_end_and_live_for_focus() -> None:
    got: list[CallScorecard] = []
    arrived = threading.Event()

    def publish(ev):  # type: ignore[no-untyped-def]
        got.append(ev)
        arrived.set()

    svc = ScorecardService(checklist_from_settings(""), publish, settle_s=0.2,
                           live_every_s=0.2).start()
    try:
        svc.focus = "c1"
        svc.on_event(CallStarted("c1", Provider.TELNYX, None, None, time.time()))
        svc.on_event(TranscriptSegment("c1", "a", Role.AGENT, 0.5, 2.0,
                                       "Thanks for calling Acme, Sam speaking.", True))
        svc.on_event(TranscriptSegment("c1", "p", Role.AGENT, 2.0, 3.0, "tentative", False))
        assert arrived.wait(30)  # a live reading of the call in focus
        assert got[0].final is False and got[0].call_id == "c1"
        svc.on_event(TranscriptSegment("c1", "b", Role.AGENT, 3.0, 5.0,
                                       "I've refunded the late fee for you.", True))
        svc.on_event(CallEnded("c1", time.time(), "ended"))
        deadline = time.monotonic() + 30
        while not any(e.final for e in got) and time.monotonic() < deadline:
            time.sleep(0.05)
        final = next(e for e in got if e.final)
        by_name = {i["name"]: i for i in final.items}
        assert by_name["resolution_offered"]["passed"] is True
        assert by_name["resolution_offered"]["segment_id"] == "b"
        assert all(i["text"] != "tentative" for i in final.items)  # partial text ignored
        assert svc.scored == 1
        # A late line after the end: scored again.
        svc.on_event(TranscriptSegment("c1", "c", Role.AGENT, 6.0, 7.0,
                                       "Is there anything else I can help with? Bye!", True))
        deadline = time.monotonic() + 30
        while svc.scored < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        closing = {i["name"]: i for i in got[-1].items}["closing"]
        assert svc.scored == 2 and closing["passed"] is True and closing["segment_id"] == "c"
    finally:
        svc.close()
    assert svc.status == "off: closed"
