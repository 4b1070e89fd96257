"""Audio messages on the bus (console/team/wire.py) and subject names
(console/team/subjects.py): what a node or console reads from another machine is checked
before use, and every call id maps to its own valid subject token and KV key."""

from __future__ import annotations

import random
import re
import struct
from typing import Any

import numpy as np
import orjson
import pytest

from console.team import wire
from console.team.subjects import Subjects, check_name, token, untoken
from console.team.wire import BadAudio, pack, unpack

HEADER = {"call": "call-1", "k": "s-1/inbound", "r": "customer", "rate": 8000, "pos": 160}


def _raw(header: bytes, body: bytes = b"") -> bytes:
    return b"CA1" + struct.pack(">H", len(header)) + header + body


# --- wire ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_team_wire_round_trip(rate: int) -> None:
    pcm = np.array([0, 1, -1, 32767, -32768, 1234, -4321] * 23, dtype=np.int16)
    header = {**HEADER, "rate": rate, "extra": {"nested": [1, "two"]}}
    back_header, back = unpack(pack(header, pcm))
    assert back_header == header
    assert back.dtype == np.int16 and np.array_equal(back, pcm)


def test_team_wire_is_little_endian_whatever_the_input() -> None:
    pcm = np.array([1, -2, 258], dtype=">i2")  # big-endian samples in
    data = pack(HEADER, pcm)
    assert data.endswith(b"\x01\x00\xfe\xff\x02\x01")
    assert unpack(data)[1].tolist() == [1, -2, 258]


def test_team_wire_empty_audio_is_allowed() -> None:
    header, pcm = unpack(pack(HEADER, np.zeros(0, np.int16)))
    assert header == HEADER and pcm.size == 0


