"""The config file holds the stream token: it is 0600 from the moment it exists."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from console.config import Settings, load, save

# Audit hooks cannot be removed: this one only looks while `_watching` names a folder.
_watching: list[Path] = []
_seen: list[tuple[str, str, int, int]] = []  # (event, file, mode, size)


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Every audited step of the save (open, chmod, rename...) looks at the files already
    # in the folder: a token readable by others at any step is caught, however short.
    if not _watching or not event.startswith(("open", "os.")):
        return
    folder = _watching[0]
    _watching.clear()  # os.scandir below is audited too: no recursion
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                st = entry.stat()
                _seen.append((event, entry.name, stat.S_IMODE(st.st_mode), st.st_size))
    except OSError:
        pass
    finally:
        _watching.append(folder)


sys.addaudithook(_audit)


@pytest.fixture
def umask_zero():  # type: ignore[no-untyped-def]
    # The worst umask a user may have: nothing is taken away from what files are created with.
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_config_file_is_never_readable_by_others(tmp_path: Path, umask_zero: None) -> None:
    folder = tmp_path / "config"
    path = folder / "config.toml"
    _seen.clear()
    folder.mkdir()
    _watching.append(folder)
    try:
        save(Settings(token="s3cret-token-value", port=9100), path)
        save(Settings(token="s3cret-token-value", port=9101), path)  # over an existing file
    finally:
        _watching.clear()
    written = [s for s in _seen if s[3] > 0]  # files holding something
    assert written, _seen  # the hook did see the save at work
    assert all(mode & 0o077 == 0 for _, _, mode, _ in _seen), _seen
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml"]  # no temp file left
    assert load(path).port == 9101


def test_first_run_creates_private_folder_and_file(tmp_path: Path, umask_zero: None) -> None:
    path = tmp_path / "fresh" / "coach-console" / "config.toml"
    token = load(path).token  # the first run writes a random token
    assert len(token) >= 24 and token in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
