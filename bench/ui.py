#!/usr/bin/env python3
"""UI benchmark: the console window with N live calls streaming at real time.

Prints the UI's refresh rate (ticks of its 30 fps timer that actually ran), how many were
late (over 50 ms apart), and the UI thread's CPU, measured with the thread's own clock while
calls run; the engine and the simulated calls run on the engine thread of the same process.

    .venv/bin/python bench/ui.py [--calls 16] [--seconds 20] [--size 1920x1080]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    ap.add_argument("--no-transcribe", dest="transcribe", action="store_false",
                    help="without speech recognition (its worker shares the cores)")
    args = ap.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform

    import asyncio

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from console.config import Settings
    from console.sim.client import SimOptions, plan_calls, play_call
    from console.sim.dialogues import load_dialogues
    from console.ui.app import Console
    from console.ui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "dark")
    settings = Settings(port=0, data_dir=tempfile.mkdtemp(), token="bench",
                        transcribe=args.transcribe).validate()
    console = Console(app, settings)
    w = console.window
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()

    engine = console.engine
    opts = SimOptions(url=engine.url, token="bench", calls=args.calls,
                      duration=args.seconds + 6, speed=1.0)
    plans = plan_calls(load_dialogues(), opts)

    async def calls() -> None:
        await asyncio.gather(*(play_call(p, opts, i * 0.1) for i, p in enumerate(plans)))

    asyncio.run_coroutine_threadsafe(calls(), engine.loop)

    ticks: list[float] = []
    original_tick = w.tick

    def timed_tick() -> None:
        original_tick()
        ticks.append(time.perf_counter())

    w.fast.timeout.disconnect()
    w.fast.timeout.connect(timed_tick)
    marks: dict[str, float] = {}

    def start_measuring() -> None:
        ticks.clear()
        marks["cpu"] = time.thread_time()
        marks["wall"] = time.perf_counter()

    def stop() -> None:
        cpu = time.thread_time() - marks["cpu"]
        wall = time.perf_counter() - marks["wall"]
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        visible = sum(1 for t in w.wall.tiles.values()
                      if t.isVisible() and not t.visibleRegion().isEmpty())
        print(f"\nui: {len(w.wall.tiles)} live calls ({visible} tiles on screen at "
              f"{args.size}, {args.platform}), transcription "
              f"{'on' if args.transcribe else 'off'}, {wall:.0f} s measured")
        print(f"refresh rate      {len(ticks) / wall:6.1f} fps   (timer asks for 30)")
        print(f"late refreshes    {sum(g > 0.05 for g in gaps):6d}     (over 50 ms apart)")
        if gaps:
            print(f"interval p50/p95  {statistics.median(gaps) * 1000:6.1f} / "
                  f"{sorted(gaps)[int(0.95 * len(gaps))] * 1000:.1f} ms")
        print(f"UI thread CPU     {100 * cpu / wall:6.1f} %   of one core (target <= 35 %)")
        console.shutdown()
        app.quit()

    QTimer.singleShot(4000, start_measuring)  # once all calls are up
    QTimer.singleShot(int((4 + args.seconds) * 1000), stop)
    app.exec()


if __name__ == "__main__":
    main()
