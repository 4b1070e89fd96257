"""Plays calls into a stream server exactly as a platform would (Telnyx, Twilio, Plivo,
Exotel, Vonage, SignalWire or Bandwidth: their frames are in console/sim/platforms.py), and
plays the platform's part for what comes back: audio is "played" in order at real time and
decoded, marks are echoed once the audio before them has played, clears are honoured."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import ssl
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from console.audio.codecs import LiveResampler, make_encoder, resample
from console.sim.dialogues import Dialogue
from console.sim.platforms import FRAME_S, PLATFORMS, Heard, Platform, Wire, platform_for

__all__ = ["FRAME_S", "PLATFORMS", "CallPlan", "CallResult", "SimOptions", "StreamResult",
           "plan_calls", "play_call", "run"]

# What received_pcm is kept at, whatever the platform played.
PCM_RATE = 8000
MAX_PROBLEMS = 100


@dataclass
class SimOptions:
    url: str
    provider: str = "telnyx"  # any name in PLATFORMS
    calls: int = 1
    token: str = ""
    twilio_auth_token: str = ""
    codec: str = ""  # "": the platform's own default (PCMU; L16 on Plivo, Exotel, Vonage)
    rate: int = 0  # 0: the platform's usual rate for the codec
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
    l16_byte_order: str = "big"  # where the platform does not fix it (Exotel, Vonage do)
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
    # Every message the console sent, as JSON; a binary one as {"binary": n_bytes}.
    received: list[dict[str, Any]] = field(default_factory=list)
    # The audio received, as the platform took it (its codec: mu-law bytes, L16...).
    received_media: bytearray = field(default_factory=bytearray)
    marks_echoed: list[str] = field(default_factory=list)
    error: str | None = None
    # The same audio decoded: 16-bit little-endian PCM at PCM_RATE (8 kHz).
    received_pcm: bytearray = field(default_factory=bytearray)
    clears: int = 0  # clears honoured
    # What the platform would have refused or complained about in what the console sent.
    problems: list[str] = field(default_factory=list)

    def pcm(self) -> npt.NDArray[np.int16]:
        return np.frombuffer(bytes(self.received_pcm), "<i2").astype(np.int16)


@dataclass
class CallPlan:
    call_key: str
    dialogue: Dialogue
    provider: str
    codec: str
    legs: str
    from_number: str
    to_number: str
    rate: int = 0


@dataclass
class CallResult:
    plan: CallPlan
    streams: list[StreamResult]

    @property
    def frames_sent(self) -> int:
        return sum(sum(s.sent.values()) for s in self.streams)


def _wire(plan: CallPlan, opts: SimOptions) -> tuple[type[Platform], Wire]:
    platform = platform_for(plan.provider)
    return platform, platform.wire_for(plan.codec, plan.rate, opts.l16_byte_order)


def plan_calls(dialogues: tuple[Dialogue, ...], opts: SimOptions) -> list[CallPlan]:
    """The calls to play; ValueError for a platform, codec or leg layout that cannot be."""
    platform = platform_for(opts.provider)
    # Telnyx and Twilio keep the ids they always had for a seed; the others mix in their
    # name, so that calls of two platforms played with one seed never share an id.
    rng = random.Random(opts.seed if platform.name in ("telnyx", "twilio")
                        else f"{opts.seed}-{platform.name}")
    wire = platform.wire_for(opts.codec, opts.rate, opts.l16_byte_order)
    if opts.legs not in ("single", "split"):
        raise ValueError(f"legs must be single or split, not {opts.legs!r}")
    if opts.legs == "split" and not platform.can_split:
        raise ValueError(f"{platform.name} cannot stream one leg at a time: its socket is a "
                         "participant and hears the conversation mixed as one track")
    chosen = [d for d in dialogues if d.name == opts.dialogue] if opts.dialogue else []
    if opts.dialogue and not chosen:
        raise ValueError(f"no dialogue named {opts.dialogue!r}; have: "
                         + ", ".join(d.name for d in dialogues))
    plans = []
    for i in range(opts.calls):
        d = (chosen or list(dialogues))[i % len(chosen or dialogues)]
        plans.append(CallPlan(platform.new_call_key(rng), d, platform.name, wire.codec,
                              opts.legs, d.from_number, d.to_number, wire.rate))
    return plans


class _Frames:
    """A dialogue's tracks cut into frames in a stream's wire format (base64 text, or raw
    bytes for binary frames), shared by every call playing it."""

    _cache: ClassVar[dict[tuple[str, Wire], dict[str, list[Any]]]] = {}

    @classmethod
    def get(cls, d: Dialogue, wire: Wire) -> dict[str, list[Any]]:
        key = (d.name, wire)
        if key not in cls._cache:
            if wire.mixed:  # what a participant hears: everyone else, summed
                both = d.customer.astype(np.int32) + d.agent.astype(np.int32)
                mix = np.clip(both, -32768, 32767).astype(np.int16)
                cls._cache[key] = {"mixed": cls._encode(mix, d.rate, wire)}
            else:
                cls._cache[key] = {"customer": cls._encode(d.customer, d.rate, wire),
                                   "agent": cls._encode(d.agent, d.rate, wire)}
        return cls._cache[key]

    @staticmethod
    def _encode(pcm: npt.NDArray[np.int16], rate: int, wire: Wire) -> list[Any]:
        sig = resample(pcm, rate, wire.rate)
        encoder = make_encoder(wire.codec, wire.rate, wire.byte_order)
        step = round(wire.rate * wire.frame_s)
        usable = sig.size - sig.size % step
        out: list[Any] = []
        for i in range(0, usable, step):
            data = encoder.encode(sig[i : i + step])
            out.append(data if wire.binary else base64.b64encode(data).decode("ascii"))
        return out


class _Leg:
    """One WebSocket stream of a call: the platform's words, and its playback queue."""

    def __init__(self, plan: CallPlan, opts: SimOptions, leg: str,
                 tracks: dict[str, list[Any]], rng: random.Random) -> None:
        self.plan, self.opts, self.leg, self.tracks, self.rng = plan, opts, leg, tracks, rng
        platform, wire = _wire(plan, opts)
        self.platform = platform(plan.call_key, leg, tuple(tracks), wire,
                                 (plan.from_number, plan.to_number), opts.params, rng)
        self.stream_id = self.platform.stream_id
        self.result = StreamResult(self.stream_id, leg)
        self._play_until = 0.0
        self._mark_timers: list[tuple[asyncio.TimerHandle, Heard]] = []
        self._sends: set[asyncio.Future[None]] = set()
        self._resampler: LiveResampler | None = None

    # --- what the console sends back ----------------------------------------------------

    async def receive(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self.handle(ws, raw)

    def handle(self, ws: ClientConnection, raw: str | bytes) -> None:
        heard = self.platform.read(raw)
        result = self.result
        result.received.append(heard.record)
        if heard.problem and len(result.problems) < MAX_PROBLEMS:
            result.problems.append(heard.problem)
        loop = asyncio.get_running_loop()
        now = loop.time()
        if heard.kind == "media":
            result.received_media += heard.audio
            if heard.pcm is not None:
                result.received_pcm += self._to_pcm_rate(heard).astype("<i2").tobytes()
            # Played in order at real time, like the platform's playback queue.
            self._play_until = max(now, self._play_until) + heard.seconds
        elif heard.kind == "mark":
            handle = loop.call_at(max(now, self._play_until), self._echo_mark, ws, heard)
            self._mark_timers.append((handle, heard))
        elif heard.kind == "clear":
            result.clears += 1
            self._play_until = now
            pending, self._mark_timers = self._mark_timers, []
            for handle, mark in pending:
                handle.cancel()
                if self.platform.clear_returns_marks:
                    self._echo_mark(ws, mark)
            ack = self.platform.clear_done()
            if ack is not None:
                self._send(ws, ack)

    def _to_pcm_rate(self, heard: Heard) -> npt.NDArray[np.int16]:
        assert heard.pcm is not None
        if heard.rate == PCM_RATE:
            return heard.pcm
        if heard.whole:
            return resample(heard.pcm, heard.rate, PCM_RATE)  # a file, not a live frame
        if self._resampler is None or self._resampler.from_rate != heard.rate:
            self._resampler = LiveResampler(heard.rate, PCM_RATE)
        return self._resampler.process(heard.pcm)

    def _echo_mark(self, ws: ClientConnection, heard: Heard) -> None:
        self._mark_timers = [(h, m) for h, m in self._mark_timers if m is not heard]
        frame = self.platform.mark_played(heard)
        if frame is None:
            return
        self.result.marks_echoed.append(heard.name)
        self._send(ws, frame)

    def _send(self, ws: ClientConnection, frame: str) -> None:
        task = asyncio.ensure_future(_quiet_send(ws, frame))
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
    _, wire = _wire(plan, opts)
    frames = _Frames.get(plan.dialogue, wire)
    n = min(len(f) for f in frames.values())
    if opts.duration:
        n = min(n, int(round(opts.duration / wire.frame_s, 6)))
    if wire.mixed:  # one track, both parties in it: the socket's own "inbound"
        legs = [_Leg(plan, opts, "customer", {"inbound": frames["mixed"][:n]}, rng)]
    elif plan.legs == "split":
        legs = [_Leg(plan, opts, "customer", {"inbound": frames["customer"][:n]}, rng),
                _Leg(plan, opts, "agent", {"inbound": frames["agent"][:n]}, rng)]
    else:
        legs = [_Leg(plan, opts, "customer", {"inbound": frames["customer"][:n],
                                              "outbound": frames["agent"][:n]}, rng)]
    results = await asyncio.gather(*(_play_leg(leg, opts, n, rng) for leg in legs))
    return CallResult(plan, list(results))


def _tls(opts: SimOptions) -> dict[str, Any]:
    # Only for wss:// with a CA file: websockets refuses ssl= with ws://, and without one it
    # trusts the system's CAs for wss:// by itself.
    if not opts.ca_file or not opts.url.startswith("wss://"):
        return {}
    return {"ssl": ssl.create_default_context(cafile=opts.ca_file)}


async def _play_leg(leg: _Leg, opts: SimOptions, n: int, rng: random.Random) -> StreamResult:
    platform = leg.platform
    url, headers = platform.handshake(opts.url, opts.token, opts.twilio_auth_token)
    try:
        ws = await connect(url, additional_headers=headers, compression=None,
                           max_size=2**22, open_timeout=10, close_timeout=5, **_tls(opts))
    except (TimeoutError, OSError, InvalidHandshake) as exc:
        leg.result.error = f"connect failed: {exc}"
        return leg.result
    receiver = asyncio.create_task(leg.receive(ws))
    frame_s = platform.wire.frame_s
    try:
        for frame in platform.start_frames():
            await ws.send(frame)
        schedules = {t: _schedule(n, opts, rng) for t in leg.tracks}
        dtmf = [(int(d["at_s"] / frame_s), str(d["digit"])) for d in leg.plan.dialogue.dtmf
                ] if opts.dtmf and leg.leg == "customer" else []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        length = max(len(s) for s in schedules.values())
        for k in range(length):
            if opts.speed > 0:
                due = t0 + k * frame_s / opts.speed
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            for track, sched in schedules.items():
                if k < len(sched):
                    i = sched[k]
                    await ws.send(platform.media_frame(track, i + 1, leg.tracks[track][i]))
                    leg.result.sent[track] += 1
            for at, digit in dtmf:
                if at == k and (press := platform.dtmf_frame(digit)) is not None:
                    await ws.send(press)
            if opts.speed <= 0 and k % 50 == 49:
                await asyncio.sleep(0)  # let the receiver and other calls run
        stop = platform.stop_frame() if not opts.abrupt else None
        if stop is not None:
            await ws.send(stop)
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

