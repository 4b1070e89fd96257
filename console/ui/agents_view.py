"""Agents: today per agent (calls, handle time, talk share, the customer's mood, alerts,
scorecard average) from the store, with a jump to the agent's live call.

The figures come from console.store.agents, read on a worker thread every few seconds while
the tab is visible (the query takes about 0.2 s with 10,000 calls in the day). The store
holds a live call's metrics, lines and alerts within half a second, so only which calls are
live comes from the window's live model: a call is offered as live while it is on the wall,
and a wall call the store has not got yet (just started, or a team's copy catching up)
counts for its agent at once."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.config import Settings
from console.core.roles import RoleRules
from console.store.agents import CRITICAL_RULES, AgentDay, agents_today, local_midnight
from console.store.db import connect, db_path
from console.ui.call_tile import format_duration
from console.ui.model import CallInfo, CallsModel
from console.ui.theme import palette

__all__ = ["COLUMNS", "AgentsView"]

COLUMNS = ("Agent", "Team", "Calls (live)", "Handle time", "Agent talk share",
           "Customer mood", "Alerts (critical)", "Scorecard avg")
_TIPS = (
    "From the stream's custom parameters (agent, agent_name, agentId…), else the configured "
    "agent numbers; calls naming nobody are Unassigned",
    "From the stream's team parameter (the agent's newest call that names one)",
    "Calls started today, and how many are live now",
    "Total time on today's calls (live ones so far)",
    "The AGENT's share of all talk on their calls (the customer has the rest)",
    "Mean sentiment of the customer's lines per call (as in History), averaged over calls",
    "Alerts raised on their calls today; critical ones in red",
    "Mean score of their scored calls after supervisors' reviews (as in History)",
)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
REFRESH_MS = 4000


def _mood(score: float | None) -> str:
    if score is None:
        return "—"
    word = "negative" if score < -0.25 else "positive" if score > 0.25 else "neutral"
    return f"{score:+.2f} {word}"


def with_wall(rows: list[AgentDay], wall: Iterable[CallInfo], now: float) -> list[AgentDay]:
    """The store's rows with live calls as the wall has them: a call the store still calls
    live but the wall has dropped is not offered; a wall call the store has not got yet
    counts for its agent (by its custom parameters) as a live call."""
    active = {c.id: c for c in wall if c.state == "active"}
    known = {i for r in rows for i in r.live_call_ids}
    extra: dict[str, list[CallInfo]] = {}
    for call in active.values():
        if call.id not in known:
            extra.setdefault(call.agent, []).append(call)
    out = []
    for row in rows:
        more = sorted(extra.pop(row.agent, []), key=lambda c: c.started_at, reverse=True)
        live = tuple(c.id for c in more) + tuple(i for i in row.live_call_ids if i in active)
        out.append(dataclasses.replace(
            row, calls=row.calls + len(more), live_call_ids=live,
            handle_s=row.handle_s + sum(c.duration(now) for c in more)))
    for agent, calls in extra.items():  # agents whose first call of the day just began
        calls.sort(key=lambda c: c.started_at, reverse=True)
        out.append(AgentDay(agent, calls[0].team, len(calls), tuple(c.id for c in calls),
                            sum(c.duration(now) for c in calls), 0.0, 0.0, None, 0, 0, 0,
                            None, 0))
    return sorted(out, key=lambda a: (a.agent == "", a.agent.casefold(), a.agent))


class AgentsModel(QAbstractTableModel):
    """The rows as the table shows them; SORT_ROLE gives each cell's sort key."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[AgentDay] = []

    def set_rows(self, rows: list[AgentDay]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _TIPS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, col)
        if role == SORT_ROLE:
            return self._key(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tip(row, col)
        pal = palette()
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 6 and row.critical_alerts:
                return QColor(pal.danger)
            if col == 0 and not row.agent:
                return QColor(pal.muted)
        if role == Qt.ItemDataRole.BackgroundRole and col == 5 and row.customer_mood is not None:
            mood = row.customer_mood  # tinted like the sentiment gauge: red low, green high
            if mood < -0.25 or mood > 0.25:
                color = QColor(pal.danger if mood < 0 else pal.ok)
                color.setAlpha(70)
                return color
        if role == Qt.ItemDataRole.FontRole and col == 0 and not row.agent:
            font = QFont()
            font.setItalic(True)
            return font
        return None

    @staticmethod
    def _text(row: AgentDay, col: int) -> str:
        share = row.agent_talk_share
        return (
            row.name, row.team,
            f"{row.calls} ({row.live} live)" if row.live else str(row.calls),
            format_duration(row.handle_s),
            "—" if share is None else f"{share * 100:.0f} %",
            _mood(row.customer_mood),
            (f"{row.alerts} ({row.critical_alerts} critical)" if row.critical_alerts
             else str(row.alerts)),
            "—" if row.score_avg is None else f"{row.score_avg:.0f} %",
        )[col]

    @staticmethod
    def _key(row: AgentDay, col: int) -> Any:
        missing = float("-inf")  # no figure sorts below every figure
        share = row.agent_talk_share
        return (
            row.agent.casefold() if row.agent else "\uffff",  # Unassigned after the names
            row.team.casefold(), float(row.calls * 1000 + row.live), row.handle_s,
            missing if share is None else share,
            missing if row.customer_mood is None else row.customer_mood,
            float(row.critical_alerts * 1_000_000 + row.alerts),
            missing if row.score_avg is None else row.score_avg,
        )[col]

    @staticmethod
    def _tip(row: AgentDay, col: int) -> str:
        if col == 3 and row.calls:
            return f"{format_duration(row.handle_s / row.calls)} per call on average"
        if col == 4 and row.agent_talk_share is not None:
            return (f"The agent spoke {row.agent_talk_share * 100:.0f} % of the talk, the "
                    f"customer {100 - row.agent_talk_share * 100:.0f} %")
        if col == 5 and row.mood_calls:
            return f"Over {row.mood_calls} call(s) with the customer's lines scored"
        if col == 7 and row.scored_calls:
            return f"Over {row.scored_calls} scored call(s)"
        return ""


class AgentsView(QWidget):
    """The Agents tab. `data_dir`, `live` and `settings` are read at each refresh, so the
    view follows the window when its engine restarts (a new data folder, a new model)."""

    jumpRequested = Signal(str)  # the live call to open on the wall
    loaded = Signal(object)  # list[AgentDay], or what went wrong

    def __init__(self, data_dir: Callable[[], str],
                 live: Callable[[], CallsModel | None] = lambda: None,
                 settings: Callable[[], Settings | None] = lambda: None,
                 refresh_ms: int = REFRESH_MS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir, self.live, self.settings = data_dir, live, settings
        self.rows: list[AgentDay] = []
        self.refreshed = 0  # results shown so far (tests wait on it)
        self._pending: Future[Any] | None = None
        self._critical: set[str] = set(CRITICAL_RULES)
        self._rules_file: tuple[str, float] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agents")

        title = QLabel("Agents today")
        title.setProperty("heading", True)
        self.status = QLabel("")
        self.status.setProperty("muted", True)
        self.jump_button = QPushButton("Live call")
        self.jump_button.clicked.connect(self.jump)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addWidget(self.status, 1)
        top.addWidget(self.jump_button)

        self.model = AgentsModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(False)
        header = self.table.horizontalHeader()
        # The columns share the width (a wall-mounted screen reads them from afar); one
        # stretched last column would read as a gap.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(90)
        self.table.doubleClicked.connect(lambda _index: self.jump())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_button())
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            shortcut = QShortcut(QKeySequence(key), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self.jump)

        self.empty = QFrame()
        self.empty.setObjectName("EmptyState")
        self.empty.setMaximumWidth(640)
        empty_title = QLabel("No calls today yet")
        empty_title.setProperty("heading", True)
        empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "Each agent's day appears here with their first call. The agent comes from the "
            "stream's <code>agent</code> custom parameter (<code>agent_name</code> and "
            "<code>agentId</code> work too, and <code>team</code> names their team), else "
            "from the agent numbers in Settings; calls that name nobody are listed as "
            "Unassigned.")
        hint.setWordWrap(True)
        hint.setTextFormat(Qt.TextFormat.RichText)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner = QVBoxLayout(self.empty)
        inner.setContentsMargins(32, 28, 32, 28)
        inner.addWidget(empty_title)
        inner.addWidget(hint)
        empty_page = QWidget()
        ep = QVBoxLayout(empty_page)
        ep.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.empty, 4)
        row.addStretch(1)
        ep.addLayout(row)
        ep.addStretch(2)

        self.pages = QStackedWidget()
        self.pages.addWidget(empty_page)
        self.pages.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)
        self.timer.timeout.connect(self.refresh)
        self.loaded.connect(self._show)
        self._update_button()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        pool = self._pool  # not self: the wrapper may be gone when Qt destroys the widget
        self.destroyed.connect(lambda *_: pool.shutdown(wait=False, cancel_futures=True))

    # --- refreshing -----------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.timer.stop()

    def refresh(self) -> None:
        """Read today's figures on the worker; the table updates when they arrive. A refresh
        asked while one runs is skipped (the timer asks again)."""
        if self._pending is not None and not self._pending.done():
            return
        path = db_path(self.data_dir())
        settings = self.settings()
        rules = RoleRules.from_patterns(settings.agent_endpoints) if settings else None
        critical = self._critical_rules(settings)

        def read() -> list[AgentDay]:
            if not path.exists():
                return []
            conn = connect(path, readonly=True)
            try:
                return agents_today(conn, local_midnight(), critical_rules=critical,
                                    rules=rules)
            finally:
                conn.close()

        try:
            self._pending = self._pool.submit(read)
        except RuntimeError:  # shut down: the window is closing
            return
        self._pending.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        exc = future.exception()
        with contextlib.suppress(RuntimeError):  # the view is gone already
            self.loaded.emit(future.result() if exc is None else f"Could not read calls: {exc}")

    def _critical_rules(self, settings: Settings | None) -> frozenset[str]:
        """Rules whose alerts count as critical: the shipped ones, the alerts file's, and any
        the wall has seen raised as critical (a team's nodes may have rules of their own)."""
        model = self.live()
        if model is not None:
            self._critical.update(a.rule for c in model.calls.values() for a in c.alerts
                                  if a.severity == "critical")
        if settings is not None and settings.alerts_file:
            try:
                stamp = (settings.alerts_file, Path(settings.alerts_file).stat().st_mtime)
                if stamp != self._rules_file:
                    from console.analysis.alerts import load_rules

                    self._rules_file = stamp
                    self._critical.update(r.name for r in load_rules(Path(stamp[0])).rules
                                          if r.severity == "critical")
            except (OSError, ValueError, KeyError):  # the engine reports a bad file
                pass
        return frozenset(self._critical)

    def _show(self, result: list[AgentDay] | str) -> None:
        if isinstance(result, str):
            self.status.setText(result)
            return
        model = self.live()
        rows = (with_wall(result, model.calls.values(), time.time()) if model is not None
                else result)
        selected = self.selected()
        scroll = self.table.verticalScrollBar().value()
        self.rows = rows
        self.model.set_rows(rows)
        if selected is not None:
            self.select(selected.agent)
        self.table.verticalScrollBar().setValue(scroll)
        self.pages.setCurrentIndex(1 if rows else 0)
        calls, live = sum(r.calls for r in rows), sum(r.live for r in rows)
        named = sum(1 for r in rows if r.agent)
        self.status.setText(
            f"since midnight: {calls} call(s) by {named} agent(s), {live} live · "
            f"updated {time.strftime('%H:%M:%S')}" if rows else "")
        self.refreshed += 1
        self._update_button()

    # --- selection and the jump -------------------------------------------------------------

    def selected(self) -> AgentDay | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        source = self.proxy.mapToSource(rows[0]).row()
        return self.model.rows[source] if 0 <= source < len(self.model.rows) else None

    def select(self, agent: str) -> bool:
        """Select the row of `agent` ("" for Unassigned); False when there is none."""
        for i, row in enumerate(self.model.rows):
            if row.agent == agent:
                index = self.proxy.mapFromSource(self.model.index(i, 0))
                self.table.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows)
                return True
        return False

    def _update_button(self) -> None:
        row = self.selected()
        if row is None:
            self.jump_button.setEnabled(False)
            self.jump_button.setToolTip("Select an agent to open their live call")
        elif not row.live_call_ids:
            self.jump_button.setEnabled(False)
            self.jump_button.setToolTip(f"{row.name} has no live call now")
        else:
            self.jump_button.setEnabled(True)
            more = f" (the newest of {row.live})" if row.live > 1 else ""
            self.jump_button.setToolTip(f"Open {row.name}'s live call on the wall{more} "
                                        "(Enter or double-click)")

    def jump(self) -> None:
        """Open the selected agent's live call (the newest if several) on the wall."""
        row = self.selected()
        if row is not None and row.live_call_ids:
            self.jumpRequested.emit(row.live_call_ids[0])

    def shutdown(self) -> None:
        self.timer.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

