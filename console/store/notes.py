"""A supervisor's notes and bookmarks on calls: what travels, what is stored, what is read.

Both travel as `SupervisorAction` events whose `action` is one of NOTE_ACTIONS and whose
`detail` is a small JSON object. That is the road every supervisor action already takes: on
one laptop the window publishes on the engine's bus and the store writer keeps it; in team
mode the console's bus forwards it to the team's log, and every store fed from that log (each
console's replica, the archive) keeps it the same way. So the store writer calls `apply` for
these actions instead of adding them to the audit trail: the note is its own record, with its
author and its times.

    note_add         {"id": "<32 hex>", "at_s": 83.5, "text": "..."}
    note_edit        {"id": "<32 hex>", "text": "..."}
    note_delete      {"id": "<32 hex>"}
    bookmark_add     {"speaker": "customer"|"agent", "start_s": 3.9}
    bookmark_remove  {"speaker": "customer"|"agent", "start_s": 3.9}

Rules (the same in the store and in the window's view of a live call):
- a note belongs to the supervisor who wrote it (the event's `supervisor`): only an event with
  that same name edits or deletes it; anyone may write notes on any call;
- a bookmark is one supervisor's mark on one transcript line (speaker and start time, to the
  millisecond): marking a line again is a no-op, removing takes away only your own mark;
- every event is idempotent (a note's id is chosen by its author), so a replayed log or a
  fact heard twice changes nothing.
Supervisor names are what each console says it is (Settings or --supervisor): a trust rule
among colleagues, not an access control.

Everything here comes from a peer in team mode, so `parse` checks every field's type and
range and refuses the rest (ValueError); the store drops what it refuses.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from console.core.events import SupervisorAction

__all__ = ["BOOKMARK_ADD", "BOOKMARK_REMOVE", "MAX_NOTE_CHARS", "NOTE_ACTIONS", "NOTE_ADD",
           "NOTE_DELETE", "NOTE_EDIT", "Bookmark", "Note", "NoteBook", "apply",
           "bookmark_event", "bookmarks_of", "counts_of", "csv_rows", "delete_event",
           "edit_event", "note_event", "notes_of", "parse", "search_notes", "start_ms",
           "txt_events"]

NOTE_ADD, NOTE_EDIT, NOTE_DELETE = "note_add", "note_edit", "note_delete"
BOOKMARK_ADD, BOOKMARK_REMOVE = "bookmark_add", "bookmark_remove"
NOTE_ACTIONS = frozenset((NOTE_ADD, NOTE_EDIT, NOTE_DELETE, BOOKMARK_ADD, BOOKMARK_REMOVE))

MAX_NOTE_CHARS = 4000  # a paragraph or two; the team's facts hold far more, a note needs not
MAX_CALL_S = 7 * 86400.0  # a moment in a call: no call runs a week
_ID = re.compile(r"[0-9a-f]{32}")
_SPEAKERS = ("customer", "agent")


def start_ms(start_s: float) -> int:
    """A line's start as the key bookmarks use: whole milliseconds, so that the float a
    transcript carries and the one read back from SQLite meet."""
    return round(start_s * 1000)


# --- the events ---------------------------------------------------------------------------

def _event(call_id: str, action: str, detail: dict[str, Any], supervisor: str,
           at: float | None) -> SupervisorAction:
    return SupervisorAction(call_id, action, time.time() if at is None else at,
                            json.dumps(detail, ensure_ascii=False), supervisor)


def note_event(call_id: str, at_s: float, text: str, supervisor: str, *,
               note_id: str | None = None, at: float | None = None) -> SupervisorAction:
    """A new note at `at_s` seconds into the call (its id made here unless given)."""
    return _event(call_id, NOTE_ADD, {"id": note_id or uuid.uuid4().hex,
                                      "at_s": round(at_s, 3), "text": text}, supervisor, at)


def edit_event(call_id: str, note_id: str, text: str, supervisor: str,
               at: float | None = None) -> SupervisorAction:
    return _event(call_id, NOTE_EDIT, {"id": note_id, "text": text}, supervisor, at)


def delete_event(call_id: str, note_id: str, supervisor: str,
                 at: float | None = None) -> SupervisorAction:
    return _event(call_id, NOTE_DELETE, {"id": note_id}, supervisor, at)


def bookmark_event(call_id: str, speaker: str, start_s: float, on: bool, supervisor: str,
                   at: float | None = None) -> SupervisorAction:
    """Mark (`on`) or unmark one transcript line. Never a toggle: a toggle replayed twice
    would undo itself."""
    return _event(call_id, BOOKMARK_ADD if on else BOOKMARK_REMOVE,
                  {"speaker": speaker, "start_s": round(start_s, 3)}, supervisor, at)


@dataclass(frozen=True, slots=True)
class Change:
    """One checked note or bookmark event."""

    action: str
    call_id: str
    supervisor: str
    at: float  # when it was written (unix seconds)
    note_id: str = ""
    at_s: float = 0.0
    text: str = ""
    speaker: str = ""
    start_ms: int = 0


def _seconds(value: Any, what: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} is not a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= limit:
        raise ValueError(f"{what} {number!r} out of range")
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("note text is not a string")
    text = value.strip()
    if not text:
        raise ValueError("empty note")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"note of {len(text)} characters (at most {MAX_NOTE_CHARS})")
    return text


def parse(event: SupervisorAction) -> Change:
    """The event's change, every field checked; ValueError for anything else."""
    if event.action not in NOTE_ACTIONS:
        raise ValueError(f"not a note action: {event.action!r}")
    if not isinstance(event.call_id, str) or not event.call_id:
        raise ValueError("no call")
    at = _seconds(event.at, "time written", 1e11)
    try:
        detail = json.loads(event.detail)
    except (TypeError, ValueError):
        raise ValueError("detail is not JSON") from None
    if not isinstance(detail, dict):
        raise ValueError("detail is not an object")
    who = event.supervisor if isinstance(event.supervisor, str) else ""
    base = Change(event.action, event.call_id, who[:64], at)
    if event.action in (BOOKMARK_ADD, BOOKMARK_REMOVE):
        speaker = detail.get("speaker")
        if speaker not in _SPEAKERS:
            raise ValueError(f"speaker {speaker!r}")
        start = _seconds(detail.get("start_s"), "line start", MAX_CALL_S)
        return replace(base, speaker=speaker, start_ms=start_ms(start))
    note_id = detail.get("id")
    if not isinstance(note_id, str) or not _ID.fullmatch(note_id):
        raise ValueError("note id is not 32 hex digits")
    if event.action == NOTE_DELETE:
        return replace(base, note_id=note_id)
    text = _text(detail.get("text"))
    if event.action == NOTE_EDIT:
        return replace(base, note_id=note_id, text=text)
    return replace(base, note_id=note_id, text=text,
                   at_s=_seconds(detail.get("at_s"), "moment in the call", MAX_CALL_S))


