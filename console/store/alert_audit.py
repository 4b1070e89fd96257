"""What a supervisor did with an alert, as it is kept in the call's audit trail, and how the
exports show it.

Acknowledging and snoozing are `SupervisorAction`s like listening or exporting: the audit
table keeps them with the supervisor's name; the JSON export has them in `audit`. The
`detail` starts with fields a console reads back (console.ui.alert_book), then words for
people:

    alert_acknowledged   rule=cancellation at_s=20.59 · “I'm cancelling my account”
    alert_snoozed        rule=escalation scope=call · for this call
    alert_snoozed        rule=escalation scope=everyone until=2026-11-24T14:05:00Z · 15 minutes
    alert_snooze_lifted  rule=escalation scope=everyone

Rule names are percent-encoded (a configured rule may have a space in its name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["ACK", "ALERT_ACTIONS", "LIFT", "SNOOZE", "ack_detail", "csv_rows", "lift_detail",
           "parse_detail", "snooze_detail", "txt_events"]

ACK = "alert_acknowledged"
SNOOZE = "alert_snoozed"
LIFT = "alert_snooze_lifted"
ALERT_ACTIONS = frozenset((ACK, SNOOZE, LIFT))
_FIELD = re.compile(r"(\w+)=(\S+)")


def iso_utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ack_detail(rule: str, at_s: float, text: str) -> str:
    return f"rule={quote(rule)} at_s={at_s:.2f} · “{text}”"


def snooze_detail(rule: str, until: float | None, label: str = "") -> str:
    """`until` None: for the alert's call; else for everyone until then (unix seconds)."""
    if until is None:
        return f"rule={quote(rule)} scope=call · for this call"
    return (f"rule={quote(rule)} scope=everyone until={iso_utc(until)} · "
            f"{label or 'for everyone'}")


def lift_detail(rule: str, everyone: bool) -> str:
    return f"rule={quote(rule)} scope={'everyone' if everyone else 'call'}"


def parse_detail(detail: str) -> dict[str, str]:
    """The fields before ' · ' (rule decoded); values are checked by whoever uses them."""
    head = detail.split(" · ", 1)[0]
    fields = dict(_FIELD.findall(head[:400]))
    if "rule" in fields:
        fields["rule"] = unquote(fields["rule"])
    return fields


def _say(entry: dict[str, Any]) -> str:
    """An alert action in a sentence: "Ana acknowledged cancellation (said at 00:20)"."""
    fields = parse_detail(str(entry["detail"]))
    rule = fields.get("rule", "?").replace("_", " ")
    who = entry.get("supervisor") or "?"
    action = entry["action"]
    if action == ACK:
        try:
            said = float(fields.get("at_s", ""))
            minutes, seconds = divmod(int(said), 60)
            where = f" (said at {minutes:02d}:{seconds:02d})"
        except ValueError:
            where = ""
        return f"{who} acknowledged {rule}{where}"
    scope = fields.get("scope")
    if action == LIFT:
        whom = "everyone" if scope == "everyone" else "this call"
        return f"{who} lifted the snooze on {rule} ({whom})"
    if scope == "everyone":
        return f"{who} snoozed {rule} for everyone until {fields.get('until', '?')}"
    return f"{who} snoozed {rule} for this call"


def _position(call: dict[str, Any], at: str) -> float:
    """Where in the call an audit entry's time of day falls (seconds from its start)."""
    try:
        start = datetime.fromisoformat(str(call["started_at"])).timestamp()
        return max(0.0, datetime.fromisoformat(at).timestamp() - start)
    except (KeyError, TypeError, ValueError):
        return 0.0


def _actions(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in call.get("audit") or [] if a.get("action") in ALERT_ACTIONS]


def txt_events(call: dict[str, Any], clock: Callable[[float], str]
               ) -> list[tuple[float, str]]:
    """The TXT export's lines for alert actions, each at the moment in the call it was
    taken (after the call's end when taken later)."""
    out = []
    for a in _actions(call):
        at_s = _position(call, str(a["at"]))
        out.append((at_s, f"[{clock(at_s)}] ALERT ACTION {_say(a)}"))
    return out


def csv_rows(call: dict[str, Any], columns: Iterable[str]) -> list[list[str]]:
    """The CSV export's rows for alert actions (kind `alert_acknowledged`, `alert_snoozed`,
    `alert_snooze_lifted`): `start_s` is the moment in the call, `text` the action in words,
    with the supervisor and the time of day."""
    cols = list(columns)
    rows = []
    for a in _actions(call):
        row = {"call_id": call["id"], "kind": a["action"],
               "start_s": f"{_position(call, str(a['at'])):.3f}", "text": _say(a),
               "supervisor": a.get("supervisor") or "", "written_at": a["at"]}
        rows.append([str(row.get(col, "")) for col in cols])
    return rows
