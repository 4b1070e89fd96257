"""Who holds a stream slot.

Only started streams count toward `max_streams`: a socket that has passed the handshake but
not yet sent its `start` frame is *pending*. Pending sockets are closed when they have not
started within `start_timeout_s`, and there are at most `max_pending` of them: when one more
arrives the oldest pending one is closed (counted), so a flood of sockets that never start can
neither hold the stream slots nor keep a real call (which starts within milliseconds of its
handshake) out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any, Protocol

from console.server.session import StreamSession

__all__ = ["StreamLimits"]

log = logging.getLogger("console.server")

TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is overloaded for now
POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003  # the frames are of a kind this endpoint does not take


class _Closable(Protocol):
    def close(self, code: int = ..., reason: str = ...) -> Awaitable[Any]: ...


class StreamLimits:
    """Stream slots and pending connections of one engine; used on the engine's loop only."""

    def __init__(self, max_streams: int, max_pending: int, start_timeout_s: float) -> None:
        self.max_streams = max_streams
        self.max_pending = max_pending
        self.start_timeout_s = start_timeout_s
        self._pending: dict[StreamSession, float] = {}  # opened at (monotonic), oldest first
        self._started: set[StreamSession] = set()
        self._conns: dict[StreamSession, _Closable] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.start_timeouts = 0  # closed for sending no start frame in time
        self.evicted_pending = 0  # closed because max_pending newer sockets arrived
        self.refused_starts = 0  # start frames refused: max_streams streams already started
        self.unrecognised = 0  # closed: their first frames are no platform's protocol

    @property
    def started(self) -> int:
        return len(self._started)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def handshake_allowed(self) -> bool:
        """Whether a new socket may connect at all: not when every stream slot is taken."""
        return len(self._started) < self.max_streams

    def opened(self, session: StreamSession, conn: _Closable) -> None:
        """A socket passed the handshake; it is pending until its first start frame."""
        self._conns[session] = conn
        self._pending[session] = time.monotonic()
        session.admit = self.admit_start
        session.unrecognised = self.unrecognised_stream
        while len(self._pending) > self.max_pending:
            oldest = next(iter(self._pending))
            self.evicted_pending += 1
            log.warning("%s sent no start frame and %d newer connections are waiting "
                        "(max_pending); closing it", oldest.peer, self.max_pending)
            self._close(oldest, TRY_AGAIN_LATER, "too many connections waiting to start")

    def admit_start(self, session: StreamSession) -> bool:
        """A session's first start frame: it takes a stream slot, or it is closed."""
        if session in self._started:
            return True
        if session not in self._pending:  # already being closed
            return False
        if len(self._started) >= self.max_streams:
            self.refused_starts += 1
            log.warning("refused a stream from %s: %d streams already started (max_streams)",
                        session.peer, len(self._started))
            self._close(session, TRY_AGAIN_LATER, "too many streams")
            return False
        del self._pending[session]
        self._started.add(session)
        return True

    def unrecognised_stream(self, session: StreamSession, why: str) -> None:
        """A socket whose first frames no platform's protocol explains: closed with the
        reason, logged once, counted (it would otherwise sit open with no call)."""
        self.unrecognised += 1
        log.warning("closing %s: not a media stream this console understands (%s)",
                    session.peer, why)
        self._close(session, UNSUPPORTED_DATA, "unrecognised media stream: " + why[:80])

    def closed(self, session: StreamSession) -> None:
        self._pending.pop(session, None)
        self._started.discard(session)
        self._conns.pop(session, None)

    def enforce(self, now: float | None = None) -> int:
        """Close pending sockets older than the start deadline; how many were closed."""
        now = time.monotonic() if now is None else now
        overdue = []
        for session, since in self._pending.items():
            if now - since < self.start_timeout_s:
                break  # oldest first: the rest are younger
            overdue.append(session)
        for session in overdue:
            self.start_timeouts += 1
            log.warning("%s sent no start frame within %g s; closing", session.peer,
                        self.start_timeout_s)
            self._close(session, POLICY_VIOLATION,
                        f"no start frame within {self.start_timeout_s:g} s")
        return len(overdue)

    def _close(self, session: StreamSession, code: int, reason: str) -> None:
        session.refused = True  # frames still queued on the socket are ignored
        self._pending.pop(session, None)
        conn = self._conns.get(session)
        if conn is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: the socket is gone anyway
            task = asyncio.ensure_future(conn.close(code, reason))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