# --- the store ------------------------------------------------------------------------------

def apply(execute: Callable[[str, tuple[Any, ...]], sqlite3.Cursor],
          event: SupervisorAction) -> bool:
    """Apply one note or bookmark event inside the writer's open transaction (`execute` is
    its statement runner). Raises ValueError for an event that fails `parse`; returns whether
    anything changed. A note for a call this store does not hold is left out."""
    c = parse(event)
    if c.action == NOTE_ADD:
        cur = execute(
            "INSERT INTO notes (note_id, call_id, at_s, text, supervisor, written_at) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM calls WHERE id = ?) "
            "ON CONFLICT(note_id) DO NOTHING",
            (c.note_id, c.call_id, c.at_s, c.text, c.supervisor, c.at, c.call_id))
    elif c.action == NOTE_EDIT:
        cur = execute("UPDATE notes SET text = ?, edited_at = ? WHERE note_id = ? "
                      "AND call_id = ? AND supervisor = ? AND text != ?",
                      (c.text, c.at, c.note_id, c.call_id, c.supervisor, c.text))
    elif c.action == NOTE_DELETE:
        cur = execute("DELETE FROM notes WHERE note_id = ? AND call_id = ? AND supervisor = ?",
                      (c.note_id, c.call_id, c.supervisor))
    elif c.action == BOOKMARK_ADD:
        return execute(
            "INSERT INTO bookmarks (call_id, speaker, start_ms, supervisor, marked_at) "
            "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM calls WHERE id = ?) "
            "ON CONFLICT DO NOTHING",
            (c.call_id, c.speaker, c.start_ms, c.supervisor, c.at, c.call_id)).rowcount > 0
    else:
        return execute("DELETE FROM bookmarks WHERE call_id = ? AND speaker = ? AND "
                       "start_ms = ? AND supervisor = ?",
                       (c.call_id, c.speaker, c.start_ms, c.supervisor)).rowcount > 0
    changed = cur.rowcount > 0
    if changed and c.action != NOTE_ADD:
        # Edited or deleted words stay in the search index's segments until they merge:
        # merge now (notes are few, this is quick), so what was taken back is gone from the
        # file (secure_delete zeroes the freed pages).
        execute("INSERT INTO notes_fts(notes_fts) VALUES('optimize')", ())
    return changed


