#!/usr/bin/env python3
"""Team bench: three ingest nodes (`coach-console serve --bus`) on one real nats-server, N
calls each played at real time by this bench's own Telnyx client, and a console on the bus
(raw nats-py, as a window would use it). The same load runs first against the three nodes
without the bus, then with it, and the bench prints:

  ring      provider frame sent -> its samples in an audio message at the listening console
  whisper   talk frame published by the console -> media frame at the provider (goal <= 40 ms)
  facts     fact published (its "t") -> received by the console (goal <= 50 ms): transcript
            segments with --transcribe, every fact otherwise
  CPU       each node's CPU seconds (its process and speech workers), with the bus / without,
            over the same windows of the same schedule (goal <= 1.15x)
  bus       nats-server's /varz in+out bytes and messages per call per minute, while the
            console only watches (facts, waveforms) and while it listens to one call per node

and an on-paper estimate of how many nodes 1,000 concurrent calls need.

After a warm-up, three windows of S seconds each: `watch` (the console subscribed to facts
and waveforms), `listen` (also listening to the first call of each node), `whisper` (also
whispering on those calls).

    .venv/bin/python bench/team.py [--calls 10] [--seconds 15] [--transcribe]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import psutil

STREAM_TOKEN = "bench-token"
BUS_TOKEN = "bench-bus-token"
NODES = 3
FRAME_S = 0.02
FRAME = 160  # PCMU samples per 20 ms at 8 kHz
TALK_RATE = 16000
WARM_S = 5.0
STAGGER_S = 0.1
WINDOWS = ("watch", "listen", "whisper")
CONSOLE = "bench"
RENEW_S = 2.0
# For the estimate: the measured speech recognition capacity of one 2-core machine,
# and ENVIRONMENT.md's nats-py publishing rate (320-byte messages, one Python process).
STT_CALLS_PER_NODE = 100
PY_MSGS_PER_S = 240_000


# --- the provider: one process per node, its calls at real time ---------------------------

@dataclass(frozen=True)
class CallSpec:
    call_id: str
    stream_id: str
    dialogue: int
    offset: float  # seconds after the run's start


def _track_payloads(pcm: np.ndarray, frames: int) -> list[str]:
    """`frames` base64 PCMU payloads of 20 ms, the dialogue looped as long as the call."""
    from console.audio.codecs import ulaw_encode

    need = frames * FRAME
    sig = np.tile(pcm, need // pcm.size + 1)[:need]
    raw = ulaw_encode(sig)
    return [base64.b64encode(raw[i * FRAME:(i + 1) * FRAME]).decode("ascii")
            for i in range(frames)]


def player(url: str, specs: list[CallSpec], frames: int, conn: Connection) -> None:
    """Sends "ready", takes the start time (time.monotonic, the same clock in every process
    here), plays, and sends back per call: each chunk's send time on both tracks and the
    arrival time of every media frame the node sent back (whisper audio)."""
    from console.sim.dialogues import load_dialogues

    dialogues = load_dialogues()
    payloads: dict[int, tuple[list[str], list[str]]] = {}
    for spec in specs:
        if spec.dialogue not in payloads:
            d = dialogues[spec.dialogue % len(dialogues)]
            payloads[spec.dialogue] = (_track_payloads(d.customer, frames),
                                       _track_payloads(d.agent, frames))
    conn.send("ready")
    start_at = conn.recv()

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(
            _play_call(url, s, frames, payloads[s.dialogue], start_at) for s in specs)))

    conn.send(asyncio.run(main()))


def _media(stream_id: str, seq: int, track: str, chunk: int, payload: str) -> str:
    return (f'{{"event":"media","sequence_number":"{seq}","stream_id":"{stream_id}",'
            f'"media":{{"track":"{track}","chunk":"{chunk}","timestamp":"{(chunk - 1) * 20}",'
            f'"payload":"{payload}"}}}}')


async def _play_call(url: str, spec: CallSpec, frames: int,
                     tracks: tuple[list[str], list[str]], start_at: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    sent = np.zeros((2, frames))
    back: list[float] = []
    error = ""
    if (delay := start_at + spec.offset - time.monotonic()) > 0:
        await asyncio.sleep(delay)
    try:
        async with connect(url, additional_headers={"x-telnyx-streaming-auth-token":
                                                    STREAM_TOKEN},
                           compression=None, max_size=2**22, open_timeout=10) as ws:
            async def receive() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for raw in ws:
                        if '"media"' in raw:  # the node only sends media back for whisper
                            back.append(time.monotonic())

            rx = asyncio.ensure_future(receive())
            # leg=customer: Telnyx plays returned audio to the opposite leg, the agent alone,
            # so whisper is allowed on this stream
            await ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
            await ws.send(json.dumps({
                "event": "start", "sequence_number": "1", "stream_id": spec.stream_id,
                "start": {"call_control_id": f"v3:{spec.stream_id}",
                          "call_session_id": spec.call_id, "from": "+15550001111",
                          "to": "+15550002222", "custom_parameters": {"leg": "customer"},
                          "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                           "channels": 1}}}))
            seq = 1
            t0 = time.monotonic()
            for k in range(frames):
                if (delay := t0 + k * FRAME_S - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                for i, name in enumerate(("inbound", "outbound")):
                    seq += 1
                    sent[i, k] = time.monotonic()
                    await ws.send(_media(spec.stream_id, seq, name, k + 1, tracks[i][k]))
            await ws.send(json.dumps({"event": "stop", "sequence_number": str(seq + 1),
                                      "stream_id": spec.stream_id,
                                      "stop": {"call_control_id": f"v3:{spec.stream_id}"}}))
            await asyncio.sleep(0.3)
            rx.cancel()
    except Exception as exc:  # a failed call is reported, the others go on
        error = f"{type(exc).__name__}: {exc}"
    return {"call": spec.call_id, "sent": sent, "back": back, "error": error}


# --- the nodes -----------------------------------------------------------------------------

class NodeProc:
    """`coach-console serve` as a process; its output goes to a file (nobody must have to read
    a pipe for it to go on)."""

    def __init__(self, name: str, data: Path, bus_url: str, transcribe: bool) -> None:
        self.name = name
        self.log = data.with_suffix(".log")
        env = os.environ.copy()
        env["COACH_CONSOLE_TRANSCRIBE"] = "1" if transcribe else "0"
        env["XDG_CONFIG_HOME"] = str(data.with_suffix(".config"))  # no user config file
        args = [sys.executable, "-m", "console", "serve", "--host", "127.0.0.1", "--port",
                "0", "--data-dir", str(data), "--token", STREAM_TOKEN]
        if bus_url:
            args += ["--bus", bus_url, "--node", name]
        if not transcribe:
            args.append("--no-transcribe")
        self.bus = bool(bus_url)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.ps = psutil.Process(self.proc.pid)
        self.url = ""
        self.transcription = ""

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if self.proc.poll() is not None:
                raise SystemExit(f"node {self.name} exited:\n{text[-2000:]}")
            m = re.search(r"listening on (wss?://\S+)", text)
            if m and (not self.bus or "Team bus:" in text):
                self.url = m.group(1)
                t = re.search(r"Transcription: (.*)", text)
                self.transcription = t.group(1).strip() if t else "?"
                return
            time.sleep(0.1)
        raise SystemExit(f"node {self.name} not ready in {timeout:g} s")

    def cpu_s(self) -> float:
        """CPU seconds of the node and its live children (the speech workers)."""
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            t = self.ps.cpu_times()
            total += t.user + t.system
            for child in self.ps.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    c = child.cpu_times()
                    total += c.user + c.system
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the console on the bus ---------------------------------------------------------------

@dataclass
class Console:
    """What a console does on the bus, instrumented: facts and waves for the wall, listen
    leases, whisper talk frames."""

    url: str
    team: str = "team"
    nc: Any = None
    facts: list[tuple[str, float, float, float]] = field(default_factory=list)
    bad_facts: int = 0
    audio: list[tuple[str, str, int, int, float]] = field(default_factory=list)
    talk_sent: dict[str, list[float]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _subs: list[Any] = field(default_factory=list)
    _renewals: set[asyncio.Future[Any]] = field(default_factory=set)

    async def connect(self) -> None:
        import nats

        from console.team.subjects import Subjects

        async def quiet(_exc: Exception) -> None:
            pass

        self.subjects = Subjects(self.team)
        self.nc = await nats.connect(self.url, name="bench console", error_cb=quiet)
        # the facts from the start: a console that was there before the calls
        self._subs.append(await self.nc.subscribe(self.subjects.all_facts(), cb=self._on_fact))

    async def _on_fact(self, msg: Any) -> None:
        from console.team.schema import BadFact, decode

        now = time.time()
        try:
            fact = decode(msg.data)
        except BadFact:
            self.bad_facts += 1
            return
        ev = fact.event
        made = next((float(getattr(ev, f)) for f in ("at", "started_at", "ended_at")
                     if isinstance(getattr(ev, f, None), float)), 0.0)
        self.facts.append((type(ev).__name__, fact.sent_at, now, made))

    async def watch(self) -> None:
        async def on_wave(_msg: Any) -> None:
            pass  # a console paints them; here they only count as traffic

        self._subs.append(await self.nc.subscribe(self.subjects.all_waves(), cb=on_wave))

    async def command(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        import orjson

        body = {"console": CONSOLE, "supervisor": "bench", **payload}
        try:
            msg = await self.nc.request(self.subjects.command(node), orjson.dumps(body),
                                        timeout=3.0)
            answer: dict[str, Any] = orjson.loads(msg.data)
        except Exception as exc:
            answer = {"ok": False, "reason": f"{type(exc).__name__}"}
        if not answer.get("ok"):
            self.refused.append(f"{payload.get('action')} on node {node}: "
                                f"{answer.get('reason')}")
        return answer

    async def listen(self, targets: list[tuple[str, str]]) -> None:
        from console.team import wire

        for node, call_id in targets:
            async def on_audio(msg: Any, node: str = node, call_id: str = call_id) -> None:
                now = time.monotonic()
                with contextlib.suppress(wire.BadAudio):
                    header, pcm = wire.unpack(msg.data)
                    track = str(header.get("k", "")).rsplit("/", 1)[-1]
                    self.audio.append((call_id, track, int(header["pos"]), pcm.size, now))

            self._subs.append(await self.nc.subscribe(self.subjects.audio(node, call_id),
                                                      cb=on_audio))
            await self.command(node, {"action": "listen", "call_id": call_id})

        async def renew() -> None:
            while True:
                await asyncio.sleep(RENEW_S)
                for node, call_id in targets:
                    await self.command(node, {"action": "listen", "call_id": call_id})

        self._tasks.append(asyncio.ensure_future(renew()))

    async def whisper(self, targets: list[tuple[str, str]]) -> None:
        from console.team import wire

        talking = []
        for node, call_id in targets:
            answer = await self.command(node, {"action": "whisper", "call_id": call_id,
                                               "rate": TALK_RATE})
            if answer.get("ok"):
                talking.append((node, call_id))
                self.talk_sent[call_id] = []
        n = int(TALK_RATE * FRAME_S)
        voice = (6000 * np.sin(2 * np.pi * 440 * np.arange(n) / TALK_RATE)).astype(np.int16)

        async def talk() -> None:
            t0 = time.monotonic()
            renewed = t0
            seq = 0
            while True:
                if (delay := t0 + seq * FRAME_S - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                for node, call_id in talking:
                    sent = time.monotonic()
                    await self.nc.publish(self.subjects.talk(node, call_id), wire.pack(
                        {"call": call_id, "console": CONSOLE, "rate": TALK_RATE, "seq": seq,
                         "sent": time.time()}, voice))
                    self.talk_sent[call_id].append(sent)
                seq += 1
                if time.monotonic() - renewed > RENEW_S:
                    renewed = time.monotonic()
                    for node, call_id in talking:
                        # renewed beside the frames: a slow answer must not hold them up
                        renewal = asyncio.ensure_future(self.command(
                            node, {"action": "talk_renew", "call_id": call_id}))
                        self._renewals.add(renewal)
                        renewal.add_done_callback(self._renewals.discard)

        self._tasks.append(asyncio.ensure_future(talk()))
        self._talking = talking

    async def close(self, targets: list[tuple[str, str]]) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for node, call_id in getattr(self, "_talking", []):
            await self.command(node, {"action": "talk_off", "call_id": call_id,
                                      "why": "bench window over"})
        for node, call_id in targets:
            await self.command(node, {"action": "listen_off", "call_id": call_id,
                                      "why": "bench window over"})
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await self.nc.close()


# --- one run -------------------------------------------------------------------------------

@dataclass
class Snapshot:
    at: float
    cpu: list[float]
    bus_cpu: float
    varz: dict[str, int]


@dataclass
class RunResult:
    snaps: list[Snapshot]
    calls: list[list[dict[str, Any]]]  # per node, per call
    specs: list[list[CallSpec]]
    console: Console | None
    transcription: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def varz(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=2) as r:
        v = json.loads(r.read())
    return {k: int(v[k]) for k in ("in_msgs", "out_msgs", "in_bytes", "out_bytes")}


def plan(calls: int, seed: int) -> list[list[CallSpec]]:
    rng = random.Random(seed)
    specs = []
    for n in range(NODES):
        node = []
        for i in range(calls):
            node.append(CallSpec(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                 str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                 i + n, (i * NODES + n) * STAGGER_S))
        specs.append(node)
    return specs


async def run_once(tmp: Path, label: str, bus: Any, calls: int, window_s: float,
                   transcribe: bool) -> RunResult:
    bus_url = bus.url() if bus is not None else ""
    names = [f"node-{i + 1}" for i in range(NODES)]
    nodes = [NodeProc(name, tmp / f"{label}-{name}", bus_url, transcribe) for name in names]
    console: Console | None = None
    players: list[tuple[Any, Connection]] = []
    try:
        for node in nodes:
            await asyncio.to_thread(node.wait_ready)
        specs = plan(calls, seed=7)
        last_offset = max(s.offset for node_specs in specs for s in node_specs)
        total_s = last_offset + WARM_S + len(WINDOWS) * window_s + 1.0
        frames = int(total_s / FRAME_S)
        ctx = multiprocessing.get_context("spawn")
        for node, node_specs in zip(nodes, specs, strict=True):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=player, args=(node.url, node_specs, frames, theirs),
                               daemon=True)
            proc.start()
            players.append((proc, mine))
        for _proc, conn in players:
            if not await asyncio.to_thread(conn.poll, 60):
                raise SystemExit("a player did not get ready")
            conn.recv()
        if bus is not None:
            console = Console(bus_url)
            await console.connect()
        start_at = time.monotonic() + 0.5
        for _proc, conn in players:
            conn.send(start_at)
        targets = [(name, node_specs[0].call_id) for name, node_specs in zip(names, specs,
                                                                             strict=True)]
        loop = asyncio.get_running_loop()
        snaps: list[Snapshot] = []
        bus_ps = psutil.Process(bus.process.pid) if bus is not None else None

        def snap() -> Snapshot:
            bt = bus_ps.cpu_times() if bus_ps is not None else None
            return Snapshot(time.monotonic(), [n.cpu_s() for n in nodes],
                            bt.user + bt.system if bt else 0.0,
                            varz(bus.http_port) if bus is not None else {})

        first = start_at + last_offset + WARM_S
        for i, window in enumerate((*WINDOWS, None)):
            if (delay := first + i * window_s - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            snaps.append(await loop.run_in_executor(None, snap))
            if console is not None and window == "watch":
                await console.watch()
            elif console is not None and window == "listen":
                await console.listen(targets)
            elif console is not None and window == "whisper":
                await console.whisper(targets)
        if console is not None:
            await console.close(targets)
        results = []
        for proc, conn in players:
            if not await asyncio.to_thread(conn.poll, 30):
                raise SystemExit("a player did not finish")
            results.append(conn.recv())
            proc.join(5)
        return RunResult(snaps, results, specs, console, nodes[0].transcription)
    finally:
        for proc, _conn in players:
            if proc.is_alive():
                proc.kill()
        for node in nodes:
            node.stop()


# --- figures -------------------------------------------------------------------------------

def dist(values: list[float] | np.ndarray, unit: float = 1000.0) -> str:
    """p50 / p95 / max in ms (values in seconds)."""
    a = np.asarray(values, dtype=float) * unit
    if not a.size:
        return "no samples"
    return (f"p50 {np.percentile(a, 50):6.1f}  p95 {np.percentile(a, 95):6.1f}  "
            f"max {a.max():7.1f} ms  (n={a.size})")


def p95(values: list[float] | np.ndarray) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.percentile(a, 95)) if a.size else math.nan


def ring_latency(run: RunResult) -> tuple[list[float], list[float]]:
    """Each frame's samples at the console against the moment its chunk was sent; and the
    newest frame of each audio message (the one whose arrival let the node send it)."""
    assert run.console is not None
    sent = {c["call"]: c["sent"] for node in run.calls for c in node}
    per_frame: list[float] = []
    newest: list[float] = []
    for call_id, track, pos, n, at in run.console.audio:
        times = sent.get(call_id)
        row = {"inbound": 0, "outbound": 1}.get(track)
        if times is None or row is None or pos % FRAME:
            continue
        first = pos // FRAME  # chunk - 1: every frame arrives, so the track has no gaps
        last = min(first + max(1, n // FRAME), times.shape[1])
        lat = [at - times[row, k] for k in range(first, last) if times[row, k]]
        per_frame += lat
        if lat:
            newest.append(lat[-1])
    return per_frame, newest


def whisper_latency(run: RunResult) -> tuple[list[float], int, int]:
    """Talk frames and the media frames they became, paired in order: at 16 kHz in and PCMU
    out, each 20 ms talk frame gives exactly one 20 ms frame to the provider."""
    assert run.console is not None
    back = {c["call"]: c["back"] for node in run.calls for c in node}
    out: list[float] = []
    sent_n = got_n = 0
    for call_id, sent in run.console.talk_sent.items():
        got = back.get(call_id, [])
        sent_n += len(sent)
        got_n += len(got)
        out += [g - s for s, g in zip(sent, got, strict=False)]
    return out, sent_n, got_n


def report(plain: RunResult, team: RunResult, calls: int, window_s: float,
           transcribe: bool) -> None:
    console = team.console
    assert console is not None
    errors = [c["error"] for r in (plain, team) for node in r.calls for c in node if c["error"]]
    if errors:
        print(f"calls that failed: {len(errors)} (first: {errors[0]})")
    if console.refused:
        print("refused commands: " + "; ".join(sorted(set(console.refused))[:4]))

    frames, newest = ring_latency(team)
    print("\nprovider frame -> console ring (one listened call per node, both tracks)")
    print(f"  each frame              {dist(frames)}")
    print(f"  newest frame of a msg   {dist(newest)}")

    talk, sent_n, got_n = whisper_latency(team)
    print("\nwhisper: talk frame published -> media frame at the provider (goal p95 <= 40 ms)")
    print(f"  {dist(talk)}   frames sent {sent_n}, arrived {got_n}")

    kinds: dict[str, int] = {}
    for kind, *_ in console.facts:
        kinds[kind] = kinds.get(kind, 0) + 1
    which = "TranscriptSegment" if transcribe else None
    lat = [now - t for kind, t, now, _ in console.facts if which in (None, kind) and t]
    made = [now - m for kind, _t, now, m in console.facts if m > 1e9]
    print(f"\nfact published (\"t\") -> received by the console (goal p95 <= 50 ms), "
          f"{'transcript segments' if which else 'every fact (transcription off)'}")
    print(f"  {dist(lat)}")
    print(f"  made by the engine (the event's own time) -> received, facts that carry one: "
          f"{dist(made)}")
    print("  facts received: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
          + (f"; bad {console.bad_facts}" if console.bad_facts else ""))

    print(f"\nCPU seconds per node over each {window_s:g} s window (process and speech "
          f"workers), with the bus / without (goal <= 1.15x)")
    print(f"  {'node':<8}" + "".join(f"{w:>26}" for w in WINDOWS))
    for n in range(NODES):
        cells = []
        for w in range(len(WINDOWS)):
            a = plain.snaps[w + 1].cpu[n] - plain.snaps[w].cpu[n]
            b = team.snaps[w + 1].cpu[n] - team.snaps[w].cpu[n]
            ratio = b / a if a else math.nan
            cells.append(f"{b:6.2f} / {a:5.2f} = {ratio:4.2f}x")
        print(f"  node-{n + 1:<3}" + "".join(f"{c:>26}" for c in cells))
    cells = []
    for w in range(len(WINDOWS)):  # one node's figure moves 10-30 % between runs here
        a = sum(plain.snaps[w + 1].cpu[n] - plain.snaps[w].cpu[n] for n in range(NODES))
        b = sum(team.snaps[w + 1].cpu[n] - team.snaps[w].cpu[n] for n in range(NODES))
        cells.append(f"{b:6.2f} / {a:5.2f} = {b / a if a else math.nan:4.2f}x")
    print(f"  {'all':<8}" + "".join(f"{c:>26}" for c in cells))
    bus_cpu = [team.snaps[w + 1].bus_cpu - team.snaps[w].bus_cpu for w in range(len(WINDOWS))]
    print("  nats-server" + "".join(f"{f'{c:.2f} s':>23}" for c in bus_cpu))

    total_calls = NODES * calls
    minutes = window_s / 60
    print(f"\nbus traffic (nats-server /varz), {total_calls} calls; per call per minute, and "
          "the whole bus per second")
    per_window = {}
    for w, name in enumerate(WINDOWS):
        a, b = team.snaps[w].varz, team.snaps[w + 1].varz
        d = {k: b[k] - a[k] for k in a}
        per_window[name] = d
        nbytes = d["in_bytes"] + d["out_bytes"]
        print(f"  {name:<8} {nbytes / total_calls / minutes / 1024:8.1f} KB/call/min "
              f"(in {d['in_bytes'] / total_calls / minutes / 1024:.1f} + out "
              f"{d['out_bytes'] / total_calls / minutes / 1024:.1f}); msgs in "
              f"{d['in_msgs'] / window_s:7.0f}/s, out {d['out_msgs'] / window_s:7.0f}/s")
    listens = len(console.talk_sent) or NODES
    extra = ((per_window["listen"]["in_bytes"] + per_window["listen"]["out_bytes"])
             - (per_window["watch"]["in_bytes"] + per_window["watch"]["out_bytes"]))
    print(f"  one listened call adds {extra / NODES / minutes / 1024:.0f} KB/min "
          f"({NODES} listened in the listen window); whisper on {listens} of them in the "
          "last window")

    # --- on paper ---
    watch = per_window["watch"]
    in_per_call = watch["in_msgs"] / window_s / total_calls
    out_per_call = watch["out_msgs"] / window_s / total_calls
    bytes_per_call = (watch["in_bytes"] + watch["out_bytes"]) / window_s / total_calls
    cpu_plain = sum(plain.snaps[1].cpu[n] - plain.snaps[0].cpu[n] for n in range(NODES))
    cpu_team = sum(team.snaps[1].cpu[n] - team.snaps[0].cpu[n] for n in range(NODES))
    core_per_call = cpu_team / window_s / total_calls
    ingest_calls = int(2 * 0.7 / core_per_call) if core_per_call else 0
    stt_nodes = math.ceil(1000 / STT_CALLS_PER_NODE)
    ingest_nodes = math.ceil(1000 / ingest_calls) if ingest_calls else 0
    print("\non paper: 1,000 concurrent calls")
    print(f"  speech recognition: {STT_CALLS_PER_NODE} calls transcribed live per 2-core "
          f"node (issue 13's measurement, p95 1.7 s) -> {stt_nodes} nodes")
    what = ("the whole node with speech recognition" if transcribe
            else "ingest without speech recognition")
    print(f"  {what}, measured here: {core_per_call * 100:.2f} % of a core per call with "
          f"the bus ({cpu_plain / window_s / total_calls * 100:.2f} % without; {calls} calls "
          f"a node, so its fixed costs weigh in) -> about {ingest_calls} calls per 2-core "
          f"node at 70 % -> {ingest_nodes or '?'} nodes"
          f"{': not the limit' if ingest_nodes and ingest_nodes <= stt_nodes else ''}")
    print(f"  bus: {in_per_call:.1f} msgs/s published per call (facts, waveforms, KV, "
          f"heartbeats) and {out_per_call:.1f} delivered per call to one watching console "
          f"-> 1,000 calls publish {in_per_call * 1000:,.0f} msgs/s in all, and each console "
          f"watching the whole team takes {out_per_call * 1000:,.0f} msgs/s "
          f"({out_per_call * 1000 / PY_MSGS_PER_S * 100:.1f} % of the ~{PY_MSGS_PER_S:,} "
          f"msgs/s one Python process publishes here); "
          f"{bytes_per_call * 1000 * 8 / 1e6:.1f} Mbit/s through the server with one console")
    per_node = 1000 / stt_nodes
    print(f"  each node publishes {in_per_call * per_node:,.0f} msgs/s for its "
          f"{per_node:.0f} calls ({in_per_call * per_node / PY_MSGS_PER_S * 100:.2f} % of one "
          f"Python publisher); a listen adds ~100 msgs/s (2 tracks x 50 frames) per console")
    # with --transcribe the measured figure includes speech recognition at a few calls a
    # node; the capacity is the one the estimate stands on
    need = stt_nodes if transcribe else max(stt_nodes, ingest_nodes)
    bound = ("speech recognition" if transcribe or stt_nodes >= ingest_nodes
             else "ingest CPU with the bus")
    print(f"  -> {need} nodes, bound by {bound}; the bus carries "
          f"{in_per_call * 1000:,.0f} msgs/s in and as many out per watching console")


async def main_async(args: argparse.Namespace) -> None:
    from console.team.busserver import BusServer

    calls, window_s = args.calls, args.seconds
    print(f"team bench: {NODES} nodes x {calls} calls ({NODES * calls} calls at real time, "
          f"PCMU both tracks), transcription {'on' if args.transcribe else 'off'}; after "
          f"{WARM_S:g} s warm-up, windows of {window_s:g} s: {', '.join(WINDOWS)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="coach-team-bench-") as tmp_name:
        tmp = Path(tmp_name)
        t = time.monotonic()
        plain = await run_once(tmp, "plain", None, calls, window_s, args.transcribe)
        print(f"run without the bus: {time.monotonic() - t:.0f} s (transcription: "
              f"{plain.transcription[:60]})", flush=True)
        bus = BusServer(tmp / "bus", port=free_port(), host="127.0.0.1", token=BUS_TOKEN,
                        http_port=free_port())
        bus.start()
        try:
            t = time.monotonic()
            team = await run_once(tmp, "team", bus, calls, window_s, args.transcribe)
            print(f"run with the bus:    {time.monotonic() - t:.0f} s", flush=True)
        finally:
            bus.stop()
    report(plain, team, calls, window_s, args.transcribe)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10, help="calls per node")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each window")
    ap.add_argument("--transcribe", action="store_true",
                    help="speech recognition on in the nodes (figures for transcript facts)")
    args = ap.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
