"""Notes and bookmarks in the window: N writes a note on the call in front of the supervisor
(the selected live call, or the past call open in History), M bookmarks the selected
transcript line. Each change is a supervisor action on the engine's bus, as listen or export
are: the store writer keeps it off the UI thread (console/store/notes.py); in team mode the
bus takes it to the team's log, whence every console's copy of the history and the archive
keep it.

M, not B: B barges into the call on the live page."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut

from console.core.events import CallEvent, SupervisorAction
from console.store.notes import (
    NOTE_ACTIONS,
    Bookmark,
    Note,
    NoteBook,
    bookmark_event,
    delete_event,
    edit_event,
    note_event,
)
from console.ui.note_editor import NoteDraft, NoteEditor
from console.ui.notes_panel import NotesPanel

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow

__all__ = ["NotesController"]


class NotesController(QObject):
    storeSettled = Signal()  # the store took what was just written: History may read it

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.book = NoteBook()  # live calls, folded from the bus
        self.editor = NoteEditor(window)
        self.editor.saved.connect(self._saved)
        self.editor.deleted.connect(self._deleted)
        self.live_panel: NotesPanel = window.view.notes
        self.past_panel: NotesPanel = window.history.notes
        self.live_panel.book = self.book
        for panel, past in ((self.live_panel, False), (self.past_panel, True)):
            panel.noteRequested.connect(lambda at, p=past: self.new_note(p, at))
            panel.bookmarkRequested.connect(lambda p=past: self.toggle_bookmark(p))
            panel.editRequested.connect(lambda n, p=past: self.edit_note(n, p))
            panel.deleteRequested.connect(self._delete_note)
            panel.unbookmarkRequested.connect(self._unbookmark)
        for page, past in ((window.live, False), (window.history, True)):
            for key, fn in (("N", lambda p=past: self.new_note(p)),
                            ("M", lambda p=past: self.toggle_bookmark(p))):
                shortcut = QShortcut(QKeySequence(key), page)
                shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                shortcut.activated.connect(fn)
        self._play_started: float | None = None  # History's playback, for a note's moment
        window.history.playbackStarted.connect(self._playback_started)
        window.history.playbackEnded.connect(lambda *_: setattr(self, "_play_started", None))
        self._settling = False
        self.storeSettled.connect(self._settled)
        self._set_me()

    def _set_me(self) -> None:
        me = self.window.settings.supervisor()
        self.live_panel.me = self.past_panel.me = me

    @property
    def me(self) -> str:
        return self.window.settings.supervisor()

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 6000)

    # --- N: a note ----------------------------------------------------------------------

    def new_note(self, past: bool, at_s: float = -1.0) -> None:
        """Open the editor for a new note on the call in front of the supervisor."""
        if self.editor.unsaved():  # never lose words being typed: finish that one first
            self.editor.raise_()
            self.editor.activateWindow()
            self._say("Finish or cancel the note you are writing first.")
            return
        self._set_me()
        draft = self._past_draft(at_s) if past else self._live_draft(at_s)
        if draft is not None:
            self.editor.open(draft)

    def _live_draft(self, at_s: float) -> NoteDraft | None:
        call = self.window.view.call
        if call is None:
            self._say("Select a call first (keys 1-9 or a click), then press N.")
            return None
        # Now, for a live call (or the end of one that just ended and still shows).
        at = call.duration() if at_s < 0 else at_s
        return NoteDraft(call.id, call.title, at, live=call.state == "active")

    def _past_draft(self, at_s: float) -> NoteDraft | None:
        history = self.window.history
        detail = history.detail
        if detail is None:
            self._say("Select a call in History first, then press N.")
            return None
        if at_s < 0:
            at_s = self._past_moment(detail)
        return NoteDraft(detail["id"], detail["from"] or detail["id"], at_s, live=False)

    def _past_moment(self, detail: dict[str, Any]) -> float:
        """Where the supervisor is in a past call: the playback position while it plays,
        else the selected line, else its start."""
        if self.window.history.player is not None and self._play_started is not None:
            end = float(detail.get("duration_s") or detail.get("audio_s") or 0.0)
            at = time.monotonic() - self._play_started
            return min(at, end) if end > 0 else at
        line = self.past_panel.selected_line()
        return line[1] if line is not None else 0.0

    def _playback_started(self, _number: int, result: object) -> None:
        self._play_started = time.monotonic() if not isinstance(result, str) else None

    def edit_note(self, note: Note, past: bool) -> None:
        if note.supervisor != self.me:
            self._say(f"Only {note.supervisor or 'its author'} can change that note.")
            return
        if self.editor.unsaved():
            self.editor.raise_()
            return
        title = (self.window.history.detail or {}).get("from") if past else (
            self.window.view.call.title if self.window.view.call is not None else "")
        self.editor.open(NoteDraft(note.call_id, title or note.call_id, note.at_s,
                                   live=not past, note_id=note.id, text=note.text))

    def _saved(self, draft: NoteDraft) -> None:
        if draft.note_id:
            self._publish(edit_event(draft.call_id, draft.note_id, draft.text, self.me))
            self._say("Note changed.")
        else:
            self._publish(note_event(draft.call_id, draft.at_s, draft.text, self.me))
            self._say("Note saved.")

    def _deleted(self, draft: NoteDraft) -> None:
        self._publish(delete_event(draft.call_id, draft.note_id, self.me))
        self._say("Note deleted.")

    def _delete_note(self, note: Note) -> None:
        if note.supervisor == self.me:
            self._publish(delete_event(note.call_id, note.id, self.me))
            self._say("Note deleted.")

    # --- M: a bookmark ------------------------------------------------------------------

    def toggle_bookmark(self, past: bool) -> None:
        """Bookmark the selected transcript line, or take your bookmark off it."""
        panel = self.past_panel if past else self.live_panel
        call_id = panel.call_id
        line = panel.selected_line()
        if call_id is None or line is None:
            self._say("Click a transcript line first, then press M to bookmark it.")
            return
        speaker, start, _text, final = line
        if not final:
            self._say("That line is still being spoken: bookmark it once it is finished.")
            return
        self._set_me()
        on = not self.book_for(past).marked_by(call_id, speaker, start, self.me)
        self._publish(bookmark_event(call_id, speaker, start, on, self.me))
        self._say("Line bookmarked." if on else "Bookmark removed.")

    def _unbookmark(self, mark: Bookmark) -> None:
        for panel in (self.live_panel, self.past_panel):
            if panel.call_id is not None and mark in panel.book.bookmarks(panel.call_id):
                self._publish(bookmark_event(panel.call_id, mark.speaker,
                                             mark.start_ms / 1000, False, self.me))
                self._say("Bookmark removed.")
                return

    def book_for(self, past: bool) -> NoteBook:
        return (self.past_panel if past else self.live_panel).book

    # --- the bus and the store ----------------------------------------------------------

    def _publish(self, event: SupervisorAction) -> None:
        """To the bus, as every supervisor action goes (the writer takes it there); shown at
        once here, since in team mode it comes back only after a trip to the team's log."""
        self.window.bridge.engine.bus.publish(event)
        self._fold(event)
        self._settle()

    def on_events(self, events: list[CallEvent]) -> None:
        """The window's events: notes and bookmarks (this console's and, in team mode,
        everyone's) folded into what the panels show."""
        for ev in events:
            if isinstance(ev, SupervisorAction) and ev.action in NOTE_ACTIONS:
                self._fold(ev)

    def _fold(self, event: SupervisorAction) -> None:
        changed = {self.book.apply(event)}
        past = self.past_panel
        if past.call_id == event.call_id and past.book is not self.book:
            changed.add(past.book.apply(event))
        for panel in (self.live_panel, past):
            if panel.call_id is not None and panel.call_id in changed:
                panel.refresh()

    def _settle(self) -> None:
        """Once the store has what was written, History's list (its Notes column) reads it
        again. One wait at a time: changes made meanwhile are read by the same refresh."""
        if self._settling:
            return
        self._settling = True
        store = getattr(self.window.bridge.engine, "store", None)
        if store is None:  # team mode: the note makes a trip through the team's log first
            QTimer.singleShot(1500, self.storeSettled.emit)
            return

        def wait() -> None:  # off the UI thread: flush blocks until the writer took it
            try:
                store.flush(2.0)
            finally:
                self.storeSettled.emit()

        threading.Thread(target=wait, name="notes-settle", daemon=True).start()

    def _settled(self) -> None:
        self._settling = False
        if self.window.tabs.currentWidget() is self.window.history:
            self.window.history.refresh()
