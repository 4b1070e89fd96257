"""The store writer under faults: values SQLite cannot hold, events it cannot keep, an
unusable recordings folder, a recording disk that is full, a full database, a writer that
cannot keep up. It never stops; calls and transcripts are stored; trouble is visible."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from console.core.events import (
    CallEnded,
    CallStarted,
    ConversationUpdate,
    MediaFormat,
    Provider,
    Role,
    SentimentSample,
    StreamClosed,
    StreamOpened,
    TrackName,
    TrackOpened,
    TranscriptSegment,
)
from console.store.db import connect, db_path
from console.store.export_wav import call_audio
from console.store.recording import HAS_CHUNK, HAS_TS, load_track, track_paths
from console.store.writer import StoreHealth, StoreWriter

T0 = 1_700_000_000.0
FRAME = np.arange(160, dtype=np.int16)


def _open(w: StoreWriter, call_id: str, rate: int = 8000) -> str:
    """A call with one stream and its inbound track; returns the track key."""
    sid = f"{call_id}-s"
    key = f"{sid}/inbound"
    w.on_event(CallStarted(call_id, Provider.TELNYX, "+1", "+2", T0))
    w.on_event(StreamOpened(call_id, sid, Provider.TELNYX, MediaFormat("PCMU", rate),
                            (TrackName.INBOUND,), {"inbound": "customer"}, "customer", {},
                            None, T0))
    w.on_event(TrackOpened(call_id, sid, key, TrackName.INBOUND, Role.CUSTOMER, rate, T0))
    return key


def _say(w: StoreWriter, call_id: str, n: int, text: str = "hello there",
         first: int = 0) -> None:
    for i in range(first, first + n):
        w.on_event(TranscriptSegment(call_id, f"{call_id}#{i}", Role.CUSTOMER, i, i + 0.5,
                                     f"{text} {i}", True, 0.1))


def _end(w: StoreWriter, call_id: str) -> None:
    w.on_event(StreamClosed(call_id, f"{call_id}-s", T0 + 10, "stop", 3, 0, 0.06))
    w.on_event(CallEnded(call_id, T0 + 10, "ended"))


def _frames(w: StoreWriter, key: str, n: int = 3) -> None:
    for k in range(1, n + 1):
        w.frames(key, [k], [(k - 1) * 20], k * 20, [160], FRAME)


def _db(tmp: Path) -> sqlite3.Connection:
    return connect(db_path(tmp), readonly=True)


def _state(tmp: Path, call_id: str) -> str | None:
    row = _db(tmp).execute("SELECT state FROM calls WHERE id = ?", (call_id,)).fetchone()
    return None if row is None else str(row[0])


def _segments(tmp: Path, call_id: str) -> list[str]:
    return [r[0] for r in _db(tmp).execute(
        "SELECT text FROM segments WHERE call_id = ? ORDER BY start_s", (call_id,))]


def _wait(pred: Any, timeout: float = 8.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def test_values_sqlite_cannot_hold_do_not_stop_the_writer(tmp_path: Path) -> None:
    """Finding 2: a sample rate of 10^30 reached SQLite and a timestamp beyond int64 reached
    the recording index; either ended the writer thread and every later call was lost."""
    w = StoreWriter(tmp_path, record=True)
    key = _open(w, "huge", rate=10**30)
    w.frames(key, [1, 2, 10**19], [10**30, -(10**30), 40], 20, [160, 160, 160],
             np.concatenate([FRAME, FRAME, FRAME]))
    _say(w, "huge", 1)
    _end(w, "huge")
    key2 = _open(w, "later")
    _frames(w, key2)
    _say(w, "later", 3)
    _end(w, "later")
    assert w.flush()
    assert w.alive
    conn = _db(tmp_path)
    assert conn.execute("SELECT sample_rate FROM streams WHERE call_id = 'huge'").fetchone()[0] \
        == 2**63 - 1  # clamped, counted
    assert _state(tmp_path, "huge") == _state(tmp_path, "later") == "ended"
    assert _segments(tmp_path, "later") == ["hello there 0", "hello there 1", "hello there 2"]
    # The recording keeps all three frames; the numbers beyond int64 are marked absent.
    pcm, index = load_track(tmp_path, track_paths("huge", key))
    assert pcm.size == 480 and len(index) == 3
    assert [int(f) for f in index["flags"]] == [HAS_CHUNK, HAS_CHUNK, HAS_TS]
    assert w.health.values_clamped >= 2 + 3  # sample rate twice (stream, track), 3 in index
    w.close()


def test_text_that_is_not_utf8_is_stored_with_a_replacement(tmp_path: Path) -> None:
    """JSON's \\ud800 escape gives Python a lone surrogate, which SQLite refuses: before,
    the whole call (its start) was dropped; now the text is stored with a '?'."""
    odd = "call-\ud800"
    w = StoreWriter(tmp_path, record=True)
    key = _open(w, odd)
    _frames(w, key)
    _say(w, odd, 2, "hello \udfff")
    _end(w, odd)
    assert w.flush()
    row = _db(tmp_path).execute("SELECT id, state FROM calls").fetchone()
    assert tuple(row) == ("call-?", "ended")
    assert _segments(tmp_path, "call-?") == ["hello ? 0", "hello ? 1"]
    assert w.frames_written == 3 and w.health.ok
    w.close()


def test_an_event_or_hook_that_fails_does_not_stop_the_writer(tmp_path: Path) -> None:
    """Finding 3: any non-sqlite exception ended the thread silently."""
    w = StoreWriter(tmp_path)
    w.on_commit = lambda events: 1 / 0  # type: ignore[func-returns-value]
    broken = CallStarted("broken", "not-a-provider", None, None, T0)  # type: ignore[arg-type]
    w.on_event(broken)  # .provider.value -> AttributeError inside the writer
    _open(w, "after")
    _say(w, "after", 2)
    _end(w, "after")
    assert w.flush()
    assert w.alive
    assert _state(tmp_path, "broken") is None
    assert _state(tmp_path, "after") == "ended"
    assert _segments(tmp_path, "after") == ["hello there 0", "hello there 1"]
    assert w.health.dropped_events == 1 and "CallStarted" in w.errors[0]
    w.close()


def test_unusable_recordings_folder_keeps_calls_and_transcripts(tmp_path: Path) -> None:
    """Finding 3: a recordings path that is not a folder ended the writer thread."""
    (tmp_path / "recordings").write_text("not a folder")
    w = StoreWriter(tmp_path, record=True)
    problems: list[tuple[str, str, str]] = []
    healths: list[StoreHealth] = []
    w.on_problem = lambda *p: problems.append(p)
    w.on_health = healths.append
    for call in ("c1", "c2"):
        key = _open(w, call)
        _frames(w, key)
        _say(w, call, 2)
        _end(w, call)
    assert w.flush()
    assert w.alive
    for call in ("c1", "c2"):
        assert _state(tmp_path, call) == "ended"
        assert _segments(tmp_path, call) == ["hello there 0", "hello there 1"]
    assert sorted((c, k) for c, k, _ in problems) == [("c1", "recording"), ("c2", "recording")]
    health = w.health
    assert health.state == "degraded" and "recording stopped" in health.reason
    assert health.dropped_frames == 6
    assert len(healths) == 1 and healths[0].state == "degraded"  # one change, said once
    w.close()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_recording_disk_full_stops_that_track_only(tmp_path: Path) -> None:
    """A track whose recording hits ENOSPC (its file is /dev/full) stops recording; its call
    and transcript are stored, and a track opened later records again (health back to ok)."""
    w = StoreWriter(tmp_path, record=True)
    problems: list[tuple[str, str, str]] = []
    w.on_problem = lambda *p: problems.append(p)
    full = tmp_path / track_paths("full", "full-s/inbound")
    full.parent.mkdir(parents=True)
    full.with_suffix(".pcm").symlink_to("/dev/full")
    key = _open(w, "full")
    _frames(w, key)
    _say(w, "full", 1)
    assert w.flush()
    assert w.health.state == "degraded" and "No space left" in w.health.reason
    assert problems and problems[0][:2] == ("full", "recording")
    key2 = _open(w, "fine")
    _frames(w, key2, 5)
    _frames(w, key, 2)  # the stopped track stays stopped
    _end(w, "full")
    _end(w, "fine")
    assert w.flush()
    assert w.alive and w.health.ok
    assert w.health.dropped_frames == 5 and w.frames_written == 5
    assert _state(tmp_path, "full") == "ended" and _segments(tmp_path, "full")
    stereo, _ = call_audio(_db(tmp_path), tmp_path, "fine")
    assert np.array_equal(stereo[:, 0], np.tile(FRAME, 5))
    w.close()


def test_full_database_degrades_then_catches_up(tmp_path: Path) -> None:
    """Disk full (SQLite's max_page_count makes the database report SQLITE_FULL): health
    degraded with the reason, a problem on the calls concerned; when space returns every
    event kept is saved, calls end `ended` and one started meanwhile exists."""
    w = StoreWriter(tmp_path, retry_seconds=0.1, batch_seconds=0.05)
    healths: list[StoreHealth] = []
    problems: list[tuple[str, str, str]] = []
    w.on_health = healths.append
    w.on_problem = lambda *p: problems.append(p)
    _open(w, "before")
    _say(w, "before", 1)
    assert w.flush() and w.health.ok
    # The writer's own connection: the limit is per connection. It is idle after flush.
    pages = w._conn.execute("PRAGMA page_count").fetchone()[0]
    w._conn.execute(f"PRAGMA max_page_count = {pages}")

    _say(w, "before", 30, "a long line " * 300, first=1)  # needs pages the database cannot grow
    _open(w, "during")
    _say(w, "during", 3)
    _end(w, "before")
    _end(w, "during")
    assert w.flush()
    health = w.health
    assert health.state == "degraded" and "database or disk is full" in health.reason
    # The long lines cannot fit; a small write may still find room in a page that has some
    # (how much depends on how the batches fell), so the backlog is at least those lines.
    assert health.backlog >= 30
    assert healths[-1].state == "degraded"
    assert ("before", "storage") in {(c, k) for c, k, _ in problems}
    assert _state(tmp_path, "before") == "active"  # its end waits behind its lines

    w._conn.execute("PRAGMA max_page_count = 1073741823")  # space returns
    # Settled, not a passing moment: a retry on a loaded machine may report ok for the events
    # it saved before the rest of the backlog is in.
    _wait(lambda: w.health.ok and w.health.backlog == 0, timeout=20.0)
    assert w.flush()
    assert healths[-1].ok and w.health.backlog == 0 and w.health.dropped_events == 0
    assert _state(tmp_path, "before") == "ended" and _state(tmp_path, "during") == "ended"
    assert len(_segments(tmp_path, "before")) == 31
    assert _segments(tmp_path, "during") == ["hello there 0", "hello there 1", "hello there 2"]
    w.close()
    again = StoreWriter(tmp_path)
    assert again.recovered == 0  # nothing left for the next start to call interrupted
    again.close()


def test_queue_bounds_drop_audio_and_low_value_events_first(tmp_path: Path) -> None:
    """While the writer is stuck (another connection holds the write lock), what waits is
    bounded: audio beyond max_frame_bytes, sentiment beyond a tenth of max_events, other
    events beyond max_events, openings and closings beyond max_events plus a tenth. Every
    drop is counted; everything accepted is stored once the writer moves again."""
    w = StoreWriter(tmp_path, record=True, max_events=100, max_frame_bytes=10 * FRAME.nbytes)
    blocker = sqlite3.connect(db_path(tmp_path), timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        w.on_event(CallStarted("q", Provider.TELNYX, None, None, T0))  # 1 waiting
        time.sleep(0.3)  # the writer has taken it and waits for the lock
        key = "q-s/inbound"
        for k in range(15):
            w.frames(key, [k + 1], [k * 20], k * 20, [160], FRAME)
        for i in range(20):  # low value: kept while fewer than 10 wait
            w.on_event(SentimentSample("q", Role.CUSTOMER, i, 0.0))
        # The call's figures are not low value (the last of them are its whole-call ones).
        w.on_event(ConversationUpdate("q", 5.0, 4.0, 0.556, 1.0, 0, 0.0))
        _say(w, "q", 100)  # kept while fewer than 100 wait
        for i in range(15):  # openings: kept while fewer than 110 wait
            w.on_event(TrackOpened("q", "q-s", f"q-s/t{i}", TrackName.INBOUND,
                                   Role.CUSTOMER, 8000, T0))
        health = w.health
        assert health.dropped_frames == 5
        assert health.dropped_events == 11 + 11 + 5
        assert health.backlog == 110
        assert health.state == "degraded"
        assert "store queue full" in health.reason and "recording queue full" in health.reason
    finally:
        blocker.rollback()
        blocker.close()
    assert w.flush(15)
    conn = _db(tmp_path)
    assert conn.execute("SELECT COUNT(*) FROM sentiment").fetchone()[0] == 9
    assert [tuple(r) for r in conn.execute("SELECT customer_talk_s FROM metrics")] == [(5.0,)]
    assert conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 89
    assert conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 10
    w.frames(key, [99], [99 * 20], 0, [160], FRAME)  # audio is taken again
    assert w.flush()
    assert w.frames_written == 11 and w.health.backlog == 0 and w.health.ok
    w.close()


def test_flush_and_close_return_when_the_writer_is_stuck_on_a_lock(tmp_path: Path) -> None:
    """A flush while the database is locked by someone else waits at most its timeout."""
    w = StoreWriter(tmp_path)
    blocker = sqlite3.connect(db_path(tmp_path), timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    w.on_event(CallStarted("x", Provider.TELNYX, None, None, T0))
    t0 = time.monotonic()
    assert not w.flush(0.3)
    assert time.monotonic() - t0 < 2
    blocker.rollback()
    blocker.close()
    assert w.flush(15) and _state(tmp_path, "x") == "active"
    w.close()


def _raw_in_files(data: Path, raw: str) -> list[str]:
    return [f.name for f in data.glob("coach-console.db*") if raw.encode() in f.read_bytes()]


def test_segment_published_again_is_updated_in_place(tmp_path: Path) -> None:
    """Redaction republishes a stored final segment under the same id with corrected text:
    one row, the corrected text, the search index and exports follow."""
    from console.store.exports import render
    from console.store.queries import call_detail, search_segments

    w = StoreWriter(tmp_path)
    _open(w, "r")
    raw = "my card is 4539 1488 0343 6467"
    w.on_event(TranscriptSegment("r", "r#1", Role.CUSTOMER, 1.0, 3.0, raw, True, -0.3))
    w.on_event(TranscriptSegment("r", "r#2", Role.AGENT, 3.5, 4.0, "thank you", True, 0.5))
    assert w.flush()
    w.on_event(TranscriptSegment("r", "r#1", Role.CUSTOMER, 1.0, 3.0,
                                 "my card is [card number]", True, None))
    _end(w, "r")
    assert w.flush() and w.flush()  # the second one returns after the scrub that follows
    # Not in the tables, and not in the bytes of the files either (search index, free
    # space, write-ahead log), while the writer still runs and after it closes.
    assert _raw_in_files(tmp_path, "4539") == []
    w.close()
    assert _raw_in_files(tmp_path, "4539") == []
    conn = _db(tmp_path)
    rows = conn.execute("SELECT segment_id, text, sentiment FROM segments ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("r#1", "my card is [card number]", -0.3),
                                        ("r#2", "thank you", 0.5)]
    assert search_segments(conn, "4539") == []
    assert [h["call_id"] for h in search_segments(conn, "card")] == ["r"]
    for fmt in ("txt", "json", "csv", "srt", "vtt"):
        text = render(call_detail(conn, "r"), fmt)
        assert "[card number]" in text and "4539" not in text, fmt


def test_events_from_several_threads_are_all_stored(tmp_path: Path) -> None:
    """Producers on several threads at once: every event accepted is stored, none dropped."""
    w = StoreWriter(tmp_path)
    _open(w, "m")

    def talk(n: int) -> None:
        for i in range(500):
            w.on_event(TranscriptSegment("m", f"t{n}-{i}", Role.AGENT, i, i + 1, "x", True))

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.flush(15)
    assert len(_segments(tmp_path, "m")) == 2000
    assert w.health.backlog == 0 and w.health.dropped_events == 0
    w.close()
