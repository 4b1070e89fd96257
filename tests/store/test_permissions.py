"""Call data is private: the data folder and recordings folders 0700, the database with its
WAL and SHM, the recordings and the engine's lock file 0600, under the usual umask 022."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import running_engine

from console.core.events import (
    CallStarted,
    MediaFormat,
    Provider,
    Role,
    StreamOpened,
    TrackName,
    TrackOpened,
)
from console.store.db import connect, db_path
from console.store.recording import track_paths
from console.store.writer import StoreWriter


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)  # what most desktops use: without care, files come out 0644
    try:
        yield
    finally:
        os.umask(old)


def test_store_files_are_private_from_creation(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    w = StoreWriter(data, record=True)
    w.on_event(CallStarted("c", Provider.TELNYX, None, None, 1.0))
    w.on_event(StreamOpened("c", "c-s", Provider.TELNYX, MediaFormat("PCMU", 8000),
                            (TrackName.INBOUND,), {}, "customer", {}, None, 1.0))
    w.on_event(TrackOpened("c", "c-s", "c-s/inbound", TrackName.INBOUND, Role.CUSTOMER, 8000,
                           1.0))
    w.frames("c-s/inbound", [1], [0], 0, [160], np.zeros(160, np.int16))
    assert w.flush()
    db = db_path(data)
    base = data / track_paths("c", "c-s/inbound")
    folders = [data, data / "recordings", base.parent]
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), base.with_suffix(".pcm"),
             base.with_suffix(".idx")]
    assert all(f.exists() for f in files)  # WAL and SHM live while the writer is open
    assert {str(p): oct(_mode(p)) for p in folders} == {str(p): "0o700" for p in folders}
    assert {str(p): oct(_mode(p)) for p in files} == {str(p): "0o600" for p in files}
    w.close()


def test_an_older_world_readable_database_is_made_private(tmp_path: Path,
                                                           umask_022: None) -> None:
    db = tmp_path / "coach-console.db"
    connect(db).close()
    db.chmod(0o644)  # as earlier versions left it
    connect(db).close()
    assert _mode(db) == 0o600


async def test_engine_data_folder_and_lock_are_private(settings, umask_022: None) -> None:  # type: ignore[no-untyped-def]
    data = settings.data_path()
    assert not data.exists()
    async with running_engine(settings):
        assert _mode(data) == 0o700
        assert _mode(data / "engine.lock") == 0o600
        assert _mode(db_path(data)) == 0o600
