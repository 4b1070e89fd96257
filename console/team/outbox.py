"""Facts on their way to JetStream, in order, kept while the bus is away.

Every fact a node makes is appended here (on the engine loop) and a task publishes them in
order, each with a message id (author, run, sequence) so a fact re-sent after a lost
acknowledgement is stored once. While the bus is down they wait; when it returns they go
out in the order they were made. Bounded: past SOFT facts waiting, what only refreshes a
display (speaking lights, sentiment samples, talk metrics, tentative text) is dropped; past
HARD, the oldest facts are dropped (the node's own store still has every one). Drops are
counted and logged once per outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from console.core.events import (
    CallEvent,
    ConversationUpdate,
    SentimentSample,
    SpeechActivity,
    TranscriptSegment,
)
from console.team.schema import Fact, encode

__all__ = ["FactOutbox"]

log = logging.getLogger("console.team")

SOFT = 200_000
HARD = 1_000_000
BATCH = 256
_REFRESH_ONLY = (SpeechActivity, SentimentSample, ConversationUpdate)

# (fact, acked seq) -> None: what to do once a fact is stored (KV summaries).
AfterPublish = Callable[[Fact, int], Awaitable[None]]
# fact -> None: what must be true before anyone can see the fact (a new call's summary, so a
# console joining at that moment finds the call either live or in the summaries). A failure
# holds the batch back, as a failed publish does.
BeforePublish = Callable[[Fact], Awaitable[None]]


class FactOutbox:
    def __init__(self, author: str, subject_for: Callable[[CallEvent], str],
                 after: AfterPublish | None = None,
                 before: BeforePublish | None = None) -> None:
        self.author = author
        self.run = uuid.uuid4().hex[:12]
        self.subject_for = subject_for
        self.after = after
        self.before = before
        self._queue: deque[tuple[str, Fact]] = deque()
        self._n = 0
        self._wake = asyncio.Event()
        self.js: Any = None  # a JetStreamContext once connected
        self.published = 0
        self.dropped = 0
        self.failures = 0
        self._warned = False
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def put(self, event: CallEvent) -> None:
        """On the loop that runs `run()`; never blocks."""
        waiting = len(self._queue)
        if waiting >= SOFT and (isinstance(event, _REFRESH_ONLY) or (
                isinstance(event, TranscriptSegment) and not event.final)):
            self._drop(1)
            return
        if waiting >= HARD:
            self._queue.popleft()
            self._drop(1)
        self._n += 1
        fact = Fact(self.author, self.run, self._n, event)
        self._queue.append((self.subject_for(event), fact))
        self._wake.set()

    def _drop(self, n: int) -> None:
        self.dropped += n
        if not self._warned:
            self._warned = True
            log.warning("bus outbox full (%d facts waiting): dropping display-only facts; "
                        "the node's own store keeps everything", len(self._queue))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._pump())

    async def stop(self, flush_s: float = 2.0) -> None:
        """Publish what is waiting for up to `flush_s`, then stop."""
        if self._task is None:
            return
        if self._queue and self.js is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + flush_s
            while self._queue and loop.time() < deadline and not self._task.done():
                await asyncio.sleep(0.02)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None

    async def _pump(self) -> None:
        while True:
            if not self._queue or self.js is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            try:
                if self.before is not None:
                    for _subject, fact in batch:
                        await self.before(fact)
                acks = await self._publish(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                if self.failures == 1 or self.failures % 100 == 0:
                    log.warning("bus: %d facts wait to be published (%s)", len(self._queue),
                                str(exc) or type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if self.failures:
                log.info("bus: publishing again; %d facts waiting", len(self._queue))
                self.failures = 0
                self._warned = False
            for _ in batch:
                self._queue.popleft()
            self.published += len(batch)
            if self.after is not None:
                for (_subject, fact), seq in zip(batch, acks, strict=True):
                    try:
                        await self.after(fact, seq)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("bus: after publishing fact %d", fact.n)

    async def _publish(self, batch: list[tuple[str, Fact]]) -> list[int]:
        js = self.js
        futures = []
        for subject, fact in batch:
            msg_id = f"{fact.node}.{fact.run}.{fact.n}"
            futures.append(await js.publish_async(
                subject, encode(fact), headers={"Nats-Msg-Id": msg_id}, wait_stall=5.0))
        acks = await asyncio.wait_for(asyncio.gather(*futures), timeout=10.0)
        return [int(a.seq) for a in acks]
