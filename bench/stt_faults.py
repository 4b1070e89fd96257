#!/usr/bin/env python3
"""Speech worker faults, measured with real processes and real signals.

1. Pool: real speech fed continuously to two workers; a busy worker is killed with SIGKILL
   `--kills` times. Prints the time from the kill to the pool noticing it, to the new worker
   taking work, how many utterances were re-queued, and that every one came back once.
2. `coach-console serve` with transcription on: seconds from SIGTERM to exit when idle,
   when both workers were just killed, and while the workers load their model; and seconds
   from kill -9 of serve until its workers and multiprocessing's resource tracker are gone.

    .venv/bin/python bench/stt_faults.py [--kills 5] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
CLI = [sys.executable, "-m", "console"]


def _wait(predicate, timeout: float) -> float | None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.001)
    return time.monotonic() - t0


def pool_kills(kills: int) -> None:
    from support import phone_clips

    from console.analysis.stt.models import find_model
    from console.analysis.stt.pool import Job, SttPool

    _refs, audios = phone_clips()
    back: dict[int, int] = {}
    lock = threading.Lock()

    def on_text(job: Job, _text: str) -> None:
        with lock:
            back[job.id] = back.get(job.id, 0) + 1

    pool = SttPool(str(find_model().path), on_text, workers=2)
    pool.start()
    notice, serving, requeued = [], [], 0
    submitted = 0
    try:
        for k in range(kills):
            for audio in audios:  # keep both workers busy
                pool.submit(Job(submitted, f"call-{submitted % 4}", audio))
                submitted += 1
            if _wait(lambda: any(s.batch for s in pool._slots), 5) is None:
                continue
            slot = next(s for s in pool._slots if s.batch)
            held, deaths = len(slot.batch), pool.health().deaths
            os.kill(slot.proc.pid, signal.SIGKILL)
            t0 = time.monotonic()
            noticed = _wait(lambda d=deaths: pool.health().deaths > d, 5)  # type: ignore[misc]
            up = _wait(lambda: pool.health().live == 2, 30)
            if noticed is not None:
                notice.append(noticed * 1000)
            if up is not None:
                serving.append(time.monotonic() - t0)
            requeued += held
            print(f"  kill {k + 1}: {held} utterance(s) in hand, noticed in "
                  f"{(noticed or 0) * 1000:.1f} ms, new worker ready after "
                  f"{(time.monotonic() - t0):.2f} s")
        _wait(lambda: len(back) == submitted, 60)
    finally:
        pool.close()
    h = pool.health()
    lost = submitted - len(back)
    twice = sum(1 for n in back.values() if n > 1)
    print(f"pool: {kills} kills; noticed in p50 {statistics.median(notice):.1f} ms, max "
          f"{max(notice):.1f} ms; new worker taking work after p50 "
          f"{statistics.median(serving):.2f} s, max {max(serving):.2f} s")
    print(f"pool: {submitted} utterances, {h.requeued} re-queued, {lost} lost, {twice} done "
          f"twice, {h.dropped} dropped, {h.given_up} given up")


class Serve:
    def __init__(self, data: Path) -> None:
        env = {**os.environ, "COACH_CONSOLE_TRANSCRIBE": "1",
               "COACH_CONSOLE_CONFIG": str(data / "config.toml")}
        self.proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--data-dir",
                                      str(data / "d"), "--no-auth"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        self.ps = psutil.Process(self.proc.pid)
        self.banner = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip().startswith("Data:"):
                self.banner.set()

    def children(self) -> list[psutil.Process]:
        try:
            return self.ps.children(recursive=True)
        except psutil.Error:
            return []

    def workers(self) -> list[psutil.Process]:
        return [p for p in self.children() if "spawn_main" in " ".join(p.cmdline())]

    def sigterm(self) -> float:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return float("inf")
        return time.monotonic() - t0


def _ended(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def serve_exits(runs: int) -> None:
    figures: dict[str, list[float]] = {"idle": [], "both workers killed": [],
                                       "workers loading": [], "kill -9: children gone": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            s = Serve(Path(tmp) / "a")
            s.banner.wait(30)
            figures["idle"].append(s.sigterm())
        with tempfile.TemporaryDirectory() as tmp:
            s = Serve(Path(tmp) / "b")
            s.banner.wait(30)
            for w in s.workers():
                w.kill()
            time.sleep(0.2)
            figures["both workers killed"].append(s.sigterm())
        with tempfile.TemporaryDirectory() as tmp:
            loading = Serve(Path(tmp) / "c")
            _wait(lambda: bool(loading.workers()), 30)  # noqa: B023 (called right here)
            figures["workers loading"].append(loading.sigterm())
        with tempfile.TemporaryDirectory() as tmp:
            s = Serve(Path(tmp) / "d")
            s.banner.wait(30)
            kids = s.children()
            t0 = time.monotonic()
            s.proc.kill()
            gone = _wait(lambda: all(_ended(p) for p in kids), 30)  # noqa: B023
            figures["kill -9: children gone"].append(
                time.monotonic() - t0 if gone is not None else float("inf"))
            for p in kids:
                if not _ended(p):
                    p.kill()
    for name, values in figures.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"serve, {name:<24} max {max(values):.2f} s  ({each})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    pool_kills(args.kills)
    serve_exits(args.runs)


if __name__ == "__main__":
    main()
