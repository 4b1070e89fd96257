"""The alert feed beside the wall: the team's alerts, newest first, each with its call, rule,
the words that fired it, the time, its severity colour and whether it is new, acknowledged or
snoozed; and what the supervisor can do with one.

Keys (with the feed focused): Enter or G goes to the call, A acknowledges, S snoozes the
rule for that call, E snoozes it for everyone (choose how long), U lifts a snooze. Every
action goes to the call's audit trail with the supervisor's name (`actionTaken`, which the
window publishes on the bus); the state lives in `console.ui.alert_book`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QGraphicsOpacityEffect,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.core.events import CallEvent
from console.store.alert_audit import (
    ACK,
    LIFT,
    SNOOZE,
    ack_detail,
    lift_detail,
    snooze_detail,
)
from console.ui.alert_book import AlertBook, FeedAlert
from console.ui.model import CallInfo

__all__ = ["SNOOZE_CHOICES", "AlertFeed", "Chime", "shift_until"]

# Snoozes for everyone the supervisor picks from; None: until the end of the shift.
SNOOZE_CHOICES: tuple[tuple[str, float | None], ...] = (
    ("15 minutes", 15 * 60.0), ("1 hour", 3600.0), ("Until end of shift", None))
SHIFT_FALLBACK_S = 8 * 3600.0  # no shift end set: a shift's length from now
_STATES = {"new": "NEW", "acknowledged": "ACK", "snoozed": "SNOOZED"}


def shift_until(shift_end: str, now: float) -> float:
    """When a snooze "until end of shift" ends: the next `shift_end` (HH:MM, local time)
    after `now`, or a shift's length from now when none is set."""
    if not shift_end:
        return now + SHIFT_FALLBACK_S
    hours, minutes = (int(p) for p in shift_end.split(":"))
    here = datetime.fromtimestamp(now)
    end = here.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if end <= here:
        end += timedelta(days=1)
    return end.timestamp()


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M:%S")


def _position(at_s: float) -> str:
    minutes, seconds = divmod(int(at_s), 60)
    return f"{minutes:02d}:{seconds:02d}"


