"""Redaction of cards, SSNs and digits read aloud; keypad runs."""

from __future__ import annotations

import pytest

from console.analysis.redaction import DtmfRedactor, luhn_ok, redact


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("my card is 4539 1488 0343 6467 thanks", "my card is [card number] thanks", ["card"]),
        ("card 4539-1488-0343-6467", "card [card number]", ["card"]),
        ("it's 4539148803436467.", "it's [card number].", ["card"]),
        ("number 4539 1488 0343 6468", "number [digits]", ["digits"]),  # fails Luhn
        ("ssn 123-45-6789 ok", "ssn [SSN] ok", ["ssn"]),
        ("four five three nine, two eight one oh", "[digits]", ["digits"]),
        ("my pin is one two double three", "my pin is [digits]", ["digits"]),
        ("the code is 4 five 6 seven", "the code is [digits]", ["digits"]),
        ("call 415 555 0100 please", "call [digits] please", ["digits"]),
        ("it cost 1,200 dollars in 2024", "it cost 1,200 dollars in 2024", []),
        ("I have two dogs and one cat", "I have two dogs and one cat", []),
        ("press one to confirm", "press one to confirm", []),
        ("order 12345", "order 12345", []),
        # How tiny.en wrote a card number read out in pairs, in a real run of the demo:
        ("Yes, it's 4'5\", 2'8\", 1'0\", 6'7\", 3'4\", 5'5\", 2'8\".", "Yes, it's [digits].",
         ["digits"]),
        ("it's 4539/1488/0343/6467", "it's [card number]", ["card"]),
        ("that's $12,345.67 in total", "that's $12,345.67 in total", []),
    ],
)
def test_redact(text: str, expected: str, kinds: list[str]) -> None:
    r = redact(text)
    assert (r.text, r.found) == (expected, kinds)


def test_spoken_card_number_is_a_card() -> None:
    words = "four five three nine one four eight eight zero three four three six four six seven"
    assert redact(words).found == ["card"]


def test_luhn() -> None:
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert not luhn_ok("12ab")


def test_dtmf_runs_are_masked_and_single_keys_kept() -> None:
    r = DtmfRedactor(min_run=4, gap_s=3.0)
    out = r.push("1", 10.0)
    assert out == []  # held until its run is decided
    assert r.due(12.0) == []
    assert r.due(13.5) == [("1", 10.0)]  # nobody pressed more: a lone confirmation
    out = []
    for i, d in enumerate("4539"):
        out += r.push(d, 20.0 + i * 0.4)
    assert out == [("*", 20.0), ("*", 20.4), ("*", 20.8), ("*", pytest.approx(21.2))]
    more = r.push("1", 21.6) + r.push("4", 22.0)  # the same card number goes on
    assert more == [("*", 21.6), ("*", 22.0)]
    assert r.push("9", 40.0) == [] and r.flush() == [("9", 40.0)]
