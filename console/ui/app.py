"""Starting the desktop console: Qt, the engine on its own thread, the optional demo."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import signal
import sys
from dataclasses import replace

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from console import APP_ID, APP_NAME, __version__
from console.audio.devices import list_devices
from console.config import ConfigError, Settings, load, save
from console.engine import DataDirLocked, Engine, EngineThread
from console.sim.demo import DemoCalls
from console.supervisor.controller import SupervisorAudio
from console.ui.bridge import EngineBridge
from console.ui.main_window import MainWindow
from console.ui.settings_dialog import SettingsDialog
from console.ui.theme import app_icon, apply_theme

__all__ = ["Console", "run_gui"]

log = logging.getLogger("console.ui")


class Console:
    """Owns the engine thread, the bridge and the demo; the window asks it for changes."""

    def __init__(self, app: QApplication, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.shown = replace(settings)  # what the settings dialog last showed
        self.engine_thread: EngineThread | None = None
        self.demo: DemoCalls | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._demo_future: concurrent.futures.Future[None] | None = None
        error = self._start_engine(settings)
        self.bridge = EngineBridge(self.engine)
        self.window = MainWindow(self.bridge, settings)
        self.window.engine_error = error
        self._wire_history()
        self.audio: SupervisorAudio | None = None
        # Volume and ears are saved once the supervisor stops adjusting, not on every step.
        self._prefs_timer = QTimer()
        self._prefs_timer.setSingleShot(True)
        self._prefs_timer.setInterval(600)
        self._prefs_timer.timeout.connect(
            lambda: self._persist(self.settings, fields=("listen_volume", "listen_channels")))
        self._start_audio(settings)
        self.window.audioPrefsChanged.connect(self._audio_prefs)
        self.window.demoToggled.connect(self.set_demo)
        self.window.settingsRequested.connect(self.open_settings)
        self.window.themeToggled.connect(self.toggle_theme)

    def _start_engine(self, settings: Settings) -> str:
        if settings.bus_url:  # team mode: the calls come from the team's bus
            from console.team.console import TeamEngine, TeamEngineThread

            self.engine = TeamEngine(settings)  # type: ignore[assignment]
            self.engine_thread = TeamEngineThread(self.engine)  # type: ignore[assignment,arg-type]
            self.engine_thread.start()
            return ""
        self.engine = Engine(settings)
        self.engine_thread = EngineThread(self.engine)
        try:
            self.engine_thread.start()
        except OSError as exc:
            self.engine_thread = None
            return (f"not listening: cannot use {settings.host}:{settings.port} "
                    f"({exc.strerror or exc}); choose another port in Settings")
        return ""

    def _wire_history(self) -> None:
        """In team mode History plays and exports recordings from the team's bus."""
        self.window.history.remote_audio = getattr(self.engine, "fetch_audio", None)

    def _start_audio(self, settings: Settings) -> None:
        """Listen, whisper and barge, when this machine has sound at all; otherwise the
        controls say why. Devices open only when first used."""
        self._stop_audio()
        self.window.history.output_device = settings.output_device  # recordings play there
        if self.engine_thread is None or self.engine.loop is None:
            self.window.set_audio(None, "Listen, whisper and barge need the stream server, "
                                        "which is not running.")
            return
        devices = list_devices()
        if devices.error is not None:
            self.window.set_audio(None, f"No sound: {devices.error}.")
            return
        audio_class: type[SupervisorAudio] = SupervisorAudio
        if settings.bus_url:
            from console.team.console_audio import RemoteSupervisorAudio

            audio_class = RemoteSupervisorAudio
        self.audio = audio_class(
            self.engine, output_device=settings.output_device,
            input_device=settings.input_device, channel_mode=settings.listen_channels,
            volume=settings.listen_volume, gate_db=settings.mic_gate_db)
        self.window.set_audio(self.audio)

    def _stop_audio(self) -> None:
        audio, self.audio = self.audio, None
        if audio is not None:
            self.window.set_audio(None)
            audio.close()

    def _audio_prefs(self, volume: float, channels: str) -> None:
        self.settings.listen_volume = round(volume, 2)
        self.settings.listen_channels = channels
        self._prefs_timer.start()

    def set_demo(self, on: bool) -> None:
        loop = self.engine.loop
        running = self.engine_thread is not None and loop is not None and bool(self.engine.port)
        if on and self.demo is None and running and loop is not None:
            self.demo = DemoCalls(self.engine.url, self.settings.token)
            self._demo_future = asyncio.run_coroutine_threadsafe(self.demo.run(), loop)
        elif not on and self.demo is not None:
            demo, self.demo = self.demo, None
            if loop is not None:
                loop.call_soon_threadsafe(demo.stop)
        if self.window.demo_action.isChecked() != (self.demo is not None):
            self.window.demo_action.setChecked(self.demo is not None)

    def open_settings(self) -> None:
        """Show Settings, window-modal; OK applies what was entered (`apply_settings`)."""
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        # open(), never exec(): PySide's exec() hands the dialog to Python while Qt keeps it
        # as the window's child; kept alive only by its own signal connections, it then
        # survived to PySide's exit-time clean-up, which freed it mid-pass and aborted the
        # app on close. Here Qt owns it throughout and it is deleted as soon as it closes.
        dialog = SettingsDialog(self.settings, parent=self.window)
        dialog.finished.connect(self._settings_finished)
        self.settings_dialog = dialog
        dialog.open()

    def _settings_finished(self, code: int) -> None:
        dialog, self.settings_dialog = self.settings_dialog, None
        if dialog is None:
            return
        new = dialog.result_settings if code == QDialog.DialogCode.Accepted else None
        dialog.deleteLater()
        if new is not None:
            self.apply_settings(new)

    def apply_settings(self, new: Settings) -> None:
        """Save `new` and apply it: a new theme, devices, or an engine restarted with it."""
        self._persist(new)
        if new.theme != self.settings.theme:
            apply_theme(self.app, new.theme)
        engine_fields = ("host", "port", "token", "no_auth", "public_url", "twilio_auth_token",
                         "data_dir", "record", "agent_endpoints", "transcribe", "stt_engine",
                         "stt_model_path", "redaction", "alerts_file", "topics_file", "meaning",
                         "scorecard_file",
                         "translate", "alert_silence_s",
                         "alert_overtalk_s", "alert_sentiment_below", "vad_engine",
                         "retention_days", "supervisor_name", "tls_cert", "tls_key", "bus_url",
                         "bus_user", "bus_password", "bus_token", "bus_creds", "bus_tls_ca",
                         "bus_tls_cert", "bus_tls_key", "team")
        engine_fields += ("telnyx_target_legs", "telnyx_bidirectional_codec",
                          "telnyx_bidirectional_rate", "telnyx_bidirectional_mode",
                          "telnyx_api_key", "telnyx_public_key", "telnyx_api_url",
                          "telnyx_connection_id", "telnyx_from_number", "supervisor_phone",
                          "webhook_port", "webhook_path", "stream_on_answer")
        audio_fields = ("output_device", "input_device", "listen_channels", "mic_gate_db")
        restart = any(getattr(new, f) != getattr(self.settings, f) for f in engine_fields)
        new_audio = any(getattr(new, f) != getattr(self.settings, f) for f in audio_fields)
        self.settings = new
        self.window.settings = new  # what the window reads as it goes (alert sound, shift end)
        if restart:
            self.restart_engine(new)
        elif new_audio:
            self._start_audio(new)
            self.window.view.set_audio_prefs(new.listen_volume, new.listen_channels)

    def restart_engine(self, settings: Settings) -> None:
        demo_on = self.demo is not None
        self.set_demo(False)
        self._stop_audio()
        self.bridge.close()
        if self.engine_thread is not None:
            self.engine_thread.stop()
        try:
            error = self._start_engine(settings)
        except DataDirLocked as exc:  # another console uses that folder: say so, go on
            self.engine_thread = None
            error = f"not running: {exc}"
        self.bridge = EngineBridge(self.engine)
        self.window.engine_error = error
        self.window.rebind(self.bridge, settings)
        self._wire_history()
        self._start_audio(settings)
        if demo_on:
            self.set_demo(True)

    def toggle_theme(self) -> None:
        self.settings.theme = "light" if self.settings.theme == "dark" else "dark"
        apply_theme(self.app, self.settings.theme)
        self._persist(self.settings, fields=("theme",))

    def _persist(self, new: Settings, fields: tuple[str, ...] | None = None) -> None:
        """Save what the supervisor changed, on top of the config file as it is: settings
        given on the command line for this run stay out of the file unless edited."""
        try:
            on_file = load(environment=False)
        except ConfigError:
            on_file = Settings()
        changed = fields or tuple(f.name for f in dataclasses.fields(Settings)
                                  if getattr(new, f.name) != getattr(self.shown, f.name))
        try:
            save(replace(on_file, **{name: getattr(new, name) for name in changed}))
        except OSError as exc:
            QMessageBox.warning(self.window, APP_NAME, f"Could not save settings: {exc}")
        self.shown = replace(new)

    def shutdown(self) -> None:
        # The engine goes first: calls still live are cut short by the console (interrupted),
        # not hung up by their callers; the demo's tasks end with the engine's loop.
        self.demo = None
        if self._prefs_timer.isActive():
            self._prefs_timer.stop()
            self._persist(self.settings, fields=("listen_volume", "listen_channels"))
        self._stop_audio()
        self.bridge.close()
        if self.engine_thread is not None:
            self.engine_thread.stop()


def run_gui(settings: Settings, demo: bool = False) -> int:
    import qasync

    QApplication.setApplicationName(APP_NAME)
    QApplication.setApplicationVersion(__version__)
    QApplication.setOrganizationName("Coach Console")
    QApplication.setDesktopFileName(APP_ID)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setWindowIcon(app_icon())
    apply_theme(app, settings.theme)
    console = Console(app, settings)
    console.window.show()
    if demo:
        console.set_demo(True)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    # Ctrl+C or SIGTERM close the window like the user would, so calls end cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, app.quit))
    wake = QTimer()
    wake.start(200)  # lets Python run its signal handlers while Qt waits
    wake.timeout.connect(lambda: None)
    with loop:
        loop.run_until_complete(closing.wait())
    console.shutdown()
    return 0
