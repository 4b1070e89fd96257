"""Pruning old calls (and their recordings) when a retention period is set."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from console.store.recording import track_paths

__all__ = ["prune"]


def prune(conn: sqlite3.Connection, data_dir: Path, days: int, now: float | None = None) -> int:
    """Delete calls that ended more than `days` ago; 0 days keeps everything. Returns how
    many calls went."""
    if days <= 0:
        return 0
    cutoff = (time.time() if now is None else now) - days * 86400
    old = [r[0] for r in conn.execute(
        "SELECT id FROM calls WHERE state != 'active' AND COALESCE(ended_at, started_at) < ?",
        (cutoff,))]
    for call_id in old:
        # The recordings folder is named from the call id, as the writer made it.
        folder = data_dir / Path(track_paths(call_id, "x")).parent
        with conn:
            conn.execute("DELETE FROM calls WHERE id = ?", (call_id,))
        shutil.rmtree(folder, ignore_errors=True)
    return len(old)
