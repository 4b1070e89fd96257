"""`coach-console archive --bus URL [--data-dir D]`: the team's history in one SQLite store on
a server, kept from the bus's log by a durable consumer (it resumes where it stopped). The
folder is an ordinary Coach Console data folder: `calls --data-dir D` and `export --data-dir D`
read it, beyond the log's retention and whatever node is down."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from typing import TextIO

from console.config import Settings
from console.core.events import CallEnded, CallEvent, CallStarted
from console.team.console import TeamEngine

__all__ = ["archive"]


def archive(settings: Settings, out: TextIO = sys.stdout) -> int:
    return asyncio.run(_archive(settings, out))


async def _archive(settings: Settings, out: TextIO) -> int:
    engine = TeamEngine(settings, store_dir=settings.data_path())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    def show(ev: CallEvent) -> None:
        stamp = time.strftime("%H:%M:%S")
        if isinstance(ev, CallStarted):
            print(f"{stamp} call started  {ev.call_id} node={ev.node}", file=out, flush=True)
        elif isinstance(ev, CallEnded):
            print(f"{stamp} call {ev.state:<9} {ev.call_id}", file=out, flush=True)

    engine.bus.subscribe(show)
    await engine.start()
    while engine.replica is None and not engine.error and not stop.is_set():
        await asyncio.sleep(0.05)
    if engine.error:
        await engine.stop()
        print(f"coach-console: {engine.error}", file=sys.stderr, flush=True)
        return 2
    print(f"Coach Console archive of team {engine.opts.team} on {engine.opts.shown_url}",
          file=out)
    print(f"  Store: {engine.data_dir} (read it with calls/export --data-dir)", file=out,
          flush=True)
    await stop.wait()
    print("shutting down", file=out, flush=True)
    await engine.stop()
    return 0


