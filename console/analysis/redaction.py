"""Redaction of card numbers, social security numbers and other digit runs read aloud, in
transcript text; and of keypad runs (card or PIN entry) in DTMF.

People read a card number in groups with pauses, so one number often spans several
utterances ("4539" ... "1488" ...), and a short answer ("5501") is only sensitive because
the agent just asked for "the last four". `CallRedactor` keeps a short memory of each call:
a digit run that ends one utterance and one that starts the same speaker's next are one run,
and payment words said by either party make what follows a payment context. When a later
utterance shows that earlier text held part of a number, the earlier segment's new text is
returned as a correction. A segment ending in digits that more digits could still get masked
("4539" alone) is held back until that is decided (`Redacted.pending`), so the first group
of a card is not handed out raw even for a moment. `redact()` applies the same rules to one
text on its own.

Recognisers write digits as numerals ("4539 2810") or words ("four five double three",
"oh nine twenty seven"); both are read. Rules, in order:
- a Luhn-valid run of 13 to 19 digits is a card: "[card number]"; 123-45-6789, or nine
  digits after "social security", is "[SSN]";
- an amount ($45, 89 dollars), time (at 3 30, 10 am), date or year (March 15, 12/05/2024,
  since 2019), count (3 days, 16 digits), street number (1600 Pennsylvania Avenue) or a
  number named as something else (order, case, ticket, room, zip...) is left alone; dates,
  years and times are not exempt after "expiry";
- any other run of six digits or more (phone, account numbers) and four or more digits read
  one by one ("3 8 2 1") is "[digits]", and so is a run of three or more in a payment
  context (card, last four, expiry, CVV, security code, PIN, account, sort code, routing,
  social security), said in the same segment, in the 30 s before it, or by the same speaker
  just after it.
tests/data/redaction holds the labelled cases; bench/redaction.py scores them."""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

__all__ = ["CallRedactor", "DtmfRedactor", "Redacted", "Redaction", "luhn_ok", "redact"]

# --- bounds (seconds are on the call's timeline) ---------------------------------------------
JOIN_GAP_S = 8.0  # a pause longer than this between two groups ends the number
CONTEXT_S = 30.0  # how long "card number?" makes the following answers sensitive
CONTEXT_SEGMENTS = 8  # ... and over at most this many segments in between
RETRO_S = 6.0  # "5501." then "that's the last four" (same speaker) still counts
WINDOW_S = 120.0  # earlier segments kept for joining and correction
MAX_SEGMENTS = 48
# Holding back: a segment ending in digits that more digits could still turn into a card
# (or another masked run) is not handed out until that is decided, so its digits are never
# shown raw. A chain of at least HOLD_MIN_DIGITS digits is held (a lone digit reveals
# nothing); at most MAX_HELD segments of a call at once (the oldest is let go beyond that).
HOLD_MIN_DIGITS = 2
MAX_HELD = 8

PLACEHOLDER = {"card": "[card number]", "ssn": "[SSN]", "digits": "[digits]"}
_RANK = {"digits": 0, "ssn": 1, "card": 2}

