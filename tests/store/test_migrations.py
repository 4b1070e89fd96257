"""Schema migrations: an older database is brought up to date with its data intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from console.store.db import MIGRATIONS, SCHEMA_VERSION, connect
from console.store.queries import search_segments


def test_v1_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0] + ";PRAGMA user_version=1;")
    old.execute("INSERT INTO calls (id, provider, started_at, state) VALUES "
                "('c1', 'telnyx', 1.0, 'ended')")
    old.execute("INSERT INTO segments (call_id, speaker, start_s, end_s, text) VALUES "
                "('c1', 'customer', 0, 1, 'please cancel my subscription')")
    old.commit()
    old.close()
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
    # Segments written before full-text search existed are searchable after the upgrade.
    assert search_segments(conn, "subscription")[0]["call_id"] == "c1"
    conn.execute("INSERT INTO audit (call_id, at, action) VALUES ('c1', 2.0, 'listen')")
    conn.commit()


def test_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    c.close()
    with pytest.raises(RuntimeError, match="newer"):
        connect(path)
    with pytest.raises(RuntimeError, match="newer"):
        connect(path, readonly=True)
