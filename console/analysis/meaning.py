"""The meaning of each final line, off the engine's loop: intent alerts, topic evidence and
sentiment from sentence embeddings (tens of milliseconds a line, which the loop must not spend).

One worker thread (NumPy releases the GIL in its matrix products) behind a bounded queue.
When the queue is full the line goes on without meaning: its literal alerts still fire,
the skip is counted, and nothing waits. Lines said while the model loads (a second or two,
at start) wait in the queue; a model that cannot load is said once, the lines waiting go
on without meaning, and the console keeps its literal rules.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from console.analysis.alerts import AlertRule
from console.analysis.topics import DEFAULT_TOPICS, Topic

__all__ = ["Meaning", "MeaningWorker"]

log = logging.getLogger("console.analysis")

QUEUE = 256


@dataclass(frozen=True, slots=True)
class Meaning:
    fired: list[Any]  # intents.Fired
    topics: npt.NDArray[np.float32]  # similarity per topic (TopicModel order)
    sentiment: Any = None  # sentiment_model.Verdict


class MeaningWorker:
    def __init__(self, rules: Sequence[AlertRule], on_result: Callable[[Any, Meaning | None],
                                                                       None],
                 topics: Sequence[Topic] = DEFAULT_TOPICS, queue_size: int = QUEUE) -> None:
        self.rules = tuple(rules)
        self.topic_list = tuple(topics)
        self.on_result = on_result
        self.topic_names = [t.name for t in self.topic_list]
        self.status = "starting"  # starting, on, off: why
        self.skipped = 0  # lines that went on without meaning (queue full)
        self.failed = 0  # lines whose analysis raised
        self._jobs: queue.Queue[tuple[Any, str, str] | None] = queue.Queue(queue_size)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="meaning", daemon=True)
        self._matcher: Any = None
        self._topics: Any = None
        self._sentiment: Any = None

    def start(self) -> None:
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self.status == "on"

    def wait_ready(self, timeout: float) -> bool:
        self._ready.wait(timeout)
        return self.ready

    def submit(self, token: Any, speaker: str, text: str) -> bool:
        """Queue a final line; False when it must go on without meaning (off, or the queue
        is full: the caller publishes it as it is). While the model loads, lines wait."""
        if self.status not in ("starting", "on"):
            return False
        try:
            self._jobs.put_nowait((token, speaker, text))
            return True
        except queue.Full:
            self.skipped += 1
            if self.skipped in (1, 100) or self.skipped % 1000 == 0:
                log.warning("meaning analysis is behind: %d lines went on without it",
                            self.skipped)
            return False

    def close(self, timeout: float = 5.0) -> None:
        """Lines queued so far are still analysed and delivered; later ones go on without.
        A model still loading is not waited for (the thread ends on its own; a shutdown
        must not wait seconds for it)."""
        loaded = self.ready
        self.status = "off: closed"
        with contextlib.suppress(queue.Full):
            self._jobs.put(None, timeout=timeout if loaded else 0.1)
        if loaded and self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            from console.analysis.intents import IntentMatcher
            from console.analysis.sentiment_model import SentimentModel
            from console.analysis.topics import TopicModel

            self._matcher = IntentMatcher(self.rules)
            self._topics = TopicModel(self.topic_list, self._matcher.embedder)
            self._sentiment = SentimentModel(embedder=self._topics.embedder)
            if self.status == "starting":  # not closed while loading
                self.status = "on"
        except Exception as exc:  # a missing or broken model: literal rules carry on
            self.status = f"off: {exc}"
            log.warning("meaning analysis is off (literal alert rules only): %s", exc)
            self._ready.set()
            while True:  # what waited for the model goes on without it
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    return
                if job is not None:
                    self._deliver(job[0], None)
        self._ready.set()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            token, speaker, text = job
            try:
                result = self.analyse(speaker, text)
            except Exception:  # one bad line never stops the worker
                self.failed += 1
                log.exception("meaning analysis failed on a line")
                result = None
            self._deliver(token, result)

    def _deliver(self, token: Any, result: Meaning | None) -> None:
        try:
            self.on_result(token, result)
        except Exception:
            log.exception("meaning result could not be delivered")

    def analyse(self, speaker: str, text: str) -> Meaning:
        from console.analysis.intents import windows

        pieces = windows(text)
        embedder = self._matcher.embedder or self._topics.embedder
        vectors = embedder.embed(pieces) if pieces else np.zeros((0, 384), np.float32)
        fired = self._matcher.match(text, speaker, vectors) if pieces else []
        sims = (self._topics.similarities(vectors) if pieces
                else np.zeros(len(self.topic_names), np.float32))
        # windows() puts the whole line first: its vector is the line's meaning.
        verdict = self._sentiment.verdict(text, vectors[0]) if pieces else None
        return Meaning(fired, sims, verdict)