_UNITS = {"zero": 0, "nought": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4,
          "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
          "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
_REPEAT = {"double": 2, "triple": 3}
_MAYBE_ZERO = {"oh", "o"}  # "oh" is a digit only beside other digits
# Between groups of one run, inside one segment.
_SEP_CHARS = set(",-./'\"…–—")
_IN_RUN = {"um", "uh", "uhm", "er", "erm", "ah", "hmm", "mm", "then", "slash", "dash"}
# What may come before the first group of a segment that goes on with the last one...
_LEAD_IN = _IN_RUN | {"and", "so", "yes", "yeah", "yep", "yup", "ok", "okay", "sorry", "it's",
                      "its", "it", "is", "that's", "thats", "right", "alright", "sure", "oh",
                      "the", "rest", "after", "that", "well", "next", "then", "continuing",
                      "i", "said", "mhm", "uh-huh", "go", "on"}
# ... and after the last group of a segment that may go on in the next.
_TRAIL = _IN_RUN | {"and", "so", "um", "uh"}

# Payment context: phrase -> kind. Words inside these phrases ("last four") are not digits.
_TRIGGERS: dict[str, str] = {}
for _topic, _phrases in {
    "card": ["card", "cards", "credit card", "debit card", "card number", "long number",
             "visa", "mastercard", "master card", "amex", "american express", "debit",
             "credit", "ending in", "ends in", "ending with", "ends with", "last four",
             "last 4", "final four", "first four", "first 4", "first six", "first 6",
             "last three", "next four", "next 4", "digits", "on the front"],
    "expiry": ["expiry", "expiration", "expires", "expire", "expiring", "exp date",
               "valid thru", "valid through", "valid until", "valid till", "good thru",
               "good through", "end date"],
    "cvv": ["cvv", "cvv2", "cvc", "cvc2", "cv2", "csc", "security code", "security number",
            "on the back", "three digit code", "3 digit code", "verification code",
            "verification number"],
    "pin": ["pin", "pins", "pin number", "pin code", "passcode", "pass code", "password",
            "access code", "one time code", "one-time code", "otp"],
    "account": ["account number", "account", "acct", "sort code", "routing", "routing number",
                "aba", "iban", "swift", "bank account", "checking account", "savings account"],
    "ssn": ["social security", "social security number", "ssn", "social", "tax id",
            "national insurance"],
}.items():
    for _p in _phrases:
        _TRIGGERS[_p] = _topic
_TRIGGER_RE = re.compile(
    r"(?<![\w'])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+")
                                for p in sorted(_TRIGGERS, key=len, reverse=True))
    + r")(?![\w'])", re.IGNORECASE)

_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun",
           "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
# The word a number is about, looked for just before it.
_BEFORE: dict[str, str] = {}
for _cat, _words in {
    "amount": "price prices cost costs costing total balance amount charge charges charged fee "
              "fees paid pay paying owe owed owing refund refunded bill billed spent spend "
              "worth payment payments deposit limit sum tip",
    "label": "order orders reference ref case ticket confirmation tracking invoice booking "
             "reservation flight room extension ext apartment apt suite unit flat zip zipcode "
             "postcode postal model serial version claim item sku part bus route gate seat "
             "platform channel page chapter line step option level floor building episode "
             "size volume issue plan address",
    "at": "at around about",
    "year": "in since during year",
    "yeartime": "from until till before after by",
}.items():
    for _w in _words.split():
        _BEFORE[_w] = _cat
for _m in _MONTHS:
    _BEFORE[_m] = "date"
# Asking for one of these ends a payment context: "and the billing zip?" ... "90210".
_TOPIC_LABELS = {"order", "reference", "ref", "ticket", "confirmation", "tracking", "invoice",
                 "booking", "reservation", "flight", "room", "extension", "zip", "zipcode",
                 "postcode", "postal", "address", "model", "serial", "claim"}
_SKIP_BEFORE = {"number", "numbers", "no", "num", "code", "id", "is", "was", "are", "were",
                "it's", "its", "it", "the", "my", "your", "his", "her", "our", "their", "a",
                "an", "of", "that", "that's", "this", "be", "will", "would", "should", "um",
                "uh", "er", "just", "only", "exactly", "roughly", "me",
                "you", "us", "them", "for", "been", "now", "currently"}
