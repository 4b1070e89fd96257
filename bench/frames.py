#!/usr/bin/env python3
"""Media fast path, stage by stage: CPU nanoseconds per media frame, on realistic frames.

What the engine does with each media frame a socket delivers, measured in the process on the
same frames (both tracks of a demo call, 20 ms of G.711 each, Telnyx and Twilio shapes as
their documentation and tests/data/protocols show them; compact JSON as the providers send):

  load_frame         JSON text to a dict (orjson), the frame is an object
  media_frame        the frame's numbers checked, its media object read: track, chunk,
                     timestamp, payload (base64 to bytes)
  add_frame+flush    registry: reorder buffer, decode, ring write (no taps)
  VAD tap            the analysis pipeline's feed (voice detector, speaking, utterances)
  session.handle     all of it from text, as the engine's socket handler calls it

Each stage is timed twice: "real time", where every frame is flushed on its own (what a
lightly loaded engine does: one frame per socket per loop turn), and "busy", where a flush
covers 300 frames per track (what bench/ingest.py's flat-out rounds give: the loop reads
everything the sockets hold, then decodes once). Figures are process CPU time in ns per
frame, the best of --rounds (a busy machine only slows things down); the stages take turns
round by round, so a drift in the machine's speed touches them all alike.

    .venv/bin/python bench/frames.py [--seconds 60] [--rounds 7] [--provider both]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from console.analysis.pipeline import AnalysisPipeline  # noqa: E402
from console.analysis.vad import VadSettings  # noqa: E402
from console.audio.codecs import ulaw_decode, ulaw_encode  # noqa: E402
from console.core.bus import EventBus  # noqa: E402
from console.core.events import MediaFormat, Provider, Started  # noqa: E402
from console.core.registry import CallRegistry  # noqa: E402
from console.protocol.base import counter, media_body  # noqa: E402
from console.protocol.detect import load_frame  # noqa: E402
from console.server.session import StreamSession  # noqa: E402
from console.sim.dialogues import load_dialogues  # noqa: E402

try:
    from console.protocol.base import media_frame
except ImportError:  # an older tree (for before/after figures): what its session did
    def media_frame(msg: dict[str, Any]) -> Any:
        seq = msg.get("sequence_number", msg.get("sequenceNumber"))
        if seq is not None:
            counter(seq, "sequence number", "bad_sequence")
        return media_body(msg.get("media"))

BUSY = 300  # frames per track per flush when busy (bench/ingest.py flat out: 300-335)
SID_TELNYX = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
SID_TWILIO = "MZ00000000000000000000000000000001"


class DropPool:
    """Takes finished utterances as the speech pool does (bench/ingest.py's stand-in)."""

    focus: str | None = None

    def __init__(self) -> None:
        self.jobs = 0

    def submit(self, job: Any) -> None:
        self.jobs += 1


def _compact(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def media_frames(provider: str, seconds: float) -> list[str]:
    """Both tracks of the first demo call, interleaved as a provider sends them."""
    d = load_dialogues()[0]
    n = int(seconds * 50)
    tracks = []
    for pcm in (d.customer, d.agent):
        frames = [base64.b64encode(ulaw_encode(pcm[i : i + 160])).decode()
                  for i in range(0, pcm.size - 159, 160)]
        tracks.append([frames[k % len(frames)] for k in range(n)])
    out = []
    seq = 1
    for k in range(n):
        for name, frames in (("inbound", tracks[0]), ("outbound", tracks[1])):
            seq += 1
            media = {"track": name, "chunk": str(k + 1), "timestamp": str(k * 20),
                     "payload": frames[k]}
            if provider == "telnyx":
                out.append(_compact({"event": "media", "sequence_number": str(seq),
                                     "stream_id": SID_TELNYX, "media": media}))
            else:
                out.append(_compact({"event": "media", "sequenceNumber": str(seq),
                                     "media": media, "streamSid": SID_TWILIO}))
    return out


def start_frame(provider: str) -> str:
    if provider == "telnyx":
        return _compact({"event": "start", "sequence_number": "1", "stream_id": SID_TELNYX,
                         "start": {"call_control_id": "v3:bench", "call_session_id": "sess",
                                   "from": "+15550000000", "to": "+15551111111",
                                   "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                                    "channels": 1}}})
    return _compact({"event": "start", "sequenceNumber": "1", "streamSid": SID_TWILIO,
                     "start": {"accountSid": "AC0", "callSid": "CA0", "streamSid": SID_TWILIO,
                               "tracks": ["inbound", "outbound"],
                               "mediaFormat": {"encoding": "audio/x-mulaw",
                                               "sampleRate": 8000, "channels": 1}}})


class World:
    """A registry (and optionally the voice detector) as the engine sets them up."""

    def __init__(self, vad: bool, busy: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.bus = EventBus()
        self.registry = CallRegistry(self.bus)
        self.pending: list[Callable[[], None]] = []
        if busy:
            # The engine schedules one flush with loop.call_soon; here the bench runs it.
            self.registry.schedule = self.pending.append
        self.pipeline: AnalysisPipeline | None = None
        if vad:
            self.pipeline = AnalysisPipeline(self.bus, self.loop, redaction=True,
                                             vad=VadSettings(engine="webrtc"))
            self.pipeline.pool = DropPool()  # type: ignore[assignment]
            self.registry.add_tap(self.pipeline)

    def run_pending(self) -> None:
        pending, self.pending[:] = list(self.pending), []
        for fn in pending:
            fn()

    def close(self) -> None:
        self.loop.close()


def _cpu_ns() -> int:
    return time.process_time_ns()


def time_stages(rounds: int, setups: dict[str, Callable[[], Callable[[], int]]]
                ) -> dict[str, list[float]]:
    """ns per frame of what each setup returns (a callable that runs the stage and says how
    many frames it took), every stage once per round."""
    out: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(rounds):
        for name, setup in setups.items():
            run = setup()
            t0 = _cpu_ns()
            n = run()
            out[name].append((_cpu_ns() - t0) / n)
    return out


def stages(provider: str, seconds: float, rounds: int) -> dict[str, list[float]]:
    """Each stage is timed as a prefix of the path (what it adds is the difference), on data
    fresh from the step before, as the engine has it; the VAD tap is also timed alone."""
    texts = media_frames(provider, seconds)
    start = start_frame(provider)
    parsed = [media_frame(load_frame(t)) for t in texts]
    fmt = MediaFormat("PCMU", 8000)

    def s_path(upto: int, busy: bool = True) -> Callable[[], Callable[[], int]]:
        """load_frame (1), + media_frame (2), + add_frame and the flushes (3)."""
        def setup() -> Callable[[], int]:
            w = World(vad=False, busy=busy)
            reg = w.registry
            stream = reg.open_stream(Started(Provider.TELNYX, "s", "call", fmt))

            def run() -> int:
                add = reg.add_frame
                every = 2 * BUSY
                for i, text in enumerate(texts, 1):
                    msg = load_frame(text)
                    if upto >= 2:
                        track, chunk, stamp, payload = media_frame(msg)
                        if upto >= 3:
                            add(stream, track, chunk, stamp, payload)
                            if busy and i % every == 0:
                                w.run_pending()
                w.run_pending()
                return len(texts)
            return run
        return setup

    def s_vad(busy: bool) -> Callable[[], Callable[[], int]]:
        def setup() -> Callable[[], int]:
            w = World(vad=False, busy=False)
            reg = w.registry
            stream = reg.open_stream(Started(Provider.TELNYX, "s", "call", fmt))
            for track, chunk, stamp, payload in parsed[:2]:  # opens both tracks
                reg.add_frame(stream, track, chunk, stamp, payload)
            tracks = [stream.tracks[p[0]] for p in parsed[:2]]
            pcm = [ulaw_decode(b"".join(p[3] for p in parsed[k::2])) for k in (0, 1)]
            step = 160 * (BUSY if busy else 1)
            pipeline = AnalysisPipeline(w.bus, w.loop, redaction=True,
                                        vad=VadSettings(engine="webrtc"))
            pipeline.pool = DropPool()  # type: ignore[assignment]

            def run() -> int:
                feed = pipeline.feed
                for i in range(0, pcm[0].size, step):
                    feed(tracks[0], pcm[0][i : i + step])
                    feed(tracks[1], pcm[1][i : i + step])
                return len(parsed)
            return run
        return setup

    def s_session(busy: bool, vad: bool) -> Callable[[], Callable[[], int]]:
        def setup() -> Callable[[], int]:
            w = World(vad=vad, busy=busy)
            session = StreamSession(w.registry, "bench", 1 << 20)
            session.handle(start)
            assert session.stream is not None

            def run() -> int:
                handle = session.handle
                every = 2 * BUSY
                for i, text in enumerate(texts, 1):
                    handle(text)
                    if busy and i % every == 0:
                        w.run_pending()
                w.run_pending()
                c = w.registry.counters
                assert c.bad_frames == 0 and c.media_frames == len(texts), c
                return len(texts)
            return run
        return setup

    return time_stages(rounds, {
        "load_frame": s_path(1),
        "+ media_frame": s_path(2),
        "+ add_frame, flush (busy)": s_path(3),
        "+ add_frame, flush (real time)": s_path(3, busy=False),
        "session.handle, no VAD (busy)": s_session(True, False),
        "session.handle, no VAD (real time)": s_session(False, False),
        "session.handle (busy)": s_session(True, True),
        "session.handle (real time)": s_session(False, True),
        "VAD tap alone (busy)": s_vad(True),
        "VAD tap alone (real time)": s_vad(False),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0,
                    help="audio per round (both tracks: 100 frames a second)")
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--provider", choices=["telnyx", "twilio", "both"], default="both")
    args = ap.parse_args()
    providers = ["telnyx", "twilio"] if args.provider == "both" else [args.provider]
    print(__doc__.split("\n\n")[0])
    print(f"{args.seconds:.0f} s of a two-track call per round, {args.rounds} rounds; "
          "ns of CPU per media frame, best of the rounds")
    table = {p: {k: min(v) for k, v in stages(p, args.seconds, args.rounds).items()}
             for p in providers}
    print(f"{'path so far':<36}" + "".join(f"{p:>9}" for p in providers)
          + "   " + "".join(f"{p:>9}" for p in providers) + "  what the step adds")
    steps = [("load_frame", None, "JSON to dict"),
             ("+ media_frame", "load_frame", "checks, base64"),
             ("+ add_frame, flush (busy)", "+ media_frame", "reorder, decode, ring"),
             ("+ add_frame, flush (real time)", "+ media_frame", "reorder, decode, ring"),
             ("session.handle, no VAD (busy)", "+ add_frame, flush (busy)", "the session"),
             ("session.handle, no VAD (real time)", "+ add_frame, flush (real time)",
              "the session"),
             ("session.handle (busy)", "session.handle, no VAD (busy)", "VAD tap"),
             ("session.handle (real time)", "session.handle, no VAD (real time)", "VAD tap"),
             ("VAD tap alone (busy)", None, ""),
             ("VAD tap alone (real time)", None, "")]
    for name, before, what in steps:
        cells = "".join(f"{table[p][name]:>9.0f}" for p in providers)
        adds = "".join(f"{table[p][name] - (table[p][before] if before else 0):>9.0f}"
                       for p in providers)
        print(f"{name:<36}{cells}   {adds}  {what}")


if __name__ == "__main__":
    main()
