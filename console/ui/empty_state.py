"""What the wall shows before the first call: how to get one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["EmptyState"]


class EmptyState(QWidget):
    demoRequested = Signal()
    connectRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        card = QFrame()
        card.setObjectName("EmptyState")
        card.setMaximumWidth(640)
        title = QLabel("No live calls yet")
        title.setProperty("heading", True)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        demo = QPushButton("Play demo calls")
        demo.setProperty("accent", True)
        demo.clicked.connect(self.demoRequested)
        connect = QPushButton("How to connect Telnyx or Twilio")
        connect.clicked.connect(self.connectRequested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(demo)
        buttons.addWidget(connect)
        buttons.addStretch(1)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(32, 28, 32, 28)
        inner.setSpacing(14)
        inner.addWidget(title)
        inner.addWidget(self.body)
        inner.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.set_endpoint("ws://127.0.0.1:8765/stream")

    def set_endpoint(self, url: str) -> None:
        self.body.setText(
            "Calls appear here the moment a telephony platform streams them to this "
            f"console at<br><code>{url}</code><br><br>"
            "For Telnyx, start a media stream on the customer's leg with "
            "<code>stream_track: both_tracks</code> and <code>stream_bidirectional_mode: "
            "rtp</code> (the Connect tab has the exact request). Or watch four simulated "
            "calls right now, or start with <code>coach-console --demo</code>.")
