"""Telnyx Media Streaming frames (PROTOCOLS.md section 1) against the shared fixtures."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import fixtures_dir, load_fixture

from console.audio.codecs import alaw_decode, ulaw_decode
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
from console.protocol import telnyx
from console.protocol.base import FrameError

STREAM_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
CALL_SESSION_ID = "ff55a038-6f5d-11ef-9692-02420aeffb1f"
USER_ID = "3E6F995F-85F7-4705-9741-53B116D28237"


def _fixtures_root() -> Path:
    return fixtures_dir()


FIXTURES = _fixtures_root() / "telnyx"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_fixture("telnyx", name)
    return data


def without_comments(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def dominant_frequency(pcm: np.ndarray, rate: int) -> float:
    """Best least-squares sinusoid fit over 200..1000 Hz (works on 20 ms snippets too)."""
    x = pcm.astype(np.float64)
    x -= x.mean()
    t = np.arange(x.size) / rate
    best_f, best_res = 0.0, np.inf
    for f in np.arange(200.0, 1000.0, 2.0):
        basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
        coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
        res = float(np.sum((x - basis @ coef) ** 2))
        if res < best_res:
            best_f, best_res = f, res
    return best_f


def test_fixture_folder_is_found_and_complete() -> None:
    names = {p.name for p in FIXTURES.glob("from_telnyx_*.json")}
    assert "from_telnyx_02_start_pcmu.json" in names
    assert len(names) >= 11


@pytest.mark.parametrize(
    "name", sorted(p.name for p in _fixtures_root().joinpath("telnyx").glob("from_telnyx_*.json"))
)
def test_every_from_fixture_parses_to_a_typed_event(name: str) -> None:
    msg = load(name)
    event = telnyx.parse(msg)
    expected = {
        "connected": Connected,
        "start": Started,
        "media": Media,
        "dtmf": Dtmf,
        "mark": Mark,
        "error": ProviderError,
        "stop": Stopped,
    }[msg["event"]]
    assert isinstance(event, expected)
    assert telnyx.looks_like(msg) == ("stream_id" in msg)
    if "stream_id" in msg and not isinstance(event, Connected):
        assert event.stream_id == msg["stream_id"]


# --- connected -------------------------------------------------------------------------------


def test_connected_plain() -> None:
    ev = telnyx.parse(load("from_telnyx_01_connected.json"))
    assert ev == Connected(Provider.TELNYX, "1.0.0", None)


def test_connected_with_auth_token() -> None:
    ev = telnyx.parse(load("from_telnyx_01b_connected_with_auth_token.json"))
    assert isinstance(ev, Connected)
    assert ev.provider is Provider.TELNYX
    assert ev.version == "1.0.0"
    assert ev.auth_token == "example-stream-auth-token"
    headers = load("handshake_headers_example.json")
    assert ev.auth_token == headers[telnyx.AUTH_HEADER]


def test_connected_without_version() -> None:
    ev = telnyx.parse({"event": "connected"})
    assert ev == Connected(Provider.TELNYX, None, None)


# --- start -----------------------------------------------------------------------------------


def test_start_pcmu_full() -> None:
    ev = telnyx.parse(load("from_telnyx_02_start_pcmu.json"))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.TELNYX
    assert ev.stream_id == STREAM_ID  # top level, not inside start
    assert ev.call_control_id == CALL_CONTROL_ID
    assert ev.call_key == CALL_SESSION_ID
    assert ev.account_id == USER_ID
    assert ev.from_number == "+13122010094"
    assert ev.to_number == "+13122123456"
    assert ev.tags == ("TAG1", "TAG2")
    assert ev.client_state == "aGF2ZSBhIG5pY2UgZGF5ID1d"
    assert ev.custom_parameters == {"customer_id": "customer_123"}
    assert ev.sequence == 1
    assert ev.tracks == ()
    fmt = ev.media_format
    assert (fmt.encoding, fmt.sample_rate, fmt.channels) == ("PCMU", 8000, 1)
    assert fmt.byte_order is None
    assert fmt.raw_encoding == "PCMU"


def test_start_l16_16k_with_null_from() -> None:
    ev = telnyx.parse(load("from_telnyx_02c_start_l16_16k.json"))
    assert isinstance(ev, Started)
    assert ev.stream_id == STREAM_ID
    assert ev.from_number is None
    assert ev.to_number == "+13122123456"
    assert ev.call_key == CALL_SESSION_ID
    assert ev.call_control_id == CALL_CONTROL_ID
    assert ev.custom_parameters == {}
    assert ev.tags == ()
    assert ev.client_state is None
    fmt = ev.media_format
    assert (fmt.encoding, fmt.sample_rate, fmt.channels) == ("L16", 16000, 1)
    assert fmt.byte_order is None  # not stated by Telnyx: left to the decoder


def _start(**fmt: Any) -> dict[str, Any]:
    msg = load("from_telnyx_02_start_pcmu.json")
    msg["start"]["media_format"] = fmt
    return msg


def test_start_missing_from_and_optional_fields() -> None:
    # Older docs: only user_id, call_control_id, client_state, media_format.
    msg = {
        "event": "start",
        "sequence_number": "1",
        "stream_id": STREAM_ID,
        "start": {
            "user_id": USER_ID,
            "call_control_id": CALL_CONTROL_ID,
            "client_state": "c3RhdGU=",
            "media_format": {"encoding": "PCMA", "sample_rate": 8000, "channels": 1},
        },
    }
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.from_number is None and ev.to_number is None
    assert ev.media_format.encoding == "PCMA"
    # No call_session_id: the leg's call_control_id keys the call.
    assert ev.call_key == CALL_CONTROL_ID
    assert ev.client_state == "c3RhdGU="


def test_start_stream_id_nested_only_is_accepted() -> None:
    msg = load("from_telnyx_02_start_pcmu.json")
    del msg["stream_id"]
    msg["start"]["stream_id"] = "nested-id"
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.stream_id == "nested-id"


def test_start_top_level_stream_id_wins_over_nested() -> None:
    msg = load("from_telnyx_02_start_pcmu.json")
    msg["start"]["stream_id"] = "nested-id"
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.stream_id == STREAM_ID


def test_start_numbers_as_ints() -> None:
    msg = load("from_telnyx_02_start_pcmu.json")
    msg["sequence_number"] = 1
    msg["start"]["media_format"] = {"encoding": "PCMU", "sample_rate": "8000", "channels": "1"}
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.sequence == 1
    assert ev.media_format.sample_rate == 8000
    assert ev.media_format.channels == 1


@pytest.mark.parametrize(
    ("encoding", "rate", "expected_encoding", "expected_rate"),
    [
        ("PCMU", 8000, "PCMU", 8000),
        ("PCMA", 8000, "PCMA", 8000),
        ("audio/x-mulaw", 8000, "PCMU", 8000),
        ("audio/x-mulaw", None, "PCMU", 8000),
        ("audio/x-mulaw;rate=8000", None, "PCMU", 8000),
        ("AUDIO/X-MULAW; rate=8000", None, "PCMU", 8000),
        ("audio/x-alaw", 8000, "PCMA", 8000),
        ("L16", 16000, "L16", 16000),
        ("audio/L16;rate=16000", None, "L16", 16000),
        ("G722", 8000, "G722", 16000),  # RTP clock 8000, audio 16 kHz
        ("G722", None, "G722", 16000),
        ("OPUS", 16000, "OPUS", 16000),
        ("opus", 8000, "OPUS", 8000),
        ("AMR-WB", 16000, "AMR-WB", 16000),
        ("amr-wb", 8000, "AMR-WB", 8000),
    ],
)
def test_start_media_format_normalisation(
    encoding: str, rate: int | None, expected_encoding: str, expected_rate: int
) -> None:
    fmt: dict[str, Any] = {"encoding": encoding, "channels": 1}
    if rate is not None:
        fmt["sample_rate"] = rate
    ev = telnyx.parse(_start(**fmt))
    assert isinstance(ev, Started)
    assert ev.media_format.encoding == expected_encoding
    assert ev.media_format.sample_rate == expected_rate
    assert ev.media_format.raw_encoding == encoding


def test_start_legacy_mime_with_rate_parameter_keeps_explicit_sample_rate() -> None:
    ev = telnyx.parse(_start(encoding="audio/x-mulaw;rate=16000", sample_rate=8000))
    assert isinstance(ev, Started)
    assert ev.media_format.sample_rate == 8000


def test_start_l16_with_stated_byte_order() -> None:
    ev = telnyx.parse(_start(encoding="audio/L16;rate=16000;endianness=little-endian"))
    assert isinstance(ev, Started)
    assert ev.media_format.encoding == "L16"
    assert ev.media_format.sample_rate == 16000
    assert ev.media_format.byte_order == "little"


def test_start_unknown_encoding_is_kept_upper_case() -> None:
    ev = telnyx.parse(_start(encoding="speex", sample_rate=16000))
    assert isinstance(ev, Started)
    assert ev.media_format.encoding == "SPEEX"
    assert ev.media_format.raw_encoding == "speex"


def test_start_custom_parameters_rest_list_shape() -> None:
    msg = load("from_telnyx_02_start_pcmu.json")
    rest = load("rest_streaming_start_request_whisper_to_agent.json")
    msg["start"]["custom_parameters"] = rest["custom_parameters"] + [
        {"name": "count", "value": 3},
        {"value": "nameless is ignored"},
        "not-an-object",
    ]
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.custom_parameters == {"console_session": "abc123", "count": "3"}


def test_start_custom_parameters_values_become_strings() -> None:
    msg = load("from_telnyx_02_start_pcmu.json")
    msg["start"]["custom_parameters"] = {"n": 5, "none": None, "s": "x"}
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.custom_parameters == {"n": "5", "none": "", "s": "x"}


def test_start_tracks_variants_when_present() -> None:
    msg = load("from_telnyx_02_start_pcmu.json")
    msg["start"]["tracks"] = ["inbound_track", "outbound_track"]
    ev = telnyx.parse(msg)
    assert isinstance(ev, Started)
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)


# --- media -----------------------------------------------------------------------------------


def test_media_inbound_pcmu_tone() -> None:
    msg = load("from_telnyx_03_media_inbound_pcmu_tone.json")
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert ev.stream_id == STREAM_ID
    assert ev.track is TrackName.INBOUND
    assert ev.chunk == 2
    assert ev.timestamp == 5
    assert ev.sequence == 4
    assert isinstance(ev.payload, bytes)
    assert len(ev.payload) == 160  # 20 ms of 8 kHz mu-law
    assert ev.payload == base64.b64decode(msg["media"]["payload"])
    pcm = ulaw_decode(ev.payload)
    assert pcm[0] == 0  # 0xFF: the tone starts at zero
    assert np.abs(pcm).max() > 5000
    assert dominant_frequency(pcm, 8000) == pytest.approx(440, abs=10)


def test_media_outbound_pcmu_silence() -> None:
    ev = telnyx.parse(load("from_telnyx_03b_media_outbound_pcmu_silence.json"))
    assert isinstance(ev, Media)
    assert ev.track is TrackName.OUTBOUND
    assert ev.payload == b"\xff" * 160
    assert not ulaw_decode(ev.payload).any()
    assert ev.sequence == 5


def test_media_inbound_pcma_tone() -> None:
    ev = telnyx.parse(load("from_telnyx_03c_media_inbound_pcma_tone.json"))
    assert isinstance(ev, Media)
    assert ev.track is TrackName.INBOUND
    assert (ev.chunk, ev.timestamp, ev.sequence) == (3, 25, 6)
    assert len(ev.payload) == 160
    assert ev.payload[0] == 0xD5  # A-law near-zero
    pcm = alaw_decode(ev.payload)
    assert np.abs(pcm).max() > 5000
    assert dominant_frequency(pcm, 8000) == pytest.approx(440, abs=10)


def test_media_l16_payload_is_640_bytes_big_endian_tone() -> None:
    # The L16 sample the docs list (to_telnyx_01b): 20 ms at 16 kHz, big-endian.
    payload = load("to_telnyx_01b_media_rtp_l16_16k_20ms.json")["media"]["payload"]
    msg = {
        "event": "media",
        "sequence_number": "7",
        "stream_id": STREAM_ID,
        "media": {"track": "inbound", "chunk": "4", "timestamp": "45", "payload": payload},
    }
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert len(ev.payload) == 640
    pcm = np.frombuffer(ev.payload, dtype=">i2")
    assert dominant_frequency(pcm, 16000) == pytest.approx(440, abs=10)


def test_media_numbers_as_ints() -> None:
    msg = load("from_telnyx_03_media_inbound_pcmu_tone.json")
    msg["sequence_number"] = 4
    msg["media"]["chunk"] = 2
    msg["media"]["timestamp"] = 5
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert (ev.sequence, ev.chunk, ev.timestamp) == (4, 2, 5)


def test_media_numbers_as_integral_floats_and_padded_strings() -> None:
    msg = load("from_telnyx_03_media_inbound_pcmu_tone.json")
    msg["media"]["chunk"] = 2.0
    msg["media"]["timestamp"] = " 5 "
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert (ev.chunk, ev.timestamp) == (2, 5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("inbound", TrackName.INBOUND),
        ("outbound", TrackName.OUTBOUND),
        ("inbound_track", TrackName.INBOUND),
        ("outbound_track", TrackName.OUTBOUND),
        ("INBOUND", TrackName.INBOUND),
    ],
)
def test_media_track_names(raw: str, expected: TrackName) -> None:
    msg = load("from_telnyx_03_media_inbound_pcmu_tone.json")
    msg["media"]["track"] = raw
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is expected


def test_media_without_track_defaults_to_inbound() -> None:
    msg = load("from_telnyx_03_media_inbound_pcmu_tone.json")
    del msg["media"]["track"]
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is TrackName.INBOUND


def test_media_without_counters() -> None:
    msg = {"event": "media", "stream_id": STREAM_ID, "media": {"payload": "AAA="}}
    ev = telnyx.parse(msg)
    assert ev == Media(STREAM_ID, TrackName.INBOUND, b"\x00\x00", None, None, None)


def test_media_payload_tolerates_whitespace_and_missing_padding() -> None:
    msg = load("from_telnyx_03_media_inbound_pcmu_tone.json")
    raw = msg["media"]["payload"]
    expected = base64.b64decode(raw)
    msg["media"]["payload"] = raw[:40] + "\n" + raw[40:].rstrip("=")
    ev = telnyx.parse(msg)
    assert isinstance(ev, Media)
    assert ev.payload == expected


# --- dtmf, mark, error, stop -----------------------------------------------------------------


def test_dtmf() -> None:
    ev = telnyx.parse(load("from_telnyx_04_dtmf.json"))
    assert ev == Dtmf(STREAM_ID, "1", "2025-06-05T08:54:19.698408Z", None, 5)


def test_dtmf_with_track() -> None:
    msg = load("from_telnyx_04_dtmf.json")
    msg["dtmf"]["track"] = "outbound_track"
    ev = telnyx.parse(msg)
    assert isinstance(ev, Dtmf)
    assert ev.track is TrackName.OUTBOUND


def test_dtmf_digit_as_int_becomes_string() -> None:
    msg = load("from_telnyx_04_dtmf.json")
    msg["dtmf"]["digit"] = 7
    ev = telnyx.parse(msg)
    assert isinstance(ev, Dtmf)
    assert ev.digit == "7"


def test_mark_callback() -> None:
    ev = telnyx.parse(load("from_telnyx_05_mark_callback.json"))
    assert ev == Mark(STREAM_ID, "some_mark_name", 5)


def test_error_current_shape_with_int_code() -> None:
    ev = telnyx.parse(load("from_telnyx_06_error_current_docs.json"))
    assert isinstance(ev, ProviderError)
    assert ev.stream_id == STREAM_ID
    assert ev.code == 100003
    assert ev.title == "malformed_frame"
    assert ev.detail == "Received frame was not formed correctly"


def test_error_legacy_shape_with_string_code() -> None:
    # PROTOCOLS.md 1.2 legacy shape [T8]; the fixture file is not in the shared subset.
    msg = {
        "stream_id": STREAM_ID,
        "event": "error",
        "sequence_number": "6",
        "error": {"title": "rate_limit_reached", "code": "100005", "detail": "Too many requests"},
    }
    ev = telnyx.parse(msg)
    assert ev == ProviderError(STREAM_ID, 100005, "rate_limit_reached", "Too many requests")


def test_error_current_shape_with_string_code_and_legacy_with_int_code() -> None:
    current = load("from_telnyx_06_error_current_docs.json")
    current["payload"]["code"] = "100004"
    legacy = {"event": "error", "stream_id": STREAM_ID, "error": {"code": 100002, "title": "x"}}
    ev1, ev2 = telnyx.parse(current), telnyx.parse(legacy)
    assert isinstance(ev1, ProviderError) and ev1.code == 100004
    assert isinstance(ev2, ProviderError) and ev2.code == 100002
    assert ev2.detail == ""


def test_error_with_unparseable_code_still_reports_title() -> None:
    msg = {"event": "error", "payload": {"code": "E-12", "title": "weird"}}
    ev = telnyx.parse(msg)
    assert ev == ProviderError(None, None, "weird", "")


def test_error_with_no_body() -> None:
    ev = telnyx.parse({"event": "error", "stream_id": STREAM_ID})
    assert ev == ProviderError(STREAM_ID, None, "error", "")


def test_stop() -> None:
    ev = telnyx.parse(load("from_telnyx_07_stop.json"))
    assert ev == Stopped(STREAM_ID, 5)


# --- bad frames ------------------------------------------------------------------------------


def _media() -> dict[str, Any]:
    return load("from_telnyx_03_media_inbound_pcmu_tone.json")


def _mutated(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    msg = copy.deepcopy(_media())
    target = msg
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return msg


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        (_mutated(("media", "payload"), "not base64!!"), "bad_base64"),
        (_mutated(("media", "payload"), "A"), "bad_base64"),
        (_mutated(("media", "payload"), "AA==AA=="), "bad_base64"),
        (_mutated(("media", "payload"), 12345), "wrong_type"),
        (_mutated(("media", "payload"), None), "wrong_type"),
        (_mutated(("media",), "payload"), "wrong_type"),
        (_mutated(("media",), ["payload"]), "wrong_type"),
        (_mutated(("sequence_number",), True), "wrong_type"),
        (_mutated(("media", "chunk"), False), "wrong_type"),
        (_mutated(("media", "chunk"), "two"), "wrong_type"),
        (_mutated(("media", "chunk"), 2.5), "wrong_type"),
        (_mutated(("media", "timestamp"), [5]), "wrong_type"),
        (_mutated(("media", "track"), "sideways"), "bad_value"),
        (_mutated(("media", "track"), 1), "wrong_type"),
        (_mutated(("stream_id",), {"id": 1}), "wrong_type"),
        (_mutated(("event",), "transcription"), "unknown_event"),
        (_mutated(("event",), None), "missing_field"),
        (_mutated(("event",), 3), "missing_field"),
    ],
)
def test_bad_media_frames_raise_frame_error(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        telnyx.parse(msg)
    assert info.value.kind == kind


@pytest.mark.parametrize("bad", ["--5", "\u00b2", "1-", "", "0x10"])
def test_malformed_number_strings_raise_frame_error_not_plain_value_error(bad: str) -> None:
    msg = _mutated(("media", "chunk"), bad)
    with pytest.raises(FrameError) as info:
        telnyx.parse(msg)
    assert info.value.kind == "wrong_type"


def test_error_code_with_malformed_digits_is_dropped_not_raised() -> None:
    # parse() catches FrameError for an odd error code; a plain ValueError must not escape.
    ev = telnyx.parse({"event": "error", "payload": {"code": "--1", "title": "odd"}})
    assert ev == ProviderError(None, None, "odd", "")


def test_unknown_event_message_names_the_event() -> None:
    with pytest.raises(FrameError, match="transcription"):
        telnyx.parse({"event": "transcription", "stream_id": STREAM_ID})


def test_bad_start_frames() -> None:
    no_id = load("from_telnyx_02_start_pcmu.json")
    del no_id["stream_id"]
    no_fmt = load("from_telnyx_02_start_pcmu.json")
    del no_fmt["start"]["media_format"]
    empty_fmt = _start()
    no_encoding = _start(sample_rate=8000)
    fmt_list = load("from_telnyx_02_start_pcmu.json")
    fmt_list["start"]["media_format"] = ["PCMU"]
    start_str = load("from_telnyx_02_start_pcmu.json")
    start_str["start"] = "PCMU"
    bad_rate = _start(encoding="PCMU", sample_rate=True)
    bad_from = load("from_telnyx_02_start_pcmu.json")
    bad_from["start"]["from"] = ["+1"]
    bad_track = load("from_telnyx_02_start_pcmu.json")
    bad_track["start"]["tracks"] = ["both"]
    cases = [
        (no_id, "missing_field"),
        (no_fmt, "missing_field"),
        (empty_fmt, "missing_field"),
        (no_encoding, "missing_field"),
        (fmt_list, "wrong_type"),
        (start_str, "wrong_type"),
        (bad_rate, "wrong_type"),
        (bad_from, "wrong_type"),
        (bad_track, "bad_value"),
    ]
    for msg, kind in cases:
        with pytest.raises(FrameError) as info:
            telnyx.parse(msg)
        assert info.value.kind == kind, msg


def test_bad_dtmf_and_mark_frames() -> None:
    cases = [
        ({"event": "dtmf", "stream_id": STREAM_ID, "dtmf": "1"}, "wrong_type"),
        ({"event": "dtmf", "stream_id": STREAM_ID, "dtmf": {}}, "wrong_type"),
        ({"event": "mark", "stream_id": STREAM_ID}, "wrong_type"),
        ({"event": "mark", "stream_id": STREAM_ID, "mark": {"name": None}}, "wrong_type"),
    ]
    for msg, kind in cases:
        with pytest.raises(FrameError) as info:
            telnyx.parse(msg)
        assert info.value.kind == kind, msg


def test_frame_error_is_a_value_error_with_kind() -> None:
    err = FrameError("bad_base64", "nope")
    assert isinstance(err, ValueError)
    assert err.kind == "bad_base64"
    assert str(err) == "nope"


# --- commands to Telnyx ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "to_telnyx_01_media_rtp_pcmu_20ms.json",
        "to_telnyx_01b_media_rtp_l16_16k_20ms.json",
        "to_telnyx_02_media_mp3_mode.json",
    ],
)
def test_encode_media_matches_fixture(name: str) -> None:
    expected = without_comments(load(name))
    payload = base64.b64decode(expected["media"]["payload"])
    out = telnyx.encode_command(SendMedia(payload))
    assert isinstance(out, str)
    assert json.loads(out) == expected


def test_encode_media_has_no_stream_id_even_when_given() -> None:
    out = json.loads(telnyx.encode_command(SendMedia(b"\xff" * 160), STREAM_ID))
    assert "stream_id" not in out
    assert base64.b64decode(out["media"]["payload"]) == b"\xff" * 160


def test_encode_mark_matches_fixture() -> None:
    out = telnyx.encode_command(SendMark("whisper-001-end"))
    assert json.loads(out) == load("to_telnyx_03_mark.json")


def test_encode_clear_matches_fixture() -> None:
    out = telnyx.encode_command(SendClear(), STREAM_ID)
    assert json.loads(out) == load("to_telnyx_04_clear.json")


def test_encode_rejects_non_commands() -> None:
    with pytest.raises(TypeError):
        telnyx.encode_command("clear")  # type: ignore[arg-type]


def test_encoded_media_round_trips_through_the_parser() -> None:
    payload = bytes(range(256)) * 2
    sent = json.loads(telnyx.encode_command(SendMedia(payload)))
    sent["stream_id"] = STREAM_ID
    ev = telnyx.parse(sent)
    assert isinstance(ev, Media)
    assert ev.payload == payload


# --- looks_like ------------------------------------------------------------------------------


def test_looks_like() -> None:
    assert telnyx.looks_like(load("from_telnyx_07_stop.json"))
    assert telnyx.looks_like({"event": "start", "start": {"call_control_id": "v3:x"}})
    assert not telnyx.looks_like({"event": "connected", "version": "1.0.0"})
    assert not telnyx.looks_like({"event": "start", "start": "x"})
    assert not telnyx.looks_like({"event": "media", "streamSid": "MZ1"})
