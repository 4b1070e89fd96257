"""Vonage Voice API WebSocket frames (PROTOCOLS.md 3.3): JSON text frames against the
fixtures, binary L16 audio frames built from the documented format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import fixtures_dir

from console.audio.codecs import make_decoder, make_encoder
from console.core.events import (
    Dtmf,
    Mark,
    Media,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    TrackName,
)
from console.protocol import vonage
from console.protocol.base import MAX_PARAMS, MAX_TEXT, MAX_VALUE, FrameError

ROOT = fixtures_dir()
FIXTURES = ROOT / "vonage"
LEG = "63f61863-4a51-4f6b-86e1-46edebcf9356"
CONVERSATION = "CON-f972836a-550f-45fa-956c-12a2ab5b7d22"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def frame(name: str) -> dict[str, Any]:
    """A fixture as the wire carries it: without the fixture's own `_comment`."""
    return {k: v for k, v in load(name).items() if not k.startswith("_")}


def connected(**headers: Any) -> dict[str, Any]:
    return {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", **headers}


def tone(rate: int, ms: int = 20, freq: float = 440.0) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


def test_vonage_fixture_folder_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.json")}
    assert {"from_vonage_01_first_text_message_legacy.json",
            "from_vonage_01b_websocket_connected.json", "to_vonage_01_clear.json",
            "to_vonage_02_notify_UNVERIFIED.json", "ncco_connect_websocket.json"} <= names
    assert len([n for n in names if n.startswith("from_vonage_")]) >= 5


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("from_vonage_*.json")))
def test_every_vonage_from_fixture_parses(name: str) -> None:
    msg = frame(name)
    assert vonage.looks_like(msg)
    event = vonage.parse(msg)
    expected = {
        None: Started,
        "websocket:connected": Started,
        "websocket:dtmf": Dtmf,
        "websocket:cleared": Mark,
        "websocket:notify": Mark,
    }[msg.get("event")]
    assert type(event) is expected


def _all_frames() -> list[Path]:
    return sorted(p for p in ROOT.glob("*/*.json"))


@pytest.mark.parametrize("path", _all_frames(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vonage_looks_like_only_vonage_frames(path: Path) -> None:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        return  # the NCCO is a list: never a frame
    own = path.parent.name == "vonage" and path.name.startswith("from_")
    assert vonage.looks_like(data) is own


def test_all_frames_cover_every_platform() -> None:
    assert {p.parent.name for p in _all_frames()} >= {"telnyx", "twilio", "vonage"}


# --- the first text frame --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["from_vonage_01_first_text_message_legacy.json",
                                  "from_vonage_01b_websocket_connected.json"])
def test_first_frame_both_shapes(name: str) -> None:
    ev = vonage.parse(frame(name))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.VONAGE
    fmt = ev.media_format
    assert (fmt.encoding, fmt.sample_rate, fmt.channels) == ("L16", 16000, 1)
    assert fmt.byte_order == "little"  # Vonage documents little-endian [V3]
    assert fmt.raw_encoding == "audio/l16;rate=16000"
    assert ev.tracks == (TrackName.INBOUND,)
    assert ev.custom_parameters == {"app": "demo"}
    # No id in the headers: a fresh one, the same for stream and call.
    assert ev.stream_id.startswith(vonage.FALLBACK_PREFIX)
    assert len(ev.stream_id) == len(vonage.FALLBACK_PREFIX) + 32
    assert ev.call_key == ev.stream_id
    assert ev.call_control_id is None
    assert (ev.from_number, ev.to_number) == (None, None)


def test_sockets_without_ids_never_share_a_call() -> None:
    a = vonage.parse(frame("from_vonage_01b_websocket_connected.json"))
    b = vonage.parse(frame("from_vonage_01b_websocket_connected.json"))
    assert isinstance(a, Started) and isinstance(b, Started)
    assert a.call_key != b.call_key
    assert a.stream_id != b.stream_id


def test_first_frame_is_the_ncco_headers_with_the_content_type() -> None:
    # Legacy docs [V2]: the NCCO's headers merged with its content-type.
    endpoint = load("ncco_connect_websocket.json")[0]["endpoint"][0]
    first = {**endpoint["headers"], "content-type": endpoint["content-type"]}
    ev = vonage.parse(first)
    assert isinstance(ev, Started)
    assert ev.custom_parameters == endpoint["headers"]
    assert ev.media_format.sample_rate == 16000


def test_ids_and_numbers_from_headers() -> None:
    ev = vonage.parse(connected(uuid=LEG, conversation_uuid=CONVERSATION, **{
        "from": "447700900000", "to": "447700900001", "coach_call": "c1"}))
    assert isinstance(ev, Started)
    assert ev.stream_id == LEG
    assert ev.call_control_id == LEG
    assert ev.call_key == CONVERSATION
    assert (ev.from_number, ev.to_number) == ("447700900000", "447700900001")
    # Every header is a custom parameter (coach_call groups legs in the registry).
    assert ev.custom_parameters["coach_call"] == "c1"
    assert ev.custom_parameters["uuid"] == LEG


