"""Notes and bookmarks in the store: kept by the writer, read back, searched, exported."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import jsonschema
import pytest
from store_helpers import LINES, make_call
from support import REPO

from console.core.events import SupervisorAction
from console.store import notes
from console.store.db import MIGRATIONS, SCHEMA_VERSION, connect, db_path
from console.store.exports import CSV_COLUMNS, render
from console.store.queries import HIT_END, HIT_START, call_detail, list_calls
from console.store.retention import prune
from console.store.writer import StoreWriter


def _write(data: Path, *events: SupervisorAction) -> StoreWriter:
    w = StoreWriter(data)
    for ev in events:
        w.on_event(ev)
    assert w.flush()
    return w


@pytest.fixture
def noted(tmp_path: Path) -> Path:
    """call-1 with two notes by alice, one by bob, and two bookmarked lines."""
    make_call(tmp_path)
    make_call(tmp_path, "call-2", started=1_700_100_000.0, ended=1_700_100_100.0)
    w = _write(
        tmp_path,
        notes.note_event("call-1", 5.25, "Customer upset about the duplicate charge",
                         "alice", note_id="a" * 32, at=1_700_000_010.0),
        notes.note_event("call-1", 3726.0, "Escalate:\nretention offer promised",
                         "alice", note_id="b" * 32, at=1_700_003_800.0),
        notes.note_event("call-1", 1.0, "Good greeting", "bob", note_id="c" * 32,
                         at=1_700_000_020.0),
        notes.bookmark_event("call-1", "customer", LINES[1][1], True, "alice",
                             at=1_700_000_030.0),
        notes.bookmark_event("call-1", "customer", LINES[3][1], True, "bob",
                             at=1_700_003_900.0),
    )
    assert w.error_count == 0, list(w.errors)
    w.close()
    return tmp_path


def test_notes_and_bookmarks_are_kept_and_read_back(noted: Path) -> None:
    conn = connect(db_path(noted), readonly=True)
    detail = call_detail(conn, "call-1")
    assert [n["text"] for n in detail["notes"]] == [  # in the call's time order
        "Good greeting", "Customer upset about the duplicate charge",
        "Escalate:\nretention offer promised"]
    first = detail["notes"][1]
    assert first == {"id": "a" * 32, "at_s": 5.25, "text": first["text"],
                     "supervisor": "alice", "written_at": "2023-11-14T22:13:30.000Z",
                     "edited_at": None}
    assert [(b["speaker"], b["start_s"], b["text"], b["supervisor"])
            for b in detail["bookmarks"]] == [
        ("customer", 3.9, LINES[1][3], "alice"), ("customer", 3725.25, LINES[3][3], "bob")]
    assert detail["bookmarks"][0]["end_s"] == 7.4
    assert (detail["note_count"], detail["bookmark_count"]) == (3, 2)
    other = call_detail(conn, "call-2")
    assert other["notes"] == [] and other["bookmarks"] == []
    # Not in the audit trail: only the listen of the helper call is there.
    assert [a["action"] for a in detail["audit"]] == ["listen"]


def test_author_alone_edits_or_deletes_and_events_are_idempotent(noted: Path) -> None:
    w = _write(
        noted,
        notes.edit_event("call-1", "a" * 32, "Charged twice; refund agreed", "alice",
                         at=1_700_000_500.0),
        notes.edit_event("call-1", "c" * 32, "bob's note rewritten by alice", "alice"),
        notes.delete_event("call-1", "c" * 32, "alice"),  # not hers: ignored
        notes.delete_event("call-1", "b" * 32, "alice"),
        notes.note_event("call-1", 9.0, "replayed", "bob", note_id="c" * 32),  # same id again
        notes.bookmark_event("call-1", "customer", 3725.25, False, "alice"),  # bob's mark
        notes.bookmark_event("call-1", "customer", 3.9, True, "alice"),  # marked twice
    )
    w.close()
    detail = call_detail(connect(db_path(noted), readonly=True), "call-1")
    by_id = {n["id"]: n for n in detail["notes"]}
    assert set(by_id) == {"a" * 32, "c" * 32}
    assert by_id["a" * 32]["text"] == "Charged twice; refund agreed"
    assert by_id["a" * 32]["edited_at"] == "2023-11-14T22:21:40.000Z"
    assert by_id["c" * 32]["text"] == "Good greeting" and by_id["c" * 32]["at_s"] == 1.0
    assert [b["supervisor"] for b in detail["bookmarks"]] == ["alice", "bob"]
    w = _write(noted, notes.bookmark_event("call-1", "customer", 3.9, False, "alice"))
    w.close()
    detail = call_detail(connect(db_path(noted), readonly=True), "call-1")
    assert [b["supervisor"] for b in detail["bookmarks"]] == ["bob"]


def test_note_text_is_found_by_search(noted: Path) -> None:
    conn = connect(db_path(noted), readonly=True)
    calls = list_calls(conn, search="duplicate")
    assert [c["id"] for c in calls] == ["call-1"]
    hit = calls[0]["hits"][0]
    assert hit["speaker"] == "note" and hit["start_s"] == 5.25
    assert hit["snippet"].startswith("Note (alice): ")
    assert f"{HIT_START}duplicate{HIT_END}" in hit["snippet"]
    assert [c["id"] for c in list_calls(conn, search="retent")] == ["call-1"]  # prefix
    # Transcript and note hits together: the transcript's first.
    both = {c["id"]: c for c in list_calls(conn, search="charge")}
    assert both["call-1"]["hits"][0]["speaker"] == "customer"
    assert any(h["speaker"] == "note" for h in both["call-1"]["hits"])
    assert all(h["speaker"] != "note" for h in both["call-2"]["hits"])
    assert list_calls(conn, search="greeting refund") == []  # one note must hold every word


def test_edited_and_deleted_words_leave_the_search_index(noted: Path) -> None:
    w = _write(noted, notes.edit_event("call-1", "a" * 32, "Refund agreed", "alice"),
               notes.delete_event("call-1", "b" * 32, "alice"))
    w.close()
    conn = connect(db_path(noted), readonly=True)
    assert list_calls(conn, search="duplicate") == []
    assert list_calls(conn, search="retention") == []
    assert [c["id"] for c in list_calls(conn, search="agreed")] == ["call-1"]
    # The index holds no trace of the old words (it was merged after the change).
    raw = b"".join(bytes(r[0]) for r in conn.execute("SELECT block FROM notes_fts_data"))
    assert b"duplicate" not in raw and b"retention" not in raw


def test_pruned_call_takes_its_notes_and_their_index(noted: Path) -> None:
    conn = connect(db_path(noted))
    assert prune(conn, noted, days=1, now=1_800_000_000.0) == 2
    assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM bookmarks").fetchone()[0] == 0
    assert list_calls(conn, search="duplicate") == []


def test_peer_events_are_range_checked(tmp_path: Path) -> None:
    make_call(tmp_path)
    good = json.loads(notes.note_event("call-1", 1.0, "x", "a").detail)
    bad = [
        {**good, "at_s": -1}, {**good, "at_s": float("nan")}, {**good, "at_s": 1e12},
        {**good, "at_s": True}, {**good, "at_s": "3"}, {**good, "id": "../../etc"},
        {**good, "text": "   "}, {**good, "text": "x" * (notes.MAX_NOTE_CHARS + 1)},
        {**good, "text": 5}, [good],
    ]
    events = [SupervisorAction("call-1", notes.NOTE_ADD, 1.0, json.dumps(d), "eve")
              for d in bad]
    events += [
        SupervisorAction("call-1", notes.NOTE_ADD, 1.0, "not json", "eve"),
        SupervisorAction("call-1", notes.BOOKMARK_ADD, 1.0,
                         json.dumps({"speaker": "robot", "start_s": 1.0}), "eve"),
        SupervisorAction("call-1", notes.BOOKMARK_ADD, 1.0,
                         json.dumps({"speaker": "agent", "start_s": 1e9}), "eve"),
        SupervisorAction("call-1", notes.NOTE_ADD, float("inf"), json.dumps(good), "eve"),
        notes.note_event("no-such-call", 1.0, "orphan", "eve"),  # kept nowhere, no error
    ]
    for ev in events[:-1]:
        with pytest.raises(ValueError):
            notes.parse(ev)
    w = _write(tmp_path, *events)
    w.close()
    assert w.error_count == len(events) - 1  # each refused event counted, none stored
    conn = connect(db_path(tmp_path), readonly=True)
    assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM bookmarks").fetchone()[0] == 0


def test_exports_carry_notes_and_bookmarks(noted: Path) -> None:
    call = call_detail(connect(db_path(noted), readonly=True), "call-1")
    data = json.loads(render(call, "json"))
    schema = json.loads((REPO / "docs" / "export-schema.json").read_text())
    jsonschema.validate(data, schema)
    assert len(data["notes"]) == 3 and len(data["bookmarks"]) == 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "notes": [{"id": "x", "at_s": -1}]}, schema)

    text = render(call, "txt")
    lines = text.splitlines()
    marked = lines.index("[00:00:03] BOOKMARK by alice: Customer: " + LINES[1][3])
    assert lines[marked - 1].startswith("[00:00:03] Customer: I was charged twice")
    note = next(i for i, ln in enumerate(lines) if "NOTE by alice" in ln and "Escalate" in ln)
    assert lines[note].startswith("[01:02:06] NOTE by alice (written 2023-11-14T23:")
    assert lines[note + 1] == "    retention offer promised"  # its second line, indented
    stamps = [ln[1:9] for ln in lines if ln.startswith("[")]
    assert stamps == sorted(stamps) and len(stamps) == 6 + 5

    rows = list(csv.DictReader(io.StringIO(render(call, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    kinds = [r["kind"] for r in rows]
    assert kinds == ["segment"] * 4 + ["note", "bookmark", "note", "bookmark", "note"]
    bookmark = rows[5]
    assert bookmark["segment"] == "2" and bookmark["text"] == LINES[1][3]
    assert rows[int(bookmark["segment"]) - 1]["start_s"] == bookmark["start_s"] == "3.900"
    assert bookmark["supervisor"] == "alice" and bookmark["written_at"].endswith("Z")
    last = rows[-1]
    assert last["text"] == "Escalate:\nretention offer promised" and last["start_s"] == "3726.000"
    assert last["segment"] == "" and last["speaker"] == "" and last["call_id"] == "call-1"


def test_team_fact_of_a_note_reaches_an_archive_store(noted: Path, tmp_path: Path) -> None:
    """In team mode a note is a console's fact on the team's log; the archive and every
    console's replica keep it through the same writer. Encode it as the bus does and feed
    the decoded fact to another store."""
    from console.team.schema import Fact, decode, encode

    archive = tmp_path / "archive"
    make_call(archive)
    ev = notes.note_event("call-1", 12.0, "Team note from the east console", "carol")
    fact = decode(encode(Fact("console", "run1", 1, ev)))
    w = _write(archive, fact.event, fact.event)  # heard twice: kept once
    w.close()
    conn = connect(db_path(archive), readonly=True)
    assert [n["supervisor"] for n in call_detail(conn, "call-1")["notes"]] == ["carol"]
    assert [c["id"] for c in list_calls(conn, search="east console")] == ["call-1"]


def test_v7_database_gains_notes(tmp_path: Path) -> None:
    """A store from before notes is migrated; its calls take notes and are searched."""
    path = tmp_path / "coach-console.db"
    old = sqlite3.connect(path)
    version = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE notes" in m)
    for i in range(version):
        old.executescript(MIGRATIONS[i] + f";PRAGMA user_version={i + 1};")
    old.execute("INSERT INTO calls (id, provider, started_at, state) VALUES "
                "('c1', 'telnyx', 1.0, 'ended')")
    old.commit()
    old.close()
    w = _write(tmp_path, notes.note_event("c1", 0.0, "written after the upgrade", "dan"))
    w.close()
    conn = connect(path, readonly=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [c["id"] for c in list_calls(conn, search="upgrade")] == ["c1"]


def test_note_book_follows_the_store_rules() -> None:
    book = notes.NoteBook(max_calls=2)
    add = notes.note_event("c1", 4.0, "first", "alice", note_id="d" * 32)
    assert book.apply(add) == "c1" and book.apply(add) is None  # idempotent
    assert book.apply(notes.edit_event("c1", "d" * 32, "hijack", "bob")) is None
    assert book.apply(notes.edit_event("c1", "d" * 32, "second", "alice")) == "c1"
    assert [n.text for n in book.notes("c1")] == ["second"]
    assert book.notes("c1")[0].edited_at is not None
    assert book.apply(notes.bookmark_event("c1", "agent", 2.0004, True, "alice")) == "c1"
    assert book.marked("c1") == {("agent", 2000)}
    assert book.marked_by("c1", "agent", 2.0, "alice")
    assert not book.marked_by("c1", "agent", 2.0, "bob")
    assert book.apply(notes.bookmark_event("c1", "agent", 2.0, False, "bob")) is None
    assert book.apply(notes.delete_event("c1", "d" * 32, "alice")) == "c1"
    assert book.notes("c1") == []
    assert book.apply(SupervisorAction("c1", "listen", 1.0, "")) is None
    for call in ("c2", "c3"):  # bounded: the call touched longest ago goes
        book.apply(notes.note_event(call, 1.0, "x", "alice"))
    assert book.marked("c1") == set() and len(book.notes("c3")) == 1
