"""Notes and bookmarks through the real window: N on a live call, M on a transcript line,
History finding the call by the note's words, exports, and a note on a past call."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from ui_helpers import play

from console.core.events import Role, TranscriptSegment
from console.store.db import connect, db_path
from console.store.notes import note_event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from store_helpers import LINES, make_call

LIVE_LINES = [("s1", Role.AGENT, 0.4, 2.0, "Thanks for calling, how can I help?"),
              ("s2", Role.CUSTOMER, 2.5, 5.0, "You charged my card twice this month."),
              ("s3", Role.AGENT, 5.5, 7.0, "Let me look at that for you.")]


def _rows(data: Path, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    conn = connect(db_path(data), readonly=True)
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def _press(qtbot, widget, key) -> None:  # type: ignore[no-untyped-def]
    widget.window().activateWindow()
    qtbot.waitUntil(widget.window().isActiveWindow, timeout=5000)
    widget.setFocus()
    qtbot.keyClick(widget, key)


def _click_line(qtbot, panel, index: int, button=Qt.MouseButton.LeftButton) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(panel.transcript.viewport(), button, pos=panel.line_rect_center(index))


def _write_note(qtbot, editor, text: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(editor.isVisible, timeout=5000)
    # Typed once the editor is the active window, as a supervisor sees it come up (before,
    # Space still belongs to the wall's push-to-talk).
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor.text, timeout=5000)
    qtbot.keyClicks(editor.text, text)
    qtbot.keyClick(editor.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not editor.isVisible(), timeout=5000)


def test_note_and_bookmark_on_a_live_call_then_found_and_exported(  # type: ignore[no-untyped-def]
        console, qtbot, tmp_path) -> None:
    w = console.window
    me = console.settings.supervisor()
    plans, done = play(console, calls=1, seconds=6)
    call_id = plans[0].call_key
    qtbot.waitUntil(lambda: w.view.call is not None and w.view.call.id == call_id,
                    timeout=15000)
    for seg_id, who, start, end, text in LIVE_LINES:
        console.engine.bus.publish(TranscriptSegment(call_id, seg_id, who, start, end, text,
                                                     True))
    panel = w.view.notes
    qtbot.waitUntil(lambda: "this month" in w.view.transcript.toPlainText(), timeout=6000)
    qtbot.waitUntil(lambda: len(panel._rendered) == 3, timeout=3000)

    # N on the wall: the editor opens on the selected call, at this moment of it.
    before = w.view.call.duration()
    _press(qtbot, w.wall, Qt.Key.Key_N)
    editor = w.notes.editor
    assert editor.isVisible() and not editor.isModal()
    assert editor.draft is not None and editor.draft.call_id == call_id and editor.draft.live
    assert before - 0.01 <= editor.draft.at_s <= w.view.call.duration() + 0.01
    at_s = editor.draft.at_s
    assert w.wall.isEnabled()  # the wall keeps working while the note is written
    _write_note(qtbot, editor, "Duplicate charge, promised a callback")
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=5000)
    assert "Duplicate charge" in panel.list.item(0).text() and me in panel.list.item(0).text()

    # A click selects the customer's line; M bookmarks it; the line shows a star.
    _click_line(qtbot, panel, 1)
    assert panel.selected_line()[2] == LIVE_LINES[1][4]
    _press(qtbot, w.view.transcript, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: panel.marked_lines() == [1], timeout=5000)
    assert w.view.transcript.document().findBlockByNumber(1).text().startswith("★ ")
    assert any("★" in panel.list.item(i).text() and "twice" in panel.list.item(i).text()
               for i in range(panel.list.count()))
    # M again takes it off, and once more puts it back.
    _press(qtbot, w.view.transcript, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: panel.marked_lines() == [], timeout=5000)
    _press(qtbot, w.view.transcript, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: panel.marked_lines() == [1], timeout=5000)
    # The context menu's action marks the agent's first line.
    menu = panel.line_menu(panel.line_rect_center(0))
    action = next(a for a in menu.actions() if a.text().startswith("Bookmark this line"))
    action.trigger()
    qtbot.waitUntil(lambda: panel.marked_lines() == [0, 1], timeout=5000)
    # A new line arriving re-renders the transcript: the marks stay on their lines.
    console.engine.bus.publish(TranscriptSegment(call_id, "s0", Role.CUSTOMER, 0.1, 0.3,
                                                 "Hello?", True))
    qtbot.waitUntil(lambda: len(panel._rendered) == 4, timeout=5000)
    qtbot.waitUntil(lambda: panel.marked_lines() == [1, 2], timeout=5000)

    # In the store, written by the writer thread.
    console.engine.store.flush()
    data = console.settings.data_path()
    notes = _rows(data, "SELECT text, supervisor, at_s FROM notes WHERE call_id = ?", call_id)
    assert notes == [("Duplicate charge, promised a callback", me, pytest.approx(at_s, abs=1e-3))]
    marks = _rows(data, "SELECT speaker, start_ms, supervisor FROM bookmarks WHERE call_id = ? "
                  "ORDER BY start_ms", call_id)
    assert marks == [("agent", 400, me), ("customer", 2500, me)]
    done.result(timeout=15)

    # History finds the call by a word of the note, and shows its notes and marks.
    w.tabs.setCurrentWidget(w.history)
    h = w.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 1 and h.calls[0]["state"] == "ended",
                    timeout=15000)
    cols = [h.table.horizontalHeaderItem(i).text() for i in range(h.table.columnCount())]
    assert h.table.item(0, cols.index("Notes")).text() == "1 ✎  2 ★"
    h.search.setText("callback")
    qtbot.waitUntil(lambda: "matching" in h.status.text(), timeout=9000)
    assert [c["id"] for c in h.calls] == [call_id]
    match = h.table.cellWidget(0, cols.index("Match")).text()
    assert "Note (" in match and "callback" in match
    h.table.selectRow(0)
    qtbot.waitUntil(lambda: h.detail is not None and h.notes.list.count() == 3, timeout=9000)
    qtbot.waitUntil(lambda: h.notes.marked_lines() == [1, 2], timeout=5000)

    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("json", "txt", "csv"):
        h.export_calls([call_id], fmt, out)
        qtbot.waitUntil(lambda: h.status.text().startswith("Exported 1 of 1"), timeout=15000)
        h.status.setText("")
    name = next(out.glob("*.json")).stem
    exported = json.loads((out / f"{name}.json").read_text())
    assert [n["text"] for n in exported["notes"]] == ["Duplicate charge, promised a callback"]
    assert [(b["speaker"], b["text"]) for b in exported["bookmarks"]] == [
        ("agent", LIVE_LINES[0][4]), ("customer", LIVE_LINES[1][4])]
    txt = (out / f"{name}.txt").read_text().splitlines()
    marked = txt.index(f"[00:00:02] BOOKMARK by {me}: Customer: {LIVE_LINES[1][4]}")
    assert txt[marked - 1].endswith(LIVE_LINES[1][4])  # right after the line it marks
    assert any(f"NOTE by {me}" in ln and "callback" in ln for ln in txt)
    rows = list(csv.DictReader((out / f"{name}.csv").open(encoding="utf-8")))
    assert [r["kind"] for r in rows].count("segment") == 4
    assert sorted(r["kind"] for r in rows if r["kind"] != "segment") == [
        "bookmark", "bookmark", "note"]
    note_row = next(r for r in rows if r["kind"] == "note")
    assert note_row["text"] == "Duplicate charge, promised a callback"
    assert note_row["supervisor"] == me


@pytest.fixture
def past(qapp, settings, qtbot):  # type: ignore[no-untyped-def]
    from console.ui.app import Console

    make_call(settings.data_path(), "call-a", started=1_700_000_000.0)
    c = Console(qapp, settings)
    c.window.show()
    c.window.tabs.setCurrentWidget(c.window.history)
    h = c.window.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 1, timeout=15000)
    h.table.selectRow(0)
    qtbot.waitUntil(lambda: h.detail is not None and len(h.notes._rendered) == 4,
                    timeout=9000)
    yield c, h
    c.shutdown()
    c.window.close()


def test_note_on_a_past_call_at_the_selected_line_edit_and_delete(past, qtbot) -> None:  # type: ignore[no-untyped-def]
    c, h = past
    w = c.window
    me = c.settings.supervisor()
    data = c.settings.data_path()
    # N with no line selected: the call's start.
    _press(qtbot, h.table, Qt.Key.Key_N)
    assert w.notes.editor.draft.at_s == 0.0 and not w.notes.editor.draft.live
    w.notes.editor.close()
    # A click on the customer's line, then N: the note is at that line.
    _click_line(qtbot, h.notes, 1)
    _press(qtbot, h.transcript, Qt.Key.Key_N)
    assert w.notes.editor.draft.at_s == LINES[1][1]
    _write_note(qtbot, w.notes.editor, "Refund approved by the team lead")
    qtbot.waitUntil(lambda: h.notes.list.count() == 1, timeout=5000)
    qtbot.waitUntil(lambda: _rows(data, "SELECT at_s, text FROM notes") == [
        (LINES[1][1], "Refund approved by the team lead")], timeout=5000)
    # The list's Notes column follows once the store has it.
    cols = [h.table.horizontalHeaderItem(i).text() for i in range(h.table.columnCount())]
    qtbot.waitUntil(lambda: h.table.item(0, cols.index("Notes")).text() == "1 ✎",
                    timeout=5000)

    # M bookmarks the selected line of the past call.
    _press(qtbot, h.transcript, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: h.notes.marked_lines() == [1], timeout=5000)
    qtbot.waitUntil(lambda: _rows(data, "SELECT speaker, start_ms FROM bookmarks") == [
        ("customer", 3900)], timeout=5000)

    # Double-click your own note to edit it.
    item = next(h.notes.list.item(i) for i in range(h.notes.list.count())
                if "✎" in h.notes.list.item(i).text())
    h.notes.list.itemDoubleClicked.emit(item)
    editor = w.notes.editor
    assert editor.isVisible() and editor.draft.note_id and editor.delete_button.isVisible()
    editor.text.selectAll()
    _write_note(qtbot, editor, "Refund approved; customer keeps the account")
    qtbot.waitUntil(lambda: _rows(data, "SELECT text, edited_at IS NOT NULL FROM notes") == [
        ("Refund approved; customer keeps the account", 1)], timeout=5000)

    # Someone else's note: shown, but not yours to change.
    other = note_event("call-a", 8.0, "Agent handled it well", "another-supervisor")
    c.engine.bus.publish(other)
    qtbot.waitUntil(lambda: h.notes.list.count() == 3, timeout=5000)
    theirs = next(h.notes.list.item(i) for i in range(h.notes.list.count())
                  if "handled it well" in h.notes.list.item(i).text())
    menu = h.notes.item_menu(theirs)
    assert [a.text() for a in menu.actions() if a.isEnabled()] == []
    h.notes.list.itemDoubleClicked.emit(theirs)
    assert not editor.isVisible()

    # Delete your own from the list's menu; History's search no longer finds it.
    mine = next(h.notes.list.item(i) for i in range(h.notes.list.count())
                if "keeps the account" in h.notes.list.item(i).text())
    next(a for a in h.notes.item_menu(mine).actions() if a.text() == "Delete note").trigger()
    qtbot.waitUntil(lambda: _rows(data, "SELECT supervisor FROM notes") == [
        ("another-supervisor",)], timeout=5000)
    assert h.notes.list.count() == 2  # their note and your bookmark
    h.search.setText("keeps account")
    qtbot.waitUntil(lambda: h.status.text() == "No calls match.", timeout=9000)
    h.search.setText("handled")
    qtbot.waitUntil(lambda: [x["id"] for x in h.calls] == ["call-a"]
                    and "matching" in h.status.text(), timeout=9000)
    assert me != "another-supervisor"


def test_note_on_a_past_call_at_the_playback_position(past, qtbot) -> None:  # type: ignore[no-untyped-def]
    c, h = past
    w = c.window
    # A playback that started 2 s ago (the call is not recorded: the moment is what counts).
    import time

    w.notes._play_started = time.monotonic() - 2.0
    h._player = object()  # what History holds while a recording plays
    try:
        _click_line(qtbot, h.notes, 3)  # a selected line loses to the playback position
        _press(qtbot, h.transcript, Qt.Key.Key_N)
        assert w.notes.editor.draft.at_s == pytest.approx(2.0, abs=0.5)
    finally:
        h._player = None
    w.notes.editor.close()


def test_keys_need_a_call_and_a_line(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    assert w.stack.currentWidget() is w.empty  # no calls yet
    _press(qtbot, w.view, Qt.Key.Key_N)
    assert not w.notes.editor.isVisible()
    assert "Select a call" in w.statusBar().currentMessage()
    _press(qtbot, w.view, Qt.Key.Key_M)
    assert "Click a transcript line" in w.statusBar().currentMessage()
    # Typing N into a text box types it; it opens no note.
    w.tabs.setCurrentWidget(w.history)
    w.history.search.setFocus()
    qtbot.keyClicks(w.history.search, "n")
    assert w.history.search.text() == "n" and not w.notes.editor.isVisible()
