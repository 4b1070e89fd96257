"""The selected call in full: live transcript, large waveforms, sentiment trend per speaker,
DTMF log, problems and alerts, and the listen/whisper/barge controls."""

from __future__ import annotations

import html
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.core.events import Role
from console.supervisor.controller import AudioState
from console.ui.bridge import EngineBridge
from console.ui.call_tile import format_duration, show_mode
from console.ui.model import CallInfo, topic_label
from console.ui.notes_panel import NotesPanel, live_lines
from console.ui.scorecard_panel import ScorecardPanel
from console.ui.theme import palette
from console.ui.waveform import TileWaveform
from console.ui.widgets import sentiment_plot

__all__ = ["AUDIO_MISSING", "MODE_HINTS", "CallView", "transcript_placeholder"]

AUDIO_MISSING = "Listen, whisper and barge need sound: no audio system was found."
MODE_HINTS = {
    "listen": "Listen on your speakers (L)",
    "whisper": "Talk to the agent only: hold Space to talk, or click to stay on",
    "barge": "Talk to both the agent and the customer (B)",
    "stop": "Stop listening and talking (Esc)",
}


def transcript_placeholder(state: str) -> str:
    """What the transcript says before the first words, from the engine's transcription
    state ("starting", "on: <model> (<source>)", "off" or "off: <why>")."""
    live = "Audio, DTMF and call events are live"
    if state == "starting":
        return (f"Speech recognition is starting (loading the speech model). {live}; "
                "the transcript appears here once it is up.")
    if state.startswith("on"):
        return "Transcribing: waiting for speech. Words appear here as people speak."
    if state == "off":
        return (f"Transcription is turned off (transcribe = false in the config file, "
                f"COACH_CONSOLE_TRANSCRIBE=0 or --no-transcribe). {live}.")
    if state.startswith("off:"):
        return f"Transcription is off: {state[4:].strip()}. {live}."
    return f"Speech recognition: {state or 'unknown'}. {live}."


