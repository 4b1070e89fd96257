#!/usr/bin/env python3
"""Store benchmark: final segments per second sustained, how long a final segment waits to be
committed (with 20 calls' audio being recorded alongside), and export time for a 1-hour call.

An export is timed as a user gets it from `coach-console export` or the History tab: open the
database, read the call, format it, write the file (WAV: read and mix the recordings, write
the file). Best, median and worst of several runs, with the read / format / write split.

    .venv/bin/python bench/store.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    MediaFormat,
    Provider,
    Role,
    StreamClosed,
    StreamOpened,
    TrackName,
    TrackOpened,
    TranscriptSegment,
)
from console.store.db import connect, db_path
from console.store.export_wav import call_audio
from console.store.exports import render
from console.store.queries import call_detail
from console.store.writer import StoreWriter

TEXT = "I was charged twice for my subscription this month and I would like a refund please"


def start_call(w: StoreWriter, call_id: str, tracks: bool = False) -> None:
    now = time.time()
    w.on_event(CallStarted(call_id, Provider.TELNYX, "+14155550100", "+18005550100", now))
    w.on_event(StreamOpened(call_id, call_id + "-s", Provider.TELNYX, MediaFormat("PCMU", 8000),
                            (), {"inbound": "customer", "outbound": "agent"}, "customer", {},
                            None, now))
    if tracks:
        for name, role in ((TrackName.INBOUND, Role.CUSTOMER), (TrackName.OUTBOUND, Role.AGENT)):
            w.on_event(TrackOpened(call_id, call_id + "-s", f"{call_id}-s/{name.value}", name,
                                   role, 8000, now))


def throughput(n: int = 20000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        w = StoreWriter(tmp)
        start_call(w, "t")
        t0 = time.perf_counter()
        for i in range(n):
            w.on_event(TranscriptSegment("t", f"s{i}", Role.CUSTOMER, i, i + 1, TEXT, True, 0.1))
        w.flush(120)
        rate = n / (time.perf_counter() - t0)
        w.close()
    return rate


def latency(seconds: float = 10.0, calls: int = 20) -> list[float]:
    """Final segments at a realistic pace while `calls` calls' audio is recorded."""
    waits: list[float] = []
    sent: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        w = StoreWriter(tmp, record=True)

        def committed(events: list[CallEvent]) -> None:
            now = time.perf_counter()
            for ev in events:
                if isinstance(ev, TranscriptSegment) and ev.segment_id in sent:
                    waits.append(now - sent.pop(ev.segment_id))

        w.on_commit = committed
        for c in range(calls):
            start_call(w, f"c{c}", tracks=True)
        frame = np.zeros(160, np.int16)
        stop = threading.Event()

        def audio() -> None:  # 20 ms of both tracks of every call, every 20 ms
            k = 0
            next_t = time.perf_counter()
            while not stop.is_set():
                for c in range(calls):
                    for track in ("inbound", "outbound"):
                        w.frames(f"c{c}-s/{track}", [k], [k * 20], k * 20, [160], frame)
                k += 1
                next_t += 0.02
                time.sleep(max(0.0, next_t - time.perf_counter()))

        feeder = threading.Thread(target=audio)
        feeder.start()
        t_end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < t_end:
            i += 1
            sid = f"s{i}"
            sent[sid] = time.perf_counter()
            w.on_event(TranscriptSegment(f"c{i % calls}", sid, Role.AGENT, i, i + 1, TEXT, True,
                                         0.2))
            time.sleep(0.1)  # 20 calls talking: a final segment every ~100 ms in all
        stop.set()
        feeder.join()
        w.flush(30)
        w.close()
    return waits


EXPORT_RUNS = 5