class Chime(QObject):
    """A short two-note tone on the output device, played off the UI thread; where no
    device plays it, the desktop's beep. At most one every `min_gap_s`."""

    failed = Signal(str)

    def __init__(self, min_gap_s: float = 2.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.min_gap_s = min_gap_s
        self.played = 0  # tones that reached a device
        self.error = ""
        self._last = -1e9
        self._thread: threading.Thread | None = None
        self.failed.connect(self._beep)  # queued: emitted on the tone's thread

    def play(self, device: str = "") -> bool:
        now = time.monotonic()
        if now - self._last < self.min_gap_s or (self._thread is not None
                                                 and self._thread.is_alive()):
            return False
        self._last = now
        self._thread = threading.Thread(target=self._run, args=(device,), name="alert-tone",
                                        daemon=True)
        self._thread.start()
        return True

    def _run(self, device: str) -> None:
        from console.audio.devices import open_stream_args

        try:
            sd, args = open_stream_args(device or None, output=True)
            rate = int(args["samplerate"])
            channels = min(2, int(args["channels"]))
            tone = _tone(rate)
            with sd.OutputStream(device=args["device"], samplerate=rate, channels=channels,
                                 dtype="float32") as stream:
                stream.write(np.repeat(tone[:, None], channels, axis=1))
            self.played += 1
        except Exception as exc:  # no device, a busy one: the desktop's beep instead
            self.error = str(exc)
            self.failed.emit(self.error)

    def _beep(self, _why: str) -> None:
        QApplication.beep()


def _tone(rate: int) -> np.ndarray:
    """Two short notes (880 Hz then 1175 Hz), faded in and out so they do not click."""
    notes = []
    for freq in (880.0, 1175.0):
        t = np.arange(int(rate * 0.12)) / rate
        note = 0.3 * np.sin(2 * np.pi * freq * t)
        fade = min(len(note) // 4, int(rate * 0.01))
        ramp = np.linspace(0.0, 1.0, fade)
        note[:fade] *= ramp
        note[-fade:] *= ramp[::-1]
        notes += [note, np.zeros(int(rate * 0.05))]
    return np.concatenate(notes).astype(np.float32)


class AlertRow(QFrame):
    """One alert: severity badge with the rule, the call, the time, the state; the words
    below (hidden while snoozed: the row folds to one dimmed line)."""

    def __init__(self, entry: FeedAlert) -> None:
        super().__init__()
        self.setObjectName("AlertRow")
        self.entry = entry
        a = entry.alert
        self.setProperty("severity", a.severity if a.severity in _SEVERITIES else "warning")
        self.badge = QLabel(a.rule.replace("_", " "))
        self.badge.setProperty("badge", self.property("severity"))
        self.title = QLabel(entry.title)
        self.title.setProperty("alertTitle", True)
        self.when = QLabel(_clock(entry.at))
        self.when.setProperty("muted", True)
        self.when.setToolTip(f"{_position(a.at_s)} into the call")
        self.state = QLabel("")
        self.state.setProperty("alertState", True)
        self.words = QLabel(f"“{a.text}”")
        self.words.setWordWrap(True)
        self.words.setProperty("muted", True)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(6)
        top.addWidget(self.badge)
        top.addWidget(self.title, 1)
        top.addWidget(self.state)
        top.addWidget(self.when)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 5, 8, 5)
        column.setSpacing(2)
        column.addLayout(top)
        column.addWidget(self.words)
        self._dim = QGraphicsOpacityEffect(self)
        self._dim.setOpacity(0.45)
        self._dim.setEnabled(False)
        self.setGraphicsEffect(self._dim)
        self.refresh()

    def refresh(self) -> None:
        e = self.entry
        self.state.setText(_STATES[e.state] + (f" · {e.by}" if e.by else ""))
        self.state.setProperty("state", e.state)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        snoozed = e.state == "snoozed"
        self._dim.setEnabled(snoozed)
        self.words.setVisible(not snoozed)
        self.setToolTip(f"{e.alert.rule} on {e.title} at {_position(e.alert.at_s)}: "
                        f"“{e.alert.text}”" + (f"\n{_STATES[e.state].lower()} by {e.by}"
                                               if e.by else ""))


_SEVERITIES = ("info", "warning", "critical")
_LIST_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
              Qt.Key.Key_Home, Qt.Key.Key_End)


class _AlertList(QListWidget):
    """The arrows move through the alerts while the list has the keyboard (on the rest of
    the live page they move between tiles: the window's shortcuts)."""

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ShortcutOverride and isinstance(e, QKeyEvent) \
                and e.key() in _LIST_KEYS:
            e.accept()
            return True
        return super().event(e)


