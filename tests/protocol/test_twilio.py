"""Twilio Media Streams frames (PROTOCOLS.md section 2) against the shared fixtures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import zero_crossing_frequency
from support import fixtures_dir, load_fixture

from console.audio.codecs import ulaw_decode
from console.core.events import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Provider,
    ProviderError,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    Stopped,
    TrackName,
)
from console.protocol import twilio
from console.protocol.base import FrameError

STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"
ACCOUNT_SID = "AC00000000000000000000000000000001"


def _fixtures_root() -> Path:
    return fixtures_dir()


FIXTURES = _fixtures_root() / "twilio"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_fixture("twilio", name)
    return data


@pytest.mark.parametrize(
    "name", sorted(p.name for p in _fixtures_root().joinpath("twilio").glob("from_twilio_*.json"))
)
def test_every_from_fixture_parses_to_a_typed_event(name: str) -> None:
    msg = load(name)
    event = twilio.parse(msg)
    expected = {
        "connected": Connected,
        "start": Started,
        "media": Media,
        "dtmf": Dtmf,
        "mark": Mark,
        "stop": Stopped,
    }[msg["event"]]
    assert isinstance(event, expected)
    assert twilio.looks_like(msg)
    if not isinstance(event, Connected):
        assert event.stream_id == STREAM_SID


def test_fixture_folder_has_all_from_frames() -> None:
    assert len(list(FIXTURES.glob("from_twilio_*.json"))) >= 6


def test_connected() -> None:
    ev = twilio.parse(load("from_twilio_01_connected.json"))
    assert ev == Connected(Provider.TWILIO, "1.0.0", None)


def test_start() -> None:
    ev = twilio.parse(load("from_twilio_02_start.json"))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.TWILIO
    assert ev.stream_id == STREAM_SID
    assert ev.call_key == CALL_SID
    assert ev.call_control_id == CALL_SID
    assert ev.account_id == ACCOUNT_SID
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)
    assert ev.custom_parameters == {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"}
    assert ev.sequence == 1
    # Twilio's start frame carries no numbers.
    assert ev.from_number is None
    assert ev.to_number is None
    fmt = ev.media_format
    assert (fmt.encoding, fmt.sample_rate, fmt.channels) == ("PCMU", 8000, 1)
    assert fmt.raw_encoding == "audio/x-mulaw"


def test_start_numbers_from_custom_parameters() -> None:
    msg = load("from_twilio_02_start.json")
    msg["start"]["customParameters"] = {"From": "+15550001111", "to": "+15550002222"}
    ev = twilio.parse(msg)
    assert isinstance(ev, Started)
    assert ev.from_number == "+15550001111"
    assert ev.to_number == "+15550002222"


def test_start_stream_sid_only_inside_start() -> None:
    msg = load("from_twilio_02_start.json")
    del msg["streamSid"]
    ev = twilio.parse(msg)
    assert isinstance(ev, Started)
    assert ev.stream_id == STREAM_SID


def test_start_without_media_format_defaults_to_mulaw_8k() -> None:
    msg = load("from_twilio_02_start.json")
    del msg["start"]["mediaFormat"]
    ev = twilio.parse(msg)
    assert isinstance(ev, Started)
    assert ev.media_format.encoding == "PCMU"
    assert ev.media_format.sample_rate == 8000


@pytest.mark.parametrize(
    ("encoding", "rate", "expected_rate"),
    [
        ("audio/x-mulaw", 8000, 8000),
        ("audio/x-mulaw", "8000", 8000),
        ("audio/x-mulaw;rate=8000", None, 8000),
        ("audio/x-mulaw", None, 8000),
    ],
)
def test_start_media_format_variants(encoding: str, rate: Any, expected_rate: int) -> None:
    msg = load("from_twilio_02_start.json")
    fmt: dict[str, Any] = {"encoding": encoding, "channels": 1}
    if rate is not None:
        fmt["sampleRate"] = rate
    msg["start"]["mediaFormat"] = fmt
    ev = twilio.parse(msg)
    assert isinstance(ev, Started)
    assert ev.media_format.encoding == "PCMU"
    assert ev.media_format.sample_rate == expected_rate


def test_start_without_call_sid_keys_on_stream() -> None:
    msg = load("from_twilio_02_start.json")
    del msg["start"]["callSid"]
    ev = twilio.parse(msg)
    assert isinstance(ev, Started)
    assert ev.call_key == STREAM_SID
    assert ev.call_control_id is None


def test_start_track_suffix_variants() -> None:
    msg = load("from_twilio_02_start.json")
    msg["start"]["tracks"] = ["inbound_track"]
    ev = twilio.parse(msg)
    assert isinstance(ev, Started)
    assert ev.tracks == (TrackName.INBOUND,)


def test_media_inbound() -> None:
    msg = load("from_twilio_03_media_inbound.json")
    ev = twilio.parse(msg)
    assert isinstance(ev, Media)
    assert ev.stream_id == STREAM_SID
    assert ev.track is TrackName.INBOUND
    assert (ev.chunk, ev.timestamp, ev.sequence) == (2, 5, 4)
    assert len(ev.payload) == 160
    assert ev.payload == base64.b64decode(msg["media"]["payload"])
    pcm = ulaw_decode(ev.payload)
    assert pcm[0] == 0
    # 8.8 cycles of 440 Hz in 20 ms.
    assert zero_crossing_frequency(pcm, 8000) == pytest.approx(440, abs=30)


def test_media_outbound_and_int_numbers() -> None:
    msg = load("from_twilio_03_media_inbound.json")
    msg["media"].update(track="outbound", chunk=9, timestamp=180)
    msg["sequenceNumber"] = 11
    ev = twilio.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is TrackName.OUTBOUND
    assert (ev.chunk, ev.timestamp, ev.sequence) == (9, 180, 11)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("inbound_track", TrackName.INBOUND), ("outbound_track", TrackName.OUTBOUND)],
)
def test_media_track_suffix(raw: str, expected: TrackName) -> None:
    msg = load("from_twilio_03_media_inbound.json")
    msg["media"]["track"] = raw
    ev = twilio.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is expected


def test_dtmf() -> None:
    ev = twilio.parse(load("from_twilio_04_dtmf.json"))
    assert ev == Dtmf(STREAM_SID, "1", None, TrackName.INBOUND, 5)


def test_mark() -> None:
    ev = twilio.parse(load("from_twilio_05_mark.json"))
    assert ev == Mark(STREAM_SID, "my label", 4)


def test_stop() -> None:
    ev = twilio.parse(load("from_twilio_06_stop.json"))
    assert ev == Stopped(STREAM_SID, 5)


def test_error_frame_either_shape() -> None:
    a = twilio.parse({"event": "error", "streamSid": STREAM_SID,
                      "error": {"code": "31924", "message": "bad message"}})
    b = twilio.parse({"event": "error", "payload": {"code": 31950, "title": "binary"}})
    assert a == ProviderError(STREAM_SID, 31924, "bad message", "")
    assert b == ProviderError(None, 31950, "binary", "")


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda m: m["media"].update(payload="***"), "bad_base64"),
        (lambda m: m["media"].update(payload=160), "wrong_type"),
        (lambda m: m.update(media="payload"), "wrong_type"),
        (lambda m: m.update(sequenceNumber=True), "wrong_type"),
        (lambda m: m["media"].update(chunk=True), "wrong_type"),
        (lambda m: m["media"].update(timestamp="5ms"), "wrong_type"),
        (lambda m: m["media"].update(track="both"), "bad_value"),
        (lambda m: m.update(streamSid=["MZ"]), "wrong_type"),
        (lambda m: m.update(event="transcript"), "unknown_event"),
        (lambda m: m.pop("event"), "missing_field"),
    ],
)
def test_bad_frames_raise_frame_error(mutate: Any, kind: str) -> None:
    msg = load("from_twilio_03_media_inbound.json")
    mutate(msg)
    with pytest.raises(FrameError) as info:
        twilio.parse(msg)
    assert info.value.kind == kind


def test_bad_start_frames() -> None:
    no_sid = load("from_twilio_02_start.json")
    del no_sid["streamSid"]
    del no_sid["start"]["streamSid"]
    fmt_str = load("from_twilio_02_start.json")
    fmt_str["start"]["mediaFormat"] = "audio/x-mulaw"
    start_list = load("from_twilio_02_start.json")
    start_list["start"] = []
    bad_track = load("from_twilio_02_start.json")
    bad_track["start"]["tracks"] = ["both_tracks"]
    for msg, kind in [
        (no_sid, "missing_field"),
        (fmt_str, "wrong_type"),
        (start_list, "wrong_type"),
        (bad_track, "bad_value"),
    ]:
        with pytest.raises(FrameError) as info:
            twilio.parse(msg)
        assert info.value.kind == kind, msg


# --- commands to Twilio ----------------------------------------------------------------------


def test_encode_media_matches_fixture() -> None:
    expected = load("to_twilio_01_media.json")
    payload = base64.b64decode(expected["media"]["payload"])
    assert len(payload) == 160
    out = twilio.encode_command(SendMedia(payload), STREAM_SID)
    assert json.loads(out) == expected


def test_encode_mark_matches_fixture() -> None:
    out = twilio.encode_command(SendMark("my label"), STREAM_SID)
    assert json.loads(out) == load("to_twilio_02_mark.json")


def test_encode_clear_matches_fixture() -> None:
    out = twilio.encode_command(SendClear(), STREAM_SID)
    assert json.loads(out) == load("to_twilio_03_clear.json")


def test_encode_always_carries_stream_sid_key() -> None:
    out = json.loads(twilio.encode_command(SendClear(), None))
    assert out == {"event": "clear", "streamSid": ""}


def test_encode_rejects_non_commands() -> None:
    with pytest.raises(TypeError):
        twilio.encode_command(object(), STREAM_SID)  # type: ignore[arg-type]


# --- X-Twilio-Signature ----------------------------------------------------------------------


def test_signature_test_vector() -> None:
    vec = load("handshake_signature_test_vector.json")
    sig = twilio.signature(vec["auth_token"], vec["url"], vec["params"])
    assert sig == vec["expected_x_twilio_signature"]
    assert twilio.signature(vec["auth_token"], vec["url"]) == vec["expected_x_twilio_signature"]


def test_signature_matches_any_candidate_url() -> None:
    vec = load("handshake_signature_test_vector.json")
    good = vec["expected_x_twilio_signature"]
    urls = ["wss://console.example.com:443/twilio/media", vec["url"]]
    assert twilio.signature_matches(vec["auth_token"], urls, good)
    assert not twilio.signature_matches(vec["auth_token"], urls[:1], good)
    assert not twilio.signature_matches("54321", [vec["url"]], good)
    assert not twilio.signature_matches(vec["auth_token"], [vec["url"]], good[:-2] + "A=")
    assert not twilio.signature_matches(vec["auth_token"], [], good)


def test_signature_appends_sorted_params() -> None:
    params = {"b": "2", "a": "1", "CallSid": "CA1"}
    url = "https://example.com/hook"
    data = url + "CallSidCA1" + "a1" + "b2"
    expected = base64.b64encode(hmac.new(b"tok", data.encode(), hashlib.sha1).digest()).decode()
    assert twilio.signature("tok", url, params) == expected
    assert twilio.signature("tok", url) != expected


def test_looks_like() -> None:
    assert twilio.looks_like({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    assert twilio.looks_like({"event": "media", "sequenceNumber": "3"})
    assert twilio.looks_like({"event": "start", "start": {"callSid": CALL_SID}})
    assert not twilio.looks_like({"event": "connected", "version": "1.0.0"})
    assert not twilio.looks_like({"event": "media", "stream_id": "x"})
