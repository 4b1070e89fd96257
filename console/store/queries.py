"""Reading calls back out of the store, for the CLI, the UI's history and the exporters."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from console.store.notes import bookmarks_of, counts_of, notes_of, search_notes
from console.store.scorecards import read_scorecard, score_summary

__all__ = ["CallNotFound", "call_detail", "find_call", "fts_query", "iso", "list_calls",
           "search_segments"]

EXPORT_SCHEMA_VERSION = 1
HIT_START, HIT_END = "\x02", "\x03"  # around matched words in search snippets


class CallNotFound(LookupError):
    pass


def label_of(score: float | None) -> str | None:
    """A score's class where no classifier judged the line (the lexicon alone): the same
    cut-off the gauge and history use."""
    if score is None:
        return None
    return "negative" if score <= -0.25 else "positive" if score >= 0.25 else "neutral"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _summary(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    streams = [r["stream_id"] for r in conn.execute(
        "SELECT stream_id FROM streams WHERE call_id = ? ORDER BY started_at, uid", (row["id"],))]
    ended = row["ended_at"]
    return {
        "id": row["id"],
        "node": row["node"],
        "provider": row["provider"],
        "from": row["from_number"],
        "to": row["to_number"],
        "started_at": iso(row["started_at"]),
        "ended_at": iso(ended),
        "state": row["state"],
        "duration_s": round((ended - row["started_at"]), 3) if ended is not None else None,
        "audio_s": conn.execute("SELECT COALESCE(MAX(audio_s), 0) FROM streams "
                                "WHERE call_id = ?", (row["id"],)).fetchone()[0],
        "stream_ids": streams,
        "recorded": bool(row["recorded"]),
        "topic": row["topic"] or None,
        "topic_confidence": row["topic_confidence"],
        "alert_count": conn.execute("SELECT COUNT(*) FROM alerts WHERE call_id = ?",
                                    (row["id"],)).fetchone()[0],
        "sentiment": _sentiment_summary(conn, row["id"]),
        **counts_of(conn, row["id"]),  # note_count, bookmark_count
        "scorecard": score_summary(conn, row["id"]),  # the full one in call_detail
    }


def _sentiment_summary(conn: sqlite3.Connection, call_id: str) -> dict[str, float | None]:
    """Mean sentiment of each speaker's final segments (None when there are none)."""
    out: dict[str, float | None] = {"customer": None, "agent": None}
    for r in conn.execute("SELECT speaker, AVG(sentiment) FROM segments WHERE call_id = ? "
                          "AND sentiment IS NOT NULL GROUP BY speaker", (call_id,)):
        out[r[0]] = round(r[1], 3)
    return out


def fts_query(text: str) -> str:
    """User words to an FTS5 query: every word must appear (as a prefix for the last one,
    so results follow typing); quotes keep punctuation from being read as query syntax."""
    words = [w for w in text.replace('"', " ").split() if w]
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def search_segments(conn: sqlite3.Connection, text: str, limit: int = 200
                    ) -> list[dict[str, Any]]:
    """Final segments matching `text`, best first, with the hit marked in `snippet`."""
    query = fts_query(text)
    if not query:
        return []
    rows = conn.execute(
        "SELECT s.call_id, s.speaker, s.start_s, s.text, "
        f"snippet(segments_fts, 0, '{HIT_START}', '{HIT_END}', '…', 12) AS snippet "
        "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
        "WHERE segments_fts MATCH ? ORDER BY rank LIMIT ?", (query, limit)).fetchall()
    return [dict(r) for r in rows]


def list_calls(conn: sqlite3.Connection, *, since: float | None = None,
               until: float | None = None, limit: int | None = None,
               search: str | None = None) -> list[dict[str, Any]]:
    """Calls, newest first; with `search`, only those whose transcript matches, each with
    its `hits`."""
    sql = "SELECT * FROM calls WHERE 1=1"
    args: list[Any] = []
    hits: dict[str, list[dict[str, Any]]] = {}
    if search is not None:
        for hit in search_segments(conn, search, limit=1000):
            hits.setdefault(hit["call_id"], []).append(hit)
        for hit in search_notes(conn, fts_query(search), HIT_START, HIT_END, limit=1000):
            hits.setdefault(hit["call_id"], []).append(hit)  # found by a supervisor's note
        if not hits:
            return []
        sql += f" AND id IN ({','.join('?' * len(hits))})"
        args += list(hits)
    if since is not None:
        sql += " AND started_at >= ?"
        args.append(since)
    if until is not None:
        sql += " AND started_at < ?"
        args.append(until)
    sql += " ORDER BY started_at DESC, rowid DESC"
    if limit:
        sql += " LIMIT ?"
        args.append(limit)
    out = [_summary(conn, row) for row in conn.execute(sql, args)]
    if search is not None:
        for call in out:
            call["hits"] = [{"speaker": h["speaker"], "start_s": h["start_s"],
                             "text": h["text"], "snippet": h["snippet"]}
                            for h in hits.get(call["id"], [])[:20]]
    return out


