"""The one store writer: a thread that owns the SQLite connection and the recording files.

The engine hands it call events (bus subscriber) and, when recording, decoded frames; both
go through one FIFO queue, so a stream's audio is on disk before its close is committed.

Nothing one event or one frame carries stops the thread. A number SQLite cannot hold (beyond
int64) is clamped, and a chunk or timestamp beyond int64 is recorded as absent (both counted in
`values_clamped`); an event the store cannot keep is dropped (counted, logged). Recording
trouble (an unusable recordings folder, a full disk, any write error) stops the audio files of
that track only: calls and transcripts go on being stored, and the call gets a problem.

Storage trouble (disk full, read-only, I/O error, locked) makes `health` degraded: the events
are kept in memory, in order, and committed once the database takes writes again (retried every
`retry_seconds`); the calls concerned get a problem and `on_health` hears of every change.

Bounds on what waits in memory (queued plus kept while the database fails):
- Recording audio: at most `max_frame_bytes` of PCM (32 MiB by default: about 10 s of 100
  two-track 8 kHz calls, far more than the 0.5 s a healthy writer lets pile up). Beyond it
  new frames are dropped first, counted in `health.dropped_frames`.
- Call events: sentiment samples, metrics updates and stream problems are dropped beyond
  `max_events // 10` waiting (20,000 by default); every other event beyond `max_events`
  (200,000, some 100 MB); call, stream and track openings and closings, a handful per call,
  only beyond `max_events + max_events // 10`. Each drop is counted in
  `health.dropped_events` and logged (rate-limited). Partial transcript text and events the
  store never keeps are not queued at all.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from console.core.events import (
    AlertRaised,
    CallEnded,
    CallEvent,
    CallScorecard,
    CallStarted,
    CallTopic,
    ConversationUpdate,
    DtmfReceived,
    SentimentSample,
    StreamClosed,
    StreamOpened,
    StreamProblem,
    SupervisorAction,
    TrackOpened,
    TranscriptSegment,
)
from console.store.db import connect, db_path
from console.store.notes import NOTE_ACTIONS
from console.store.notes import apply as apply_note
from console.store.recording import TrackFiles, track_paths
from console.store.retention import prune
from console.store.scorecards import apply_review, store_scorecard

__all__ = ["MAX_EVENTS", "MAX_FRAME_BYTES", "StoreHealth", "StoreWriter", "recover_interrupted"]

log = logging.getLogger(__name__)
_STOP = object()
# chunks, timestamps, arrival ms, sizes, pcm: consecutive frames of one track
Batch = tuple[list[int | None], list[int | None], int, list[int], npt.NDArray[np.int16]]

MAX_EVENTS = 200_000
MAX_FRAME_BYTES = 32 * 1024 * 1024
CHUNK = 5000  # events per transaction: a long backlog commits in steps, each one progress

_LIFECYCLE = (CallStarted, StreamOpened, TrackOpened, StreamClosed, CallEnded)
# Dropped first when the queue fills. Not ConversationUpdate: one comes per final line, and
# a call's last one (often after its end, as the last lines' text comes in) holds its
# whole-call figures.
_LOW_VALUE = (SentimentSample, StreamProblem)
_STORED = frozenset((*_LIFECYCLE, *_LOW_VALUE, ConversationUpdate, DtmfReceived,
                     TranscriptSegment, SupervisorAction, AlertRaised, CallTopic,
                     CallScorecard))
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
# SQLite result codes that say the storage is failing, not the event (FULL, IOERR, READONLY,
# BUSY, LOCKED, CANTOPEN, PERM, NOMEM, PROTOCOL, CORRUPT, NOTADB): keep the events, retry.
_STORAGE_CODES = {13, 10, 8, 5, 6, 14, 3, 7, 15, 11, 26}


def recover_interrupted(conn: sqlite3.Connection, now: float | None = None) -> int:
    """Calls still open from a run that died are marked interrupted."""
    now = time.time() if now is None else now
    with conn:
        conn.execute(
            "UPDATE streams SET ended_at = COALESCE(ended_at, started_at), "
            "end_reason = COALESCE(end_reason, 'interrupted') WHERE ended_at IS NULL"
        )
        cur = conn.execute(
            "UPDATE calls SET state = 'interrupted', ended_at = COALESCE(ended_at, "
            "(SELECT MAX(COALESCE(s.ended_at, s.started_at)) FROM streams s "
            " WHERE s.call_id = calls.id), started_at) WHERE state = 'active'"
        )
    return cur.rowcount


def _urgent(item: Any) -> bool:
    """Events someone may be waiting to read back: written without waiting for the batch.
    A final transcript segment is committed as it happens, so a crash cannot lose it."""
    if isinstance(item, TranscriptSegment):
        return item.final
    return isinstance(item, (CallStarted, CallEnded, StreamClosed, AlertRaised,
                             SupervisorAction))


def _is_storage_error(exc: BaseException) -> bool:
    """True when the database (or the disk under it) failed, not the event being written."""
    if isinstance(exc, (OSError, MemoryError)):
        return True
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        code = getattr(exc, "sqlite_errorcode", None)
        return code is None or (code & 0xFF) in _STORAGE_CODES
    return False


def _fit(value: Any) -> Any:
    """A value as SQLite can hold it: ints clamped to int64, text that is not valid UTF-8
    (lone surrogates, which JSON's \\ud800 escapes produce) with those replaced by '?'."""
    if isinstance(value, int) and not _I64_MIN <= value <= _I64_MAX:
        return _I64_MAX if value > 0 else _I64_MIN
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _why(exc: BaseException) -> str:
    """An error without the path it happened on: equal causes read the same."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """How the store is doing. `state` is "ok", "degraded" (storing goes on with something
    held back or stopped, see `reason`) or "failed" (the writer thread is gone)."""

    state: str
    reason: str  # empty when ok
    backlog: int  # events waiting for the database (queued or kept through a failure)
    dropped_events: int  # never stored: a bound was hit or the store could not keep them
    dropped_frames: int  # audio frames not recorded: queue bound or recording stopped
    values_clamped: int  # numbers beyond what the store holds, clamped or left out

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def summary(self) -> str:
        """One line for a status bar or a log: "ok", or the state, reason and counts."""
        if self.ok:
            return "ok"
        counts = [f"{self.backlog:,} event(s) waiting"] if self.backlog else []
        if self.dropped_events:
            counts.append(f"{self.dropped_events:,} event(s) dropped")
        if self.dropped_frames:
            counts.append(f"{self.dropped_frames:,} audio frame(s) not recorded")
        return f"{self.state}: {self.reason}" + (f" ({', '.join(counts)})" if counts else "")


class StoreWriter:
    """Owns the database connection and the recording files on one thread. `on_event` and
    `frames` are cheap (a bounded queue put); `on_event` may be called from any thread,
    `frames` from the one thread that feeds audio (the engine loop).

    Hooks, called on the writer thread and expected to return quickly:
    `on_commit(events)` after each commit; `on_health(health)` when the state or reason
    changes; `on_problem(call_id, kind, message)` once per call and trouble ("storage" or
    "recording")."""

    def __init__(self, data_dir: str | Path, *, record: bool = False,
                 batch_seconds: float = 0.5, retention_days: int = 0,
                 max_events: int = MAX_EVENTS, max_frame_bytes: int = MAX_FRAME_BYTES,
                 retry_seconds: float = 1.0, scrub_seconds: float = 10.0) -> None:
        self.data_dir = Path(data_dir)
        self.record = record
        self.retention_days = retention_days
        self.pruned = 0
        self._next_prune = 0.0
        self.batch_seconds = batch_seconds
        self.retry_seconds = retry_seconds
        self.scrub_seconds = scrub_seconds
        self._corrected = False  # a stored segment was corrected: scrub the files
        self._next_scrub = 0.0
        self.max_events = max_events
        self.max_frame_bytes = max_frame_bytes
        self._queue: collections.deque[Any] = collections.deque()
        self._conn = connect(db_path(self.data_dir))
        self.recovered = recover_interrupted(self._conn)
        self._tracks: dict[str, TrackFiles] = {}
        self._track_call: dict[str, str] = {}
        self._failed_tracks: set[str] = set()
        self._pending: list[CallEvent] = []  # taken from the queue, not yet committed
        self._active: set[str] = set()  # calls started and not ended, as the writer saw them
        self._told: set[tuple[str, str]] = set()  # (call, kind) already given a problem
        self.errors: collections.deque[str] = collections.deque(maxlen=200)  # the latest
        self.error_count = 0
        self.frames_written = 0
        self.values_clamped = 0
        # Counters shared with the producers: changed only under _count_lock.
        self._count_lock = threading.Lock()
        self._events_waiting = 0
        # Audio: single-writer counters, no lock on the frame path. frames() is called from
        # one thread (the engine loop) and owns the *_in ones; the writer thread the *_out.
        self._frame_bytes_in = 0
        self._frame_bytes_out = 0
        self._frames_refused = 0  # queue bound (or writer gone)
        self._dropped_events = 0
        self._dropped_frames = 0  # recording stopped (writer thread)
        self._overflowing = False
        self._db_trouble = ""
        self._rec_trouble = ""
        self._dead = ""
        self._retry_at = 0.0
        self._health_key = ("ok", "")
        self._log_counts: dict[str, int] = {}
        # Called on the writer thread with each batch of events just committed.
        self.on_commit: Callable[[list[CallEvent]], None] | None = None
        self.on_health: Callable[[StoreHealth], None] | None = None
        self.on_problem: Callable[[str, str, str], None] | None = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # --- called from the engine thread (cheap: one bounded queue put) ---------------------

    def on_event(self, event: CallEvent) -> None:
        """Queue a call event for storage (events the store never keeps are ignored)."""
        cls = type(event)
        if cls not in _STORED:
            return
        if cls is TranscriptSegment:
            if not event.final:  # type: ignore[union-attr]
                return  # tentative text is never stored
        elif cls is StreamProblem and event.call_id is None:
            return
        elif cls is CallScorecard and not event.final:  # type: ignore[union-attr]
            return  # a live reading of the call in focus is never stored
        limit = self.max_events
        with self._count_lock:
            waiting = self._events_waiting
            if not self._dead and (waiting < limit // 10 or (
                    waiting < limit and not issubclass(cls, _LOW_VALUE)) or (
                    waiting < limit + limit // 10 and issubclass(cls, _LIFECYCLE))):
                self._events_waiting = waiting + 1
                dropped = 0
            else:
                self._dropped_events += 1
                dropped = self._dropped_events
        if dropped:
            self._limited_log("queue", f"store queue full ({waiting:,} events waiting): "
                              f"dropped a {type(event).__name__} ({dropped:,} so far)")
            return
        self._queue.append(event)
        if _urgent(event):
            self._wake.set()

    def frames(self, track_key: str, chunks: list[int | None], timestamps: list[int | None],
               arrival_ms: int, sizes: list[int], pcm: npt.NDArray[np.int16]) -> None:
        """Queue a batch of decoded frames of one track for its recording. Called from one
        thread only (the engine loop): the bound's counters take no lock."""
        if not self.record:
            return
        size = pcm.nbytes
        waiting = self._frame_bytes_in - self._frame_bytes_out
        if waiting + size <= self.max_frame_bytes and not self._dead:
            self._frame_bytes_in += size
            if self._overflowing:
                self._overflowing = False
            self._queue.append((track_key, chunks, timestamps, arrival_ms, sizes, pcm))
            return
        self._frames_refused += len(sizes)
        if not self._overflowing:
            self._overflowing = True
            log.error("recording queue full (%d bytes waiting): dropping audio frames", waiting)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.append(_STOP)
        self._wake.set()
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been handled: on disk, or kept for a retry
        when the storage fails (then `health` says so)."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        return done.wait(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def health(self) -> StoreHealth:
        """The store's state now (safe to read from any thread)."""
        if self._dead:
            state, reason = "failed", self._dead
        else:
            reasons = [r for r in (self._db_trouble, self._rec_trouble) if r]
            if self._events_waiting >= self.max_events // 10:
                reasons.append("store queue full: events are being dropped")
            if self._overflowing:
                reasons.append("recording queue full: audio frames are being dropped")
            reason = "; ".join(reasons)
            state = "degraded" if reason else "ok"
        return StoreHealth(state, reason, self._events_waiting, self._dropped_events,
                           self._dropped_frames + self._frames_refused, self.values_clamped)

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # the loop guards every batch; this is the last resort
            self._dead = f"the store writer stopped: {_why(exc)}"
            log.critical("%s; calls are no longer stored", self._dead, exc_info=True)
            self._health_changed()
        finally:
            for files in self._tracks.values():
                try:
                    files.close()
                except OSError as exc:
                    log.error("closing a recording: %s", exc)
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                log.error("closing the database: %s", exc)

    def _loop(self) -> None:
        # Sleep between batches instead of blocking on the queue: a blocked get would be
        # woken by every frame the engine puts, thousands of times a second.
        stop = False
        while not stop:
            self._wake.wait(self.batch_seconds)
            self._wake.clear()
            batch: list[Any] = []
            frame_bytes = 0
            popleft = self._queue.popleft
            while True:
                try:
                    item = popleft()
                except IndexError:
                    break
                if isinstance(item, tuple):
                    frame_bytes += item[5].nbytes
                batch.append(item)
            self._frame_bytes_out += frame_bytes
            try:
                stop = self._process(batch)
            except Exception as exc:  # a bug here must cost one batch, never the thread
                self._error(f"a store batch failed: {_why(exc)}", exc_info=True)
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()
                    stop = stop or item is _STOP
            if self._corrected and not self._db_trouble and time.monotonic() >= self._next_scrub:
                self._next_scrub = time.monotonic() + self.scrub_seconds
                self._scrub()
            if self.retention_days and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + 3600
                self._prune()
            self._health_changed()  # the queue bounds change state on the producers' side
        if self._pending:
            self._commit(force=True)
        if self._corrected:
            self._scrub()
        if self._pending:
            log.error("%d call event(s) could not be saved before closing (%s); their calls "
                      "will show as interrupted", len(self._pending), self._db_trouble)

    def _scrub(self) -> None:
        """Clear the words of corrected segments out of the files, not only the tables: the
        search index keeps them (its delete markers even repeat them) until its segments are
        merged, and the WAL keeps old page images until it is reset. Freed space is zeroed
        (secure_delete, see db.connect). Costs about 1 s per million segments stored, so it
        runs at most every scrub_seconds, and at close."""
        self._corrected = False
        try:
            with self._conn:
                self._conn.execute("INSERT INTO segments_fts(segments_fts) VALUES('optimize')")
            # Readers with an old snapshot (a history window) make TRUNCATE wait: briefly,
            # then the next scrub tries again.
            self._conn.execute("PRAGMA busy_timeout=200")
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                self._conn.execute("PRAGMA busy_timeout=10000")
            self._corrected = bool(busy)
        except sqlite3.Error as exc:
            self._corrected = True  # again with the next round
            self._error(f"could not scrub corrected text from the database files: {exc}")

    def _prune(self) -> None:
        try:
            n = prune(self._conn, self.data_dir, self.retention_days)
        except (sqlite3.Error, OSError) as exc:
            log.error("could not prune old calls: %s", exc)
            return
        if n:
            self.pruned += n
            log.info("removed %d call(s) older than %d days", n, self.retention_days)

    def _process(self, batch: list[Any]) -> bool:
        frames: dict[str, list[Batch]] = {}
        waiters: list[threading.Event] = []
        stop = False
        for item in batch:
            if item is _STOP:
                stop = True
            elif isinstance(item, threading.Event):
                waiters.append(item)
            elif isinstance(item, tuple):
                frames.setdefault(item[0], []).append(item[1:])
            else:
                if isinstance(item, (StreamClosed, CallEnded)) and frames:
                    # Audio queued before a close goes to disk before the close is committed.
                    self._write_frames(frames)
                    frames = {}
                self._take(item)
        if frames:
            self._write_frames(frames)
        self._commit()
        for waiter in waiters:
            waiter.set()
        return stop

    def _take(self, ev: CallEvent) -> None:
        """Bookkeeping as an event leaves the queue, then into the commit backlog."""
        if isinstance(ev, TrackOpened):
            self._track_call[ev.track_key] = ev.call_id
        elif isinstance(ev, CallStarted):
            self._active.add(ev.call_id)
            if self._db_trouble:
                self._problem(ev.call_id, "storage", self._db_trouble)
        elif isinstance(ev, StreamClosed):
            prefix = ev.stream_id + "/"
            for key in [k for k in self._tracks if k.startswith(prefix)]:
                with contextlib.suppress(OSError):  # what was written is on disk already
                    self._tracks.pop(key).close()
        elif isinstance(ev, CallEnded):
            self._active.discard(ev.call_id)
            self._told.difference_update({(ev.call_id, "storage"), (ev.call_id, "recording")})
            for key in [k for k, c in self._track_call.items() if c == ev.call_id]:
                del self._track_call[key]
                self._failed_tracks.discard(key)
        self._pending.append(ev)

    def _write_frames(self, frames: dict[str, list[Batch]]) -> None:
        for key, items in frames.items():
            count = sum(len(b[3]) for b in items)
            if key in self._failed_tracks:
                self._dropped_frames += count
                continue
            files = self._tracks.get(key)
            fresh = files is None
            try:
                if files is None:
                    call_id = self._track_call.get(key, key.split("/")[0])
                    files = TrackFiles.open(self.data_dir / track_paths(call_id, key))
                    self._tracks[key] = files
                self.values_clamped += files.append(items)
            except Exception as exc:  # any failure stops this track only
                self._recording_failed(key, files, exc, count)
                continue
            self.frames_written += count
            if self._rec_trouble and fresh:
                # A track opened since the trouble records (space came back, folder fixed).
                self._rec_trouble = ""
                log.warning("recording works again")
                self._health_changed()

    def _recording_failed(self, key: str, files: TrackFiles | None, exc: Exception,
                          count: int) -> None:
        self._failed_tracks.add(key)
        self._tracks.pop(key, None)
        if files is not None:
            with contextlib.suppress(OSError):
                files.close()
        self._dropped_frames += count
        reason = f"recording stopped: {_why(exc)}"
        self._error(f"recording of {key} stopped: {exc}",
                    exc_info=not isinstance(exc, OSError))
        call_id = self._track_call.get(key)
        if call_id is not None:
            self._problem(call_id, "recording",
                          f"{reason}; the call and its transcript are still stored")
        if reason != self._rec_trouble:
            self._rec_trouble = reason
            self._health_changed()

    def _commit(self, force: bool = False) -> None:
        """Commit the backlog in order, a chunk per transaction. A storage failure keeps the
        rest for a retry (no sooner than retry_seconds unless forced)."""
        if self._db_trouble and not force and time.monotonic() < self._retry_at:
            return
        while self._pending:
            chunk = self._pending[:CHUNK]
            kept: list[CallEvent] = []
            try:
                with self._conn:
                    for event in chunk:
                        if self._apply_one(event):
                            kept.append(event)
            except Exception as exc:
                if _is_storage_error(exc):
                    self._storage_failed(exc)
                    return
                # Events that fail one by one are dropped in _apply_one; a failure of the
                # transaction itself that is not the storage's must not jam the backlog.
                self._rollback()
                with self._count_lock:
                    self._dropped_events += len(chunk)
                self._error(f"dropped {len(chunk)} call events: {_why(exc)}", exc_info=True)
                kept = []
            del self._pending[:len(chunk)]
            with self._count_lock:
                self._events_waiting -= len(chunk)
            if self.on_commit is not None and kept:
                try:
                    self.on_commit(kept)
                except Exception:
                    log.exception("store on_commit hook failed")
        if self._db_trouble:
            self._db_trouble = ""
            self._told = {t for t in self._told if t[1] != "storage"}
            log.warning("storage works again: every call event kept meanwhile is saved")
            self._health_changed()

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.rollback()

    def _storage_failed(self, exc: Exception) -> None:
        self._rollback()
        self._retry_at = time.monotonic() + self.retry_seconds
        self._coalesce()
        reason = f"cannot save to the database: {exc}"
        if reason != self._db_trouble:
            self._db_trouble = reason
            self._error(f"{reason} ({len(self._pending):,} call events kept in memory; "
                        "retrying)")
            self._health_changed()
            affected = set(self._active)  # and every call with an event held back
            affected.update(c for ev in self._pending if (c := getattr(ev, "call_id", None)))
            for call_id in sorted(affected):
                self._problem(call_id, "storage", f"{reason}; events kept in memory until "
                              "the database takes writes again")

    def _coalesce(self) -> None:
        """While the database fails, only the latest metrics of each call need keeping."""
        seen: set[str] = set()
        out: list[CallEvent] = []
        for ev in reversed(self._pending):
            if isinstance(ev, ConversationUpdate):
                if ev.call_id in seen:
                    continue
                seen.add(ev.call_id)
            out.append(ev)
        removed = len(self._pending) - len(out)
        if removed:
            out.reverse()
            self._pending = out
            with self._count_lock:
                self._events_waiting -= removed

    def _apply_one(self, event: CallEvent) -> bool:
        """Apply one event inside the open transaction. An event the store cannot keep is
        dropped here (SQLite undoes just its statement); a storage failure propagates."""
        try:
            self._apply(event)
            return True
        except Exception as exc:
            if _is_storage_error(exc):
                raise
            with self._count_lock:
                self._dropped_events += 1
            self._error(f"dropped a {type(event).__name__} the store cannot keep: "
                        f"{_why(exc)}", exc_info=not isinstance(exc, sqlite3.Error))
            return False

    def _x(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except (OverflowError, UnicodeEncodeError):
            self.values_clamped += 1
            self._limited_log("clamp", "a value the database cannot hold as it is (beyond "
                              f"int64, or not UTF-8) was fitted ({self.values_clamped} so far)")
            return self._conn.execute(sql, tuple(_fit(p) for p in params))

    def _apply(self, ev: CallEvent) -> None:
        x = self._x
        if isinstance(ev, CallStarted):
            x(
                "INSERT INTO calls (id, provider, from_number, to_number, started_at, state, "
                "node) VALUES (?, ?, ?, ?, ?, 'active', ?) ON CONFLICT(id) DO UPDATE SET "
                "state = 'active', ended_at = NULL, node = excluded.node, "
                "from_number = COALESCE(calls.from_number, excluded.from_number), "
                "to_number = COALESCE(calls.to_number, excluded.to_number)",
                (ev.call_id, ev.provider.value, ev.from_number, ev.to_number, ev.started_at,
                 ev.node),
            )
        elif isinstance(ev, StreamOpened):
            fmt = ev.media_format
            x(
                "INSERT OR REPLACE INTO streams (uid, call_id, stream_id, provider, encoding, "
                "raw_encoding, sample_rate, tracks, leg, roles, custom_parameters, "
                "call_control_id, started_at, codec_error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ev.stream_id, ev.call_id, ev.stream_id.split("#")[0], ev.provider.value,
                 fmt.encoding, fmt.raw_encoding, fmt.sample_rate,
                 json.dumps([t.value for t in ev.tracks]), ev.leg,
                 json.dumps(ev.roles, default=str),
                 json.dumps(ev.custom_parameters, default=str), ev.call_control_id, ev.at,
                 ev.codec_error),
            )
        elif isinstance(ev, TrackOpened):
            recording = track_paths(ev.call_id, ev.track_key) if self.record else None
            x(
                "INSERT OR REPLACE INTO tracks (key, call_id, stream_uid, name, role, "
                "sample_rate, opened_at, recording) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ev.track_key, ev.call_id, ev.stream_id, ev.track.value, ev.role.value,
                 ev.sample_rate, ev.at, recording),
            )
            if self.record:
                x("UPDATE calls SET recorded = 1 WHERE id = ?", (ev.call_id,))
        elif isinstance(ev, StreamClosed):
            x(
                "UPDATE streams SET ended_at = ?, end_reason = ?, frames = ?, dropped = ?, "
                "audio_s = ? WHERE uid = ?",
                (ev.at, ev.reason, ev.frames, ev.dropped, ev.audio_s, ev.stream_id),
            )
        elif isinstance(ev, CallEnded):
            x("UPDATE calls SET ended_at = ?, state = ? WHERE id = ?",
              (ev.ended_at, ev.state, ev.call_id))
        elif isinstance(ev, DtmfReceived):
            x(
                "INSERT INTO dtmf (call_id, stream_uid, digit, at_s, occurred_at, track) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ev.call_id, ev.stream_id, ev.digit, ev.at_s, ev.occurred_at, ev.track),
            )
        elif isinstance(ev, TranscriptSegment):
            if not ev.final:
                return
            # The same segment published again (redaction correcting text it stored) is
            # updated in place, never stored twice; the search index follows through its
            # update trigger, and _scrub then clears the old words out of the files.
            if x("UPDATE segments SET speaker = ?, start_s = ?, end_s = ?, text = ?, "
                 "sentiment = COALESCE(?, sentiment), "
                 "sentiment_label = COALESCE(?, sentiment_label), "
                 "sentiment_confidence = COALESCE(?, sentiment_confidence), "
                 "original_text = COALESCE(?, original_text), "
                 "language = COALESCE(?, language) "
                 "WHERE call_id = ? AND segment_id = ?",
                 (ev.speaker.value, ev.start_s, ev.end_s, ev.text, ev.sentiment,
                  ev.sentiment_label, ev.sentiment_confidence, ev.original_text, ev.language,
                  ev.call_id, ev.segment_id)).rowcount:
                self._corrected = True
            else:
                x("INSERT INTO segments (call_id, segment_id, speaker, start_s, end_s, text, "
                  "sentiment, sentiment_label, sentiment_confidence, original_text, language) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (ev.call_id, ev.segment_id, ev.speaker.value, ev.start_s, ev.end_s, ev.text,
                   ev.sentiment, ev.sentiment_label, ev.sentiment_confidence, ev.original_text,
                   ev.language))
        elif isinstance(ev, CallTopic):
            x("UPDATE calls SET topic = ?, topic_confidence = ? WHERE id = ?",
              (ev.topic, ev.confidence, ev.call_id))
        elif isinstance(ev, ConversationUpdate):
            x(
                "INSERT OR REPLACE INTO metrics (call_id, customer_talk_s, agent_talk_s, "
                "talk_ratio, longest_silence_s, overtalk_count, overtalk_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ev.call_id, ev.customer_talk_s, ev.agent_talk_s, ev.talk_ratio,
                 ev.longest_silence_s, ev.overtalk_count, ev.overtalk_s))
        elif isinstance(ev, SentimentSample):
            x("INSERT INTO sentiment (call_id, speaker, at_s, score) VALUES (?, ?, ?, ?)",
              (ev.call_id, ev.speaker.value, ev.at_s, ev.score))
        elif isinstance(ev, SupervisorAction) and ev.action in NOTE_ACTIONS:
            apply_note(x, ev)  # notes and bookmarks: their own tables, not the audit trail
        elif isinstance(ev, SupervisorAction):
            x("INSERT INTO audit (call_id, at, action, detail, supervisor) "
              "VALUES (?, ?, ?, ?, ?)",
              (ev.call_id, ev.at, ev.action, ev.detail, ev.supervisor))
            apply_review(x, ev)  # a scorecard review also sets the item's verdict
        elif isinstance(ev, CallScorecard):
            store_scorecard(x, ev)
        elif isinstance(ev, AlertRaised):
            x(
                "INSERT INTO alerts (call_id, rule, speaker, at_s, text, severity) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ev.call_id, ev.rule, ev.speaker.value if ev.speaker else None, ev.at_s,
                 ev.text, ev.severity),
            )
        elif isinstance(ev, StreamProblem) and ev.call_id is not None:
            x(
                "INSERT INTO problems (call_id, stream_uid, kind, message, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (ev.call_id, ev.stream_id, ev.kind, ev.message, ev.at),
            )

    # --- reporting --------------------------------------------------------------------------

    def _error(self, msg: str, exc_info: bool = False) -> None:
        self.error_count += 1
        self.errors.append(msg)
        self._limited_log(msg.split(":")[0], msg, exc_info=exc_info)

    def _limited_log(self, key: str, msg: str, exc_info: bool = False) -> None:
        """Log the first 20 of a kind, then every 1000th: a flood must not flood the log."""
        n = self._log_counts.get(key, 0) + 1
        if len(self._log_counts) < 1000 or key in self._log_counts:
            self._log_counts[key] = n
        if n <= 20 or n % 1000 == 0:
            log.error(msg, exc_info=exc_info)

    def _problem(self, call_id: str, kind: str, message: str) -> None:
        if (call_id, kind) in self._told or self.on_problem is None:
            return
        self._told.add((call_id, kind))
        try:
            self.on_problem(call_id, kind, message)
        except Exception:
            log.exception("store on_problem hook failed")

    def _health_changed(self) -> None:
        health = self.health
        key = (health.state, health.reason)
        if key == self._health_key:
            return
        self._health_key = key
        log.log(logging.INFO if health.ok else logging.WARNING, "storage %s", health.summary)
        if self.on_health is not None:
            try:
                self.on_health(health)
            except Exception:
                log.exception("store on_health hook failed")
