"""Settings dialog: shows the settings, validates, and round-trips through the config file."""

from __future__ import annotations

from pathlib import Path

from console.audio.devices import AudioDevices
from console.config import Settings, load, save
from console.ui.settings_dialog import SettingsDialog

DEVICES = AudioDevices(["Mic A", "Mic B"], ["Speakers"], "Mic A", "Speakers")


def test_round_trip(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(port=9001, token="abc", data_dir=str(tmp_path / "d"), theme="dark",
                 input_device="Mic B")
    d = SettingsDialog(s, DEVICES)
    qtbot.addWidget(d)
    assert d.port.value() == 9001 and d.token.text() == "abc"
    assert d.input.currentText() == "Mic B" and d.output.currentText() == "System default"
    d.port.setValue(9100)
    d.host.setText("0.0.0.0")
    d.public_url.setText("wss://cc.example.com/media")
    d.agents.setText("sip:*@agents.example, +1555777*")
    d.record.setChecked(True)
    d.output.setCurrentText("Speakers")
    d.theme.setCurrentText("light")
    d.stt.setCurrentIndex(1)
    d.vad.setCurrentIndex(d.vad.findData("silero"))
    d.silence.setValue(20)
    d.sentiment.setValue(-0.6)
    d.redaction.setChecked(False)
    d.accept()
    new = d.result_settings
    assert new is not None
    assert (new.port, new.host, new.record, new.output_device, new.theme) == (
        9100, "0.0.0.0", True, "Speakers", "light")
    assert new.agent_endpoints == ["sip:*@agents.example", "+1555777*"]
    assert new.stt_engine == "faster-whisper:base" and new.vad_engine == "silero"
    assert (new.alert_silence_s, new.alert_sentiment_below, new.redaction) == (20, -0.6, False)
    path = tmp_path / "c.toml"
    save(new, path)
    again = load(path)
    assert (again.port, again.public_url, again.output_device, again.stt_engine,
            again.vad_engine) == (9100, "wss://cc.example.com/media", "Speakers",
                                  "faster-whisper:base", "silero")


def test_invalid_input_keeps_the_dialog_open(qtbot) -> None:  # type: ignore[no-untyped-def]
    d = SettingsDialog(Settings(token="abc"), DEVICES)
    qtbot.addWidget(d)
    d.public_url.setText("http://not-a-websocket")
    d.accept()
    assert d.result_settings is None and "wss://" in d.error.text()
    d.public_url.setText("")
    d.token.setText("")
    d.accept()
    assert d.result_settings is None and "token is empty" in d.error.text()
    d.token.setText("x")
    d.regen = None
    d.accept()
    assert d.result_settings is not None


def test_regenerate_token_and_missing_devices(qtbot) -> None:  # type: ignore[no-untyped-def]
    none = AudioDevices([], [], None, None, "no sound: the PortAudio library is missing")
    d = SettingsDialog(Settings(token="abc", output_device="USB headset"), none)
    qtbot.addWidget(d)
    assert not d.output.isEnabled()
    assert "PortAudio" in d.audio_note.text()
    assert d.output.currentText() == "USB headset (not connected)"
    from PySide6.QtWidgets import QPushButton

    regen = next(b for b in d.findChildren(QPushButton) if b.text() == "Regenerate")
    regen.click()
    assert d.token.text() != "abc" and len(d.token.text()) >= 24


def test_saving_keeps_one_run_overrides_out_of_the_file(qapp, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A --port given on the command line is not written to the config by a settings save."""
    import os

    from console.config import config_path
    from console.ui.app import Console

    save(Settings(port=8765, token="file-token"), config_path())
    settings.token = "file-token"
    c = Console(qapp, settings)  # runs with port 0, as if from --port 0
    try:
        edited = Settings(**{**settings.__dict__, "theme": "light"})
        c._persist(edited)
        on_file = load(config_path())
        assert on_file.theme == "light"
        assert on_file.port == 8765  # the one-run override stayed out
        assert os.stat(config_path()).st_mode & 0o777 == 0o600
    finally:
        c.shutdown()
        c.window.close()


def test_settings_dialog_is_owned_by_qt_and_gone_once_closed(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The root of the abort on close (issue 12): a Settings dialog that stayed the window's
    child after closing while Python also owned it, so both deleted it at exit."""
    from PySide6.QtCore import QTimer
    from shiboken6 import Shiboken

    w = console.window
    seen: list[bool] = []

    def cancel() -> None:
        for d in w.findChildren(SettingsDialog):
            if d.isVisible():
                seen.append(Shiboken.ownedByPython(d))
                d.reject()

    QTimer.singleShot(200, cancel)  # armed first: a modal exec() returns only once closed
    w.settingsRequested.emit()
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [False]  # Qt's alone while it is up
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in w.findChildren(SettingsDialog)),
                    timeout=5000)
    qtbot.waitUntil(lambda: not w.findChildren(SettingsDialog), timeout=5000)


