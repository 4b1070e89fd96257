"""Webhook decoding (Telnyx's documented bodies, then hostile ones) and EventGate: dedupe,
stale events after a hangup, out-of-order deliveries, bounded memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from support import fixtures_dir

from console.callcontrol.events import (
    EventGate,
    WebhookError,
    WebhookEvent,
    parse_event,
)

TELNYX = fixtures_dir() / "telnyx"

# Shapes from Telnyx's API reference (developers.telnyx.com/api-reference/callbacks/call-hangup
# and the CallAnswered payload fields of the SDK types): the fields the console reads, plus
# ones it does not (start_time, hangup_source, call_quality_stats, custom_headers).
CALL_ANSWERED = {
    "data": {
        "record_type": "event",
        "event_type": "call.answered",
        "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "occurred_at": "2018-02-02T22:25:27.521992Z",
        "payload": {
            "call_control_id": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
            "connection_id": "7267xxxxxxxxxxxxxx",
            "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "call_session_id": "428c31b6-abf3-3bc1-b7f4-5013ef9657c1",
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "from": "+35319605860",
            "to": "+13129457420",
            "direction": "incoming",
            "start_time": "2018-02-02T22:20:27.521992Z",
            "state": "answered",
            "custom_headers": [{"name": "X-Header-Name", "value": "value"}],
        },
    },
    "meta": {"attempt": 1, "delivered_to": "https://example.com/webhooks"},
}
CALL_HANGUP = {
    "data": {
        "record_type": "event",
        "event_type": "call.hangup",
        "id": "1ddd7b54-4df3-4bca-a65a-3da1ecc777f1",
        "occurred_at": "2018-02-02T22:25:27.521992Z",
        "payload": {
            "call_control_id": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
            "connection_id": "7267xxxxxxxxxxxxxx",
            "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "from": "+35319605860",
            "to": "+35319605860",
            "start_time": "2018-02-02T22:20:27.521992Z",
            "state": "hangup",
            "hangup_cause": "call_rejected",
            "hangup_source": "caller",
            "sip_hangup_cause": "603",
            "call_quality_stats": {
                "inbound": {"jitter_max_variance": "2.74", "mos": "4.50", "packet_count": "591"},
                "outbound": {"packet_count": "0", "skip_packet_count": "0"},
            },
        },
    },
}
T0 = datetime(2018, 2, 2, 22, 25, 27, 521992, tzinfo=UTC).timestamp()


def _body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _with(doc: dict[str, Any], **data: Any) -> bytes:
    """`doc` with data fields (or data.payload fields, as payload__name) replaced."""
    copy = json.loads(json.dumps(doc))
    for key, value in data.items():
        if key.startswith("payload__"):
            copy["data"]["payload"][key[len("payload__"):]] = value
        else:
            copy["data"][key] = value
    return _body(copy)


# -- decoding -------------------------------------------------------------------------

def test_cc_fixture_streaming_started() -> None:
    event = parse_event((TELNYX / "webhook_streaming_started.json").read_bytes())
    assert event.event_type == "streaming.started"
    assert event.id == "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    assert event.call_control_id == "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
    assert event.occurred_at == T0
    assert event.payload["stream_url"] == "wss://yourdomain.com"
    assert event.call_leg_id == event.stream_id == event.client_state == ""


def test_cc_fixture_streaming_stopped() -> None:
    event = parse_event((TELNYX / "webhook_streaming_stopped.json").read_bytes())
    assert event.event_type == "streaming.stopped"
    assert event.call_control_id.startswith("v3:")


def test_cc_fixture_streaming_failed() -> None:
    event = parse_event((TELNYX / "webhook_streaming_failed.json").read_bytes())
    assert event.event_type == "streaming.failed"
    assert event.failure_reason == "connection_failed"
    assert event.stream_id == "1edb94f9-7ef0-4150-b502-e0ebadfd9491"
    assert event.call_leg_id == event.call_session_id == event.call_control_id
    assert event.connection_id == "7267xxxxxxxxxxxxxx"
    assert event.client_state == "aGF2ZSBhIG5pY2UgZGF5ID1d"
    assert event.payload["stream_params"]["stream_track"] == "inbound_track"
    assert event.occurred_at == datetime(2021, 12, 15, 14, 11, 24, 613295,
                                         tzinfo=UTC).timestamp()


def test_cc_call_answered_and_hangup_shapes() -> None:
    answered = parse_event(_body(CALL_ANSWERED))
    assert answered == WebhookEvent(
        id="0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", event_type="call.answered", occurred_at=T0,
        call_control_id="v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
        call_leg_id="428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        call_session_id="428c31b6-abf3-3bc1-b7f4-5013ef9657c1",
        connection_id="7267xxxxxxxxxxxxxx", direction="incoming", from_number="+35319605860",
        to_number="+13129457420", state="answered", client_state="aGF2ZSBhIG5pY2UgZGF5ID1d",
        payload=CALL_ANSWERED["data"]["payload"])
    hangup = parse_event(_body(CALL_HANGUP))
    assert (hangup.event_type, hangup.state, hangup.hangup_cause) == (
        "call.hangup", "hangup", "call_rejected")
    assert hangup.payload["hangup_source"] == "caller"
    assert hangup.direction == ""


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-02-02T22:25:27.521992Z", T0),
    ("2018-02-02T22:25:27.521992+00:00", T0),
    ("2018-02-02T23:25:27.521992+01:00", T0),
    ("2018-02-02T22:25:27Z", T0 - 0.521992),
    ("2018-02-02T22:25:27", T0 - 0.521992),  # no offset: UTC
    ("2018-02-02T22:25:27.5219921Z", T0),  # seven digits of fraction
    ("2018-02-02 22:25:27.521992Z", T0),
])
def test_cc_occurred_at_forms(text: str, expected: float) -> None:
    event = parse_event(_with(CALL_ANSWERED, occurred_at=text))
    assert event.occurred_at == pytest.approx(expected, abs=1e-6)


def test_cc_lenient_where_harmless() -> None:
    # Unknown event type and fields, no payload, no occurred_at, no call: all fine.
    event = parse_event(b'{"data": {"id": "e1", "event_type": "fax.received", "extra": [1,2]}}')
    assert (event.event_type, event.call_control_id, event.occurred_at) == (
        "fax.received", "", None)
    assert event.payload == {}
    # Nulls read as absent; an unknown direction reads as "".
    event = parse_event(_with(CALL_ANSWERED, occurred_at=None, payload__to=None,
                              payload__direction="sideways"))
    assert (event.occurred_at, event.to_number, event.direction) == (None, "", "")
    # The older envelope: the event's fields at the top level, occurred_at in the payload.
    old = parse_event(json.dumps({
        "record_type": "event", "id": "old-1", "event_type": "call.answered",
        "payload": {"call_control_id": "v3:old", "occurred_at": "2018-02-02T22:25:27.521992Z"},
    }).encode())
    assert (old.id, old.call_control_id, old.occurred_at) == ("old-1", "v3:old", T0)


@pytest.mark.parametrize(("body", "expected"), [
    (b"", "not valid JSON"),
    (b"{", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[]", "not a JSON object"),
    (b'"data"', "not a JSON object"),
    (b"{}", "no data object"),
    (b'{"data": []}', "data is not an object"),
    (b'{"data": {"event_type": "call.answered"}}', "data.id is missing"),
    (b'{"data": {"id": "", "event_type": "call.answered"}}', "data.id is missing"),
    (b'{"data": {"id": "x"}}', "data.event_type is missing"),
    (b'{"data": {"id": 5, "event_type": "call.answered"}}', "data.id is a number"),
    (b'{"data": {"id": "x", "event_type": ["call.answered"]}}', "data.event_type is a list"),
    (b'{"data": {"id": "x", "event_type": "e", "payload": "text"}}', "payload is not an object"),
    (b'{"data": {"id": "x", "event_type": "e", "occurred_at": 1517610327}}',
     "data.occurred_at is a number"),
    (b'{"data": {"id": "x", "event_type": "e", "occurred_at": "yesterday"}}',
     "not an ISO-8601 time"),
    (b'{"data": {"id": "x", "event_type": "e", "payload": {"call_control_id": true}}}',
     "data.payload.call_control_id is a boolean"),
    (b'{"data": {"id": "x", "event_type": "e", "payload": {"from": {"a": 1}}}}',
     "data.payload.from is a object"),
    (b'{"data": {"id": "x\\nINFO forged", "event_type": "e"}}', "control characters"),
    (b'{"data": {"id": "x", "event_type": "e", "payload": {"state": "\\ud800"}}}',
     "control characters"),
    (b'{"data": {"id": "x", "event_type": "e", "n": NaN}}', "not valid JSON"),
    (b'{"data": {"id": "x", "event_type": "e", "n": 1' + b"0" * 5000 + b"}}",
     "not valid JSON"),
])
def test_cc_malformed_bodies(body: bytes, expected: str) -> None:
    with pytest.raises(WebhookError, match=expected):
        parse_event(body)


def test_cc_huge_strings() -> None:
    with pytest.raises(WebhookError, match=r"data\.id is 300 characters, more than 256"):
        parse_event(_with(CALL_ANSWERED, id="a" * 300))
    with pytest.raises(WebhookError, match="call_control_id is 100000 characters"):
        parse_event(_with(CALL_ANSWERED, payload__call_control_id="v" * 100_000))
    # client_state may be longer than an id, up to 4096.
    assert len(parse_event(_with(CALL_ANSWERED, payload__client_state="Q" * 4096))
               .client_state) == 4096
    with pytest.raises(WebhookError, match="client_state is 4097 characters"):
        parse_event(_with(CALL_ANSWERED, payload__client_state="Q" * 4097))
    with pytest.raises(WebhookError, match="more than 1048576"):
        parse_event(b" " * (1024 * 1024 + 1))
    # Big unknown fields are someone else's business, within the body limit.
    assert parse_event(_with(CALL_ANSWERED, payload__notes="n" * 200_000)).id


def test_cc_deep_json() -> None:
    # Deeper than the interpreter's recursion limit, and deep but within it.
    for depth in (100_000, 500):
        body = b'{"data": {"id": "x", "event_type": "e", "payload": {"deep": ' + \
            b"[" * depth + b"]" * depth + b"}}}"
        with pytest.raises(WebhookError, match="nested"):
            parse_event(body)
    shallow = b'{"data": {"id": "x", "event_type": "e", "payload": {"a": [[[[1]]]]}}}'
    assert parse_event(shallow).payload == {"a": [[[[1]]]]}


def test_cc_garbage_never_escapes_as_another_error() -> None:
    """Random bytes and mangled real bodies raise WebhookError or parse; nothing else."""
    import random

    rng = random.Random(15)
    seeds = [_body(CALL_ANSWERED), _body(CALL_HANGUP),
             (TELNYX / "webhook_streaming_failed.json").read_bytes()]
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            op = rng.random()
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                del data[pos:pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = rng.choice([b"[", b"{", b'"', b"\\u0000", b"null", b"9" * 30])
        try:
            parse_event(bytes(data))
            outcomes["parsed"] += 1
        except WebhookError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["parsed"] > 0


# -- the gate ---------------------------------------------------------------------------

def _event(event_type: str, event_id: str, leg: str = "v3:leg-1",
           at: float | None = 1000.0) -> WebhookEvent:
    return WebhookEvent(id=event_id, event_type=event_type, occurred_at=at,
                        call_control_id=leg)


def test_cc_gate_dedupes_by_id() -> None:
    gate = EventGate()
    answered = parse_event(_body(CALL_ANSWERED))
    assert gate.admit(answered, now=0.0) is None
    assert gate.admit(answered, now=1.0) == "duplicate event 0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    # Events with no call at all are deduped too.
    other = WebhookEvent(id="fax-1", event_type="fax.received")
    assert gate.admit(other, 2.0) is None
    assert gate.admit(other, 3.0) == "duplicate event fax-1"


def test_cc_gate_stale_after_hangup() -> None:
    gate = EventGate()
    assert gate.admit(_event("call.hangup", "h", at=1000.0), 0.0) is None
    # Starting anything on a leg that has hung up is stale, even if it claims to be newer.
    for kind, eid in (("call.initiated", "i"), ("call.answered", "a"),
                      ("streaming.started", "s")):
        reason = gate.admit(_event(kind, eid, at=2000.0), 0.0)
        assert reason == f"stale {kind} for v3:leg-1: the leg has already hung up"
    # What ends things still passes after a hangup (Telnyx reports the stream's end too).
    assert gate.admit(_event("streaming.stopped", "st", at=1001.0), 0.0) is None
    # Another leg is unaffected.
    assert gate.admit(_event("call.answered", "a2", leg="v3:leg-2"), 0.0) is None
    # The dropped event's id is remembered: its redelivery is a duplicate, not stale again.
    assert gate.admit(_event("call.answered", "a", at=2000.0), 1.0) == "duplicate event a"


def test_cc_gate_out_of_order_answered_hangup() -> None:
    gate = EventGate()
    # The hangup (t=1010) is delivered before the answer (t=1000): hangup wins.
    assert gate.admit(_event("call.hangup", "h", at=1010.0), 0.0) is None
    assert gate.admit(_event("call.answered", "a", at=1000.0), 0.0) is not None
    # A hangup is admitted even when its time is earlier than the answer's (clock skew).
    gate = EventGate()
    assert gate.admit(_event("call.answered", "a", at=1010.0), 0.0) is None
    assert gate.admit(_event("call.hangup", "h", at=1000.0), 0.0) is None
    assert gate.admit(_event("streaming.started", "s", at=1020.0), 0.0) is not None


def test_cc_gate_older_event_of_same_kind() -> None:
    gate = EventGate()
    assert gate.admit(_event("call.answered", "a2", at=1005.0), 0.0) is None
    # A call.initiated from before the answer, delivered after it, is stale.
    assert gate.admit(_event("call.initiated", "i1", at=1000.0), 0.0) == (
        "stale call.initiated for v3:leg-1: older than the answered event already processed")
    # streaming: a stop from an earlier stream arriving after a newer start is stale ...
    assert gate.admit(_event("streaming.started", "s2", at=1050.0), 0.0) is None
    assert gate.admit(_event("streaming.stopped", "x1", at=1040.0), 0.0) is not None
    # ... and a newer stop passes; so does a later restart.
    assert gate.admit(_event("streaming.stopped", "x2", at=1060.0), 0.0) is None
    assert gate.admit(_event("streaming.started", "s3", at=1070.0), 0.0) is None
    # Events without a time cannot be ordered: only the hangup rule applies to them.
    assert gate.admit(_event("call.answered", "a-untimed", at=None), 0.0) is None
    # Kinds are independent: an old streaming event says nothing about answers.
    assert gate.admit(_event("call.answered", "a3", at=1006.0), 0.0) is None


def test_cc_gate_bounded_memory() -> None:
    gate = EventGate(max_ids=1000, max_legs=500)
    for n in range(100_000):
        assert gate.admit(_event("call.answered", f"id-{n}", leg=f"v3:leg-{n}"), now=n / 100) \
            is None
        assert gate.ids_held <= 1000 and gate.legs_held <= 500
    assert (gate.ids_held, gate.legs_held) == (1000, 500)
    # The newest are the ones remembered.
    assert gate.admit(_event("call.answered", "id-99999", leg="v3:leg-99999"), 1000.0) == (
        "duplicate event id-99999")
    assert gate.admit(_event("call.answered", "id-0", leg="v3:leg-0"), 1000.0) is None


def test_cc_gate_forgets_after_ttl() -> None:
    gate = EventGate(ttl_s=3600.0)
    assert gate.admit(_event("call.hangup", "h"), now=0.0) is None
    assert gate.admit(_event("call.hangup", "h"), now=3599.0) == "duplicate event h"
    for n in range(10):
        gate.admit(_event("call.answered", f"other-{n}", leg=f"v3:o{n}"), now=3600.0 + n)
    # An hour on, the id and the leg are forgotten: memory does not grow with time.
    assert gate.admit(_event("call.hangup", "h"), now=7300.0) is None
    assert gate.ids_held == 1 and gate.legs_held == 1
