"""The alert feed's state, folded from bus events (plain Python, no Qt): every alert the
team raised, newest first, each new, acknowledged or snoozed; the snoozes in force.

Acknowledgements and snoozes are supervisor actions: the window publishes them on the bus as
`SupervisorAction`s (kept in the call's audit trail), and they come back here from the bus,
this console's and, in team mode, every other console's. Applying one twice changes nothing,
so a console applies its own at once and again when the bus echoes it.

Their `detail` is described in console.store.alert_audit. A rule snoozed for one call stays
snoozed for that call; for everyone, until `until`. Snoozed alerts are still stored and
listed (dimmed), but nobody is notified of them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from console.core.events import AlertRaised, CallEvent, SupervisorAction
from console.store.alert_audit import ACK, LIFT, SNOOZE, parse_detail

__all__ = ["MAX_ENTRIES", "MAX_SNOOZE_S", "AlertBook", "FeedAlert", "Snooze", "alert_key"]

MAX_ENTRIES = 500  # the feed keeps the newest; older alerts are in History
MAX_SNOOZE_S = 24 * 3600.0  # a longer snooze from a peer is refused
MAX_REMEMBERED = 5000  # acknowledgements of alerts not seen (yet), call snoozes


def alert_key(call_id: str, rule: str, at_s: float) -> str:
    """One alert, the same on every console: its call, rule and place in the call."""
    return f"{call_id}|{rule}|{at_s:.2f}"


@dataclass
class FeedAlert:
    key: str
    alert: AlertRaised
    title: str  # the call as the wall names it (caller · number)
    at: float  # wall-clock time it was said (unix seconds)
    state: str = "new"  # new, acknowledged or snoozed
    by: str = ""  # who acknowledged or snoozed it


@dataclass(frozen=True)
class Snooze:
    rule: str
    call_id: str | None  # None: for everyone
    until: float  # unix seconds; inf for a call's snooze
    by: str

    def covers(self, alert: AlertRaised, now: float) -> bool:
        return (alert.rule == self.rule and now < self.until
                and (self.call_id is None or self.call_id == alert.call_id))


class AlertBook:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, FeedAlert] = OrderedDict()  # oldest first
        self.call_snoozes: OrderedDict[tuple[str, str], Snooze] = OrderedDict()
        self.team_snoozes: dict[str, Snooze] = {}  # rule -> snooze for everyone
        self._acked: OrderedDict[str, str] = OrderedDict()  # key -> who, alert not seen yet
        self.refused = 0  # actions from the bus whose fields did not make sense

    # --- alerts ---------------------------------------------------------------------------

    def add(self, alert: AlertRaised, title: str, at: float, now: float) -> FeedAlert | None:
        """A new alert, with the state it is born in; None if it is here already (a team
        replay)."""
        key = alert_key(alert.call_id, alert.rule, alert.at_s)
        if key in self.entries:
            return None
        entry = FeedAlert(key, alert, title, at)
        snooze = self.snooze_for(alert, now)
        if key in self._acked:
            entry.state, entry.by = "acknowledged", self._acked.pop(key)
        elif snooze is not None:
            entry.state, entry.by = "snoozed", snooze.by
        self.entries[key] = entry
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return entry

    def snooze_for(self, alert: AlertRaised, now: float) -> Snooze | None:
        snooze = self.call_snoozes.get((alert.call_id, alert.rule))
        if snooze is not None:
            return snooze
        team = self.team_snoozes.get(alert.rule)
        return team if team is not None and team.covers(alert, now) else None

    def newest_first(self) -> list[FeedAlert]:
        return list(reversed(self.entries.values()))

    def count(self, state: str) -> int:
        return sum(1 for e in self.entries.values() if e.state == state)

    # --- supervisor actions ---------------------------------------------------------------

    def apply(self, action: SupervisorAction, now: float) -> list[FeedAlert]:
        """A supervisor action (from this console or the bus); the entries it changed."""
        if action.action not in (ACK, SNOOZE, LIFT) or not action.call_id:
            return []
        fields = parse_detail(action.detail)
        rule = fields.get("rule", "")
        if not rule or len(rule) > 64:
            self.refused += 1
            return []
        who = action.supervisor[:64]
        if action.action == ACK:
            return self._ack(action.call_id, rule, fields.get("at_s", ""), who)
        scope = fields.get("scope")
        if action.action == LIFT:
            if scope == "everyone":
                self.team_snoozes.pop(rule, None)
            else:
                self.call_snoozes.pop((action.call_id, rule), None)
            return []
        if scope == "call":
            snooze = Snooze(rule, action.call_id, math.inf, who)
            self.call_snoozes[(action.call_id, rule)] = snooze
            while len(self.call_snoozes) > MAX_REMEMBERED:
                self.call_snoozes.popitem(last=False)
        elif scope == "everyone":
            until = _time(fields.get("until", ""))
            # From another machine: a snooze must end, and within a day of being made.
            if until is None or not until <= max(action.at, now) + MAX_SNOOZE_S:
                self.refused += 1
                return []
            if until <= now:
                return []  # over already (a replay of an old snooze)
            held = self.team_snoozes.get(rule)
            if held is not None and held.until == until:
                return []
            snooze = Snooze(rule, None, until, who)
            self.team_snoozes[rule] = snooze
        else:
            self.refused += 1
            return []
        changed = []
        for entry in self.entries.values():  # what the snooze covers is dealt with
            if entry.state == "new" and snooze.covers(entry.alert, now):
                entry.state, entry.by = "snoozed", who
                changed.append(entry)
        return changed

    def _ack(self, call_id: str, rule: str, at_text: str, who: str) -> list[FeedAlert]:
        try:
            at_s = float(at_text)
        except ValueError:
            at_s = math.nan
        if not math.isfinite(at_s) or not 0 <= at_s < 1e7:
            self.refused += 1
            return []
        key = alert_key(call_id, rule, at_s)
        entry = self.entries.get(key)
        if entry is None:  # its alert may still come (late join, a slow node)
            self._acked[key] = who
            while len(self._acked) > MAX_REMEMBERED:
                self._acked.popitem(last=False)
            return []
        if entry.state == "acknowledged":
            return []
        entry.state, entry.by = "acknowledged", who
        return [entry]

    def expire(self, now: float) -> list[Snooze]:
        """Snoozes for everyone that are over: alerts of their rule notify again."""
        over = [s for s in self.team_snoozes.values() if s.until <= now]
        for snooze in over:
            del self.team_snoozes[snooze.rule]
        return over

    def take(self, events: list[CallEvent], titles: dict[str, tuple[str, float]],
             now: float | None = None) -> tuple[list[FeedAlert], list[FeedAlert]]:
        """Fold a batch of bus events: (alerts added, in order; entries an action changed).
        `titles` gives each known call's title and start (unix seconds)."""
        now = time.time() if now is None else now
        added: list[FeedAlert] = []
        changed: list[FeedAlert] = []
        for ev in events:
            if isinstance(ev, AlertRaised):
                title, started = titles.get(ev.call_id, (ev.call_id, 0.0))
                entry = self.add(ev, title, started + ev.at_s if started else now, now)
                if entry is not None:
                    added.append(entry)
            elif isinstance(ev, SupervisorAction):
                changed += self.apply(ev, now)
        return added, changed


def _time(text: str) -> float | None:
    try:
        at = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return at if math.isfinite(at) else None
