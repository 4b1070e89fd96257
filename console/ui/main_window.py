"""The supervisor's main screen: the wall of live calls beside the selected call, history,
connection help, settings and the engine's health in the status bar."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QTabWidget,
    QTextEdit,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from console import APP_NAME
from console.config import Settings
from console.core.events import CallEvent
from console.supervisor.controller import AudioState, SupervisorAudio
from console.ui.agents_view import AgentsView
from console.ui.alert_feed import AlertFeed
from console.ui.bridge import EngineBridge
from console.ui.call_view import AUDIO_MISSING, CallView
from console.ui.call_wall import TILE_WIDTH, CallWall
from console.ui.connection_panel import ConnectionPanel
from console.ui.empty_state import EmptyState
from console.ui.history import HistoryPanel
from console.ui.model import CallsModel
from console.ui.notes_controller import NotesController
from console.ui.theme import app_icon
from console.ui.wall_bar import WallBar

__all__ = ["MainWindow"]

FAST_MS = 33  # waveforms and speaking indicators, ~30 fps
SLOW_MS = 1000  # durations and the status bar


# The view's buttons toggle; the keyboard's Space is push-to-talk (see eventFilter).
_BUTTON_ACTIONS = {"listen": "listen_toggle", "whisper": "whisper_toggle",
                   "barge": "barge_toggle", "stop": "stop"}


def live_pane_sizes(width: int) -> list[int]:
    """Widths of the wall, the call view and the alert feed for a window `width` wide: the
    feed and the call view get what they read well at, the wall all the rest (a 4K screen
    shows 36 tiles), and never less than one tile."""
    feed = min(420, max(280, int(width * 0.15)))
    view = min(1000, max(440, int(width * 0.34)))
    wall = max(TILE_WIDTH + 24, width - feed - view)
    return [wall, view, feed]


class MainWindow(QMainWindow):
    demoToggled = Signal(bool)
    settingsRequested = Signal()
    themeToggled = Signal()
    audioPrefsChanged = Signal(float, str)  # volume, channels: to keep in the settings
    promptFinished = Signal(str, bool, str)  # call id, playing, what to tell the supervisor
    phoneFinished = Signal(str, bool, str)  # call id, done, what to tell the supervisor
    phoneChanged = Signal(str)  # call id whose phone leg changed (from the engine's loop)

    def __init__(self, bridge: EngineBridge, settings: Settings,
                 ended_linger_ms: int = 2000) -> None:
        super().__init__()
        self.bridge = bridge
        self.settings = settings
        self.model = CallsModel()
        self.ended_linger_ms = ended_linger_ms
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.resize(1480, 900)

        self.wall = CallWall(bridge)
        self.empty = EmptyState()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.wall)
        self.view = CallView(bridge)
        self.audio: SupervisorAudio | None = None
        self.phone_message = ""
        self._audio_state: AudioState | None = None
        self._space_down = False
        self.view.modeRequested.connect(self._audio_request)
        self.view.promptRequested.connect(self._prompt)
        self.promptFinished.connect(self._prompt_finished)
        self.view.phoneRequested.connect(self._phone)
        self.phoneFinished.connect(self._phone_finished)
        self.phoneChanged.connect(lambda call_id: self.view.refresh_phone()
                                  if self.view.call is not None
                                  and self.view.call.id == call_id else None)
        self.view.volumeChanged.connect(self._volume_changed)
        self.view.channelsChanged.connect(self._channels_changed)
        self.view.set_audio_prefs(settings.listen_volume, settings.listen_channels)
        self.live = QSplitter(Qt.Orientation.Horizontal)
        self.wall_bar = WallBar(self.wall, keys_on=self.live)  # sort, filters, search
        wall_page = QWidget()
        wall_column = QVBoxLayout(wall_page)
        wall_column.setContentsMargins(0, 0, 0, 0)
        wall_column.setSpacing(0)
        wall_column.addWidget(self.wall_bar)
        wall_column.addWidget(self.stack, 1)
        self.live.addWidget(wall_page)
        self.live.addWidget(self.view)
        # The team's alerts beside the call view: acknowledge and snooze go to the audit trail.
        self.alert_feed = AlertFeed(lambda: self.settings.supervisor(),
                                    lambda: self.settings.shift_end)
        self.alert_feed.jumpRequested.connect(self._jump_to_call)
        self.alert_feed.actionTaken.connect(self._audit)
        self.live.addWidget(self.alert_feed)
        # Room goes to the wall: the call view and the feed have widths that read well and
        # keep them as the window grows (live_pane_sizes), until the supervisor drags a
        # divider; from then on the splitter is theirs.
        for pane, stretch in enumerate((1, 0, 0)):
            self.live.setStretchFactor(pane, stretch)
        self._panes_follow = True
        self.live.splitterMoved.connect(lambda *_: setattr(self, "_panes_follow", False))
        self.live.setSizes(live_pane_sizes(1460))
        self.history = HistoryPanel(self.data_dir())
        self.history.audit.connect(self._audit)
        self.connection = ConnectionPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live calls")
        # Agents (console/ui/agents_view.py): today per agent; reads the same store as History.
        self.agents = AgentsView(self.data_dir, lambda: self.model, lambda: self.settings)
        self.agents.jumpRequested.connect(self._jump_to_call)
        self.tabs.addTab(self.agents, "Agents")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.connection, "Connect")
        self.tabs.currentChanged.connect(self._tab_changed)
        # Persistent while streams are accepted without a token (config file, environment or
        # flag alike): the supervisor must not miss that anyone on the network can stream.
        self.auth_banner = QLabel("")
        self.auth_banner.setObjectName("AuthOffBanner")
        self.auth_banner.setWordWrap(True)
        self.auth_banner.setStyleSheet("QLabel#AuthOffBanner { background: #da3633; "
                                       "color: #ffffff; font-weight: bold; padding: 6px 12px; }")
        self.auth_banner.setVisible(False)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.auth_banner)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        bar = QToolBar("Main")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.demo_action = QAction("Demo calls", self)
        self.demo_action.setCheckable(True)
        self.demo_action.setToolTip("Play simulated calls into this console")
        self.demo_action.toggled.connect(self.demoToggled)
        bar.addAction(self.demo_action)
        settings_action = QAction("Settings", self)
        settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        settings_action.triggered.connect(self.settingsRequested)
        bar.addAction(settings_action)
        theme_action = QAction("Light/dark", self)
        theme_action.triggered.connect(self.themeToggled)
        bar.addAction(theme_action)
        spacer = QWidget()
        spacer.setStyleSheet("background: transparent;")
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.endpoint_label = QLabel("")
        self.endpoint_label.setProperty("muted", True)
        bar.addWidget(self.endpoint_label)

        self.status_labels = {k: QLabel("") for k in ("streams", "rate", "lost", "health")}
        for label in self.status_labels.values():
            self.statusBar().addPermanentWidget(label)
        self._last_frames = 0
        self._last_time = time.monotonic()

        self.empty.demoRequested.connect(lambda: self.demo_action.setChecked(True))
        self.empty.connectRequested.connect(lambda: self.tabs.setCurrentWidget(self.connection))
        self.wall.selectionChanged.connect(self._selected)
        bridge.events.connect(self.on_events)
        self._shortcuts()
        self.notes = NotesController(self)  # N: a note, M: bookmark a line (live and History)
        # Scorecards (console/ui/scorecard_panel.py): a review goes to the audit trail.
        for panel in (self.view.scorecard, self.history.scorecard):
            panel.supervisor = lambda: self.settings.supervisor()
        self.view.scorecard.reviewed.connect(self._audit)

        self.fast = QTimer(self)
        self.fast.setInterval(FAST_MS)
        self.fast.timeout.connect(self.tick)
        self.fast.start()
        self.slow = QTimer(self)
        self.slow.setInterval(SLOW_MS)
        self.slow.timeout.connect(self.tick_slow)
        self.slow.start()
        self.tray: QSystemTrayIcon | None = None
        self.engine_error = ""
        self.set_endpoint()
        self.tick_slow()

    def _shortcuts(self) -> None:
        keys: list[tuple[str, Callable[[], None]]] = [
            (str(n), lambda n=n: self.wall.select_index(n - 1)) for n in range(1, 10)]
        keys += [("Left", lambda: self.wall.move_selection(-1, 0)),
                 ("Right", lambda: self.wall.move_selection(1, 0)),
                 ("Up", lambda: self.wall.move_selection(0, -1)),
                 ("Down", lambda: self.wall.move_selection(0, 1))]
        keys += [("L", lambda: self._audio_key("listen_toggle")),
                 ("B", lambda: self._audio_key("barge_toggle")),
                 ("Escape", lambda: self._audio_key("stop"))]
        for key, fn in keys:
            shortcut = QShortcut(QKeySequence(key), self.live)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(fn)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)  # Space press and release: push-to-talk

    # --- the supervisor's audio -----------------------------------------------------------

    def set_audio(self, audio: SupervisorAudio | None, reason: str = "") -> None:
        """The audio controls work through `audio`; without it they say `reason`."""
        self.audio = audio
        self._audio_state = None
        self.view.set_audio_available(audio is not None, reason or AUDIO_MISSING)
        if audio is None:
            for tile in self.wall.tiles.values():
                tile.set_mode("")

    def _selected_call(self) -> str | None:
        call = self.view.call
        return call.id if call is not None and call.state == "active" else None

    def _audio_request(self, call_id: str, mode: str) -> None:
        if self.audio is not None:
            self.audio.request(call_id, _BUTTON_ACTIONS.get(mode, mode))

    # --- prompts ------------------------------------------------------------------------

    def pick_prompt_file(self) -> str:
        """The recording to play (a dialog; tests put a path here instead)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Play a recording into the call", "",
            "Sound files (*.wav *.mp3 *.ogg *.flac *.m4a);;All files (*)")
        return path

    def _prompt(self, call_id: str, key: str) -> None:
        engine = self.bridge.engine
        play = getattr(engine, "play_prompt", None)
        loop = engine.loop
        if play is None or loop is None:
            self.statusBar().showMessage("Prompts play once the console is connected.", 8000)
            return
        if key == "stop":
            asyncio.run_coroutine_threadsafe(
                engine.stop_prompt(call_id, "stopped by the supervisor",  # type: ignore[attr-defined]
                                   self.settings.supervisor()), loop)
            return
        kind, mode = key.split(":")
        if kind == "notice":
            from console.resources import resource_dir

            path, name = str(resource_dir() / "prompts" / "monitored-notice.wav"), \
                "the monitoring notice"
        else:
            path = self.pick_prompt_file()
            if not path:
                return
            name = Path(path).name
        supervisor = self.settings.supervisor()

        def job() -> None:  # off the UI thread: reading and encoding take a moment
            from console.audio.sound_file import SoundFileError, read_sound

            try:
                pcm, rate = read_sound(path)
                done = asyncio.run_coroutine_threadsafe(
                    play(call_id, pcm, rate, mode, name, supervisor), loop).result(30)
                self.promptFinished.emit(call_id, done.ok, done.reason if not done.ok else
                                         f"Playing {name}: {done.reason}")
            except SoundFileError as exc:
                self.promptFinished.emit(call_id, False, f"Cannot play {name}: {exc}")
            except Exception as exc:  # never let a prompt take the window down
                self.promptFinished.emit(call_id, False, f"Cannot play {name}: {exc}")

        threading.Thread(target=job, name="prompt", daemon=True).start()

    def _prompt_finished(self, call_id: str, ok: bool, text: str) -> None:
        self.prompt_message = text
        self.statusBar().showMessage(text, 10000)
        if self.view.call is not None and self.view.call.id == call_id:
            self.view.note(text, warning=not ok)

    # --- the supervisor's phone (Telnyx Call Control) ------------------------------------

    def _phone(self, call_id: str, key: str) -> None:
        engine = self.bridge.engine
        cc = getattr(engine, "call_control", None)
        loop = engine.loop
        if cc is None or loop is None:
            self.statusBar().showMessage("Phone legs need Telnyx Call Control: set the API "
                                         "key in Settings > Telnyx.", 8000)
            return
        from console.callcontrol.control import Refused

        if cc.on_change is None:  # the phone answering or leaving shows at once
            cc.on_change = self.phoneChanged.emit
        kind, _, role = key.partition(":")
        who = self.settings.supervisor()
        coro = (cc.dial(call_id, role, who) if kind == "dial" else
                cc.switch(call_id, role, who) if kind == "role" else cc.hangup(call_id, who))
        done_text = {"dial": f"Ringing your phone ({role})…",
                     "role": f"Your phone now {role}s." if role != "barge"
                     else "Your phone now barges: both parties hear you.",
                     "hangup": "Your phone left the call."}[kind]

        def finished(fut: Any) -> None:  # on the engine's loop: only a signal crosses
            try:
                fut.result()
                self.phoneFinished.emit(call_id, True, done_text)
            except Refused as exc:
                self.phoneFinished.emit(call_id, False, str(exc))
            except Exception as exc:  # never let a phone request take the window down
                self.phoneFinished.emit(call_id, False, f"Phone request failed: {exc}")

        asyncio.run_coroutine_threadsafe(coro, loop).add_done_callback(finished)

    def _phone_finished(self, call_id: str, ok: bool, text: str) -> None:
        self.phone_message = text
        self.statusBar().showMessage(text, 10000)
        if self.view.call is not None and self.view.call.id == call_id:
            self.view.note(text, warning=not ok)
            self.view.refresh_phone()

    def _audio_key(self, action: str) -> None:
        if self.audio is None:
            if action != "stop":
                self.statusBar().showMessage(self.view.audio_note.text() or AUDIO_MISSING, 6000)
            return
        call_id = self._selected_call()
        if call_id is None and action != "stop":
            self.statusBar().showMessage("Select a live call first (keys 1-9 or a click).", 4000)
            return
        self.audio.request(call_id, action)

    def _volume_changed(self, volume: float) -> None:
        if self.audio is not None:
            self.audio.set_volume(volume)
        self.audioPrefsChanged.emit(volume, self.view.channels.currentData())

    def _channels_changed(self, channels: str) -> None:
        if self.audio is not None:
            self.audio.set_channel_mode(channels)
        self.audioPrefsChanged.emit(self.view.volume.value() / 100.0, channels)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Every event of the application passes here (paints of every tile included): the
        # type test comes first and costs one isinstance; anything else is not ours.
        if not isinstance(event, QKeyEvent):
            return False
        try:
            return self._space_key(event)
        except RuntimeError:  # an object being torn down: an error here would linger in Qt
            return False

    def _space_key(self, event: QKeyEvent) -> bool:
        if event.key() != Qt.Key.Key_Space or not self._space_is_ours():
            return False
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False  # a shortcut override and the like: left to Qt
        if not event.isAutoRepeat():
            down = kind == QEvent.Type.KeyPress
            if down != self._space_down:
                self._space_down = down
                self._audio_key("ptt_down" if down else "ptt_up")
        return True

    def _space_is_ours(self) -> bool:
        """Space is push-to-talk on the live calls page, unless the supervisor is typing."""
        if not self.isActiveWindow() or self.tabs.currentWidget() is not self.live:
            return self._space_down  # a release after switching away still counts
        focus = QApplication.focusWidget()
        return not isinstance(focus, QLineEdit | QTextEdit | QPlainTextEdit | QAbstractSpinBox
                              | QComboBox)

    # --- engine events --------------------------------------------------------------------

    def notify(self, title: str, text: str, critical: bool = False) -> None:
        """A desktop notification where the desktop offers one; the status bar always."""
        self.statusBar().showMessage(f"{title}: {text}", 10000)
        if self.tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self.windowIcon(), self)
            self.tray.show()
        if self.tray is not None:
            icon = (QSystemTrayIcon.MessageIcon.Critical if critical
                    else QSystemTrayIcon.MessageIcon.Warning)
            self.tray.showMessage(title, text, icon, 8000)

    def _alerts_in(self, events: list[CallEvent]) -> None:
        """Alerts into the feed; a notification (and the tone, when on) for each one nobody
        snoozed or acknowledged already."""
        for entry in self.alert_feed.take(events, self.model.calls):
            ev = entry.alert
            if ev.severity == "info":
                continue
            self.alert_feed.notified.append(entry.key)
            self.notify(f"{ev.rule.replace('_', ' ').capitalize()} on {entry.title}",
                        f"“{ev.text}”", ev.severity == "critical")
            if ev.severity == "critical" and self.settings.alert_sound:
                self.alert_feed.chime.play(self.settings.output_device)

    def _jump_to_call(self, call_id: str) -> None:
        """From the alert feed: the call selected on the wall and open in the call view."""
        if call_id not in self.wall.tiles:
            self.statusBar().showMessage("That call has ended: History has it.", 6000)
            return
        self.tabs.setCurrentWidget(self.live)
        self.wall.select(call_id)
        if self.view.call is None or self.view.call.id != call_id:
            self._selected(call_id)

    def on_events(self, events: list[CallEvent]) -> None:
        self.notes.on_events(events)
        self.view.scorecard.on_events(events)
        changes = self.model.apply(events)
        self._alerts_in(events)
        for call_id in changes.added:
            self.wall.add_call(self.model.calls[call_id])
        for call_id in changes.updated:
            tile = self.wall.tiles.get(call_id)
            if tile is not None:
                tile.refresh_info()
                if call_id in changes.transcript:
                    tile.refresh_text()
        for call_id in changes.ended:
            tile = self.wall.tiles.get(call_id)
            if tile is not None:
                tile.set_mode("")
                tile.duration.setText("ended")
            QTimer.singleShot(self.ended_linger_ms, self, lambda c=call_id: self._drop(c))
        if self.view.call is not None and self.view.call.id in changes.updated:
            self.view.refresh()
        if changes.ended and self.tabs.currentWidget() is self.history:
            self.history.refresh()
        self.stack.setCurrentWidget(self.wall if self.wall.tiles else self.empty)

    def _drop(self, call_id: str) -> None:
        call = self.model.calls.get(call_id)
        if call is None or call.state == "active":
            return  # it came back (a new leg) in the meantime
        self.wall.remove_call(call_id)
        if self.view.call is not None and self.view.call.id == call_id and not self.wall.selected:
            self.view.show_call(None)
        self.model.forget(call_id)
        self.stack.setCurrentWidget(self.wall if self.wall.tiles else self.empty)

    def _audit(self, call_id: str, action: str, detail: str) -> None:
        """Supervisor actions go to the call's audit trail through the engine's bus."""
        from console.core.events import SupervisorAction

        self.bridge.engine.bus.publish(SupervisorAction(call_id, action, time.time(), detail,
                                                        self.settings.supervisor()))

    def _selected(self, call_id: str) -> None:
        self.view.show_call(self.model.calls.get(call_id) if call_id else None)
        self.bridge.engine.set_focus(call_id or None)

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.history:
            self.history.refresh()

    # --- refresh --------------------------------------------------------------------------

    def tick(self) -> None:
        if not self.isVisible() or self.tabs.currentWidget() is not self.live:
            return
        self.wall.tick()
        self.view.tick()
        self.tick_audio()

    def tick_audio(self) -> None:
        audio = self.audio
        if audio is None:
            return
        state = audio.state
        self.view.show_audio(state, audio.mic_level_db)
        if state is self._audio_state:
            return
        self._audio_state = state
        for call_id, tile in self.wall.tiles.items():
            tile.set_mode(state.mode_of(call_id))
        if state.message:
            self.statusBar().showMessage(state.message, 10000)

    def tick_slow(self) -> None:
        self.wall.tick_slow()
        for rule in self.alert_feed.tick():
            self.statusBar().showMessage(f"Snooze over: {rule.replace('_', ' ')} alerts "
                                         "notify again.", 8000)
        self.view.tick_slow()
        try:
            stats = self.bridge.stats()
        except Exception as exc:  # never let a status read take the window down
            self.status_labels["health"].setText(f"Engine: {exc}")
            return
        now = time.monotonic()
        rate = (stats.media_frames - self._last_frames) / max(1e-6, now - self._last_time)
        self._last_frames, self._last_time = stats.media_frames, now
        self.status_labels["streams"].setText(f"Streams: {stats.streams}")
        self.status_labels["rate"].setText(f"Frames/s: {rate:,.0f}")
        self.status_labels["lost"].setText(f"Lost frames: {stats.missing_frames:,}"
                                           f"  Bad frames: {stats.bad_frames:,}")
        if self.engine_error:
            health = f"Engine: {self.engine_error}"
        elif stats.store_health != "ok":
            health = f"Engine: storage {stats.store_health}"
        elif stats.store_errors:
            health = f"Engine: {stats.store_errors} storage error(s)"
        else:
            health = f"Engine: running, {speech_summary(self.bridge.engine.transcription)}"
        if self.settings.bus_url:
            engine = self.bridge.engine
            state = getattr(engine, "state", "")
            nodes = engine.alive_nodes() if hasattr(engine, "alive_nodes") else []
            health = (f"Team bus: {getattr(engine, 'error', '') or state}; "
                      f"{len(nodes)} node(s) {', '.join(sorted(nodes))}; "
                      f"{speech_summary(engine.transcription)}")
            infos = getattr(engine, "nodes", {})
            self.connection.set_team(engine.url, [
                (n, str(infos[n].get("public_url") or infos[n].get("url") or ""))
                for n in sorted(nodes)], self.settings.telnyx_bidirectional_codec,
                self.settings.telnyx_bidirectional_rate)
        if self.bridge.dropped:
            health += f"; window behind, {self.bridge.dropped:,} updates skipped"
        self.status_labels["health"].setText(health)
        self.status_labels["health"].setToolTip(
            f"Speech recognition: {self.bridge.engine.transcription}")

    def set_endpoint(self) -> None:
        engine = self.bridge.engine
        url = engine.url if engine.port and not self.engine_error else "(not listening)"
        self.set_auth_warning()
        if self.settings.bus_url:  # team mode: streams go to the ingest nodes
            self.endpoint_label.setText(f"Team {self.settings.team} on {engine.url}")
            self.empty.set_endpoint(f"the team's ingest nodes (bus {engine.url})")
            return
        self.endpoint_label.setText(f"Streams to  {self.settings.public_url or url}")
        self.empty.set_endpoint(url)
        s = self.settings
        self.connection.set_endpoint(url, "" if s.no_auth else s.token, s.public_url,
                                     s.telnyx_bidirectional_codec, s.telnyx_bidirectional_rate)
        cc = getattr(engine, "call_control", None)
        self.connection.set_webhook(cc.webhook_url if cc is not None else "")

    def set_auth_warning(self) -> None:
        """Show the red banner when streams are accepted without a token."""
        s = self.settings
        if not s.no_auth:
            self.auth_banner.setVisible(False)
            self.auth_banner.setText("")
            return
        port = self.bridge.engine.port or s.port
        self.auth_banner.setText(
            f"Stream authentication is OFF: anyone who can reach port {port} can stream calls "
            "into this console. Turn it on in Settings > Stream server.")
        self.auth_banner.setToolTip("no_auth is set (config file, COACH_CONSOLE_NO_AUTH or "
                                    "--no-auth): streams are accepted without a token")
        self.auth_banner.setVisible(True)

    def rebind(self, bridge: EngineBridge, settings: Settings) -> None:
        """After the engine restarted with new settings: start from an empty wall."""
        for call_id in list(self.wall.tiles):
            self.wall.remove_call(call_id)
        self.model = CallsModel()
        self.view.show_call(None)
        self.settings = settings
        self.bridge.events.disconnect(self.on_events)
        self.bridge = bridge
        bridge.events.connect(self.on_events)
        self.wall.bridge = bridge
        self.view.bridge = bridge
        self.history.data_dir = self.data_dir()
        self.set_endpoint()
        self.stack.setCurrentWidget(self.empty)

    def data_dir(self) -> str:
        """Where the store is: the engine's (in a team, its copy of the team's store)."""
        return str(getattr(self.bridge.engine, "data_dir", self.settings.data_path()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._panes_follow:
            self.live.setSizes(live_pane_sizes(event.size().width()))

    def closeEvent(self, event: QCloseEvent) -> None:
        app = QApplication.instance()
        if app is not None:  # every event of the application passes here: not once closed
            app.removeEventFilter(self)
        self.fast.stop()
        self.slow.stop()
        self.history.shutdown()
        super().closeEvent(event)


def speech_summary(state: str) -> str:
    """A few words for the status bar from the engine's transcription status (the whole of
    it is the tooltip): it never says transcribing while no speech worker runs."""
    if state.startswith("on (degraded"):
        return "transcribing with fewer speech workers"
    if state.startswith("on"):
        return "transcribing"
    if state == "starting":
        return "loading speech model"
    if state.startswith("restarting"):
        return "speech workers restarting"
    if state.startswith("failing"):
        return "speech workers keep failing"
    return "no transcription"
