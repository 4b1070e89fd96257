"""Per-track reordering of media frames by chunk number, with duplicate and late detection."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from math import gcd
from typing import Generic, TypeVar

__all__ = ["DISCONTINUITY", "DUPLICATE", "LATE", "MAX_GAP_FRAMES", "OK", "Push", "Released",
           "ReorderBuffer"]

T = TypeVar("T")
OK, DUPLICATE, LATE, DISCONTINUITY = 0, 1, 2, 3
_STATUS = {OK: "ok", DUPLICATE: "duplicate", LATE: "late", DISCONTINUITY: "discontinuity"}
# A counter that jumps further than this (5 s of 20 ms frames), forwards or backwards, has
# restarted or lied: its timeline starts again at the new value rather than filling the gap.
MAX_GAP_FRAMES = 250


@dataclass(slots=True)
class Released(Generic[T]):
    key: int | None
    item: T
    missing_before: int  # frames never received between the previous release and this one


@dataclass(slots=True)
class Push(Generic[T]):
    released: list[Released[T]] = field(default_factory=list)
    status: str = "ok"  # "ok", "duplicate", or "late" (arrived after its slot was given up)


class ReorderBuffer(Generic[T]):
    """Holds at most `depth` frames waiting for a missing one, then gives up on the gap.

    The chunk counter may count per track (1, 2, 3) or per stream across both tracks
    (1, 3, 5 on one track); the step is learned as the gcd of the differences seen.
    In-order frames (the normal case) take a short path with no allocation.

    Keys are released on the track's own timeline: the peer's counter plus `shift`, which
    changes only at a discontinuity so that the timeline goes on one step after the last
    frame. Released keys therefore never jump further than `max_gap` steps.
    """

    def __init__(self, depth: int = 3, max_gap: int = MAX_GAP_FRAMES) -> None:
        self.depth = max(0, depth)
        self.max_gap = max(1, max_gap)
        self.step = 0  # 0 until two distinct keys are seen
        self.last: int | None = None  # the key released last
        self._first: int | None = None  # the first key released
        self._heap: list[tuple[int, int, T]] = []
        self._pending: set[int] = set()
        self._given_up: set[int] = set()
        self._seen_first: int | None = None
        self._order = 0
        self.duplicates = 0
        self.late = 0
        self.missing = 0
        self.discontinuities = 0
        self.shift = 0  # timeline key = peer's key + shift

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def pending_frames(self) -> int:
        return len(self._heap)

    def push_into(self, key: int | None, item: T, out: list[tuple[int | None, T, int]]) -> int:
        """Add a frame; append what can be released to `out` as (key, item, missing_before).

        Returns OK, DUPLICATE, LATE or DISCONTINUITY (the frame is released, after whatever
        was held, as the first of a new timeline)."""
        if key is None:
            out.append((None, item, 0))
            return OK
        key += self.shift
        last = self.last
        if last is not None and not self._heap and key == last + (self.step or 1):
            self.last = key
            out.append((key, item, 0))
            return OK
        return self._push_slow(key, item, out)

    def push(self, key: int | None, item: T) -> Push[T]:
        out: list[tuple[int | None, T, int]] = []
        status = self.push_into(key, item, out)
        return Push([Released(k, i, m) for k, i, m in out], _STATUS[status])

    def flush_into(self, out: list[tuple[int | None, T, int]]) -> None:
        self._drain(out, force=True)

    def flush(self) -> list[Released[T]]:
        out: list[tuple[int | None, T, int]] = []
        self.flush_into(out)
        return [Released(k, i, m) for k, i, m in out]

    def _push_slow(self, key: int, item: T, out: list[tuple[int | None, T, int]]) -> int:
        if key in self._pending:
            self.duplicates += 1
            return DUPLICATE
        last = self.last
        ref = last if last is not None else self._seen_first
        if ref is not None and abs(key - ref) > self.max_gap * (self.step or 1):
            return self._restart(key, item, out)
        if last is not None and (key <= last or (self._first is not None and key < self._first)):
            if key in self._given_up or (self._first is not None and key < self._first):
                self._given_up.discard(key)
                self.late += 1
                return LATE
            self.duplicates += 1
            return DUPLICATE
        self._learn_step(key)
        heapq.heappush(self._heap, (key, self._order, item))
        self._order += 1
        self._pending.add(key)
        self._drain(out, force=False)
        return OK

    def _restart(self, key: int, item: T, out: list[tuple[int | None, T, int]]) -> int:
        """What is held goes out in order, then the frame follows it one step on, and the
        peer's counter is read from there. The step learned so far is kept: a counter that
        restarts still counts the same way."""
        self._drain(out, force=True)
        self._given_up.clear()
        step = self.step or 1
        follow = self.last + step if self.last is not None else key
        self.shift += follow - key
        self.last = self._first = self._seen_first = follow
        out.append((follow, item, 0))
        self.discontinuities += 1
        return DISCONTINUITY

    def _learn_step(self, key: int) -> None:
        ref = self._seen_first
        if ref is None:
            self._seen_first = key
            return
        if key != ref:
            self.step = gcd(self.step, abs(key - ref))
        if self.last is not None and key != self.last:
            self.step = gcd(self.step, abs(key - self.last))

    def _drain(self, out: list[tuple[int | None, T, int]], force: bool) -> None:
        heap = self._heap
        if self.last is None:
            # Hold the first frames briefly: the very first one to arrive may not be the first.
            if not heap or (not force and len(heap) <= self.depth):
                return
            key, _, item = heapq.heappop(heap)
            self._pending.discard(key)
            self.last = self._first = key
            out.append((key, item, 0))
        while heap:
            step = self.step or 1
            expected = self.last + step
            key = heap[0][0]
            if key != expected and not force and len(heap) <= self.depth:
                return
            key, _, item = heapq.heappop(heap)
            self._pending.discard(key)
            gap = (key - expected) // step if key > expected else 0
            if gap:
                self.missing += gap
                if len(self._given_up) > 4096:
                    self._given_up.clear()
                self._given_up.update(range(expected, key, step))
            self.last = key
            out.append((key, item, gap))
