"""The team's console side through failures, with real processes: a console that joins
mid-call, a node that dies, a console that loses the bus, and nodes that keep working while
the bus is down and catch up after."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from team_support import Node, run, simulate, until

from console.config import Settings
from console.core.events import CallEnded, CallStarted, StreamProblem, TranscriptSegment
from console.team.busserver import BusServer
from console.team.console import TeamEngine


def _console(url: str, tmp_path: Path) -> tuple[TeamEngine, list]:  # type: ignore[type-arg]
    engine = TeamEngine(Settings(bus_url=url, data_dir=str(tmp_path / "console"),
                                 supervisor_name="Ana").validate())
    seen: list = []  # type: ignore[type-arg]
    engine.bus.subscribe(seen.append)
    return engine, seen


async def test_late_join_shows_the_transcript_so_far_then_live(bus: BusServer,
                                                               tmp_path: Path) -> None:
    node = Node(bus.url(), "east", tmp_path / "east", transcribe=True)
    sim = simulate(node.url, "--calls", "1", "--duration", "25", "--seed", "11")
    try:
        # The call has been going (and transcribed) for a while before the console starts.
        await until(lambda: any("said" in line for line in _lines(node)), 40)
        engine, seen = _console(bus.url(), tmp_path)
        joined_at = time.time()
        await engine.start()
        try:
            started = await until(lambda: [e for e in seen if isinstance(e, CallStarted)])
            assert started[0].node == "east"
            early = await until(lambda: [e for e in seen if isinstance(e, TranscriptSegment)
                                          and e.final])
            assert early, "the transcript so far arrives on joining"
            call = engine.registry.calls[started[0].call_id]
            assert call.node == "east" and call.state == "active"
            # ...and waveforms from now on, into rings the tiles draw from
            rings = [engine.registry.rings[k] for k in call.tracks]
            assert rings
            await until(lambda: all(r.written > 200 for r in rings), 10)
            # live facts keep coming after the replay, each applied once
            count = len(seen)
            await until(lambda: len(seen) > count + 5, 15)
            ids = [(e.segment_id, e.text) for e in seen
                   if isinstance(e, TranscriptSegment) and e.final]
            assert len(ids) == len(set(ids))
            assert any(isinstance(e, TranscriptSegment) and e.final
                       and engine.shown_at.get(e.segment_id, 0) > joined_at for e in seen)
        finally:
            await engine.stop()
    finally:
        sim.kill()
        node.stop()


def _lines(node: Node) -> list[str]:
    """What the node printed so far (without blocking)."""
    import os
    import select

    out = node.proc.stdout
    assert out is not None
    while select.select([out], [], [], 0)[0]:
        line = os.read(out.fileno(), 65536).decode(errors="replace")
        if not line:
            break
        node.lines.extend(line.splitlines(keepends=True))
    return node.lines


async def test_a_dead_node_shows_its_calls_interrupted_within_10_s(bus: BusServer,
                                                                  tmp_path: Path) -> None:
    a = Node(bus.url(), "east", tmp_path / "a")
    b = Node(bus.url(), "west", tmp_path / "b")
    sims = [simulate(a.url, "--calls", "1", "--duration", "40", "--seed", "21"),
            simulate(b.url, "--calls", "1", "--duration", "40", "--seed", "22")]
    engine, seen = _console(bus.url(), tmp_path)
    await engine.start()
    try:
        await until(lambda: len([c for c in engine.registry.calls.values()
                                  if c.state == "active"]) == 2)
        east = next(c for c in engine.registry.calls.values() if c.node == "east")
        west = next(c for c in engine.registry.calls.values() if c.node == "west")
        a.kill()
        killed = time.monotonic()
        ended = await until(lambda: [e for e in seen if isinstance(e, CallEnded)
                                      and e.call_id == east.id], 12)
        assert time.monotonic() - killed <= 10.0
        assert ended[0].state == "interrupted"
        assert any(isinstance(e, StreamProblem) and e.call_id == east.id
                   and "node east" in e.message for e in seen)
        # the other node's call is untouched and still live
        assert west.state == "active"
        rings = [engine.registry.rings[k] for k in west.tracks]
        written = [r.written for r in rings]
        await until(lambda: all(r.written > w + 200 for r, w in zip(rings, written,
                                                                     strict=True)), 5)
        assert not [e for e in seen if isinstance(e, CallEnded) and e.call_id == west.id]
        # the team's record says so too (one console recorded it for everyone)
        calls = json.loads(run("calls", "--bus", bus.url(), "--json").stdout)
        assert {c["id"]: c["state"] for c in calls}[east.id] == "interrupted"
        assert {c["id"]: c["state"] for c in calls}[west.id] == "active"
    finally:
        await engine.stop()
        for sim in sims:
            sim.kill()
        b.stop()


async def test_a_console_that_loses_the_bus_says_so_and_reconnects(bus: BusServer,
                                                                   tmp_path: Path) -> None:
    node = Node(bus.url(), "east", tmp_path / "east")
    engine, seen = _console(bus.url(), tmp_path)
    await engine.start()
    sim = simulate(node.url, "--calls", "1", "--duration", "4", "--seed", "30")
    try:
        await until(lambda: engine.state == "connected")
        short = (await until(lambda: [e for e in seen if isinstance(e, CallStarted)]))[0]
        bus.stop()  # the call ends while nobody can hear of it
        await until(lambda: engine.state.startswith("disconnected"), 10)
        assert any(isinstance(e, StreamProblem) and "lost the team bus" in e.message
                   for e in seen)
        await until(lambda: any("call ended" in line for line in _lines(node)), 15)
        assert engine.registry.calls[short.call_id].state == "active"  # not heard yet
        restarted = BusServer(bus.store_dir, port=bus.port, host="127.0.0.1",
                              token="team-secret")
        restarted.start()
        try:
            await until(lambda: engine.state == "connected", 20)
            assert any(isinstance(e, StreamProblem) and "reconnected" in e.message
                       for e in seen)
            # what happened meanwhile is caught up: the call that ended is shown ended
            await until(lambda: [e for e in seen if isinstance(e, CallEnded)
                                  and e.call_id == short.call_id], 15)
            assert engine.registry.calls[short.call_id].state == "ended"
            sim.kill()
            # and calls flow again: the node reconnected too
            sim = simulate(node.url, "--calls", "1", "--duration", "6", "--seed", "31")
            await until(lambda: [e for e in seen if isinstance(e, CallStarted)
                                  and e.call_id != short.call_id], 20)
        finally:
            await engine.stop()
            if sim is not None:
                sim.kill()
            node.stop()
            restarted.stop()
    finally:
        if engine.loop is not None and engine.nc is not None and not engine.nc.is_closed:
            await engine.stop()


async def test_nodes_keep_working_while_the_bus_is_down_and_lose_no_transcript(
        bus: BusServer, tmp_path: Path) -> None:
    node = Node(bus.url(), "east", tmp_path / "east", transcribe=True)
    sim = simulate(node.url, "--calls", "1", "--duration", "14", "--seed", "41")
    restarted = None
    try:
        await until(lambda: any("said" in line for line in _lines(node)), 40)
        bus.stop()  # the bus goes away mid-call; the node goes on
        await asyncio.sleep(5)
        restarted = BusServer(bus.store_dir, port=bus.port, host="127.0.0.1",
                              token="team-secret")
        restarted.start()
        await asyncio.get_running_loop().run_in_executor(None, sim.communicate)
        local = await until(lambda: _ended_locally(node.data), 30)
        call_id = local["id"]
        # Every final line the node kept is on the bus too, once, in order.
        async def team_lines() -> list[str] | None:
            proc = await asyncio.get_running_loop().run_in_executor(None, lambda: run(
                "export", call_id, "--bus", bus.url(), "--format", "json", check=False))
            if proc.returncode:
                return None
            detail = json.loads(proc.stdout)
            return [s["text"] for s in detail["segments"]] if detail["state"] == "ended" \
                else None
        deadline = time.monotonic() + 30
        team = None
        while time.monotonic() < deadline and team != local["lines"]:
            team = await team_lines()
            await asyncio.sleep(0.5)
        assert local["lines"], "the node transcribed the call"
        assert team == local["lines"]
        out = node.stop()
        assert "said" in out
    finally:
        sim.kill()
        if node.proc.poll() is None:
            node.stop()
        if restarted is not None:
            restarted.stop()


def _ended_locally(data: Path) -> dict | None:  # type: ignore[type-arg]
    calls = json.loads(run("calls", "--data-dir", str(data), "--json").stdout)
    if not calls or calls[0]["state"] != "ended":
        return None
    detail = json.loads(run("export", calls[0]["id"], "--data-dir", str(data),
                            "--format", "json").stdout)
    return {"id": detail["id"], "lines": [s["text"] for s in detail["segments"]]}


async def test_a_node_that_starts_again_closes_the_calls_it_left_open(bus: BusServer,
                                                                      tmp_path: Path) -> None:
    node = Node(bus.url(), "east", tmp_path / "east")
    sim = simulate(node.url, "--calls", "1", "--duration", "30", "--seed", "61")
    try:
        def live() -> list:  # type: ignore[type-arg]
            calls = json.loads(run("calls", "--bus", bus.url(), "--json").stdout)
            return [c for c in calls if c["state"] == "active"]
        call = (await until(live))[0]
        node.kill()  # no console is running to notice
        node = Node(bus.url(), "east", tmp_path / "east-again")
        started = time.monotonic()

        def state() -> str | None:
            calls = json.loads(run("calls", "--bus", bus.url(), "--json").stdout)
            found = [c["state"] for c in calls if c["id"] == call["id"]]
            return found[0] if found and found[0] != "active" else None
        assert await until(state, 8) == "interrupted"
        assert time.monotonic() - started < 8  # its own doing, not a stale heartbeat (10 s)
        detail = json.loads(run("export", call["id"], "--bus", bus.url(), "--format",
                                "json").stdout)
        assert detail["state"] == "interrupted"
    finally:
        sim.kill()
        node.stop()


async def test_a_node_started_before_the_bus_joins_it_later_with_what_it_kept(
        tmp_path: Path) -> None:
    from team_support import free_port

    port = free_port()
    url = f"nats://team-secret@127.0.0.1:{port}"
    node = Node(url, "east", tmp_path / "east")
    assert "waiting: cannot reach the bus" in node.lines[-1], node.lines[-1]
    sim = simulate(node.url, "--calls", "1", "--duration", "3", "--speed", "0", "--seed", "81")
    await asyncio.get_running_loop().run_in_executor(None, sim.communicate)
    bus = BusServer(tmp_path / "bus", port=port, host="127.0.0.1", token="team-secret")
    bus.start()
    try:
        def ended() -> list:  # type: ignore[type-arg]
            calls = json.loads(run("calls", "--bus", url, "--json").stdout)
            return [c for c in calls if c["state"] == "ended" and c["node"] == "east"]
        call = (await until(ended, 30))[0]
        detail = json.loads(run("export", call["id"], "--bus", url, "--format",
                                "json").stdout)
        assert detail["streams"] and detail["streams"][0]["frames"] > 0
    finally:
        node.stop()
        bus.stop()
