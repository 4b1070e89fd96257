"""Settings: defaults < config file < environment < command-line flags, validated."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomli_w

from console.core.reach import BIDI_CODECS, BIDI_RATES, TARGET_LEGS

VAD_ENGINES = ("webrtc", "silero")  # voice detectors (console.analysis.vad)

__all__ = ["ConfigError", "Settings", "config_path", "default_data_dir", "load", "save"]

APP_DIR = "coach-console"
ENV_PREFIX = "COACH_CONSOLE_"


class ConfigError(ValueError):
    pass


def config_path() -> Path:
    override = os.environ.get(ENV_PREFIX + "CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_DIR)) / "config.toml"


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_DIR))


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: str = ""
    token: str = ""
    no_auth: bool = False
    public_url: str = ""  # the wss:// URL providers are given; Twilio signs exactly this
    twilio_auth_token: str = ""
    record: bool = False
    retention_days: int = 0  # 0 keeps calls forever
    max_streams: int = 400  # started streams; sockets not started yet count apart
    max_pending: int = 1000  # sockets waiting for their start frame (oldest closed beyond)
    max_message_bytes: int = 256 * 1024  # larger frames are refused but the stream goes on
    hard_max_message_bytes: int = 4 * 1024 * 1024  # beyond this the socket is closed
    idle_timeout_s: float = 60.0
    handshake_timeout_s: float = 10.0
    start_timeout_s: float = 10.0  # a socket that sends no start frame by then is closed
    ping_interval_s: float = 20.0
    jitter_frames: int = 3
    l16_byte_order: str = "auto"  # big, little or auto
    agent_endpoints: list[str] = field(default_factory=list)
    output_device: str = ""
    input_device: str = ""
    listen_channels: str = "mix"  # mix: both speakers in both ears; split: customer left
    listen_volume: float = 1.0
    mic_gate_db: float = -50.0  # quieter microphone frames are not sent while whispering
    # Where Telnyx plays audio sent back when a stream's parameters do not say (Telnyx's
    # own default is "opposite"), and the bidirectional codec it was asked for.
    telnyx_target_legs: str = "opposite"
    telnyx_bidirectional_codec: str = "PCMU"
    telnyx_bidirectional_rate: int = 8000
    # rtp: live audio back (whisper, barge); mp3: Telnyx's MP3 mode, recordings only
    telnyx_bidirectional_mode: str = "rtp"
    stt_engine: str = "faster-whisper:tiny.en"
    stt_model_path: str = ""  # a faster-whisper model folder; empty: find one installed
    transcribe: bool = True
    stt_workers: int = 2  # speech recognition processes
    vad_engine: str = "webrtc"  # voice detector: webrtc (light) or silero (steady in noise)
    redaction: bool = True  # card numbers, SSNs, digit runs: never stored when on
    alerts_file: str = ""  # TOML with [[alerts.rules]] (phrases, regex, examples, speaker...)
    topics_file: str = ""  # TOML with [[topics]] (name, examples): replaces the default list
    # TOML checklist ([[items]] name, label, examples, weight, required...) calls are scored
    # against when they end; empty: resources/scorecards/default.toml. Needs `meaning`.
    scorecard_file: str = ""
    meaning: bool = True  # intent alerts and call topics from sentence embeddings
    # "en": speakers of other languages are transcribed and translated into English live
    # (Whisper base, multilingual); empty: off
    translate: str = ""
    alert_silence_s: float = 12.0
    alert_overtalk_s: float = 2.0
    alert_sentiment_below: float = -0.5
    alert_sound: bool = False  # a short tone for each critical alert nobody snoozed
    shift_end: str = ""  # "HH:MM", local: when a snooze "until end of shift" ends
    theme: str = "dark"
    supervisor_name: str = ""  # in every audit entry; empty: this computer's user name
    # Serving wss:// directly (a node at a public address): PEM certificate chain and key.
    tls_cert: str = ""
    tls_key: str = ""
    # Team mode (console.team): empty bus_url is the one-laptop console.
    bus_url: str = ""  # nats://[user:password@ | token@]host:port, or tls://...
    bus_user: str = ""
    bus_password: str = ""
    bus_token: str = ""
    bus_creds: str = ""  # a NATS .creds file (JWT + seed), for an operator-run bus
    bus_tls_ca: str = ""  # CA that signed the bus's certificate, when not a public one
    bus_tls_cert: str = ""  # client certificate and key, when the bus asks for one
    bus_tls_key: str = ""
    team: str = "team"
    node_name: str = ""  # this ingest node's name on tiles; empty: the host name
    # Telnyx Call Control (console.callcontrol), all optional: webhooks that start streams,
    # and the supervisor's own phone as a native supervisor leg.
    telnyx_api_key: str = ""
    telnyx_public_key: str = ""  # the account's webhook key (base64 Ed25519), for signatures
    telnyx_api_url: str = "https://api.telnyx.com/v2"
    telnyx_connection_id: str = ""  # the Call Control application supervisor legs use
    telnyx_from_number: str = ""  # caller id on the supervisor's phone
    supervisor_phone: str = ""  # number (+E.164) or sip: URI that rings for a phone leg
    webhook_port: int = 8766  # webhooks are served here when the public key is set
    webhook_path: str = "/telnyx/webhook"
    stream_on_answer: str = "incoming"  # answered legs that get a stream: incoming, all, off

    def supervisor(self) -> str:
        if self.supervisor_name.strip():
            return self.supervisor_name.strip()
        import getpass

        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "supervisor"

    def node(self) -> str:
        if self.node_name:
            return self.node_name
        import re
        import socket

        return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64].strip("-") or "node"

    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    def validate(self) -> Settings:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is outside 0-65535")
        if not self.host.strip():
            raise ConfigError("bind address (host) is empty")
        if self.l16_byte_order not in ("big", "little", "auto"):
            raise ConfigError(f"l16_byte_order must be big, little or auto, "
                              f"not {self.l16_byte_order!r}")
        if self.public_url:
            url = urlparse(self.public_url)
            if url.scheme not in ("ws", "wss") or not url.netloc:
                raise ConfigError(f"public URL {self.public_url!r} must look like "
                                  "wss://host/path")
            if url.query:
                raise ConfigError("public URL must not contain a query string "
                                  "(Twilio refuses stream URLs with one)")
        for name in ("max_streams", "max_pending", "max_message_bytes",
                     "hard_max_message_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.max_message_bytes > self.hard_max_message_bytes:
            self.hard_max_message_bytes = self.max_message_bytes
        for name in ("idle_timeout_s", "handshake_timeout_s", "start_timeout_s",
                     "ping_interval_s"):
            if not getattr(self, name) > 0:  # NaN too: it would make every deadline pass
                raise ConfigError(f"{name} must be positive")
        if not -1.0 <= self.alert_sentiment_below <= 1.0:
            raise ConfigError("alert_sentiment_below must be between -1 and 1")
        if self.alert_silence_s <= 0 or self.alert_overtalk_s <= 0:
            raise ConfigError("alert silence and overtalk times must be positive")
        if self.retention_days < 0:
            raise ConfigError("retention_days cannot be negative")
        self.shift_end = self.shift_end.strip()
        if self.shift_end and not _clock_time(self.shift_end):
            raise ConfigError(f"shift_end must be a time of day like 18:00, "
                              f"not {self.shift_end!r}")
        if self.listen_channels not in ("mix", "split"):
            raise ConfigError("listen_channels must be mix or split")
        if not 0.0 <= self.listen_volume <= 2.0:
            raise ConfigError("listen_volume must be between 0 and 2")
        if not -100.0 <= self.mic_gate_db <= 0.0:
            raise ConfigError("mic_gate_db must be between -100 and 0 dBFS")
        if self.telnyx_target_legs not in TARGET_LEGS:
            raise ConfigError(f"telnyx_target_legs must be one of {', '.join(TARGET_LEGS)}")
        self.telnyx_bidirectional_codec = self.telnyx_bidirectional_codec.upper()
        if self.telnyx_bidirectional_codec not in BIDI_CODECS:
            raise ConfigError("telnyx_bidirectional_codec must be one of "
                              + ", ".join(BIDI_CODECS))
        if self.telnyx_bidirectional_rate not in BIDI_RATES:
            raise ConfigError("telnyx_bidirectional_rate must be one of "
                              + ", ".join(map(str, BIDI_RATES)))
        if self.telnyx_bidirectional_mode not in ("rtp", "mp3"):
            raise ConfigError("telnyx_bidirectional_mode must be rtp or mp3")
        self.translate = self.translate.strip().lower()
        if self.translate not in ("", "en", "off"):
            raise ConfigError("translate must be en (into English) or empty (off)")
        if self.translate == "off":
            self.translate = ""
        if self.vad_engine not in VAD_ENGINES:
            raise ConfigError(f"vad_engine must be one of {', '.join(VAD_ENGINES)}")
        if not 1 <= self.stt_workers <= 8:
            raise ConfigError("stt_workers must be 1-8")
        if not 0 <= self.jitter_frames <= 50:
            raise ConfigError("jitter_frames must be 0-50")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("give both tls_cert and tls_key (PEM files) to serve wss://")
        if len(self.supervisor_name) > 64:
            raise ConfigError("supervisor_name: at most 64 characters")
        self._validate_call_control()
        if self.bus_url:
            url = urlparse(self.bus_url)
            if url.scheme not in ("nats", "tls") or not url.hostname:
                raise ConfigError(f"bus URL must look like nats://user:password@host:4222 "
                                  f"or tls://..., not {_masked(self.bus_url)!r}")
        from console.team.subjects import check_name

        try:
            check_name("team", self.team)
            if self.node_name:
                check_name("node", self.node_name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return self


    def _validate_call_control(self) -> None:
        if not 0 <= self.webhook_port <= 65535:
            raise ConfigError(f"webhook_port {self.webhook_port} is outside 0-65535")
        if not self.webhook_path.startswith("/") or len(self.webhook_path) > 200 or any(
                c in self.webhook_path for c in " ?#"):
            raise ConfigError("webhook_path must be a path like /telnyx/webhook")
        if self.stream_on_answer not in ("incoming", "all", "off"):
            raise ConfigError("stream_on_answer must be incoming, all or off")
        url = urlparse(self.telnyx_api_url)
        if url.scheme not in ("https", "http") or not url.netloc:
            raise ConfigError(f"telnyx_api_url must look like https://api.telnyx.com/v2, "
                              f"not {self.telnyx_api_url!r}")
        if self.telnyx_public_key:
            from console.callcontrol.signature import load_public_key

            try:
                load_public_key(self.telnyx_public_key)
            except ValueError as exc:
                raise ConfigError(f"telnyx_public_key: {exc}") from None
        for name in ("telnyx_api_key", "telnyx_connection_id", "telnyx_from_number",
                     "supervisor_phone"):
            if len(getattr(self, name)) > 512:
                raise ConfigError(f"{name}: at most 512 characters")


def _clock_time(text: str) -> bool:
    hours, _, minutes = text.partition(":")
    return (hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and int(hours) < 24 and int(minutes) < 60)


def _masked(url: str) -> str:
    parsed = urlparse(url)
    if parsed.username or parsed.password:
        return url.replace(parsed.netloc, "***@" + parsed.netloc.rsplit("@", 1)[-1])
    return url


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings(), name)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, list):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: {value!r} is not a valid "
                          f"{type(default).__name__}") from None


def load(path: Path | None = None, overrides: dict[str, Any] | None = None,
         create_token: bool = True, environment: bool = True) -> Settings:
    """Settings from the file, then COACH_CONSOLE_* variables (unless `environment` is
    false: what the file alone says), then `overrides` (flags).

    The first run writes a random stream token into the file so it stays the same."""
    path = path or config_path()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        for key, value in raw.items():
            if key in _FIELDS:
                values[key] = _coerce(key, value)
    if create_token and not values.get("token"):
        values["token"] = secrets.token_urlsafe(24)
        # A read-only config dir still runs, with a token for this run only.
        with contextlib.suppress(OSError):
            save(Settings(**values), path)
    for name in _FIELDS if environment else ():
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = _coerce(name, env)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    return Settings(**values).validate()


def save(settings: Settings, path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {k: v for k, v in asdict(settings).items() if v != getattr(Settings(), k)
            or k == "token"}
    # The file holds the stream token: the temporary file is created 0600 (mkstemp), so the
    # token is never readable by others, not even between writing and renaming.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(tomli_w.dumps(data))
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return path
