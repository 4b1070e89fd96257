"""Which live calls the wall shows, and in what order. Plain Python (no Qt): the filter a
supervisor sets (node, team, queue, agent, topic, alerts only, a quick search) and the
stable ordering by risk, where a tile moves only past calls it clearly outranks and a pinned
call keeps its place."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from console.ui.model import CallInfo

__all__ = ["FIELDS", "WallFilter", "WordsSaid", "field_values", "matches", "rank"]

# The filter menus: CallInfo attribute and what the menu says.
FIELDS: dict[str, str] = {"node": "Node", "team": "Team", "queue": "Queue", "agent": "Agent",
                          "topic": "Topic"}
SEARCH_LIMIT = 200  # characters of a search that are looked at


@dataclass(frozen=True)
class WallFilter:
    node: str = ""  # "" = any
    team: str = ""
    queue: str = ""
    agent: str = ""
    topic: str = ""
    alerts_only: bool = False
    search: str = ""

    def active(self) -> int:
        """How many conditions are set (the bar shows it)."""
        return sum(1 for f in FIELDS if getattr(self, f)) + self.alerts_only + bool(
            self.search.strip())

    def with_(self, **changes: object) -> WallFilter:
        return replace(self, **changes)  # type: ignore[arg-type]


_NUMBER = re.compile(r"[\d\s()+\-./]+")  # how people type a phone number


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class WordsSaid:
    """What was said on each call, lower-cased in one piece for the quick search, and made
    again only when the call's transcript changed (the wall searches it every second)."""

    def __init__(self) -> None:
        self._text: dict[str, tuple[int, str]] = {}

    def of(self, call: CallInfo) -> str:
        rev, text = self._text.get(call.id, (-1, ""))
        if rev != call.transcript_rev:
            text = "\n".join(" ".join(s.text.lower().split()) for s in call.segments.values())
            self._text[call.id] = (call.transcript_rev, text)
        return text

    def forget(self, call_id: str) -> None:
        self._text.pop(call_id, None)


def matches(call: CallInfo, f: WallFilter, words: WordsSaid | None = None) -> bool:
    for name in FIELDS:
        wanted = getattr(f, name)
        if wanted and getattr(call, name) != wanted:
            return False
    if f.alerts_only and not call.alerts:
        return False
    query = " ".join(f.search[:SEARCH_LIMIT].lower().split())
    if not query:
        return True
    # A number matches by its digits ("+1 415" finds +14155550100); names and words by text.
    digits = _digits(query)
    if len(digits) >= 2 and _NUMBER.fullmatch(query):
        for number in (call.from_number, call.to_number):
            if number and digits in _digits(number):
                return True
    for text in (call.from_number or "", call.to_number or "", call.caller_name, call.agent,
                 call.team, call.queue):
        if query in text.lower():
            return True
    return query in (words or WordsSaid()).of(call)


def field_values(calls: Iterable[CallInfo]) -> dict[str, list[str]]:
    """The values each filter menu offers: what the live calls carry."""
    out: dict[str, set[str]] = {name: set() for name in FIELDS}
    for call in calls:
        for name in FIELDS:
            value = getattr(call, name)
            if value:
                out[name].add(value)
    return {name: sorted(values, key=str.lower) for name, values in out.items()}


def rank(current: list[str], score: Mapping[str, float],
         pinned: Mapping[str, int] | None = None, gap: float = 0.0,
         key: Callable[[str], Any] | None = None) -> list[str]:
    """A new order for the calls in `current`.

    With `key`, the unpinned calls are sorted by it (start time, or their current place).
    Otherwise by `score`, highest first, keeping the current order wherever it is close: a
    call rises only above calls it beats by more than `gap`, so two calls of nearly equal
    risk never trade places back and forth. Pinned calls (call id -> the place they were
    pinned at) keep that place, or the last one when fewer calls are left; the others flow
    around them."""
    pins = {c: slot for c, slot in (pinned or {}).items() if c in set(current)}
    movable = [c for c in current if c not in pins]
    if key is not None:
        ordered = sorted(movable, key=key)
    else:
        ordered = []
        for call_id in movable:
            mine = score.get(call_id, 0.0)
            i = len(ordered)
            while i > 0 and mine > score.get(ordered[i - 1], 0.0) + gap:
                i -= 1
            ordered.insert(i, call_id)
    for call_id, slot in sorted(pins.items(), key=lambda p: p[1]):
        ordered.insert(min(max(0, slot), len(ordered)), call_id)
    return ordered
