#!/usr/bin/env python3
"""Store writer under trouble: what its bounded queue costs the engine per call, how many
events it keeps through a full database and how fast it catches up when space returns.

    .venv/bin/python bench/store_faults.py

The full database is real: SQLite's max_page_count on the writer's connection makes every
write that needs a new page fail with SQLITE_FULL, as a full disk does.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.events import (
    CallEnded,
    CallStarted,
    DtmfReceived,
    MediaFormat,
    Provider,
    Role,
    StreamOpened,
    TranscriptSegment,
)
from console.store.writer import StoreWriter

TEXT = "I was charged twice for my subscription this month and I would like a refund please"


def put_cost(n: int = 50_000, runs: int = 5) -> tuple[float, float]:
    """ns per on_event and per frames() call on the engine's side: the producer's cost alone
    (the writer sleeps meanwhile, so GIL hand-offs do not blur it); best of `runs`."""
    best = [float("inf"), float("inf")]
    frame = np.zeros(160, np.int16)
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            w = StoreWriter(tmp, record=True, batch_seconds=60)
            w.on_event(CallStarted("p", Provider.TELNYX, None, None, time.time()))
            assert w.flush()
            events = [DtmfReceived("p", "p-s", "1", float(i), None, None) for i in range(n)]
            chunks = [[k] for k in range(n)]
            stamps = [[k * 20] for k in range(n)]
            sizes = [160]
            t0 = time.perf_counter_ns()
            for ev in events:
                w.on_event(ev)
            best[0] = min(best[0], (time.perf_counter_ns() - t0) / n)
            t0 = time.perf_counter_ns()
            for k in range(n):
                w.frames("p-s/inbound", chunks[k], stamps[k], k * 20, sizes, frame)
            best[1] = min(best[1], (time.perf_counter_ns() - t0) / n)
            w.close()
    return best[0], best[1]


def catch_up(calls: int = 200, segments: int = 100) -> dict[str, float]:
    """`calls` calls start, talk and end while the database is full; then space returns."""
    with tempfile.TemporaryDirectory() as tmp:
        w = StoreWriter(tmp, batch_seconds=0.1, retry_seconds=0.2)
        assert w.flush()
        pages = w._conn.execute("PRAGMA page_count").fetchone()[0]
        w._conn.execute(f"PRAGMA max_page_count = {pages}")
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        now = time.time()
        for c in range(calls):
            cid = f"c{c}"
            w.on_event(CallStarted(cid, Provider.TELNYX, "+1", "+2", now))
            w.on_event(StreamOpened(cid, cid + "-s", Provider.TELNYX, MediaFormat("PCMU", 8000),
                                    (), {}, "customer", {}, None, now))
            for i in range(segments):
                w.on_event(TranscriptSegment(cid, f"{cid}#{i}", Role.CUSTOMER, i, i + 1,
                                             f"{TEXT} {i}", True, 0.0))
            w.on_event(CallEnded(cid, now + 60, "ended"))
        w.flush(60)
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        health = w.health
        kept = health.backlog
        t0 = time.perf_counter()
        w._conn.execute("PRAGMA max_page_count = 1073741823")
        while not w.health.ok:
            time.sleep(0.005)
        took = time.perf_counter() - t0
        w.close()
    return {"kept": kept, "dropped": health.dropped_events, "bytes": held, "seconds": took}


def main() -> None:
    per_event, per_frame = put_cost()
    print("\nstore writer: queue and faults")
    print(f"on_event (one call event), engine side  {per_event:8.0f} ns/call")
    print(f"frames() (one 20 ms frame), engine side {per_frame:8.0f} ns/call")
    r = catch_up()
    print(f"database full: {r['kept']:,.0f} call events kept, {r['dropped']:,.0f} dropped, "
          f"{r['bytes'] / max(1.0, r['kept']):,.0f} B held per event")
    print(f"space returns: caught up in {r['seconds'] * 1000:,.0f} ms "
          f"(including up to 0.2 s until the next retry)")


if __name__ == "__main__":
    main()
