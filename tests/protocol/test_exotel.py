"""Exotel AgentStream frames (PROTOCOLS.md section 3.2) against the copied fixtures."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from helpers import zero_crossing_frequency
from support import all_fixtures, fixtures_dir, load_fixture

from console.audio.codecs import make_decoder
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
from console.protocol import exotel, telnyx, twilio
from console.protocol.base import FrameError, media_frame

STREAM_SID = "MZxxxxxxxxxxxxxxxxxxxxxxxx"
CALL_SID = "CAxxxxxxxxxxxxxxxxxxxxxxxx"
ACCOUNT_SID = "ACxxxxxxxxxxxxxxxxxxxxxxxx"

ROOT = fixtures_dir()
FIXTURES = ROOT / "exotel"
FROM_NAMES = sorted(p.name for p in FIXTURES.glob("from_exotel_*.json"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_fixture("exotel", name)
    return data


def test_exotel_fixture_folder_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.json")}
    assert len(FROM_NAMES) == 6
    assert "from_exotel_06_stop_UNVERIFIED.json" in names
    assert len([n for n in names if n.startswith("to_exotel_")]) == 3


@pytest.mark.parametrize("name", FROM_NAMES)
def test_every_exotel_from_fixture_parses(name: str) -> None:
    msg = load(name)
    event = exotel.parse(msg)
    expected = {"connected": Connected, "start": Started, "media": Media, "dtmf": Dtmf,
                "mark": Mark, "stop": Stopped}[msg["event"]]
    assert isinstance(event, expected)
    if isinstance(event, Connected):
        # {"event": "connected"} names nobody: detection waits for the start frame.
        assert not exotel.looks_like(msg)
    else:
        assert event.stream_id == STREAM_SID
        assert exotel.looks_like(msg)


# --- frames from Exotel ----------------------------------------------------------------------


def test_exotel_connected() -> None:
    assert exotel.parse(load("from_exotel_01_connected.json")) == Connected(Provider.EXOTEL)
    with_version = exotel.parse({"event": "connected", "version": "1"})
    assert with_version == Connected(Provider.EXOTEL, "1")


def test_exotel_start() -> None:
    ev = exotel.parse(load("from_exotel_02_start.json"))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.EXOTEL
    assert ev.stream_id == STREAM_SID
    assert ev.call_key == CALL_SID
    assert ev.call_control_id == CALL_SID
    assert ev.account_id == ACCOUNT_SID
    assert (ev.from_number, ev.to_number) == ("+919876543210", "+918047491899")
    assert ev.custom_parameters == {"key1": "value1"}
    assert ev.sequence == 1
    assert ev.tracks == ()
    fmt = ev.media_format
    # audio/x-raw is raw slin: 16-bit little-endian, and sample_rate arrives as a string.
    assert (fmt.encoding, fmt.sample_rate, fmt.channels, fmt.byte_order) == (
        "L16", 8000, 1, "little")
    assert fmt.raw_encoding == "audio/x-raw"


@pytest.mark.parametrize(
    ("media_format", "expected"),
    [
        ({"encoding": "audio/x-raw", "sample_rate": "16000", "bit_rate": "16"},
         ("L16", 16000, "little")),
        ({"encoding": "audio/x-raw", "sample_rate": 24000, "bit_rate": 16},
         ("L16", 24000, "little")),
        ({"encoding": "audio/x-mulaw;rate=8000"}, ("PCMU", 8000, None)),
        ({"encoding": "audio/x-mulaw", "sample_rate": "8000", "bit_rate": "8"},
         ("PCMU", 8000, None)),
        # The extension guide's audio/L16: byte order not documented, the decoder decides.
        ({"encoding": "audio/L16;rate=16000"}, ("L16", 16000, None)),
        ({"encoding": "audio/L16", "sample_rate": "8000"}, ("L16", 8000, None)),
        ({"sample_rate": "8000"}, ("L16", 8000, "little")),
        (None, ("L16", 8000, "little")),
    ],
)
def test_exotel_start_media_format_variants(media_format: dict[str, Any] | None,
                                            expected: tuple[str, int, str | None]) -> None:
    msg = load("from_exotel_02_start.json")
    if media_format is None:
        del msg["start"]["media_format"]
    else:
        msg["start"]["media_format"] = media_format
    ev = exotel.parse(msg)
    assert isinstance(ev, Started)
    fmt = ev.media_format
    assert (fmt.encoding, fmt.sample_rate, fmt.byte_order) == expected


def test_exotel_start_optional_fields_missing_and_extras() -> None:
    msg = load("from_exotel_02_start.json")
    for key in ("from", "to", "custom_parameters", "account_sid"):
        del msg["start"][key]
    del msg["stream_sid"]  # only inside start
    msg["sequence_number"] = 1  # a number instead of a string
    msg["start"]["tracks"] = ["inbound", "outbound"]
    msg["start"]["brand_new"] = {"x": 1}
    msg["extra"] = [1, 2, 3]
    ev = exotel.parse(msg)
    assert isinstance(ev, Started)
    assert ev.stream_id == STREAM_SID
    assert (ev.from_number, ev.to_number, ev.account_id) == (None, None, None)
    assert ev.custom_parameters == {}
    assert ev.sequence == 1
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)


def test_exotel_start_without_call_sid_keys_on_the_stream() -> None:
    msg = load("from_exotel_02_start.json")
    del msg["start"]["call_sid"]
    ev = exotel.parse(msg)
    assert isinstance(ev, Started)
    assert ev.call_key == STREAM_SID
    assert ev.call_control_id is None


def test_exotel_media_slin_tone() -> None:
    msg = load("from_exotel_03_media.json")
    ev = exotel.parse(msg)
    assert isinstance(ev, Media)
    # No track field unless both tracks are streamed: the inbound one.
    assert ev.track is TrackName.INBOUND
    assert (ev.chunk, ev.timestamp, ev.sequence) == (2, 200, 3)
    assert len(ev.payload) == 3200  # about 100 ms per message (200 ms of 8 kHz slin here)
    start = exotel.parse(load("from_exotel_02_start.json"))
    assert isinstance(start, Started)
    pcm = make_decoder(start.media_format).decode(ev.payload)
    assert pcm.size == 1600
    assert zero_crossing_frequency(pcm, 8000) == pytest.approx(440, abs=10)
    assert 7000 < int(np.abs(pcm).max()) <= 8001  # read little-endian: a clean tone


def test_exotel_media_reads_the_same_through_the_servers_media_path() -> None:
    msg = load("from_exotel_03_media.json")
    ev = exotel.parse(msg)
    assert isinstance(ev, Media)
    assert media_frame(msg) == (ev.track, ev.chunk, ev.timestamp, ev.payload)


@pytest.mark.parametrize(("track", "expected"), [("inbound", TrackName.INBOUND),
                                                 ("outbound", TrackName.OUTBOUND),
                                                 ("outbound_track", TrackName.OUTBOUND)])
def test_exotel_media_with_track_when_both_are_streamed(track: str,
                                                        expected: TrackName) -> None:
    msg = load("from_exotel_03_media.json")
    msg["media"]["track"] = track
    msg["media"].update(chunk=5, timestamp=500)
    ev = exotel.parse(msg)
    assert isinstance(ev, Media)
    assert (ev.track, ev.chunk, ev.timestamp) == (expected, 5, 500)


def test_exotel_dtmf() -> None:
    ev = exotel.parse(load("from_exotel_04_dtmf.json"))
    assert ev == Dtmf(STREAM_SID, "5", None, None, 7)
    no_duration = exotel.parse({"event": "dtmf", "stream_sid": "s", "dtmf": {"digit": "*"}})
    assert no_duration == Dtmf("s", "*", None, None, None)


def test_exotel_mark() -> None:
    ev = exotel.parse(load("from_exotel_05_mark.json"))
    assert ev == Mark(STREAM_SID, "whisper-001-end", 15)


def test_exotel_stop_with_or_without_its_unverified_body() -> None:
    assert exotel.parse(load("from_exotel_06_stop_UNVERIFIED.json")) == Stopped(STREAM_SID, 99)
    assert exotel.parse({"event": "stop", "stream_sid": STREAM_SID}) == Stopped(STREAM_SID)
    odd = {"event": "stop", "stream_sid": STREAM_SID, "stop": "callended"}
    assert exotel.parse(odd) == Stopped(STREAM_SID)


def test_exotel_error_frame() -> None:
    ev = exotel.parse({"event": "error", "stream_sid": STREAM_SID,
                       "error": {"code": 4001, "message": "chunk too small"}})
    assert ev == ProviderError(STREAM_SID, 4001, "chunk too small", "")


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda m: m["media"].update(payload="not base64!"), "bad_base64"),
        (lambda m: m["media"].update(payload=None), "wrong_type"),
        (lambda m: m.update(media=[1]), "wrong_type"),
        (lambda m: m.update(sequence_number=False), "wrong_type"),
        (lambda m: m.update(sequence_number="-3"), "bad_sequence"),
        (lambda m: m.update(sequence_number=1e40), "bad_sequence"),
        (lambda m: m["media"].update(chunk="1" * 30), "bad_chunk"),
        (lambda m: m["media"].update(chunk={"n": 2}), "wrong_type"),
        (lambda m: m["media"].update(timestamp="200ms"), "wrong_type"),
        (lambda m: m["media"].update(timestamp=-200), "bad_timestamp"),
        (lambda m: m["media"].update(track="left"), "bad_value"),
        (lambda m: m.update(stream_sid=["MZ"]), "wrong_type"),
        (lambda m: m.update(stream_sid="M" * 1000), "oversize_field"),
        (lambda m: m.update(event="transcript"), "unknown_event"),
        (lambda m: m.update(event=None), "missing_field"),
    ],
)
def test_exotel_bad_media_frames(mutate: Any, kind: str) -> None:
    msg = load("from_exotel_03_media.json")
    mutate(msg)
    with pytest.raises(FrameError) as info:
        exotel.parse(msg)
    assert info.value.kind == kind
    assert len(str(info.value)) < 200


def _start_with(**changes: Any) -> dict[str, Any]:
    msg = load("from_exotel_02_start.json")
    for key, value in changes.items():
        if key == "start":
            msg["start"] = value
        elif key == "fmt":
            msg["start"]["media_format"] = value
        else:
            msg["start"][key] = value
    return msg


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        ({"event": "start", "start": {"call_sid": CALL_SID}}, "missing_field"),
        (_start_with(start="MZ"), "wrong_type"),
        (_start_with(fmt="audio/x-raw"), "wrong_type"),
        (_start_with(fmt={"encoding": "audio/x-raw", "sample_rate": "99999999"}), "bad_rate"),
        (_start_with(fmt={"encoding": "audio/x-raw", "sample_rate": "eight"}), "wrong_type"),
        (_start_with(fmt={"encoding": "audio/x-raw", "channels": 99}), "bad_channels"),
        (_start_with(fmt={"encoding": "audio/x-raw", "bit_rate": "8"}), "bad_value"),
        (_start_with(fmt={"encoding": "audio/x-raw", "bit_rate": "sixteen"}), "wrong_type"),
        (_start_with(fmt={"encoding": 16}), "missing_field"),
        (_start_with(call_sid=12.5), "wrong_type"),
        (_start_with(to="9" * 300), "oversize_field"),
        (_start_with(custom_parameters={f"k{i}": "v" for i in range(65)}), "oversize_field"),
        (_start_with(custom_parameters={"k": "v" * 5000}), "oversize_field"),
        (_start_with(tracks=["both"]), "bad_value"),
    ],
)
def test_exotel_bad_start_frames(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        exotel.parse(msg)
    assert info.value.kind == kind


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        ({"event": "dtmf", "dtmf": {"digit": "5", "duration": "-100"}}, "bad_value"),
        ({"event": "dtmf", "dtmf": {"digit": "5", "duration": 1e300}}, "bad_value"),
        ({"event": "dtmf", "dtmf": {"digit": "5", "duration": "long"}}, "wrong_type"),
        ({"event": "dtmf", "dtmf": {"digit": "55"}}, "bad_value"),
        ({"event": "dtmf", "dtmf": []}, "wrong_type"),
        ({"event": "dtmf"}, "wrong_type"),
        ({"event": "mark", "mark": {"name": None}}, "wrong_type"),
        ({"event": "mark", "mark": {"name": "m" * 300}}, "oversize_field"),
        ({"event": "mark", "mark": "whisper"}, "wrong_type"),
    ],
)
def test_exotel_bad_dtmf_and_mark_frames(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        exotel.parse(msg)
    assert info.value.kind == kind


# --- commands to Exotel ----------------------------------------------------------------------


def test_exotel_encode_media_matches_fixture() -> None:
    expected = load("to_exotel_01_media.json")
    payload = base64.b64decode(expected["media"]["payload"])
    assert len(payload) == 3200
    assert json.loads(exotel.encode_command(SendMedia(payload), STREAM_SID)) == expected


def test_exotel_encode_mark_matches_fixture() -> None:
    out = exotel.encode_command(SendMark("whisper-001-end"), STREAM_SID)
    assert json.loads(out) == load("to_exotel_02_mark.json")


def test_exotel_encode_clear_matches_fixture() -> None:
    out = exotel.encode_command(SendClear(), STREAM_SID)
    assert json.loads(out) == load("to_exotel_03_clear.json")
    assert json.loads(exotel.encode_command(SendClear(), None)) == {"event": "clear",
                                                                    "stream_sid": ""}


@pytest.mark.parametrize("size", [320, 640, 3200, 99_840])
def test_exotel_encode_takes_whole_320_byte_blocks(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    out = json.loads(exotel.encode_command(SendMedia(payload), STREAM_SID))
    assert base64.b64decode(out["media"]["payload"]) == payload


@pytest.mark.parametrize("size", [0, 160, 3201, 4096, 100_160])
def test_exotel_encode_refuses_chunks_exotel_would_play_with_gaps(size: int) -> None:
    with pytest.raises(FrameError) as info:
        exotel.encode_command(SendMedia(b"\x00" * size), STREAM_SID)
    assert info.value.kind == "bad_payload"
    assert str(size) in str(info.value)


def test_exotel_encode_rejects_non_commands() -> None:
    with pytest.raises(TypeError):
        exotel.encode_command("clear", STREAM_SID)  # type: ignore[arg-type]


def test_exotel_mark_round_trip() -> None:
    sent = json.loads(exotel.encode_command(SendMark("w-1"), STREAM_SID))
    echo = {"event": "mark", "sequence_number": "20", **sent}
    assert exotel.parse(echo) == Mark(STREAM_SID, "w-1", 20)


def test_exotel_capabilities() -> None:
    assert exotel.SENDS_AUDIO_BACK and exotel.HAS_MARK and exotel.HAS_CLEAR
    assert exotel.CHUNK_BYTES == 320 and exotel.MIN_CHUNK_BYTES % exotel.CHUNK_BYTES == 0
    assert exotel.__doc__ is not None and "Reach rule" in exotel.__doc__


# --- detection -------------------------------------------------------------------------------


def test_exotel_looks_like_claims_no_other_platforms_fixture() -> None:
    checked = 0
    for path in all_fixtures():
        msg = json.loads(path.read_text())
        if not isinstance(msg, dict):
            continue
        platform = path.parent.name
        if platform == "exotel":
            continue
        assert not exotel.looks_like(msg), f"{platform}/{path.name}"
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("name", FROM_NAMES)
def test_twilio_and_telnyx_do_not_claim_exotel_frames(name: str) -> None:
    msg = load(name)
    assert not twilio.looks_like(msg)
    assert not telnyx.looks_like(msg)


@pytest.mark.parametrize(
    "msg",
    [
        {"event": "connected"},
        {"event": "start", "stream_id": "s"},  # Telnyx
        {"event": "start", "start": {"streamSid": "MZ", "callSid": "CA"}},  # Twilio
        {"stream_sid": "MZ"},  # no event name
        {"event": "start", "start": {"account_sid": "AC"}},
    ],
)
def test_exotel_looks_like_refuses(msg: dict[str, Any]) -> None:
    assert not exotel.looks_like(msg)
