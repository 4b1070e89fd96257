"""Speech recognition in worker processes, so neither the UI nor the stream server ever waits
on it. Utterances queue here; whenever a worker is free it takes a batch of them (the
focused call's first), sharing what is queued among the free workers so that a batch never
waits behind another that could have run beside it.

The pool supervises its workers from one thread: each worker has a pipe of its own, and the
thread waits on every pipe and every process's exit at once, so a worker that dies (killed,
crashed, out of memory) is noticed at once. Its utterances in hand go back to the queue and
it is started again, at once the first time and then after growing pauses, so a model that
no longer loads is retried without spinning. Workers end with the console, even when it is
killed outright: the kernel stops them when the thread that started them ends (Linux), and
they also stop when their pipe to the console closes or their parent changes.

The queue is bounded (jobs and seconds of audio). When full, the oldest tentative text goes
first (a newer one replaces it anyway), then the oldest utterance; every drop is counted and
the first of each spell is logged."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from console.analysis.stt.engine import MAX_BATCH, RATE

__all__ = ["Job", "PoolHealth", "SttPool"]

log = logging.getLogger("console.stt")
NICE = 5
MAX_PENDING = 2000  # queued jobs
MAX_PENDING_S = 300.0  # seconds of queued audio (float32 at 16 kHz: about 19 MB); past it
# the workers are so far behind (over 10 s at 2 workers' pace) that text is no longer live
MAX_ATTEMPTS = 3  # an utterance whose worker died under it this often is given up
RESTART_DELAYS_S = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # after 1, 2, ... deaths in a row
FAILING_AFTER = 3  # deaths in a row before the status says the workers keep failing
STABLE_S = 30.0  # a worker up this long has recovered: its next death restarts it at once
STOP_WAIT_S = 1.0  # how long close() lets workers finish before killing them
# A batch takes well under a second per utterance; a worker silent this long is stuck (or
# stopped) and is replaced like a dead one.
BATCH_TIMEOUT_S = 120.0
POLL_S = 0.5  # the supervisor's longest sleep; deaths and results wake it at once
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass
class Job:
    id: int
    call_id: str
    audio: npt.NDArray[np.float32]  # 16 kHz mono
    meta: Any = None
    queued_at: float = field(default_factory=time.monotonic)
    partial: bool = False  # tentative text of an utterance still being spoken
    key: str = ""  # a newer partial with the same key replaces a queued one
    attempts: int = 0  # workers that died while holding it
    language: str | None = None  # translating pools: the speaker's language, if known


@dataclass(frozen=True)
class PoolHealth:
    """A snapshot of the pool: how many workers can take work and what was lost."""

    workers: int
    live: int  # loaded and taking work
    deaths: int  # workers that ended unasked
    restarts: int
    requeued: int  # utterances put back in the queue after their worker died
    dropped: int  # utterances dropped because the queue was full
    given_up: int  # utterances whose workers died MAX_ATTEMPTS times under them
    pending: int
    failing: bool  # some worker keeps dying (FAILING_AFTER times in a row)
    last_error: str
    retry_in_s: float | None  # until the next start of a worker that is down


# --- the worker process -----------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """A worker must never outlive the console. On Linux the kernel sends SIGKILL when the
    thread that started the worker ends, which covers kill -9 of the console; a watcher
    thread covers other systems and a parent gone before the request took effect."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker(model: str, threads: int, conn: Any, parent: int,
            mode: str = "transcribe") -> None:
    # Runs in its own process: load the model once, then transcribe batches until told to
    # stop or until the console is gone (its end of the pipe closes). A translating worker
    # answers each utterance with its language, its words and their English (as a string:
    # see translate.to_wire).
    _die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(NICE)  # when the cores are short, audio and the window go first
    from console.analysis.stt.engine import FasterWhisperEngine

    engine: Any
    try:
        if mode == "translate":
            from console.analysis.stt.translate import TranslatingEngine, to_wire

            engine = TranslatingEngine(model, threads=threads)
        else:
            engine = FasterWhisperEngine(model, threads=threads)
    except Exception as exc:  # the parent reports it; nothing else can be done here
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(("ready", None))
        while True:
            batch = conn.recv()
            if batch is None:
                return
            ids, audios, languages, tentative = batch
            reply: tuple[str, list[tuple[int, str]], str | None]
            try:
                if mode == "translate":
                    texts = [to_wire(h) for h in engine.process_batch(audios, languages)]
                else:
                    # Tentative text is decoded greedily, final text with the beam.
                    texts = engine.transcribe_batch(audios, tentative)
                reply = ("done", list(zip(ids, texts, strict=True)), None)
            except Exception as exc:
                reply = ("done", [(i, "") for i in ids], f"{type(exc).__name__}: {exc}")
            conn.send(reply)
    except (EOFError, OSError):
        return  # the console is gone


