#!/usr/bin/env python3
"""Ingest benchmark: N both-track Telnyx calls against the full engine and, in the same run,
against a bare websockets server that only json.loads each frame.

"Full engine" is the engine as it runs with transcription on, minus the speech workers: every
frame is parsed, checked, put in order, decoded, written to its track's ring buffer and fed
to the voice detector (the AnalysisPipeline tap Engine._start_transcription attaches: VAD,
speaking lights, silence/overtalk alerts, utterances cut and resampled to 16 kHz). Finished
utterances go to a pool stand-in that counts and drops them: the workers are processes of
their own (bench/transcribe.py measures them), and here they would take the core the load
client needs. A row without voice detection is kept for comparison.

Prints, for each server: messages per second, server CPU, frames lost; first at real-time
pacing (N calls x 2 tracks x 50 frames/s), then flat out to find each server's ceiling (the
most messages per second it takes in while the client sends as fast as it can), and the
full/bare ratio. The load client writes pre-built WebSocket frames straight to sockets so
that it costs little next to the server under test; each server runs in its own process.

    .venv/bin/python bench/ingest.py [--calls 100] [--seconds 20] [--rounds 3]
    .venv/bin/python bench/ingest.py --profile /tmp/engine.pstats   # cProfile the engine
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOKEN = "bench-token"


# --- servers under test (run as child processes) -------------------------------------------


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def _control(get_stats) -> None:  # type: ignore[no-untyped-def]
    """Answer "stats" lines on stdin with a JSON line; stop on EOF or "quit"."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            return
        print(json.dumps({**get_stats(), "cpu": _cpu()}), flush=True)


