#!/usr/bin/env python3
"""Agents benchmark: how long the Agents view's query (console/store/agents.py) takes over
a real SQLite file written by the store writer, with 1,000 and then 10,000 calls in the day
(40 agents in 4 teams, 20 live; each call with 24 transcript lines with sentiment,
conversation metrics, one or two alerts and a 5-item scorecard, some reviewed), on top of
5,000 calls of the days before.

    .venv/bin/python bench/agents.py
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
    AlertRaised,
    CallEnded,
    CallEvent,
    CallScorecard,
    CallStarted,
    ConversationUpdate,
    MediaFormat,
    Provider,
    Role,
    StreamOpened,
    SupervisorAction,
    TrackName,
    TranscriptSegment,
)
from console.store.agents import agents_today, local_midnight
from console.store.db import connect, db_path
from console.store.scorecards import review_detail
from console.store.writer import StoreWriter

AGENTS = [f"Agent {i:02d}" for i in range(40)]
ITEMS = ("greeting", "identity", "empathy", "resolution", "closing")
RULES = ("cancellation", "escalation", "legal_threat", "negative_sentiment", "overtalk")


def _call(rng: random.Random, cid: str, start: float, live: bool) -> list[CallEvent]:
    n = int(cid.rsplit("-", 1)[1])
    agent = AGENTS[n % len(AGENTS)]
    params = {"leg": "customer", "agent_name": agent, "team": f"Team {n % 4}",
              "queue": ("billing", "support")[n % 2]}
    if n % 25 == 0:
        params = {"leg": "customer"}  # some calls name nobody: Unassigned
    out: list[CallEvent] = [
        CallStarted(cid, Provider.TELNYX, "+14155550100", "+18005550100", start),
        StreamOpened(cid, f"{cid}-s", Provider.TELNYX, MediaFormat("PCMU", 8000),
                     (TrackName.INBOUND, TrackName.OUTBOUND),
                     {"inbound": "customer", "outbound": "agent"}, "customer", params, None,
                     start)]
    for i in range(24):
        who = (Role.CUSTOMER, Role.AGENT)[i % 2]
        out.append(TranscriptSegment(cid, f"s{i}", who, i * 8.0, i * 8.0 + 6, "words words",
                                     True, round(rng.uniform(-1, 1), 2)))
    c, a = rng.uniform(60, 200), rng.uniform(60, 200)
    out.append(ConversationUpdate(cid, c, a, c / (c + a), 5.0, 1, 0.6))
    for k in range(1 + n % 2):
        out.append(AlertRaised(cid, RULES[(n + k) % len(RULES)], Role.CUSTOMER, 10.0 + k,
                               "said", "warning"))
    if live:
        return out
    end = start + rng.uniform(120, 600)
    out.append(CallEnded(cid, end, "ended"))
    out.append(CallScorecard(cid, "default", tuple(
        {"name": name, "label": name, "weight": 1.0 + (name == "resolution"),
         "required": name == "identity", "passed": rng.random() < 0.8, "similarity": 0.6,
         "segment_id": "s1", "speaker": "agent", "at_s": 1.0, "text": "words"}
        for name in ITEMS), True, end))
    if n % 10 == 0:
        out.append(SupervisorAction(cid, "scorecard", end + 5,
                                    review_detail("empathy", "pass", None), "bench"))
    return out


def _fill(writer: StoreWriter, events: list[CallEvent]) -> None:
    for at in range(0, len(events), 5000):  # as calls come: the queue never fills
        for ev in events[at:at + 5000]:
            writer.on_event(ev)
        writer.flush(600)


def _measure(data: Path, since: float, now: float) -> tuple[float, list[float], int]:
    times, rows = [], 0
    for _ in range(7):
        conn = connect(db_path(data), readonly=True)  # as the view does: a fresh connection
        t0 = time.perf_counter()
        rows = len(agents_today(conn, since, now=now))
        times.append(time.perf_counter() - t0)
        conn.close()
    return times[0], times[1:], rows


def main() -> None:
    rng = random.Random(16)
    now = time.time()
    since = local_midnight(now)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        writer = StoreWriter(data)
        before = [ev for i in range(5000)
                  for ev in _call(rng, f"old-{i}", since - 86400 * 3 + i * 50, False)]
        _fill(writer, before)
        done = 0
        for total in (1000, 10_000):
            events: list[CallEvent] = []
            for i in range(done, total):
                # The day's calls spread over the hours so far; the last 20 still live.
                start = since + (now - since) * (i / 10_000) * 0.95
                events += _call(rng, f"day-{i}", start, live=i >= 10_000 - 20)
            t0 = time.perf_counter()
            _fill(writer, events)
            stored = time.perf_counter() - t0
            done = total
            first, rest, rows = _measure(data, since, now)
            size = db_path(data).stat().st_size / 1e6
            print(f"{total:>6,} calls today ({len(events):,} events stored in {stored:.1f} s; "
                  f"file {size:.0f} MB): {rows} agent rows; first query "
                  f"{first * 1000:.0f} ms, then median {statistics.median(rest) * 1000:.0f} ms "
                  f"(max {max(rest) * 1000:.0f} ms)")
        writer.close()


if __name__ == "__main__":
    main()
