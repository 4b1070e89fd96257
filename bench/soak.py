#!/usr/bin/env python3
"""Soak: N calls kept going for D minutes (each demo call, when it ends, is followed by a
new one), transcription on, played at real time from a process of their own. Samples the
resident memory of the engine's process and of its speech workers every 10 s and prints the
growth after warm-up (the first 20 % of the run), the target being at most 5 %.

    .venv/bin/python bench/soak.py [--calls 40] [--minutes 10] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

TOKEN = "soak-token"


def keep_calling(url: str, calls: int, seconds: float, counter: object) -> None:
    """`calls` lanes, each playing one demo call after another until `seconds` are up."""
    from console.sim.client import SimOptions, plan_calls, play_call
    from console.sim.dialogues import load_dialogues

    dialogues = load_dialogues()

    async def lane(i: int, end: float) -> None:
        n = 0
        await asyncio.sleep(i * 0.25)  # calls do not all start on the same frame
        while time.monotonic() < end:
            opts = SimOptions(url=url, token=TOKEN, speed=1.0, seed=i * 1000 + n,
                              duration=min(60.0, end - time.monotonic()))
            plan = plan_calls(dialogues, opts)[0]
            await play_call(plan, opts)
            with counter.get_lock():  # type: ignore[attr-defined]
                counter.value += 1  # type: ignore[attr-defined]
            n += 1

    async def main() -> None:
        end = time.monotonic() + seconds
        await asyncio.gather(*(lane(i, end) for i in range(calls)))

    asyncio.run(main())


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20


async def run(calls: int, minutes: float, record: bool) -> None:
    from console.config import Settings
    from console.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(host="127.0.0.1", port=0, data_dir=tmp, token=TOKEN,
                            record=record, transcribe=True).validate()
        engine = Engine(settings)
        await engine.start()
        status = await engine.transcription_ready()
        url = f"ws://127.0.0.1:{engine.port}/stream"
        seconds = minutes * 60
        ctx = multiprocessing.get_context("spawn")
        done = ctx.Value("i", 0)
        player = ctx.Process(
            target=keep_calling, args=(url, calls, seconds, done))
        player.start()
        pool = engine.pipeline.pool if engine.pipeline else None
        me = os.getpid()
        print(f"soak: {calls} calls for {minutes:g} min, transcription {status[:40]}, "
              f"recording {'on' if record else 'off'}", flush=True)
        print(" min  engine MB  workers MB  active  calls done  queued  dropped  stored",
              flush=True)
        samples: list[tuple[float, float, float]] = []
        t0 = time.monotonic()
        while player.is_alive():
            await asyncio.sleep(10)
            t = (time.monotonic() - t0) / 60
            eng = rss_mb([me])
            workers = rss_mb(pool.pids()) if pool else 0.0
            samples.append((t, eng, workers))
            h = pool.health() if pool else None
            print(f"{t:4.1f}  {eng:9.0f}  {workers:10.0f}  {len(engine.registry.active_calls()):6d}"
                  f"  {done.value:10d}  {h.pending if h else 0:6d}  "
                  f"{h.dropped if h else 0:7d}  {engine.store.health.summary[:20]}", flush=True)
        player.join()
        await engine.stop()
    warm = [s for s in samples if s[0] >= minutes * 0.2]
    if len(warm) < 2:
        print("too short to tell growth after warm-up")
        return
    half = len(warm) // 2
    for name, col in (("engine", 1), ("speech workers", 2)):
        first = statistics.mean(s[col] for s in warm[:3])
        last = statistics.mean(s[col] for s in warm[-3:])
        if not first:
            continue
        # The workers' memory swings with the size of each batch: the halves' means show a
        # trend where three samples at each end may not.
        early = statistics.mean(s[col] for s in warm[:half])
        late = statistics.mean(s[col] for s in warm[half:])
        print(f"{name} RSS after warm-up {first:.0f} MB -> end {last:.0f} MB: "
              f"{(last / first - 1) * 100:+.1f} %; first half {early:.0f} MB, second half "
              f"{late:.0f} MB: {(late / early - 1) * 100:+.1f} % (range "
              f"{min(s[col] for s in warm):.0f}-{max(s[col] for s in warm):.0f} MB)")
    print(f"calls completed: {done.value}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    asyncio.run(run(args.calls, args.minutes, args.record))


if __name__ == "__main__":
    main()
