"""Word error rate with the usual normalisation, so spelling conventions ("Mr." for "mister",
"10" for "ten", hyphens, punctuation) are not counted as recognition errors."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["edit_distance", "normalise", "word_errors"]

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}


def _number(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        rest = _number(n % 100) if n % 100 else []
        return [_ONES[n // 100], "hundred", *rest]
    return [_ONES[int(d)] for d in str(n)]  # long numbers: digit by digit, as read out


def normalise(text: str) -> list[str]:
    text = text.lower().replace("-", " ").replace("’", "'")
    text = re.sub(r"\$(\d+)", r"\1 dollars", text)  # recognisers write "$89" for it
    out: list[str] = []
    for token in re.findall(r"[a-z']+|\d+", text):
        if token.isdigit():
            out += _number(int(token))
        else:
            token = token.strip("'")
            out.append(_ABBREV.get(token, token))
    return [w for w in out if w]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning `ref` into `hyp` (word lists)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after normalising both."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp), len(ref)
