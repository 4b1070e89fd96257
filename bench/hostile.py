#!/usr/bin/env python3
"""The hostile bench: healthy calls stream while the console is attacked and broken.

Each phase runs a real engine (its stream server on loopback, real SQLite, recording on,
speech recognition on) with healthy demo calls played at real time beside it, and prints:
  crashes          the engine's thread or loop died, or it refused a call afterwards
  frames lost      frames the healthy calls sent that the store does not account for
                   (streams.frames), and whether their recorded audio is sample-exact
  finals lost      final transcript segments published on the bus and missing from the
                   store once the phase is over

Phases:
  fuzz        every malformed kind of console.sim.hostile, --per-kind frames of each
  workers     a speech worker killed (SIGKILL), then both
  recordings  the recordings folder replaced by a file: no audio files can be opened
  disk-full   the data folder on a small tmpfs filled to the last byte, then freed (root)
  kill-9      `coach-console serve` killed with SIGKILL mid-call: its speech workers must
              go with it, and a restart finds every final segment it printed

    .venv/bin/python bench/hostile.py [--per-kind 10000] [--calls 4] [--phase fuzz ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import psutil

from console.audio.codecs import ulaw_decode, ulaw_encode
from console.config import Settings
from console.core.events import CallEvent, TranscriptSegment
from console.engine import Engine
from console.sim.client import CallResult, SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.sim.hostile import ATTACKS, attack
from console.store.db import connect, db_path
from console.store.export_wav import call_audio

TOKEN = "bench-token"
HEADERS = {"x-telnyx-streaming-auth-token": TOKEN}
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    phase: str
    crashes: int = 0
    frames_sent: int = 0
    frames_lost: int = 0
    audio_exact: str = "-"
    finals_published: int = 0
    finals_lost: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.phase:<11} crashes {self.crashes}   frames lost {self.frames_lost} "
                f"of {self.frames_sent}   audio exact {self.audio_exact:<7} "
                f"finals lost {self.finals_lost} of {self.finals_published}   "
                + "; ".join(self.notes))


def settings_for(data: Path, **extra: object) -> Settings:
    return Settings(host="127.0.0.1", port=0, data_dir=str(data), token=TOKEN, record=True,
                    transcribe=True, idle_timeout_s=60, **extra).validate()  # type: ignore[arg-type]


async def healthy_calls(url: str, calls: int, seconds: float, seed: int,
                        stagger: float = 0.5) -> list[tuple[object, CallResult]]:
    opts = SimOptions(url=url, token=TOKEN, speed=1.0, duration=seconds, seed=seed,
                      calls=calls)
    plans = plan_calls(load_dialogues(), opts)
    results = await asyncio.gather(*(play_call(p, opts, i * stagger)
                                     for i, p in enumerate(plans)))
    return list(zip(plans, results, strict=True))


def check_calls(data: Path, played: list[tuple[object, CallResult]], seconds: float,
                out: Outcome, audio: bool = True) -> None:
    conn = connect(db_path(data), readonly=True)
    exact = 0
    try:
        for plan, result in played:
            out.frames_sent += result.frames_sent
            rows = conn.execute("SELECT frames, dropped FROM streams WHERE call_id = ?",
                                (plan.call_key,)).fetchall()  # type: ignore[attr-defined]
            kept = sum(r["frames"] for r in rows) - sum(r["dropped"] for r in rows)
            out.frames_lost += max(0, result.frames_sent - kept)
            if not audio:
                continue
            n = int(seconds * 50) * 160
            d = plan.dialogue  # type: ignore[attr-defined]
            stereo, _ = call_audio(conn, data, plan.call_key)  # type: ignore[attr-defined]
            want_c = ulaw_decode(ulaw_encode(d.customer[:n]))
            want_a = ulaw_decode(ulaw_encode(d.agent[:n]))
            exact += int(np.array_equal(stereo[:, 0], want_c)
                         and np.array_equal(stereo[:, 1], want_a))
        if audio:
            out.audio_exact = f"{exact}/{len(played)}"
    finally:
        conn.close()


class Finals:
    """Final segments as the bus published them, to be found in the store afterwards."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}

    def __call__(self, ev: CallEvent) -> None:
        if isinstance(ev, TranscriptSegment) and ev.final:
            self.texts.setdefault(ev.call_id, []).append(ev.text)

    def check(self, data: Path, out: Outcome) -> None:
        conn = connect(db_path(data), readonly=True)
        try:
            for call_id, texts in self.texts.items():
                stored = [r["text"] for r in conn.execute(
                    "SELECT text FROM segments WHERE call_id = ?", (call_id,))]
                out.finals_published += len(texts)
                out.finals_lost += sum(max(0, texts.count(t) - stored.count(t))
                                       for t in set(texts))
        finally:
            conn.close()


