"""The bar above the wall: sort by start time or by risk, filter by node, team, queue, agent
and topic (menus of what the live calls carry), alerts only, and a quick search over numbers,
names, agents and words said that filters the wall as one types. P pins the selected call,
Ctrl+F goes to the search."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QWidget,
)

from console.ui.call_wall import CallWall
from console.ui.model import topic_label
from console.ui.wall_order import FIELDS, WallFilter, field_values

__all__ = ["WallBar"]


class WallBar(QWidget):
    def __init__(self, wall: CallWall, keys_on: QWidget | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.wall = wall
        self.setObjectName("WallBar")

        self.sort_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        for mode, text, tip in (
                ("start", "Start time", "Calls in the order they came in"),
                ("risk", "Risk", "The calls that most need you first; a tile moves at most "
                 "once every few seconds, and pinned calls (P) keep their place")):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(mode == wall.sort)
            button.toggled.connect(lambda on, m=mode: self._sort(m) if on else None)
            group.addButton(button)
            self.sort_buttons[mode] = button

        self.filter_button = QToolButton()
        self.filter_button.setText("Filter")
        self.filter_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.filter_menu = QMenu(self)
        self.menus: dict[str, QMenu] = {}
        for name, label in FIELDS.items():
            menu = self.filter_menu.addMenu(label)
            menu.aboutToShow.connect(lambda n=name: self.fill_menu(n))
            self.menus[name] = menu
            self.fill_menu(name)
        self.filter_menu.addSeparator()
        self.clear_action = self.filter_menu.addAction("Clear filters")
        self.clear_action.triggered.connect(self.clear)
        self.filter_button.setMenu(self.filter_menu)

        self.alerts_only = QToolButton()
        self.alerts_only.setText("Alerts only")
        self.alerts_only.setToolTip("Only calls that raised an alert")
        self.alerts_only.setCheckable(True)
        self.alerts_only.toggled.connect(lambda on: self._set(alerts_only=on))

        self.search = QLineEdit()
        self.search.setPlaceholderText("Number, agent or words said")
        self.search.setToolTip("Number, name, agent or words said (Ctrl+F); the wall "
                               "filters as you type")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(100)
        self.search.textChanged.connect(lambda text: self._set(search=text))

        self.count = QLabel("")
        self.count.setProperty("muted", True)

        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 0)
        row.setSpacing(6)
        sort_label = QLabel("Sort")
        sort_label.setProperty("muted", True)
        row.addWidget(sort_label)
        for button in self.sort_buttons.values():
            row.addWidget(button)
        row.addSpacing(12)
        row.addWidget(self.filter_button)
        row.addWidget(self.alerts_only)
        row.addWidget(self.search, 1)
        row.addWidget(self.count)

        wall.viewChanged.connect(self._counts)
        self._counts(len(wall.order), len(wall.tiles))
        if keys_on is not None:
            for key, fn in (("P", self._pin_selected), ("Ctrl+F", self._focus_search)):
                shortcut = QShortcut(QKeySequence(key), keys_on)
                shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                shortcut.activated.connect(fn)

    def _sort(self, mode: str) -> None:
        self.wall.set_sort(mode)

    # --- filter ---------------------------------------------------------------------------

    def fill_menu(self, name: str) -> None:
        """The menu's choices: any, or a value one of the live calls carries (and the one
        chosen, even once no call carries it any more)."""
        menu = self.menus[name]
        menu.clear()
        chosen = getattr(self.wall.filter, name)
        values = field_values(t.call for t in self.wall.tiles.values())[name]
        if chosen and chosen not in values:
            values.append(chosen)
        group = QActionGroup(menu)
        group.setExclusive(True)
        for value in ["", *values]:
            text = "Any" if not value else topic_label(value) if name == "topic" else value
            action = QAction(text, menu)
            action.setCheckable(True)
            action.setChecked(value == chosen)
            action.setData(value)
            action.triggered.connect(lambda _=False, n=name, v=value: self._set(**{n: v}))
            group.addAction(action)
            menu.addAction(action)
        menu.setEnabled(len(values) > 0)

    def choose(self, name: str, value: str) -> None:
        """Picks `value` in a filter menu, as a click on it would."""
        self.fill_menu(name)
        for action in self.menus[name].actions():
            if action.data() == value:
                action.trigger()
                return
        raise KeyError(f"no {name} {value!r} among the live calls")

    def clear(self) -> None:
        self.alerts_only.setChecked(False)
        self.search.clear()
        self._apply(WallFilter())

    def _set(self, **changes: object) -> None:
        self._apply(self.wall.filter.with_(**changes))

    def _apply(self, f: WallFilter) -> None:
        self.wall.set_filter(f)
        chosen = [f"{FIELDS[n].lower()} "
                  f"{topic_label(getattr(f, n)) if n == 'topic' else getattr(f, n)}"
                  for n in FIELDS if getattr(f, n)]
        self.filter_button.setText(f"Filter ({len(chosen)})" if chosen else "Filter")
        self.filter_button.setToolTip("Showing only: " + ", ".join(chosen) if chosen
                                      else "Show only the calls of a node, team, queue, "
                                      "agent or topic")
        self._counts(len(self.wall.order), len(self.wall.tiles))

    # --- keys and counts ------------------------------------------------------------------

    def _pin_selected(self) -> None:
        if self.wall.selected:
            self.wall.toggle_pin(self.wall.selected)

    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _counts(self, shown: int, total: int) -> None:
        self.count.setText(f"{shown} of {total} calls" if self.wall.filter.active()
                           else f"{total} call{'s' if total != 1 else ''}")
        show = total > 0 or self.wall.filter.active() > 0
        if self.parentWidget() is not None or not show:  # never a window of its own
            self.setVisible(show)