_AFTER_RE = re.compile(
    r"""[\s\-]*(?:
      (?P<amount>dollars?|bucks?|cents?|pounds?|quid|pence|euros?|p\b|percent\b|%|k\b
        |grand\b|million|billion|thousand\b|(?:a|per|each)\s+(?:month|year|week|day)\b
        |each\b|apiece\b)
    | (?P<time>[ap]\.?\s?m\b\.?|o'?clock|hours?\b|hrs?\b|minutes?\b|mins?\b|seconds?\b|secs?\b
        |in\s+the\s+(?:morning|afternoon|evening))
    | (?P<date>(?:st|nd|rd|th)\b|(?:of\s+)?(?:january|february|march|april|may|june|july
        |august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct
        |nov|dec)\b)
    | (?P<count>digits?\b|numbers?\b|times\b|items?\b|things?\b|days?\b|weeks?\b|months?\b
        |years?\b|yrs?\b|people\b|persons?\b|calls?\b|orders?\b|boxes\b|units?\b|pieces?\b
        |kids?\b|children\b|miles?\b|km\b|kilomet(?:er|re)s?\b|met(?:er|re)s?\b|feet\b|foot\b
        |inch(?:es)?\b|kgs?\b|kilos?\b|lbs?\b|gb\b|mb\b|tb\b|gigs?\b|of\s+(?:them|those|these)
        |more\b|extra\b|left\b|percent\b)
    | (?P<address>(?:[\w']+\s+){0,2}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|way
        |boulevard|blvd|court|ct|place|pl|terrace|close|crescent|highway|hwy|parkway
        |pkwy)\b)
    )""", re.IGNORECASE | re.VERBOSE)
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)")
_SSN_SHAPE = re.compile(r"\d{3}[\s\-.]+\d{2}[\s\-.]+\d{4}")
_DATE_SHAPE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](?:\d{2}|\d{4})"
                         r"|\d{4}[/.\-](\d{1,2})[/.\-](\d{1,2})")

_TOKEN = re.compile(
    r"(?P<qty>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|\d+\.\d+(?![\w]))"  # 1,200  45.99
    r"|(?P<num>\d+)(?![A-Za-z\d])"
    r"|(?P<word>[A-Za-z\d]+(?:['’][A-Za-z]+)*)"  # 15th, it's
    r"|(?P<space>\s+)"
    r"|(?P<punct>.)", re.S)


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


@dataclass(frozen=True)
class Redacted:
    """One final segment through `CallRedactor.push`: its text to publish, and the new text
    of earlier segments (by segment_id) that now turn out to hold part of a number.

    `pending`: the segment ends with digits that the next words may turn into a card (or
    another masked run); hold it back. `text` is then only what to show meanwhile, every
    undecided run masked; its real text comes later from `released` (of a later push),
    `release` or `flush`. `released`: earlier held segments now decided, with the text to
    publish for the first time (before this segment: they were said earlier)."""

    text: str
    corrections: dict[str, str] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)
    pending: bool = False
    released: dict[str, str] = field(default_factory=dict)


# --- one segment's text, parsed once ---------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str  # qty, num, word, punct (spaces are dropped)
    text: str
    lo: int
    hi: int
    low: str
    trigger: bool = False


@dataclass
class _Item:
    first: int  # token indices, inclusive
    last: int
    digits: str
    single: bool  # one digit per word or numeral: read out digit by digit
    maybe_zero: bool = False


@dataclass
class _Run:
    lo: int
    hi: int
    digits: str
    single: bool
    at_start: bool  # only lead-in words before it in its segment
    at_end: bool  # only fillers after it
    before: str | None  # what the word before it says it is: amount, label, at, year...
    after: str | None  # amount, time, date, count, address
    ssn_shape: bool
    date_shape: bool


@dataclass
class _Seg:
    sid: str
    speaker: Hashable
    start: float
    end: float
    text: str
    order: int
    runs: list[_Run]
    triggers: frozenset[str]
    topic: str | None  # the last payment kind or "label" it speaks of
    tail: str | None  # what its last words say a number right after would be
    words: int
    shown: str = ""  # the text last handed out for it


def _tokens(text: str) -> tuple[list[_Tok], list[tuple[int, int, str]]]:
    spans = [(m.start(), m.end(), _TRIGGERS[" ".join(m.group(0).lower().split())])
             for m in _TRIGGER_RE.finditer(text)]
    toks = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        if kind == "space":
            continue
        lo, hi = m.span()
        trig = any(a < hi and lo < b for a, b, _ in spans)
        toks.append(_Tok(kind, m.group(0), lo, hi, m.group(0).lower().replace("’", "'"), trig))
    return toks, spans


def _word(toks: list[_Tok], i: int) -> str:
    return toks[i].low if i < len(toks) and toks[i].kind == "word" and not toks[i].trigger \
        else ""


