"""One bus for the low-rate call events. Subscribers run on the publishing thread and must be
quick (typically: put the event on their own queue)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from console.core.events import CallEvent

__all__ = ["EventBus", "Subscriber"]

Subscriber = Callable[[CallEvent], None]
log = logging.getLogger(__name__)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, fn)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not fn)

        return unsubscribe

    def publish(self, event: CallEvent) -> None:
        for fn in self._subscribers:
            try:
                fn(event)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("event subscriber %r failed on %s", fn, type(event).__name__)
