"""Redaction of card numbers (Luhn-checked), social security numbers and digit runs read
aloud, in transcript text; and of keypad runs (card or PIN entry) in DTMF.

Recognisers write digits either as numerals ("4539 2810") or as words ("four five three
nine"); both are caught. Short numbers (amounts, years) are left alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["DtmfRedactor", "Redaction", "luhn_ok", "redact"]

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


class DtmfRedactor:
    """Keypad digits pressed in quick succession form a run; a run of `min_run` or more
    (a card number, a PIN, an account number) is masked, a lone "1 to confirm" is not.
    Digits are held until their run is decided, so a masked digit is never shown or kept."""

    def __init__(self, min_run: int = 4, gap_s: float = 3.0) -> None:
        self.min_run = min_run
        self.gap_s = gap_s
        self._run: list[tuple[str, float]] = []

    def push(self, digit: str, at_s: float) -> list[tuple[str, float]]:
        """Digits now decided, as (digit or "*", at_s)."""
        out = self.due(at_s)
        self._run.append((digit, at_s))
        if len(self._run) >= self.min_run:
            out += [("*", t) for _, t in self._run]
            self._run = []
            self._masking_until = at_s + self.gap_s
        elif getattr(self, "_masking_until", -1.0) >= at_s:
            # Still the same run as digits already masked.
            out += [("*", t) for _, t in self._run]
            self._run = []
            self._masking_until = at_s + self.gap_s
        return out

    def due(self, now_s: float) -> list[tuple[str, float]]:
        """Release a short run once no digit followed it within the gap."""
        if self._run and now_s - self._run[-1][1] > self.gap_s:
            out, self._run = list(self._run), []
            return out
        return []

    def flush(self) -> list[tuple[str, float]]:
        out, self._run = list(self._run), []
        return out
