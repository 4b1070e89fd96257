"""Per-track reordering of media frames by chunk number, with duplicate and late detection."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from math import gcd
from typing import Generic, TypeVar

__all__ = ["Push", "Released", "ReorderBuffer"]

T = TypeVar("T")


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
    """

    def __init__(self, depth: int = 3) -> None:
        self.depth = max(0, depth)
        self.step = 0  # 0 until two distinct keys are seen
        self.next_key: int | None = None
        self._heap: list[tuple[int, int, T]] = []
        self._pending: set[int] = set()
        self._recent: set[int] = set()
        self._recent_order: list[int] = []
        self._first_key: int | None = None
        self._max_key: int | None = None
        self._order = 0
        self.duplicates = 0
        self.late = 0
        self.missing = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, key: int | None, item: T) -> Push[T]:
        result: Push[T] = Push()
        if key is None:
            result.released.append(Released(None, item, 0))
            return result
        if key in self._pending or key in self._recent:
            self.duplicates += 1
            result.status = "duplicate"
            return result
        self._learn_step(key)
        if self.next_key is not None and key < self.next_key:
            self.late += 1
            self._remember(key)
            result.status = "late"
            return result
        heapq.heappush(self._heap, (key, self._order, item))
        self._order += 1
        self._pending.add(key)
        self._drain(result.released, force=False)
        return result

    def flush(self) -> list[Released[T]]:
        out: list[Released[T]] = []
        self._drain(out, force=True)
        return out

    @property
    def pending_frames(self) -> int:
        return len(self._heap)

    def _learn_step(self, key: int) -> None:
        if self._first_key is None:
            self._first_key = self._max_key = key
            return
        assert self._max_key is not None
        for ref in (self._first_key, self._max_key):
            if key != ref:
                self.step = gcd(self.step, abs(key - ref))
        self._max_key = max(self._max_key, key)

    def _remember(self, key: int) -> None:
        self._recent.add(key)
        self._recent_order.append(key)
        if len(self._recent_order) > 4 * self.depth + 16:
            old = self._recent_order.pop(0)
            self._recent.discard(old)

    def _drain(self, out: list[Released[T]], force: bool) -> None:
        heap = self._heap
        if self.next_key is None:
            # Hold the first frames briefly: the very first one to arrive may not be the first.
            if not force and len(heap) <= self.depth:
                return
            if heap:
                self.next_key = heap[0][0]
        while heap:
            key = heap[0][0]
            assert self.next_key is not None
            if key != self.next_key and not force and len(heap) <= self.depth:
                return
            key, _, item = heapq.heappop(heap)
            self._pending.discard(key)
            step = self.step or 1
            gap = max(0, (key - self.next_key) // step)
            self.missing += gap
            out.append(Released(key, item, gap))
            self._remember(key)
            self.next_key = key + step
