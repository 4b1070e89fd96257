"""The note editor: a small window of its own beside the console (never modal: the wall and
the call keep moving while the supervisor types)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.store.notes import MAX_NOTE_CHARS
from console.ui.call_tile import format_duration
from console.ui.theme import palette

__all__ = ["NoteDraft", "NoteEditor"]


@dataclass
class NoteDraft:
    """What the editor is writing: a new note (no `note_id`) or a change to one."""

    call_id: str
    title: str  # the call as the supervisor knows it (the caller's number)
    at_s: float  # the moment in the call the note is about
    live: bool
    note_id: str = ""
    text: str = ""  # the note's words so far (editing) or the words written (saved)


class NoteEditor(QWidget):
    saved = Signal(object)  # NoteDraft with the words written
    deleted = Signal(object)  # NoteDraft of the note to delete

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool)
        self.setObjectName("NoteEditor")
        self.setWindowTitle("Note")
        self.resize(420, 220)
        self.draft: NoteDraft | None = None
        self.heading = QLabel("")
        self.heading.setProperty("heading", True)
        self.where = QLabel("")
        self.where.setProperty("muted", True)
        self.where.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("What did you notice? Ctrl+Enter saves, Esc closes.")
        self.text.textChanged.connect(self._changed)
        self.count = QLabel("")
        self.count.setProperty("muted", True)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.close)
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.count)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.where)
        layout.addWidget(self.text, 1)
        layout.addLayout(buttons)
        # Keys on the text box itself: they work whichever window the desktop calls active.
        self.text.installEventFilter(self)

    def open(self, draft: NoteDraft) -> None:
        """Show the editor for `draft`, in front, with the cursor in the text."""
        self.draft = draft
        editing = bool(draft.note_id)
        self.heading.setText(f"{'Edit note' if editing else 'Note'} on {draft.title} "
                             f"at {format_duration(draft.at_s)}")
        self.where.setText(("Live call: the note marks this moment. " if draft.live else
                            "Past call. ")
                           + "Notes show under the call and in History, where search finds "
                             "them by their words.")
        self.text.setPlainText(draft.text)
        self.text.moveCursor(self.text.textCursor().MoveOperation.End)
        self.delete_button.setVisible(editing)
        self._changed()
        self.show()
        self.raise_()
        self.activateWindow()
        self.text.setFocus()

    def unsaved(self) -> bool:
        """True while the editor is open with words that differ from what was opened."""
        return (self.isVisible() and self.draft is not None
                and self.text.toPlainText().strip() != self.draft.text.strip())

    def _changed(self) -> None:
        n = len(self.text.toPlainText().strip())
        self.count.setText(f"{n} / {MAX_NOTE_CHARS}")
        self.count.setStyleSheet(f"color: {palette().danger};" if n > MAX_NOTE_CHARS else "")
        unchanged = self.draft is not None and self.draft.note_id and \
            self.text.toPlainText().strip() == self.draft.text.strip()
        self.save_button.setEnabled(0 < n <= MAX_NOTE_CHARS and not unchanged)

    def save(self) -> None:
        if self.draft is None or not self.save_button.isEnabled():
            return
        draft = self.draft
        draft.text = self.text.toPlainText().strip()
        self.draft = None
        self.hide()
        self.saved.emit(draft)

    def _delete(self) -> None:
        if self.draft is None or not self.draft.note_id:
            return
        draft, self.draft = self.draft, None
        self.hide()
        self.deleted.emit(draft)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.text and event.type() == QEvent.Type.KeyPress and isinstance(
                event, QKeyEvent):
            key, mods = event.key(), event.modifiers()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                    mods & Qt.KeyboardModifier.ControlModifier):
                self.save()
                return True
            if key == Qt.Key.Key_Escape:
                self.close()
                return True
        return super().eventFilter(watched, event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.draft = None  # closing is cancelling: nothing is written
        super().closeEvent(event)