def _small(toks: list[_Tok], i: int) -> tuple[int, int, int] | None:
    """A number under 100 said as words at i: (value, width in digits, next index)."""
    w = _word(toks, i)
    if w in _UNITS:
        return _UNITS[w], 1, i + 1
    if w in _TEENS:
        return _TEENS[w], 2, i + 1
    if w in _TENS:
        j = i + 1
        if j < len(toks) and toks[j].text == "-" and toks[j].hi - toks[j].lo == 1:
            j += 1
        u = _word(toks, j)
        if u in _UNITS and _UNITS[u] and u not in _MAYBE_ZERO:
            return _TENS[w] + _UNITS[u], 2, j + 1
        return _TENS[w], 2, i + 1
    return None


def _spoken(toks: list[_Tok], i: int) -> tuple[str, bool, bool, int] | None:
    """A number said as words at i: (digits, read digit by digit, maybe_zero, next index).
    "oh nine" is "09"; "twenty seven" "27"; "five hundred twelve" "512"."""
    w = _word(toks, i)
    if w == "a" and _word(toks, i + 1) in ("hundred", "thousand"):
        first: tuple[int, int, int] | None = (1, 1, i + 1)
    else:
        first = _small(toks, i)
    if first is None:
        return None
    value, width, j = first
    scale = _word(toks, j)
    if value and scale in ("hundred", "thousand"):
        value *= 100 if scale == "hundred" else 1000
        j += 1
        if scale == "thousand":
            more = _small(toks, j)
            if more and more[0] < 10 and _word(toks, more[2]) == "hundred":
                value += more[0] * 100
                j = more[2] + 1
        k = j + 1 if _word(toks, j) == "and" else j
        rest = _small(toks, k)
        if rest and rest[0] and _word(toks, k) not in _MAYBE_ZERO:
            value += rest[0]
            j = rest[2]
        return str(value), False, False, j
    return f"{value:0{width}d}", width == 1, w in _MAYBE_ZERO, j


def _items(toks: list[_Tok]) -> list[_Item]:
    items: list[_Item] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.trigger:
            i += 1
        elif t.kind == "num":
            items.append(_Item(i, i, t.text, len(t.text) == 1))
            i += 1
        elif t.low in _REPEAT and not t.trigger and (
                _word(toks, i + 1) in _UNITS
                or (i + 1 < len(toks) and toks[i + 1].kind == "num"
                    and len(toks[i + 1].text) == 1)):
            nxt = toks[i + 1]
            d = nxt.text if nxt.kind == "num" else str(_UNITS[nxt.low])
            items.append(_Item(i, i + 1, d * _REPEAT[t.low], True))
            i += 2
        else:
            said = _spoken(toks, i)
            if said is None:
                i += 1
                continue
            digits, single, zero, j = said
            items.append(_Item(i, j - 1, digits, single, zero))
            i = j
    return items


def _joined(toks: list[_Tok], a: _Item, b: _Item) -> tuple[bool, bool]:
    """Whether two items are one run, and whether punctuation stands between them."""
    punct = 0
    for t in toks[a.last + 1:b.first]:
        if t.kind == "punct" and t.text in _SEP_CHARS:
            punct += 1
        elif not (t.kind == "word" and t.low in _IN_RUN and not t.trigger):
            return False, False
    return punct <= 3, punct > 0


def _before(toks: list[_Tok], i: int) -> str | None:
    """What the words just before token i say the number is."""
    skipped = 0
    for k in range(i - 1, -1, -1):
        t = toks[k]
        if t.kind == "punct":
            if t.text in "$£€¥":
                return "amount" if k == i - 1 else None
            if t.text == "#":
                return "label"
            if t.text in ".?!;:":
                return None
            continue
        if t.trigger or t.kind != "word":
            return None
        if _ORDINAL.fullmatch(t.low):
            return "date"  # March 3rd 1985
        cat = _BEFORE.get(t.low)
        if cat is not None:
            return cat
        if t.low not in _SKIP_BEFORE or skipped >= 4:
            return None
        skipped += 1
    return None


