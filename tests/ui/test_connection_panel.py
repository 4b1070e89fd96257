"""The Connect tab: one tab per platform's snippet, each with its note and a working Copy
button (real Qt, offscreen)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QPushButton

from console.snippets import SNIPPET_TABS, make_snippets
from console.ui.connection_panel import ConnectionPanel

URL, TOKEN, PUBLIC = "ws://127.0.0.1:8765/stream", "tok-123", "wss://cc.example.com/media"


def test_connect_tab_has_every_platform_and_copies_each_snippet(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = ConnectionPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_endpoint(URL, TOKEN, PUBLIC)
    expected = make_snippets(URL, TOKEN, PUBLIC)
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles == [t.title for t in SNIPPET_TABS]
    for platform in ("Telnyx", "Twilio", "Plivo", "Exotel", "Vonage", "SignalWire",
                     "Bandwidth"):
        assert any(title.startswith(platform) for title in titles), platform
    clipboard = QGuiApplication.clipboard()
    for i, tab in enumerate(SNIPPET_TABS):
        panel.tabs.setCurrentIndex(i)
        page = panel.tabs.currentWidget()
        assert panel.snippet_edits[tab.key].toPlainText() == getattr(expected, tab.key)
        assert tab.note in [label.text() for label in page.findChildren(QLabel)]
        (button,) = [b for b in page.findChildren(QPushButton) if b.text() == "Copy snippet"]
        clipboard.clear()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        copied = clipboard.text()
        assert copied == getattr(expected, tab.key), tab.key
        assert button.text() == "Copied"
        # What lands on the clipboard is what the platform takes.
        if tab.kind == "json":
            json.loads(copied)
        elif tab.kind == "xml":
            ET.fromstring(copied)
        else:
            assert copied.startswith(PUBLIC + "/") and "token=" + TOKEN in copied


def test_connect_tab_in_team_mode_points_every_platform_at_the_node(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = ConnectionPanel()
    qtbot.addWidget(panel)
    panel.show()
    node = "wss://node-a.example.com/stream"
    panel.set_team("nats://bus.example.com:4222", [("node-a", node)])
    assert panel.team.isVisible() and panel.url.text() == node
    for tab in SNIPPET_TABS:
        text = panel.snippet_edits[tab.key].toPlainText()
        assert node + "/" in text, tab.key
    # The placeholder token stays readable inside URLs.
    assert f"{node}/exotel?token=NODE_TOKEN&leg=customer" == \
        panel.snippet_edits["exotel_url"].toPlainText()