def test_only_a_conversation_id_keys_stream_and_call() -> None:
    ev = vonage.parse(connected(Conversation_UUID=CONVERSATION))  # header case varies
    assert isinstance(ev, Started)
    assert ev.stream_id == ev.call_key == CONVERSATION
    assert ev.call_control_id is None


def test_header_variants() -> None:
    ev = vonage.parse(connected(uuid=12345, meta={"team": "a", "n": [1, 2]}, flag=True,
                                empty=None))
    assert isinstance(ev, Started)
    assert ev.stream_id == "12345"
    assert json.loads(ev.custom_parameters["meta"]) == {"team": "a", "n": [1, 2]}
    assert ev.custom_parameters["flag"] == "True"
    assert ev.custom_parameters["empty"] == ""


@pytest.mark.parametrize(("ctype", "rate", "order"), [
    ("audio/l16;rate=8000", 8000, "little"),
    ("audio/l16;rate=16000", 16000, "little"),
    ("audio/l16;rate=24000", 24000, "little"),  # newer docs, unverified
    ("Audio/L16; rate=16000", 16000, "little"),
    ("audio/l16", 8000, "little"),
    ("audio/l16;rate=16000;endianness=big", 16000, "big"),  # an explicit order is kept
])
def test_content_type_variants(ctype: str, rate: int, order: str) -> None:
    ev = vonage.parse({"event": "websocket:connected", "content-type": ctype})
    assert isinstance(ev, Started)
    assert (ev.media_format.encoding, ev.media_format.sample_rate) == ("L16", rate)
    assert ev.media_format.byte_order == order


def test_extra_fields_on_events_are_ignored() -> None:
    ev = vonage.parse({"event": "websocket:dtmf", "digit": "#", "duration": 260,
                       "uuid": LEG, "timestamp": "2026-01-01T00:00:00Z", "x": [1]})
    assert ev == Dtmf(None, "#")


# --- events ----------------------------------------------------------------------------------


def test_dtmf_fixture() -> None:
    assert vonage.parse(frame("from_vonage_02_websocket_dtmf_UNVERIFIED.json")) == Dtmf(None,
                                                                                       "5")


@pytest.mark.parametrize(("msg", "digit"), [
    ({"event": "websocket:dtmf", "dtmf": {"digit": "7", "duration": 100}}, "7"),
    ({"event": "websocket:dtmf", "digit": 9}, "9"),
    ({"event": "websocket:dtmf", "digit": "*"}, "*"),
    ({"event": "websocket:dtmf", "digit": "a"}, "A"),
])
def test_dtmf_variants(msg: dict[str, Any], digit: str) -> None:
    ev = vonage.parse(msg)
    assert isinstance(ev, Dtmf)
    assert ev.digit == digit
    assert ev.stream_id is None and ev.track is None


def test_notify_and_cleared_fixtures() -> None:
    assert vonage.parse(frame("from_vonage_04_websocket_notify_UNVERIFIED.json")) == Mark(
        None, "whisper-001-end")
    assert vonage.parse(frame("from_vonage_03_websocket_cleared_UNVERIFIED.json")) == Mark(
        None, vonage.CLEARED_MARK)


@pytest.mark.parametrize("msg", [
    {"event": "websocket:notify", "payload": {"name": "m1"}},
    {"event": "websocket:notify", "payload": "m1"},
    {"event": "websocket:notify", "marker": "m1"},
    {"event": "websocket:notify", "payload": {"marker": "m1", "extra": 1}},
])
def test_notify_variants(msg: dict[str, Any]) -> None:
    assert vonage.parse(msg) == Mark(None, "m1")


def test_notify_round_trip_gives_back_the_mark_sent() -> None:
    sent = json.loads(vonage.encode_command(SendMark("whisper-7-end")))  # type: ignore[arg-type]
    echo = {"event": "websocket:notify", "payload": sent["payload"]}
    assert vonage.parse(echo) == Mark(None, "whisper-7-end")


