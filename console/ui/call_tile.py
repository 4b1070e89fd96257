"""One live call on the wall: who, how long, its risk and why, waveforms, who is speaking,
sentiment per speaker, the last words said, and alert badges."""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from console.audio.ring import RingBuffer
from console.core.events import Role
from console.ui.bridge import EngineBridge
from console.ui.model import CallInfo, topic_label
from console.ui.risk import NO_RISK, Risk, RiskSettings, score_call
from console.ui.theme import palette
from console.ui.waveform import TileWaveform
from console.ui.widgets import SentimentGauge, SpeakingDot

__all__ = ["MODE_BADGES", "CallTile", "format_duration", "show_mode"]

SPEAKING_LEVEL = 0.06  # peak (of full scale) over the last ~130 ms that counts as talking


def format_duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


# What the supervisor is doing on a call, as a badge: text and badge style.
MODE_BADGES = {"listening": ("LISTENING", "info"), "whispering": ("WHISPERING", "warning"),
               "barging": ("BARGING", "critical")}


def show_mode(label: QLabel, mode: str) -> None:
    """Shows `mode` on a badge label (restyled only when it changes)."""
    if label.property("mode") == mode:
        return
    text, badge = MODE_BADGES.get(mode, ("", None))
    label.setProperty("mode", mode)
    label.setText(text)
    label.setProperty("badge", badge)
    label.setVisible(bool(mode))
    label.style().unpolish(label)
    label.style().polish(label)


