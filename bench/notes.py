#!/usr/bin/env python3
"""Notes benchmark: how fast the store writer keeps notes and bookmarks, and how long
History's search takes when it looks through transcripts and notes of a busy store
(2,000 calls of 40 lines, 20,000 notes, 20,000 bookmarks).

    .venv/bin/python bench/notes.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    Provider,
    Role,
    TranscriptSegment,
)
from console.store import notes
from console.store.db import connect, db_path
from console.store.exports import render
from console.store.queries import call_detail, list_calls
from console.store.writer import StoreWriter

CALLS, LINES, NOTES_PER_CALL = 2000, 40, 10
WORDS = ["refund", "charge", "twice", "account", "cancel", "manager", "callback", "billing",
         "escalate", "card", "payment", "late", "fee", "promise", "supervisor", "transfer",
         "hold", "angry", "calm", "thanks"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def main() -> None:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as tmp:
        writer = StoreWriter(tmp)
        calls: list[CallEvent] = []
        for c in range(CALLS):
            cid = f"call-{c}"
            calls.append(CallStarted(cid, Provider.TELNYX, "+14155550100", None,
                                     1_700_000_000.0 + c * 60))
            for i in range(LINES):
                calls.append(TranscriptSegment(cid, f"s{i}", Role(("customer", "agent")[i % 2]),
                                               i * 3.0, i * 3.0 + 2.5, _text(rng, 12), True))
            calls.append(CallEnded(cid, 1_700_000_000.0 + c * 60 + 130, "ended"))
        for at in range(0, len(calls), 5000):  # as calls come: the queue never fills
            for ev in calls[at:at + 5000]:
                writer.on_event(ev)
            writer.flush(600)
        actions = []
        for c in range(CALLS):
            for i in range(NOTES_PER_CALL):
                actions.append(notes.note_event(
                    f"call-{c}", i * 10.0, f"{_text(rng, 15)} ticket{c * 100 + i}", "bench"))
                actions.append(notes.bookmark_event(f"call-{c}", ("customer", "agent")[i % 2],
                                                    i * 3.0, True, "bench"))
        t0 = time.perf_counter()
        for at in range(0, len(actions), 5000):
            for ev in actions[at:at + 5000]:
                writer.on_event(ev)
            writer.flush(600)
        took = time.perf_counter() - t0
        writer.close()
        print(f"writer: {len(actions):,} notes and bookmarks kept in {took:.2f} s "
              f"({len(actions) / took:,.0f}/s)")

        conn = connect(db_path(tmp), readonly=True)
        for query in ("ticket70003", "ticket7000", "manager callback", "superv"):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                found = list_calls(conn, limit=1000, search=query)
                times.append(time.perf_counter() - t0)
            note_hits = sum(1 for c in found for h in c["hits"] if h["speaker"] == "note")
            print(f"search {query!r:24}: {len(found):4} calls ({note_hits} note hits shown) "
                  f"median {statistics.median(times) * 1000:.0f} ms")
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for fmt in ("json", "txt", "csv"):
                render(call_detail(conn, "call-7"), fmt)
            times.append(time.perf_counter() - t0)
        print(f"export of one call with {NOTES_PER_CALL} notes and {NOTES_PER_CALL} "
              f"bookmarks as JSON+TXT+CSV: median {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
