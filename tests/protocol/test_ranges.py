"""Every number a peer sends is checked as it enters: out of range is a bad frame of its own
kind (base.py documents the ranges), never a value that reaches the engine."""

from __future__ import annotations

import json

import pytest

from console.audio.codecs import CodecError, make_decoder
from console.core.events import Media, Started
from console.protocol.base import MAX_COUNTER, FrameError, media_body
from console.protocol.detect import FrameDecoder, load_frame


def _telnyx(event: str, **body: object) -> str:
    return json.dumps({"event": event, "stream_id": "s1", **body})


def _start(rate: object = 8000, channels: object = 1, encoding: str = "PCMU") -> str:
    return _telnyx("start", sequence_number="1", start={
        "call_control_id": "v3:x", "media_format": {
            "encoding": encoding, "sample_rate": rate, "channels": channels}})


def _media(chunk: object = "2", timestamp: object = "20", seq: object = "3") -> str:
    return _telnyx("media", sequence_number=seq, media={
        "track": "inbound", "chunk": chunk, "timestamp": timestamp, "payload": "//8="})


def _decode(text: str) -> object:
    return FrameDecoder().decode(text)


@pytest.mark.parametrize(("frame", "kind"), [
    (_media(chunk="-1"), "bad_chunk"),
    (_media(chunk=-(10**12)), "bad_chunk"),
    (_media(chunk=1e30), "bad_chunk"),
    (_media(chunk=2**53), "bad_chunk"),
    (_media(timestamp=1e30), "bad_timestamp"),
    (_media(timestamp=-5), "bad_timestamp"),
    (_media(timestamp=2**63), "bad_timestamp"),  # beyond int64: killed the store writer
    (_media(seq="-3"), "bad_sequence"),
    (_media(seq=1e25), "bad_sequence"),
    (_start(rate=1_000_003), "bad_rate"),
    (_start(rate=10**12), "bad_rate"),
    (_start(rate=1e30), "bad_rate"),
    (_start(rate=-8000), "bad_rate"),
    (_start(channels=9), "bad_channels"),
    (_start(channels=-1), "bad_channels"),
    (_start(channels=1e30), "bad_channels"),
])
def test_out_of_range_numbers_are_bad_frames_of_their_kind(frame: str, kind: str) -> None:
    with pytest.raises(FrameError) as err:
        _decode(frame)
    assert err.value.kind == kind
    assert len(str(err.value)) < 120  # a huge number is not echoed digit by digit


def test_the_media_fast_path_checks_the_same_ranges() -> None:
    # The server reads media frames without the adapter (session.py): same checks.
    for body, kind in ((dict(chunk=1e30), "bad_chunk"), (dict(timestamp=2**63),
                                                          "bad_timestamp")):
        media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "", **body}
        with pytest.raises(FrameError) as err:
            media_body(media)
        assert err.value.kind == kind


@pytest.mark.parametrize("value", ["0", 1, str(MAX_COUNTER), 10**12, "1700000000000"])
def test_in_range_counters_pass_unchanged(value: object) -> None:
    event = _decode(_media(chunk=value, timestamp=value, seq=value))
    assert isinstance(event, Media)
    assert event.chunk == int(value) and event.timestamp == int(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("rate", "channels", "message"), [
    (96_000, 1, "sample rate 96000 Hz is not supported"),
    (4_000, 1, "sample rate 4000 Hz is not supported"),
    (384_000, 1, "sample rate 384000 Hz is not supported"),
    (16_000, 3, "3 channels are not supported"),
])
def test_rates_and_channels_the_decoders_cannot_take_are_refused_per_stream(
        rate: int, channels: int, message: str) -> None:
    # Accepted by the adapter (a real number), refused by the codec layer: the stream opens
    # with a problem on the call instead of decoding (registry: codec_error).
    event = _decode(_start(rate=rate, channels=channels, encoding="L16"))
    assert isinstance(event, Started)
    with pytest.raises(CodecError, match=message):
        make_decoder(event.media_format)


@pytest.mark.parametrize("rate", [8000, 11025, 12345, 16000, 22050, 44100, 48000])
def test_any_rate_in_range_decodes(rate: int) -> None:
    event = _decode(_start(rate=rate, encoding="L16"))
    assert isinstance(event, Started)
    assert make_decoder(event.media_format).rate == rate


def test_absent_or_zero_rate_and_channels_mean_the_codec_default() -> None:
    event = _decode(_start(rate=0, channels=0))
    assert isinstance(event, Started)
    assert event.media_format.sample_rate == 8000 and event.media_format.channels == 1
    assert load_frame(_start()) is not None


def _start_with(**start: object) -> str:
    body = {"call_control_id": "v3:x", "media_format": {"encoding": "PCMU",
                                                        "sample_rate": 8000}, **start}
    return _telnyx("start", start=body)


@pytest.mark.parametrize(("frame", "kind"), [
    (_telnyx("start", stream_id="s" * 10_000, start={"media_format": {"encoding": "PCMU"}}),
     "oversize_field"),
    (_start_with(custom_parameters={f"k{i}": "v" for i in range(65)}), "oversize_field"),
    (_start_with(custom_parameters={"role": "x" * 5000}), "oversize_field"),
    (_start_with(custom_parameters=[{"name": "n" * 300, "value": "v"}]), "oversize_field"),
    (_start_with(tags=["t"] * 65), "oversize_field"),
    (_start_with(tracks=["inbound"] * 65), "oversize_field"),
    (_start_with(**{"from": "+1" * 200}), "oversize_field"),
    (_start_with(client_state="c" * 5000), "oversize_field"),
    (_telnyx("dtmf", dtmf={"digit": "12"}), "bad_value"),
    (_telnyx("dtmf", dtmf={"digit": "x"}), "bad_value"),
    (_telnyx("dtmf", dtmf={"digit": "9" * 100_000}), "oversize_field"),
    (_telnyx("mark", mark={"name": "m" * 300}), "oversize_field"),
    (_telnyx("media", stream_id=2**60, media={"payload": ""}), "oversize_field"),
    (_telnyx("media", stream_id=10**30, media={"payload": ""}), "wrong_type"),  # a float
])
def test_text_fields_have_bounds_too(frame: str, kind: str) -> None:
    with pytest.raises(FrameError) as err:
        _decode(frame)
    assert err.value.kind == kind
    assert len(str(err.value)) < 120


def test_provider_error_text_is_kept_but_bounded() -> None:
    from console.core.events import ProviderError

    event = _decode(_telnyx("error", payload={"code": 10**30, "title": "t" * 10_000,
                                              "detail": "d" * 100_000}))
    assert isinstance(event, ProviderError)
    assert event.code is None and len(event.title) == 256 and len(event.detail) == 4096


def test_keypad_keys_and_repeated_tracks_pass() -> None:
    from console.core.events import Dtmf

    for key in "0123456789*#ABCD":
        event = _decode(_telnyx("dtmf", dtmf={"digit": key}))
        assert isinstance(event, Dtmf) and event.digit == key
    started = _decode(_start_with(tracks=["inbound", "inbound_track", "outbound"]))
    assert isinstance(started, Started) and len(started.tracks) == 2
