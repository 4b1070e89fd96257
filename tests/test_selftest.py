"""The self-test runs every codec it names, on real audio, and fails loudly for one that does
not work (`coach-console self-test`, console/selftest.py)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from console import selftest
from console.audio.codecs import make_decoder
from console.core.events import MediaFormat
from console.protocol.base import _DEFAULT_RATES


def test_every_encoding_the_console_knows_has_a_codec_check() -> None:
    checked = {name for name, _ in selftest.CODEC_CHECKS}
    assert checked == set(_DEFAULT_RATES)  # PCMU, PCMA, L16, G722, OPUS, AMR-WB


def test_the_codec_check_reports_what_each_codec_did() -> None:
    detail = selftest._codecs()
    parts = dict(p.split(" ", 1) for p in detail.split("; "))
    assert set(parts) == {"PCMU", "PCMA", "L16", "G722", "OPUS", "AMR-WB"}
    # What was run, not a fixed sentence: the tone found in each decoded signal.
    for name in ("L16", "G722", "OPUS", "AMR-WB"):
        assert "1000 Hz at RMS" in parts[name], (name, parts[name])
    assert "unstated order found (little)" in parts["L16"]
    assert "20 real frames, both payload layouts" in parts["AMR-WB"]


def test_the_amrwb_sample_is_real_encoded_speech_codec_output() -> None:
    # The shipped frames decode to the tone they were made from, 20 ms each, none refused:
    # random bits would decode too, but not to a 1 kHz tone.
    data = base64.b64decode("".join(selftest.AMRWB_SAMPLE))
    assert len(data) == 20 * selftest.AMRWB_FRAME_BYTES
    octet, packed = selftest._amrwb_payloads(data)
    dec = make_decoder(MediaFormat("AMR-WB", 16000))
    pcm = np.concatenate([dec.decode(p) for p in packed])
    assert pcm.size == 20 * 320 and getattr(dec, "failures", 0) == 0
    assert "1000 Hz" in selftest._expect_tone(pcm, 16000)
    assert octet[0][0] == 0xF0 and len(octet[0]) == 34  # CMR, ToC, 32 speech bytes
    assert len(packed[0]) == (4 + 6 + 253 + 7) // 8


def _corrupt_amrwb() -> bytes:
    data = bytearray(base64.b64decode("".join(selftest.AMRWB_SAMPLE)))
    for i in range(0, len(data), selftest.AMRWB_FRAME_BYTES):
        for j in range(i + 1, i + selftest.AMRWB_FRAME_BYTES):
            data[j] ^= 0x5A  # speech bits damaged, headers intact: it still "decodes"
    return bytes(data)


def test_a_codec_that_decodes_wrong_fails_the_self_test_by_name() -> None:
    bad = _corrupt_amrwb()
    checks = [("PCMU", lambda: selftest._check_g711("PCMU")),
              ("AMR-WB", lambda: selftest._check_amrwb(bad))]
    out = io.StringIO()
    code = selftest.self_test(out, [("codecs", lambda: selftest._codecs(checks), True)])
    text = out.getvalue()
    assert code == 1
    assert "[FAIL] codecs" in text and "self-test FAILED (1 essential)" in text
    assert "AMR-WB FAILED" in text and "expected 1000 Hz" in text
    assert "(PCMU passed)" in text  # the others still ran


def test_l16_read_in_the_wrong_byte_order_is_caught() -> None:
    # A decoder that kept the default order for little-endian audio would play noise.
    with pytest.raises(selftest.CodecCheckFailed):
        selftest._expect_tone(np.frombuffer(selftest._tone(16000, 0.4).astype("<i2")
                                            .tobytes(), ">i2").astype(np.int16), 16000)
    assert "1000 Hz" in selftest._check_l16("little")
    assert "1000 Hz" in selftest._check_l16("big")