async def run_engine_phase(name: str, data: Path, calls: int, seconds: float,
                           during: object, audio: bool = True, **extra: object) -> Outcome:
    """One phase on an in-process engine: healthy calls, `during(engine, url)` beside them."""
    out = Outcome(name)
    engine = Engine(settings_for(data, **extra))
    finals = Finals()
    engine.bus.subscribe(finals)
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _loop, ctx: loop_errors.append(str(ctx.get("message"))))
    await engine.start()
    state = await engine.transcription_ready()
    if not state.startswith("on"):
        out.notes.append(f"transcription {state}")
    url = f"ws://127.0.0.1:{engine.port}/stream"
    try:
        calls_task = asyncio.create_task(healthy_calls(url, calls, seconds, seed=len(name)))
        await during(engine, url, out)  # type: ignore[operator]
        played = await calls_task
        # The engine still takes a call after all that.
        after = await healthy_calls(url, 1, 1.0, seed=99)
        if after[0][1].streams[0].error:
            out.crashes += 1
        await asyncio.sleep(3.0)  # the last utterances reach the speech workers
        pool = engine.pipeline.pool if engine.pipeline is not None else None
        if pool is not None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (pool.health().pending
                                                   or pool.health().live < pool.workers):
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)  # what the workers hold now
            h = pool.health()
            out.notes.append(f"pool: {h.deaths} deaths, {h.restarts} restarts, "
                             f"{h.requeued} requeued, {h.dropped} dropped, "
                             f"{h.given_up} given up")
    finally:
        await engine.stop()
    out.crashes += len(loop_errors)
    check_calls(data, played, seconds, out, audio)
    finals.check(data, out)
    return out


async def fuzz(per_kind: int, calls: int, seconds: float) -> Outcome:
    async def during(engine: Engine, url: str, out: Outcome) -> None:
        t0 = time.perf_counter()
        result = await attack(url, HEADERS, per_kind,
                              frame_limit=engine.settings.max_message_bytes, sockets=8)
        took = time.perf_counter() - t0
        sent = sum(result.sent.values())
        counted = engine.stats().bad_by_kind
        missing = {k: n - counted.get(k, 0) for k, n in result.expected.items()
                   if counted.get(k, 0) < n}
        out.notes.append(f"{sent} malformed frames ({len(ATTACKS)} kinds) in {took:.1f} s "
                         f"({sent / took:.0f}/s)")
        out.notes.append("every one counted under its kind" if not missing
                         else f"uncounted: {missing}")

    with tempfile.TemporaryDirectory() as tmp:
        return await run_engine_phase("fuzz", Path(tmp), calls, seconds, during)


async def workers(calls: int, seconds: float) -> Outcome:
    async def during(engine: Engine, url: str, out: Outcome) -> None:
        await asyncio.sleep(seconds * 0.3)
        pool = engine.pipeline.pool if engine.pipeline is not None else None
        if pool is None:
            out.notes.append("no speech pool")
            return
        os.kill(pool.pids()[0], signal.SIGKILL)
        await asyncio.sleep(seconds * 0.3)
        pids = pool.pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        out.notes.append(f"killed 1, then {len(pids)} workers; status then: "
                         f"{engine.transcription[:60]}")

    with tempfile.TemporaryDirectory() as tmp:
        return await run_engine_phase("workers", Path(tmp), calls, seconds, during)


async def recordings(calls: int, seconds: float) -> Outcome:
    async def during(engine: Engine, url: str, out: Outcome) -> None:
        await asyncio.sleep(seconds + 2)
        out.notes.append(f"store health: {engine.stats().store_health}")

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "recordings").write_text("not a folder")
        return await run_engine_phase("recordings", data, calls, seconds, during, audio=False)