def _iso(ts: float | None) -> str | None:
    from console.store.queries import iso  # queries imports this module

    return iso(ts)


def notes_of(conn: sqlite3.Connection, call_id: str) -> list[dict[str, Any]]:
    """A call's notes in the call's time order, as the JSON export writes them."""
    return [{"id": r["note_id"], "at_s": r["at_s"], "text": r["text"],
             "supervisor": r["supervisor"], "written_at": _iso(r["written_at"]),
             "edited_at": _iso(r["edited_at"])}
            for r in conn.execute("SELECT * FROM notes WHERE call_id = ? "
                                  "ORDER BY at_s, written_at, id", (call_id,))]


def bookmarks_of(conn: sqlite3.Connection, call_id: str) -> list[dict[str, Any]]:
    """A call's bookmarks in time order, each with the marked line as it reads now (its
    text is never copied: a line redaction corrects stays corrected here); `text` and
    `end_s` are null for a line the store does not hold."""
    rows = conn.execute(
        "SELECT b.*, (SELECT s.id FROM segments s WHERE s.call_id = b.call_id AND "
        "s.speaker = b.speaker AND ROUND(s.start_s * 1000) = b.start_ms ORDER BY s.id "
        "LIMIT 1) AS seg FROM bookmarks b WHERE b.call_id = ? "
        "ORDER BY b.start_ms, b.speaker, b.marked_at, b.id", (call_id,)).fetchall()
    out = []
    for r in rows:
        seg = (conn.execute("SELECT end_s, text FROM segments WHERE id = ?",
                            (r["seg"],)).fetchone() if r["seg"] is not None else None)
        out.append({"speaker": r["speaker"], "start_s": r["start_ms"] / 1000,
                    "end_s": seg["end_s"] if seg else None, "text": seg["text"] if seg else None,
                    "supervisor": r["supervisor"], "marked_at": _iso(r["marked_at"])})
    return out


def counts_of(conn: sqlite3.Connection, call_id: str) -> dict[str, int]:
    """How many notes and bookmarked lines a call has (History's column)."""
    return {"note_count": conn.execute("SELECT COUNT(*) FROM notes WHERE call_id = ?",
                                       (call_id,)).fetchone()[0],
            "bookmark_count": conn.execute(
                "SELECT COUNT(DISTINCT speaker || ':' || start_ms) FROM bookmarks "
                "WHERE call_id = ?", (call_id,)).fetchone()[0]}


