"""Settings: defaults < file < environment < flags, validated with clear messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.config import ConfigError, Settings, config_path, load, save


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('port = 9000\nhost = "0.0.0.0"\ntoken = "from-file"\n'
                    'agent_endpoints = ["sip:*@agents.example"]\nunknown_key = 1\n')
    s = load(path)
    assert (s.port, s.host, s.token) == (9000, "0.0.0.0", "from-file")
    assert s.agent_endpoints == ["sip:*@agents.example"]
    monkeypatch.setenv("COACH_CONSOLE_PORT", "9100")
    monkeypatch.setenv("COACH_CONSOLE_RECORD", "yes")
    s = load(path)
    assert s.port == 9100 and s.record is True
    s = load(path, {"port": 9200, "token": None})
    assert s.port == 9200 and s.token == "from-file"  # None means "flag not given"


def test_first_run_creates_a_private_token(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    first = load(path)
    assert len(first.token) >= 24
    assert load(path).token == first.token
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 70000", "outside 0-65535"),
        ('port = "eighty"', "not a valid int"),
        ('l16_byte_order = "middle"', "big, little or auto"),
        ('public_url = "https://x.example/a"', "wss://host/path"),
        ('public_url = "wss://x.example/a?k=v"', "query string"),
        ("idle_timeout_s = 0", "must be positive"),
        ('vad_engine = "energy"', "vad_engine must be one of webrtc, silero"),
        ("stt_workers = 0", "stt_workers must be 1-8"),
        ("port = [", "cannot read config"),
    ],
)
def test_invalid_settings_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_save_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    s = Settings(port=9999, token="abc", agent_endpoints=["+1555*"], record=True)
    save(s, path)
    again = load(path)
    assert (again.port, again.token, again.agent_endpoints, again.record) == (
        9999, "abc", ["+1555*"], True)


def test_config_path_follows_the_environment() -> None:
    assert config_path() == Path(os.environ["COACH_CONSOLE_CONFIG"])
