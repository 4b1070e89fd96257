"""The SQLite file: schema, migrations, connections."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from console.store.files import create_private_file, private_dir, tighten

__all__ = ["DB_NAME", "SCHEMA_VERSION", "connect", "db_path", "migrate"]

DB_NAME = "coach-console.db"

# Each entry moves the schema from version i to i+1. Never edit a shipped entry: append.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        from_number TEXT,
        to_number TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        state TEXT NOT NULL DEFAULT 'active',
        recorded INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX calls_started ON calls(started_at DESC);
    CREATE TABLE streams (
        uid TEXT PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        stream_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        encoding TEXT NOT NULL,
        raw_encoding TEXT,
        sample_rate INTEGER NOT NULL,
        tracks TEXT NOT NULL DEFAULT '[]',
        leg TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '{}',
        custom_parameters TEXT NOT NULL DEFAULT '{}',
        call_control_id TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        end_reason TEXT,
        frames INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        audio_s REAL NOT NULL DEFAULT 0,
        codec_error TEXT
    );
    CREATE INDEX streams_call ON streams(call_id);
    CREATE TABLE tracks (
        key TEXT PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        stream_uid TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        sample_rate INTEGER NOT NULL,
        opened_at REAL NOT NULL,
        recording TEXT
    );
    CREATE INDEX tracks_call ON tracks(call_id);
    CREATE TABLE dtmf (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        stream_uid TEXT NOT NULL,
        digit TEXT NOT NULL,
        at_s REAL NOT NULL,
        occurred_at TEXT,
        track TEXT
    );
    CREATE INDEX dtmf_call ON dtmf(call_id);
    CREATE TABLE problems (
        id INTEGER PRIMARY KEY,
        call_id TEXT REFERENCES calls(id) ON DELETE CASCADE,
        stream_uid TEXT,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX problems_call ON problems(call_id);
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        speaker TEXT NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        text TEXT NOT NULL,
        sentiment REAL
    );
    CREATE INDEX segments_call ON segments(call_id, start_s);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        rule TEXT NOT NULL,
        speaker TEXT,
        at_s REAL NOT NULL,
        text TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX alerts_call ON alerts(call_id);
    """,
    # 2: sentiment samples, the supervisor's audit trail, full-text search over transcripts.
    """
    CREATE TABLE sentiment (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        speaker TEXT NOT NULL,
        at_s REAL NOT NULL,
        score REAL NOT NULL
    );
    CREATE INDEX sentiment_call ON sentiment(call_id, at_s);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        call_id TEXT REFERENCES calls(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_call ON audit(call_id, at);
    CREATE VIRTUAL TABLE segments_fts USING fts5(
        text, content='segments', content_rowid='id', tokenize='unicode61'
    );
    INSERT INTO segments_fts(rowid, text) SELECT id, text FROM segments;
    CREATE TRIGGER segments_ai AFTER INSERT ON segments BEGIN
        INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER segments_ad AFTER DELETE ON segments BEGIN
        INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER segments_au AFTER UPDATE ON segments BEGIN
        INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
    END;
    """,
    # 3: conversation metrics per call.
    """
    CREATE TABLE metrics (
        call_id TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
        customer_talk_s REAL NOT NULL,
        agent_talk_s REAL NOT NULL,
        talk_ratio REAL,
        longest_silence_s REAL NOT NULL,
        overtalk_count INTEGER NOT NULL,
        overtalk_s REAL NOT NULL
    );
    """,
    # 4: each final segment keeps its id, so a segment published again under the same id
    # (redaction correcting text it already stored) is updated in place, never stored twice.
    # Rows from before keep NULL, and NULLs never collide in a UNIQUE index.
    """
    ALTER TABLE segments ADD COLUMN segment_id TEXT;
    CREATE UNIQUE INDEX segments_segment ON segments(call_id, segment_id);
    """,
    # 5: team mode: the ingest node that held each call, and who did each supervisor action.
    """
    ALTER TABLE calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN supervisor TEXT NOT NULL DEFAULT '';
    """,
    # 6: what each call is about, and how clearly (updated as the call goes on); each
    #    segment's sentiment class and its confidence; what a speaker of another language
    #    said, and the language (the text is then its English).
    """
    ALTER TABLE calls ADD COLUMN topic TEXT NOT NULL DEFAULT '';
    ALTER TABLE calls ADD COLUMN topic_confidence REAL;
    ALTER TABLE segments ADD COLUMN sentiment_label TEXT;
    ALTER TABLE segments ADD COLUMN sentiment_confidence REAL;
    ALTER TABLE segments ADD COLUMN original_text TEXT;
    ALTER TABLE segments ADD COLUMN language TEXT;
    """,
    # Supervisors' notes (a moment in the call and words, searchable like the transcript)
    # and bookmarks (one supervisor's mark on one transcript line: speaker and start in
    # whole milliseconds; the line's text is read from segments, never copied). See
    # console/store/notes.py.
    """
    CREATE TABLE notes (
        id INTEGER PRIMARY KEY,
        note_id TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        at_s REAL NOT NULL,
        text TEXT NOT NULL,
        supervisor TEXT NOT NULL DEFAULT '',
        written_at REAL NOT NULL,
        edited_at REAL
    );
    CREATE INDEX notes_call ON notes(call_id, at_s);
    CREATE TABLE bookmarks (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        speaker TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        supervisor TEXT NOT NULL DEFAULT '',
        marked_at REAL NOT NULL,
        UNIQUE (call_id, speaker, start_ms, supervisor)
    );
    CREATE VIRTUAL TABLE notes_fts USING fts5(
        text, content='notes', content_rowid='id', tokenize='unicode61'
    );
    CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
        INSERT INTO notes_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
        INSERT INTO notes_fts(notes_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN
        INSERT INTO notes_fts(notes_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO notes_fts(rowid, text) VALUES (new.id, new.text);
    END;
    """,
    # Scorecards: per call, the checklist filled by meaning (each item's automatic verdict
    # and the line that met it, or the nearest) and the supervisor's review of each item
    # (their verdict, who, when). See console/store/scorecards.py.
    """
    CREATE TABLE scorecards (
        call_id TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
        checklist TEXT NOT NULL,
        scored_at REAL NOT NULL
    );
    CREATE TABLE scorecard_items (
        call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        item TEXT NOT NULL,
        position INTEGER NOT NULL,
        label TEXT NOT NULL,
        weight REAL NOT NULL,
        required INTEGER NOT NULL DEFAULT 0,
        auto_passed INTEGER NOT NULL,
        similarity REAL,
        evidence_segment TEXT,
        evidence_speaker TEXT,
        evidence_at_s REAL,
        evidence_text TEXT,
        reviewed_passed INTEGER,
        reviewed_by TEXT NOT NULL DEFAULT '',
        reviewed_at REAL,
        PRIMARY KEY (call_id, item)
    );
    """,
    # An alert's severity as raised (the Agents view counts criticals by it; older rows keep
    # NULL and are judged by their rule), and the customer's lines found without a scan of
    # every line of the day (the Agents view's mood).
    """
    ALTER TABLE alerts ADD COLUMN severity TEXT;
    CREATE INDEX segments_speaker ON segments(call_id, speaker, sentiment);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / DB_NAME


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"no call database at {path}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0,
                               check_same_thread=False)
    else:
        private_dir(path.parent)
        # SQLite creates the WAL and SHM files with the database file's mode: a database made
        # 0600 here keeps all three private from the start.
        if not create_private_file(path):
            for part in ("", "-wal", "-shm"):
                tighten(path.with_name(path.name + part))
        conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Deleted and replaced content (redaction's corrections, pruned calls) is zeroed in
        # the file instead of lingering in free space.
        conn.execute("PRAGMA secure_delete=ON")
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    if not readonly:
        migrate(conn)
    else:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{path} was written by a newer Coach Console "
                               f"(schema {version}, this one knows {SCHEMA_VERSION})")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {version} is newer than this Coach Console "
                           f"({SCHEMA_VERSION}); upgrade the app")
    for target in range(version, SCHEMA_VERSION):
        with conn:
            conn.executescript("BEGIN;" + MIGRATIONS[target]
                               + f";PRAGMA user_version={target + 1};COMMIT;")
    return SCHEMA_VERSION
