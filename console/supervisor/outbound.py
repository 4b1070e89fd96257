"""What the console sends back on a stream (whisper and barge audio, marks, clears) goes
through one sender per stream: a bounded queue that one task drains, a message at a time.
The task starts with the first message and ends with the connection (`close`).

Before, every 20 ms whisper frame got a task of its own, which wrote its frame into the
connection's buffer and waited there: a peer that stopped reading (or read slowly) collected
a task and a frame every 20 ms for as long as the supervisor spoke (29,230 tasks and 7.7 MB
after 40,000 frames). Now at most `limit` audio frames wait (10: 200 ms of voice) besides the
one being written, which websockets holds to its write limit. When more would wait (the peer
not reading, or a burst larger than that after the engine stalled), the oldest is dropped:
what the agent would hear late anyway, while the newest voice goes first once the peer reads
again. Marks and clears (`droppable=False`) wait beside them and are not dropped, up to
`limit` of them too (2 * limit messages in all, then the oldest goes whatever it is). Drops
are counted (`dropped`) and logged once per stream; the supervisor's controller shows them
and stores them as a stream problem.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["SEND_QUEUE_FRAMES", "OutboundQueue", "deliver"]

log = logging.getLogger("console.supervisor")

SEND_QUEUE_FRAMES = 10  # 200 ms of 20 ms frames


class OutboundQueue:
    """The registry's `sender` for one stream (callable with the text to send)."""

    def __init__(self, send: Callable[[str | bytes], Awaitable[object]], *,
                 limit: int = SEND_QUEUE_FRAMES, name: str = "") -> None:
        if limit < 1:
            raise ValueError("an outbound queue holds at least one message")
        self.limit = limit
        self.name = name
        self.sent = 0
        self.dropped = 0  # audio frames dropped because the queue was full
        self.lost = 0  # messages still waiting when the connection failed
        self.max_queued = 0  # the most that ever waited at once
        self.closed = False
        self._send = send
        self._queue: deque[tuple[str | bytes, bool]] = deque()
        self._audio = 0  # droppable messages waiting
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    def __call__(self, text: str | bytes) -> None:
        self.put(text)

    @property
    def queued(self) -> int:
        """Messages waiting (not counting the one being written)."""
        return len(self._queue)

    def put(self, text: str | bytes, *, droppable: bool = True) -> None:
        """Queue `text` (on the engine's loop); returns at once."""
        if self.closed:
            self.lost += 1
            return
        q = self._queue
        if (droppable and self._audio >= self.limit) or len(q) >= 2 * self.limit:
            self._drop_oldest()
        q.append((text, droppable))
        self._audio += droppable
        self.max_queued = max(self.max_queued, len(q))
        if self._wake is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(self._wake))
        self._wake.set()

    def close(self) -> None:
        """The connection is gone: what waits is lost (counted) and the task ends."""
        if not self.closed:
            self._fail()
        if self._task is not None:
            self._task.cancel()

    def _drop_oldest(self) -> None:
        q = self._queue
        for i, (_, droppable) in enumerate(q):
            if droppable:
                del q[i]
                self._audio -= 1
                break
        else:  # only marks and clears waiting (never in practice): still bounded
            q.popleft()
        self.dropped += 1
        if self.dropped == 1:
            log.warning("%s is not reading what the console sends; dropping the oldest "
                        "audio beyond %d waiting frames (counted)", self.name or "a peer",
                        self.limit)

    async def _run(self, wake: asyncio.Event) -> None:
        q = self._queue
        try:
            while not self.closed:
                while q:
                    text, droppable = q.popleft()
                    self._audio -= droppable
                    await self._send(text)
                    self.sent += 1
                wake.clear()
                await wake.wait()
        except asyncio.CancelledError:
            self._fail()
            raise
        except Exception as exc:  # the connection closed or broke: nothing more will go
            log.debug("%s: sending stopped: %s", self.name or "a peer", exc)
            self._fail()
        finally:
            self._task = None

    def _fail(self) -> None:
        self.closed = True
        self.lost += len(self._queue)
        self._queue.clear()
        self._audio = 0


def deliver(sender: Callable[[str | bytes], None], text: str | bytes, droppable: bool) -> None:
    """Hand `text` to a stream's sender; an OutboundQueue learns whether it may drop it."""
    if isinstance(sender, OutboundQueue):
        sender.put(text, droppable=droppable)
    else:
        sender(text)
