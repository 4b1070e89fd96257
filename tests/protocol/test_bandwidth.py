"""Bandwidth `<StartStream>` frames (PROTOCOLS.md 3.5). Every fixture is UNVERIFIED, so the
variants the recalled and the api-docs shapes allow are accepted too."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import zero_crossing_frequency
from support import fixtures_dir

from console.audio.codecs import ulaw_decode
from console.core.events import (
    Media,
    MediaFormat,
    Provider,
    SendClear,
    SendMark,
    SendMedia,
    Started,
    Stopped,
    TrackName,
)
from console.protocol import bandwidth
from console.protocol.base import FrameError

ROOT = fixtures_dir()
FIXTURES = ROOT / "bandwidth"
CALL_ID = "c-2a913f94-7fa91773-a426-4118-b3ae-7b4ef9f1b2f5"
STREAM_ID = "s-2a913f94-93a4-4d31-8b9a-3d2b8a5e2c3e"
START = "from_bandwidth_01_start_UNVERIFIED.json"
MEDIA = "from_bandwidth_02_media_UNVERIFIED.json"
STOP = "from_bandwidth_03_stop_UNVERIFIED.json"
PLAY = "to_bandwidth_01_playAudio_UNVERIFIED.json"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def test_bandwidth_fixture_folder_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.json")}
    assert names >= {START, MEDIA, STOP, PLAY}
    assert all("UNVERIFIED" in n for n in names)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("from_bandwidth_*.json")))
def test_every_bandwidth_from_fixture_parses(name: str) -> None:
    msg = load(name)
    assert bandwidth.looks_like(msg)
    expected = {"start": Started, "media": Media, "stop": Stopped}[msg["eventType"]]
    assert type(bandwidth.parse(msg)) is expected


def _all_frames() -> list[Path]:
    return sorted(ROOT.glob("*/*.json"))


@pytest.mark.parametrize("path", _all_frames(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bandwidth_looks_like_only_bandwidth_frames(path: Path) -> None:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        return
    own = path.parent.name == "bandwidth" and path.name.startswith("from_")
    assert bandwidth.looks_like(data) is own


# --- start -----------------------------------------------------------------------------------


def test_start_values() -> None:
    ev = bandwidth.parse(load(START))
    assert isinstance(ev, Started)
    assert ev.provider is Provider.BANDWIDTH
    assert ev.stream_id == STREAM_ID
    assert ev.call_key == CALL_ID
    assert ev.call_control_id == CALL_ID
    assert ev.account_id == "5555555"
    assert ev.tracks == (TrackName.INBOUND,)
    assert ev.custom_parameters == {"console_session": "abc123"}
    assert (ev.from_number, ev.to_number, ev.sequence) == (None, None, None)
    assert ev.media_format == MediaFormat("PCMU", 8000, 1, None, "audio/PCMU")


def test_start_both_tracks_and_numbers() -> None:
    msg = load(START)
    meta = msg["metadata"]
    meta["tracks"].append({"name": "outbound", "mediaFormat": {"encoding": "audio/PCMU",
                                                               "sampleRate": "8000"}})
    meta["from"] = "+15555550100"
    msg["streamParams"]["to"] = "+15555550101"
    msg["sequenceNumber"] = "1"
    msg["unknown"] = {"future": True}
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Started)
    assert ev.tracks == (TrackName.INBOUND, TrackName.OUTBOUND)
    assert (ev.from_number, ev.to_number) == ("+15555550100", "+15555550101")
    assert ev.sequence == 1


@pytest.mark.parametrize(("tracks", "expected"), [
    ([{"name": "both"}], (TrackName.INBOUND, TrackName.OUTBOUND)),
    ([{"name": "inbound_track"}, {"name": "outbound_track"}],
     (TrackName.INBOUND, TrackName.OUTBOUND)),
    ([{"mediaFormat": {"encoding": "audio/PCMU", "sampleRate": 8000}}], ()),
    ([], ()),
])
def test_start_track_variants(tracks: list[dict[str, Any]],
                              expected: tuple[TrackName, ...]) -> None:
    msg = load(START)
    msg["metadata"]["tracks"] = tracks
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Started)
    assert ev.tracks == expected
    assert ev.media_format.encoding == "PCMU"


@pytest.mark.parametrize(("fmt", "expected"), [
    ({"encoding": "audio/PCMU", "sampleRate": "8000"}, ("PCMU", 8000)),
    ({"encoding": "audio/pcmu"}, ("PCMU", 8000)),
    ({"encoding": "audio/PCM", "sampleRate": 16000}, ("L16", 16000)),
    ({"encoding": "audio/pcm;rate=24000"}, ("L16", 24000)),
    ({"sampleRate": 8000}, ("PCMU", 8000)),
])
def test_start_media_format_variants(fmt: dict[str, Any], expected: tuple[str, int]) -> None:
    msg = load(START)
    msg["metadata"]["tracks"][0]["mediaFormat"] = fmt
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Started)
    assert (ev.media_format.encoding, ev.media_format.sample_rate) == expected
    assert ev.media_format.byte_order is None  # Bandwidth does not say


def test_start_without_tracks_or_stream_id() -> None:
    msg = load(START)
    del msg["metadata"]["tracks"]
    del msg["metadata"]["streamId"]
    del msg["streamParams"]
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Started)
    assert ev.stream_id == ev.call_key == CALL_ID
    assert ev.media_format.encoding == "PCMU"
    assert ev.custom_parameters == {}


# --- media and stop --------------------------------------------------------------------------


def test_media_values() -> None:
    msg = load(MEDIA)
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Media)
    assert ev.stream_id is None
    assert ev.track is TrackName.INBOUND
    assert (ev.chunk, ev.timestamp, ev.sequence) == (None, None, 12)
    assert ev.payload == base64.b64decode(msg["payload"])
    assert len(ev.payload) == 160
    assert zero_crossing_frequency(ulaw_decode(ev.payload), 8000) == pytest.approx(440, abs=30)


@pytest.mark.parametrize(("mutate", "check"), [
    (lambda m: m.update(sequenceNumber="12"), lambda e: e.sequence == 12),
    (lambda m: m.pop("sequenceNumber"), lambda e: e.sequence is None),
    (lambda m: m.pop("track"), lambda e: e.track is TrackName.INBOUND),
    (lambda m: m.update(track="outbound"), lambda e: e.track is TrackName.OUTBOUND),
    (lambda m: m.update(track="OUTBOUND_TRACK"), lambda e: e.track is TrackName.OUTBOUND),
    (lambda m: m.update(metadata={"streamId": STREAM_ID}), lambda e: e.stream_id == STREAM_ID),
    (lambda m: m.update(streamId=STREAM_ID), lambda e: e.stream_id == STREAM_ID),
    (lambda m: m.update(payload=m["payload"].rstrip("=")), lambda e: len(e.payload) == 160),
    (lambda m: m.update(timestamp="1700000000000"), lambda e: e.timestamp == 1700000000000),
    (lambda m: m.update(future={"x": 1}), lambda e: len(e.payload) == 160),
])
def test_media_variants(mutate: Any, check: Any) -> None:
    msg = load(MEDIA)
    mutate(msg)
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Media)
    assert check(ev)


def test_media_nested_like_twilio() -> None:
    flat = load(MEDIA)
    msg = {"eventType": "media", "media": {"track": "outbound", "payload": flat["payload"]}}
    ev = bandwidth.parse(msg)
    assert isinstance(ev, Media)
    assert ev.track is TrackName.OUTBOUND
    assert ev.payload == base64.b64decode(flat["payload"])


def test_stop_with_and_without_metadata() -> None:
    assert bandwidth.parse(load(STOP)) == Stopped(None, None)
    with_meta = {"eventType": "stop", "metadata": load(START)["metadata"]}
    assert bandwidth.parse(with_meta) == Stopped(STREAM_ID, None)


def test_event_spelling_is_parsed_but_not_detected() -> None:
    msg = load(STOP)
    msg["event"] = msg.pop("eventType")
    assert bandwidth.parse(msg) == Stopped(None, None)
    assert not bandwidth.looks_like(msg)


# --- bad frames ------------------------------------------------------------------------------


def _start(mutate: Any) -> dict[str, Any]:
    msg = load(START)
    mutate(msg)
    return msg


def _media(mutate: Any) -> dict[str, Any]:
    msg = load(MEDIA)
    mutate(msg)
    return msg


@pytest.mark.parametrize(("msg", "kind"), [
    ({"eventType": 5}, "wrong_type"),
    ({"metadata": {}}, "missing_field"),
    ({"eventType": "dtmf", "digit": "1"}, "unknown_event"),  # none on Bandwidth's socket
    ({"eventType": "playAudio"}, "unknown_event"),
    (_start(lambda m: m.update(metadata=[])), "wrong_type"),
    (_start(lambda m: m.update(metadata={})), "missing_field"),
    (_start(lambda m: m["metadata"].update(callId=["x"])), "wrong_type"),
    (_start(lambda m: m["metadata"].update(callId="c" * 300)), "oversize_field"),
    (_start(lambda m: m["metadata"].update(streamId=10**20)), "oversize_field"),
    (_start(lambda m: m["metadata"].update(tracks="inbound")), "wrong_type"),
    (_start(lambda m: m["metadata"].update(tracks=["inbound"])), "wrong_type"),
    (_start(lambda m: m["metadata"].update(tracks=[{"name": "sideways"}])), "bad_value"),
    (_start(lambda m: m["metadata"].update(tracks=[{"name": "inbound"}] * 65)),
     "oversize_field"),
    (_start(lambda m: m["metadata"]["tracks"][0].update(mediaFormat="audio/PCMU")),
     "wrong_type"),
    (_start(lambda m: m["metadata"]["tracks"][0]["mediaFormat"].update(sampleRate=10**12)),
     "bad_rate"),
    (_start(lambda m: m["metadata"]["tracks"][0]["mediaFormat"].update(sampleRate="fast")),
     "wrong_type"),
    (_start(lambda m: m["metadata"]["tracks"][0]["mediaFormat"].update(encoding="")),
     "missing_field"),
    (_start(lambda m: m.update(streamParams={f"p{i}": "v" for i in range(65)})),
     "oversize_field"),
    (_start(lambda m: m.update(streamParams={"token": "t" * 5000})), "oversize_field"),
    (_start(lambda m: m.update(sequenceNumber=-1)), "bad_sequence"),
    (_media(lambda m: m.update(payload="***")), "bad_base64"),
    (_media(lambda m: m.pop("payload")), "wrong_type"),
    (_media(lambda m: m.update(payload=160)), "wrong_type"),
    (_media(lambda m: m.update(track="both")), "bad_value"),
    (_media(lambda m: m.update(track=1)), "wrong_type"),
    (_media(lambda m: m.update(sequenceNumber=1e30)), "bad_sequence"),
    (_media(lambda m: m.update(sequenceNumber=2**53)), "bad_sequence"),
    (_media(lambda m: m.update(sequenceNumber=True)), "wrong_type"),
    (_media(lambda m: m.update(sequenceNumber="12a")), "wrong_type"),
    (_media(lambda m: m.update(timestamp=-5)), "bad_timestamp"),
    (_media(lambda m: m.update(streamId="s" * 300)), "oversize_field"),
])
def test_bad_frames(msg: dict[str, Any], kind: str) -> None:
    with pytest.raises(FrameError) as info:
        bandwidth.parse(copy.deepcopy(msg))
    assert info.value.kind == kind
    assert len(str(info.value)) < 200


# --- commands to Bandwidth -------------------------------------------------------------------


def test_encode_play_audio_matches_fixture() -> None:
    expected = load(PLAY)
    payload = base64.b64decode(expected["media"]["payload"])
    start = bandwidth.parse(load(START))
    assert isinstance(start, Started)
    for fmt in (None, start.media_format):
        out = bandwidth.encode_command(SendMedia(payload), STREAM_ID, fmt)
        assert json.loads(out) == expected


def test_encode_l16_is_audio_pcm_with_rate() -> None:
    msg = load(START)
    msg["metadata"]["tracks"][0]["mediaFormat"] = {"encoding": "audio/PCM", "sampleRate": 16000}
    start = bandwidth.parse(msg)
    assert isinstance(start, Started)
    pcm = b"\x01\x00" * 320
    out = json.loads(bandwidth.encode_command(SendMedia(pcm), None, start.media_format))
    assert out["eventType"] == "playAudio"
    assert out["media"]["contentType"] == "audio/pcm;rate=16000"
    assert base64.b64decode(out["media"]["payload"]) == pcm


def test_encode_other_codecs_are_not_supported() -> None:
    with pytest.raises(FrameError) as info:
        bandwidth.encode_command(SendMedia(b"\xd5" * 160), None, MediaFormat("PCMA", 8000))
    assert info.value.kind == "not_supported"


def test_encode_clear_and_no_mark() -> None:
    assert json.loads(bandwidth.encode_command(SendClear(), STREAM_ID)) == {"eventType": "clear"}
    with pytest.raises(FrameError) as info:
        bandwidth.encode_command(SendMark("m1"), STREAM_ID)
    assert info.value.kind == "not_supported"
    assert "Bandwidth" in str(info.value)
    with pytest.raises(TypeError):
        bandwidth.encode_command(object(), None)  # type: ignore[arg-type]


def test_bandwidth_capabilities() -> None:
    assert bandwidth.SENDS_AUDIO_BACK is True
    assert bandwidth.HAS_MARK is False
    assert bandwidth.HAS_CLEAR is True
    assert "bidirectional" in (bandwidth.__doc__ or "")