def test_team_wire_largest_body_is_allowed() -> None:
    pcm = np.ones(wire.MAX_PCM_BYTES // 2, np.int16)
    assert unpack(pack(HEADER, pcm))[1].size == pcm.size


@pytest.mark.parametrize(("data", "match"), [
    (b"", "not an audio message"),
    (b"CA1\x00", "not an audio message"),  # shorter than magic and length
    (b"CA2" + _raw(b"{}")[3:], "not an audio message"),
    (b"XX1" + _raw(orjson.dumps(HEADER))[3:], "not an audio message"),
    (b"ca1" + _raw(orjson.dumps(HEADER))[3:], "not an audio message"),
    (b"garbage that is long enough", "not an audio message"),
    (b"CA1\x00\x10{}", "header length"),  # says 16 header bytes, has 2
    (b"CA1\xff\xff" + b" " * 70000, "header length"),  # past the header limit
    (_raw(b"x" * (wire.MAX_HEADER + 1)), "header length"),
    (_raw(b"{not json"), "not JSON"),
    (_raw(b"\xff\xfe"), "not JSON"),
    (_raw(b"[8000]"), "must be an object"),
    (_raw(b"8000"), "must be an object"),
    (_raw(b"null"), "must be an object"),
    (_raw(orjson.dumps(HEADER), b"\x01\x02\x03"), "audio body of 3 bytes"),
    (_raw(orjson.dumps(HEADER), b"\x00" * (wire.MAX_PCM_BYTES + 2)), "audio body"),
])
def test_team_wire_refuses_malformed_messages(data: bytes, match: str) -> None:
    with pytest.raises(BadAudio, match=match):
        unpack(data)


@pytest.mark.parametrize("rate", [7999, 48001, 0, -8000, 8000.0, "8000", True, None,
                                  [8000], "missing"])
def test_team_wire_refuses_rates_outside_the_range(rate: Any) -> None:
    header = dict(HEADER)
    if rate == "missing":
        del header["rate"]
    else:
        header["rate"] = rate
    with pytest.raises(BadAudio, match="audio rate"):
        unpack(_raw(orjson.dumps(header), b"\x00\x00" * 160))


def test_team_wire_text_checks() -> None:
    header = {"call": "c" * 256, "console": "", "n": 5, "long": "x" * 129}
    assert wire.text(header, "call") == "c" * 256
    assert wire.text(header, "long") == "x" * 129
    for key, limit in (("console", 256), ("n", 256), ("missing", 256), ("long", 128),
                       ("call", 255)):
        with pytest.raises(BadAudio, match=repr(key)):
            wire.text(header, key, limit)


def test_team_wire_whole_checks() -> None:
    header = {"pos": 0, "big": 2**53, "neg": -1, "f": 1.0, "b": True, "s": "1",
              "huge": 2**53 + 1}
    assert wire.whole(header, "pos") == 0
    assert wire.whole(header, "big") == 2**53
    assert wire.whole(header, "neg", low=-5) == -1
    assert wire.whole(header, "pos", low=0, high=0) == 0
    for key in ("neg", "f", "b", "s", "huge", "missing"):
        with pytest.raises(BadAudio, match=repr(key)):
            wire.whole(header, key)
    with pytest.raises(BadAudio):
        wire.whole({"seq": 11}, "seq", low=0, high=10)


# --- subjects ------------------------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9_-]+")
AWKWARD = ["a.b", "a b", "*", ">", "a.*.>", "call_1", "_", "__", "_41", "A", "-",
           "v3:abc/def==", "ünïcödé", "日本語", "😀", "tab\there", "new\nline", "\x00",
           "x" * 300, "CA1234567890abcdef", "v3:Xx-Yy_Zz.123", "%41", "a\\b", "\"q\""]


@pytest.mark.parametrize("ident", AWKWARD)
def test_team_subjects_token_round_trip(ident: str) -> None:
    tok = token(ident)
    assert TOKEN.fullmatch(tok), tok
    assert untoken(tok) == ident


def test_team_subjects_tokens_are_valid_subjects_and_kv_keys() -> None:
    subjects = Subjects("blue-team")
    kv_key = re.compile(r"[-/_=.a-zA-Z0-9]+")  # what JetStream KV accepts as a key
    for ident in AWKWARD:
        for subject in (subjects.facts("east-1", ident), subjects.talk("east-1", ident),
                        subjects.audio("east-1", ident), subjects.wave("east-1", ident)):
            parts = subject.split(".")
            assert len(parts) == 5 and parts[-1] == token(ident)
            assert all(TOKEN.fullmatch(p) for p in parts), subject
        key = subjects.call_key(ident)
        assert kv_key.fullmatch(key) and key == f"blue-team.{token(ident)}"
        assert not key.startswith(".") and not key.endswith(".")


def test_team_subjects_safe_characters_are_kept() -> None:
    assert token("East-1-call-42") == "East-1-call-42"
    assert token("a_b") == "a_5fb"
    assert token("a.b") == "a_2eb"
    assert token("é") == "_c3_a9"


def test_team_subjects_distinct_ids_give_distinct_tokens() -> None:
    rng = random.Random(13)
    # few troublemaking characters, so many ids differ only by one of them
    alphabet = "ab_.-*> 0F\u00e9\u65e5\U0001f600"
    ids = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(600)}
    ids |= {"".join(chr(rng.randint(1, 0xD7FF)) for _ in range(rng.randint(1, 12)))
            for _ in range(300)}
    tokens = {}
    for ident in ids:
        tok = token(ident)
        assert TOKEN.fullmatch(tok), (ident, tok)
        assert untoken(tok) == ident
        assert tokens.setdefault(tok, ident) == ident, (ident, tokens[tok])
    assert len(tokens) == len(ids) > 700
    # escapes never look like the text they might be confused with
    assert len({token(i) for i in ("A", "_41", "_5f41", "_", "__", "")}) == 6


@pytest.mark.parametrize("name", ["a", "east-1", "East_2", "0", "9lives", "a" * 64,
                                  "node-with_both"])
def test_team_subjects_check_name_accepts(name: str) -> None:
    assert check_name("node", name) == name
    assert Subjects(name).root == f"coach.{name}"


@pytest.mark.parametrize("name", ["", "-a", "_a", "a.b", "a b", "a*", ">", "é", "a" * 65,
                                  "a\n", "\na", "a/b", "a\x00"])
def test_team_subjects_check_name_refuses(name: str) -> None:
    with pytest.raises(ValueError, match="node name"):
        check_name("node", name)
    with pytest.raises(ValueError, match="team name"):
        Subjects(name)
