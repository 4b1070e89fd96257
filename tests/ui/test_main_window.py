"""The console window against a real engine thread and simulated calls (offscreen Qt)."""

from __future__ import annotations

import fcntl
import socket
import threading

import pytest
from PySide6.QtCore import Qt, QTimer
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


def test_port_in_use_then_another_port_from_settings(qapp, settings, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: after "port in use", another port chosen in Settings failed with
    DataDirLocked because the engine whose start failed kept the data folder's lock and its
    store writer. Now the failed start lets go of both and the new port works."""
    from console.ui.app import Console
    from console.ui.settings_dialog import SettingsDialog

    def writers() -> int:
        return sum(t.name == "store-writer" for t in threading.enumerate())

    before = writers()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    settings.port = busy.getsockname()[1]
    c = Console(qapp, settings)
    try:
        w = c.window
        w.tick_slow()
        health = w.status_labels["health"].text()
        assert "cannot use" in health and str(settings.port) in health
        assert "Settings" in health
        assert w.endpoint_label.text().endswith("(not listening)")
        # Nothing of the failed engine is left: no store writer, no lock on the data folder.
        assert writers() == before
        with (settings.data_path() / "engine.lock").open("a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
            fcntl.flock(lock, fcntl.LOCK_UN)

        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        new_port = free.getsockname()[1]
        free.close()

        def choose_port() -> None:  # what the supervisor does in the Settings dialog
            dialog = next(d for d in w.findChildren(SettingsDialog) if d.isVisible())
            dialog.port.setValue(new_port)
            dialog.accept()

        QTimer.singleShot(200, choose_port)  # armed first: a modal exec() would block here
        w.settingsRequested.emit()
        qtbot.waitUntil(lambda: c.engine.port == new_port, timeout=15000)
        w.tick_slow()
        assert w.status_labels["health"].text().startswith("Engine: running")
        assert c.engine.url in w.endpoint_label.text()
        plans, done = play(c, calls=1, seconds=1.0)
        qtbot.waitUntil(lambda: plans[0].call_key in w.model.calls, timeout=15000)
        done.result(timeout=15)
    finally:
        c.shutdown()
        c.window.close()
        busy.close()


def test_data_folder_in_use_is_explained(console, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Settings pointing at a data folder another engine holds: the window says so and keeps
    working; pointing back brings the engine up again."""
    import asyncio
    from dataclasses import replace

    from console.engine import Engine

    w = console.window
    mine = console.settings.data_dir
    other = Engine(replace(console.settings, data_dir=str(tmp_path / "taken")))
    try:
        console.apply_settings(replace(console.settings, data_dir=other.settings.data_dir))
        w.tick_slow()
        assert "already using" in w.status_labels["health"].text()
        assert w.endpoint_label.text().endswith("(not listening)")
        assert console.audio is None and console.engine_thread is None
        console.set_demo(True)  # nothing to play into: refused, not a crash
        assert console.demo is None and not w.demo_action.isChecked()
    finally:
        asyncio.run(other.stop())
    console.apply_settings(replace(console.settings, data_dir=mine))
    w.tick_slow()
    assert w.status_labels["health"].text().startswith("Engine: running")
    assert console.engine.url in w.endpoint_label.text()


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


def _transcript_text(w) -> str:  # type: ignore[no-untyped-def]
    return w.view.transcript.toPlainText()


def test_transcript_placeholder_when_transcription_is_off(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    assert console.engine.transcription == "off"
    _, done = play(console, calls=1, seconds=1.5)
    qtbot.waitUntil(lambda: w.view.call is not None, timeout=15000)
    text = _transcript_text(w)
    assert "Transcription is turned off" in text and "not part of this build" not in text
    done.result(timeout=10)


def test_transcript_placeholder_says_why_transcription_is_off(qapp, settings, qtbot,  # type: ignore[no-untyped-def]
                                                              tmp_path) -> None:
    from console.ui.app import Console

    settings.transcribe = True
    settings.stt_model_path = str(tmp_path / "no-model-here")
    c = Console(qapp, settings)
    w = c.window
    w.show()
    try:
        qtbot.waitUntil(lambda: c.engine.transcription.startswith("off:"), timeout=30000)
        _, done = play(c, calls=1, seconds=1.5)
        qtbot.waitUntil(lambda: w.view.call is not None, timeout=15000)
        text = _transcript_text(w)
        assert text.startswith("Transcription is off: ") and "no-model-here" in text
        done.result(timeout=10)
    finally:
        c.shutdown()
        w.close()


def test_transcript_placeholder_follows_speech_recognition(qapp, settings, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: the placeholder said "speech recognition is not part of this build" while
    transcription ran. Now it says what speech recognition is doing, then gives way to words."""
    import asyncio

    from console.ui.app import Console
    from console.ui.call_view import transcript_placeholder

    settings.transcribe = True
    settings.stt_workers = 1
    c = Console(qapp, settings)
    w = c.window
    w.ended_linger_ms = 100
    w.show()
    try:
        # The workers load their model for seconds; the first call comes in meanwhile.
        plans, first = play(c, calls=1, seconds=1.0)
        qtbot.waitUntil(lambda: w.view.call is not None, timeout=15000)
        qtbot.waitUntil(lambda: _transcript_text(w) == transcript_placeholder(
            c.engine.transcription), timeout=5000)
        assert "not part of this build" not in _transcript_text(w)
        assert c.engine.loop is not None
        ready = asyncio.run_coroutine_threadsafe(c.engine.transcription_ready(),
                                                 c.engine.loop).result(timeout=90)
        assert ready.startswith("on"), ready
        first.result(timeout=15)
        qtbot.waitUntil(lambda: not w.wall.tiles, timeout=15000)
        # Transcription is up: a new call waits for speech, then shows words.
        second_plans, second = play(c, calls=1, seconds=3.0, seed=2)  # another call id
        assert second_plans[0].call_key != plans[0].call_key
        plans = second_plans
        qtbot.waitUntil(lambda: w.view.call is not None
                        and w.view.call.id == plans[0].call_key, timeout=15000)
        assert "waiting for speech" in _transcript_text(w)
        qtbot.waitUntil(lambda: "waiting for speech" not in _transcript_text(w)
                        and _transcript_text(w).strip() != "", timeout=30000)
        assert ("Customer" in _transcript_text(w)) or ("Agent" in _transcript_text(w))
        second.result(timeout=20)
    finally:
        c.shutdown()
        w.close()


@pytest.mark.parametrize("source", ["config file", "environment", "flag"])
def test_auth_off_shows_a_red_warning(qapp, settings, qtbot, monkeypatch, source: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: the window accepted no_auth from the config file or the environment without
    a word. Wherever it comes from, a red banner says so for as long as it is off."""
    from dataclasses import replace

    from console.cli import _settings, build_parser
    from console.config import Settings, config_path, save
    from console.ui.app import Console

    flags = ["--port", "0", "--host", "127.0.0.1", "--data-dir", settings.data_dir]
    if source == "config file":
        save(Settings(no_auth=True, token=""), config_path())
    elif source == "environment":
        monkeypatch.setenv("COACH_CONSOLE_NO_AUTH", "1")
    else:
        flags.append("--no-auth")
    loaded = replace(_settings(build_parser().parse_args(flags)), transcribe=False)
    assert loaded.no_auth
    c = Console(qapp, loaded)
    w = c.window
    w.show()
    try:
        assert w.auth_banner.isVisible()
        text = w.auth_banner.text()
        assert text.startswith("Stream authentication is OFF")
        assert f"port {c.engine.port} " in text and "anyone" in text
        # Turned on again in Settings: the warning goes with the restart.
        c.apply_settings(replace(c.settings, no_auth=False, token="now-a-token"))
        assert not c.settings.no_auth and c.engine.port
        assert not w.auth_banner.isVisible()
    finally:
        c.shutdown()
        w.close()


def test_no_auth_warning_when_a_token_is_required(console) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    assert not console.settings.no_auth
    assert not w.auth_banner.isVisible() and w.auth_banner.text() == ""


def test_the_window_fits_a_laptop_screen_whatever_the_call_view_says(console) -> None:  # type: ignore[no-untyped-def]
    """A top-level window grows to its contents' minimum width: a long line in the call
    view (topic, codec, talk figures) must wrap, not push the window past the screen."""
    w = console.window
    w.view.details.setText("  ·  ".join(
        ["Billing (80% sure)", "to +18005550100", "Vonage", "L16/16k", "1 stream",
         "node east-1", "started 09:45:48",
         "customer talks 50 %, longest silence 1 s, overtalk 0×", "interrupted"] * 2))
    assert w.minimumSizeHint().width() <= 1440


def test_a_scorecard_does_not_make_the_window_taller_than_the_screen(console) -> None:  # type: ignore[no-untyped-def]
    from console.analysis.scorecard import ItemResult
    from console.core.events import CallScorecard

    w = console.window
    items = [ItemResult(f"item_{k}", f"Item {k}", 1.0, False, k % 2 == 0, 0.5, "s1", "agent",
                        1.0, "words") for k in range(8)]
    panel = w.view.scorecard
    panel.follow("call-1", "+14155550100")
    panel.on_events([CallScorecard("call-1", "default", tuple(i.to_wire() for i in items))])
    assert panel.isVisibleTo(w) and panel.table.rowCount() == 8
    assert w.minimumSizeHint().height() <= 1000  # a 1080p screen, less the desktop's bars
    assert panel.table.sizeHint().height() > panel.table.minimumHeight()  # room: all rows
