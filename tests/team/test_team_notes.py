"""Notes and bookmarks in team mode: a note written on one console is a fact on the team's
log; every console sees it (live) and keeps it in its copy of the history, where search finds
it; only its author can take it back. Real nats-server, a real node process, a provider on a
real socket."""

from __future__ import annotations

from pathlib import Path

from team_support import two_consoles, wait_until

from console.core.events import SupervisorAction
from console.store import notes
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.queries import call_detail, list_calls
from console.team.busserver import BusServer
from console.team.console import TeamEngine


def _store_notes(engine: TeamEngine, call_id: str) -> list[tuple[str, str]]:
    engine.replica.flush()
    conn = db_connect(db_path(engine.data_dir), readonly=True)
    try:
        if not conn.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone():
            return []
        return [(n["supervisor"], n["text"]) for n in call_detail(conn, call_id)["notes"]]
    finally:
        conn.close()


def test_a_note_on_one_console_reaches_every_console_and_its_store(
        bus: BusServer, tmp_path: Path) -> None:
    with two_consoles(bus.url(), tmp_path, "call-noted") as (ana, bob, seen_by_bob, ws):
        wait_until(lambda: ana.replica is not None and bob.replica is not None)
        # Ana's window publishes on its bus, as the N key does.
        ana.bus.publish(notes.note_event("call-noted", 4.0, "Caller asked for a manager",
                                         "Ana", note_id="e" * 32))
        ana.bus.publish(notes.bookmark_event("call-noted", "customer", 1.5, True, "Ana"))
        # Bob's console hears it live (its window folds it into the call's notes)...
        book = notes.NoteBook()
        wait_until(lambda: [book.apply(e) for e in seen_by_bob
                            if isinstance(e, SupervisorAction)]
                   and book.notes("call-noted") and book.marked("call-noted"))
        assert book.notes("call-noted")[0].supervisor == "Ana"
        assert book.marked("call-noted") == {("customer", 1500)}
        # ...and both consoles' copies of the history keep it.
        for engine in (ana, bob):
            wait_until(lambda e=engine: _store_notes(e, "call-noted") == [
                ("Ana", "Caller asked for a manager")])
        # Bob cannot take Ana's note back; his own note on the call is kept beside it.
        bob.bus.publish(notes.delete_event("call-noted", "e" * 32, "Bob"))
        bob.bus.publish(notes.note_event("call-noted", 9.0, "Escalated to Carla", "Bob"))
        wait_until(lambda: len(_store_notes(ana, "call-noted")) == 2)
        assert ("Ana", "Caller asked for a manager") in _store_notes(ana, "call-noted")

        # The call ends; Ana adds a note to it as a past call, then takes back her first one.
        ws.close()
        wait_until(lambda: ana.registry.calls["call-noted"].state != "active")
        ana.bus.publish(notes.note_event("call-noted", 20.0, "Manager called back", "Ana"))
        ana.bus.publish(notes.delete_event("call-noted", "e" * 32, "Ana"))
        wait_until(lambda: sorted(_store_notes(bob, "call-noted")) == [
            ("Ana", "Manager called back"), ("Bob", "Escalated to Carla")])
        conn = db_connect(db_path(bob.data_dir), readonly=True)
        try:
            assert [c["id"] for c in list_calls(conn, search="manager called")] == [
                "call-noted"]
            assert list_calls(conn, search="asked") == []
        finally:
            conn.close()