def _runs(text: str, toks: list[_Tok]) -> list[_Run]:
    items = _items(toks)
    groups: list[list[tuple[_Item, bool]]] = []  # items, with "punctuation before it"
    for it in items:
        if groups:
            same, punct = _joined(toks, groups[-1][-1][0], it)
            if same:
                groups[-1].append((it, punct))
                continue
        groups.append([(it, False)])
    runs = []
    for g in groups:
        # A lone "oh", or one set off by a comma ("Oh, 1488"), is a word, not a zero.
        while g and g[0][0].maybe_zero and (len(g) == 1 or g[1][1] or toks[g[0][0].first].low
                                            == "o"):
            g = g[1:]
        while g and g[-1][0].maybe_zero and (len(g) == 1 or g[-1][1]):
            g = g[:-1]
        if not g:
            continue
        first, last = g[0][0], g[-1][0]
        lo, hi = toks[first.first].lo, toks[last.last].hi
        nxt = last.last + 1
        if (nxt < len(toks) and toks[nxt].lo == hi and toks[nxt].text in ("'", '"')
                and toks[last.last].kind == "num"):
            hi += 1  # feet-and-inches quotes around digits read in pairs: 4'5"
        raw = text[lo:hi]
        after = _AFTER_RE.match(text, hi)
        runs.append(_Run(
            lo, hi, "".join(it.digits for it, _ in g), all(it.single for it, _ in g),
            all(t.kind == "punct" or (t.kind == "word" and t.low in _LEAD_IN and not t.trigger)
                for t in toks[:first.first]),
            all(t.kind == "punct" or (t.kind == "word" and t.low in _TRAIL and not t.trigger)
                for t in toks[last.last + 1:]),
            _before(toks, first.first),
            after.lastgroup if after else None,
            bool(_SSN_SHAPE.fullmatch(raw)), _date_shape(raw)))
    return runs


def _date_shape(raw: str) -> bool:
    """12/05/2024, 2024-05-12: a day and a month (not a sort code such as 20-45-77)."""
    m = _DATE_SHAPE.fullmatch(raw)
    if m is None:
        return False
    a, b = (int(g) for g in (m.groups()[:2] if m.group(1) else m.groups()[2:]))
    return 1 <= min(a, b) <= 12 and 1 <= max(a, b) <= 31


def _exempt(before: str | None, first: _Run, last: _Run, digits: str,
            one_part: bool) -> str | None:
    """Why a run is not sensitive: amount, label, date, time, year, count, address."""
    n = len(digits)
    yearish = n == 4 and digits[:2] in ("19", "20")
    if before in ("amount", "label"):
        return before
    if before == "date" and n <= 6:
        return "date"
    if before in ("year", "yeartime") and yearish:
        return "year"
    if before in ("at", "yeartime") and n <= 4:
        return "time"
    if last.after is not None:
        return last.after
    if one_part and first.date_shape:
        return "date"
    return None


@dataclass
class _Chain:
    """One number, possibly over several of one speaker's segments."""

    parts: list[tuple[_Seg, int]]
    before: str | None  # what the words before its first digit say it is

    def runs(self) -> list[_Run]:
        return [seg.runs[i] for seg, i in self.parts]


def _kind(chain: _Chain, context: Callable[[], set[str]]) -> str | None:
    """card, ssn, digits or None (keep); `context` (the payment kinds said around the
    number) is asked only when the answer depends on it."""
    runs = chain.runs()
    digits = "".join(r.digits for r in runs)
    n = len(digits)
    if len(runs) == 1 and runs[0].ssn_shape:
        return "ssn"
    if 13 <= n <= 19 and luhn_ok(digits):
        return "card"
    if n < 3:
        return None
    why = _exempt(chain.before, runs[0], runs[-1], digits, len(runs) == 1)
    long_enough = n >= 6 or (n >= 4 and all(r.single for r in runs))
    if why is None and long_enough and n != 9:
        return "digits"
    ctx = context() - {"label"}
    if n == 9 and "ssn" in ctx:
        return "ssn"
    if why is not None and not (("expiry" in ctx and why in ("date", "year", "time"))
                                or ("account" in ctx and why == "date")):  # sort codes
        return None
    return "digits" if long_enough or ctx else None


