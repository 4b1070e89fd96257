"""Shared fixtures: every test gets its own config file and data dir; engines run for real on
an ephemeral port of this machine."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config: pytest.Config) -> None:
    # The virtual sound card must exist before anything loads PortAudio (see tests/sound.py).
    import sound

    sound.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    import sound

    sound.stop()


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COACH_CONSOLE_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    # Most tests need no speech workers (each takes a second or two to load its model);
    # the transcription tests turn them on explicitly.
    monkeypatch.setenv("COACH_CONSOLE_TRANSCRIBE", "0")
    for key in list(os.environ):
        if key.startswith("COACH_CONSOLE_") and key not in ("COACH_CONSOLE_CONFIG",
                                                            "COACH_CONSOLE_TRANSCRIBE"):
            monkeypatch.delenv(key)
    yield


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    from console.config import Settings

    return Settings(host="127.0.0.1", port=0, data_dir=str(tmp_path / "data"),
                    token="test-token", record=True, idle_timeout_s=30.0,
                    transcribe=False).validate()


@pytest.fixture
def python() -> str:
    return sys.executable
