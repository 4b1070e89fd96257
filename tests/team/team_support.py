"""Real team processes for the tests: a nats-server from the installed package, ingest
nodes as `coach-console serve --bus` processes, and the command line against them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console.team.busserver import BusServer

CLI = [sys.executable, "-m", "console"]
STARTED: list[subprocess.Popen[str]] = []  # ended after each test, whatever it did (conftest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_bus(store: Path, port: int | None = None, **creds: str) -> BusServer:
    if not creds:
        creds = {"token": "team-secret"}
    bus = BusServer(store, port=port or free_port(), host="127.0.0.1", **creds)
    bus.start()
    return bus


def run(*args: str, check: bool = True, timeout: float = 60,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or os.environ.copy())
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class Node:
    """`coach-console serve --bus URL --node NAME` as a process, ready once its banner says
    it joined (or is waiting for) the bus."""

    def __init__(self, bus_url: str, name: str, data: Path, *args: str,
                 transcribe: bool = False, ready_timeout: float = 40.0,
                 env_extra: dict[str, str] | None = None) -> None:
        env = {**os.environ, **(env_extra or {})}
        env["COACH_CONSOLE_TRANSCRIBE"] = "1" if transcribe else "0"
        self.name = name
        self.data = data
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--port", "0", "--data-dir", str(data), "--token", "stream-token",
             "--bus", bus_url, "--node", name, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        STARTED.append(self.proc)
        self.lines: list[str] = []
        self.url = ""
        deadline = time.monotonic() + ready_timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"node {name} exited: {err}")
            self.lines.append(line)
            m = re.search(r"listening on (wss?://\S+)", line)
            if m:
                self.url = m.group(1)
            if line.strip().startswith("Team bus:"):
                return
        raise AssertionError(f"node {name} did not join the bus")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _err = self.proc.communicate(timeout=20)
        return "".join(self.lines) + out

    def kill(self) -> None:
        """Gone at once, as in a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


def simulate(url: str, *args: str, wait: bool = False) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*CLI, "simulate", "--url", url, "--token", "stream-token", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED.append(proc)
    if wait:
        proc.communicate(timeout=120)
    return proc


def wait_until(predicate, timeout: float = 20.0, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s (last: {last!r})")


@contextlib.contextmanager
def two_consoles(bus_url: str, tmp_path: Path, call_id: str
                 ) -> Iterator[tuple[Any, Any, list[Any], Any]]:
    """A node, Ana's and Bob's consoles (team engines on their threads) and one call on the
    node from a provider on a real socket, seen by both consoles. Yields (ana, bob, what
    Bob's window would be given, the provider's socket: closing it ends the call);
    everything stops afterwards."""
    from helpers import telnyx_start
    from websockets.sync.client import connect

    from console.config import Settings
    from console.team.console import TeamEngine, TeamEngineThread

    node = Node(bus_url, "east", tmp_path / "east")
    ana, bob = (TeamEngine(Settings(bus_url=bus_url, data_dir=str(tmp_path / name.lower()),
                                    supervisor_name=name).validate()) for name in ("Ana", "Bob"))
    heard: list[Any] = []
    bob.bus.subscribe(heard.append)
    threads = [TeamEngineThread(ana), TeamEngineThread(bob)]
    try:
        for t in threads:
            t.start(30)
        with connect(node.url, additional_headers={"Authorization": "Bearer stream-token"}
                     ) as ws:
            ws.send(telnyx_start("t-" + call_id, call_id))
            wait_until(lambda: call_id in ana.registry.calls and call_id in bob.registry.calls)
            yield ana, bob, heard, ws
    finally:
        for t in threads:
            t.stop()
        node.stop()


async def until(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """wait_until for asyncio tests: the loop keeps running while it waits."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {timeout} s (last: {predicate()!r})")


def end_started() -> None:
    """Whatever a test started and left running (it failed half-way): gone before the next."""
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