def _may_grow(chain: _Chain, context: Callable[[], set[str]]) -> bool:
    """Whether more digits after this unmasked number could still get it masked: it has
    `HOLD_MIN_DIGITS` or more and is not named as something else (an amount, a time, an
    order number...), unless a payment word makes the name no excuse ("expiry" ... "09")."""
    runs = chain.runs()
    digits = "".join(r.digits for r in runs)
    if not HOLD_MIN_DIGITS <= len(digits) < 19:
        return False
    why = _exempt(chain.before, runs[0], runs[-1], digits, len(runs) == 1)
    ctx = context()
    if why is None:
        return ctx != {"label"}  # the answer to "and the zip code?" is a zip code
    return ("expiry" in ctx and why in ("date", "year", "time")) or (
        "account" in ctx and why == "date")


def _render(seg: _Seg, kinds: dict[int, str]) -> str:
    text = seg.text
    for i in sorted(kinds, reverse=True):
        run = seg.runs[i]
        text = text[:run.lo] + PLACEHOLDER[kinds[i]] + text[run.hi:]
    return text


class CallRedactor:
    """Redaction with memory, for one call: feed each final segment with `push` (any
    speaker, in the order their text arrives); it returns the text to publish and the new
    text of earlier segments, which then must be published again in place of the old.
    `peek` masks tentative text the same way without remembering it.

    A segment whose last digits may be the first part of a number that more digits would
    get masked ("4539", read as the first group of a card) is held (`Redacted.pending`)
    until that is decided: by the same speaker's next segment, the other party asking
    something, or the time (`release`, once the speaker has said nothing more within
    `JOIN_GAP_S`); `flush` lets everything go (the call ended). So no digit that turns out
    to be part of a card is ever handed out raw, and corrections remain for what is learnt
    late (text arriving out of order). With `hold=False`, nothing is held.

    Keeps the segments of the last `WINDOW_S` seconds (at most `MAX_SEGMENTS`); older ones
    are never joined or corrected."""

    def __init__(self, hold: bool = True) -> None:
        self.hold = hold
        self._segs: list[_Seg] = []  # by (start, end, arrival)
        self._masks: dict[str, dict[int, str]] = {}  # segment_id -> run index -> kind
        # Held segments: segment_id -> (speaker, call time after which no segment of the
        # speaker can join the number any more), oldest first.
        self._held: dict[str, tuple[Hashable, float]] = {}
        self._order = 0
        self._latest = 0.0
        self.corrections = 0  # earlier segments handed out again, for the figures
        self.held = 0  # segments held back, for the figures

    def __contains__(self, segment_id: object) -> bool:
        return segment_id in self._masks

    def push(self, segment_id: str, speaker: Hashable, start_s: float, end_s: float,
             text: str) -> Redacted:
        """One final segment (times on the call's timeline, seconds)."""
        again = [s for s in self._segs if s.sid == segment_id]
        if not again or again[0].text != text:
            self._masks[segment_id] = {}  # the same text again keeps what it had masked
        # Only a segment not handed out yet may be held: one published is corrected instead.
        may_hold = self.hold and (not again or segment_id in self._held)
        self._segs = [s for s in self._segs if s.sid != segment_id]
        seg = self._parse(segment_id, speaker, start_s, end_s, text)
        bisect.insort(self._segs, seg, key=lambda s: (s.start, s.end, s.order))
        decided, undecided = self._decide(self._segs)
        open_runs = self._open_runs(undecided)
        corrections: dict[str, str] = {}
        released: dict[str, str] = {}
        for s in self._segs:
            mask = self._masks[s.sid]
            changed = s is seg
            for i, kind in decided.get(s.sid, {}).items():
                if i not in mask or _RANK[kind] > _RANK[mask[i]]:
                    mask[i] = kind  # never shown raw again, at most made more specific
                    changed = True
            if changed:
                s.shown = _render(s, mask)
            if s is seg:
                continue
            if s.sid in self._held:
                if s.sid in open_runs:
                    self._held[s.sid] = (s.speaker, open_runs[s.sid][0])
                else:  # decided now: handed out for the first time
                    del self._held[s.sid]
                    released[s.sid] = s.shown
            elif changed:
                corrections[s.sid] = s.shown
        pending = may_hold and segment_id in open_runs
        self._held.pop(segment_id, None)
        if pending:
            self._held[segment_id] = (speaker, open_runs[segment_id][0])
            self.held += 1
        while len(self._held) > MAX_HELD:  # bounded: the oldest goes out as it stands
            released.update(self.flush([next(iter(self._held))]))
        self.corrections += len(corrections)
        self._latest = max(self._latest, end_s)
        released.update(self._evict(self._latest))
        pending = segment_id in self._held
        mask = self._masks.get(segment_id, decided.get(segment_id, {}))
        text = seg.shown
        if pending:  # meanwhile, the undecided digits are masked
            text = _render(seg, {**mask, **dict.fromkeys(open_runs[segment_id][1], "digits")})
        return Redacted(text, corrections, [mask[i] for i in sorted(mask)], pending, released)

    def holding(self) -> dict[str, tuple[Hashable, float]]:
        """Held segments: segment_id -> (speaker, the call time after which no segment of
        the speaker can join their number any more), oldest first."""
        return dict(self._held)

    def release(self, speaker: Hashable, heard_until_s: float) -> dict[str, str]:
        """Let go of `speaker`'s held segments that nothing can change any more, given that
        every segment of theirs starting before `heard_until_s` (call time) has been pushed:
        segment_id -> text to publish, oldest first."""
        done = [sid for sid, (who, until) in self._held.items()
                if who == speaker and until < heard_until_s]
        return self.flush(done)

    def flush(self, segment_ids: list[str] | None = None) -> dict[str, str]:
        """Let go of these held segments (all by default) as they stand: segment_id -> text
        to publish. Anything learnt later comes as a correction."""
        ids = list(self._held) if segment_ids is None else segment_ids
        shown = {s.sid: s.shown for s in self._segs}
        out: dict[str, str] = {}
        for sid in ids:
            if self._held.pop(sid, None) is not None and sid in shown:
                out[sid] = shown[sid]
        return out

    def peek(self, segment_id: str, speaker: Hashable, start_s: float, end_s: float,
             text: str) -> str:
        """Tentative text of a segment still being spoken, masked in the light of what
        came before it."""
        seg = self._parse(segment_id, speaker, start_s, end_s, text)
        segs = [s for s in self._segs if s.sid != segment_id]
        bisect.insort(segs, seg, key=lambda s: (s.start, s.end, s.order))
        decided, undecided = self._decide(segs)
        mask = decided.get(segment_id, {})
        # Digits that may yet be the start of a card are not shown while still undecided.
        held = self._open_runs(undecided).get(segment_id, (0.0, []))[1]
        return _render(seg, {**mask, **dict.fromkeys(held, "digits")})

    def _parse(self, sid: str, speaker: Hashable, start: float, end: float,
               text: str) -> _Seg:
        toks, spans = _tokens(text)
        self._order += 1
        topics = [(lo, kind) for lo, _, kind in spans]
        topics += [(t.lo, "label") for t in toks
                   if t.low in _TOPIC_LABELS and not t.trigger]
        return _Seg(sid, speaker, start, end, text, self._order, _runs(text, toks),
                    frozenset(k for _, _, k in spans), max(topics)[1] if topics else None,
                    _before(toks, len(toks)), sum(t.kind == "word" for t in toks), text)

    def _evict(self, now_s: float) -> dict[str, str]:
        """Forget segments out of the window; held ones among them are let go (returned)."""
        keep = [s for s in self._segs if s.end >= now_s - WINDOW_S]
        if len(keep) > MAX_SEGMENTS:
            keep = sorted(keep, key=lambda s: s.order)[-MAX_SEGMENTS:]
            keep.sort(key=lambda s: (s.start, s.end, s.order))
        kept = {s.sid for s in keep}
        released: dict[str, str] = {}
        for s in self._segs:
            if s.sid not in kept:
                self._masks.pop(s.sid, None)
                if self._held.pop(s.sid, None) is not None:
                    released[s.sid] = s.shown
        self._segs = keep
        return released

    @staticmethod
    def _open_runs(undecided: list[_Chain]) -> dict[str, tuple[float, list[int]]]:
        """segment_id -> (when its number is decided by the time, its undecided runs)."""
        out: dict[str, tuple[float, list[int]]] = {}
        for chain in undecided:
            until = chain.parts[-1][0].end + JOIN_GAP_S
            for s, i in chain.parts:
                out.setdefault(s.sid, (until, []))[1].append(i)
        return out

    @staticmethod
    def _chains(segs: list[_Seg]) -> tuple[list[_Chain], list[_Chain]]:
        """Runs, joined across one speaker's consecutive segments when one ends with digits
        and the next, within `JOIN_GAP_S`, starts with them. A short aside between them
        ("hang on", "sorry") does not end the number; the other party asking something
        does. Also the chains that the next segments may still join (one per speaker)."""
        chains: list[_Chain] = []
        open_: dict[Hashable, tuple[_Seg, _Chain] | None] = {}
        last: dict[Hashable, _Seg] = {}  # each speaker's previous segment
        for s in segs:
            if s.topic is not None or "?" in s.text:
                # The other party asking something else ("and the zip?") ends their number.
                for who, held in open_.items():
                    if who != s.speaker and held is not None and held[0].end <= s.start:
                        open_[who] = None
            prev = open_.get(s.speaker)
            before = last.get(s.speaker)
            chain: _Chain | None = None
            for i, run in enumerate(s.runs):
                if (i == 0 and prev is not None and run.at_start
                        and s.start - prev[0].end <= JOIN_GAP_S):
                    chain = prev[1]
                    chain.parts.append((s, i))
                    continue
                lead = run.before
                if (i == 0 and lead is None and run.at_start and before is not None
                        and s.start - before.end <= JOIN_GAP_S):
                    lead = before.tail  # "my order number is" ... "48213"
                chain = _Chain([(s, i)], lead)
                chains.append(chain)
            if chain is not None and s.runs[-1].at_end:
                open_[s.speaker] = (s, chain)
            elif s.runs or s.triggers or s.words > 3:
                open_[s.speaker] = None
            last[s.speaker] = s
        return chains, [held[1] for held in open_.values() if held is not None]

    @staticmethod
    def _context(chain: _Chain, topics: list[_Seg], starts: list[float]) -> set[str]:
        """Payment kinds said about this number: in its own segments, in the latest segment
        before it that names a topic (within `CONTEXT_S` and `CONTEXT_SEGMENTS`), or by the
        same speaker just after it. "label" in it: that latest topic was no payment one
        ("and your order number?") and, but for payment words of its own, names it."""
        mine = {s.sid for s, _ in chain.parts}
        ctx: set[str] = set()
        for s, _ in chain.parts:
            ctx |= s.triggers
        first, last = chain.parts[0][0], chain.parts[-1][0]
        latest: _Seg | None = None
        for t in topics:
            if t.sid in mine:
                continue
            if t.start <= first.start and first.start - t.end <= CONTEXT_S:
                between = (bisect.bisect_left(starts, first.start)
                           - bisect.bisect_right(starts, t.start))
                if between <= CONTEXT_SEGMENTS:
                    latest = t  # segs are in time order
            elif (t.speaker == last.speaker and t.start >= last.end - 0.05
                  and t.start - last.end <= RETRO_S):
                ctx |= t.triggers
        if latest is not None:
            ctx |= latest.triggers if latest.topic != "label" else {"label"}
        return ctx

    def _decide(self, segs: list[_Seg]) -> tuple[dict[str, dict[int, str]], list[_Chain]]:
        """What to mask (segment_id -> run index -> kind), and the numbers still open and
        unmasked that more digits could get masked."""
        starts = [s.start for s in segs]
        topics = [s for s in segs if s.topic is not None]
        out: dict[str, dict[int, str]] = {}
        chains, open_ = self._chains(segs)
        undecided = []
        for chain in chains:
            context = functools.cache(functools.partial(self._context, chain, topics, starts))
            kind = _kind(chain, context)
            if kind is not None:
                for s, i in chain.parts:
                    out.setdefault(s.sid, {})[i] = kind
            elif any(chain is o for o in open_) and _may_grow(chain, context):
                undecided.append(chain)
        return out, undecided


def redact(text: str) -> Redaction:
    """One text on its own (no memory): the rules of `CallRedactor`."""
    r = CallRedactor(hold=False).push("", "", 0.0, 0.0, text)
    return Redaction(r.text, r.found)


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
