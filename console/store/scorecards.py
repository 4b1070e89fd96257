"""Scorecards in the store: the automatic verdicts a CallScorecard brings, the supervisor's
reviews (audit entries with action "scorecard"), and reading both back.

A review is an ordinary supervisor action, so it rides every path an audit entry does: the
window's bus to the store writer on one laptop, the team's log to every console's copy of the
store and the archive in team mode. Its detail is readable and parseable:
"<item>: pass|fail|clear (automatic: pass|fail)"; the writer records it in the audit trail
and sets the item's review from it (who and when from the action itself).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from console.analysis.scorecard import ItemResult, items_from_wire, score
from console.core.events import CallScorecard, SupervisorAction

__all__ = ["REVIEW_ACTION", "apply_review", "csv_rows", "items_of", "parse_review",
           "read_scorecard", "review_detail", "score_summary", "store_scorecard",
           "txt_section"]

REVIEW_ACTION = "scorecard"
_REVIEW = re.compile(r"^([a-z0-9_]{1,40}): (pass|fail|clear)\b")

Execute = Callable[[str, tuple[Any, ...]], sqlite3.Cursor]


def review_detail(item: str, verdict: str, automatic: bool | None) -> str:
    auto = "" if automatic is None else f" (automatic: {'pass' if automatic else 'fail'})"
    return f"{item}: {verdict}{auto}"


def parse_review(detail: str) -> tuple[str, bool | None] | None:
    """(item, verdict: True pass, False fail, None cleared) from a review's detail."""
    m = _REVIEW.match(detail)
    if m is None:
        return None
    return m[1], {"pass": True, "fail": False, "clear": None}[m[2]]


def store_scorecard(x: Execute, ev: CallScorecard) -> None:
    """A final scorecard replaces the call's automatic verdicts; reviews stay."""
    if not ev.final:
        return
    items = items_from_wire(ev.items)
    x("INSERT INTO scorecards (call_id, checklist, scored_at) VALUES (?, ?, ?) "
      "ON CONFLICT(call_id) DO UPDATE SET checklist = excluded.checklist, "
      "scored_at = excluded.scored_at", (ev.call_id, ev.checklist[:80], ev.at))
    for pos, it in enumerate(items):
        x("INSERT INTO scorecard_items (call_id, item, position, label, weight, required, "
          "auto_passed, similarity, evidence_segment, evidence_speaker, evidence_at_s, "
          "evidence_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT(call_id, item) DO UPDATE SET position = excluded.position, "
          "label = excluded.label, weight = excluded.weight, required = excluded.required, "
          "auto_passed = excluded.auto_passed, similarity = excluded.similarity, "
          "evidence_segment = excluded.evidence_segment, "
          "evidence_speaker = excluded.evidence_speaker, "
          "evidence_at_s = excluded.evidence_at_s, evidence_text = excluded.evidence_text",
          (ev.call_id, it.name, pos, it.label, it.weight, int(it.required), int(it.passed),
           it.similarity, it.segment_id, it.speaker, it.at_s, it.text))
    names = [it.name for it in items]
    # Items the checklist no longer has go, unless a supervisor reviewed them.
    x(f"DELETE FROM scorecard_items WHERE call_id = ? AND reviewed_passed IS NULL "
      f"AND item NOT IN ({','.join('?' * len(names))})", (ev.call_id, *names))


def apply_review(x: Execute, ev: SupervisorAction) -> None:
    """Set an item's review from a "scorecard" audit entry (others are left alone)."""
    if ev.action != REVIEW_ACTION or not ev.call_id:
        return
    parsed = parse_review(ev.detail)
    if parsed is None:
        return
    item, verdict = parsed
    x("UPDATE scorecard_items SET reviewed_passed = ?, reviewed_by = ?, reviewed_at = ? "
      "WHERE call_id = ? AND item = ?",
      (None if verdict is None else int(verdict), ev.supervisor[:64] if verdict is not None
       else "", ev.at if verdict is not None else None, ev.call_id, item))


def _items(conn: sqlite3.Connection, call_id: str) -> list[ItemResult]:
    return [ItemResult(r["item"], r["label"], r["weight"], bool(r["required"]),
                       bool(r["auto_passed"]), r["similarity"], r["evidence_segment"],
                       r["evidence_speaker"], r["evidence_at_s"], r["evidence_text"],
                       None if r["reviewed_passed"] is None else bool(r["reviewed_passed"]),
                       r["reviewed_by"], r["reviewed_at"])
            for r in conn.execute("SELECT * FROM scorecard_items WHERE call_id = ? "
                                  "ORDER BY position, item", (call_id,))]


def score_summary(conn: sqlite3.Connection, call_id: str) -> dict[str, Any] | None:
    """{score, auto_score, reviewed, item_count} for a call list; None when not scored."""
    items = _items(conn, call_id)
    return _scores(items) if items else None


