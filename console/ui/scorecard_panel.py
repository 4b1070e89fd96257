"""A call's scorecard: each checklist item met or missed, the line that met it (or the
nearest one), and Pass/Fail buttons for the supervisor to confirm or override it.

Two uses: beside the live call (it follows the call in view, scored live while it is in
focus; when that call ends, its final scorecard stays here until the supervisor clicks
Done, even if the wall moves on) and in History (a past call's, as stored). A review is
shown at once and goes out as a "scorecard" supervisor action (`reviewed`), which the store
keeps in the audit trail and on the item, with the supervisor's name and the time.
"""

from __future__ import annotations

import html
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.analysis.scorecard import ItemResult, items_from_wire, score, with_review
from console.core.events import CallEnded, CallEvent, CallScorecard, SupervisorAction
from console.store.scorecards import REVIEW_ACTION, parse_review, review_detail
from console.ui.theme import palette

__all__ = ["ScorecardPanel", "score_text"]

MAX_CARDS = 200  # live scorecards kept in the window (the store has them all)
COLUMNS = ("Item", "Verdict", "Evidence", "")


def _stamp(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


def score_text(summary: dict[str, object] | None) -> str:
    """History's Score column: "80 %" (and "*" once a supervisor reviewed an item)."""
    if not summary or summary.get("score") is None:
        return ""
    value = summary["score"]
    assert isinstance(value, (int, float))
    return f"{value:.0f} %" + (" *" if summary.get("reviewed") else "")


@dataclass
class _Card:
    checklist: str
    items: list[ItemResult]
    final: bool
    title: str = ""
    ended: bool = False
    pending: list[tuple[str, bool | None, str, float]] = field(default_factory=list)


class ScorecardPanel(QFrame):
    reviewed = Signal(str, str, str)  # call id, action ("scorecard"), detail

    def __init__(self, *, live: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ScorecardPanel")
        self.live = live
        # The name a review is shown with at once (the store keeps the action's own).
        self.supervisor: Callable[[], str] = lambda: ""
        self.call_id: str | None = None
        self.pinned = False  # live: an ended call's scorecard stays until Done
        self._view: tuple[str | None, str] = (None, "")  # the call the view shows
        self._cards: OrderedDict[str, _Card] = OrderedDict()
        # Calls that ended while in view (their scorecard comes a moment later, when the
        # wall may have moved on), with their titles.
        self._ended_in_view: OrderedDict[str, str] = OrderedDict()

        self.heading = QLabel("Scorecard")
        self.heading.setProperty("heading", True)
        self.summary = QLabel("")
        self.summary.setProperty("muted", True)
        self.summary.setWordWrap(True)
        self.confirm_all = QPushButton("Confirm all")
        self.confirm_all.setToolTip("Agree with every automatic verdict not reviewed yet")
        self.confirm_all.clicked.connect(self._confirm_all)
        self.done = QPushButton("Done")
        self.done.setToolTip("Put this ended call's scorecard away (History keeps it)")
        self.done.clicked.connect(self.dismiss)
        self.done.setVisible(False)
        head = QHBoxLayout()
        head.addWidget(self.heading)
        head.addWidget(self.summary, 1)
        head.addWidget(self.confirm_all)
        head.addWidget(self.done)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # Its preferred height is its rows' (bounded in _render), not a scroll area's default.
        self.table.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        # One line a row, the evidence elided (its tooltip has it whole): the panel shares
        # the call view's column with the transcript.
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        for col in (0, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(1, 190)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.buttons: dict[tuple[str, str], QPushButton] = {}  # (item, "pass"|"fail")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.table)
        self._render()

    # --- what is shown ------------------------------------------------------------------

    def card(self, call_id: str | None = None) -> _Card | None:
        return self._cards.get(call_id or self.call_id or "")

    def follow(self, call_id: str | None, title: str = "") -> None:
        """Live: the call the view shows. An ended call's scorecard that is pinned stays."""
        self._view = (call_id, title)
        if self.pinned and call_id != self.call_id:
            return
        self.call_id = call_id
        self._render()

    def dismiss(self) -> None:
        self.pinned = False
        self.call_id = self._view[0]
        self._render()

    def show_stored(self, call_id: str, title: str, checklist: str | None,
                    items: list[ItemResult]) -> None:
        """History: a past call's scorecard as stored."""
        self._cards[call_id] = _Card(checklist or "", items, True, title, True)
        self._trim()
        self.call_id = call_id
        self._render()

    def on_events(self, events: list[CallEvent]) -> None:
        changed = False
        for ev in events:
            if isinstance(ev, CallScorecard):
                changed |= self._scored(ev)
            elif isinstance(ev, CallEnded):
                card = self._cards.get(ev.call_id)
                if card is not None:
                    card.ended = True
                if self.live and ev.call_id == self._view[0]:
                    self._ended_in_view[ev.call_id] = self._view[1]
                    while len(self._ended_in_view) > 8:
                        self._ended_in_view.popitem(last=False)
            elif isinstance(ev, SupervisorAction) and ev.action == REVIEW_ACTION:
                changed |= self._review_heard(ev)
        if changed:
            self._render()

    def _scored(self, ev: CallScorecard) -> bool:
        old = self._cards.get(ev.call_id)
        if old is not None and old.final and not ev.final:
            return False  # a late live reading never replaces the final one
        items = items_from_wire(ev.items)
        if old is not None:  # reviews given meanwhile stay
            given = {i.name: i for i in old.items if i.reviewed_passed is not None}
            items = [with_review(i, given[i.name].reviewed_passed, given[i.name].reviewed_by,
                                 given[i.name].reviewed_at) if i.name in given else i
                     for i in items]
        title = self._ended_in_view.get(ev.call_id) or (old.title if old else "")
        if not title and ev.call_id == self._view[0]:
            title = self._view[1]
        card = _Card(ev.checklist, items, ev.final, title,
                     ev.final or (old is not None and old.ended))
        if old is not None:
            for name, verdict, who, at in old.pending:
                self._set(card, name, verdict, who, at)
        self._cards[ev.call_id] = card
        self._cards.move_to_end(ev.call_id)
        self._trim()
        if self.live and ev.final and (ev.call_id == self.call_id
                                       or self._ended_in_view.pop(ev.call_id, None) is not None):
            # The call in view ended: its scorecard waits here for review, even if the
            # wall has moved on.
            self.call_id = ev.call_id
            self.pinned = True
        return ev.call_id == self.call_id

    def _review_heard(self, ev: SupervisorAction) -> bool:
        parsed = parse_review(ev.detail)
        card = self._cards.get(ev.call_id or "")
        if parsed is None or card is None:
            return False
        name, verdict = parsed
        if not self._set(card, name, verdict, ev.supervisor, ev.at):
            card.pending.append((name, verdict, ev.supervisor, ev.at))
        return ev.call_id == self.call_id

    @staticmethod
    def _set(card: _Card, name: str, verdict: bool | None, who: str, at: float) -> bool:
        for n, item in enumerate(card.items):
            if item.name == name:
                card.items[n] = with_review(item, verdict, who, at)
                return True
        return False

    def _trim(self) -> None:
        while len(self._cards) > MAX_CARDS:
            victim = next(k for k in self._cards if k != self.call_id)
            del self._cards[victim]

    # --- reviewing ----------------------------------------------------------------------

    def review(self, item: str, passed: bool) -> None:
        """The supervisor's verdict on one item (what its Pass/Fail buttons do)."""
        card = self.card()
        if self.call_id is None or card is None or not card.final:
            return
        current = next((i for i in card.items if i.name == item), None)
        if current is None or current.reviewed_passed is passed:
            return
        now = time.time()
        self._set(card, item, passed, self.supervisor(), now)
        self.reviewed.emit(self.call_id, REVIEW_ACTION,
                           review_detail(item, "pass" if passed else "fail", current.passed))
        self._render()

    def _confirm_all(self) -> None:
        card = self.card()
        if card is None:
            return
        for item in list(card.items):
            if item.reviewed_passed is None:
                self.review(item.name, item.passed)

    # --- drawing ------------------------------------------------------------------------

    def _render(self) -> None:
        pal = palette()
        card = self.card()
        self.setVisible(self.call_id is not None)
        self.done.setVisible(self.live and self.pinned)
        self.buttons.clear()
        if card is None:
            self.heading.setText("Scorecard")
            self.summary.setText("Filled from the transcript when the call ends." if self.live
                                 else "This call has no scorecard.")
            self.table.setRowCount(0)
            self.table.setVisible(False)
            self.confirm_all.setVisible(False)
            return
        self.table.setVisible(True)
        self.confirm_all.setVisible(card.final)
        final, auto = score(card.items), score(card.items, reviewed=False)
        reviewed = sum(i.reviewed_passed is not None for i in card.items)
        if card.final:
            self.heading.setText("Scorecard" + (f" · {final:.0f} %" if final is not None
                                                else ""))
        else:  # mid-call an item not met yet is not missed: no score until the end
            met = sum(bool(i.verdict) for i in card.items)
            self.heading.setText(f"Scorecard (live) · {met} of {len(card.items)} met so far")
        bits = [f"automatic {auto:.0f} %" if auto is not None and card.final else "",
                f"{reviewed} of {len(card.items)} reviewed" if card.final else
                "updates as the call goes on; scored when it ends",
                f"checklist {card.checklist}" if card.checklist else ""]
        if self.live and self.pinned and card.title:
            bits.insert(0, f"ended call: {card.title}")
        self.summary.setText(" · ".join(b for b in bits if b))
        self.table.setRowCount(len(card.items))
        for row, item in enumerate(card.items):
            name = QTableWidgetItem(item.label + (" *" if item.required else ""))
            name.setToolTip(f"{item.name}, weight {item.weight:g}"
                            + (" (required: missing it scores the call 0 %)"
                               if item.required else ""))
            self.table.setItem(row, 0, name)
            ok = item.verdict
            how = ("automatic" if item.review is None else
                   f"{item.review} by {item.reviewed_by or 'supervisor'}"
                   + (time.strftime(" %H:%M", time.localtime(item.reviewed_at))
                      if item.reviewed_at else ""))
            waiting = not ok and not card.final  # the call may still meet it
            mark = "✓ met" if ok else "○ not yet" if waiting else "✗ missed"
            verdict = QTableWidgetItem(f"{mark} · {how}")
            verdict.setToolTip(how + ("" if item.review is None else
                                      f" (automatic: {'met' if item.passed else 'missed'})"))
            verdict.setForeground(_color(pal.ok if ok else pal.muted if waiting
                                         else pal.danger))
            self.table.setItem(row, 1, verdict)
            self.table.setItem(row, 2, self._evidence(item))
            self.table.setCellWidget(row, 3, self._review_buttons(item, card.final))
        height = self.table.horizontalHeader().height() + 4 + sum(
            self.table.rowHeight(r) for r in range(self.table.rowCount()))
        # As tall as its rows (up to 320 px) where there is room, but it may shrink to two
        # rows and scroll: a fixed height made the window taller than a 1080p screen.
        two_rows = self.table.horizontalHeader().height() + 4 + sum(
            self.table.rowHeight(r) for r in range(min(2, self.table.rowCount())))
        self.table.setMinimumHeight(min(height, two_rows))
        self.table.setMaximumHeight(min(height, 320))
        self.table.updateGeometry()

    def _evidence(self, item: ItemResult) -> QTableWidgetItem:
        if item.text is None:
            cell = QTableWidgetItem("no line of this speaker")
        else:
            who = (item.speaker or "").capitalize()
            sim = f" ({item.similarity:.2f})" if item.similarity is not None else ""
            lead = "" if item.passed else "nearest: "
            cell = QTableWidgetItem(f"{lead}{_stamp(item.at_s)} {who}: “{item.text}”{sim}")
            cell.setToolTip(html.escape(item.text))
        if not item.passed:
            cell.setForeground(_color(palette().muted))
        return cell

    def _review_buttons(self, item: ItemResult, enabled: bool) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(2, 0, 2, 0)
        row.setSpacing(4)
        for key, text, passed in (("pass", "Pass", True), ("fail", "Fail", False)):
            button = QPushButton(text)
            button.setObjectName(f"scorecard-{key}-{item.name}")
            button.setCheckable(True)
            button.setChecked(item.reviewed_passed is passed)
            button.setEnabled(enabled)
            button.setToolTip(("Confirm" if passed == item.passed else "Override: mark")
                              + (" as met" if passed else " as missed"))
            button.clicked.connect(lambda _=False, n=item.name, p=passed: self.review(n, p))
            row.addWidget(button)
            self.buttons[(item.name, key)] = button
        return box


def _color(value: str) -> QColor:
    return QColor(value)
