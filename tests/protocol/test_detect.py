"""Provider detection, frame loading and the per-connection FrameDecoder."""

from __future__ import annotations

import json
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
    Stopped,
    TrackName,
)
from console.protocol import detect, telnyx, twilio
from console.protocol.base import FrameError
from console.protocol.detect import ADAPTERS, FrameDecoder, load_frame


def _fixtures_root() -> Path:
    return fixtures_dir()


ROOT = _fixtures_root()
TELNYX_FROM = sorted((ROOT / "telnyx").glob("from_telnyx_*.json"))
TWILIO_FROM = sorted((ROOT / "twilio").glob("from_twilio_*.json"))


def text(path: Path) -> str:
    return path.read_text()


def fixture(provider: str, name: str) -> str:
    return (ROOT / provider / name).read_text()


def as_dict(raw: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data


def test_fixture_lists_are_not_empty() -> None:
    assert len(TELNYX_FROM) >= 11
    assert len(TWILIO_FROM) >= 6


# --- load_frame ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TELNYX_FROM + TWILIO_FROM, ids=lambda p: p.name)
def test_load_frame_accepts_every_fixture(path: Path) -> None:
    assert load_frame(text(path)) == json.loads(text(path))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ('{"event": "media", ', "invalid_json"),
        ("", "invalid_json"),
        ("not json", "invalid_json"),
        ("[" * 100_000 + "]" * 100_000, "invalid_json"),  # deep nesting: RecursionError
        ('[{"event": "media"}]', "wrong_type"),
        ("[]", "wrong_type"),
        ('"media"', "wrong_type"),
        ("42", "wrong_type"),
        ("null", "wrong_type"),
        ("true", "wrong_type"),
        (b'{"event": "media"}', "binary_frame"),
        (b"\xff\xfe\x00\x01", "binary_frame"),
        (b"", "binary_frame"),
    ],
)
def test_load_frame_rejects(data: str | bytes, kind: str) -> None:
    with pytest.raises(FrameError) as info:
        load_frame(data)
    assert info.value.kind == kind


def test_binary_frame_message_says_how_big() -> None:
    with pytest.raises(FrameError, match="160 bytes"):
        load_frame(b"\xff" * 160)


# --- detect ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TELNYX_FROM, ids=lambda p: p.name)
def test_detect_every_telnyx_frame(path: Path) -> None:
    assert detect.detect(as_dict(text(path))) is Provider.TELNYX


@pytest.mark.parametrize("path", [p for p in TWILIO_FROM if "connected" not in p.name],
                         ids=lambda p: p.name)
def test_detect_every_twilio_frame(path: Path) -> None:
    assert detect.detect(as_dict(text(path))) is Provider.TWILIO


def test_a_twilio_connected_frame_does_not_decide() -> None:
    # SignalWire sends the very same frame; its start frame tells them apart.
    assert detect.detect(as_dict(fixture("twilio", "from_twilio_01_connected.json"))) is None


@pytest.mark.parametrize(
    "msg",
    [
        {"event": "connected"},
        {"event": "media", "media": {"payload": "AA=="}},
        {"event": "start", "start": {"foo": "bar"}},
        {},
    ],
)
def test_detect_ambiguous_returns_none(msg: dict[str, Any]) -> None:
    assert detect.detect(msg) is None


def test_adapters_cover_both_providers() -> None:
    assert ADAPTERS[Provider.TELNYX] == (telnyx.parse, telnyx.encode_command)
    assert ADAPTERS[Provider.TWILIO] == (twilio.parse, twilio.encode_command)


# --- FrameDecoder ----------------------------------------------------------------------------


def test_decoder_reads_twilio_connected_but_lets_the_start_decide() -> None:
    dec = FrameDecoder()
    assert dec.provider is None
    ev = dec.decode(fixture("twilio", "from_twilio_01_connected.json"))
    assert dec.provider is None  # SignalWire's connected frame is the same
    assert ev == Connected(Provider.TWILIO, "1.0.0", None)
    started = dec.decode(fixture("twilio", "from_twilio_02_start.json"))
    assert isinstance(started, Started)
    assert started.provider is Provider.TWILIO
    media = dec.decode(fixture("twilio", "from_twilio_03_media_inbound.json"))
    assert isinstance(media, Media)
    assert len(media.payload) == 160


def test_decoder_detects_telnyx_from_connected() -> None:
    dec = FrameDecoder()
    ev = dec.decode(fixture("telnyx", "from_telnyx_01b_connected_with_auth_token.json"))
    assert dec.provider is Provider.TELNYX
    assert isinstance(ev, Connected)
    assert ev.auth_token == "example-stream-auth-token"


@pytest.mark.parametrize(
    ("provider", "name", "expected"),
    [
        ("telnyx", "from_telnyx_02_start_pcmu.json", Provider.TELNYX),
        ("telnyx", "from_telnyx_02c_start_l16_16k.json", Provider.TELNYX),
        ("twilio", "from_twilio_02_start.json", Provider.TWILIO),
    ],
)
def test_decoder_detects_from_start(provider: str, name: str, expected: Provider) -> None:
    dec = FrameDecoder()
    ev = dec.decode(fixture(provider, name))
    assert dec.provider is expected
    assert isinstance(ev, Started)
    assert ev.provider is expected


