"""Where the engine thread meets the UI thread: bus events are queued on the engine side
and handed to the UI in batches on a timer; ring buffers are looked up, never copied."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, QTimer, Signal

from console.audio.ring import RingBuffer
from console.core.events import CallEvent
from console.engine import Engine, EngineStats

__all__ = ["EngineBridge"]


class EngineBridge(QObject):
    events = Signal(list)  # a batch of CallEvent, in order

    def __init__(self, engine: Engine, interval_ms: int = 50,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._queue: deque[CallEvent] = deque()
        # Runs on the engine thread: deque.append is atomic, nothing else is touched.
        self._unsubscribe = engine.bus.subscribe(self._queue.append)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

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
