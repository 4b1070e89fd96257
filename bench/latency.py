#!/usr/bin/env python3
"""Listen and whisper latency on the virtual sound card (tests/sound.py).

Listen: a Telnyx-shaped client sends a call's customer track in real time: silence with a
20 ms burst every 300 ms. Measured from the moment the client sent the burst's frame to the
output callback that first plays it; and to the speaker: to when PortAudio says that
callback's buffer reaches the DAC (its own outputBufferDacTime, not a median), plus where in
the buffer the burst's first loud sample sits.

Whisper: bursts are played into the microphone sink every 300 ms. Measured from the input
callback that delivered the burst to the client receiving the first loud whisper frame on
its WebSocket (and, adding what PortAudio reports, from the moment the sound was captured).

Client, engine and audio share one process and one clock (time.monotonic).

    .venv/bin/python bench/latency.py [--seconds 20] [--load 16 --transcribe]

The figures leave out bursts sent in the first second after both devices started (shown on a
line of their own): sound servers take a moment to settle a new stream.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

TOKEN = "bench-token"
PERIOD_S = 0.3
FRAME = 160  # 20 ms at 8 kHz
SETTLE_S = 1.0  # bursts sent this soon after both devices started are not counted
LOUD = 0.05


def _pct(values: list[float]) -> str:
    if not values:
        return "no samples"
    a = np.array(values) * 1000
    return (f"p50 {np.percentile(a, 50):5.1f} ms   p95 {np.percentile(a, 95):5.1f} ms   "
            f"max {a.max():5.1f} ms   (n={a.size})")


class Client:
    """One Telnyx stream on the customer's leg, on its own thread and loop."""

    def __init__(self, url: str, seconds: float, load: int = 0) -> None:
        self.url, self.seconds, self.load = url, seconds, load
        self.burst_sent: list[float] = []
        self.loud_received: list[float] = []
        self.received = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        from console.audio.codecs import ulaw_decode, ulaw_encode

        silence = ulaw_encode(np.zeros(FRAME, np.int16))
        t = np.arange(FRAME) / 8000
        burst = ulaw_encode((12000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
        sid = str(uuid.uuid4())
        async with connect(self.url, additional_headers={
                "x-telnyx-streaming-auth-token": TOKEN}, compression=None) as ws:
            await ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
            await ws.send(json.dumps({
                "event": "start", "sequence_number": "1", "stream_id": sid,
                "start": {"call_control_id": "v3:bench", "call_session_id": sid,
                          "from": "+15550100", "to": "+15550199",
                          "custom_parameters": {"leg": "customer"},
                          "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                           "channels": 1}}}))

            async def receive() -> None:
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("event") != "media":
                        continue
                    self.received += 1
                    pcm = ulaw_decode(base64.b64decode(msg["media"]["payload"]))
                    if np.abs(pcm).max() > 3000:
                        self.loud_received.append(time.monotonic())

            rx = asyncio.ensure_future(receive())
            background = None
            if self.load:  # other live calls on the same engine, as the wall would have
                from console.sim.client import SimOptions, run
                from console.sim.dialogues import load_dialogues

                background = asyncio.ensure_future(run(SimOptions(
                    url=self.url, token=TOKEN, calls=self.load, duration=self.seconds,
                    stagger=0.01, dtmf=False), load_dialogues()))
            self.ready.set()
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            n = int(self.seconds / 0.02)
            every = int(PERIOD_S / 0.02)
            for k in range(n):
                wait = t0 + k * 0.02 - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                loud = k % every == every - 1
                payload = base64.b64encode(burst if loud else silence).decode()
                await ws.send(json.dumps({
                    "event": "media", "sequence_number": str(k + 2), "stream_id": sid,
                    "media": {"track": "inbound", "chunk": str(k + 1),
                              "timestamp": str(k * 20), "payload": payload}}))
                if loud:
                    self.burst_sent.append(time.monotonic())
            await asyncio.sleep(0.5)
            rx.cancel()
            if background is not None:
                await background


async def _until(done: Any, what: str, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise SystemExit(f"latency bench: {what}")
        await asyncio.sleep(0.01)


def _match(starts: list[float], hits: list[float], window: float) -> list[float]:
    """For each start, the delay to the first hit after it (within `window`)."""
    out = []
    h = np.array(sorted(hits))
    for s in starts:
        i = int(np.searchsorted(h, s))
        if i < h.size and h[i] - s < window:
            out.append(float(h[i] - s))
    return out


async def main(seconds: float, load: int, transcribe: bool, block_ms: float | None,
               min_ms: float | None) -> None:
    import sound

    from console.config import Settings
    from console.engine import Engine
    from console.supervisor.controller import SupervisorAudio

    card = sound.card()
    settings = Settings(host="127.0.0.1", port=0, token=TOKEN, transcribe=transcribe,
                        data_dir=str(card.runtime / "data")).validate()
    engine = Engine(settings)
    await engine.start()
    if transcribe:
        print(f"speech recognition: {await engine.transcription_ready()}")
    sup = SupervisorAudio(engine)
    if block_ms is not None:  # experiments only: the figures are for the defaults
        sup.output.block_ms = block_ms
    if min_ms is not None:
        sup.output.min_ms = min_ms
    # (callback time, when its first sample reaches the DAC, when its first loud one does)
    played: list[tuple[float, float, float]] = []
    captured: list[tuple[float, float]] = []  # (callback time, input latency reported)

    def out_probe(outdata: Any, ti: Any) -> None:
        loud = np.abs(outdata[:, 0]) > LOUD
        if loud.any():
            now = time.monotonic()
            dac = now + ti.outputBufferDacTime - ti.currentTime
            played.append((now, dac, dac + int(np.argmax(loud)) / sup.output.rate))

    def in_probe(indata: Any, ti: Any) -> None:
        if int(np.abs(indata).max()) > 3000:
            captured.append((time.monotonic(), ti.currentTime - ti.inputBufferAdcTime))

    client = Client(engine.url, seconds, load)
    client.thread.start()
    # Not client.ready.wait() here: that held this loop, which must answer the client's
    # handshake, for the whole 10 s (and the handshake timed out under load).
    if not await asyncio.to_thread(client.ready.wait, 15):
        raise SystemExit("latency bench: the client never connected")
    def bench_call() -> str | None:
        return next((c.id for c in list(engine.registry.calls.values())
                     if c.from_number == "+15550100"), None)

    await _until(lambda: bench_call() is not None, "the bench call never started")
    call_id = bench_call()
    sup.request(call_id, "whisper")  # whisper also listens
    await _until(lambda: sup.state.talking == call_id,
                 f"whisper never started: {sup.state.message or 'no message'}")
    sup.output.probe = out_probe
    sup.mic.probe = in_probe
    counted_from = time.monotonic() + SETTLE_S

    # Bursts into the microphone: 20 ms of tone every PERIOD_S, as one continuous stream.
    rate = sound.RATE
    n = int(seconds * rate)
    mic = np.zeros(n, np.int16)
    t = np.arange(int(0.02 * rate)) / rate
    tone = (12000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    for start in range(int(0.2 * rate), n - tone.size, int(PERIOD_S * rate)):
        mic[start:start + tone.size] = tone
    player = card.play_into_mic(mic)
    await asyncio.to_thread(client.thread.join, seconds + 10)
    await asyncio.to_thread(player.wait, 10)
    stats = sup.output.stats()
    sup.close()
    await engine.stop()
    sound.stop()

    # Listen: bursts sent by the client -> first loud output callback, and its sound.
    sent = [t for t in client.burst_sent if t >= counted_from]
    early = [t for t in client.burst_sent if t < counted_from]
    listen, speaker, dac_ms, early_speaker = [], [], [], []
    play_t = np.array([p[0] for p in played])
    for s in client.burst_sent:
        i = int(np.searchsorted(play_t, s))
        if i < play_t.size and play_t[i] - s < PERIOD_S * 0.9:
            cb, dac, sound_t = played[i]
            if s < counted_from:
                early_speaker.append(sound_t - s)
                continue
            listen.append(cb - s)
            speaker.append(sound_t - s)
            dac_ms.append((dac - cb) * 1000)
    # Whisper: first loud input callback of each burst -> first loud frame at the client.
    firsts: list[float] = []
    for c_t, _ in [c for c in captured if c[0] >= counted_from]:
        if not firsts or c_t - firsts[-1] > PERIOD_S / 2:
            firsts.append(c_t)
    whisper = _match(firsts, client.loud_received, PERIOD_S * 0.9)
    adc = float(np.median([c[1] for c in captured])) if captured else 0.0

    dac_range = (f"{min(dac_ms):.1f}-{max(dac_ms):.1f} ms" if dac_ms else "none")
    print(f"listen  frame sent -> output callback   {_pct(listen)}")
    print(f"listen  frame sent -> speaker (device latency {dac_range})   {_pct(speaker)}")
    print(f"listen  in the first {SETTLE_S:g} s (devices starting): {len(early)} bursts sent, "
          f"{len(early_speaker)} heard, to the speaker "
          + (f"max {max(early_speaker) * 1000:.1f} ms" if early_speaker else "-"))
    print(f"whisper mic callback -> frame received  {_pct(whisper)}")
    print(f"whisper + capture latency ({adc * 1000:.1f} ms) from the sound   "
          f"{_pct([x + adc for x in whisper])}")
    print(f"bursts: {len(sent)} sent / {len(listen)} heard; "
          f"{len(firsts)} spoken / {len(whisper)} whispered; whisper frames {client.received}")
    print(f"player: {stats.callbacks} callbacks of {sup.output.block_ms:g} ms, "
          f"{stats.underruns} underruns, {stats.catch_ups} catch-ups, {stats.trims} trims, "
          f"{stats.device_xruns} device underflows, "
          f"jitter buffer target {stats.target_ms['customer']:.0f} ms")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    print("targets: whisper p95 <= 30 ms, listen p95 <= 60 ms to the speaker")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--load", type=int, default=0,
                        help="other calls streaming at the same time")
    parser.add_argument("--transcribe", action="store_true",
                        help="speech recognition on for every call")
    parser.add_argument("--block-ms", type=float, help="experiments: the player's block")
    parser.add_argument("--min-ms", type=float, help="experiments: the jitter buffer's least")
    args = parser.parse_args()
    print(f"{args.load} other calls, transcription {'on' if args.transcribe else 'off'}")
    import sound

    try:
        asyncio.run(main(args.seconds, args.load, args.transcribe, args.block_ms, args.min_ms))
    finally:  # a failed run leaves no sound server behind
        sound.stop()