def _stamp(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


class CallView(QWidget):
    modeRequested = Signal(str, str)  # call id, "listen" | "whisper" | "barge" | "stop"
    promptRequested = Signal(str, str)  # call id, "file:whisper" | "file:barge" | ... | "stop"
    phoneRequested = Signal(str, str)  # call id, "dial:ROLE" | "role:ROLE" | "hangup"
    volumeChanged = Signal(float)  # 0.0-2.0
    channelsChanged = Signal(str)  # "mix" | "split"

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.call: CallInfo | None = None
        pal = palette()

        self.title = QLabel("No call selected")
        self.title.setProperty("heading", True)
        self.details = QLabel("")
        self.details.setProperty("muted", True)
        # Wraps: a long line (topic, codec, talk figures) must not widen the window past
        # the screen (a top-level window grows to its contents' minimum width).
        self.details.setWordWrap(True)
        self.duration = QLabel("")
        self.duration.setStyleSheet("font-family: monospace; font-size: 14pt;")
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(self.title)
        titles.addWidget(self.details)
        head.addLayout(titles, 1)
        head.addWidget(self.duration)

        self.buttons: dict[str, QPushButton] = {}
        controls = QHBoxLayout()
        for mode, text, key in (("listen", "Listen", "L"), ("whisper", "Whisper", "Space"),
                                ("barge", "Barge", "B"), ("stop", "Stop", "Esc")):
            button = QPushButton(f"{text}  ({key})")
            button.setEnabled(False)
            button.setCheckable(mode != "stop")
            button.setToolTip(AUDIO_MISSING)
            button.clicked.connect(lambda _=False, m=mode: self._request(m))
            self.buttons[mode] = button
            controls.addWidget(button)
        self.prompt_button = QToolButton()
        self.prompt_button.setText("Prompt")
        self.prompt_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.prompt_button.setToolTip("Play a recorded message or a standard notice into the "
                                      "call (MP3 files on a Telnyx MP3-mode stream)")
        self.prompt_button.setEnabled(False)
        menu = QMenu(self.prompt_button)
        self.prompt_actions = {}
        for key, text in (("file:whisper", "Play a recording to the agent alone…"),
                          ("file:barge", "Play a recording to both parties…"),
                          ("notice:barge", "Play “this call may be monitored” to both"),
                          ("stop", "Stop the prompt")):
            action = menu.addAction(text)
            action.triggered.connect(lambda _=False, k=key: self._prompt(k))
            self.prompt_actions[key] = action
        self.prompt_button.setMenu(menu)
        controls.addWidget(self.prompt_button)
        # The supervisor's own phone as a Telnyx supervisor leg: the platform mixes the
        # audio, so it works where no stream reaches the agent alone.
        self.phone_button = QToolButton()
        self.phone_button.setText("Phone")
        self.phone_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.phone_button.setToolTip("Ring your phone into the call as a Telnyx supervisor leg "
                                     "(monitor, whisper or barge)")
        self.phone_button.setVisible(False)
        phone_menu = QMenu(self.phone_button)
        self.phone_actions = {}
        for key, text in (("dial:monitor", "Ring my phone to monitor"),
                          ("dial:whisper", "Ring my phone to whisper to the agent"),
                          ("dial:barge", "Ring my phone to barge (both hear me)"),
                          ("role:monitor", "Switch my phone to monitor"),
                          ("role:whisper", "Switch my phone to whisper"),
                          ("role:barge", "Switch my phone to barge"),
                          ("hangup", "Hang up my phone")):
            if key == "role:monitor" or key == "hangup":
                phone_menu.addSeparator()
            action = phone_menu.addAction(text)
            action.triggered.connect(lambda _=False, k=key: self._phone(k))
            self.phone_actions[key] = action
        self.phone_button.setMenu(phone_menu)
        controls.addWidget(self.phone_button)
        self.phone_badge = QLabel("")
        self.phone_badge.setProperty("muted", True)
        self.phone_badge.setVisible(False)
        controls.addWidget(self.phone_badge)
        self.mode_badge = QLabel("")
        self.mode_badge.setVisible(False)
        controls.addWidget(self.mode_badge)
        controls.addStretch(1)

        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 200)
        self.volume.setValue(100)
        self.volume.setFixedWidth(110)
        self.volume.setToolTip("Listening volume")
        self.channels = QComboBox()
        self.channels.addItem("Mixed", "mix")
        self.channels.addItem("Customer L / Agent R", "split")
        self.channels.setToolTip("How the two speakers reach your ears")
        self.mic_meter = QProgressBar()
        self.mic_meter.setRange(-60, 0)
        self.mic_meter.setValue(-60)
        self.mic_meter.setTextVisible(False)
        self.mic_meter.setFixedSize(110, 10)
        self.mic_meter.setToolTip("Microphone level")
        levels = QHBoxLayout()
        for caption, widget in (("Volume", self.volume), ("Ears", self.channels),
                                ("Mic", self.mic_meter)):
            label = QLabel(caption)
            label.setProperty("muted", True)
            levels.addWidget(label)
            levels.addWidget(widget)
            levels.addSpacing(10)
        levels.addStretch(1)
        self.volume.valueChanged.connect(lambda v: self.volumeChanged.emit(v / 100.0))
        self.channels.currentIndexChanged.connect(
            lambda _i: self.channelsChanged.emit(str(self.channels.currentData())))
        self.audio_note = QLabel("")
        self.audio_note.setWordWrap(True)
        self.audio_note.setProperty("muted", True)
        self._audio_ok = False

        self.wave = TileWaveform(seconds=10.0, columns=250, opaque=False)
        self.wave.setMinimumHeight(120)
        legend = QHBoxLayout()
        for role, name in ((Role.CUSTOMER, "Customer (top)"), (Role.AGENT, "Agent (bottom)")):
            label = QLabel(f"● {name}")
            label.setStyleSheet(f"color: {pal.role(role)};")
            legend.addWidget(label)
        legend.addStretch(1)

        self.transcript = QTextBrowser()
        self.transcript.setOpenLinks(False)
        self._follow = True
        bar = self.transcript.verticalScrollBar()
        bar.valueChanged.connect(self._on_scroll)
        self._rendered_segments = -1

        self.trend = sentiment_plot()
        self.trend_curves = {r: self.trend.plot(pen=pg.mkPen(pal.role(r), width=2))
                             for r in Role}

        self.dtmf = QListWidget()
        self.problems = QListWidget()
        for lst in (self.dtmf, self.problems):  # long alerts wrap instead of scrolling sideways
            lst.setWordWrap(True)
            lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        side = QVBoxLayout()
        for label, widget in (("Sentiment trend", self.trend), ("DTMF", self.dtmf),
                              ("Alerts and stream problems", self.problems)):
            caption = QLabel(label)
            caption.setProperty("muted", True)
            side.addWidget(caption)
            side.addWidget(widget, 1)
        # Notes and bookmarks (console/ui/notes_panel.py): it marks lines on the rendered
        # transcript itself, so the rendering below stays as it is.
        self.notes = NotesPanel(self.transcript, lambda: live_lines(self.call))
        side.addWidget(self.notes, 1)
        side_box = QWidget()
        side_box.setLayout(side)

        transcript_box = QWidget()
        tl = QVBoxLayout(transcript_box)
        tl.setContentsMargins(0, 0, 0, 0)
        caption = QLabel("Live transcript")
        caption.setProperty("muted", True)
        tl.addWidget(caption)
        tl.addWidget(self.transcript, 1)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(transcript_box)
        lower.addWidget(side_box)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        lower.setSizes([380, 240])

        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(controls)
        body.addLayout(levels)
        body.addWidget(self.audio_note)
        body.addWidget(self.wave)
        body.addLayout(legend)
        body.addWidget(lower, 1)
        self.placeholder = QLabel("Select a call on the wall to see its live transcript, "
                                  "waveforms, sentiment and DTMF here.\n\n"
                                  "Keys 1-9 pick a call; arrows move between calls.")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setProperty("muted", True)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)
        self.pages.addWidget(self.body)

        panel = QFrame()
        panel.setObjectName("Panel")
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.addLayout(head)
        layout.addWidget(self.pages, 1)
        # The scorecard (console/ui/scorecard_panel.py) sits outside the pages: an ended
        # call's stays for review after the wall has moved on (or emptied).
        self.scorecard = ScorecardPanel(live=True)
        layout.addWidget(self.scorecard)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 12, 12, 12)
        outer.addWidget(panel)
        self.show_call(None)

    # --- showing a call ----------------------------------------------------------------

    def show_call(self, call: CallInfo | None) -> None:
        self.call = call
        self.notes.show_call(call.id if call is not None else None)
        self.scorecard.follow(call.id if call is not None else None,
                              call.title if call is not None else "")
        self._rendered_segments = -1
        self._follow = True
        self.dtmf.clear()
        self.problems.clear()
        for curve in self.trend_curves.values():
            curve.setData([], [])
        if call is None:
            self.title.setText("No call selected")
            self.details.setText("")
            self.duration.setText("")
            self.transcript.setHtml("")
            self.pages.setCurrentWidget(self.placeholder)
            self.prompt_button.setEnabled(False)
            self.refresh_phone()
            return
        self.pages.setCurrentWidget(self.body)
        for button in self.buttons.values():
            button.setEnabled(self._audio_ok)
        self.refresh()

    def refresh(self) -> None:
        """Slow-changing parts: header, transcript, trend, lists (on events and at 1 Hz)."""
        c = self.call
        if c is None:
            return
        self.prompt_button.setEnabled(c.state == "active")
        self.refresh_phone()
        self.title.setText(c.title)
        bits = [f"{topic_label(c.topic)} ({c.topic_confidence:.0%} sure)" if c.topic else "",
                f"to {c.to_number}" if c.to_number else "", c.provider.capitalize(), c.codec,
                f"{c.streams} stream" + ("s" if c.streams != 1 else ""),
                f"node {c.node}" if c.node else "",
                time.strftime("started %H:%M:%S", time.localtime(c.started_at))]
        if c.metrics is not None and c.metrics.talk_ratio is not None:
            m = c.metrics
            bits.append(f"customer talks {100 * m.talk_ratio:.0f} %, longest silence "
                        f"{m.longest_silence_s:.0f} s, overtalk {m.overtalk_count}×")
        if c.state != "active":
            bits.append(c.state)
        self.details.setText("  ·  ".join(b for b in bits if b))
        self.tick_slow()
        self._render_transcript()
        for role, curve in self.trend_curves.items():
            hist = c.sentiment_history.get(role, [])
            curve.setData([t for t, _ in hist], [v for _, v in hist])
        while self.dtmf.count() < len(c.dtmf):
            digit, at = c.dtmf[self.dtmf.count()]
            self.dtmf.addItem(f"{_stamp(at)}   {digit}")
        wanted = [f"{_stamp(a.at_s)}  {a.rule}: {a.text}" for a in c.alerts] + c.problems
        while self.problems.count() < len(wanted):
            self.problems.addItem(wanted[self.problems.count()])

    def _render_transcript(self) -> None:
        c = self.call
        assert c is not None
        segs = c.transcript()
        # Until the first words, the placeholder follows speech recognition's state.
        state = "" if segs else self.bridge.engine.transcription
        signature = hash((tuple((s.segment_id, s.text, s.final) for s in segs), state))
        if signature == self._rendered_segments:
            return
        self._rendered_segments = signature
        pal = palette()
        if not segs:
            self.transcript.setHtml(f"<p style='color:{pal.muted}'>"
                                    f"{html.escape(transcript_placeholder(state))}</p>")
            return
        rows = []
        for s in segs:
            who = "Customer" if s.speaker is Role.CUSTOMER else "Agent"
            text = html.escape(s.text)
            if not s.final:
                text = f"<i style='color:{pal.muted}'>{text} …</i>"
            elif s.original_text:  # said in another language: what was said, then English
                text = (f"<span style='color:{pal.muted}'>[{html.escape(s.language or '?')}] "
                        f"{html.escape(s.original_text)}</span><br>"
                        f"<span style='margin-left:2em'>→ {text}</span>")
            rows.append(
                f"<p style='margin:0 0 6px 0'><span style='color:{pal.muted};"
                f"font-family:monospace'>{_stamp(s.start_s)}</span>&nbsp; "
                f"<b style='color:{pal.role(s.speaker)}'>{who}</b>&nbsp; {text}</p>")
        bar = self.transcript.verticalScrollBar()
        keep = bar.value()
        self.transcript.setHtml("".join(rows))
        # Follow new lines unless the supervisor scrolled up to read.
        bar.setValue(bar.maximum() if self._follow else keep)

    def _on_scroll(self, value: int) -> None:
        bar = self.transcript.verticalScrollBar()
        self._follow = value >= bar.maximum() - 4

    def tick(self) -> None:
        c = self.call
        if c is None:
            return
        rings = {}
        for role in Role:
            t = c.track_for(role)
            rings[role] = self.bridge.ring(t.key) if t else None
        self.wave.update_from(rings)

    def tick_slow(self) -> None:
        self.refresh_phone()  # its state also changes by Telnyx's webhooks
        if self.call is not None:
            self.duration.setText(format_duration(self.call.duration()))
            if not self.call.transcript():
                self._render_transcript()  # speech recognition may have come up (or gone)

    def refresh_phone(self) -> None:
        """The Phone menu: offered when Call Control is set up, for live Telnyx calls; its
        items follow whether the supervisor's phone is on the call."""
        cc = getattr(self.bridge.engine, "call_control", None)
        c = self.call
        offered = cc is not None and cc.offered
        self.phone_button.setVisible(offered)
        phone = cc.phone(c.id) if offered and c is not None else None
        live = phone is not None and phone.state != "ended"
        usable = (offered and c is not None and c.state == "active"
                  and cc.offered_for(c.id, c.provider))
        self.phone_button.setEnabled(offered and (usable or live))
        for key, action in self.phone_actions.items():
            if key.startswith("dial:"):
                action.setEnabled(not live)
            elif key.startswith("role:"):
                action.setEnabled(live and phone is not None and key[5:] != phone.role)
            else:
                action.setEnabled(live)
        if phone is None:
            self.phone_badge.setVisible(False)
            return
        whose = f" ({phone.supervisor})" if phone.supervisor else ""
        self.phone_badge.setText(f"Phone{whose}: {phone.role}, {phone.state}" if live
                                 else "Phone: off the call")
        self.phone_badge.setToolTip(phone.detail)
        self.phone_badge.setVisible(True)

    def _phone(self, key: str) -> None:
        if self.call is not None:
            self.phoneRequested.emit(self.call.id, key)

    def _prompt(self, key: str) -> None:
        if self.call is not None and self.call.state == "active":
            self.promptRequested.emit(self.call.id, key)

    def set_audio_available(self, available: bool, reason: str = AUDIO_MISSING) -> None:
        self._audio_ok = available
        for mode, button in self.buttons.items():
            button.setEnabled(available and self.call is not None)
            button.setToolTip(MODE_HINTS[mode] if available else reason)
        for widget in (self.volume, self.channels, self.mic_meter):
            widget.setEnabled(available)
        if not available:
            self._note(reason, warning=True)

    def show_audio(self, state: AudioState | None, mic_db: float) -> None:
        """What the supervisor is doing on this call, and the last refusal or device
        problem (called on the window's timer; cheap when nothing changed)."""
        call_id = self.call.id if self.call is not None else None
        mode = state.mode_of(call_id) if state is not None and call_id else ""
        if state is not None and call_id:
            for name, on in (("listen", state.listening == call_id),
                             ("whisper", mode == "whispering"), ("barge", mode == "barging")):
                button = self.buttons[name]
                if button.isChecked() != on:
                    button.setChecked(on)
        show_mode(self.mode_badge, mode)
        talking = state is not None and state.talking is not None and state.talking == call_id
        self.mic_meter.setValue(int(max(-60.0, min(0.0, mic_db))) if talking else -60)
        if not self._audio_ok or state is None:
            return
        if state.message and state.message_call in (call_id, None):
            self._note(state.message, warning=True)
        elif talking:
            who = "the agent alone" if state.talk_mode == "whisper" else "both parties"
            hold = " while Space is held" if state.push_to_talk else ""
            self._note(f"Your microphone reaches {who}{hold}; "
                       f"{state.route.split(': ', 1)[-1]}", warning=False)
        elif mode == "listening":
            self._note("Listening. Hold Space to whisper to the agent, B to barge, Esc to stop.",
                       warning=False)
        else:
            self._note("L listens, hold Space whispers to the agent, B barges in, Esc stops.",
                       warning=False)

    def note(self, text: str, *, warning: bool) -> None:
        """A line under the controls: what happened, in red when it went wrong."""
        self._note(text, warning=warning)

    def _note(self, text: str, *, warning: bool) -> None:
        if self.audio_note.text() == text and self.audio_note.property("warn") == warning:
            return
        self.audio_note.setText(text)
        self.audio_note.setProperty("warn", warning)
        self.audio_note.setStyleSheet(f"color: {palette().danger};" if warning else "")

    def set_audio_prefs(self, volume: float, channels: str) -> None:
        for widget in (self.volume, self.channels):
            widget.blockSignals(True)
        self.volume.setValue(round(volume * 100))
        self.channels.setCurrentIndex(max(0, self.channels.findData(channels)))
        for widget in (self.volume, self.channels):
            widget.blockSignals(False)

    def _request(self, mode: str) -> None:
        if self.call is not None:
            self.modeRequested.emit(self.call.id, mode)