# --- the parent's side --------------------------------------------------------------------


@dataclass
class _Slot:
    """One worker place: the process in it now (if any) and what it holds."""

    index: int
    proc: Any = None
    conn: Any = None  # the parent's end of this worker's pipe
    ready: bool = False
    batch: list[Job] = field(default_factory=list)  # in flight
    up_since: float = 0.0
    deaths: int = 0  # in a row: sets the pause before the next start
    retry_at: float = 0.0
    error: str = ""  # why the last one ended
    cause: str = ""  # why the process in it now is ending, when known (model did not load)
    sent_at: float = 0.0  # when its batch was sent
    started: int = 0  # processes started in this place


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


class SttPool:
    """Worker processes that turn queued utterances into text, calling `on_text(job, text)`
    from the pool's supervisor thread for each (text "" for nothing said or given up)."""

    def __init__(self, model: str, on_text: Callable[[Job, str], None], workers: int = 2,
                 threads: int = 1, max_pending: int = MAX_PENDING,
                 max_pending_s: float = MAX_PENDING_S,
                 batch_timeout_s: float = BATCH_TIMEOUT_S, mode: str = "transcribe") -> None:
        self.model = model
        self.mode = mode  # "transcribe", or "translate" (language, words and English)
        self.on_text = on_text
        self.workers = max(1, workers)
        self.threads = threads
        self.focus: str | None = None  # the call the supervisor is looking at goes first
        self.max_pending = max(1, max_pending)
        self.max_pending_samples = int(max_pending_s * RATE)
        self.batch_timeout_s = batch_timeout_s
        self._ctx = mp.get_context("spawn")  # no fork: the parent has threads and Qt
        self._slots = [_Slot(i) for i in range(self.workers)]
        self._pending: deque[Job] = deque()
        self._pending_samples = 0
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)  # submit() never waits on a full wake pipe
        self._changed = threading.Event()  # a worker became ready or failed to load
        self._stop = False
        self._thread: threading.Thread | None = None
        self._start_error = ""
        self._running = False  # start() has returned: later load errors are retried
        self._dropping = False  # in a spell of drops: logged once per spell
        self.deaths = 0
        self.restarts = 0
        self.requeued = 0
        self.dropped = 0
        self.given_up = 0

    # --- life cycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the workers and wait until each has loaded its model; RuntimeError (and
        nothing left running) when one cannot load it, when they take longer than
        `timeout`, or when close() is called meanwhile."""
        self._thread = threading.Thread(target=self._run, name="stt-supervisor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                live = sum(s.ready for s in self._slots)
            if live == self.workers:
                self._running = True
                return
            error = self._start_error or (
                "stopped while starting" if self._stop else
                "speech recognition workers did not start in time"
                if time.monotonic() > deadline else "")
            if error:
                self.close()
                raise RuntimeError(f"speech recognition could not start: {error}"
                                   if self._start_error else error)
            self._changed.wait(0.1)
            self._changed.clear()

    def request_stop(self) -> None:
        """Ask the pool to stop without waiting (any thread): start() gives up, workers end."""
        self._stop = True
        self._poke()

    def close(self) -> None:
        """Stop the workers (those mid-batch get STOP_WAIT_S, then are killed) and wait for
        the supervisor thread; about two seconds at most."""
        self.request_stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_WAIT_S + 3.0)
            if thread.is_alive():
                log.error("the speech worker supervisor did not stop in time")
                return  # its wake pipe stays open: it may still be waiting on it
        else:
            self._stop_workers()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    # --- queue ----------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue an utterance (any thread; never waits)."""
        with self._lock:
            if job.key:  # only the latest tentative text of an utterance is worth doing
                for old in [j for j in self._pending if j.key == job.key]:
                    self._remove(old)
            self._pending.append(job)
            self._pending_samples += job.audio.size
            self._bound()
        self._poke()

    def _remove(self, job: Job) -> None:
        self._pending.remove(job)
        self._pending_samples -= job.audio.size

    def _bound(self) -> None:
        """Under the lock: drop from the queue until it is within its bounds again."""
        while len(self._pending) > 1 and (len(self._pending) > self.max_pending or
                                          self._pending_samples > self.max_pending_samples):
            partials = [j for j in self._pending if j.partial]
            victim = min(partials or self._pending, key=lambda j: j.queued_at)
            self._remove(victim)
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("speech queue full (%d utterances, %.0f s of audio): dropping the "
                            "oldest tentative text, then the oldest utterances, until the "
                            "workers catch up", len(self._pending) + 1,
                            self._pending_samples / RATE)

    def _take_batch(self, free_workers: int) -> list[Job]:
        with self._lock:
            if not self._pending:
                return []
            # Final text first (the focused call's before others), then tentative text.
            jobs = sorted(self._pending,
                          key=lambda j: (j.partial, j.call_id != self.focus, j.queued_at))
            size = min(MAX_BATCH, math.ceil(len(jobs) / max(1, free_workers)))
            batch = jobs[:size]
            for job in batch:
                self._remove(job)
            if (self._dropping and len(self._pending) < self.max_pending // 2
                    and self._pending_samples < self.max_pending_samples // 2):
                self._dropping = False  # the next spell of drops is logged again
            return batch

    # --- health ---------------------------------------------------------------------------

    def health(self) -> PoolHealth:
        now = time.monotonic()
        with self._lock:
            down = [s for s in self._slots if not s.ready]
            return PoolHealth(
                workers=self.workers,
                live=self.workers - len(down),
                deaths=self.deaths,
                restarts=self.restarts,
                requeued=self.requeued,
                dropped=self.dropped,
                given_up=self.given_up,
                pending=len(self._pending),
                failing=any(s.deaths >= FAILING_AFTER for s in self._slots),
                last_error=next((s.error for s in down if s.error), ""),
                retry_in_s=min((max(0.0, s.retry_at - now) for s in down if s.proc is None),
                               default=None),
            )

    def pids(self) -> list[int]:
        """Process ids of the workers running now (loaded or loading)."""
        with self._lock:
            return [s.proc.pid for s in self._slots if s.proc is not None]

    def status(self, on: str) -> str:
        """The transcription status to show, given what it says when all is well (`on`,
        e.g. "on: tiny.en (...)"): never "on" while no worker can take work."""
        h = self.health()
        lost = f"; {h.dropped} utterance(s) dropped, queue full" if h.dropped else ""
        lost += f"; {h.given_up} utterance(s) given up" if h.given_up else ""
        if h.live == h.workers:
            return on + lost
        why = h.last_error or "starting again"
        retry = (f"next try in {h.retry_in_s:.0f} s" if h.retry_in_s else "restarting")
        if h.live:
            _, _, rest = on.partition(":")
            return (f"on (degraded: {h.live} of {h.workers} speech workers running; "
                    f"{why}; {retry}):{rest}{lost}")
        state = "failing: speech workers keep stopping" if h.failing else \
            "restarting: no speech worker running"
        return f"{state} ({why}); {retry}; {h.pending} utterance(s) waiting{lost}"

    # --- the supervisor thread ------------------------------------------------------------

    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # full (already woken) or closed
            os.write(self._wake_w, b"\0")

    def _run(self) -> None:
        while not self._stop:
            try:
                self._step()
            except Exception:  # supervision must go on, or workers die unseen
                log.exception("speech worker supervision failed; going on")
                time.sleep(POLL_S)
        self._stop_workers()

    def _step(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.proc is None and now >= slot.retry_at and not self._stop:
                self._spawn(slot)
            elif slot.ready and slot.deaths and now - slot.up_since > STABLE_S:
                slot.deaths = 0
            if slot.batch and slot.proc is not None and not slot.cause \
                    and now - slot.sent_at > self.batch_timeout_s:
                slot.cause = f"gave no answer for {self.batch_timeout_s:.0f} s and was killed"
                log.error("speech worker %d (pid %d) %s", slot.index, slot.proc.pid,
                          slot.cause)
                slot.proc.kill()  # its exit is handled like any other: the batch goes back
        self._dispatch()
        retry = [s.retry_at - now for s in self._slots if s.proc is None]
        timeout = max(0.0, min([POLL_S, *retry]))
        conns = [s.conn for s in self._slots if s.conn is not None]
        sentinels = {s.proc.sentinel: s for s in self._slots if s.proc is not None}
        ready = mpc.wait([self._wake_r, *conns, *sentinels], timeout)
        if self._wake_r in ready:
            with contextlib.suppress(OSError):
                while os.read(self._wake_r, 4096):
                    pass
        # Results before deaths: what a worker sent just before it died still counts.
        for slot in self._slots:
            if slot.conn is not None and slot.conn in ready:
                self._receive(slot)
        for sentinel, slot in sentinels.items():
            if sentinel in ready and slot.proc is not None:
                self._lost(slot)

    def _spawn(self, slot: _Slot) -> None:
        ours, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker, name=f"stt-{slot.index}", daemon=True,
                                 args=(self.model, self.threads, theirs, os.getpid(),
                                       self.mode))
        try:
            proc.start()  # from this thread, which lives as long as the pool (PDEATHSIG)
        except OSError as exc:  # no memory or processes left: try again later
            ours.close()
            self._schedule(slot, f"could not start: {exc}")
            log.error("speech worker %d could not start: %s", slot.index, exc)
            return
        finally:
            theirs.close()  # only the worker holds its end: its death closes the pipe
        with self._lock:
            slot.proc, slot.conn, slot.ready, slot.cause = proc, ours, False, ""
            slot.started += 1
            if slot.started > 1:
                self.restarts += 1

    def _schedule(self, slot: _Slot, error: str) -> None:
        with self._lock:
            slot.deaths += 1
            slot.error = error
            pause = RESTART_DELAYS_S[min(slot.deaths, len(RESTART_DELAYS_S)) - 1]
            slot.retry_at = time.monotonic() + pause

    def _dispatch(self) -> None:
        while not self._stop:
            with self._lock:
                free = [s for s in self._slots if s.ready and not s.batch]
            if not free:
                return
            batch = self._take_batch(len(free))
            if not batch:
                return
            slot = free[0]
            with self._lock:
                slot.batch, slot.sent_at = batch, time.monotonic()
            try:
                slot.conn.send(([j.id for j in batch], [j.audio for j in batch],
                                [j.language for j in batch], [j.partial for j in batch]))
            except OSError:  # it died: the batch goes back when its exit is handled
                self._lost(slot)

    def _receive(self, slot: _Slot) -> None:
        try:
            while slot.conn is not None and slot.conn.poll():
                self._message(slot, slot.conn.recv())
        except (EOFError, OSError):
            self._lost(slot)  # the pipe closed: the worker is gone or going

    def _message(self, slot: _Slot, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            with self._lock:
                slot.ready, slot.up_since, slot.error = True, time.monotonic(), ""
            if slot.started > 1:
                log.warning("speech worker %d is running again (pid %d)", slot.index,
                            slot.proc.pid)
            self._changed.set()
        elif kind == "error":  # the model did not load; the worker ends next
            slot.cause = f"could not load the model: {msg[1]}"
            if not self._running and not self._start_error:
                self._start_error = msg[1]  # start() reports it
            self._changed.set()
        elif kind == "done":
            _, items, error = msg
            if error:
                log.error("speech recognition: %s", error)
            with self._lock:
                jobs = {j.id: j for j in slot.batch}
                slot.batch = []
                slot.deaths = 0  # it did real work: it has recovered
            for i, text in items:
                job = jobs.get(i)
                if job is not None:
                    self._deliver(job, text)

    def _deliver(self, job: Job, text: str) -> None:
        try:
            self.on_text(job, text)
        except Exception:
            log.exception("handling a transcript failed")

    def _lost(self, slot: _Slot) -> None:
        """A worker ended: put what it held back in the queue and plan its restart."""
        proc, conn = slot.proc, slot.conn
        if proc is None:
            return
        if conn is not None:  # anything it sent before it died still counts
            with contextlib.suppress(EOFError, OSError):
                while conn.poll():
                    self._message(slot, conn.recv())
        proc.join(0.5)
        if proc.is_alive():  # its pipe broke but it lives on: it cannot be used any more
            proc.kill()
            proc.join(1.0)
        with contextlib.suppress(OSError):
            if conn is not None:
                conn.close()
        how = _how_it_ended(proc.exitcode)
        error = slot.cause or how
        given_up: list[Job] = []
        with self._lock:
            held, slot.batch = slot.batch, []
            slot.proc = slot.conn = None
            slot.ready = False
            self.deaths += 1
            for job in held:
                job.attempts += 1
                if job.attempts >= MAX_ATTEMPTS:
                    given_up.append(job)
                    continue
                self._pending.appendleft(job)  # sorted by age when taken: order kept
                self._pending_samples += job.audio.size
                self.requeued += 1
            self.given_up += len(given_up)
            self._bound()
        self._schedule(slot, error)
        self._changed.set()
        if self._stop:
            return
        pause = slot.retry_at - time.monotonic()
        back = len(held) - len(given_up)
        log.error("speech worker %d (pid %d) %s%s; %s", slot.index, proc.pid, error,
                  f"; the {back} utterance(s) it held go back in the queue" if back else "",
                  f"next try in {pause:.0f} s ({slot.deaths} failures in a row)"
                  if pause > 0 else "starting it again")
        for job in given_up:
            log.error("speech worker died %d times on an utterance of call %s; giving it up",
                      job.attempts, job.call_id)
            self._deliver(job, "")

    def _stop_workers(self) -> None:
        for slot in self._slots:
            if slot.conn is not None:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
        deadline = time.monotonic() + STOP_WAIT_S
        for slot in self._slots:
            if slot.proc is not None:
                slot.proc.join(max(0.0, deadline - time.monotonic()))
        for slot in self._slots:
            proc = slot.proc
            if proc is None:
                continue
            if proc.is_alive():  # mid-batch: nothing in a worker is worth waiting for
                proc.kill()
                proc.join(1.0)
            with contextlib.suppress(OSError):
                if slot.conn is not None:
                    slot.conn.close()
            with self._lock:
                slot.proc = slot.conn = None
                slot.ready = False
