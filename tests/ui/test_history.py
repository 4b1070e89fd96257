"""History: past calls from the store, searched, read back, played and exported."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sound
from support import audit_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from store_helpers import make_call
from ui_helpers import play


@pytest.fixture
def filled(settings):  # type: ignore[no-untyped-def]
    data = settings.data_path()
    make_call(data, "call-a", started=1_700_000_000.0)
    make_call(data, "call-b", started=1_700_050_000.0, ended=1_700_050_100.0)
    return settings


@pytest.fixture
def history(qapp, filled, qtbot):  # type: ignore[no-untyped-def]
    from console.ui.app import Console

    c = Console(qapp, filled)
    c.window.show()
    c.window.tabs.setCurrentWidget(c.window.history)
    h = c.window.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 2, timeout=15000)
    yield c, h
    c.shutdown()
    c.window.close()


def test_list_search_and_read_a_call(history, qtbot) -> None:  # type: ignore[no-untyped-def]
    _, h = history
    cols = [h.table.horizontalHeaderItem(i).text() for i in range(h.table.columnCount())]
    row = {cols[i]: h.table.item(0, i).text() for i in range(len(cols)) if h.table.item(0, i)}
    assert row["Call id"] == "call-b"  # newest first
    assert row["Customer mood"] == "-0.70 negative" and row["Alerts"] == "1"
    h.search.setText("refund")
    qtbot.waitUntil(lambda: "matching" in h.status.text(), timeout=9000)
    match = h.table.cellWidget(0, cols.index("Match"))
    assert match is not None and "<b" in match.text() and "refund" in match.text()
    h.search.setText("no such words here")
    qtbot.waitUntil(lambda: h.status.text() == "No calls match.", timeout=9000)
    h.search.setText("")
    qtbot.waitUntil(lambda: h.table.rowCount() == 2, timeout=9000)
    h.search.setText("cancel")
    qtbot.waitUntil(lambda: h.table.rowCount() == 2 and "matching" in h.status.text(),
                    timeout=9000)
    h.table.selectRow(1)
    qtbot.waitUntil(lambda: h.detail is not None and h.detail["id"] == "call-a", timeout=9000)
    text = h.transcript.toPlainText()
    assert "I was charged twice" in text and "cancel my account" in text
    assert "font-weight" in h.transcript.toHtml()  # the searched word is marked
    events = [h.events.item(i).text() for i in range(h.events.count())]
    assert any("keypad 1" in e for e in events)
    assert any("alert cancellation" in e for e in events)
    assert any("supervisor listen" in e for e in events)
    assert not h.play_button.isEnabled() and "not recorded" in h.play_button.toolTip()


def test_export_many_with_progress_and_audit(history, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c, h = history
    h.table.selectAll()
    assert h.selected_ids() == ["call-b", "call-a"]
    out = tmp_path / "exports"
    out.mkdir()
    h.export_calls(h.selected_ids(), "csv", out)
    qtbot.waitUntil(lambda: h.status.text().startswith("Exported 2 of 2"), timeout=15000)
    assert not h.progress.isVisible() and h.progress.value() == 2
    rows = list(csv.DictReader((out / "call-a.csv").open()))
    assert len(rows) == 4 and rows[0]["speaker"] == "agent"
    h.export_calls(["call-a"], "wav", out)  # not recorded: reported, not fatal
    qtbot.waitUntil(lambda: "1 failed" in h.status.text(), timeout=15000)
    assert "--record" in h.status.text()
    c.engine.store.flush()
    actions = [a for a, _ in audit_rows(c.settings.data_path(), call_id="call-a")]
    assert actions.count("export") == 1 and "listen" in actions
    h.export_calls(["call-b"], "json", out)
    qtbot.waitUntil(lambda: h.status.text().startswith("Exported 1 of 1"), timeout=15000)
    assert json.loads((out / "call-b.json").read_text())["id"] == "call-b"


def test_recorded_call_plays_on_the_speakers(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    card = sound.card()  # the virtual sound card: its speaker sink is the default output
    w = console.window
    _plans, done = play(console, calls=1, seconds=1.0, speed=0)
    done.result(timeout=10)
    w.tabs.setCurrentWidget(w.history)
    h = w.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 1 and h.calls[0]["state"] == "ended",
                    timeout=15000)
    h.table.selectRow(0)
    qtbot.waitUntil(lambda: h.play_button.isEnabled(), timeout=9000)
    rec = card.record_speakers()
    try:
        h.play_button.click()
        qtbot.waitUntil(lambda: h.play_note.text() not in ("", "Loading the recording…"),
                        timeout=15000)
        note = h.play_note.text()
        assert note.startswith("Playing"), note
        assert "0:01" in note
        assert h.play_button.text() == "Stop"
        # Played to the end, the button offers to play again.
        qtbot.waitUntil(lambda: h.play_button.text() == "Play recording", timeout=10000)
        assert h.play_note.text() == "Played to the end."
    finally:
        heard = rec.stop()
    # The recording peaks at about 23000 (the agent, right); the sink is exactly 0 when idle.
    assert np.abs(heard).max() > 5000, "the recording did not reach the speakers"


@pytest.fixture
def other_speakers(tmp_path):  # type: ignore[no-untyped-def]
    """A second output device, "coach_history": its own sink on the virtual sound card and
    an ALSA device for it, listed by PortAudio beside the default one."""
    card = sound.card()
    sink = "coach_history"
    module = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={sink}",
                             f"rate={sound.RATE}", "channels=2"], env=card.env,
                            capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    # conftest points XDG_CONFIG_HOME here; ALSA reads $XDG_CONFIG_HOME/alsa/asoundrc.
    rc = Path(os.environ["XDG_CONFIG_HOME"]) / "alsa" / "asoundrc"
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_text(f"pcm.{sink} {{\n  type pulse\n  device {sink}\n"
                  f"  hint {{ show on description \"Coach test speakers\" }}\n}}\n")
    import sounddevice as sd

    sd._terminate()  # PortAudio lists devices when it starts: start it again to see this one
    sd._initialize()
    try:
        yield card, sink
    finally:
        rc.unlink()
        sd._terminate()
        sd._initialize()
        subprocess.run(["pactl", "unload-module", module], env=card.env, timeout=10)


def test_recording_plays_on_the_device_chosen_in_settings_and_stops(other_speakers, console,  # type: ignore[no-untyped-def]
                                                                    qtbot) -> None:
    """Issue 12: History played recordings with sd.play on the UI thread, on the system
    default whatever Settings said. Now it plays on the chosen device, from its own thread,
    and Stop silences it."""
    from PySide6.QtCore import QTimer

    from console.ui.settings_dialog import SettingsDialog

    card, sink = other_speakers
    w = console.window
    _plans, done = play(console, calls=1, seconds=3.0, speed=0)
    done.result(timeout=10)

    def choose_speakers() -> None:  # what the supervisor does in Settings > Audio
        dialog = next(d for d in w.findChildren(SettingsDialog) if d.isVisible())
        assert dialog.output.findText(sink) >= 0, "the second device is not listed"
        dialog.output.setCurrentText(sink)
        dialog.accept()

    QTimer.singleShot(200, choose_speakers)  # armed first: a modal exec() would block here
    w.settingsRequested.emit()
    qtbot.waitUntil(lambda: console.settings.output_device == sink, timeout=5000)

    w.tabs.setCurrentWidget(w.history)
    h = w.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 1 and h.calls[0]["state"] == "ended",
                    timeout=15000)
    h.table.selectRow(0)
    qtbot.waitUntil(lambda: h.play_button.isEnabled(), timeout=9000)
    chosen, default = sound.Recording(card.env, sink), card.record_speakers()
    try:
        h.play_button.click()
        assert h.play_button.text() == "Stop"  # at once: loading and opening happen elsewhere
        qtbot.waitUntil(lambda: h.play_note.text().startswith("Playing"), timeout=15000)
        assert sink in h.play_note.text() and "0:03" in h.play_note.text()
        player = h.player
        assert player is not None and player.opened_on.startswith("history-audio")
        # The call reaches the chosen device (however slow a busy machine is to start it),
        # then Stop, before the end.
        qtbot.waitUntil(lambda: chosen.peak() > 5000, timeout=10000)
        h.play_button.click()
        assert h.play_button.text() == "Play recording" and h.player is None
        qtbot.waitUntil(lambda: not player.playing, timeout=3000)
    finally:
        heard, elsewhere = chosen.stop(), default.stop()
    assert np.abs(heard).max() > 5000, "the recording did not reach the chosen device"
    assert np.abs(elsewhere).max(initial=0) == 0, "the recording played on the default device"
    after = sound.Recording(card.env, sink)  # stopped means silent, not the rest of the call
    try:
        qtbot.wait(1500)
    finally:
        tail = after.stop()
    # Silent, or nothing at all: a null sink with nothing playing into it may be suspended,
    # and its monitor then gives no samples (the recording above proved the monitor works).
    assert len(tail) == 0 or np.abs(tail).max() == 0
    assert h.play_note.text() == "Stopped."
