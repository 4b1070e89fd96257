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


def test_v3_segments_gain_their_id_and_republished_segments_update_in_place(
        tmp_path: Path) -> None:
    from console.core.events import CallStarted, Provider, Role, TranscriptSegment
    from console.store.writer import StoreWriter

    old = sqlite3.connect(tmp_path / "coach-console.db")
    for i in range(3):
        old.executescript(MIGRATIONS[i] + f";PRAGMA user_version={i + 1};")
    old.execute("INSERT INTO calls (id, provider, started_at, state) VALUES "
                "('c1', 'telnyx', 1.0, 'active')")
    for text in ("stored before the upgrade", "also before"):
        old.execute("INSERT INTO segments (call_id, speaker, start_s, end_s, text) VALUES "
                    "('c1', 'customer', 0, 1, ?)", (text,))
    old.commit()
    old.close()
    w = StoreWriter(tmp_path)
    w.on_event(CallStarted("c1", Provider.TELNYX, None, None, 1.0))
    for text in ("card 4539 1488", "card [redacted]"):  # the same segment, published twice
        w.on_event(TranscriptSegment("c1", "c1/in#7", Role.CUSTOMER, 2, 3, text, True))
    assert w.flush()
    w.close()
    conn = connect(tmp_path / "coach-console.db")
    rows = [tuple(r) for r in conn.execute("SELECT segment_id, text FROM segments ORDER BY id")]
    assert rows == [(None, "stored before the upgrade"), (None, "also before"),
                    ("c1/in#7", "card [redacted]")]
    assert search_segments(conn, "4539") == []
