"""SignalWire `<Stream>` (PROTOCOLS.md 3.4): Twilio's frames with SignalWire's UUID sids.

SignalWire has no frame fixtures of its own (fixtures/signalwire/notes.json: reuse Twilio's),
so its frames are the Twilio fixtures with the sids SignalWire's REST reference shows."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support import fixtures_dir

from console.core.events import (
    Connected,
    Media,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    TrackName,
)
from console.protocol import signalwire, twilio
from console.protocol.base import FrameError

ROOT = fixtures_dir()
TWILIO = ROOT / "twilio"
FIXTURES = ROOT / "signalwire"
# The shapes of SignalWire's create-stream example response [SW2].
PROJECT = "720796a0-8ee9-4350-83bd-2d07a3121f1e"
CALL = "43bb71ee-553f-4074-bb20-8e2747647cce"
STREAM = "19e436af-5688-4307-b03b-bdb2b42b8142"
TWILIO_FROM = sorted(p.name for p in TWILIO.glob("from_twilio_*.json"))


def load(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


def as_signalwire(msg: dict[str, Any]) -> dict[str, Any]:
    """A Twilio frame with SignalWire's sids in place of AC…/CA…/MZ…."""
    out = copy.deepcopy(msg)
    if "streamSid" in out:
        out["streamSid"] = STREAM
    for holder in (out.get("start"), out.get("stop")):
        if isinstance(holder, dict):
            for key, value in (("accountSid", PROJECT), ("callSid", CALL),
                               ("streamSid", STREAM)):
                if key in holder:
                    holder[key] = value
    return out


def sw(name: str) -> dict[str, Any]:
    return as_signalwire(load(TWILIO, name))


def test_signalwire_fixtures_say_to_reuse_twilio() -> None:
    notes = load(FIXTURES, "notes.json")
    assert "twilio" in notes["wire_protocol"].lower()
    assert len(TWILIO_FROM) >= 6


@pytest.mark.parametrize("name", TWILIO_FROM)
def test_every_twilio_frame_parses_as_signalwire(name: str) -> None:
    msg = sw(name)
    got = signalwire.parse(msg)
    want = twilio.parse(msg)
    if isinstance(want, (Connected, Started)):
        assert got.provider is Provider.SIGNALWIRE  # type: ignore[union-attr]
        want = replace(want, provider=Provider.SIGNALWIRE)
    assert got == want
    # Every frame but `connected` (which carries no id) tells SignalWire from Twilio.
    assert signalwire.looks_like(msg) is (msg["event"] != "connected")


@pytest.mark.parametrize("name", TWILIO_FROM)
def test_twilio_frames_are_not_signalwire(name: str) -> None:
    assert not signalwire.looks_like(load(TWILIO, name))


def test_twilio_would_claim_signalwire_frames_too() -> None:
    # Why detection must try SignalWire before Twilio.
    assert twilio.looks_like(sw("from_twilio_02_start.json"))
    assert signalwire.looks_like(sw("from_twilio_02_start.json"))


def _all_frames() -> list[Path]:
    return sorted(ROOT.glob("*/*.json"))