def test_decoder_ambiguous_first_frame_returns_none_then_parses() -> None:
    dec = FrameDecoder()
    assert dec.decode('{"event": "connected"}') is None
    assert dec.provider is None
    # Still undetected: encoding is refused.
    with pytest.raises(FrameError) as info:
        dec.encode(SendClear(), None)
    assert info.value.kind == "unknown_provider"
    ev = dec.decode(fixture("telnyx", "from_telnyx_02_start_pcmu.json"))
    assert isinstance(ev, Started)
    assert dec.provider is Provider.TELNYX
    media = dec.decode(fixture("telnyx", "from_telnyx_03_media_inbound_pcmu_tone.json"))
    assert isinstance(media, Media)
    assert media.track is TrackName.INBOUND
    stop = dec.decode(fixture("telnyx", "from_telnyx_07_stop.json"))
    assert isinstance(stop, Stopped)


def test_decoder_ambiguous_then_twilio() -> None:
    dec = FrameDecoder()
    assert dec.decode('{"event": "connected"}') is None
    assert isinstance(dec.decode(fixture("twilio", "from_twilio_02_start.json")), Started)
    assert dec.provider is Provider.TWILIO
    out = json.loads(dec.encode(SendMark("m"), "MZ1"))
    assert out == {"event": "mark", "streamSid": "MZ1", "mark": {"name": "m"}}


def test_decoder_stays_on_detected_provider() -> None:
    dec = FrameDecoder()
    dec.decode(fixture("twilio", "from_twilio_02_start.json"))
    # A frame without Twilio ids is still parsed by the Twilio adapter.
    ev = dec.decode('{"event": "media", "media": {"payload": "//8="}}')
    assert isinstance(ev, Media)
    assert ev.stream_id is None
    assert ev.payload == b"\xff\xff"
    assert dec.provider is Provider.TWILIO


def test_decoder_first_media_frame_without_ids_is_an_error() -> None:
    dec = FrameDecoder()
    with pytest.raises(FrameError) as info:
        dec.decode('{"event": "media", "media": {"payload": "AA=="}}')
    assert info.value.kind == "unknown_provider"
    assert dec.provider is None


def test_decoder_explicit_provider() -> None:
    dec = FrameDecoder(Provider.TWILIO)
    assert dec.provider is Provider.TWILIO
    ev = dec.decode('{"event": "connected"}')
    assert ev == Connected(Provider.TWILIO, None, None)


def test_decoder_bad_frames_raise_with_kind() -> None:
    dec = FrameDecoder()
    cases: list[tuple[str | bytes, str]] = [
        ("{nope", "invalid_json"),
        ("[1, 2]", "wrong_type"),
        (b"\x00\x01", "binary_frame"),
    ]
    for data, kind in cases:
        with pytest.raises(FrameError) as info:
            dec.decode(data)
        assert info.value.kind == kind
    assert dec.provider is None
    dec.decode(fixture("telnyx", "from_telnyx_02_start_pcmu.json"))
    bad = as_dict(fixture("telnyx", "from_telnyx_03_media_inbound_pcmu_tone.json"))
    bad["media"]["payload"] = "%%%"
    with pytest.raises(FrameError) as info:
        dec.decode(json.dumps(bad))
    assert info.value.kind == "bad_base64"
    bad["media"]["payload"] = 7
    with pytest.raises(FrameError) as info:
        dec.decode(json.dumps(bad))
    assert info.value.kind == "wrong_type"
    bad["media"] = "x"
    with pytest.raises(FrameError) as info:
        dec.decode(json.dumps(bad))
    assert info.value.kind == "wrong_type"
    with pytest.raises(FrameError) as info:
        dec.decode(json.dumps({"event": "hangup", "stream_id": "s"}))
    assert info.value.kind == "unknown_event"
    with pytest.raises(FrameError) as info:
        dec.decode(json.dumps({"event": "stop", "stream_id": "s", "sequence_number": False}))
    assert info.value.kind == "wrong_type"
    # The decoder is still usable after bad frames.
    assert isinstance(
        dec.decode(fixture("telnyx", "from_telnyx_07_stop.json")), Stopped
    )


@pytest.mark.parametrize(
    ("provider", "stream_id", "expected"),
    [
        (Provider.TELNYX, "S1", {"event": "media", "media": {"payload": "/w=="}}),
        (
            Provider.TWILIO,
            "MZ1",
            {"event": "media", "streamSid": "MZ1", "media": {"payload": "/w=="}},
        ),
    ],
)
def test_decoder_encode_uses_provider_adapter(
    provider: Provider, stream_id: str, expected: dict[str, Any]
) -> None:
    dec = FrameDecoder(provider)
    assert json.loads(dec.encode(SendMedia(b"\xff"), stream_id)) == expected


def test_decoder_round_trip_all_fixtures_of_each_provider() -> None:
    for paths, provider in ((TELNYX_FROM, Provider.TELNYX), (TWILIO_FROM, Provider.TWILIO)):
        dec = FrameDecoder()
        events = [dec.decode(text(p)) for p in paths]
        assert dec.provider is provider
        assert all(ev is not None for ev in events)