class AlertFeed(QFrame):
    jumpRequested = Signal(str)  # call id
    actionTaken = Signal(str, str, str)  # call id, audit action, detail

    def __init__(self, supervisor: Callable[[], str], shift_end: Callable[[], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AlertFeed")
        self.supervisor = supervisor
        self.shift_end = shift_end
        self.now: Callable[[], float] = time.time  # the feed's clock (snoozes end by it)
        self.book = AlertBook()
        self.rows: dict[str, tuple[QListWidgetItem, AlertRow]] = {}
        self.chime = Chime(parent=self)
        self.notified: deque[str] = deque(maxlen=200)  # keys of alerts the window notified
        self._titles: dict[str, tuple[str, float]] = {}  # call id -> title, start

        heading = QLabel("Alerts")
        heading.setProperty("heading", True)
        self.counts = QLabel("")
        self.counts.setProperty("muted", True)
        head = QHBoxLayout()
        head.addWidget(heading)
        head.addStretch(1)
        head.addWidget(self.counts)
        self.snoozes = QLabel("")
        self.snoozes.setWordWrap(True)
        self.snoozes.setProperty("muted", True)
        self.snoozes.setVisible(False)

        self.list = _AlertList()
        self.list.setObjectName("AlertList")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.itemActivated.connect(lambda _item: self.go_to_call())
        self.list.itemSelectionChanged.connect(self._enable)
        self.empty = QLabel("No alerts yet. Alerts from every call land here, newest first.")
        self.empty.setWordWrap(True)
        self.empty.setProperty("muted", True)

        self.go_button = QPushButton("Go to call")
        self.go_button.setToolTip("Select the call on the wall and open it (Enter or G)")
        self.go_button.clicked.connect(self.go_to_call)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setToolTip("Acknowledge the selected alerts (A)")
        self.ack_button.clicked.connect(self.acknowledge)
        self.snooze_button = QPushButton("Snooze for call")
        self.snooze_button.setToolTip("No more alerts of this rule on this call (S)")
        self.snooze_button.clicked.connect(self.snooze_call)
        self.team_button = QToolButton()
        self.team_button.setText("Snooze for everyone")
        self.team_button.setToolTip("No alerts of this rule on any call, for every console "
                                    "of the team, for a while (E)")
        self.team_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.team_menu = QMenu(self.team_button)
        for label, seconds in SNOOZE_CHOICES:
            self.team_menu.addAction(label).triggered.connect(
                lambda _=False, s=seconds, lbl=label: self.snooze_everyone(s, lbl))
        self.team_button.setMenu(self.team_menu)
        self.lift_button = QPushButton("Lift snooze")
        self.lift_button.setToolTip("Alerts of this rule notify again (U)")
        self.lift_button.clicked.connect(self.lift)
        # Rows of two: the feed stays narrow beside the wall (a single row of five buttons
        # would make it the widest pane on the screen, and the window too wide for a laptop).
        buttons = QGridLayout()
        buttons.setSpacing(4)
        for i, b in enumerate((self.go_button, self.ack_button, self.snooze_button,
                               self.team_button, self.lift_button)):
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            buttons.addWidget(b, i // 2, i % 2)

        column = QVBoxLayout(self)
        column.setContentsMargins(10, 8, 10, 8)
        column.setSpacing(6)
        column.addLayout(head)
        column.addWidget(self.snoozes)
        column.addWidget(self.empty)
        column.addWidget(self.list, 1)
        column.addLayout(buttons)
        for key, fn in (("A", self.acknowledge), ("S", self.snooze_call),
                        ("E", self._team_menu), ("U", self.lift), ("G", self.go_to_call)):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(fn)
        self._render_counts()
        self._enable()

    # --- from the bus ---------------------------------------------------------------------

    def take(self, events: list[CallEvent], calls: dict[str, CallInfo]) -> list[FeedAlert]:
        """Fold a batch of bus events into the feed; the new alerts nobody snoozed (the
        ones to notify)."""
        # Calls leave the wall a moment after they end; an alert may come later still (a
        # slow recogniser, a team replay): their titles are kept a while.
        for cid, c in calls.items():
            self._titles[cid] = (c.title, c.started_at)
        while len(self._titles) > 2000:
            del self._titles[next(iter(self._titles))]
        added, changed = self.book.take(events, self._titles, self.now())
        if not added and not changed:
            return []
        for entry in added:
            self._insert(entry)
        for entry in changed:
            self._refresh(entry.key)
        self._prune()
        self._render_counts()
        self._render_snoozes()
        self._enable()
        return [e for e in added if e.state == "new"]

    def tick(self) -> list[str]:
        """Once a second: snoozes for everyone that ended (their rules)."""
        over = self.book.expire(self.now())
        if over:
            self._render_snoozes()
        return [s.rule for s in over]

    # --- actions --------------------------------------------------------------------------

    def selected(self) -> list[FeedAlert]:
        keys = {item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()}
        return [e for e in self.book.newest_first() if e.key in keys]

    def select_key(self, key: str) -> None:
        pair = self.rows.get(key)
        if pair is not None:
            self.list.setCurrentItem(pair[0])

    def go_to_call(self) -> None:
        chosen = self.selected()
        if chosen:
            self.jumpRequested.emit(chosen[0].alert.call_id)

    def acknowledge(self) -> None:
        for entry in self.selected():
            if entry.state == "new":
                a = entry.alert
                self._act(a.call_id, ACK, ack_detail(a.rule, a.at_s, a.text))

    def snooze_call(self) -> None:
        done: set[tuple[str, str]] = set()
        for entry in self.selected():
            key = (entry.alert.call_id, entry.alert.rule)
            if key not in done and key not in self.book.call_snoozes:
                done.add(key)
                self._act(key[0], SNOOZE, snooze_detail(key[1], None))

    def snooze_everyone(self, seconds: float | None, label: str = "") -> None:
        now = self.now()
        until = shift_until(self.shift_end(), now) if seconds is None else now + seconds
        if not label or seconds is None:
            label = f"{label or 'for everyone'}, until {_clock(until)}"
        done: set[str] = set()
        for entry in self.selected():
            if entry.alert.rule not in done:
                done.add(entry.alert.rule)
                self._act(entry.alert.call_id, SNOOZE,
                          snooze_detail(entry.alert.rule, until, label))

    def lift(self) -> None:
        done: set[tuple[str | None, str]] = set()
        for entry in self.selected():
            a = entry.alert
            if (a.call_id, a.rule) in self.book.call_snoozes and (a.call_id, a.rule) not in done:
                done.add((a.call_id, a.rule))
                self._act(a.call_id, LIFT, lift_detail(a.rule, everyone=False))
            if a.rule in self.book.team_snoozes and (None, a.rule) not in done:
                done.add((None, a.rule))
                self._act(a.call_id, LIFT, lift_detail(a.rule, everyone=True))

    def _act(self, call_id: str, action: str, detail: str) -> None:
        """Applied here at once, and kept in the call's audit trail (the window publishes
        it; it comes back from the bus, and from other consoles theirs)."""
        from console.core.events import SupervisorAction

        event = SupervisorAction(call_id, action, time.time(), detail, self.supervisor())
        for entry in self.book.apply(event, self.now()):
            self._refresh(entry.key)
        self._render_counts()
        self._render_snoozes()
        self._enable()
        self.actionTaken.emit(call_id, action, detail)

    def _team_menu(self) -> None:
        if self.selected():
            self.team_menu.popup(self.team_button.mapToGlobal(
                self.team_button.rect().bottomLeft()))

    # --- rendering ------------------------------------------------------------------------

    def _insert(self, entry: FeedAlert) -> None:
        row = AlertRow(entry)
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, entry.key)
        item.setSizeHint(row.sizeHint())
        self.list.insertItem(0, item)  # newest first
        self.list.setItemWidget(item, row)
        self.rows[entry.key] = (item, row)

    def _refresh(self, key: str) -> None:
        pair = self.rows.get(key)
        if pair is not None:
            item, row = pair
            row.refresh()
            item.setSizeHint(row.sizeHint())

    def _prune(self) -> None:
        for key in [k for k in self.rows if k not in self.book.entries]:
            item, _row = self.rows.pop(key)
            self.list.takeItem(self.list.row(item))

    def _render_counts(self) -> None:
        new = self.book.count("new")
        total = len(self.book.entries)
        self.counts.setText(f"{new} new of {total}" if total else "")
        self.empty.setVisible(total == 0)

    def _render_snoozes(self) -> None:
        now = self.now()
        parts = [f"{s.rule.replace('_', ' ')} until {_clock(s.until)} ({s.by})"
                 for s in sorted(self.book.team_snoozes.values(), key=lambda s: s.until)
                 if s.until > now]
        self.snoozes.setText("Snoozed for everyone: " + "; ".join(parts) if parts else "")
        self.snoozes.setVisible(bool(parts))

    def _enable(self) -> None:
        chosen = self.selected()
        self.go_button.setEnabled(bool(chosen))
        self.ack_button.setEnabled(any(e.state == "new" for e in chosen))
        self.snooze_button.setEnabled(any((e.alert.call_id, e.alert.rule)
                                          not in self.book.call_snoozes for e in chosen))
        self.team_button.setEnabled(bool(chosen))
        self.lift_button.setEnabled(any(
            (e.alert.call_id, e.alert.rule) in self.book.call_snoozes
            or e.alert.rule in self.book.team_snoozes for e in chosen))
