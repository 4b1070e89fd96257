"""Plivo Audio Stream frames (PROTOCOLS.md section 3.1) against the copied fixtures."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from helpers import zero_crossing_frequency
from support import all_fixtures, fixtures_dir, load_fixture

from console.audio.codecs import L16Decoder, make_decoder, ulaw_decode
from console.core.events import (
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
from console.protocol import plivo, telnyx
from console.protocol.base import MAX_COUNTER, FrameError, media_frame

STREAM_ID = "87654321-4321-4321-4321-cba987654321"
CALL_ID = "12345678-1234-1234-1234-123456789abc"
ACCOUNT_ID = "MAXXXXXXXXXXXXXXXXXX"

ROOT = fixtures_dir()
FIXTURES = ROOT / "plivo"
FROM_NAMES = sorted(p.name for p in FIXTURES.glob("from_plivo_*.json"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_fixture("plivo", name)
    return data


def test_plivo_fixture_folder_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.json")}
    assert len(FROM_NAMES) == 5
    # UNVERIFIED stays in the copied names.
    assert "from_plivo_03_dtmf_UNVERIFIED.json" in names
    assert "from_plivo_05_clearedAudio_UNVERIFIED.json" in names
    assert len([n for n in names if n.startswith("to_plivo_")]) == 4


@pytest.mark.parametrize("name", FROM_NAMES)
def test_every_plivo_from_fixture_parses_and_is_recognised(name: str) -> None:
    msg = load(name)
    event = plivo.parse(msg)
    expected = {"start": Started, "media": Media, "dtmf": Dtmf, "playedStream": Mark,
                "clearedAudio": Mark}[msg["event"]]
    assert isinstance(event, expected)
    assert event.stream_id == STREAM_ID
    assert plivo.looks_like(msg)


# --- frames from Plivo -----------------------------------------------------------------------


def test_plivo_start() -> None:
    ev = plivo.parse(load("from_plivo_01_start.json"))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.PLIVO
    assert ev.stream_id == STREAM_ID
    assert ev.call_key == CALL_ID
    assert ev.call_control_id == CALL_ID
    assert ev.account_id == ACCOUNT_ID
    assert ev.tracks == (TrackName.INBOUND,)
    assert ev.sequence == 1
    # extra_headers become custom parameters (the fixture separates pairs with ";").
    assert ev.custom_parameters == {"userId": "12345", "sessionId": "abc-xyz"}
    assert (ev.from_number, ev.to_number) == (None, None)
    fmt = ev.media_format
    assert (fmt.encoding, fmt.sample_rate, fmt.channels) == ("PCMU", 8000, 1)
    assert fmt.raw_encoding == "audio/x-mulaw"


def test_plivo_start_extra_headers_documented_comma_form_gives_roles_and_numbers() -> None:
    msg = load("from_plivo_01_start.json")
    msg["extra_headers"] = "leg=agent, from=15550001111,to=15550002222,flag"
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    assert ev.custom_parameters == {"leg": "agent", "from": "15550001111",
                                    "to": "15550002222", "flag": ""}
    assert (ev.from_number, ev.to_number) == ("15550001111", "15550002222")


@pytest.mark.parametrize("raw", [None, "", " ; , "])
def test_plivo_start_without_extra_headers(raw: Any) -> None:
    msg = load("from_plivo_01_start.json")
    if raw is None:
        del msg["extra_headers"]
    else:
        msg["extra_headers"] = raw
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    assert ev.custom_parameters == {}


def test_plivo_start_extra_headers_as_object() -> None:
    msg = load("from_plivo_01_start.json")
    msg["extra_headers"] = {"role": "customer", "n": 5}
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    assert ev.custom_parameters == {"role": "customer", "n": "5"}


@pytest.mark.parametrize(
    ("encoding", "rate", "expected"),
    [
        ("audio/x-l16", 16000, ("L16", 16000)),
        ("audio/x-l16", "8000", ("L16", 8000)),
        ("audio/x-l16;rate=16000", None, ("L16", 16000)),
        ("audio/x-mulaw;rate=8000", None, ("PCMU", 8000)),
        ("audio/x-mulaw", 8000, ("PCMU", 8000)),
    ],
)
def test_plivo_start_content_types(encoding: str, rate: Any, expected: tuple[str, int]) -> None:
    msg = load("from_plivo_01_start.json")
    fmt: dict[str, Any] = {"encoding": encoding}
    if rate is not None:
        fmt["sampleRate"] = rate
    msg["start"]["mediaFormat"] = fmt
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    assert (ev.media_format.encoding, ev.media_format.sample_rate) == expected
    # Plivo documents no L16 byte order: the console's decoder decides from the audio.
    assert ev.media_format.byte_order is None


@pytest.mark.parametrize("media_format", [None, {}, {"sampleRate": 16000}])
def test_plivo_start_without_encoding_is_the_documented_default_l16(
        media_format: dict[str, Any] | None) -> None:
    msg = load("from_plivo_01_start.json")
    if media_format is None:
        del msg["start"]["mediaFormat"]
    else:
        msg["start"]["mediaFormat"] = media_format
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    rate = (media_format or {}).get("sampleRate", 8000)
    assert (ev.media_format.encoding, ev.media_format.sample_rate) == ("L16", rate)
    assert ev.media_format.byte_order is None


def test_plivo_start_variants_string_sequence_top_level_stream_id_extra_fields() -> None:
    msg = load("from_plivo_01_start.json")
    msg["sequenceNumber"] = "1"
    msg["streamId"] = STREAM_ID
    del msg["start"]["streamId"]
    msg["start"]["tracks"] = ["inbound", "outbound"]
    msg["start"]["somethingNew"] = {"x": [1, 2]}
    msg["unknownTopLevel"] = True
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    assert ev.stream_id == STREAM_ID
    assert ev.sequence == 1
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)


def test_plivo_start_without_call_id_keys_on_the_stream() -> None:
    msg = load("from_plivo_01_start.json")
    del msg["start"]["callId"]
    del msg["start"]["accountId"]
    ev = plivo.parse(msg)
    assert isinstance(ev, Started)
    assert ev.call_key == STREAM_ID
    assert ev.call_control_id is None
    assert ev.account_id is None


def test_plivo_media_mulaw_tone() -> None:
    msg = load("from_plivo_02_media.json")
    ev = plivo.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is TrackName.INBOUND
    # chunk and sequenceNumber are numbers; the timestamp is a string of epoch ms.
    assert (ev.chunk, ev.timestamp, ev.sequence) == (41, 1705312200000, 42)
    assert ev.payload == base64.b64decode(msg["media"]["payload"])
    assert len(ev.payload) == 160
    pcm = ulaw_decode(ev.payload)
    assert zero_crossing_frequency(pcm, 8000) == pytest.approx(440, abs=30)


def test_plivo_media_reads_the_same_through_the_servers_media_path() -> None:
    # The server reads media frames with media_frame, not the adapter (session.py).
    msg = load("from_plivo_02_media.json")
    ev = plivo.parse(msg)
    assert isinstance(ev, Media)
    assert media_frame(msg) == (ev.track, ev.chunk, ev.timestamp, ev.payload)


def test_plivo_media_variants() -> None:
    msg = load("from_plivo_02_media.json")
    msg["media"].update(track="outbound", chunk="7", timestamp=1705312200020)
    msg["sequenceNumber"] = "43"
    ev = plivo.parse(msg)
    assert isinstance(ev, Media)
    assert (ev.track, ev.chunk, ev.timestamp, ev.sequence) == (
        TrackName.OUTBOUND, 7, 1705312200020, 43)
    bare = {"event": "media", "streamId": STREAM_ID, "media": {"payload": "//8="}}
    ev2 = plivo.parse(bare)
    assert ev2 == Media(STREAM_ID, TrackName.INBOUND, b"\xff\xff", None, None, None)


def test_plivo_dtmf_fixture_and_flat_variant() -> None:
    ev = plivo.parse(load("from_plivo_03_dtmf_UNVERIFIED.json"))
    assert ev == Dtmf(STREAM_ID, "5", None, None, 43)
    flat = plivo.parse({"event": "dtmf", "streamId": STREAM_ID, "digit": "#",
                        "sequenceNumber": 44})
    assert flat == Dtmf(STREAM_ID, "#", None, None, 44)
    tracked = plivo.parse({"event": "dtmf", "dtmf": {"digit": 7, "track": "inbound"}})
    assert tracked == Dtmf(None, "7", None, TrackName.INBOUND, None)


def test_plivo_played_stream_is_the_checkpoint_mark() -> None:
    ev = plivo.parse(load("from_plivo_04_playedStream.json"))
    assert ev == Mark(STREAM_ID, "customer greeting audio", None)
    # Plivo's support pages name the same answer "played".
    alias = plivo.parse({"event": "played", "streamId": STREAM_ID, "name": "x",
                         "sequenceNumber": 9})
    assert alias == Mark(STREAM_ID, "x", 9)


def test_plivo_cleared_audio_is_a_reserved_mark() -> None:
    ev = plivo.parse(load("from_plivo_05_clearedAudio_UNVERIFIED.json"))
    assert ev == Mark(STREAM_ID, plivo.CLEARED_MARK, None)
    # As Plivo's support article shows it, with sequenceNumber 0.
    ev0 = plivo.parse({"sequenceNumber": 0, "event": "clearedAudio", "streamId": STREAM_ID})
    assert ev0 == Mark(STREAM_ID, "clearedAudio", 0)


def test_plivo_stop_and_error_if_they_ever_come() -> None:
    assert plivo.parse({"event": "stop", "streamId": STREAM_ID, "sequenceNumber": 99}) == \
        Stopped(STREAM_ID, 99)
    err = plivo.parse({"event": "error", "streamId": STREAM_ID,
                       "error": {"code": "400", "message": "bad playAudio"}})
    assert err == ProviderError(STREAM_ID, 400, "bad playAudio", "")


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda m: m["media"].update(payload="***"), "bad_base64"),
        (lambda m: m["media"].update(payload=160), "wrong_type"),
        (lambda m: m.update(media="payload"), "wrong_type"),
        (lambda m: m.update(sequenceNumber=True), "wrong_type"),
        (lambda m: m.update(sequenceNumber=-1), "bad_sequence"),
        (lambda m: m.update(sequenceNumber=1e30), "bad_sequence"),
        (lambda m: m.update(sequenceNumber="9" * 40), "bad_sequence"),
        (lambda m: m["media"].update(chunk=MAX_COUNTER + 1), "bad_chunk"),
        (lambda m: m["media"].update(chunk=[41]), "wrong_type"),
        (lambda m: m["media"].update(timestamp="1705312200000.5"), "wrong_type"),
        (lambda m: m["media"].update(timestamp=2**63), "bad_timestamp"),
        (lambda m: m["media"].update(track="both"), "bad_value"),
        (lambda m: m.update(streamId={"id": 1}), "wrong_type"),
        (lambda m: m.update(streamId="s" * 257), "oversize_field"),
        (lambda m: m.update(event="transcription"), "unknown_event"),
        (lambda m: m.update(event=5), "missing_field"),
        (lambda m: m.pop("event"), "missing_field"),
    ],
)
def test_plivo_bad_media_frames(mutate: Any, kind: str) -> None:
    msg = load("from_plivo_02_media.json")
    mutate(msg)
    with pytest.raises(FrameError) as info:
        plivo.parse(msg)
    assert info.value.kind == kind
    assert len(str(info.value)) < 200


def _start_with(**changes: Any) -> dict[str, Any]:
    msg = load("from_plivo_01_start.json")
    for key, value in changes.items():
        if key in ("extra_headers", "sequenceNumber"):
            msg[key] = value
        elif key == "start":
            msg["start"] = value
        else:
            msg["start"][key] = value
    return msg


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        (_start_with(streamId=None), "missing_field"),
        (_start_with(streamId=""), "missing_field"),
        (_start_with(start=[]), "wrong_type"),
        (_start_with(start=None), "wrong_type"),
        (_start_with(mediaFormat="audio/x-mulaw"), "wrong_type"),
        (_start_with(mediaFormat={"encoding": "audio/x-l16", "sampleRate": 10**9}),
         "bad_rate"),
        (_start_with(mediaFormat={"encoding": "audio/x-l16", "sampleRate": -8000}),
         "bad_rate"),
        (_start_with(mediaFormat={"encoding": "audio/x-l16", "sampleRate": "fast"}),
         "wrong_type"),
        (_start_with(mediaFormat={"encoding": "", "sampleRate": 8000}), "missing_field"),
        (_start_with(tracks=["both"]), "bad_value"),
        (_start_with(tracks=["inbound"] * 65), "oversize_field"),
        (_start_with(callId="c" * 300), "oversize_field"),
        (_start_with(accountId=["MA"]), "wrong_type"),
        (_start_with(extra_headers=["k=v"]), "wrong_type"),
        (_start_with(extra_headers="k=v," * 2000), "oversize_field"),
        (_start_with(extra_headers=",".join(f"k{i}=v" for i in range(65))), "oversize_field"),
        (_start_with(extra_headers="k" * 300 + "=v"), "oversize_field"),
        (_start_with(sequenceNumber=-5), "bad_sequence"),
    ],
)
def test_plivo_bad_start_frames(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        plivo.parse(msg)
    assert info.value.kind == kind


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        ({"event": "dtmf", "streamId": STREAM_ID}, "missing_field"),
        ({"event": "dtmf", "dtmf": "5"}, "wrong_type"),
        ({"event": "dtmf", "dtmf": {"digit": "55"}}, "bad_value"),
        ({"event": "dtmf", "dtmf": {"digit": "x"}}, "bad_value"),
        ({"event": "dtmf", "dtmf": {"digit": "5", "track": "sideways"}}, "bad_value"),
        ({"event": "playedStream", "streamId": STREAM_ID}, "missing_field"),
        ({"event": "playedStream", "name": {"n": 1}}, "wrong_type"),
        ({"event": "playedStream", "name": "n" * 257}, "oversize_field"),
        ({"event": "clearedAudio", "sequenceNumber": -1}, "bad_sequence"),
    ],
)
def test_plivo_bad_dtmf_and_checkpoint_frames(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        plivo.parse(msg)
    assert info.value.kind == kind


# --- commands to Plivo -----------------------------------------------------------------------


def test_plivo_encode_mulaw_matches_fixture() -> None:
    expected = load("to_plivo_01_playAudio_mulaw.json")
    payload = base64.b64decode(expected["media"]["payload"])
    assert json.loads(plivo.encode_command(SendMedia(payload), STREAM_ID)) == expected
    # PCMU at 8 kHz is the default, and Plivo's own names are taken too.
    out = plivo.encode_command(SendMedia(payload), STREAM_ID, codec="audio/x-mulaw", rate=8000)
    assert json.loads(out) == expected


def test_plivo_encode_l16_16k_matches_fixture() -> None:
    expected = {k: v for k, v in load("to_plivo_01b_playAudio_l16_16k.json").items()
                if not k.startswith("_")}
    payload = base64.b64decode(expected["media"]["payload"])
    out = plivo.encode_command(SendMedia(payload), STREAM_ID, codec="L16", rate=16000)
    assert json.loads(out) == expected
    # The fixture's payload is a little-endian tone; with byte_order None the decoder finds it.
    dec = L16Decoder(16000, "auto")
    pcm = dec.decode(payload)
    assert dec.decided and dec.byte_order == "little"
    assert zero_crossing_frequency(pcm, 16000) == pytest.approx(440, abs=30)


def test_plivo_encode_l16_8k() -> None:
    out = json.loads(plivo.encode_command(SendMedia(b"\x00\x01" * 160), None, codec="L16",
                                          rate=8000))
    assert out["media"]["contentType"] == "audio/x-l16"
    assert out["media"]["sampleRate"] == 8000
    assert base64.b64decode(out["media"]["payload"]) == b"\x00\x01" * 160


@pytest.mark.parametrize(("codec", "rate"), [("PCMU", 16000), ("PCMA", 8000),
                                             ("L16", 24000), ("OPUS", 48000)])
def test_plivo_encode_refuses_what_play_audio_does_not_take(codec: str, rate: int) -> None:
    with pytest.raises(FrameError) as info:
        plivo.encode_command(SendMedia(b"\xff" * 160), STREAM_ID, codec=codec, rate=rate)
    assert info.value.kind == "not_supported"
    assert "Plivo cannot" in str(info.value)


def test_plivo_encode_checkpoint_matches_fixture() -> None:
    out = plivo.encode_command(SendMark("customer greeting audio"), STREAM_ID)
    assert json.loads(out) == load("to_plivo_02_checkpoint.json")


def test_plivo_encode_clear_audio_matches_fixture() -> None:
    out = plivo.encode_command(SendClear(), STREAM_ID)
    assert json.loads(out) == load("to_plivo_03_clearAudio.json")
    assert json.loads(plivo.encode_command(SendClear(), None)) == {"event": "clearAudio",
                                                                   "streamId": ""}


def test_plivo_encode_refuses_a_checkpoint_named_like_cleared_audio() -> None:
    with pytest.raises(FrameError) as info:
        plivo.encode_command(SendMark(plivo.CLEARED_MARK), STREAM_ID)
    assert info.value.kind == "bad_value"


def test_plivo_encode_rejects_non_commands() -> None:
    with pytest.raises(TypeError):
        plivo.encode_command(object(), STREAM_ID)  # type: ignore[arg-type]


def test_plivo_checkpoint_round_trip() -> None:
    sent = json.loads(plivo.encode_command(SendMark("whisper-1"), STREAM_ID))
    # Plivo answers a checkpoint with playedStream carrying the same streamId and name.
    echo = {"event": "playedStream", "streamId": sent["streamId"], "name": sent["name"]}
    assert plivo.parse(echo) == Mark(STREAM_ID, "whisper-1", None)


def test_plivo_decoded_start_format_decodes_the_media() -> None:
    start = plivo.parse(load("from_plivo_01_start.json"))
    media = plivo.parse(load("from_plivo_02_media.json"))
    assert isinstance(start, Started) and isinstance(media, Media)
    pcm = make_decoder(start.media_format).decode(media.payload)
    assert pcm.size == 160


def test_plivo_capabilities() -> None:
    assert plivo.SENDS_AUDIO_BACK and plivo.HAS_MARK and plivo.HAS_CLEAR
    assert plivo.__doc__ is not None and "Reach rule" in plivo.__doc__


# --- detection -------------------------------------------------------------------------------


def test_plivo_looks_like_claims_no_other_platforms_fixture() -> None:
    checked = 0
    for path in all_fixtures():
        msg = json.loads(path.read_text())
        if not isinstance(msg, dict):
            continue
        platform = path.parent.name
        if platform == "plivo":
            if path.name.startswith("from_"):
                assert plivo.looks_like(msg), path.name
            continue
        assert not plivo.looks_like(msg), f"{platform}/{path.name}"
        checked += 1
    assert checked >= 40  # every platform's folder was read


def test_telnyx_does_not_claim_plivo_frames() -> None:
    for name in FROM_NAMES:
        assert not telnyx.looks_like(load(name)), name


@pytest.mark.parametrize(
    "msg",
    [
        {"event": "start", "start": {"streamSid": "MZ1", "callSid": "CA1"}},
        {"event": "start", "start": {"streamId": "s"}},  # no callId
        {"eventType": "start", "metadata": {"streamId": "s", "callId": "c"}},  # Bandwidth
        {"streamId": "s"},  # no event name
        {"event": "media", "stream_id": "s"},
        {"event": "connected"},
    ],
)
def test_plivo_looks_like_refuses(msg: dict[str, Any]) -> None:
    assert not plivo.looks_like(msg)