def find_call(conn: sqlite3.Connection, ident: str) -> sqlite3.Row:
    """A call by its id, a unique id prefix, or one of its stream ids."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM calls WHERE id = ?",
                                           (ident,)).fetchone()
    if row is not None:
        return row
    rows = conn.execute(
        "SELECT DISTINCT c.* FROM calls c LEFT JOIN streams s ON s.call_id = c.id "
        "WHERE s.stream_id = ? OR c.id LIKE ? ESCAPE '\\'",
        (ident, ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"),
    ).fetchall()
    if len(rows) == 1:
        found: sqlite3.Row = rows[0]
        return found
    if not rows:
        raise CallNotFound(f"no call {ident!r} (see `coach-console calls`)")
    raise CallNotFound(f"{ident!r} matches {len(rows)} calls; give more of the id")


def call_detail(conn: sqlite3.Connection, call_id: str) -> dict[str, Any]:
    """Everything known about one call, as the JSON export writes it."""
    row = find_call(conn, call_id)
    cid = row["id"]
    out = {"schema_version": EXPORT_SCHEMA_VERSION, **_summary(conn, row)}
    seen: dict[str, list[str]] = {}
    for t in conn.execute("SELECT stream_uid, name FROM tracks WHERE call_id = ? ORDER BY name",
                          (cid,)):
        seen.setdefault(t["stream_uid"], []).append(t["name"])
    out["streams"] = [
        {
            "id": s["stream_id"],
            "uid": s["uid"],
            "provider": s["provider"],
            "encoding": s["encoding"],
            "sample_rate": s["sample_rate"],
            # What the start frame announced, else what actually arrived.
            "tracks": json.loads(s["tracks"]) or seen.get(s["uid"], []),
            "leg": s["leg"],
            "roles": json.loads(s["roles"]),
            "custom_parameters": json.loads(s["custom_parameters"]),
            "call_control_id": s["call_control_id"],
            "started_at": iso(s["started_at"]),
            "ended_at": iso(s["ended_at"]),
            "end_reason": s["end_reason"],
            "frames": s["frames"],
            "dropped_frames": s["dropped"],
            "audio_s": s["audio_s"],
            "codec_error": s["codec_error"],
        }
        for s in conn.execute("SELECT * FROM streams WHERE call_id = ? ORDER BY started_at, uid",
                              (cid,))
    ]
    out["tracks"] = [
        {"stream_id": t["stream_uid"].split("#")[0], "track": t["name"], "role": t["role"],
         "sample_rate": t["sample_rate"]}
        for t in conn.execute("SELECT * FROM tracks WHERE call_id = ? ORDER BY opened_at, key",
                              (cid,))
    ]
    dtmf = conn.execute(
        "SELECT digit, at_s, occurred_at, track FROM dtmf WHERE call_id = ? ORDER BY id", (cid,)
    ).fetchall()
    # Telnyx may deliver DTMF out of order; its own occurred_at stamps give the true order.
    if dtmf and all(d["occurred_at"] for d in dtmf):
        dtmf = sorted(dtmf, key=lambda d: d["occurred_at"])
    out["dtmf"] = [{"digit": d["digit"], "at_s": d["at_s"]} for d in dtmf]
    out["segments"] = [
        {"speaker": s["speaker"], "start_s": s["start_s"], "end_s": s["end_s"],
         "text": s["text"], "sentiment": s["sentiment"],
         "sentiment_label": s["sentiment_label"] or label_of(s["sentiment"]),
         "sentiment_confidence": s["sentiment_confidence"],
         "language": s["language"] or None, "original_text": s["original_text"]}
        for s in conn.execute("SELECT * FROM segments WHERE call_id = ? ORDER BY start_s, id",
                              (cid,))
    ]
    out["alerts"] = [
        {"rule": a["rule"], "speaker": a["speaker"], "at_s": a["at_s"], "text": a["text"],
         "severity": a["severity"]}
        for a in conn.execute("SELECT * FROM alerts WHERE call_id = ? ORDER BY at_s, id", (cid,))
    ]
    out["sentiment_samples"] = [
        {"speaker": r["speaker"], "at_s": r["at_s"], "score": r["score"]}
        for r in conn.execute("SELECT * FROM sentiment WHERE call_id = ? ORDER BY at_s, id",
                              (cid,))
    ]
    m = conn.execute("SELECT * FROM metrics WHERE call_id = ?", (cid,)).fetchone()
    out["metrics"] = None if m is None else {
        k: m[k] for k in ("customer_talk_s", "agent_talk_s", "talk_ratio",
                          "longest_silence_s", "overtalk_count", "overtalk_s")}
    out["audit"] = [
        {"at": iso(r["at"]), "action": r["action"], "detail": r["detail"],
         "supervisor": r["supervisor"]}
        for r in conn.execute("SELECT * FROM audit WHERE call_id = ? ORDER BY at, id", (cid,))
    ]
    out["notes"] = notes_of(conn, cid)
    out["bookmarks"] = bookmarks_of(conn, cid)
    out["scorecard"] = read_scorecard(conn, cid, iso)
    out["problems"] = [
        {"kind": p["kind"], "message": p["message"], "at": iso(p["at"])}
        for p in conn.execute("SELECT * FROM problems WHERE call_id = ? ORDER BY id LIMIT 1000",
                              (cid,))
    ]
    return out
