"""The console window against a real engine thread and simulated calls (offscreen Qt)."""

from __future__ import annotations

import socket

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from ui_helpers import play

from console.core.events import Role, TranscriptSegment


def test_tiles_come_and_go_with_calls(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    assert w.windowTitle() == "Coach Console"
    assert w.stack.currentWidget() is w.empty
    plans, done = play(console, calls=3, seconds=1.5)
    qtbot.waitUntil(lambda: len(w.wall.tiles) == 3, timeout=15000)
    assert w.stack.currentWidget() is w.wall
    assert set(w.wall.tiles) == {p.call_key for p in plans}
    tile = w.wall.tiles[plans[0].call_key]
    assert tile.title.text() == plans[0].from_number
    assert "Telnyx" in tile.subtitle.text() and "PCMU/8k" in tile.subtitle.text()
    # Waveforms read the rings: someone is speaking in at least one tile by now.
    qtbot.waitUntil(lambda: any(d.on for t in w.wall.tiles.values() for d in t.dots.values()),
                    timeout=9000)
    assert w.wall.selected == plans[0].call_key  # the first call is selected by itself
    # With speech analysis on, the voice detector decides, not the level: a hum is not talk.
    tile.call.speaking.update({Role.CUSTOMER: False, Role.AGENT: True})
    tile.tick()
    assert tile.dots[Role.AGENT].on and not tile.dots[Role.CUSTOMER].on
    done.result(timeout=10)
    qtbot.waitUntil(lambda: not w.wall.tiles, timeout=15000)
    assert w.stack.currentWidget() is w.empty
    w.tabs.setCurrentWidget(w.history)
    qtbot.waitUntil(lambda: w.history.table.rowCount() == 3, timeout=9000)


def test_keyboard_selects_calls(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    _, done = play(console, calls=3, seconds=4)
    qtbot.waitUntil(lambda: len(w.wall.tiles) == 3, timeout=15000)
    w.activateWindow()
    w.wall.setFocus()
    qtbot.keyClick(w.wall, Qt.Key.Key_2)
    assert w.wall.selected == w.wall.order[1]
    assert w.view.call is not None and w.view.call.id == w.wall.order[1]
    assert w.wall.tiles[w.wall.order[1]].property("selected") is True
    assert w.wall.tiles[w.wall.order[0]].property("selected") is False
    qtbot.keyClick(w.wall, Qt.Key.Key_Right)
    assert w.wall.selected == w.wall.order[2]
    qtbot.keyClick(w.wall, Qt.Key.Key_Left)
    qtbot.keyClick(w.wall, Qt.Key.Key_Left)
    assert w.wall.selected == w.wall.order[0]
    qtbot.mouseClick(w.wall.tiles[w.wall.order[2]], Qt.MouseButton.LeftButton)
    assert w.wall.selected == w.wall.order[2]
    assert w.view.title.text() == w.wall.tiles[w.wall.order[2]].call.title
    done.result(timeout=15)


def test_transcript_view_updates_and_follows(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    plans, done = play(console, calls=1, seconds=6)
    call_id = plans[0].call_key
    qtbot.waitUntil(lambda: w.view.call is not None and w.view.call.id == call_id, timeout=15000)
    bus = console.engine.bus
    bus.publish(TranscriptSegment(call_id, "s1", Role.CUSTOMER, 0.5, 1.5, "I was charged tw",
                                  False))
    qtbot.waitUntil(lambda: "charged tw" in w.view.transcript.toPlainText(), timeout=6000)
    assert "font-style:italic" in w.view.transcript.toHtml()  # partial: tentative style
    bus.publish(TranscriptSegment(call_id, "s1", Role.CUSTOMER, 0.5, 1.8,
                                  "I was charged twice", True, -0.5))
    qtbot.waitUntil(lambda: "charged twice" in w.view.transcript.toPlainText(), timeout=6000)
    assert "charged tw …" not in w.view.transcript.toPlainText()
    assert "font-style:italic" not in w.view.transcript.toHtml()
    tile = w.wall.tiles[call_id]
    qtbot.waitUntil(lambda: "charged twice" in tile.lines.text(), timeout=6000)
    # Many lines: the view follows the newest...
    for i in range(60):
        bus.publish(TranscriptSegment(call_id, f"x{i}", Role.AGENT, 2.0 + i, 2.5 + i,
                                      f"line number {i}", True))
    qtbot.waitUntil(lambda: "line number 59" in w.view.transcript.toPlainText(), timeout=6000)
    bar = w.view.transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and bar.maximum() > 0, timeout=6000)
    # ...until the supervisor scrolls up to read; then new lines do not yank the view.
    bar.setValue(0)
    bus.publish(TranscriptSegment(call_id, "late", Role.AGENT, 70.0, 71.0, "one more", True))
    qtbot.waitUntil(lambda: "one more" in w.view.transcript.toPlainText(), timeout=6000)
    assert bar.value() == 0
    done.result(timeout=15)


def test_empty_state_starts_the_demo(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    demo_button = next(b for b in w.empty.findChildren(type(w.view.buttons["listen"]))
                       if "demo" in b.text().lower())
    qtbot.mouseClick(demo_button, Qt.MouseButton.LeftButton)
    assert w.demo_action.isChecked() and console.demo is not None
    qtbot.waitUntil(lambda: len(w.wall.tiles) >= 2, timeout=20000)
    w.demo_action.setChecked(False)
    assert console.demo is None


def test_connection_panel_and_status_bar(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    assert w.connection.url.text() == console.engine.url
    assert w.connection.token.text() == console.settings.token
    assert '"stream_bidirectional_mode": "rtp"' in \
        w.connection.snippet_edits["telnyx_streaming_start"].toPlainText()
    _, done = play(console, calls=2, seconds=2.5)
    qtbot.waitUntil(lambda: w.status_labels["streams"].text() == "Streams: 2", timeout=15000)
    qtbot.waitUntil(lambda: w.status_labels["rate"].text() != "Frames/s: 0", timeout=9000)
    assert w.status_labels["health"].text() == "Engine: running, no transcription"
    done.result(timeout=10)


def test_port_in_use_is_explained(qapp, settings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from console.ui.app import Console

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    settings.port = busy.getsockname()[1]
    c = Console(qapp, settings)
    try:
        c.window.tick_slow()
        health = c.window.status_labels["health"].text()
        assert "cannot use" in health and str(settings.port) in health
        assert "Settings" in health
    finally:
        c.shutdown()
        c.window.close()
        busy.close()


def test_problems_show_as_badges(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    plans, done = play(console, calls=1, seconds=3, codec="PCMU")
    call_id = plans[0].call_key
    qtbot.waitUntil(lambda: call_id in w.wall.tiles, timeout=15000)
    from console.core.events import AlertRaised

    console.engine.bus.publish(AlertRaised(call_id, "cancellation", Role.CUSTOMER, 1.0,
                                           "cancel my account", "critical"))
    tile = w.wall.tiles[call_id]
    qtbot.waitUntil(lambda: any(lbl.text() == "cancellation"
                                for lbl in tile.findChildren(QLabel)), timeout=6000)
    # The supervisor is told even when looking elsewhere.
    message = w.statusBar().currentMessage()
    assert message.startswith("Cancellation on") and "cancel my account" in message
    done.result(timeout=10)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_themes_load(qapp, theme: str) -> None:  # type: ignore[no-untyped-def]
    from console.ui.theme import apply_theme

    pal = apply_theme(qapp, theme)
    assert "QFrame#CallTile" in qapp.styleSheet()
    assert pal.customer != pal.agent
