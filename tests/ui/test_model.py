"""The window's call model, folded from bus events (no Qt needed)."""

from __future__ import annotations

from console.core.events import (
    AlertRaised,
    CallEnded,
    CallStarted,
    DtmfReceived,
    MediaFormat,
    Provider,
    Role,
    SentimentSample,
    SpeechActivity,
    StreamOpened,
    TrackName,
    TrackOpened,
    TranscriptSegment,
)
from console.ui.model import CallsModel


def test_events_build_the_call() -> None:
    m = CallsModel()
    ch = m.apply([
        CallStarted("c1", Provider.TELNYX, "+1555", "+1800", 100.0),
        StreamOpened("c1", "s1", Provider.TELNYX, MediaFormat("PCMA", 8000), (), {}, "customer",
                     {}, None, 100.0),
        TrackOpened("c1", "s1", "s1/inbound", TrackName.INBOUND, Role.CUSTOMER, 8000, 100.0),
        TrackOpened("c1", "s1", "s1/outbound", TrackName.OUTBOUND, Role.AGENT, 8000, 100.0),
        DtmfReceived("c1", "s1", "5", 3.2, None, None),
        TranscriptSegment("c1", "a", Role.CUSTOMER, 1.0, 2.0, "I want a refu", False),
        SentimentSample("c1", Role.CUSTOMER, 2.0, -0.4),
        AlertRaised("c1", "cancellation", Role.CUSTOMER, 2.0, "cancel my account", "critical"),
    ])
    assert ch.added == ["c1"] and ch.updated == {"c1"} and ch.transcript == {"c1"}
    call = m.calls["c1"]
    assert call.codec == "PCMA/8k"
    assert call.track_for(Role.AGENT).key == "s1/outbound"
    assert call.dtmf == [("5", 3.2)]
    assert call.sentiment[Role.CUSTOMER] == -0.4
    m.apply([TranscriptSegment("c1", "a", Role.CUSTOMER, 1.0, 2.2, "I want a refund", True)])
    assert [s.text for s in call.transcript()] == ["I want a refund"]
    assert m.active() == [call]
    ch = m.apply([CallEnded("c1", 130.0, "ended")])
    assert ch.ended == ["c1"] and call.duration() == 30.0 and m.active() == []


def test_events_for_unknown_calls_are_ignored() -> None:
    m = CallsModel()
    assert not m.apply([DtmfReceived("nope", "s", "1", 0.0, None, None)])


def test_agent_inbound_leg_preferred_over_what_the_customer_leg_hears() -> None:
    m = CallsModel()
    m.apply([
        CallStarted("c", Provider.TELNYX, None, None, 0.0),
        TrackOpened("c", "A", "A/outbound", TrackName.OUTBOUND, Role.AGENT, 8000, 0.0),
        TrackOpened("c", "B", "B/inbound", TrackName.INBOUND, Role.AGENT, 16000, 0.0),
    ])
    assert m.calls["c"].track_for(Role.AGENT).key == "B/inbound"
    assert m.calls["c"].track_for(Role.CUSTOMER) is None
    assert m.calls["c"].title == "Unknown caller"


def test_caller_name_from_custom_parameters() -> None:
    from console.ui.model import caller_name

    assert caller_name({"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"}) == \
        "Jane Doe"
    assert caller_name({"caller_name": "Acme Ltd"}) == "Acme Ltd"
    assert caller_name({"leg": "customer"}) == ""
    m = CallsModel()
    m.apply([CallStarted("c", Provider.TWILIO, "+1555", None, 0.0),
             StreamOpened("c", "s", Provider.TWILIO, MediaFormat("PCMU", 8000), (), {},
                          "customer", {"FirstName": "Jane", "LastName": "Doe"}, None, 0.0)])
    assert m.calls["c"].title == "Jane Doe · +1555"


def test_speech_activity_lights_the_speaker_without_redrawing_the_tile() -> None:
    m = CallsModel()
    m.apply([CallStarted("c1", Provider.TELNYX, "+1555", "+1800", 100.0)])
    ch = m.apply([SpeechActivity("c1", Role.AGENT, True, 1.2)])
    assert m.calls["c1"].speaking == {Role.AGENT: True}
    assert not ch.updated  # the 30 fps tick reads it; no tile rebuild per change
    m.apply([SpeechActivity("c1", Role.AGENT, False, 2.0),
             SpeechActivity("c1", Role.CUSTOMER, True, 2.1)])
    assert m.calls["c1"].speaking == {Role.AGENT: False, Role.CUSTOMER: True}
