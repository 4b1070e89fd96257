"""Settings: validated like the config file, saved to it, applied on OK."""

from __future__ import annotations

import secrets
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.audio.devices import AudioDevices, list_devices
from console.config import ConfigError, Settings
from console.core.reach import BIDI_CODECS, BIDI_RATES

__all__ = ["STT_ENGINES", "SettingsDialog"]

STT_ENGINES = {
    "faster-whisper:tiny.en": "Whisper tiny.en (fast, default)",
    "faster-whisper:base": "Whisper base (more accurate, about twice the CPU)",
}
DEFAULT_DEVICE = "System default"


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, devices: AudioDevices | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.original = settings
        self.result_settings: Settings | None = None
        devices = devices or list_devices()

        self.host = QLineEdit(settings.host)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(settings.port)
        self.token = QLineEdit(settings.token)
        regen = QPushButton("Regenerate")
        regen.clicked.connect(lambda: self.token.setText(secrets.token_urlsafe(24)))
        token_row = QHBoxLayout()
        token_row.addWidget(self.token, 1)
        token_row.addWidget(regen)
        self.no_auth = QCheckBox("Accept streams without a token (not recommended)")
        self.no_auth.setChecked(settings.no_auth)
        self.public_url = QLineEdit(settings.public_url)
        self.public_url.setPlaceholderText("wss://console.example.com/media")
        self.twilio_token = QLineEdit(settings.twilio_auth_token)
        self.twilio_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.agents = QLineEdit(", ".join(settings.agent_endpoints))
        self.agents.setPlaceholderText("sip:*@agents.example.com, +1555777*")

        self.data_dir = QLineEdit(settings.data_dir or str(settings.data_path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(browse)
        self.record = QCheckBox("Record call audio (for WAV export)")
        self.record.setChecked(settings.record)
        self.retention = QSpinBox()
        self.retention.setRange(0, 3650)
        self.retention.setSuffix(" days")
        self.retention.setSpecialValueText("Keep forever")
        self.retention.setValue(settings.retention_days)

        self.output = QComboBox()
        self.input = QComboBox()
        for combo, names, current in ((self.output, devices.outputs, settings.output_device),
                                      (self.input, devices.inputs, settings.input_device)):
            combo.addItem(DEFAULT_DEVICE)
            combo.addItems(names)
            if current and current not in names:
                combo.addItem(f"{current} (not connected)")
            combo.setCurrentText(current if current in names else
                                 f"{current} (not connected)" if current else DEFAULT_DEVICE)
            combo.setEnabled(devices.error is None)
        self.audio_note = QLabel(devices.error or "")
        self.audio_note.setWordWrap(True)
        self.audio_note.setProperty("muted", True)
        self.channels = QComboBox()
        self.channels.addItem("Both speakers in both ears", "mix")
        self.channels.addItem("Customer left, agent right", "split")
        self.channels.setCurrentIndex(self.channels.findData(settings.listen_channels))
        self.gate = QDoubleSpinBox()
        self.gate.setRange(-100, 0)
        self.gate.setSuffix(" dBFS")
        self.gate.setToolTip("While whispering or barging, microphone sound quieter than this "
                             "(room noise between words) is not sent into the call")
        self.gate.setValue(settings.mic_gate_db)
        self.target_legs = QComboBox()
        for value, label in (("opposite", "opposite: the other party hears (Telnyx default)"),
                             ("self", "self: the party on the stream's leg hears"),
                             ("both", "both: everyone hears (barge only)")):
            self.target_legs.addItem(label, value)
        self.target_legs.setCurrentIndex(self.target_legs.findData(settings.telnyx_target_legs))
        self.target_legs.setToolTip(
            "Telnyx stream_bidirectional_target_legs, used when a stream does not say in its "
            "custom parameters (target_legs or reaches)")
        self.bidi_codec = QComboBox()
        self.bidi_codec.addItems(list(BIDI_CODECS))
        self.bidi_codec.setCurrentText(settings.telnyx_bidirectional_codec)
        self.bidi_rate = QComboBox()
        for rate in BIDI_RATES:
            self.bidi_rate.addItem(f"{rate} Hz", rate)
        self.bidi_rate.setCurrentIndex(self.bidi_rate.findData(settings.telnyx_bidirectional_rate))
        self.bidi_mode = QComboBox()
        self.bidi_mode.addItem("RTP: live whisper and barge", "rtp")
        self.bidi_mode.addItem("MP3: recorded prompts only", "mp3")
        self.bidi_mode.setCurrentIndex(max(0, self.bidi_mode.findData(
            settings.telnyx_bidirectional_mode)))
        self.bidi_mode.setToolTip("How Telnyx takes audio back when a stream does not say "
                                  "(and what streams started by Call Control ask for)")
        self.stt = QComboBox()
        for key, label in STT_ENGINES.items():
            self.stt.addItem(label, key)
        self.stt.setCurrentIndex(max(0, self.stt.findData(settings.stt_engine)))
        self.vad = QComboBox()
        self.vad.addItem("WebRTC (lightest)", "webrtc")
        self.vad.addItem("Silero (steadier on noisy lines, more CPU)", "silero")
        self.vad.setCurrentIndex(max(0, self.vad.findData(settings.vad_engine)))
        self.translate = QComboBox()
        self.translate.addItem("Off", "")
        self.translate.addItem("Into English", "en")
        self.translate.setCurrentIndex(max(0, self.translate.findData(settings.translate)))
        self.translate.setToolTip("Speakers of other languages are transcribed and translated "
                                  "into English live (Whisper base, about twice the CPU of "
                                  "English transcription for those speakers)")
        self.model_path = QLineEdit(settings.stt_model_path)
        self.model_path.setPlaceholderText("Empty: use a model installed with the app")
        self.silence = QDoubleSpinBox()
        self.silence.setRange(1, 600)
        self.silence.setSuffix(" s")
        self.silence.setValue(settings.alert_silence_s)
        self.overtalk = QDoubleSpinBox()
        self.overtalk.setRange(0.5, 60)
        self.overtalk.setSuffix(" s")
        self.overtalk.setValue(settings.alert_overtalk_s)
        self.sentiment = QDoubleSpinBox()
        self.sentiment.setRange(-1, 1)
        self.sentiment.setSingleStep(0.05)
        self.sentiment.setValue(settings.alert_sentiment_below)
        self.alert_sound = QCheckBox("Play a short tone for critical alerts (not snoozed)")
        self.alert_sound.setChecked(settings.alert_sound)
        self.shift_end = QLineEdit(settings.shift_end)
        self.shift_end.setPlaceholderText("HH:MM; empty: 8 hours after snoozing")
        self.shift_end.setToolTip("When a rule snoozed for everyone \"until end of shift\" "
                                  "comes back")
        self.alerts_file = QLineEdit(settings.alerts_file)
        self.alerts_file.setPlaceholderText("TOML with [[alerts.rules]]; empty: built-in rules")
        self.scorecard_file = QLineEdit(settings.scorecard_file)
        self.scorecard_file.setPlaceholderText("TOML with [[items]]; empty: the shipped "
                                               "checklist")
        self.redaction = QCheckBox("Redact card numbers, SSNs, digit runs and keypad entry "
                                   "(nothing raw is stored)")
        self.redaction.setChecked(settings.redaction)
        self.theme = QComboBox()
        self.theme.addItems(["dark", "light"])
        self.theme.setCurrentText(settings.theme)
        self.supervisor = QLineEdit(settings.supervisor_name)
        self.supervisor.setPlaceholderText(settings.supervisor())
        self.supervisor.setToolTip("Written with every listen, whisper, barge and export in "
                                   "the call's audit trail")
        self.bus_url = QLineEdit(settings.bus_url)
        self.bus_url.setPlaceholderText("Empty: this computer alone. nats://bus.example.com:4222")
        self.bus_url.setToolTip("The team's NATS bus. Credentials may be in the URL "
                                "(nats://user:password@host:4222, nats://TOKEN@host:4222) or "
                                "below; tls://host:4222 for TLS")
        self.bus_user = QLineEdit(settings.bus_user)
        self.bus_password = QLineEdit(settings.bus_password)
        self.bus_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.bus_token = QLineEdit(settings.bus_token)
        self.bus_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.bus_ca = QLineEdit(settings.bus_tls_ca)
        self.bus_ca.setPlaceholderText("CA certificate (PEM), when the bus's is not public")
        self.team = QLineEdit(settings.team)
        self.telnyx_key = QLineEdit(settings.telnyx_api_key)
        self.telnyx_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.telnyx_key.setPlaceholderText("Empty: no Call Control (everything else works)")
        self.telnyx_public_key = QLineEdit(settings.telnyx_public_key)
        self.telnyx_public_key.setPlaceholderText("Portal > Keys & Credentials > Public Key")
        self.telnyx_public_key.setToolTip("Webhooks are accepted only with a valid signature "
                                          "from this key, at most 5 minutes old")
        self.webhook_port = QSpinBox()
        self.webhook_port.setRange(0, 65535)
        self.webhook_port.setValue(settings.webhook_port)
        self.webhook_port.setToolTip(f"Telnyx posts webhooks to http(s)://this-host:PORT"
                                     f"{settings.webhook_path} (0: any free port)")
        self.stream_on_answer = QComboBox()
        for text, value in (("Incoming calls", "incoming"), ("Every answered call", "all"),
                            ("Never (my application starts them)", "off")):
            self.stream_on_answer.addItem(text, value)
        self.stream_on_answer.setCurrentIndex(max(0, self.stream_on_answer.findData(
            settings.stream_on_answer)))
        self.connection_id = QLineEdit(settings.telnyx_connection_id)
        self.connection_id.setPlaceholderText("The Call Control application's id")
        self.from_number = QLineEdit(settings.telnyx_from_number)
        self.from_number.setPlaceholderText("+15551230000 (a number on the account)")
        self.supervisor_phone = QLineEdit(settings.supervisor_phone)
        self.supervisor_phone.setPlaceholderText("+15557654321 or sip:me@example.sip.telnyx.com")

        tabs = QTabWidget()
        for title, rows in (
            ("Stream server", [("Bind address", self.host), ("Port", self.port),
                               ("Stream token", token_row), ("", self.no_auth),
                               ("Public URL", self.public_url),
                               ("Twilio auth token", self.twilio_token),
                               ("Agent numbers / SIP URIs", self.agents)]),
            ("Calls", [("Data folder", data_row), ("", self.record),
                       ("Keep calls", self.retention)]),
            ("Alerts and privacy", [("Long silence after", self.silence),
                                    ("Overtalk after", self.overtalk),
                                    ("Customer sentiment below", self.sentiment),
                                    ("Alert rules file", self.alerts_file),
                                    ("Scorecard checklist", self.scorecard_file),
                                    ("", self.alert_sound),
                                    ("Shift ends at", self.shift_end),
                                    ("", self.redaction)]),
            ("Audio and speech", [("Speakers", self.output), ("Microphone", self.input),
                                  ("", self.audio_note), ("Listening", self.channels),
                                  ("Microphone noise gate", self.gate),
                                  ("Telnyx whisper reaches", self.target_legs),
                                  ("Telnyx return codec", self.bidi_codec),
                                  ("Telnyx return rate", self.bidi_rate),
                                  ("Telnyx return mode", self.bidi_mode),
                                  ("Speech recognition", self.stt),
                                  ("Other languages", self.translate),
                                  ("Speech model folder", self.model_path),
                                  ("Voice detection", self.vad),
                                  ("Theme", self.theme)]),
            ("Team", [("Your name", self.supervisor), ("Team bus", self.bus_url),
                      ("Bus user", self.bus_user), ("Bus password", self.bus_password),
                      ("Bus token", self.bus_token), ("Bus CA certificate", self.bus_ca),
                      ("Team name", self.team)]),
            ("Telnyx", [("API key", self.telnyx_key),
                        ("Webhook public key", self.telnyx_public_key),
                        ("Webhook port", self.webhook_port),
                        ("Start streams on", self.stream_on_answer),
                        ("Call Control application id", self.connection_id),
                        ("Caller id for your phone", self.from_number),
                        ("Your phone", self.supervisor_phone)]),
        ):
            page = QWidget()
            form = QFormLayout(page)
            for label, field in rows:
                form.addRow(label, field)
            tabs.addTab(page, title)

        self.error = QLabel("")
        self.error.setStyleSheet("color: #f85149;")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data folder", self.data_dir.text())
        if folder:
            self.data_dir.setText(folder)

    def collect(self) -> Settings:
        """The settings as entered; ConfigError says what is wrong."""
        def device(combo: QComboBox) -> str:
            text = combo.currentText()
            return "" if text == DEFAULT_DEVICE else text.removesuffix(" (not connected)")

        s = replace(
            self.original,
            host=self.host.text().strip(),
            port=self.port.value(),
            token=self.token.text().strip(),
            no_auth=self.no_auth.isChecked(),
            public_url=self.public_url.text().strip(),
            twilio_auth_token=self.twilio_token.text().strip(),
            agent_endpoints=[p.strip() for p in self.agents.text().split(",") if p.strip()],
            data_dir=self.data_dir.text().strip(),
            record=self.record.isChecked(),
            retention_days=self.retention.value(),
            output_device=device(self.output),
            input_device=device(self.input),
            listen_channels=str(self.channels.currentData()),
            mic_gate_db=self.gate.value(),
            telnyx_target_legs=str(self.target_legs.currentData()),
            telnyx_bidirectional_codec=self.bidi_codec.currentText(),
            telnyx_bidirectional_rate=int(self.bidi_rate.currentData()),
            telnyx_bidirectional_mode=str(self.bidi_mode.currentData()),
            stt_engine=str(self.stt.currentData()),
            stt_model_path=self.model_path.text().strip(),
            translate=str(self.translate.currentData()),
            vad_engine=str(self.vad.currentData()),
            alert_silence_s=self.silence.value(),
            alert_overtalk_s=self.overtalk.value(),
            alert_sentiment_below=self.sentiment.value(),
            alerts_file=self.alerts_file.text().strip(),
            scorecard_file=self.scorecard_file.text().strip(),
            alert_sound=self.alert_sound.isChecked(),
            shift_end=self.shift_end.text().strip(),
            redaction=self.redaction.isChecked(),
            theme=self.theme.currentText(),
            supervisor_name=self.supervisor.text().strip(),
            bus_url=self.bus_url.text().strip(),
            bus_user=self.bus_user.text().strip(),
            bus_password=self.bus_password.text(),
            bus_token=self.bus_token.text().strip(),
            bus_tls_ca=self.bus_ca.text().strip(),
            team=self.team.text().strip() or "team",
            telnyx_api_key=self.telnyx_key.text().strip(),
            telnyx_public_key=self.telnyx_public_key.text().strip(),
            webhook_port=self.webhook_port.value(),
            stream_on_answer=str(self.stream_on_answer.currentData()),
            telnyx_connection_id=self.connection_id.text().strip(),
            telnyx_from_number=self.from_number.text().strip(),
            supervisor_phone=self.supervisor_phone.text().strip(),
        )
        if not s.no_auth and not s.token:
            raise ConfigError("the stream token is empty: regenerate one, or accept streams "
                              "without a token")
        return s.validate()

    def accept(self) -> None:
        try:
            self.result_settings = self.collect()
        except ConfigError as exc:
            self.error.setText(str(exc))
            return
        super().accept()
