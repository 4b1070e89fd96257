"""Notes and bookmarks beside a transcript: the list of a call's notes and bookmarked lines,
the transcript line the supervisor selected (a click), and the marks on bookmarked lines.

The panel never re-renders the transcript it watches: after each render (its textChanged) it
puts a ★ before each bookmarked line and tints it, and highlights the selected line, on the
rendered document. So the views keep rendering as they always did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from console.store.notes import Bookmark, Note, NoteBook, start_ms
from console.ui.call_tile import format_duration

__all__ = ["STAR", "Line", "NotesPanel", "live_lines", "notes_cell", "past_lines"]

Line = tuple[str, float, str, bool]  # speaker, start_s, text, final: one rendered line
STAR = "★ "
MARK_RGBA = (255, 193, 7, 60)  # amber, light enough for either theme's text
SELECTED_RGBA = (120, 144, 156, 70)


def live_lines(call: Any) -> list[Line]:
    """The lines CallView renders, in its order (one paragraph per segment)."""
    if call is None:
        return []
    return [(s.speaker.value, s.start_s, s.text, s.final) for s in call.transcript()]


def past_lines(detail: dict[str, Any] | None) -> list[Line]:
    """The lines History renders for a past call (final segments only)."""
    if not detail:
        return []
    return [(s["speaker"], float(s["start_s"]), s["text"], True) for s in detail["segments"]]


def notes_cell(call: dict[str, Any]) -> str:
    """History's Notes column: how many notes (✎) and bookmarked lines (★) a call has."""
    bits = [f"{n} {sign}" for n, sign in ((call.get("note_count") or 0, "✎"),
                                          (call.get("bookmark_count") or 0, "★")) if n]
    return "  ".join(bits)


def _who(speaker: str) -> str:
    return "Customer" if speaker == "customer" else "Agent" if speaker == "agent" else speaker


