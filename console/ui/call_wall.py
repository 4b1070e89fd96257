"""The wall of live calls: one tile each, laid out in a grid that follows the window width.
Keys 1-9 pick a call, arrows move between tiles, both in the order shown.

The wall shows the calls by start time or by risk, and only those the filter lets through.
Sorting by risk is stable: the order is worked out again on the 1 Hz tick, but tiles move at
most once every `resort_s` seconds and only past calls they outrank by more than `gap`
points; a pinned call keeps its place."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QScrollArea, QWidget

from console.ui.bridge import EngineBridge
from console.ui.call_tile import CallTile
from console.ui.model import CallInfo
from console.ui.risk import RiskSettings, settings_from_config
from console.ui.wall_order import WallFilter, WordsSaid, matches, rank

__all__ = ["CallWall"]

TILE_WIDTH = 380
RESORT_S = 5.0  # a tile moves at most this often when the wall sorts by risk
GAP = 10.0  # risk points a call must lead by to pass another


class CallWall(QScrollArea):
    selectionChanged = Signal(str)  # call id, "" when nothing is selected
    viewChanged = Signal(int, int)  # calls shown, live calls
    orderChanged = Signal()  # the tiles shown, or their order, changed
    pinsChanged = Signal()

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None,
                 risk_settings: RiskSettings | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.tiles: dict[str, CallTile] = {}
        self.ranked: list[str] = []  # every live call, in the wall's order
        self.order: list[str] = []  # the calls shown, in that order (keys follow it)
        self.pinned: dict[str, int] = {}  # call id -> its place in `ranked`
        self.sort = "start"  # or "risk"
        self.filter = WallFilter()
        self.resort_s = RESORT_S
        self.gap = GAP
        self._last_sort = -1e9  # monotonic time of the last re-sort that moved a tile
        self._counts = (0, 0)  # as last told (viewChanged)
        self._words = WordsSaid()
        self.risk_problem = ""  # why the team's handle times could not be read, if so
        if risk_settings is None:
            risk_settings, self.risk_problem = settings_from_config()
        self.risk_settings = risk_settings
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
            tile = CallTile(call, self.bridge, risk_settings=self.risk_settings)
            tile.clicked.connect(self.select)
            tile.pinRequested.connect(self.toggle_pin)
            self.tiles[call.id] = tile
            self.ranked.append(call.id)  # by risk: at the end until the next re-sort
            if self.sort == "start":
                self.ranked = self._by_start()
            self._apply_view()
            if not self.selected and call.id in self.order:
                self.select(call.id)
        return tile

    def remove_call(self, call_id: str) -> None:
        tile = self.tiles.pop(call_id, None)
        if tile is None:
            return
        index = self.order.index(call_id) if call_id in self.order else 0
        self.ranked.remove(call_id)
        self.pinned.pop(call_id, None)
        self._words.forget(call_id)
        # The others keep their order; pinned calls keep their places.
        place = {c: i for i, c in enumerate(self.ranked)}
        self.ranked = rank(self.ranked, {}, self.pinned, key=place.__getitem__)
        self._grid.removeWidget(tile)
        tile.deleteLater()
        self._apply_view(force=True)
        if self.selected == call_id:
            self.selected = ""
            if self.order:
                self.select(self.order[min(index, len(self.order) - 1)])
            else:
                self.selectionChanged.emit("")

    def _by_start(self) -> list[str]:
        return rank(self.ranked, {}, self.pinned,
                    key=lambda c: (self.tiles[c].call.started_at, c))

    def _apply_view(self, force: bool = False) -> None:
        """Shows the calls the filter lets through, in the wall's order; the grid is laid
        out again only when that changed."""
        f = self.filter
        shown = [c for c in self.ranked if matches(self.tiles[c].call, f, self._words)] \
            if f.active() else list(self.ranked)
        if shown != self.order or force:
            self.order = shown
            self._relayout()
            self.orderChanged.emit()
        counts = (len(self.order), len(self.tiles))
        if counts != self._counts:
            self._counts = counts
            self.viewChanged.emit(*counts)

    def _relayout(self) -> None:
        for tile in self.tiles.values():
            self._grid.removeWidget(tile)
        for c in range(self._grid.columnCount()):
            self._grid.setColumnStretch(c, 0)
        visible = set(self.order)
        for call_id, tile in self.tiles.items():
            if call_id not in visible:
                tile.hide()
        for i, call_id in enumerate(self.order):
            tile = self.tiles[call_id]
            self._grid.addWidget(tile, i // self.columns, i % self.columns)
            tile.set_index(i)
            tile.show()
        for c in range(self.columns):
            self._grid.setColumnStretch(c, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        columns = max(1, (self.viewport().width() - 12) // TILE_WIDTH)
        if columns != self.columns:
            self.columns = columns
            self._relayout()

    # --- order, pins and filter -----------------------------------------------------------

    def set_sort(self, mode: str) -> None:
        """"start" (the order calls came in) or "risk" (the riskiest first)."""
        if mode not in ("start", "risk"):
            raise ValueError(f"sort by start or risk, not {mode!r}")
        self.sort = mode
        if mode == "risk":  # asked for: a full sort now, no hysteresis
            self.ranked = rank(self.ranked, self.scores(), self.pinned)
            self._last_sort = time.monotonic()
        else:
            self.ranked = self._by_start()
        self._apply_view()

    def set_filter(self, f: WallFilter) -> None:
        self.filter = f
        self._apply_view()
        if self.selected not in self.order and self.order:
            self.select(self.order[0])  # keys and the call view stay on a call one sees

    def toggle_pin(self, call_id: str) -> None:
        if call_id not in self.tiles:
            return
        if call_id in self.pinned:
            del self.pinned[call_id]
            if self.sort == "start":  # back to its place in the start order
                self.ranked = self._by_start()
                self._apply_view()
        else:
            self.pinned[call_id] = self.ranked.index(call_id)
        self.tiles[call_id].set_pinned(call_id in self.pinned)
        self.pinsChanged.emit()

    def scores(self) -> dict[str, float]:
        return {c: float(t.risk.score) for c, t in self.tiles.items()}

    def resort(self, now: float | None = None) -> bool:
        """Re-sorts by risk if the hold time has passed; True if a tile moved."""
        now = time.monotonic() if now is None else now
        if self.sort != "risk" or now - self._last_sort < self.resort_s:
            return False
        new = rank(self.ranked, self.scores(), self.pinned, self.gap)
        if new == self.ranked:
            return False
        self.ranked = new
        self._last_sort = now
        self._apply_view()
        return True

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
        if key == Qt.Key.Key_P and self.selected:
            self.toggle_pin(self.selected)
            return
        super().keyPressEvent(event)

    # --- refresh ------------------------------------------------------------------------

    def tick(self) -> None:
        for tile in self.tiles.values():
            if tile.isVisible() and not tile.visibleRegion().isEmpty():
                tile.tick()

    def tick_slow(self) -> None:
        now = time.time()
        for tile in self.tiles.values():
            tile.tick_slow(now)
        if self.filter.active():  # words said, alerts and topics change what matches
            self._apply_view()
        self.resort()