def export_hour() -> dict[str, list[tuple[float, float, float, int]]]:
    """Per format, EXPORT_RUNS exports of a 1-hour call: (read, format, write) seconds and
    the file's size. Each run opens the database afresh, as the CLI and the window do."""
    from console.audio.wav import write_wav

    with tempfile.TemporaryDirectory() as tmp:
        w = StoreWriter(tmp, record=True)
        start_call(w, "hour", tracks=True)
        rng = np.random.default_rng(1)
        pcm = (rng.standard_normal(160 * 50 * 60) * 3000).astype(np.int16)  # one minute
        frames = 50 * 3600
        for minute in range(60):
            base = minute * 50 * 60
            for track in ("inbound", "outbound"):
                chunks = list(range(base + 1, base + 3001))
                w.frames(f"hour-s/{track}", list(chunks), [(c - 1) * 20 for c in chunks],
                         base * 20, [160] * 3000, pcm)
            w.flush(120)  # a minute at a time: the writer's recording queue is bounded
        for i in range(1800):  # a final segment every two seconds
            who = Role.CUSTOMER if i % 2 else Role.AGENT
            w.on_event(TranscriptSegment("hour", f"h{i}", who, i * 2.0, i * 2.0 + 1.7, TEXT,
                                         True, 0.0))
        w.on_event(StreamClosed("hour", "hour-s", time.time(), "stop", frames * 2, 0, 3600.0))
        w.on_event(CallEnded("hour", time.time(), "ended"))
        w.flush(120)
        w.close()
        out: dict[str, list[tuple[float, float, float, int]]] = {}
        for fmt in ("json", "txt", "srt", "vtt", "csv", "wav"):
            target = Path(tmp) / f"hour.{fmt}"
            runs = out[fmt] = []
            for _ in range(EXPORT_RUNS):
                target.unlink(missing_ok=True)
                t0 = time.perf_counter()
                conn = connect(db_path(tmp), readonly=True)
                if fmt == "wav":  # console.store.export_wav.export_wav, split in two
                    stereo, rate = call_audio(conn, Path(tmp), "hour")
                    t1 = t2 = time.perf_counter()
                    write_wav(target, stereo, rate)
                    assert stereo.shape == (frames * 160, 2)
                else:  # as cli.cmd_export and the History tab
                    detail = call_detail(conn, "hour")
                    t1 = time.perf_counter()
                    text = render(detail, fmt)
                    t2 = time.perf_counter()
                    target.write_text(text, encoding="utf-8")
                conn.close()
                t3 = time.perf_counter()
                runs.append((t1 - t0, t2 - t1, t3 - t2, target.stat().st_size))
    return out


def main() -> None:
    rate = throughput()
    waits = sorted(latency())
    hour = export_hour()
    print("\nstore")
    print(f"final segments committed, sustained   {rate:10,.0f} /s")
    p50 = 1000 * statistics.median(waits)
    p95 = 1000 * waits[int(0.95 * len(waits))]
    print(f"segment publish -> commit, 20 calls recording: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {1000 * waits[-1]:.1f} ms ({len(waits)} segments)")
    print(f"export of a 1-hour call (1,800 segments, both tracks recorded), {EXPORT_RUNS} runs "
          "per format,\nfrom opening the database to the file written (warm file cache), ms:")
    print(f"  {'format':<20} {'best':>6} {'median':>6} {'worst':>6} | medians: {'read':>6} "
          f"{'format':>6} {'write':>6} | {'file':>8}")
    for fmt, runs in hour.items():
        totals = sorted(sum(r[:3]) * 1000 for r in runs)
        read, form, write = (statistics.median(r[i] for r in runs) * 1000 for i in range(3))
        name = "wav (stereo 8 kHz)" if fmt == "wav" else fmt
        print(f"  {name:<20} {totals[0]:6.1f} {statistics.median(totals):6.1f} "
              f"{totals[-1]:6.1f} |          {read:6.1f} {form:6.1f} {write:6.1f} | "
              f"{runs[0][3] / 2**20:5.1f} MB")
    print("  (wav: read = the recordings read and mixed to stereo; nothing to format)")


if __name__ == "__main__":
    main()
