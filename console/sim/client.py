"""Plays calls into a stream server exactly as Telnyx or Twilio would, and plays the
provider's part for what comes back (media is "played", marks echoed when it has been)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from console.audio.codecs import make_encoder, resample
from console.protocol.twilio import signature
from console.sim.dialogues import Dialogue

__all__ = ["CallPlan", "CallResult", "SimOptions", "plan_calls", "play_call", "run"]

FRAME_S = 0.02
_RATES = {"PCMU": 8000, "PCMA": 8000, "L16": 16000, "G722": 16000, "OPUS": 16000}


@dataclass
class SimOptions:
    url: str
    provider: str = "telnyx"
    calls: int = 1
    token: str = ""
    twilio_auth_token: str = ""
    codec: str = "PCMU"
    legs: str = "single"  # "single": one stream, both tracks; "split": one stream per leg
    speed: float = 1.0  # 1 = real time; 0 = as fast as the socket takes it
    duration: float = 0.0  # 0 = the whole dialogue
    reorder: float = 0.0  # probability that a frame swaps places with the next one
    loss: float = 0.0  # probability that a frame is never sent
    duplicate: float = 0.0  # probability that a frame is sent twice
    dtmf: bool = True
    stagger: float = 0.0  # seconds between call starts
    abrupt: bool = False  # close the socket without a stop frame
    seed: int = 1
    dialogue: str = ""
    l16_byte_order: str = "big"
    # Extra custom parameters on every stream, e.g. {"target_legs": "both"}; a key of the
    # form "customer:name" or "agent:name" goes on that leg's stream only.
    params: dict[str, str] = field(default_factory=dict)
    # CA certificate (PEM) to trust for a wss:// console with a private or self-signed
    # certificate; empty: the system's trusted CAs.
    ca_file: str = ""


@dataclass
class StreamResult:
    stream_id: str
    leg: str
    sent: dict[str, int] = field(default_factory=lambda: {"inbound": 0, "outbound": 0})
    received: list[dict[str, Any]] = field(default_factory=list)
    received_media: bytearray = field(default_factory=bytearray)
    marks_echoed: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class CallPlan:
    call_key: str
    dialogue: Dialogue
    provider: str
    codec: str
    legs: str
    from_number: str
    to_number: str


@dataclass
class CallResult:
    plan: CallPlan
    streams: list[StreamResult]

    @property
    def frames_sent(self) -> int:
        return sum(sum(s.sent.values()) for s in self.streams)


def plan_calls(dialogues: tuple[Dialogue, ...], opts: SimOptions) -> list[CallPlan]:
    rng = random.Random(opts.seed)
    chosen = [d for d in dialogues if d.name == opts.dialogue] if opts.dialogue else []
    if opts.dialogue and not chosen:
        raise ValueError(f"no dialogue named {opts.dialogue!r}; have: "
                         + ", ".join(d.name for d in dialogues))
    plans = []
    for i in range(opts.calls):
        d = (chosen or list(dialogues))[i % len(chosen or dialogues)]
        if opts.provider == "twilio":
            key = "CA" + uuid.UUID(int=rng.getrandbits(128)).hex
        else:
            key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        plans.append(CallPlan(key, d, opts.provider, opts.codec.upper(), opts.legs,
                              d.from_number, d.to_number))
    return plans


class _Frames:
    """A dialogue's tracks cut into base64 payloads of 20 ms, shared by every call playing it."""

    _cache: ClassVar[dict[tuple[str, str, str], tuple[list[str], list[str]]]] = {}

    @classmethod
    def get(cls, d: Dialogue, codec: str, order: str) -> tuple[list[str], list[str]]:
        key = (d.name, codec, order)
        if key not in cls._cache:
            cls._cache[key] = (cls._encode(d.customer, d.rate, codec, order),
                               cls._encode(d.agent, d.rate, codec, order))
        return cls._cache[key]

    @staticmethod
    def _encode(pcm: npt.NDArray[np.int16], rate: int, codec: str, order: str) -> list[str]:
        target = _RATES.get(codec, 8000)
        sig = resample(pcm, rate, target)
        encoder = make_encoder(codec, target, order)
        step = int(target * FRAME_S)
        usable = sig.size - sig.size % step
        out = []
        for i in range(0, usable, step):
            out.append(base64.b64encode(encoder.encode(sig[i : i + step])).decode("ascii"))
        return out


