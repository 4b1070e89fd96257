"""How to point a provider at this console: URL, token and ready-to-paste configuration."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.snippets import SNIPPET_TABS, make_snippets

__all__ = ["ConnectionPanel"]


def _copy_button(source: QLineEdit | QPlainTextEdit, label: str = "Copy") -> QPushButton:
    button = QPushButton(label)

    def copy() -> None:
        text = source.text() if isinstance(source, QLineEdit) else source.toPlainText()
        QGuiApplication.clipboard().setText(text)
        button.setText("Copied")

    button.clicked.connect(copy)
    return button


class ConnectionPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        heading = QLabel("Connect a call")
        heading.setProperty("heading", True)
        intro = QLabel(
            "Point your telephony platform's media stream at this URL. Telnyx sends the "
            "token in its x-telnyx-streaming-auth-token header (stream_auth_token); Twilio is "
            "checked by X-Twilio-Signature once its auth token and the public URL are set in "
            "Settings; Plivo, Exotel, Vonage, SignalWire and Bandwidth carry it as ?token= in "
            "the stream URL. Each tab says what the console can do on that platform.")
        intro.setWordWrap(True)
        intro.setProperty("muted", True)

        self.url = QLineEdit()
        self.url.setReadOnly(True)
        self.url.setFont(mono)
        self.token = QLineEdit()
        self.token.setReadOnly(True)
        self.token.setFont(mono)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        show = QPushButton("Show")
        show.setCheckable(True)
        show.toggled.connect(lambda on: self.token.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        grid = QGridLayout()
        grid.addWidget(QLabel("Stream URL"), 0, 0)
        grid.addWidget(self.url, 0, 1)
        grid.addWidget(_copy_button(self.url), 0, 2)
        grid.addWidget(QLabel("Token"), 1, 0)
        grid.addWidget(self.token, 1, 1)
        tok_buttons = QHBoxLayout()
        tok_buttons.addWidget(show)
        tok_buttons.addWidget(_copy_button(self.token))
        grid.addLayout(tok_buttons, 1, 2)
        # Telnyx Call Control's webhook address, shown only when the console serves one.
        self.webhook = QLineEdit()
        self.webhook.setReadOnly(True)
        self.webhook.setToolTip("Paste as the Call Control application's webhook URL (behind "
                                "your public address); webhooks must be signed by Telnyx")
        self.webhook_label = QLabel("Telnyx webhooks")
        self.webhook_copy = _copy_button(self.webhook)
        grid.addWidget(self.webhook_label, 2, 0)
        grid.addWidget(self.webhook, 2, 1)
        grid.addWidget(self.webhook_copy, 2, 2)
        self.set_webhook("")

        self.tabs = QTabWidget()
        self.snippet_edits: dict[str, QPlainTextEdit] = {}
        for tab in SNIPPET_TABS:
            edit = QPlainTextEdit()
            edit.setReadOnly(True)
            edit.setFont(mono)
            page = QWidget()
            pl = QVBoxLayout(page)
            caption = QLabel(tab.note)
            caption.setWordWrap(True)
            caption.setProperty("muted", True)
            pl.addWidget(caption)
            pl.addWidget(edit, 1)
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(_copy_button(edit, "Copy snippet"))
            pl.addLayout(row)
            self.tabs.addTab(page, tab.title)
            self.snippet_edits[tab.key] = edit

        self.team = QLabel("")
        self.team.setWordWrap(True)
        self.team.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.team.setVisible(False)
        self._team_nodes: list[tuple[str, str]] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(self.team)
        layout.addLayout(grid)
        layout.addWidget(self.tabs, 1)

    def set_team(self, bus: str, nodes: list[tuple[str, str]], codec: str = "PCMU",
                 rate: int = 8000) -> None:
        """Team mode: streams go to the ingest nodes, each with its own address and token;
        the snippets are for the first node."""
        if nodes == self._team_nodes:
            return
        self._team_nodes = list(nodes)
        lines = "".join(f"<br>&nbsp;&nbsp;<b>{html.escape(name)}</b>&nbsp; "
                        f"<code>{html.escape(url or 'address not known yet')}</code>"
                        for name, url in nodes)
        self.team.setText(
            f"Team mode (bus {html.escape(bus)}): calls stream to the team's ingest nodes, "
            f"not to this console. Each node prints its stream token when it starts."
            + (lines or "<br>&nbsp;&nbsp;No ingest node is on the bus yet."))
        self.team.setVisible(True)
        first = nodes[0][1] if nodes else ""
        self.url.setText(first)
        self.token.setText("(the node's own stream token)")
        # A placeholder that stays readable inside URLs (they escape "<" and spaces).
        snippets = make_snippets(first or "wss://node.example.com/stream", "NODE_TOKEN",
                                 "", codec, rate)
        for key, edit in self.snippet_edits.items():
            edit.setPlainText(getattr(snippets, key))

    def set_webhook(self, url: str) -> None:
        self.webhook.setText(url)
        for widget in (self.webhook, self.webhook_label, self.webhook_copy):
            widget.setVisible(bool(url))

    def set_endpoint(self, url: str, token: str, public_url: str = "", codec: str = "PCMU",
                     rate: int = 8000) -> None:
        self.url.setText(public_url or url)
        self.token.setText(token or "(authentication is off)")
        snippets = make_snippets(url, token, public_url, codec, rate)
        for key, edit in self.snippet_edits.items():
            edit.setPlainText(getattr(snippets, key))