def search_notes(conn: sqlite3.Connection, match: str, hit_start: str, hit_end: str,
                 limit: int = 200) -> list[dict[str, Any]]:
    """Notes matching the FTS5 expression `match` (queries.fts_query), best first, shaped
    as transcript hits are: `speaker` is "note" and `start_s` the note's moment."""
    if not match:
        return []
    rows = conn.execute(
        "SELECT n.call_id, n.at_s, n.text, n.supervisor, "
        f"snippet(notes_fts, 0, '{hit_start}', '{hit_end}', '…', 12) AS snippet "
        "FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid "
        "WHERE notes_fts MATCH ? ORDER BY rank LIMIT ?", (match, limit)).fetchall()
    return [{"call_id": r["call_id"], "speaker": "note", "start_s": r["at_s"],
             "text": r["text"], "snippet": f"Note ({r['supervisor'] or '?'}): {r['snippet']}"}
            for r in rows]


# --- exports ----------------------------------------------------------------------------

def _who(speaker: str | None) -> str:
    return {"customer": "Customer", "agent": "Agent"}.get(speaker or "", speaker or "?")


def txt_events(call: dict[str, Any], clock: Callable[[float], str]
               ) -> list[tuple[float, str]]:
    """The TXT export's lines for notes and bookmarks, each at its moment in the call."""
    out: list[tuple[float, str]] = []
    for b in call.get("bookmarks") or []:
        line = (f"{_who(b['speaker'])}: {b['text']}" if b.get("text") is not None
                else f"{_who(b['speaker'])} line (not in the transcript)")
        out.append((float(b["start_s"]),
                    f"[{clock(b['start_s'])}] BOOKMARK by {b['supervisor'] or '?'}: {line}"))
    for n in call.get("notes") or []:
        when = f"written {n['written_at']}"
        if n.get("edited_at"):
            when += f", edited {n['edited_at']}"
        text = str(n["text"]).replace("\n", "\n    ")  # a note's own lines stay indented
        out.append((float(n["at_s"]), f"[{clock(n['at_s'])}] NOTE by "
                                      f"{n['supervisor'] or '?'} ({when}): {text}"))
    return out


def csv_rows(call: dict[str, Any], columns: Iterable[str]) -> list[list[str]]:
    """The CSV export's rows of kind `bookmark` and `note`, after the transcript's rows, in
    the call's time order, with the same columns: a bookmark names the `segment` row it
    marks; a note's `start_s` is its moment and `text` its words."""
    starts = {(s["speaker"], start_ms(float(s["start_s"]))): i
              for i, s in reversed(list(enumerate(call.get("segments") or [], 1)))}
    items: list[tuple[float, int, dict[str, Any]]] = []
    for b in call.get("bookmarks") or []:
        seg = starts.get((b["speaker"], start_ms(float(b["start_s"]))))
        items.append((float(b["start_s"]), 0, {
            "kind": "bookmark", "segment": seg or "", "speaker": b["speaker"],
            "start_s": f"{float(b['start_s']):.3f}",
            "end_s": "" if b.get("end_s") is None else f"{float(b['end_s']):.3f}",
            "text": b.get("text") or "", "supervisor": b["supervisor"],
            "written_at": b["marked_at"]}))
    for n in call.get("notes") or []:
        items.append((float(n["at_s"]), 1, {
            "kind": "note", "start_s": f"{float(n['at_s']):.3f}", "text": n["text"],
            "supervisor": n["supervisor"], "written_at": n["written_at"]}))
    items.sort(key=lambda item: (item[0], item[1]))
    cols = list(columns)
    return [[str(row.get(col, call["id"] if col == "call_id" else "") or "") for col in cols]
            for _, _, row in items]


# --- the window's view of live calls -------------------------------------------------------

@dataclass
class Note:
    id: str
    call_id: str
    at_s: float
    text: str
    supervisor: str
    written_at: float
    edited_at: float | None = None


@dataclass(frozen=True, slots=True)
class Bookmark:
    speaker: str
    start_ms: int
    supervisor: str
    marked_at: float