def _scores(items: list[ItemResult]) -> dict[str, Any]:
    return {"score": score(items), "auto_score": score(items, reviewed=False),
            "reviewed": sum(i.reviewed_passed is not None for i in items),
            "item_count": len(items)}


def read_scorecard(conn: sqlite3.Connection, call_id: str,
                   iso: Callable[[float | None], str | None]) -> dict[str, Any] | None:
    """The call's scorecard as the JSON export writes it (docs/export-schema.md)."""
    head = conn.execute("SELECT * FROM scorecards WHERE call_id = ?", (call_id,)).fetchone()
    items = _items(conn, call_id)
    if head is None and not items:
        return None
    return {
        "checklist": head["checklist"] if head is not None else None,
        "scored_at": iso(head["scored_at"]) if head is not None else None,
        **_scores(items),
        "items": [{
            "name": i.name, "label": i.label, "weight": i.weight, "required": i.required,
            "passed": i.verdict, "automatic": i.passed, "review": i.review,
            "reviewed_by": i.reviewed_by or None, "reviewed_at": iso(i.reviewed_at),
            "evidence": None if i.segment_id is None and i.text is None else {
                "speaker": i.speaker, "at_s": i.at_s, "text": i.text,
                "similarity": i.similarity, "met": i.passed},
        } for i in items],
    }


def items_of(detail: dict[str, Any]) -> list[ItemResult]:
    """A call detail's scorecard back as items (the window's panel shows these)."""
    card = detail.get("scorecard") or {}
    out = []
    for it in card.get("items", []):
        ev = it.get("evidence") or {}
        out.append(ItemResult(it["name"], it["label"], it["weight"], it["required"],
                              it["automatic"], ev.get("similarity"), None, ev.get("speaker"),
                              ev.get("at_s"), ev.get("text"),
                              None if it["review"] is None else it["passed"],
                              it.get("reviewed_by") or "", _stamp(it.get("reviewed_at"))))
    return out


def _stamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


def txt_section(call: dict[str, Any]) -> list[str]:
    """The TXT export's scorecard section (empty when the call has none)."""
    card = call.get("scorecard")
    if not card or not card.get("items"):
        return []
    def pct(v: Any) -> str:
        return "-" if v is None else f"{v:.0f} %"

    out = ["", f"Scorecard ({card.get('checklist') or 'checklist'}): {pct(card['score'])} "
               f"(automatic {pct(card['auto_score'])}; {card['reviewed']} of "
               f"{card['item_count']} items reviewed)"]
    for it in card["items"]:
        how = "automatic" if it["review"] is None else (
            f"{it['review']} by {it['reviewed_by'] or 'supervisor'} at {it['reviewed_at']}")
        ev = it.get("evidence")
        said = ""
        if ev and ev.get("text") is not None:
            lead = "" if ev.get("met") else "nearest: "
            said = (f"  {lead}[{_clock(ev.get('at_s'))}] {str(ev.get('speaker')).capitalize()}"
                    f": {ev['text']}")
        out.append(f"  [{'x' if it['passed'] else ' '}] {it['label']}"
                   f"{' (required)' if it['required'] else ''}: "
                   f"{'met' if it['passed'] else 'missed'} ({how}){said}")
    return out


def csv_rows(call: dict[str, Any], columns: Iterable[str]) -> list[list[str]]:
    """The CSV export's rows for the scorecard: one of kind `scorecard` (`score` and
    `automatic` hold the call's scores in %), then one of kind `scorecard_item` per item
    (`item` its name, `passed` the verdict after review, `automatic` the automatic one,
    `speaker`/`start_s`/`text` the evidence line, `supervisor`/`written_at` the review)."""
    card = call.get("scorecard")
    if not card or not card.get("items"):
        return []
    cols = list(columns)
    rows: list[dict[str, Any]] = [{
        "kind": "scorecard", "item": card.get("checklist") or "",
        "score": "" if card["score"] is None else card["score"],
        "automatic": "" if card["auto_score"] is None else card["auto_score"],
        "text": f"{card['reviewed']} of {card['item_count']} items reviewed"}]
    for it in card["items"]:
        ev = it.get("evidence") or {}
        rows.append({
            "kind": "scorecard_item", "item": it["name"],
            "passed": str(it["passed"]).lower(), "automatic": str(it["automatic"]).lower(),
            "speaker": ev.get("speaker") or "",
            "start_s": "" if ev.get("at_s") is None else f"{float(ev['at_s']):.3f}",
            "text": ev.get("text") or "", "supervisor": it.get("reviewed_by") or "",
            "written_at": it.get("reviewed_at") or ""})
    return [[str(row.get(col, call["id"] if col == "call_id" else "")) for col in cols]
            for row in rows]
