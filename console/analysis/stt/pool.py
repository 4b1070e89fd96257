"""Speech recognition in worker processes, so neither the UI nor the stream server ever waits
on it. Utterances queue here; whenever a worker is free it takes a batch of them (the
focused call's first), sharing what is queued among the free workers so that a batch never
waits behind another that could have run beside it."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from console.analysis.stt.engine import MAX_BATCH

__all__ = ["Job", "SttPool"]

log = logging.getLogger("console.stt")
NICE = 5


@dataclass
class Job:
    id: int
    call_id: str
    audio: npt.NDArray[np.float32]  # 16 kHz mono
    meta: Any = None
    queued_at: float = field(default_factory=time.monotonic)
    partial: bool = False  # tentative text of an utterance still being spoken
    key: str = ""  # a newer partial with the same key replaces a queued one


def _worker(model: str, threads: int, jobs: Any, results: Any, index: int) -> None:
    # Runs in its own process: load the model once, then transcribe batches until told to stop.
    from console.analysis.stt.engine import FasterWhisperEngine

    with contextlib.suppress(OSError):
        os.nice(NICE)  # when the cores are short, audio and the window go first

    try:
        engine = FasterWhisperEngine(model, threads=threads)
    except Exception as exc:  # the parent reports it; nothing else can be done here
        results.put((index, None, f"{type(exc).__name__}: {exc}"))
        return
    results.put((index, [], None))  # ready
    while True:
        batch = jobs.get()
        if batch is None:
            return
        ids, audios = batch
        try:
            texts = engine.transcribe_batch(audios)
            results.put((index, list(zip(ids, texts, strict=True)), None))
        except Exception as exc:
            results.put((index, [(i, "") for i in ids], f"{type(exc).__name__}: {exc}"))


class SttPool:
    def __init__(self, model: str, on_text: Callable[[Job, str], None], workers: int = 2,
                 threads: int = 1) -> None:
        self.model = model
        self.on_text = on_text
        self.workers = max(1, workers)
        self.threads = threads
        self.focus: str | None = None  # the call the supervisor is looking at goes first
        self._ctx = mp.get_context("spawn")  # no fork: the parent has threads and Qt
        self._results = self._ctx.Queue()
        self._queues = [self._ctx.Queue() for _ in range(self.workers)]
        self._procs: list[Any] = []
        self._idle: set[int] = set()
        self._pending: deque[Job] = deque()
        self._inflight: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float = 60.0) -> None:
        for i in range(self.workers):
            p = self._ctx.Process(target=_worker, args=(self.model, self.threads,
                                                        self._queues[i], self._results, i),
                                  name=f"stt-{i}", daemon=True)
            p.start()
            self._procs.append(p)
        deadline = time.monotonic() + timeout
        while len(self._idle) < self.workers and time.monotonic() < deadline:
            try:
                index, _items, error = self._results.get(timeout=0.5)
            except Exception:
                continue
            if error:
                self.close()
                raise RuntimeError(f"speech recognition could not start: {error}")
            self._idle.add(index)
        if len(self._idle) < self.workers:
            self.close()
            raise RuntimeError("speech recognition workers did not start in time")
        for target in (self._dispatch, self._collect):
            t = threading.Thread(target=target, name=f"stt-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, job: Job) -> None:
        with self._lock:
            if job.key:  # only the latest tentative text of an utterance is worth doing
                for old in [j for j in self._pending if j.key == job.key]:
                    self._pending.remove(old)
            self._pending.append(job)
        self._wake.set()

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
                self._pending.remove(job)
            return batch

    def _dispatch(self) -> None:
        while not self._stop:
            self._wake.wait(0.5)
            self._wake.clear()
            while not self._stop:
                with self._lock:
                    free = next(iter(self._idle), None)
                    idle = len(self._idle)
                if free is None:
                    break
                batch = self._take_batch(idle)
                if not batch:
                    break
                with self._lock:
                    self._idle.discard(free)
                    for job in batch:
                        self._inflight[job.id] = job
                self._queues[free].put(([j.id for j in batch], [j.audio for j in batch]))

    def _collect(self) -> None:
        while not self._stop:
            try:
                index, items, error = self._results.get(timeout=0.5)
            except Exception:
                continue
            if error:
                log.error("speech recognition: %s", error)
            with self._lock:
                self._idle.add(index)
                done = [(self._inflight.pop(i), text) for i, text in items or []
                        if i in self._inflight]
            self._wake.set()
            for job, text in done:
                try:
                    self.on_text(job, text)
                except Exception:
                    log.exception("handling a transcript failed")

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        for q in self._queues:
            with contextlib.suppress(Exception):
                q.put(None)
        for p in self._procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
        for t in self._threads:
            t.join(2)