async def serve_bare() -> None:
    from websockets.asyncio.server import serve

    count = 0

    from websockets.exceptions import ConnectionClosed

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        # The load client drops its sockets without a closing handshake, as the engine's
        # handler allows; without this each one would print a traceback.
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                json.loads(message)
                count += 1

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=4 * 2**20,
                     max_queue=64) as server:
        print(f"PORT {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await _control(lambda: {"frames": count, "lost": 0, "utterances": 0})


class DropPool:
    """Stands in for the speech workers: takes each finished utterance as SttPool.submit
    does, counts it and lets it go."""

    def __init__(self) -> None:
        self.focus: str | None = None
        self.jobs = 0
        self.audio_s = 0.0

    def submit(self, job) -> None:  # type: ignore[no-untyped-def]
        self.jobs += 1
        self.audio_s += job.audio.size / 16000

    def close(self) -> None:
        pass


def attach_voice_detection(engine, vad_engine: str) -> DropPool:  # type: ignore[no-untyped-def]
    """What Engine._start_transcription attaches to the registry, with DropPool for workers."""
    from console.analysis.pipeline import AnalysisPipeline
    from console.analysis.vad import VadSettings
    from console.core.events import CallEnded

    s = engine.settings
    pipeline = AnalysisPipeline(engine.bus, engine.loop, redaction=s.redaction,
                                vad=VadSettings(engine=vad_engine))
    pool = DropPool()
    pipeline.pool = pool  # type: ignore[assignment]
    engine.registry.add_tap(pipeline)
    engine.bus.subscribe(lambda e: pipeline.call_ended(e.call_id)
                         if isinstance(e, CallEnded) else None)
    return pool


async def serve_full(record: bool, data_dir: str, vad: str) -> None:
    import logging

    from console.config import Settings
    from console.engine import Engine

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    # transcribe=False keeps the speech workers out (see DropPool); the voice detector is
    # attached below when `vad` names one.
    settings = Settings(host="127.0.0.1", port=0, token=TOKEN, data_dir=data_dir,
                        record=record, max_streams=1000, transcribe=False).validate()
    engine = Engine(settings)
    await engine.start()
    pool = attach_voice_detection(engine, vad) if vad != "off" else None
    print(f"PORT {engine.port}", flush=True)

    def stats() -> dict[str, float]:
        s = engine.stats()
        return {"frames": s.messages, "lost": s.missing_frames,
                "bad": s.bad_frames, "written": engine.store.frames_written,
                "utterances": pool.jobs if pool else 0,
                "speech_s": pool.audio_s if pool else 0.0}

    await _control(stats)
    await engine.stop()


# --- load client -----------------------------------------------------------------------------


def _ws_frame(text: str) -> bytes:
    """A client text frame masked with an all-zero key (legal, and the payload stays as is)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    return head + b"\x00\x00\x00\x00" + data


def _payloads() -> tuple[list[str], list[str]]:
    from console.audio.codecs import ulaw_encode
    from console.sim.dialogues import load_dialogues

    d = load_dialogues()[0]
    enc = [base64.b64encode(ulaw_encode(x[i : i + 160])).decode()
           for x in (d.customer, d.agent) for i in range(0, x.size - 159, 160)]
    half = len(enc) // 2
    return enc[:half], enc[half:]


class Call:
    def __init__(self, i: int, cust: list[str], agent: list[str]) -> None:
        self.sid = f"00000000-0000-4000-8000-{i:012d}"
        self.cust, self.agent = cust, agent
        self.chunk = 0
        self.seq = 1

    def start(self) -> bytes:
        return _ws_frame(json.dumps({
            "event": "start", "sequence_number": "1", "stream_id": self.sid, "start": {
                "call_control_id": "v3:" + self.sid, "call_session_id": "sess-" + self.sid,
                "from": "+15550000000", "to": "+15551111111",
                "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}}))

    def tick(self) -> bytes:
        """Both tracks' next 20 ms."""
        c = self.chunk
        self.chunk += 1
        out = []
        for track, frames in (("inbound", self.cust), ("outbound", self.agent)):
            self.seq += 1
            out.append(_ws_frame(
                f'{{"event":"media","sequence_number":"{self.seq}","stream_id":"{self.sid}",'
                f'"media":{{"track":"{track}","chunk":"{c + 1}","timestamp":"{c * 20}",'
                f'"payload":"{frames[c % len(frames)]}"}}}}'))
        return b"".join(out)

    def stop(self) -> bytes:
        return _ws_frame(json.dumps({"event": "stop", "sequence_number": str(self.seq + 1),
                                     "stream_id": self.sid, "stop": {}}))


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((
        f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nx-telnyx-streaming-auth-token: {TOKEN}\r\n\r\n"
    ).encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(f"handshake refused: {head[:80]!r}")
    return reader, writer


async def _drain_incoming(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


class ServerProc:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stats(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(30)


async def paced(server: ServerProc, calls: int, seconds: float) -> dict[str, float]:
    cust, agent = _payloads()
    conns = [await _open(server.port) for _ in range(calls)]
    readers = [asyncio.create_task(_drain_incoming(r)) for r, _ in conns]
    streams = [Call(i, cust, agent) for i in range(calls)]
    for (_, w), c in zip(conns, streams, strict=True):
        w.write(c.start())
    loop = asyncio.get_running_loop()
    ticks = int(seconds / 0.02)
    warm = ticks // 5  # measure after the first fifth
    t0 = loop.time()
    late = 0
    before = after = None
    t_before = 0.0
    for k in range(ticks):
        due = t0 + k * 0.02
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -0.02:
            late += 1
        for (_, w), c in zip(conns, streams, strict=True):
            w.write(c.tick())
        if k == warm:
            before, t_before = server.stats(), time.monotonic()
    # Rate and CPU over the paced window only; what was lost is counted once it has drained.
    paced, t_paced = server.stats(), time.monotonic()
    for _, w in conns:
        await w.drain()
    await asyncio.sleep(0.5)  # let the server finish what is in flight
    after = server.stats()
    sent = calls + 2 * calls * ticks  # start frames and media
    for (_, w), c in zip(conns, streams, strict=True):
        w.write(c.stop())
        w.close()
    for r in readers:
        r.cancel()
    assert before is not None
    window = t_paced - t_before
    msgs = paced["frames"] - before["frames"]
    return {
        "msgs_per_s": msgs / window,
        "cpu_pct": 100 * (paced["cpu"] - before["cpu"]) / window,
        "sent": sent,
        "received": after["frames"],
        "dropped": sent - after["frames"] + after["lost"],
        "client_late_ticks": late,
        "utterances": after["utterances"],
    }


async def flat_out(server: ServerProc, calls: int, seconds: float) -> dict[str, float]:
    cust, agent = _payloads()
    conns = [await _open(server.port) for _ in range(calls)]
    readers = [asyncio.create_task(_drain_incoming(r)) for r, _ in conns]
    streams = [Call(i, cust, agent) for i in range(calls)]
    stop = asyncio.Event()

    async def pump(w: asyncio.StreamWriter, c: Call) -> None:
        w.write(c.start())
        while not stop.is_set():
            w.write(b"".join(c.tick() for _ in range(10)))
            await w.drain()

    pumps = [asyncio.create_task(pump(w, c)) for (_, w), c in zip(conns, streams, strict=True)]
    await asyncio.sleep(1.0)
    before, t0 = server.stats(), time.monotonic()
    await asyncio.sleep(seconds)
    after, t1 = server.stats(), time.monotonic()
    stop.set()
    await asyncio.gather(*pumps, return_exceptions=True)
    for _, w in conns:
        w.close()
    for r in readers:
        r.cancel()
    msgs = after["frames"] - before["frames"]
    return {"msgs_per_s": msgs / (t1 - t0),
            "cpu_pct": 100 * (after["cpu"] - before["cpu"]) / (t1 - t0),
            "cpu_us_per_msg": 1e6 * (after["cpu"] - before["cpu"]) / max(1, msgs),
            "utterances": after["utterances"] - before["utterances"]}


def profile(args: argparse.Namespace) -> None:
    """The full engine (voice detection on) flat out under cProfile; prints its top functions.
    cProfile slows Python code by about half: use it for where the time goes, not rates."""
    import pstats
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProc("serve-full", "--data-dir", tmp, "--vad", args.vad,
                         "--profile", args.profile)
        try:
            r = asyncio.run(flat_out(srv, args.flat_calls, args.flat_seconds))
        finally:
            srv.close()
    print(f"under cProfile: {r['msgs_per_s']:.0f} msg/s, {r['utterances']:.0f} utterances")
    pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("role", nargs="?", default="bench",
                    choices=["bench", "serve-bare", "serve-full", "serve-record"])
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--flat-seconds", type=float, default=6.0)
    ap.add_argument("--flat-calls", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vad", default="webrtc", choices=["webrtc", "silero", "off"],
                    help="voice detector of the full engine rows (default: the app's, webrtc)")
    ap.add_argument("--profile", default="",
                    help="write a cProfile of the full engine flat out to this file, print it")
    ap.add_argument("--data-dir", default="")
    args = ap.parse_args()
    if args.role == "serve-bare":
        asyncio.run(serve_bare())
        return
    if args.role in ("serve-full", "serve-record"):
        run = serve_full(args.role == "serve-record", args.data_dir, args.vad)
        if args.profile:
            import cProfile

            cProfile.runctx("asyncio.run(run)", globals(), {"run": run}, args.profile)
        else:
            asyncio.run(run)
        return
    if args.profile:
        profile(args)
        return

    import statistics
    import tempfile

    vad = args.vad
    servers = (("bare websockets + json.loads", "serve-bare", "off"),
               ("engine, no voice detection", "serve-full", "off"),
               (f"full engine ({vad} VAD)", "serve-full", vad),
               ("full engine + recording", "serve-record", vad))
    if vad == "off":
        servers = servers[:2]
    paced_rows: dict[str, dict[str, float]] = {}
    flat_rows: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in servers}
    print(__doc__.split("\n\n")[1])
    with tempfile.TemporaryDirectory() as tmp:
        for name, role, v in servers:
            srv = ServerProc(role, "--data-dir", str(Path(tmp) / f"{role}-{v}"), "--vad", v)
            try:
                paced_rows[name] = asyncio.run(paced(srv, args.calls, args.seconds))
            finally:
                srv.close()
        # The ceilings are measured in alternating rounds: this machine's speed drifts
        # (shared cores), and alternating keeps a drift from favouring one server.
        for rnd in range(args.rounds):
            for name, role, v in servers:
                srv = ServerProc(role, "--data-dir", str(Path(tmp) / f"{role}-{v}-flat{rnd}"),
                                 "--vad", v)
                try:
                    flat_rows[name].append(
                        asyncio.run(flat_out(srv, args.flat_calls, args.flat_seconds)))
                finally:
                    srv.close()
    flat = {name: {"msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
                   "cpu_pct": statistics.median(r["cpu_pct"] for r in runs),
                   "utterances": statistics.median(r["utterances"] for r in runs),
                   "cpu_us": statistics.median(r["cpu_us_per_msg"] for r in runs),
                   "spread": (min(r["msgs_per_s"] for r in runs),
                              max(r["msgs_per_s"] for r in runs))}
            for name, runs in flat_rows.items()}
    print(f"\ningest: {args.calls} calls x 2 tracks at real time "
          f"({args.calls * 100} msg/s offered) for {args.seconds:.0f} s; then flat out over "
          f"{args.flat_calls} sockets, {args.flat_seconds:.0f} s x {args.rounds} alternating "
          "rounds (median)")
    print("  msg/s: messages the server took in per second; CPU %: the server process, of "
          "one core;\n  dropped: media frames sent but not taken in, or reported missing; "
          "utts: utterances\n  the voice detector cut (at real time: the whole run; flat "
          "out: per round); us/msg: server CPU per message\n  flat out (on a busy machine "
          "the rates drop but this holds: 1e6 / us/msg is the ceiling on a core of its own)")
    print(f"{'server':<29} {'paced msg/s':>11} {'CPU %':>6} {'dropped':>7} {'late':>4} "
          f"{'utts':>5} | {'max msg/s':>9} {'range':>13} {'CPU %':>6} {'utts':>5} "
          f"{'us/msg':>6} {'vs bare':>7}")
    bare_name = servers[0][0]
    bare_max = flat[bare_name]["msgs_per_s"]
    for name, _, _ in servers:
        p, f = paced_rows[name], flat[name]
        lo, hi = f["spread"]
        print(f"{name:<29} {p['msgs_per_s']:>11.0f} {p['cpu_pct']:>6.1f} {p['dropped']:>7.0f} "
              f"{p['client_late_ticks']:>4.0f} {p['utterances']:>5.0f} | "
              f"{f['msgs_per_s']:>9.0f} {f'{lo:.0f}-{hi:.0f}':>13} {f['cpu_pct']:>6.1f} "
              f"{f['utterances']:>5.0f} {f['cpu_us']:>6.2f} {f['msgs_per_s'] / bare_max:>7.2f}")
    full = servers[-2][0]
    bare_cpu = paced_rows[bare_name]["cpu_pct"]
    print(f"\npaced CPU at {args.calls * 100} msg/s, {full} / bare: "
          f"{paced_rows[full]['cpu_pct'] / bare_cpu:.2f}x")
    print(f"ceiling ratio, {full} / bare: {flat[full]['msgs_per_s'] / bare_max:.2f} "
          "(goal >= 1.00)")
    print(f"CPU per message flat out, bare / {full}: "
          f"{flat[bare_name]['cpu_us'] / flat[full]['cpu_us']:.2f} (the same ratio measured "
          "by CPU time)")


if __name__ == "__main__":
    main()