class CallTile(QFrame):
    clicked = Signal(str)
    pinRequested = Signal(str)  # call id: pin or unpin it on the wall

    def __init__(self, call: CallInfo, bridge: EngineBridge,
                 parent: QWidget | None = None,
                 risk_settings: RiskSettings | None = None) -> None:
        super().__init__(parent)
        self.call = call
        self.bridge = bridge
        self.risk_settings = risk_settings or RiskSettings()
        self.risk: Risk = NO_RISK
        self.pinned = False
        self.setObjectName("CallTile")
        self.setProperty("selected", False)
        self.setMinimumWidth(340)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        pal = palette()

        self.index_label = QLabel()
        self.index_label.setProperty("badge", "info")
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: 600; font-size: 11pt;")
        self.duration = QLabel()
        self.duration.setStyleSheet("font-family: monospace;")
        self.subtitle = QLabel()
        self.subtitle.setProperty("muted", True)
        # Clipped rather than widening the tile when a long agent name joins it.
        self.subtitle.setMinimumWidth(1)
        self.subtitle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.badges = QHBoxLayout()
        self.badges.setSpacing(4)
        self.mode = QLabel()  # listening / whispering / barging, set by the audio controls
        self.pin_label = QLabel("PINNED")
        self.pin_label.setProperty("badge", "info")
        self.pin_label.setToolTip("Pinned: keeps its place when the wall sorts (P or "
                                  "right-click to unpin)")
        self.pin_label.setVisible(False)
        self.risk_chip = QLabel()
        self.risk_chip.setProperty("badge", "info")
        self.risk_why = QLabel()  # the top reasons, in words
        self.risk_why.setProperty("muted", True)
        self.risk_why.setStyleSheet("font-size: 8pt;")
        # Fixed height, that of a badge: a reason or a badge appearing must not resize the
        # tile (and the grid).
        self.risk_why.setFixedHeight(max(self.risk_why.fontMetrics().height() + 2,
                                         self.risk_chip.sizeHint().height()))
        self.risk_why.setMinimumWidth(1)
        self.risk_why.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        head = QHBoxLayout()
        head.addWidget(self.index_label)
        head.addWidget(self.title, 1)
        head.addWidget(self.pin_label)
        head.addWidget(self.risk_chip)
        head.addWidget(self.duration)
        sub = QHBoxLayout()
        sub.addWidget(self.subtitle, 1)
        sub.addWidget(self.mode)
        # The alert badges share a row with the risk's reasons, not with the subtitle: who
        # and where stays readable however many rules fired.
        why = QHBoxLayout()
        why.addWidget(self.risk_why, 1)
        why.addLayout(self.badges)

        self.wave = TileWaveform(seconds=4.0, columns=100)
        self.wave.setFixedHeight(64)
        self.wave.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        self.dots = {r: SpeakingDot(pal.role(r)) for r in Role}
        self.gauges = {r: SentimentGauge() for r in Role}
        people = QHBoxLayout()
        for role, name in ((Role.CUSTOMER, "Customer"), (Role.AGENT, "Agent")):
            box = QHBoxLayout()
            box.setSpacing(6)
            box.addWidget(self.dots[role])
            label = QLabel(name)
            label.setStyleSheet(f"color: {pal.role(role)}; font-weight: 600;")
            box.addWidget(label)
            box.addWidget(self.gauges[role], 1)
            people.addLayout(box, 1)

        self.lines = QLabel()
        self.lines.setWordWrap(True)
        self.lines.setTextFormat(Qt.TextFormat.RichText)
        self.lines.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.lines.setFixedHeight(40)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addLayout(sub)
        layout.addLayout(why)
        layout.addWidget(self.wave)
        layout.addLayout(people)
        layout.addWidget(self.lines)
        self._badge_key: tuple[int, int] = (-1, -1)
        self._rings: dict[Role, RingBuffer | None] | None = None
        self._shown_risk: Risk | None = None
        self.refresh_info()
        self.refresh_text()

    # --- updates -----------------------------------------------------------------------

    def set_index(self, index: int | None) -> None:
        self.index_label.setVisible(index is not None and index < 9)
        self.index_label.setText(str((index or 0) + 1))
        self.index_label.setToolTip(f"Press {(index or 0) + 1} to select")

    def set_selected(self, selected: bool) -> None:
        if self.property("selected") != selected:
            self.setProperty("selected", selected)
            self.style().unpolish(self)
            self.style().polish(self)
        self.wave.set_selected(selected)  # it paints its own background

    def set_mode(self, mode: str) -> None:
        """"listening", "whispering", "barging" or "" (what the supervisor is doing)."""
        show_mode(self.mode, mode)

    def rings(self) -> dict[Role, RingBuffer | None]:
        # Looked up again only when the call's tracks change (refresh_info).
        if self._rings is None:
            out: dict[Role, RingBuffer | None] = {}
            for role in Role:
                t = self.call.track_for(role)
                out[role] = self.bridge.ring(t.key) if t else None
            self._rings = out if all(out.values()) else None
            return out
        return self._rings

    def tick(self) -> None:
        """Fast refresh (~30 fps): waveforms and who is speaking."""
        self.wave.update_from(self.rings())
        speaking = self.call.speaking
        for role in Role:
            on = speaking[role] if role in speaking else self.wave.level(role) > SPEAKING_LEVEL
            self.dots[role].set_on(on)

    def tick_slow(self, now: float | None = None) -> None:
        """Slow refresh (1 Hz): text that changes every second cannot be read faster."""
        now = now or time.time()
        self.duration.setText(format_duration(self.call.duration(now)))
        self.update_risk(now)

    def update_risk(self, now: float | None = None) -> Risk:
        """Scores the call again; the chip changes only when what it shows does."""
        self.risk = score_call(self.call, now, self.risk_settings)
        self._show_risk(self.risk)
        return self.risk

    def _show_risk(self, risk: Risk) -> None:
        shown = self._shown_risk
        if shown == risk:
            return
        self.risk_chip.setText(f"Risk {risk.score}")
        top = risk.reasons[:3]
        self.risk_why.setText(" · ".join(top))
        tip = (f"Risk {risk.score} of 100 ({risk.level})"
               + ("".join(f"\n• {r}" for r in risk.reasons) if risk.reasons
                  else "\nnothing stands out"))
        self.risk_chip.setToolTip(tip)
        self.risk_why.setToolTip(tip)
        if shown is None or shown.level != risk.level:  # restyling costs more than text
            self.risk_chip.setProperty("badge", risk.badge)
            self.risk_chip.style().unpolish(self.risk_chip)
            self.risk_chip.style().polish(self.risk_chip)
        self._shown_risk = risk

    def set_pinned(self, pinned: bool) -> None:
        self.pinned = pinned
        self.pin_label.setVisible(pinned)

    def refresh_info(self) -> None:
        c = self.call
        self._rings = None
        self.title.setText(c.title)
        # In a team the node comes first: it is what the badges must not hide.
        parts = [f"node {c.node}" if c.node else "", f"agent {c.agent}" if c.agent else "",
                 topic_label(c.topic),
                 f"to {c.to_number}" if c.to_number else "", c.provider.capitalize(), c.codec]
        if c.dtmf:
            parts.append("DTMF " + "".join(d for d, _ in c.dtmf[-6:]))
        self.subtitle.setText("  ·  ".join(p for p in parts if p))
        where = [f"{k} {v}" for k, v in (("agent", c.agent), ("team", c.team),
                                         ("queue", c.queue), ("node", c.node)) if v]
        self.subtitle.setToolTip("  ·  ".join(where))
        for role in Role:
            self.gauges[role].set_value(c.sentiment.get(role),
                                        c.sentiment_confidence.get(role))
        key = (len(c.alerts), len(c.problems))
        if key != self._badge_key:
            self._badge_key = key
            self._rebuild_badges()
            self.update_risk()  # an alert shows in the risk at once, not at the next tick
        self.duration.setText(format_duration(c.duration(time.time())))

    def _rebuild_badges(self) -> None:
        while self.badges.count():
            item = self.badges.takeAt(0)
            widget = item.widget() if item else None
            if widget is not None:
                widget.deleteLater()
        rules: dict[str, str] = {}
        for alert in self.call.alerts:
            worst = rules.get(alert.rule)
            if worst != "critical":
                rules[alert.rule] = alert.severity
        for rule, severity in list(rules.items())[-3:]:
            badge = QLabel(rule.replace("_", " "))
            badge.setProperty("badge", severity)
            self.badges.addWidget(badge)
        if self.call.problems:
            badge = QLabel(f"{len(self.call.problems)} issue"
                           + ("s" if len(self.call.problems) > 1 else ""))
            badge.setProperty("badge", "warning")
            badge.setToolTip("\n".join(self.call.problems[-5:]))
            self.badges.addWidget(badge)

    def refresh_text(self) -> None:
        pal = palette()
        segs = self.call.transcript()[-2:]
        if not segs:
            self.lines.setText(f"<span style='color:{pal.muted}'>No transcript yet</span>")
            return
        rows = []
        for s in segs:
            color = pal.role(s.speaker)
            who = "Customer" if s.speaker is Role.CUSTOMER else "Agent"
            style = "" if s.final else "font-style: italic; opacity: 0.7;"
            rows.append(f"<span style='color:{color}; font-weight:600'>{who}:</span> "
                        f"<span style='{style}'>{html.escape(s.text)}</span>")
        self.lines.setText("<br>".join(rows))

    def context_menu(self) -> QMenu:
        menu = QMenu(self)
        action = menu.addAction("Unpin" if self.pinned else "Pin in place")
        action.setToolTip("A pinned call keeps its place when the wall sorts (key P)")
        action.triggered.connect(lambda: self.pinRequested.emit(self.call.id))
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = self.context_menu()
        menu.exec(event.globalPos())
        menu.deleteLater()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.call.id)
        super().mousePressEvent(event)