class NoteBook:
    """Notes and bookmarks of the calls on screen, folded from the same events the store
    keeps, by the same rules (plain Python: the UI thread owns it). Bounded: the calls
    touched longest ago are forgotten past `max_calls`, and a call keeps at most
    `max_per_call` notes and as many bookmarks (the store keeps them all)."""

    def __init__(self, max_calls: int = 500, max_per_call: int = 1000) -> None:
        self.max_calls = max_calls
        self.max_per_call = max_per_call
        self._notes: OrderedDict[str, dict[str, Note]] = OrderedDict()
        self._marks: dict[str, dict[tuple[str, int, str], Bookmark]] = {}

    def _touch(self, call_id: str) -> None:
        self._notes.setdefault(call_id, {})
        self._marks.setdefault(call_id, {})
        self._notes.move_to_end(call_id)
        while len(self._notes) > self.max_calls:
            old, _ = self._notes.popitem(last=False)
            self._marks.pop(old, None)

    def apply(self, event: SupervisorAction) -> str | None:
        """Fold one event in; the call whose notes changed, or None (not a note event, a
        refused one, or nothing changed)."""
        try:
            c = parse(event)
        except ValueError:
            return None
        self._touch(c.call_id)
        notes, marks = self._notes[c.call_id], self._marks[c.call_id]
        if c.action == NOTE_ADD:
            if c.note_id in notes or len(notes) >= self.max_per_call:
                return None
            notes[c.note_id] = Note(c.note_id, c.call_id, c.at_s, c.text, c.supervisor, c.at)
        elif c.action in (NOTE_EDIT, NOTE_DELETE):
            note = notes.get(c.note_id)
            if note is None or note.supervisor != c.supervisor:
                return None
            if c.action == NOTE_DELETE:
                del notes[c.note_id]
            elif note.text == c.text:
                return None
            else:
                note.text, note.edited_at = c.text, c.at
        else:
            key = (c.speaker, c.start_ms, c.supervisor)
            if c.action == BOOKMARK_ADD:
                if key in marks or len(marks) >= self.max_per_call:
                    return None
                marks[key] = Bookmark(c.speaker, c.start_ms, c.supervisor, c.at)
            elif marks.pop(key, None) is None:
                return None
        return c.call_id

    def load(self, call_id: str, notes: list[dict[str, Any]],
             bookmarks: list[dict[str, Any]]) -> None:
        """A call's notes and bookmarks as the store gave them (call_detail's lists)."""
        from datetime import datetime

        def ts(value: str | None) -> float | None:
            return (datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
                    if value else None)

        self._touch(call_id)
        self._notes[call_id] = {
            n["id"]: Note(n["id"], call_id, float(n["at_s"]), n["text"], n["supervisor"],
                          ts(n["written_at"]) or 0.0, ts(n.get("edited_at")))
            for n in notes[:self.max_per_call]}
        self._marks[call_id] = {
            (b["speaker"], start_ms(float(b["start_s"])), b["supervisor"]): Bookmark(
                b["speaker"], start_ms(float(b["start_s"])), b["supervisor"],
                ts(b["marked_at"]) or 0.0)
            for b in bookmarks[:self.max_per_call]}

    def notes(self, call_id: str) -> list[Note]:
        return sorted(self._notes.get(call_id, {}).values(),
                      key=lambda n: (n.at_s, n.written_at, n.id))

    def bookmarks(self, call_id: str) -> list[Bookmark]:
        return sorted(self._marks.get(call_id, {}).values(),
                      key=lambda b: (b.start_ms, b.speaker, b.marked_at))

    def marked(self, call_id: str) -> set[tuple[str, int]]:
        """The lines someone bookmarked: (speaker, start_ms)."""
        return {(s, ms) for s, ms, _ in self._marks.get(call_id, {})}

    def marked_by(self, call_id: str, speaker: str, start_s: float, supervisor: str) -> bool:
        return (speaker, start_ms(start_s), supervisor) in self._marks.get(call_id, {})

    def forget(self, call_id: str) -> None:
        self._notes.pop(call_id, None)
        self._marks.pop(call_id, None)
