"""media_frame, the server's media path: its short path for the common shape accepts and
refuses exactly what the full checks (counter for the sequence number, then media_body) do,
with the same values and the same bad-frame kinds."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest

from console.core.events import TrackName
from console.protocol.base import MAX_COUNTER, FrameError, counter, media_body, media_frame
from console.protocol.detect import load_frame

PAYLOAD = base64.b64encode(bytes(range(160))).decode()


def reference(msg: dict[str, Any]) -> object:
    """What the session checked before media_frame existed: the sequence number (either
    provider's name), then the media object. A FrameError's kind, or the 4-tuple."""
    seq = msg.get("sequence_number", msg.get("sequenceNumber"))
    try:
        if seq is not None:
            counter(seq, "sequence number", "bad_sequence")
        return media_body(msg.get("media"))
    except FrameError as exc:
        return exc.kind


def fast(msg: dict[str, Any]) -> object:
    try:
        return media_frame(msg)
    except FrameError as exc:
        return exc.kind


TRACKS: list[object] = ["inbound", "outbound", "inbound_track", "outbound_track", "INBOUND",
                        " outbound ", "both", "", None, 1, True, ["inbound"], {"a": 1}]
NUMBERS: list[object] = ["0", "7", "007", "123456789012345", "1234567890123456",
                         str(MAX_COUNTER), str(MAX_COUNTER + 1), "9" * 20, "", " 5", "5 ", "+5",
                         "-5", "1_000", "٣", "²", "5.0", 5, -5, 0, MAX_COUNTER, 2**63, 5.0, 5.5,
                         1e30, True, None, [1], {"n": 1}]
PAYLOADS: list[object] = [PAYLOAD, PAYLOAD.rstrip("="), PAYLOAD[:100] + "\n" + PAYLOAD[100:],
                          PAYLOAD[:-4] + "*AA=", PAYLOAD + "=", "=" + PAYLOAD, "", "é" + PAYLOAD,
                          "//8=", "////", "/", None, 5, [PAYLOAD]]


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    base = {"track": "inbound", "chunk": "2", "timestamp": "20", "payload": PAYLOAD}
    for field, values in (("track", TRACKS), ("chunk", NUMBERS), ("timestamp", NUMBERS),
                          ("payload", PAYLOADS)):
        for value in values:
            cases.append({"event": "media", "sequence_number": "3",
                          "media": {**base, field: value}})
        cases.append({"event": "media", "sequence_number": "3",
                      "media": {k: v for k, v in base.items() if k != field}})
    for seq in NUMBERS:
        cases.append({"event": "media", "sequence_number": seq, "media": base})
        cases.append({"event": "media", "sequenceNumber": seq, "media": base})
        cases.append({"event": "media", "sequence_number": None, "sequenceNumber": seq,
                      "media": base})
    cases.append({"event": "media", "media": base})  # no sequence number at all
    for media in (None, [], "x", 5, {}):
        cases.append({"event": "media", "sequence_number": "3", "media": media})
    cases.append({"event": "media"})
    # Two fields wrong at once: the full checks' order decides which one is reported.
    for chunk, stamp in itertools.product(("x", "5"), ("y", "6")):
        cases.append({"event": "media", "sequence_number": "z",
                      "media": {**base, "chunk": chunk, "timestamp": stamp, "payload": "*"}})
    return cases


@pytest.mark.parametrize("msg", _cases(), ids=lambda m: json.dumps(m)[:70])
def test_same_verdict_and_values_as_the_full_checks(msg: dict[str, Any]) -> None:
    assert fast(msg) == reference(msg)


def test_the_common_frames_take_the_short_path_and_keep_their_values() -> None:
    text = ('{"event":"media","sequence_number":"4","stream_id":"s","media":{"track":'
            f'"outbound","chunk":"000123","timestamp":"2460","payload":"{PAYLOAD}"}}}}')
    assert media_frame(load_frame(text)) == (TrackName.OUTBOUND, 123, 2460, bytes(range(160)))
    twilio = {"event": "media", "sequenceNumber": "9", "streamSid": "MZ1",
              "media": {"track": "inbound", "chunk": "7", "timestamp": "140",
                        "payload": PAYLOAD}}
    assert media_frame(twilio) == (TrackName.INBOUND, 7, 140, bytes(range(160)))


def test_the_short_path_never_takes_what_the_full_checks_refuse() -> None:
    # Whatever is malformed, the verdict is the full checks' (one of each kind here).
    kinds = {fast(m) for m in _cases() if isinstance(reference(m), str)}
    assert {"bad_chunk", "bad_timestamp", "bad_sequence", "bad_base64", "wrong_type",
            "bad_value"} <= kinds