# --- bad frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(("msg", "kind"), [
    ({"event": "websocket:media:update"}, "unknown_event"),
    ({"event": "media", "content-type": "audio/l16;rate=16000"}, "unknown_event"),
    ({"event": 5}, "wrong_type"),
    ({"app": "demo"}, "missing_field"),
    ({}, "missing_field"),
    ({"event": "websocket:connected"}, "missing_field"),
    ({"event": "websocket:connected", "content-type": 16000}, "wrong_type"),
    ({"event": "websocket:connected", "content-type": ""}, "missing_field"),
    ({"event": "websocket:connected", "content-type": "audio/l16;rate=" + "9" * 300},
     "oversize_field"),
    ({"event": "websocket:connected", "content-type": "audio/l16;rate=1000000000"},
     "bad_rate"),
    ({"event": "websocket:connected", "content-type": "audio/l16;rate=fast"}, "wrong_type"),
    (connected(uuid="u" * (MAX_TEXT + 1)), "oversize_field"),
    (connected(uuid=10**20), "oversize_field"),
    (connected(uuid=True), "wrong_type"),
    (connected(note="x" * (MAX_VALUE + 1)), "oversize_field"),
    (connected(**{f"h{i}": "v" for i in range(MAX_PARAMS + 1)}), "oversize_field"),
    ({"event": "websocket:dtmf"}, "missing_field"),
    ({"event": "websocket:dtmf", "digit": "55"}, "bad_value"),
    ({"event": "websocket:dtmf", "digit": "x"}, "bad_value"),
    ({"event": "websocket:dtmf", "digit": ["5"]}, "wrong_type"),
    ({"event": "websocket:dtmf", "digit": "5" * 10_000}, "oversize_field"),
    ({"event": "websocket:notify"}, "missing_field"),
    ({"event": "websocket:notify", "payload": {"other": 1}}, "missing_field"),
    ({"event": "websocket:notify", "payload": {"marker": "m" * (MAX_TEXT + 1)}},
     "oversize_field"),
    ({"event": "websocket:notify", "payload": {"marker": {"a": 1}}}, "wrong_type"),
])
def test_bad_text_frames(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        vonage.parse(msg)
    assert info.value.kind == kind
    assert len(str(info.value)) < 200  # nothing a peer sent is echoed at length


# --- binary audio ----------------------------------------------------------------------------


def test_binary_frame_is_inbound_media() -> None:
    pcm = tone(16000)
    data = pcm.astype("<i2").tobytes()
    assert len(data) == vonage.frame_bytes(16000) == 640
    ev = vonage.parse_binary(data)
    assert ev == Media(None, TrackName.INBOUND, data)
    assert (ev.chunk, ev.timestamp, ev.sequence) == (None, None, None)


def test_binary_frame_decodes_little_endian_with_the_start_format() -> None:
    start = vonage.parse(connected())
    assert isinstance(start, Started)
    pcm = tone(16000)
    ev = vonage.parse_binary(pcm.astype("<i2").tobytes())
    decoded = make_decoder(start.media_format).decode(ev.payload)
    assert np.array_equal(decoded, pcm)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_binary_frame_buffer_types(kind: Any) -> None:
    ev = vonage.parse_binary(kind(b"\x01\x00\x02\x00"))
    assert ev.payload == b"\x01\x00\x02\x00"
    assert type(ev.payload) is bytes


def test_frame_bytes() -> None:
    assert vonage.frame_bytes(8000) == 320
    assert vonage.frame_bytes(24000) == 960
    assert vonage.frame_bytes(16000, 100) == 3200


@pytest.mark.parametrize(("data", "limit", "kind"), [
    (b"\x00" * 641, vonage.MAX_AUDIO_BYTES, "bad_payload"),
    (b"", vonage.MAX_AUDIO_BYTES, "bad_payload"),
    (b"\x00" * (vonage.MAX_AUDIO_BYTES + 2), vonage.MAX_AUDIO_BYTES, "oversize"),
    (b"\x00" * 642, 640, "oversize"),
    ("\x00\x00", vonage.MAX_AUDIO_BYTES, "wrong_type"),
])
def test_bad_binary_frames(data: Any, limit: int, kind: str) -> None:
    with pytest.raises(FrameError) as info:
        vonage.parse_binary(data, limit)
    assert info.value.kind == kind


def test_binary_frame_at_the_limit_passes() -> None:
    assert len(vonage.parse_binary(b"\x00" * 640, 640).payload) == 640


# --- commands to Vonage ----------------------------------------------------------------------


def test_encode_media_is_the_raw_bytes_the_console_encoded() -> None:
    start = vonage.parse(connected())
    assert isinstance(start, Started)
    fmt = start.media_format
    pcm = tone(fmt.sample_rate)
    payload = make_encoder("L16", fmt.sample_rate, fmt.byte_order or "big").encode(pcm)
    out = vonage.encode_command(SendMedia(payload), "ignored")
    assert isinstance(out, bytes)
    assert out == payload
    # What Vonage would send us the same way reads back as the same samples.
    back = vonage.parse_binary(out)
    assert np.array_equal(make_decoder(fmt).decode(back.payload), pcm)


def test_encode_odd_audio_is_refused() -> None:
    with pytest.raises(FrameError) as info:
        vonage.encode_command(SendMedia(b"\x00\x01\x02"))
    assert info.value.kind == "bad_payload"


def test_encode_clear_matches_fixture() -> None:
    out = vonage.encode_command(SendClear(), None)
    assert isinstance(out, str)
    assert json.loads(out) == load("to_vonage_01_clear.json")


def test_encode_mark_is_notify_and_matches_fixture() -> None:
    out = vonage.encode_command(SendMark("whisper-001-end"), None)
    assert isinstance(out, str)
    assert json.loads(out) == load("to_vonage_02_notify_UNVERIFIED.json")


def test_encode_rejects_non_commands() -> None:
    with pytest.raises(TypeError):
        vonage.encode_command(object())  # type: ignore[arg-type]


def test_vonage_capabilities() -> None:
    assert vonage.SENDS_AUDIO_BACK is True
    assert vonage.HAS_MARK is True
    assert vonage.HAS_CLEAR is True
    assert "participant" in (vonage.__doc__ or "")  # the reach rule is stated
