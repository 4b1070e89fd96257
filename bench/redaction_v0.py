"""The per-utterance transcript redactor as it was before issue 12 (each segment on its own,
no memory across utterances), frozen here so bench/redaction.py can compare against it.
Not used by the console."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3",
                "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_REPEAT = {"double": 2, "triple": 3}
# A run of numerals, with whatever recognisers put between groups: spaces, dashes, commas,
# slashes, even feet-and-inches quotes (4'5", 2'8"). Not dots: those are decimals.
_NUMERAL_RUN = re.compile(r"(?<!\w)(?<!\d\.)\d(?:[ \-'\",/]{0,3}\d){3,}['\"]?(?!\w|\.\d)")
_SSN = re.compile(r"(?<!\d)\d{3}[- ]\d{2}[- ]\d{4}(?!\d)")
_TOKEN = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]+|\s+")


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass
class Redaction:
    text: str
    found: list[str] = field(default_factory=list)  # kinds, in order: card, ssn, digits


def _numeral(match: str, found: list[str]) -> str:
    digits = re.sub(r"\D", "", match)
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        found.append("card")
        return "[card number]"
    if len(digits) >= 6:
        found.append("digits")
        return "[digits]"
    return match


def _spoken_runs(text: str, found: list[str]) -> str:
    """Replace runs of four or more spoken digits ("four five double three") by [digits]."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        first = tokens[i].lower()
        if not (first in _DIGIT_WORDS or first in _REPEAT or first.isdigit()) or first == "o":
            out.append(tokens[i])
            i += 1
            continue
        j, digits, last_word = i, "", i
        while j < len(tokens):
            word = tokens[j].lower()
            if word.isspace() or word in (",", "-", "."):
                j += 1
                continue
            if word in _REPEAT and j + 2 < len(tokens) and tokens[j + 2].lower() in _DIGIT_WORDS:
                digits += _DIGIT_WORDS[tokens[j + 2].lower()] * _REPEAT[word]
                j += 3
                last_word = j
                continue
            if word in _DIGIT_WORDS and not (word == "o" and not digits):
                digits += _DIGIT_WORDS[word]
                j += 1
                last_word = j
                continue
            if word.isdigit():
                digits += word
                j += 1
                last_word = j
                continue
            break
        spoken = any(t.lower() in _DIGIT_WORDS or t.lower() in _REPEAT
                     for t in tokens[i:last_word])
        if len(digits) >= 4 and spoken:
            kind = "card" if 13 <= len(digits) <= 19 and luhn_ok(digits) else "digits"
            found.append(kind)
            out.append("[card number]" if kind == "card" else "[digits]")
            i = last_word
            continue
        out.append(tokens[i])
        i += 1
    return "".join(out)


def redact(text: str) -> Redaction:
    found: list[str] = []

    def ssn(m: re.Match[str]) -> str:
        found.append("ssn")
        return "[SSN]"

    text = _SSN.sub(ssn, text)
    text = _NUMERAL_RUN.sub(lambda m: _numeral(m.group(0), found), text)
    text = _spoken_runs(text, found)
    return Redaction(text, found)