class NotesPanel(QWidget):
    noteRequested = Signal(float)  # a note at this moment (-1: the owner's own choice)
    bookmarkRequested = Signal()  # toggle the selected line's bookmark
    editRequested = Signal(object)  # Note (the supervisor's own)
    deleteRequested = Signal(object)  # Note (the supervisor's own)
    unbookmarkRequested = Signal(object)  # Bookmark (the supervisor's own)

    def __init__(self, transcript: QTextBrowser, lines: Callable[[], list[Line]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transcript = transcript
        self.lines = lines
        self.book = NoteBook(max_calls=8)  # the owner may share its own book
        self.me = ""  # the supervisor's name: their notes are theirs to change
        self.call_id: str | None = None
        self._rendered: list[Line] = []  # the lines of the document as last rendered
        self._selected: tuple[str, int] | None = None  # (speaker, start_ms)
        self._decorate_queued = False
        self._decorating = False

        caption = QLabel("Notes and bookmarks  ·  N adds a note  ·  click a line, M marks it")
        caption.setProperty("muted", True)
        caption.setWordWrap(True)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setMinimumHeight(72)  # a few notes stay readable in a crowded column
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._list_menu)
        self.list.itemDoubleClicked.connect(self._item_activated)
        self.list.itemClicked.connect(self._item_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(caption)
        layout.addWidget(self.list, 1)

        transcript.textChanged.connect(self._queue_decorate)
        transcript.viewport().installEventFilter(self)
        transcript.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        transcript.customContextMenuRequested.connect(
            lambda pos: self.line_menu(pos).exec(transcript.mapToGlobal(pos)))

    # --- which call ---------------------------------------------------------------------

    def show_call(self, call_id: str | None, detail: dict[str, Any] | None = None) -> None:
        """Show `call_id`'s notes; with `detail` (History's read of a past call) from it."""
        if call_id != self.call_id:
            self._selected = None
        self.call_id = call_id
        if call_id is not None and detail is not None:
            self.book.load(call_id, detail.get("notes") or [], detail.get("bookmarks") or [])
        self.refresh()

    def refresh(self) -> None:
        """The list and the marks again (after a change to this call's notes)."""
        self.list.clear()
        call = self.call_id
        if call is None:
            self._queue_decorate()
            return
        texts = {(s, start_ms(t)): (text, t) for s, t, text, _ in self._rendered}
        items: list[tuple[float, int, str, str, object]] = []
        for b in self.book.bookmarks(call):
            line = texts.get((b.speaker, b.start_ms))
            said = line[0] if line else "(line not shown)"
            items.append((b.start_ms / 1000, 0, f"★ {format_duration(b.start_ms / 1000)}  "
                          f"{_who(b.speaker)}: {said}  — {b.supervisor or '?'}",
                          f"Bookmarked by {b.supervisor or '?'}", b))
        for n in self.book.notes(call):
            mine = n.supervisor == self.me
            tip = (f"{n.text}\n\nBy {n.supervisor or '?'}"
                   + (" (edited)" if n.edited_at else "")
                   + ("; double-click to edit, right-click to delete" if mine else ""))
            items.append((n.at_s, 1, f"✎ {format_duration(n.at_s)}  {n.supervisor or '?'}: "
                          f"{n.text}", tip, n))
        for _, _, text, tip, obj in sorted(items, key=lambda i: (i[0], i[1])):
            item = QListWidgetItem(text if len(text) < 400 else text[:399] + "…")
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.UserRole, obj)
            self.list.addItem(item)
        self._queue_decorate()

    # --- the selected line --------------------------------------------------------------

    def selected_line(self) -> Line | None:
        if self._selected is None:
            return None
        for line in self._rendered:
            if (line[0], start_ms(line[1])) == self._selected:
                return line
        return None

    def select_line(self, index: int) -> Line | None:
        """Select the index-th rendered line (what a click on it does)."""
        if not 0 <= index < len(self._rendered):
            return None
        line = self._rendered[index]
        self._selected = (line[0], start_ms(line[1]))
        self._decorate()
        return line

    def line_at(self, pos: QPoint) -> int:
        """The rendered line under a point of the transcript's viewport (-1: none)."""
        block = self.transcript.cursorForPosition(pos).block()
        return block.blockNumber() if block.isValid() and block.text().strip() else -1

    def line_rect_center(self, index: int) -> QPoint:
        """Where line `index` is drawn in the viewport (for a click on it)."""
        block = self.transcript.document().findBlockByNumber(index)
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
        cursor.movePosition(QTextCursor.MoveOperation.PreviousCharacter)
        return self.transcript.cursorRect(cursor).center()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and hasattr(event, "position"):
            index = self.line_at(event.position().toPoint())
            if index >= 0:
                self.select_line(index)
        return False  # the browser still selects text and follows links

    def line_menu(self, pos: QPoint) -> QMenu:
        """The transcript's context menu at `pos`: bookmark or note the line there."""
        menu = QMenu(self.transcript)
        index = self.line_at(pos)
        line = self.select_line(index) if index >= 0 else None
        if line is not None and self.call_id is not None:
            marked = self.book.marked_by(self.call_id, line[0], line[1], self.me)
            mark = menu.addAction("Remove my bookmark  (M)" if marked
                                  else "Bookmark this line  (M)")
            mark.setEnabled(line[3])  # a line still being spoken is not kept yet
            mark.triggered.connect(self.bookmarkRequested)
            note = menu.addAction(f"Add a note at {format_duration(line[1])}…  (N)")
            note.triggered.connect(lambda _=False, at=line[1]: self.noteRequested.emit(at))
            menu.addSeparator()
        copy = menu.addAction("Copy")
        copy.setEnabled(self.transcript.textCursor().hasSelection())
        copy.triggered.connect(self.transcript.copy)
        return menu

    # --- marks on the rendered transcript -----------------------------------------------

    def _queue_decorate(self) -> None:
        # A render sets the whole document in steps: decorate once, when it is done.
        if not self._decorating and not self._decorate_queued:
            self._decorate_queued = True
            # Tied to the transcript: a window closed meanwhile drops the call.
            QTimer.singleShot(0, self.transcript, self._decorate)

    def _decorate(self) -> None:
        self._decorate_queued = False
        if self._decorating or not shiboken6.isValid(self.transcript):
            return
        self._decorating = True
        try:
            self._paint_marks()
        finally:
            self._decorating = False

    def _paint_marks(self) -> None:
        doc = self.transcript.document()
        lines = self.lines() if self.call_id is not None else []
        if doc.blockCount() < len(lines):
            lines = []  # not this call's rendering yet: nothing to mark
        self._rendered = lines
        marked = self.book.marked(self.call_id) if self.call_id is not None else set()
        star = QTextCharFormat()
        star.setForeground(QColor(255, 193, 7))
        selections = []
        for i, (speaker, start, _text, _final) in enumerate(lines):
            key = (speaker, start_ms(start))
            block = doc.findBlockByNumber(i)
            has_star = block.text().startswith(STAR)
            if (key in marked) != has_star:
                cursor = QTextCursor(block)
                if has_star:
                    cursor.movePosition(QTextCursor.MoveOperation.Right,
                                        QTextCursor.MoveMode.KeepAnchor, len(STAR))
                    cursor.removeSelectedText()
                else:
                    cursor.insertText(STAR, star)
            if key in marked or key == self._selected:
                sel = QTextEdit.ExtraSelection()
                cursor = QTextCursor(block)
                cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock,
                                    QTextCursor.MoveMode.KeepAnchor)
                sel.cursor = cursor
                fmt = QTextCharFormat()
                rgba = SELECTED_RGBA if key == self._selected else MARK_RGBA
                fmt.setBackground(QColor(*rgba))
                fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
                sel.format = fmt
                selections.append(sel)
        self.transcript.setExtraSelections(selections)
        # The list names bookmarked lines by their words: keep it in step with the render.
        if self.call_id is not None and self.book.bookmarks(self.call_id):
            self._refresh_bookmark_texts()

    def _refresh_bookmark_texts(self) -> None:
        texts = {(s, start_ms(t)): text for s, t, text, _ in self._rendered}
        for i in range(self.list.count()):
            item = self.list.item(i)
            b = item.data(Qt.ItemDataRole.UserRole)
            if isinstance(b, Bookmark):
                said = texts.get((b.speaker, b.start_ms), "(line not shown)")
                item.setText(f"★ {format_duration(b.start_ms / 1000)}  {_who(b.speaker)}: "
                             f"{said}  — {b.supervisor or '?'}")

    def marked_lines(self) -> list[int]:
        """Indexes of the rendered lines that carry a bookmark's star (for tests and
        screenshots: what the supervisor sees)."""
        doc = self.transcript.document()
        return [i for i in range(len(self._rendered))
                if doc.findBlockByNumber(i).text().startswith(STAR)]

    # --- the list -----------------------------------------------------------------------

    def _item_clicked(self, item: QListWidgetItem) -> None:
        obj = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(obj, Bookmark):  # show the marked line
            for i, (speaker, start, _, _) in enumerate(self._rendered):
                if (speaker, start_ms(start)) == (obj.speaker, obj.start_ms):
                    self.select_line(i)
                    cursor = QTextCursor(self.transcript.document().findBlockByNumber(i))
                    self.transcript.setTextCursor(cursor)
                    self.transcript.ensureCursorVisible()
                    break

    def _item_activated(self, item: QListWidgetItem) -> None:
        obj = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(obj, Note) and obj.supervisor == self.me:
            self.editRequested.emit(obj)

    def item_menu(self, item: QListWidgetItem) -> QMenu:
        """The list's context menu for `item`: change what is yours."""
        menu = QMenu(self.list)
        obj = item.data(Qt.ItemDataRole.UserRole)
        mine = getattr(obj, "supervisor", None) == self.me
        if isinstance(obj, Note):
            edit = menu.addAction("Edit note…")
            edit.triggered.connect(lambda: self.editRequested.emit(obj))
            delete = menu.addAction("Delete note")
            delete.triggered.connect(lambda: self.deleteRequested.emit(obj))
            for action in (edit, delete):
                action.setEnabled(mine)
        elif isinstance(obj, Bookmark):
            remove = menu.addAction("Remove bookmark")
            remove.triggered.connect(lambda: self.unbookmarkRequested.emit(obj))
            remove.setEnabled(mine)
        if not mine:
            menu.addAction(f"Only {getattr(obj, 'supervisor', '') or 'its author'} "
                           "can change this").setEnabled(False)
        return menu

    def _list_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is not None:
            self.item_menu(item).exec(self.list.viewport().mapToGlobal(pos))
