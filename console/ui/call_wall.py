"""The wall of live calls: one tile each, laid out in a grid that follows the window width.
Keys 1-9 pick a call, arrows move between tiles."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QScrollArea, QWidget

from console.ui.bridge import EngineBridge
from console.ui.call_tile import CallTile
from console.ui.model import CallInfo

__all__ = ["CallWall"]

TILE_WIDTH = 380


class CallWall(QScrollArea):
    selectionChanged = Signal(str)  # call id, "" when nothing is selected

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.tiles: dict[str, CallTile] = {}
        self.order: list[str] = []
        self.selected = ""
        self.columns = 2
        self.setWidgetResizable(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setContentsMargins(12, 12, 12, 12)
        self._grid.setSpacing(12)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.setWidget(self._inner)

    # --- tiles --------------------------------------------------------------------------

    def add_call(self, call: CallInfo) -> CallTile:
        tile = self.tiles.get(call.id)
        if tile is None:
            tile = CallTile(call, self.bridge)
            tile.clicked.connect(self.select)
            self.tiles[call.id] = tile
            self.order.append(call.id)
            self._relayout()
            if not self.selected:
                self.select(call.id)
        return tile

    def remove_call(self, call_id: str) -> None:
        tile = self.tiles.pop(call_id, None)
        if tile is None:
            return
        index = self.order.index(call_id)
        self.order.remove(call_id)
        self._grid.removeWidget(tile)
        tile.deleteLater()
        self._relayout()
        if self.selected == call_id:
            self.selected = ""
            if self.order:
                self.select(self.order[min(index, len(self.order) - 1)])
            else:
                self.selectionChanged.emit("")

    def _relayout(self) -> None:
        for i, call_id in enumerate(self.order):
            tile = self.tiles[call_id]
            self._grid.addWidget(tile, i // self.columns, i % self.columns)
            tile.set_index(i)
        for c in range(self.columns):
            self._grid.setColumnStretch(c, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        columns = max(1, (self.viewport().width() - 12) // TILE_WIDTH)
        if columns != self.columns:
            self.columns = columns
            for tile in self.tiles.values():
                self._grid.removeWidget(tile)
            for c in range(8):
                self._grid.setColumnStretch(c, 0)
            self._relayout()

    # --- selection ----------------------------------------------------------------------

    def select(self, call_id: str) -> None:
        if call_id not in self.tiles or call_id == self.selected:
            return
        if self.selected in self.tiles:
            self.tiles[self.selected].set_selected(False)
        self.selected = call_id
        tile = self.tiles[call_id]
        tile.set_selected(True)
        self.ensureWidgetVisible(tile)
        self.selectionChanged.emit(call_id)

    def select_index(self, index: int) -> None:
        if 0 <= index < len(self.order):
            self.select(self.order[index])

    def move_selection(self, dx: int, dy: int) -> None:
        if not self.order:
            return
        if self.selected not in self.order:
            self.select(self.order[0])
            return
        i = self.order.index(self.selected)
        j = i + dx + dy * self.columns
        self.select_index(max(0, min(len(self.order) - 1, j)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        moves = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
                 Qt.Key.Key_Down: (0, 1)}
        if key in moves:
            self.move_selection(*moves[Qt.Key(key)])
            return
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self.select_index(key - Qt.Key.Key_1)
            return
        super().keyPressEvent(event)

    # --- refresh ------------------------------------------------------------------------

    def tick(self) -> None:
        for tile in self.tiles.values():
            if tile.isVisible() and not tile.visibleRegion().isEmpty():
                tile.tick()

    def tick_slow(self) -> None:
        for tile in self.tiles.values():
            tile.tick_slow()