def test_team_settings_round_trip_and_checks(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = SettingsDialog(Settings(token="abc", data_dir=str(tmp_path / "d")), DEVICES)
    qtbot.addWidget(d)
    assert d.bus_url.text() == "" and d.team.text() == "team"
    assert d.supervisor.placeholderText()  # the user's name stands in when none is given
    d.bus_url.setText("http://bus.example.com:4222")
    d.accept()
    assert d.result_settings is None and "nats://" in d.error.text()
    d.bus_url.setText("nats://bus.example.com:4222")
    d.team.setText("bad team!")
    d.accept()
    assert d.result_settings is None and "team name" in d.error.text()
    d.team.setText("north-1")
    d.bus_user.setText("ana")
    d.bus_password.setText("pw secret")
    d.supervisor.setText("Ana Silva")
    d.accept()
    new = d.result_settings
    assert new is not None
    assert (new.bus_url, new.bus_user, new.bus_password, new.team, new.supervisor()) == (
        "nats://bus.example.com:4222", "ana", "pw secret", "north-1", "Ana Silva")
    path = tmp_path / "c.toml"
    save(new, path)
    assert load(path).bus_password == "pw secret"
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds the bus password


def test_telnyx_tab_round_trips_and_refuses_a_bad_key(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import base64

    d = SettingsDialog(Settings(token="abc", data_dir=str(tmp_path / "d")), DEVICES)
    qtbot.addWidget(d)
    assert d.stream_on_answer.currentData() == "incoming" and d.webhook_port.value() == 8766
    key = base64.b64encode(bytes(range(32))).decode()
    d.telnyx_key.setText("KEY0123")
    d.telnyx_public_key.setText("not-a-key")
    d.accept()
    assert d.result_settings is None and "telnyx_public_key" in d.error.text()
    d.telnyx_public_key.setText(key)
    d.webhook_port.setValue(9443)
    d.stream_on_answer.setCurrentIndex(d.stream_on_answer.findData("all"))
    d.connection_id.setText("7267")
    d.from_number.setText("+18005550100")
    d.supervisor_phone.setText("sip:ana@example.sip.telnyx.com")
    d.bidi_mode.setCurrentIndex(d.bidi_mode.findData("mp3"))
    d.accept()
    new = d.result_settings
    assert new is not None
    assert (new.telnyx_api_key, new.telnyx_public_key, new.webhook_port) == (
        "KEY0123", key, 9443)
    assert (new.stream_on_answer, new.telnyx_connection_id, new.telnyx_from_number,
            new.supervisor_phone, new.telnyx_bidirectional_mode) == (
        "all", "7267", "+18005550100", "sip:ana@example.sip.telnyx.com", "mp3")
    path = tmp_path / "config.toml"
    save(new, path)
    assert load(path, environment=False).telnyx_public_key == key