@pytest.mark.parametrize("path", _all_frames(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_signalwire_looks_like_no_other_platforms_frame(path: Path) -> None:
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        assert not signalwire.looks_like(data)  # no SignalWire frame fixtures exist


def test_start_values() -> None:
    ev = signalwire.parse(sw("from_twilio_02_start.json"))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.SIGNALWIRE
    assert ev.stream_id == STREAM
    assert ev.call_key == CALL
    assert ev.call_control_id == CALL
    assert ev.account_id == PROJECT
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)
    assert ev.custom_parameters == {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"}
    assert ev.sequence == 1
    assert (ev.media_format.encoding, ev.media_format.sample_rate) == ("PCMU", 8000)


def test_connected_is_relabelled() -> None:
    ev = signalwire.parse(sw("from_twilio_01_connected.json"))
    assert ev == Connected(Provider.SIGNALWIRE, "1.0.0", None)


@pytest.mark.parametrize(("start", "expected"), [
    ({"callSid": CALL}, True),
    ({"accountSid": PROJECT.upper()}, True),
    ({"streamSid": STREAM, "callSid": "CA00000000000000000000000000000001"}, True),
    ({"callSid": "CA" + "0" * 32}, False),
    ({"callSid": CALL.replace("-", "")}, False),
    ({"callSid": "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}, False),
    ({"callSid": CALL + "0"}, False),
    ({"callSid": 12345}, False),
    ({"call_sid": CALL}, False),  # Exotel's spelling
    ({"callId": CALL, "streamId": STREAM}, False),  # Plivo's
])
def test_looks_like_keys(start: dict[str, Any], expected: bool) -> None:
    assert signalwire.looks_like({"event": "start", "start": start}) is expected


def test_looks_like_media_by_stream_sid() -> None:
    assert signalwire.looks_like({"event": "media", "streamSid": STREAM})
    assert not signalwire.looks_like({"event": "media", "streamSid": "MZ" + "0" * 32})
    assert not signalwire.looks_like({"event": "media", "stream_id": STREAM})  # Telnyx's


def test_rest_stream_defaults_to_both_tracks() -> None:
    # REST-created streams default Track to both_tracks [SW2]; the start may name it so.
    rest = load(FIXTURES, "rest_create_stream_request_form_fields.json")
    msg = sw("from_twilio_02_start.json")
    msg["start"]["tracks"] = [rest["Track"]]
    params = {rest[k]: rest[k.replace(".Name", ".Value")] for k in rest if k.endswith(".Name")}
    msg["start"]["customParameters"] = params
    ev = signalwire.parse(msg)
    assert isinstance(ev, Started)
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)
    assert ev.custom_parameters == {"console_session": "abc123"}


@pytest.mark.parametrize(("tracks", "expected"), [
    (["inbound_track", "outbound_track"], (TrackName.INBOUND, TrackName.OUTBOUND)),
    (["inbound_track"], (TrackName.INBOUND,)),
    (["both"], (TrackName.INBOUND, TrackName.OUTBOUND)),
    (["outbound", "both_tracks"], (TrackName.OUTBOUND, TrackName.INBOUND)),
])
def test_start_track_spellings(tracks: list[str], expected: tuple[TrackName, ...]) -> None:
    msg = sw("from_twilio_02_start.json")
    msg["start"]["tracks"] = tracks
    ev = signalwire.parse(msg)
    assert isinstance(ev, Started)
    assert ev.tracks == expected


@pytest.mark.parametrize(("fmt", "encoding", "rate"), [
    ({"encoding": "L16@16000h"}, "L16", 16000),
    ({"encoding": "L16@24000h", "channels": 1}, "L16", 24000),
    ({"encoding": "PCMU@8000h"}, "PCMU", 8000),
    ({"encoding": "pcma@8000"}, "PCMA", 8000),
    ({"encoding": "L16@16000h", "sampleRate": "16000"}, "L16", 16000),
    ({"encoding": "audio/L16", "sampleRate": 16000}, "L16", 16000),
    ({"encoding": "audio/x-mulaw", "sampleRate": "8000", "channels": "1"}, "PCMU", 8000),
])
def test_media_format_spellings(fmt: dict[str, Any], encoding: str, rate: int) -> None:
    msg = sw("from_twilio_02_start.json")
    msg["start"]["mediaFormat"] = fmt
    ev = signalwire.parse(msg)
    assert isinstance(ev, Started)
    assert (ev.media_format.encoding, ev.media_format.sample_rate) == (encoding, rate)
    assert ev.media_format.byte_order is None  # not documented: the decoder decides


def test_parse_does_not_change_the_frame() -> None:
    msg = sw("from_twilio_02_start.json")
    msg["start"]["mediaFormat"] = {"encoding": "L16@16000h"}
    msg["start"]["tracks"] = ["both_tracks"]
    before = copy.deepcopy(msg)
    signalwire.parse(msg)
    assert msg == before


@pytest.mark.parametrize(("raw", "expected"), [
    ("inbound_track", TrackName.INBOUND), ("outbound_track", TrackName.OUTBOUND),
    ("outbound", TrackName.OUTBOUND),
])
def test_media_track_spellings(raw: str, expected: TrackName) -> None:
    msg = sw("from_twilio_03_media_inbound.json")
    msg["media"]["track"] = raw
    ev = signalwire.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is expected
    assert ev.stream_id == STREAM


@pytest.mark.parametrize(("mutate", "kind"), [
    (lambda m: m["media"].update(payload="***"), "bad_base64"),
    (lambda m: m["media"].update(chunk=2**53), "bad_chunk"),
    (lambda m: m["media"].update(timestamp=-1), "bad_timestamp"),
    (lambda m: m.update(sequenceNumber="1e9"), "wrong_type"),
    (lambda m: m.update(sequenceNumber="9" * 30), "bad_sequence"),
    (lambda m: m["media"].update(track="both"), "bad_value"),
    (lambda m: m.update(streamSid="s" * 300), "oversize_field"),
    (lambda m: m.update(event="transcript"), "unknown_event"),
    (lambda m: m.pop("event"), "missing_field"),
])
def test_bad_media_frames(mutate: Any, kind: str) -> None:
    msg = sw("from_twilio_03_media_inbound.json")
    mutate(msg)
    with pytest.raises(FrameError) as info:
        signalwire.parse(msg)
    assert info.value.kind == kind


def test_unknown_event_names_signalwire() -> None:
    with pytest.raises(FrameError) as info:
        signalwire.parse({"event": "transcript", "streamSid": STREAM})
    assert "SignalWire" in str(info.value) and "Twilio" not in str(info.value)


@pytest.mark.parametrize(("mutate", "kind"), [
    (lambda s: s.update(mediaFormat={"encoding": "L16@999999h"}), "bad_rate"),
    (lambda s: s.update(mediaFormat={"encoding": "L16@16000h", "channels": 9}),
     "bad_channels"),
    (lambda s: s.update(mediaFormat="L16@16000h"), "wrong_type"),
    (lambda s: s.update(tracks=["both_tracks", "sideways"]), "bad_value"),
    (lambda s: s.update(tracks=["inbound"] * 65), "oversize_field"),
    (lambda s: s.update(customParameters={f"p{i}": "v" for i in range(65)}), "oversize_field"),
    (lambda s: s.update(callSid=CALL + "x" * 300), "oversize_field"),
])
def test_bad_start_frames(mutate: Any, kind: str) -> None:
    msg = sw("from_twilio_02_start.json")
    mutate(msg["start"])
    with pytest.raises(FrameError) as info:
        signalwire.parse(msg)
    assert info.value.kind == kind


def test_start_that_is_not_an_object() -> None:
    with pytest.raises(FrameError) as info:
        signalwire.parse({"event": "start", "streamSid": STREAM, "start": []})
    assert info.value.kind == "wrong_type"


# --- handshake -------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    ([("X-SignalWire-Signature", "abc=")], True),
    ([("host", "x"), ("x-signalwire-sha256-signature", "abc")], True),
    ([("X-Twilio-Signature", "abc=")], False),
    ([("Authorization", "Bearer t")], False),
    ([], False),
])
def test_looks_like_handshake(headers: list[tuple[str, str]], expected: bool) -> None:
    assert signalwire.looks_like_handshake(headers) is expected


# --- commands --------------------------------------------------------------------------------


def test_encode_matches_twilio_fixtures() -> None:
    media = load(TWILIO, "to_twilio_01_media.json")
    payload = base64.b64decode(media["media"]["payload"])
    out = json.loads(signalwire.encode_command(SendMedia(payload), STREAM))
    assert out == dict(media, streamSid=STREAM)
    out = json.loads(signalwire.encode_command(SendMark("my label"), STREAM))
    assert out == dict(load(TWILIO, "to_twilio_02_mark.json"), streamSid=STREAM)
    out = json.loads(signalwire.encode_command(SendClear(), STREAM))
    assert out == dict(load(TWILIO, "to_twilio_03_clear.json"), streamSid=STREAM)


def test_signalwire_capabilities() -> None:
    assert signalwire.SENDS_AUDIO_BACK and signalwire.HAS_MARK and signalwire.HAS_CLEAR
    assert "<Connect><Stream>" in (signalwire.__doc__ or "")
