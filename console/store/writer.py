"""The one store writer: a thread that owns the SQLite connection and the recording files.

The engine hands it call events (bus subscriber) and, when recording, decoded frames; both
go through one FIFO queue, so a stream's audio is on disk before its close is committed.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from console.core.events import (
    AlertRaised,
    CallEnded,
    CallEvent,
    CallStarted,
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
from console.store.recording import TrackFiles, track_paths
from console.store.retention import prune

__all__ = ["StoreWriter", "recover_interrupted"]

log = logging.getLogger(__name__)
_STOP = object()
# chunks, timestamps, arrival ms, sizes, pcm: consecutive frames of one track
Batch = tuple[list[int | None], list[int | None], int, list[int], npt.NDArray[np.int16]]


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


class StoreWriter:
    def __init__(self, data_dir: str | Path, *, record: bool = False,
                 batch_seconds: float = 0.5, retention_days: int = 0) -> None:
        self.data_dir = Path(data_dir)
        self.record = record
        self.retention_days = retention_days
        self.pruned = 0
        self._next_prune = 0.0
        self.batch_seconds = batch_seconds
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._conn = connect(db_path(self.data_dir))
        self.recovered = recover_interrupted(self._conn)
        self._tracks: dict[str, TrackFiles] = {}
        self._track_call: dict[str, str] = {}
        self._failed_tracks: set[str] = set()
        self._pending_sql: list[CallEvent] = []
        self.errors: list[str] = []
        self.frames_written = 0
        # Called on the writer thread with each batch of events just committed.
        self.on_commit: Callable[[list[CallEvent]], None] | None = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # --- called from the engine thread (cheap: one queue put) -----------------------------

    def on_event(self, event: CallEvent) -> None:
        self._queue.put(event)
        if _urgent(event):
            self._wake.set()

    def frames(self, track_key: str, chunks: list[int | None], timestamps: list[int | None],
               arrival_ms: int, sizes: list[int], pcm: npt.NDArray[np.int16]) -> None:
        if self.record:
            self._queue.put((track_key, chunks, timestamps, arrival_ms, sizes, pcm))

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._wake.set()
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is on disk."""
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        return done.wait(timeout)

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        # Sleep between batches instead of blocking on the queue: a blocked get would be
        # woken by every frame the engine puts, thousands of times a second.
        stop = False
        while not stop:
            self._wake.wait(self.batch_seconds)
            self._wake.clear()
            batch: list[Any] = []
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch:
                stop = self._process(batch)
            elif self._pending_sql:
                self._commit([])
            if self.retention_days and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + 3600
                self._prune()
        for files in self._tracks.values():
            files.close()
        self._conn.close()

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
        events: list[CallEvent] = []
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
                if isinstance(item, TrackOpened):
                    self._track_call[item.track_key] = item.call_id
                if isinstance(item, (StreamClosed, CallEnded)) and frames:
                    # Audio queued before a close goes to disk before the close is committed.
                    self._write_frames(frames)
                    frames = {}
                events.append(item)
        if frames:
            self._write_frames(frames)
        self._commit(events)
        for waiter in waiters:
            waiter.set()
        return stop

    def _write_frames(self, frames: dict[str, list[Any]]) -> None:
        for key, items in frames.items():
            if key in self._failed_tracks:
                continue
            files = self._tracks.get(key)
            if files is None:
                call_id = self._track_call.get(key, key.split("/")[0])
                files = TrackFiles.open(self.data_dir / track_paths(call_id, key))
                self._tracks[key] = files
            try:
                files.append(items)
                self.frames_written += sum(len(b[3]) for b in items)
            except OSError as exc:
                self._failed_tracks.add(key)
                files.close()
                msg = f"recording of {key} stopped: {exc}"
                self.errors.append(msg)
                log.error(msg)

    def _commit(self, events: list[CallEvent]) -> None:
        todo = self._pending_sql + events
        if not todo:
            return
        try:
            with self._conn:
                for event in todo:
                    self._apply(event)
            self._pending_sql = []
            if self.on_commit is not None:
                self.on_commit(todo)
        except sqlite3.IntegrityError:
            # One event that cannot be stored (e.g. for a call the store never saw) must not
            # hold back the rest: store them one by one and report only the misfits.
            self._pending_sql = []
            kept = []
            for event in todo:
                try:
                    with self._conn:
                        self._apply(event)
                    kept.append(event)
                except sqlite3.IntegrityError as exc:
                    msg = f"dropped a {type(event).__name__} the store cannot keep: {exc}"
                    log.error(msg)
                    self.errors.append(msg)
            if self.on_commit is not None and kept:
                self.on_commit(kept)
        except sqlite3.Error as exc:
            # Disk full or locked: keep the events and try again with the next batch.
            self._pending_sql = todo[-100000:]
            msg = f"could not save call events ({len(todo)} waiting): {exc}"
            if not self.errors or self.errors[-1] != msg:
                log.error(msg)
            self.errors.append(msg)

    def _apply(self, ev: CallEvent) -> None:
        c = self._conn
        if isinstance(ev, CallStarted):
            c.execute(
                "INSERT INTO calls (id, provider, from_number, to_number, started_at, state) "
                "VALUES (?, ?, ?, ?, ?, 'active') ON CONFLICT(id) DO UPDATE SET "
                "state = 'active', ended_at = NULL, "
                "from_number = COALESCE(calls.from_number, excluded.from_number), "
                "to_number = COALESCE(calls.to_number, excluded.to_number)",
                (ev.call_id, ev.provider.value, ev.from_number, ev.to_number, ev.started_at),
            )
        elif isinstance(ev, StreamOpened):
            fmt = ev.media_format
            c.execute(
                "INSERT OR REPLACE INTO streams (uid, call_id, stream_id, provider, encoding, "
                "raw_encoding, sample_rate, tracks, leg, roles, custom_parameters, "
                "call_control_id, started_at, codec_error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ev.stream_id, ev.call_id, ev.stream_id.split("#")[0], ev.provider.value,
                 fmt.encoding, fmt.raw_encoding, fmt.sample_rate,
                 json.dumps([t.value for t in ev.tracks]), ev.leg, json.dumps(ev.roles),
                 json.dumps(ev.custom_parameters), ev.call_control_id, ev.at, ev.codec_error),
            )
        elif isinstance(ev, TrackOpened):
            self._track_call[ev.track_key] = ev.call_id
            recording = track_paths(ev.call_id, ev.track_key) if self.record else None
            c.execute(
                "INSERT OR REPLACE INTO tracks (key, call_id, stream_uid, name, role, "
                "sample_rate, opened_at, recording) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ev.track_key, ev.call_id, ev.stream_id, ev.track.value, ev.role.value,
                 ev.sample_rate, ev.at, recording),
            )
            if self.record:
                c.execute("UPDATE calls SET recorded = 1 WHERE id = ?", (ev.call_id,))
        elif isinstance(ev, StreamClosed):
            c.execute(
                "UPDATE streams SET ended_at = ?, end_reason = ?, frames = ?, dropped = ?, "
                "audio_s = ? WHERE uid = ?",
                (ev.at, ev.reason, ev.frames, ev.dropped, ev.audio_s, ev.stream_id),
            )
            prefix = ev.stream_id + "/"
            for key in [k for k in self._tracks if k.startswith(prefix)]:
                self._tracks.pop(key).close()
        elif isinstance(ev, CallEnded):
            c.execute("UPDATE calls SET ended_at = ?, state = ? WHERE id = ?",
                      (ev.ended_at, ev.state, ev.call_id))
        elif isinstance(ev, DtmfReceived):
            c.execute(
                "INSERT INTO dtmf (call_id, stream_uid, digit, at_s, occurred_at, track) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ev.call_id, ev.stream_id, ev.digit, ev.at_s, ev.occurred_at, ev.track),
            )
        elif isinstance(ev, TranscriptSegment):
            if ev.final:
                c.execute(
                    "INSERT INTO segments (call_id, speaker, start_s, end_s, text, sentiment) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (ev.call_id, ev.speaker.value, ev.start_s, ev.end_s, ev.text, ev.sentiment),
                )
        elif isinstance(ev, ConversationUpdate):
            c.execute(
                "INSERT OR REPLACE INTO metrics (call_id, customer_talk_s, agent_talk_s, "
                "talk_ratio, longest_silence_s, overtalk_count, overtalk_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ev.call_id, ev.customer_talk_s, ev.agent_talk_s, ev.talk_ratio,
                 ev.longest_silence_s, ev.overtalk_count, ev.overtalk_s))
        elif isinstance(ev, SentimentSample):
            c.execute("INSERT INTO sentiment (call_id, speaker, at_s, score) VALUES (?, ?, ?, ?)",
                      (ev.call_id, ev.speaker.value, ev.at_s, ev.score))
        elif isinstance(ev, SupervisorAction):
            c.execute("INSERT INTO audit (call_id, at, action, detail) VALUES (?, ?, ?, ?)",
                      (ev.call_id, ev.at, ev.action, ev.detail))
        elif isinstance(ev, AlertRaised):
            c.execute(
                "INSERT INTO alerts (call_id, rule, speaker, at_s, text) VALUES (?, ?, ?, ?, ?)",
                (ev.call_id, ev.rule, ev.speaker.value if ev.speaker else None, ev.at_s,
                 ev.text),
            )
        elif isinstance(ev, StreamProblem) and ev.call_id is not None:
            c.execute(
                "INSERT INTO problems (call_id, stream_uid, kind, message, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (ev.call_id, ev.stream_id, ev.kind, ev.message, ev.at),
            )
