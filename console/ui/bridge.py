"""Where the engine thread meets the UI thread: bus events are queued on the engine side
and handed to the UI in batches on a timer; ring buffers are looked up, never copied.

The queue is bounded for a UI that stops draining it (a hung paint, a debugger): past
SOFT_LIMIT waiting events, what only refreshes a display (tentative text, speaking lights,
sentiment samples, talk metrics) is dropped; past HARD_LIMIT, every new event is. Each drop
is counted in `dropped`, which the status bar shows."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, QTimer, Signal

from console.audio.ring import RingBuffer
from console.core.events import (
    CallEvent,
    ConversationUpdate,
    SentimentSample,
    SpeechActivity,
    TranscriptSegment,
)
from console.core.source import CallSource
from console.engine import EngineStats

__all__ = ["HARD_LIMIT", "SOFT_LIMIT", "EngineBridge"]

SOFT_LIMIT = 20_000  # about a minute of 100 busy calls' events
HARD_LIMIT = 200_000
_REFRESH_ONLY = (SpeechActivity, SentimentSample, ConversationUpdate)


class EngineBridge(QObject):
    events = Signal(list)  # a batch of CallEvent, in order

    def __init__(self, engine: CallSource, interval_ms: int = 50,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._queue: deque[CallEvent] = deque()
        self.dropped = 0  # events the UI fell too far behind to be given
        self._unsubscribe = engine.bus.subscribe(self._put)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    def _put(self, event: CallEvent) -> None:
        # Runs on the engine thread: deque.append and len are atomic, nothing else is shared.
        waiting = len(self._queue)
        if waiting >= SOFT_LIMIT and (
                waiting >= HARD_LIMIT or isinstance(event, _REFRESH_ONLY)
                or (isinstance(event, TranscriptSegment) and not event.final)):
            self.dropped += 1
            return
        self._queue.append(event)

    def drain(self) -> None:
        queue = self._queue
        if not queue:
            return
        batch = []
        while queue:
            batch.append(queue.popleft())
        self.events.emit(batch)

    def ring(self, track_key: str) -> RingBuffer | None:
        return self.engine.registry.rings.get(track_key)

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def close(self) -> None:
        self._timer.stop()
        self._unsubscribe()
