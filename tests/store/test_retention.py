"""Retention: calls (and their recordings) older than the set number of days are pruned."""

from __future__ import annotations

import time
from pathlib import Path

from store_helpers import make_call

from console.store.db import connect, db_path
from console.store.recording import track_paths
from console.store.retention import prune
from console.store.writer import StoreWriter


def test_prune_old_calls_and_their_audio(tmp_path: Path) -> None:
    now = time.time()
    make_call(tmp_path, "old", started=now - 40 * 86400, ended=now - 40 * 86400 + 60)
    make_call(tmp_path, "recent", started=now - 2 * 86400, ended=now - 2 * 86400 + 60)
    make_call(tmp_path, "live", started=now - 90 * 86400, ended=None)
    audio = tmp_path / track_paths("old", "old-s/inbound")
    audio.parent.mkdir(parents=True)
    audio.with_suffix(".pcm").write_bytes(b"\0" * 100)
    conn = connect(db_path(tmp_path))
    indexed = "SELECT COUNT(*) FROM segments_fts WHERE segments_fts MATCH 'Harbor'"
    assert conn.execute(indexed).fetchone()[0] == 3
    assert prune(conn, tmp_path, 0) == 0  # 0 keeps everything
    assert prune(conn, tmp_path, 30) == 1
    ids = {r[0] for r in conn.execute("SELECT id FROM calls")}
    assert ids == {"recent", "live"}  # a call still live is never pruned
    assert not audio.parent.exists()
    assert conn.execute("SELECT COUNT(*) FROM segments WHERE call_id='old'").fetchone()[0] == 0
    assert conn.execute(indexed).fetchone()[0] == 2  # the index forgot the pruned call


def test_writer_prunes_on_start(tmp_path: Path) -> None:
    now = time.time()
    make_call(tmp_path, "old", started=now - 400 * 86400, ended=now - 400 * 86400 + 5)
    w = StoreWriter(tmp_path, retention_days=365)
    w.flush()
    deadline = time.monotonic() + 5
    while w.pruned == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    w.close()
    assert w.pruned == 1