async def disk_full(calls: int, seconds: float) -> Outcome:
    if os.geteuid() != 0:
        out = Outcome("disk-full")
        out.notes.append("needs root to mount a small tmpfs for the data folder; not run")
        return out
    mount = Path(tempfile.mkdtemp(prefix="coach-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
                   check=True)
    try:
        async def during(engine: Engine, url: str, out: Outcome) -> None:
            await asyncio.sleep(seconds * 0.3)
            filler = mount / "filler"
            with filler.open("wb", buffering=0) as f:
                for size in (1 << 20, 1 << 14, 512, 1):  # to the last byte
                    with contextlib.suppress(OSError):
                        while True:
                            f.write(b"\0" * size)
            await asyncio.sleep(seconds * 0.4)
            health = engine.stats().store_health
            filler.unlink()
            await asyncio.sleep(2.0)
            out.notes.append(f"health while full: {health}; after: "
                             f"{engine.stats().store_health}")

        out = await run_engine_phase("disk-full", mount / "data", calls, seconds, during,
                                     audio=False)
        conn = connect(db_path(mount / "data"), readonly=True)
        states = [r[0] for r in conn.execute("SELECT state FROM calls")]
        conn.close()
        out.notes.append(f"call states: {sorted(set(states))} ({len(states)} calls)")
        return out
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


async def kill_9(calls: int, seconds: float) -> Outcome:
    out = Outcome("kill-9")
    exe = str(Path(sys.executable).parent / "coach-console")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = {**os.environ, "COACH_CONSOLE_TRANSCRIBE": "1"}
        cmd = [exe, "serve", "--port", "0", "--data-dir", str(data), "--token", TOKEN,
               "--record"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=env, text=True)
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        while not any("Data:" in x for x in lines):
            await asyncio.sleep(0.1)
        url = re.search(r"ws://\S+", "".join(lines)).group(0)  # type: ignore[union-attr]
        children = psutil.Process(proc.pid).children(recursive=True)
        task = asyncio.create_task(healthy_calls(url, calls, seconds * 2, seed=9))
        await asyncio.sleep(seconds)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = time.monotonic()
        with contextlib.suppress(Exception):
            await task
        _, alive = psutil.wait_procs(children, timeout=10)
        out.notes.append(f"{len(children)} child processes; alive after 10 s: {len(alive)}"
                         f" (gone in {time.monotonic() - killed_at:.1f} s)")
        out.crashes += len(alive)
        for p in alive:
            p.kill()
        printed = [x for x in lines if re.match(r"\S+ said ", x)]
        restart = subprocess.run([exe, "calls", "--data-dir", str(data)], env=env,
                                 capture_output=True, text=True, timeout=60)
        conn = connect(db_path(data), readonly=True)
        stored = {r["text"] for r in conn.execute("SELECT text FROM segments")}
        conn.close()
        out.finals_published = len(printed)
        out.finals_lost = sum(1 for x in printed if x.split("s  ", 1)[-1].strip() not in stored)
        out.notes.append(f"restart lists {restart.stdout.count(chr(10))} lines")
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-kind", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--phase", nargs="*", default=["fuzz", "workers", "recordings",
                                                   "disk-full", "kill-9"])
    args = ap.parse_args()
    # Bad frames are logged as warnings by design; here only errors would be news.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print(f"hostile bench: {args.calls} healthy calls of {args.seconds:.0f} s per phase, "
          f"transcription and recording on; load {os.getloadavg()[0]:.1f}", flush=True)
    for phase in args.phase:
        t0 = time.perf_counter()
        if phase == "fuzz":
            out = await fuzz(args.per_kind, args.calls, args.seconds)
        elif phase == "workers":
            out = await workers(args.calls, args.seconds)
        elif phase == "recordings":
            out = await recordings(args.calls, args.seconds)
        elif phase == "disk-full":
            out = await disk_full(args.calls, args.seconds)
        else:
            out = await kill_9(args.calls, args.seconds / 2)
        print(f"{out.line()}  [{time.perf_counter() - t0:.0f} s]", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
