"""Call facts on the wire (console/team/schema.py): every call event survives encode/decode
unchanged, and anything a hostile or broken peer could put on the bus is refused with
BadFact, never another exception and never a half-built event."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from console.core import events as ev
from console.team import schema
from console.team.schema import EVENT_TYPES, BadFact, Fact, decode, encode

FMT = ev.MediaFormat("L16", 16000, 2, "little", "audio/L16;rate=16000")

SAMPLES: list[ev.CallEvent] = [
    ev.CallStarted("call-1.a b", ev.Provider.TELNYX, "+15550001111", None, 1796000000.125,
                   node="east-1"),
    ev.StreamOpened("call-1", "s-1", ev.Provider.TWILIO, FMT,
                    (ev.TrackName.INBOUND, ev.TrackName.OUTBOUND),
                    {"inbound": "customer", "outbound": "agent"}, "customer",
                    {"campaign": "spring", "lang": "fr-CA"}, None, 1796000000.5,
                    codec_error="G729 is not supported"),
    ev.TrackOpened("call-1", "s-1", "s-1/inbound", ev.TrackName.INBOUND, ev.Role.CUSTOMER,
                   8000, 1796000000.75),
    ev.StreamClosed("call-1", "s-1", 1796000100.0, "stop", 5000, 3, audio_s=99.98),
    ev.CallEnded("call-1", 1796000101.0, "interrupted"),
    ev.DtmfReceived("call-1", "s-1", "#", 12.34, "2026-11-12T10:00:00Z", None),
    ev.MarkReceived("call-1", "s-1", "whisper-7", 1796000050.0),
    ev.StreamProblem("call-1", None, "bad_frame", "payload is not base64", 1796000060.0,
                     details={"frame": 12, "ok": False, "ratio": 0.5, "none": None,
                              "seen": ["a", 1, 2.5, {"deep": [1, {"x": "y"}]}],
                              "text": "ünïcödé ✓"}),
    ev.TranscriptSegment("call-1", "seg-9", ev.Role.AGENT, 1.5, 3.25, "How can I help?",
                         True, sentiment=-0.25),
    ev.SentimentSample("call-1", ev.Role.CUSTOMER, 4.0, 0.75),
    ev.AlertRaised("call-1", "cancel-intent", None, 5.5, "I want to cancel", "critical"),
    ev.SupervisorAction(None, "export", 1796000070.0, "csv to /tmp/x", "Dana Reyes"),
    ev.ConversationUpdate("call-1", 30.5, 20.25, None, 4.0, 3, 1.5),
    ev.SpeechActivity("call-1", ev.Role.CUSTOMER, True, 6.0),
    ev.CallTopic("call-1", "billing", 0.82, 5.5),
    ev.CallScorecard("call-1", "default", ({"name": "greeting", "label": "Greeting",
                                            "weight": 1.0, "required": False, "passed": True,
                                            "similarity": 0.71, "segment_id": "s1",
                                            "speaker": "agent", "at_s": 0.5,
                                            "text": "Hello, Acme, Sam speaking"},),
                     True, 1796000080.0),
]


def _fact(event: ev.CallEvent, n: int = 7) -> Fact:
    return Fact("east-1", "9f2c0a1b2c3d", n, event, 1796000000.5)


def _obj(event: ev.CallEvent | None = None) -> dict[str, Any]:
    return orjson.loads(encode(_fact(event or SAMPLES[0])))


def _refused(obj: Any, match: str | None = None) -> BadFact:
    data = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    with pytest.raises(BadFact, match=match) as caught:
        decode(data)
    return caught.value


def test_team_schema_samples_cover_every_event_type() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(EVENT_TYPES)
    assert len(SAMPLES) == len(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_team_schema_round_trip(event: ev.CallEvent) -> None:
    fact = _fact(event)
    back = decode(encode(fact))
    assert back == fact
    assert type(back.event) is type(event)
    # the decoded event carries the real types, not their JSON shapes
    for f in dataclasses.fields(event):
        assert type(getattr(back.event, f.name)) is type(getattr(event, f.name)), f.name


def test_team_schema_round_trip_of_optional_fields_left_out() -> None:
    # a fact from an older node may leave out fields that have defaults
    obj = _obj(ev.TranscriptSegment("c", "s", ev.Role.AGENT, 0.0, 1.0, "hi", False))
    del obj["e"]["sentiment"]
    assert decode(orjson.dumps(obj)).event == ev.TranscriptSegment(
        "c", "s", ev.Role.AGENT, 0.0, 1.0, "hi", False, None)
    # ints where a float is declared are read as floats
    obj["e"]["start_s"] = 3
    back = decode(orjson.dumps(obj)).event
    assert isinstance(back, ev.TranscriptSegment)
    assert back.start_s == 3.0 and type(back.start_s) is float


def test_team_schema_encode_stamps_a_time_when_none_given() -> None:
    obj = orjson.loads(encode(Fact("n", "r", 1, SAMPLES[4])))
    assert obj["v"] == 1 and obj["type"] == "CallEnded" and obj["t"] > 1.7e9


@pytest.mark.parametrize("data", [b"", b"not json", b"{\"v\": 1,", b"\xff\xfe\x00",
                                  b"NaN", b"[1e400]", b"{\"v\": 1, \"n\": Infinity}"])
def test_team_schema_refuses_what_is_not_json(data: bytes) -> None:
    _refused(data, "not JSON")


@pytest.mark.parametrize("value", [[], [1, 2], "fact", 1, None, True])
def test_team_schema_refuses_what_is_not_an_object(value: Any) -> None:
    _refused(value, "JSON object")


@pytest.mark.parametrize("version", ["missing", 0, 2, "1", None, True, 1.0])
def test_team_schema_refuses_other_versions(version: Any) -> None:
    obj = _obj()
    if version == "missing":
        del obj["v"]
    else:
        obj["v"] = version
    _refused(obj, "version")


@pytest.mark.parametrize("node", ["missing", "", "x" * 65, 5, None, ["east"]])
def test_team_schema_refuses_bad_node_names(node: Any) -> None:
    obj = _obj()
    if node == "missing":
        del obj["node"]
    else:
        obj["node"] = node
    _refused(obj, "node name")


@pytest.mark.parametrize("run", ["r" * 65, 12, None])
def test_team_schema_refuses_bad_run_ids(run: Any) -> None:
    obj = _obj()
    obj["run"] = run
    _refused(obj, "run id")


@pytest.mark.parametrize("n", ["missing", 0, -1, -(2**60), 2**53, 2**63, 1.0, "1", True,
                               None])
def test_team_schema_refuses_bad_sequence_numbers(n: Any) -> None:
    obj = _obj()
    if n == "missing":
        del obj["n"]
    else:
        obj["n"] = n
    _refused(obj, "sequence number")


def test_team_schema_accepts_the_largest_sequence_number() -> None:
    obj = _obj()
    obj["n"] = 2**53 - 1
    assert decode(orjson.dumps(obj)).n == 2**53 - 1


@pytest.mark.parametrize("t", [-1, 1e11, 1e300, "now", True, None])
def test_team_schema_refuses_bad_times(t: Any) -> None:
    obj = _obj()
    obj["t"] = t
    _refused(obj, "bad time")


@pytest.mark.parametrize("kind", ["missing", "Media", "Started", "callstarted", "", 3, None,
                                  "__class__"])
def test_team_schema_refuses_unknown_types(kind: Any) -> None:
    obj = _obj()
    if kind == "missing":
        del obj["type"]
    else:
        obj["type"] = kind
    _refused(obj, "unknown fact type")


@pytest.mark.parametrize("fields", ["missing", None, [], "call_id", 1])
def test_team_schema_refuses_fields_that_are_not_an_object(fields: Any) -> None:
    obj = _obj()
    if fields == "missing":
        del obj["e"]
    else:
        obj["e"] = fields
    _refused(obj, "fields must be an object")


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_team_schema_refuses_each_missing_required_field(event: ev.CallEvent) -> None:
    required = [f.name for f in dataclasses.fields(event)
                if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    assert required
    for name in required:
        obj = _obj(event)
        del obj["e"][name]
        _refused(obj, f"{name} is missing")


# (event index in SAMPLES, field, a value of the wrong type)
WRONG_TYPES = [
    (0, "started_at", "1796000000"),  # text for a float
    (0, "started_at", True),  # bool for a float
    (0, "started_at", None),  # None where it is not optional
    (0, "from_number", 15550001111),  # number for optional text
    (0, "call_id", ["call-1"]),
    (2, "sample_rate", 8000.0),  # float for an int
    (2, "sample_rate", True),  # bool for an int
    (2, "sample_rate", "8000"),
    (2, "sample_rate", 2**60),  # past what a double holds exactly
    (3, "frames", 1.5),
    (8, "final", 1),  # number for a bool
    (8, "final", "true"),
    (8, "sentiment", "0.5"),
    (1, "tracks", "inbound"),  # text for a list
    (1, "tracks", {"inbound": 1}),
    (1, "roles", ["inbound", "customer"]),  # list for an object
    (1, "roles", {"inbound": 1}),  # number inside a dict of text
    (1, "custom_parameters", {"k": None}),
    (1, "media_format", "PCMU"),  # text for a media format
    (1, "media_format", {"encoding": "PCMU"}),  # media format without its rate
    (1, "media_format", {"encoding": "PCMU", "sample_rate": "8000"}),
    (7, "details", "not an object"),
    (12, "overtalk_count", 3.0),
    (12, "talk_ratio", "half"),
]


@pytest.mark.parametrize(("index", "name", "value"), WRONG_TYPES,
                         ids=[f"{type(SAMPLES[i]).__name__}.{n}={v!r}"[:60]
                              for i, n, v in WRONG_TYPES])
def test_team_schema_refuses_wrong_types(index: int, name: str, value: Any) -> None:
    obj = _obj(SAMPLES[index])
    assert name in obj["e"]
    obj["e"][name] = value
    _refused(obj)


@pytest.mark.parametrize("value", [1e14, -1e14, 1e300, -1e300])
def test_team_schema_refuses_huge_numbers(value: float) -> None:
    # orjson refuses NaN and infinities itself (see the not-JSON test); finite but absurd
    # numbers are refused by the range check
    obj = _obj(SAMPLES[9])
    obj["e"]["score"] = value
    _refused(obj, "finite number")


def test_team_schema_refuses_nan_and_infinity_in_handmade_bytes() -> None:
    good = encode(_fact(SAMPLES[9]))
    assert b'"score":0.75' in good
    for bad in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        _refused(good.replace(b'"score":0.75', b'"score":' + bad))


@pytest.mark.parametrize(("index", "name", "value"), [
    (0, "provider", "skype"),
    (0, "provider", "TELNYX"),  # enum names are not their values
    (2, "role", "robot"),
    (2, "track", 1),
    (2, "track", ["inbound"]),
    (8, "speaker", None),
    (1, "tracks", ["inbound", "sideways"]),
    (10, "speaker", "supervisor"),
])
def test_team_schema_refuses_bad_enum_values(index: int, name: str, value: Any) -> None:
    obj = _obj(SAMPLES[index])
    obj["e"][name] = value
    _refused(obj)


@pytest.mark.parametrize(("change", "match"), [
    ({"sample_rate": 0}, "rate or channels"),
    ({"sample_rate": -8000}, "rate or channels"),
    ({"sample_rate": 384_001}, "rate or channels"),
    ({"channels": 99}, "rate or channels"),
    ({"channels": 0}, "rate or channels"),
    ({"byte_order": 1}, "byte_order"),
])
def test_team_schema_refuses_bad_media_formats(change: dict[str, Any], match: str) -> None:
    obj = _obj(SAMPLES[1])
    obj["e"]["media_format"].update(change)
    _refused(obj, match)


def test_team_schema_refuses_oversize_text() -> None:
    obj = _obj(SAMPLES[8])
    obj["e"]["text"] = "x" * schema.MAX_TEXT
    assert decode(orjson.dumps(obj)).event.text == "x" * schema.MAX_TEXT  # type: ignore[union-attr]
    obj["e"]["text"] = "x" * (schema.MAX_TEXT + 1)
    _refused(obj, "at most")
    # also inside free-form details, as a value and as a key
    obj = _obj(SAMPLES[7])
    obj["e"]["details"] = {"k": "y" * (schema.MAX_TEXT + 1)}
    _refused(obj, "at most")
    obj["e"]["details"] = {"k" * (schema.MAX_TEXT + 1): 1}
    _refused(obj, "at most")


def test_team_schema_refuses_oversize_facts() -> None:
    good = encode(_fact(SAMPLES[4]))
    padding = b" " * (schema.MAX_FACT_BYTES - len(good))
    assert decode(good + padding).event == SAMPLES[4]  # exactly at the limit: read
    _refused(good + padding + b" ", "bytes")


@pytest.mark.parametrize(("name", "size"), [("tracks", 65), ("roles", 257),
                                            ("custom_parameters", 300)])
def test_team_schema_refuses_oversize_lists_and_objects(name: str, size: int) -> None:
    obj = _obj(SAMPLES[1])
    obj["e"][name] = (["inbound"] * size if name == "tracks"
                      else {f"k{i}": "v" for i in range(size)})
    _refused(obj, "at most")


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


def test_team_schema_details_are_bounded_in_depth_and_size() -> None:
    obj = _obj(SAMPLES[7])
    obj["e"]["details"] = {"d": _nested(4)}
    problem = decode(orjson.dumps(obj)).event
    assert isinstance(problem, ev.StreamProblem) and problem.details == {"d": _nested(4)}
    obj["e"]["details"] = {"d": _nested(6)}
    _refused(obj, "nested too deeply")
    obj["e"]["details"] = {"d": list(range(257))}
    _refused(obj, "too large")
    obj["e"]["details"] = {f"k{i}": 1 for i in range(257)}
    _refused(obj, "at most 256")


def test_team_schema_unknown_extra_fields_are_ignored() -> None:
    # a newer node may add fields; an older console reads what it knows
    obj = _obj(SAMPLES[4])
    obj["e"]["future_field"] = {"x": 1}
    obj["extra"] = True
    assert decode(orjson.dumps(obj)).event == SAMPLES[4]
