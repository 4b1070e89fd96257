"""Listen, whisper and barge from the window: keys, buttons, the mode on the tile and in the
call view, refusals on screen. Real engine thread, simulated calls, the virtual sound card."""

from __future__ import annotations

import pytest
import sound
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from support import audit_rows
from ui_helpers import play

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def _sound_card() -> None:
    sound.card()


def _ready(console, qtbot, **kw):  # type: ignore[no-untyped-def]
    w = console.window
    plans, done = play(console, calls=1, seconds=kw.pop("seconds", 6), **kw)
    call_id = plans[0].call_key
    qtbot.waitUntil(lambda: w.view.call is not None and w.view.call.id == call_id,
                    timeout=15000)
    w.activateWindow()
    w.wall.setFocus()
    return w, call_id, done


def _audit(console) -> list[str]:  # type: ignore[no-untyped-def]
    return [action for action, _ in audit_rows(console.settings.data_path())]


def test_keys_listen_whisper_barge_and_stop(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w, call_id, done = _ready(console, qtbot, legs="split")
    audio = console.audio
    assert audio is not None
    assert all(b.isEnabled() for b in w.view.buttons.values())
    tile = w.wall.tiles[call_id]

    qtbot.keyClick(w.wall, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: tile.mode.text() == "LISTENING", timeout=5000)
    assert tile.mode.isVisible()
    assert w.view.mode_badge.text() == "LISTENING"
    assert w.view.buttons["listen"].isChecked()

    qtbot.keyPress(w.wall, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: tile.mode.text() == "WHISPERING", timeout=5000)
    assert audio.state.push_to_talk
    assert "agent alone while Space is held" in w.view.audio_note.text()
    qtbot.keyRelease(w.wall, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: tile.mode.text() == "LISTENING", timeout=5000)  # after the hang

    qtbot.keyClick(w.wall, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: tile.mode.text() == "BARGING", timeout=5000)
    assert w.view.buttons["barge"].isChecked()
    assert "both parties" in w.view.audio_note.text()

    qtbot.keyClick(w.wall, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not tile.mode.isVisible(), timeout=5000)
    assert not any(b.isChecked() for b in w.view.buttons.values())
    done.result(timeout=20)
    actions = _audit(console)
    for action in ("listen_start", "whisper_start", "whisper_stop", "barge_start",
                   "barge_stop", "listen_stop"):
        assert action in actions, action
    assert actions.index("whisper_start") < actions.index("whisper_stop") \
        < actions.index("barge_start") < actions.index("barge_stop")


def test_buttons_toggle_whisper(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w, _call_id, done = _ready(console, qtbot, legs="split")
    qtbot.mouseClick(w.view.buttons["whisper"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.view.mode_badge.text() == "WHISPERING", timeout=5000)
    assert not console.audio.state.push_to_talk  # a toggle: stays on without a key held
    qtbot.wait(400)
    assert w.view.mode_badge.text() == "WHISPERING"
    qtbot.mouseClick(w.view.buttons["whisper"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.view.mode_badge.text() == "LISTENING", timeout=5000)
    qtbot.mouseClick(w.view.buttons["stop"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.view.mode_badge.isVisible(), timeout=5000)
    done.result(timeout=20)


def test_refusal_is_shown_where_the_agent_cannot_be_reached_alone(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    # One Twilio <Start><Stream> with both tracks: one-way, nothing can be sent back.
    w, call_id, done = _ready(console, qtbot, provider="twilio", legs="single")
    qtbot.keyPress(w.wall, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: "Cannot whisper" in w.view.audio_note.text(), timeout=5000)
    qtbot.keyRelease(w.wall, Qt.Key.Key_Space)
    assert "<Start><Stream>" in w.view.audio_note.text()
    assert "Cannot whisper" in w.statusBar().currentMessage()
    assert w.wall.tiles[call_id].mode.text() != "WHISPERING"
    done.result(timeout=20)
    assert "whisper_refused" in _audit(console)


def test_space_types_in_text_fields(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w, _call_id, done = _ready(console, qtbot, legs="split", seconds=3)
    field = QLineEdit(w.view)
    field.show()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=3000)
    qtbot.keyClicks(field, "a b")
    assert field.text() == "a b"
    qtbot.wait(300)
    assert console.audio.state.talking is None
    done.result(timeout=20)


def test_no_sound_system_disables_the_controls_with_a_reason(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    console._stop_audio()
    w.set_audio(None, "No sound: PortAudio found no sound devices.")
    _, _call_id, done = _ready(console, qtbot, seconds=2)
    for button in w.view.buttons.values():
        assert not button.isEnabled()
        assert "PortAudio found no sound devices" in button.toolTip()
    assert "PortAudio" in w.view.audio_note.text()
    qtbot.keyClick(w.wall, Qt.Key.Key_L)  # the key explains instead of doing nothing
    assert "PortAudio" in w.statusBar().currentMessage()
    done.result(timeout=20)