def _headers(opts: SimOptions, url: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    if opts.provider == "twilio" and opts.twilio_auth_token:
        parts = urlsplit(url)
        signed = f"{parts.scheme}://{parts.netloc}{parts.path}"
        headers["X-Twilio-Signature"] = signature(opts.twilio_auth_token, signed)
    elif opts.token:
        if opts.provider == "telnyx":
            headers["x-telnyx-streaming-auth-token"] = opts.token
        else:
            headers["Authorization"] = f"Bearer {opts.token}"
    return headers


class _Leg:
    """One WebSocket stream of a call."""

    def __init__(self, plan: CallPlan, opts: SimOptions, leg: str, tracks: dict[str, list[str]],
                 rng: random.Random) -> None:
        self.plan, self.opts, self.leg, self.tracks, self.rng = plan, opts, leg, tracks, rng
        twilio = plan.provider == "twilio"
        self.stream_id = ("MZ" + uuid.UUID(int=rng.getrandbits(128)).hex if twilio
                          else str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        self.result = StreamResult(self.stream_id, leg)
        self.seq = 0
        self._play_until = 0.0
        self._mark_timers: list[tuple[asyncio.TimerHandle, str]] = []
        self._sends: set[asyncio.Future[None]] = set()

    # --- frames as the provider writes them --------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def start_frames(self) -> list[str]:
        p, seq = self.plan, self._next_seq()
        rate = _RATES.get(p.codec, 8000)
        tracks = list(self.tracks)
        extra = {}
        for key, value in self.opts.params.items():
            leg, _, name = key.rpartition(":")
            if not leg or leg == self.leg:
                extra[name] = value
        if p.provider == "twilio":
            params = {"leg": self.leg, "from": p.from_number, "to": p.to_number, **extra}
            return [
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
                json.dumps({"event": "start", "sequenceNumber": str(seq), "start": {
                    "accountSid": "AC" + "0" * 31 + "1", "streamSid": self.stream_id,
                    "callSid": p.call_key, "tracks": tracks, "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                    "channels": 1}}, "streamSid": self.stream_id}),
            ]
        return [
            json.dumps({"event": "connected", "version": "1.0.0"}),
            json.dumps({"event": "start", "sequence_number": str(seq),
                        "stream_id": self.stream_id, "start": {
                            "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
                            "call_control_id": f"v3:{self.stream_id}-{self.leg}",
                            "call_session_id": p.call_key,
                            "from": p.from_number, "to": p.to_number,
                            "custom_parameters": {"leg": self.leg, **extra},
                            "media_format": {"encoding": p.codec, "sample_rate": rate,
                                             "channels": 1}}}),
        ]

    def media_frame(self, track: str, chunk: int, payload: str) -> str:
        ts = (chunk - 1) * 20
        if self.plan.provider == "twilio":
            return (f'{{"event":"media","sequenceNumber":"{self._next_seq()}","media":'
                    f'{{"track":"{track}","chunk":"{chunk}","timestamp":"{ts}",'
                    f'"payload":"{payload}"}},"streamSid":"{self.stream_id}"}}')
        return (f'{{"event":"media","sequence_number":"{self._next_seq()}","stream_id":'
                f'"{self.stream_id}","media":{{"track":"{track}","chunk":"{chunk}",'
                f'"timestamp":"{ts}","payload":"{payload}"}}}}')

    def dtmf_frame(self, digit: str) -> str:
        if self.plan.provider == "twilio":
            return json.dumps({"event": "dtmf", "streamSid": self.stream_id,
                               "sequenceNumber": str(self._next_seq()),
                               "dtmf": {"track": "inbound_track", "digit": digit}})
        return json.dumps({"event": "dtmf", "stream_id": self.stream_id,
                           "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                        time.gmtime()),
                           "sequence_number": str(self._next_seq()), "dtmf": {"digit": digit}})

    def stop_frame(self) -> str:
        if self.plan.provider == "twilio":
            return json.dumps({"event": "stop", "sequenceNumber": str(self._next_seq()),
                               "stop": {"accountSid": "AC" + "0" * 31 + "1",
                                        "callSid": self.plan.call_key},
                               "streamSid": self.stream_id})
        return json.dumps({"event": "stop", "sequence_number": str(self._next_seq()),
                           "stop": {"call_control_id": f"v3:{self.stream_id}-{self.leg}"},
                           "stream_id": self.stream_id})

    def mark_frame(self, name: str) -> str:
        if self.plan.provider == "twilio":
            return json.dumps({"event": "mark", "sequenceNumber": str(self._next_seq()),
                               "streamSid": self.stream_id, "mark": {"name": name}})
        return json.dumps({"event": "mark", "stream_id": self.stream_id,
                           "sequence_number": str(self._next_seq()), "mark": {"name": name}})

    # --- what the console sends back ----------------------------------------------------

    async def receive(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except (ValueError, TypeError):
                    self.result.received.append({"invalid": str(raw)[:200]})
                    continue
                self.result.received.append(msg)
                event = msg.get("event")
                now = loop.time()
                if event == "media":
                    payload = base64.b64decode(msg.get("media", {}).get("payload", ""))
                    self.result.received_media += payload
                    # Played in order at real time, like the provider's playback queue.
                    self._play_until = max(now, self._play_until) + len(payload) / 8000
                elif event == "mark":
                    name = msg.get("mark", {}).get("name", "")
                    handle = loop.call_at(max(now, self._play_until), self._echo_mark, ws, name)
                    self._mark_timers.append((handle, name))
                elif event == "clear":
                    self._play_until = now
                    for handle, name in self._mark_timers:
                        if not handle.cancelled():
                            handle.cancel()
                            self._echo_mark(ws, name)
                    self._mark_timers.clear()

    def _echo_mark(self, ws: ClientConnection, name: str) -> None:
        self._mark_timers = [(h, n) for h, n in self._mark_timers if n != name]
        self.result.marks_echoed.append(name)
        task = asyncio.ensure_future(_quiet_send(ws, self.mark_frame(name)))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)


async def _quiet_send(ws: ClientConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(text)


def _schedule(n: int, opts: SimOptions, rng: random.Random) -> list[int]:
    """Frame indices in the order they go out: some swapped, lost or doubled."""
    order = list(range(n))
    if opts.reorder:
        i = 0
        while i < n - 1:
            if rng.random() < opts.reorder:
                order[i], order[i + 1] = order[i + 1], order[i]
                i += 1
            i += 1
    out = []
    for i in order:
        if opts.loss and rng.random() < opts.loss:
            continue
        out.append(i)
        if opts.duplicate and rng.random() < opts.duplicate:
            out.append(i)
    return out


async def play_call(plan: CallPlan, opts: SimOptions, delay: float = 0.0) -> CallResult:
    if delay:
        await asyncio.sleep(delay)
    rng = random.Random(f"{opts.seed}-{plan.call_key}")
    cust, agent = _Frames.get(plan.dialogue, plan.codec, opts.l16_byte_order)
    n = min(len(cust), len(agent))
    if opts.duration:
        n = min(n, int(opts.duration / FRAME_S))
    if plan.legs == "split":
        legs = [_Leg(plan, opts, "customer", {"inbound": cust[:n]}, rng),
                _Leg(plan, opts, "agent", {"inbound": agent[:n]}, rng)]
    else:
        legs = [_Leg(plan, opts, "customer", {"inbound": cust[:n], "outbound": agent[:n]}, rng)]
    results = await asyncio.gather(*(_play_leg(leg, opts, n, rng) for leg in legs))
    return CallResult(plan, list(results))


def _tls(opts: SimOptions) -> dict[str, ssl.SSLContext]:
    # Only for wss:// with a CA file: websockets refuses ssl= with ws://, and without one it
    # trusts the system's CAs for wss:// by itself.
    if not opts.ca_file or not opts.url.startswith("wss://"):
        return {}
    return {"ssl": ssl.create_default_context(cafile=opts.ca_file)}


async def _play_leg(leg: _Leg, opts: SimOptions, n: int, rng: random.Random) -> StreamResult:
    url = opts.url
    try:
        ws = await connect(url, additional_headers=_headers(opts, url), compression=None,
                           max_size=2**22, open_timeout=10, close_timeout=5, **_tls(opts))
    except (TimeoutError, OSError, InvalidHandshake) as exc:
        leg.result.error = f"connect failed: {exc}"
        return leg.result
    receiver = asyncio.create_task(leg.receive(ws))
    try:
        for frame in leg.start_frames():
            await ws.send(frame)
        schedules = {t: _schedule(n, opts, rng) for t in leg.tracks}
        dtmf = [(int(d["at_s"] / FRAME_S), str(d["digit"])) for d in leg.plan.dialogue.dtmf
                ] if opts.dtmf and leg.leg == "customer" else []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        length = max(len(s) for s in schedules.values())
        for k in range(length):
            if opts.speed > 0:
                due = t0 + k * FRAME_S / opts.speed
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            for track, sched in schedules.items():
                if k < len(sched):
                    i = sched[k]
                    await ws.send(leg.media_frame(track, i + 1, leg.tracks[track][i]))
                    leg.result.sent[track] += 1
            for at, digit in dtmf:
                if at == k:
                    await ws.send(leg.dtmf_frame(digit))
            if opts.speed <= 0 and k % 50 == 49:
                await asyncio.sleep(0)  # let the receiver and other calls run
        if not opts.abrupt:
            await ws.send(leg.stop_frame())
            await asyncio.sleep(0.05)
    except ConnectionClosed as exc:
        leg.result.error = f"connection closed by the console: {exc}"
    finally:
        await ws.close()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await asyncio.wait_for(receiver, 5)
    return leg.result


async def run(opts: SimOptions, dialogues: tuple[Dialogue, ...]) -> list[CallResult]:
    plans = plan_calls(dialogues, opts)
    return list(await asyncio.gather(
        *(play_call(p, opts, i * opts.stagger) for i, p in enumerate(plans))))
