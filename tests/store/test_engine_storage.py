"""Storage trouble seen from the engine: its health, a problem on the calls concerned, one
line on `serve` stdout, and calls that end `ended` once the store catches up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import wait_for
from support import running_engine

from console.core.events import StreamProblem
from console.sim.client import SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.store.db import connect, db_path
from console.store.writer import StoreHealth

CLI = [sys.executable, "-m", "console"]


async def test_unwritable_database_is_an_engine_health_state_and_the_call_survives(  # type: ignore[no-untyped-def]
        settings) -> None:
    """The database stops taking writes (SQLite's query_only gives the real SQLITE_READONLY
    of a read-only file system) while a call starts and ends: the engine reports it, the call
    gets a problem, and once writes work again the call is stored and ends `ended`."""
    problems: list[StreamProblem] = []
    healths: list[StoreHealth] = []
    async with running_engine(settings) as engine:
        engine.bus.subscribe(lambda ev: problems.append(ev) if isinstance(ev, StreamProblem)
                             and ev.kind == "storage" else None)
        engine.store_health_listeners.append(healths.append)
        assert engine.store.flush()
        engine.store._conn.execute("PRAGMA query_only = 1")  # the writer's own connection
        opts = SimOptions(url=engine.url, token="test-token", speed=4.0, duration=3.0,
                          dialogue="friendly-address-change")
        plan = plan_calls(load_dialogues(), opts)[0]
        result = await play_call(plan, opts)  # starts and ends while nothing can be written
        assert result.streams[0].error is None
        await wait_for(lambda: engine.stats().store_health.startswith("degraded"))
        assert "readonly database" in engine.stats().store_health
        await wait_for(lambda: bool(healths) and bool(problems))
        assert healths[0].state == "degraded"
        assert {p.call_id for p in problems} == {plan.call_key}
        conn = connect(db_path(settings.data_path()), readonly=True)
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0

        engine.store._conn.execute("PRAGMA query_only = 0")  # writable again
        await wait_for(lambda: engine.store_health.ok)
        assert engine.stats().store_health == "ok" and healths[-1].ok
        row = conn.execute("SELECT state FROM calls WHERE id = ?", (plan.call_key,)).fetchone()
        assert row is not None and row[0] == "ended"
        kinds = [r[0] for r in conn.execute("SELECT kind FROM problems WHERE call_id = ?",
                                             (plan.call_key,))]
        assert "storage" in kinds  # the call's history says what happened
        frames = conn.execute("SELECT frames FROM streams WHERE call_id = ?",
                              (plan.call_key,)).fetchone()[0]
        assert frames == result.frames_sent


def _serve(data: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--data-dir", str(data),
                             "--no-auth", "--record"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc


def test_serve_says_once_on_stdout_that_recording_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "recordings").write_text("a file where the recordings folder should be")
    proc = _serve(data)
    assert proc.stdout is not None
    try:
        url = ""
        for line in proc.stdout:
            if "listening on" in line:
                url = line.split()[-1]
            if line.strip().startswith("Data:"):
                break
        assert url, proc.stderr.read() if proc.stderr else "serve died"
        for n in range(2):  # two calls: the second one finds the trouble already known
            subprocess.run([*CLI, "simulate", "--url", url, "--speed", "8", "--duration", "2",
                            "--seed", str(n + 1), "--dialogue", "friendly-address-change"],
                           check=True, capture_output=True, timeout=60)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    storage = [line for line in out.splitlines() if " storage " in line]
    assert len(storage) == 1, out
    assert "degraded: recording stopped" in storage[0]
    calls = json.loads(subprocess.run([*CLI, "calls", "--data-dir", str(data), "--json"],
                                      capture_output=True, text=True, check=True).stdout)
    assert len(calls) == 2 and {c["state"] for c in calls} == {"ended"}
    conn = connect(db_path(data), readonly=True)
    kinds = {tuple(r) for r in conn.execute("SELECT call_id, kind FROM problems")}
    assert kinds == {(c["id"], "recording") for c in calls}
