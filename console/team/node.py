"""An ingest node on the team's bus: `coach-console serve --bus URL --node NAME`.

The node runs the whole engine for its own calls (server, protocols, registry, analysis,
its own store) and joins the bus on top of it:
- every call fact from the engine's bus goes to JetStream through the outbox, in order, and
  waits there while the bus is away;
- each call's summary goes to the `coach_calls` bucket (late join, `calls --bus`);
- waveform envelopes of every live call go out 10 times a second; a call's audio goes out
  only while some console holds a listen lease on it;
- commands for its calls (listen, whisper, barge, stop, focus) are obeyed and answered, and
  each is written to the call's audit trail with the supervisor's name;
- a heartbeat every second lets consoles see a node that died;
- a recorded call's WAV goes to the object store when it ends, so any console can export it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from console.audio.transmit import FrameEncoder
from console.core.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    SendClear,
    SendMedia,
    StreamOpened,
    SupervisorAction,
)
from console.core.registry import StreamState, TrackState
from console.engine import Engine
from console.protocol.detect import encoder_for
from console.supervisor.outbound import deliver
from console.supervisor.routes import BARGE, WHISPER, StreamReach, route
from console.team import wire
from console.team.link import BusError, BusOptions, connect, ensure_layout
from console.team.outbox import FactOutbox
from console.team.schema import Fact
from console.team.subjects import AUDIO_STORE, CALLS_BUCKET, NODES_BUCKET, Subjects, token
from console.team.summaries import read_summaries
from console.team.tasks import supervised

__all__ = ["TeamNode"]

log = logging.getLogger("console.team")

HEARTBEAT_S = 1.0
LEASE_S = 6.0  # a console renews its listen or talk every 2 s; silent this long, it is gone
WAVE_RATE = 200  # envelope points per second per track (one per 5 ms)
WAVE_EVERY_S = 0.1
MAX_COMMAND_BYTES = 4096
MAX_PROMPT_BYTES = 1024 * 1024  # a prompt's MP3 rides in its command (the bus's limit)
MAX_PROMPT_CHARS = 1_000_000


@dataclass
class _Talk:
    console: str
    supervisor: str
    mode: str
    rate: int
    expires: float
    targets: list[tuple[StreamState, FrameEncoder]] = field(default_factory=list)
    frames: int = 0


class TeamNode:
    def __init__(self, engine: Engine, opts: BusOptions, name: str) -> None:
        self.engine = engine
        self.opts = opts
        self.name = name
        self.subjects = Subjects(opts.team)
        self.outbox = FactOutbox(name, self._subject_for, after=self._after_publish,
                                 before=self._before_publish)
        self.nc: Any = None
        self.js: Any = None
        self.kv_calls: Any = None
        self.kv_nodes: Any = None
        self.state = "starting"
        self.listeners: dict[str, dict[str, float]] = {}  # call -> console -> lease end
        self.talks: dict[str, _Talk] = {}  # call -> the one supervisor talking on it
        self._wave_pos: dict[str, int] = {}  # track key -> ring position sent up to
        self._audio_out: list[tuple[str, bytes]] = []
        self._audio_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._subs: list[Any] = []
        self._unsubscribe: Callable[[], None] | None = None
        self.bad_commands = 0
        self.bad_talk = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Joins the bus. Refused credentials raise BusError; a bus that cannot be reached
        yet is joined in the background (the engine runs meanwhile and facts wait)."""
        loop = asyncio.get_running_loop()
        self._unsubscribe = self.engine.bus.subscribe(self._on_event)
        self.engine.registry.add_tap(self)
        self.outbox.start()
        try:
            nc = await connect(self.opts, f"node {self.name}", on_state=self._bus_state)
        except BusError as exc:
            if "credentials" in str(exc) or "TLS" in str(exc):
                await self.stop()
                raise
            log.warning("%s; facts are kept until it can be reached", exc)
            self.state = f"waiting: {str(exc).split(': ', 1)[-1]}; calls are kept until then"
            self._tasks.append(loop.create_task(self._join_later()))
            return
        await self._joined(nc)

    async def _join_later(self) -> None:
        try:
            nc = await connect(self.opts, f"node {self.name}", wait=True,
                               on_state=self._bus_state)
        except BusError as exc:
            log.error("%s", exc)
            self.state = f"error: {exc}"
            return
        await self._joined(nc)

    def _bus_state(self, state: str) -> None:
        self.state = state

    async def _joined(self, nc: Any) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        await ensure_layout(self.js)
        self.kv_calls = await self.js.key_value(CALLS_BUCKET)
        self.kv_nodes = await self.js.key_value(NODES_BUCKET)
        await self._close_stale_calls()
        self._subs.append(await nc.subscribe(self.subjects.command(self.name),
                                             cb=self._on_command))
        self._subs.append(await nc.subscribe(self.subjects.prompt(self.name),
                                             cb=self._on_prompt))
        self._subs.append(await nc.subscribe(self.subjects.all_talk(self.name),
                                             cb=self._on_talk))
        self._tasks += [supervised("heartbeat", self._heartbeat),
                        supervised("waves", self._send_waves),
                        supervised("audio", self._send_audio),
                        supervised("leases", self._expire_leases)]
        self.outbox.js = self.js
        self.outbox._wake.set()
        self.state = "connected"
        log.info("joined the bus %s as node %s", self.opts.shown_url, self.name)

    async def stop(self) -> None:
        self.engine.registry.remove_tap(self)
        for call_id in list(self.talks):
            self._end_talk(call_id, "the node is shutting down")
        await self.outbox.stop(flush_s=2.0)
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.kv_nodes is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.kv_nodes.put(
                    self.name, orjson.dumps({"node": self.name, "at": time.time(),
                                             "stopped": True})), 1.0)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), 2.0)
            with contextlib.suppress(Exception):
                await self.nc.close()

    # --- facts ----------------------------------------------------------------------------

    def _subject_for(self, event: CallEvent) -> str:
        return self.subjects.facts(self.name, getattr(event, "call_id", None) or "-")

    def _on_event(self, event: CallEvent) -> None:
        if getattr(event, "call_id", None) is None:
            return  # engine-wide problems stay in this node's log and store
        self.outbox.put(event)

    async def _before_publish(self, fact: Fact) -> None:
        # The summary goes first: a console subscribing while the start is published then
        # finds the call in the summaries if the live start came before its subscription.
        ev = fact.event
        if isinstance(ev, CallStarted):
            await self._summary(ev.call_id, {
                "id": ev.call_id, "node": self.name, "state": "active",
                "provider": ev.provider.value, "from": ev.from_number, "to": ev.to_number,
                "started_at": ev.started_at, "ended_at": None})

    async def _after_publish(self, fact: Fact, seq: int) -> None:
        ev = fact.event
        if isinstance(ev, StreamOpened):
            await self._summary(ev.call_id, {"codec": ev.media_format.encoding,
                                             "stream_ids_add": ev.stream_id})
        elif isinstance(ev, CallEnded):
            await self._summary(ev.call_id, {"state": ev.state, "ended_at": ev.ended_at})
            if self.engine.settings.record:
                asyncio.get_running_loop().create_task(self._upload_audio(ev.call_id))

    async def _summary(self, call_id: str, changes: dict[str, Any]) -> None:
        kv = self.kv_calls
        if kv is None:
            return
        key = self.subjects.call_key(call_id)
        current: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            entry = await kv.get(key)
            if entry is not None and entry.value:
                current = orjson.loads(entry.value)
        add = changes.pop("stream_ids_add", None)
        current.update(changes)
        if add is not None:
            ids = list(current.get("stream_ids", []))
            if add not in ids:
                ids.append(add)
            current["stream_ids"] = ids[-16:]
        current.setdefault("node", self.name)
        await kv.put(key, orjson.dumps(current))

    async def _close_stale_calls(self) -> None:
        """Calls this node held when it last stopped (crash, power cut) are over."""
        for info in await read_summaries(self.kv_calls, self.opts.team):
            if info.get("node") == self.name and info.get("state") == "active" and \
                    info["id"] not in self.engine.registry.calls:
                self.outbox.put(CallEnded(info["id"], time.time(), "interrupted"))

    async def _upload_audio(self, call_id: str) -> None:
        """The call's WAV in the object store, for export from any machine."""
        from console.store.db import connect as db_connect
        from console.store.db import db_path
        from console.store.export_wav import NotRecorded, export_wav

        await asyncio.sleep(1.0)  # the store writer closes the call's files first
        data_dir = self.engine.data_dir

        def render() -> bytes | None:
            conn = db_connect(db_path(data_dir), readonly=True)
            fd, name = tempfile.mkstemp(suffix=".wav")
            os.close(fd)
            try:
                export_wav(conn, data_dir, call_id, Path(name))
                with open(name, "rb") as f:
                    return f.read()
            except NotRecorded:
                return None
            finally:
                conn.close()
                with contextlib.suppress(OSError):
                    os.unlink(name)

        try:
            data = await asyncio.get_running_loop().run_in_executor(None, render)
            if data is not None and self.js is not None:
                store = await self.js.object_store(AUDIO_STORE)
                await store.put(token(call_id) + ".wav", data)
        except Exception:
            log.exception("could not put the audio of call %s on the bus", call_id)

    # --- heartbeat ------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            stats = self.engine.stats()
            info = {"node": self.name, "run": self.outbox.run, "at": time.time(),
                    "streams": stats.streams, "frames": stats.media_frames,
                    "lost": stats.missing_frames, "bad": stats.bad_frames,
                    "calls": [c.id for c in self.engine.registry.active_calls()][:2000],
                    "transcription": self.engine.transcription, "url": self.engine.url,
                    "public_url": self.engine.settings.public_url,
                    "phone": bool(self.engine.call_control and self.engine.call_control.offered),
                    "waiting": self.outbox.waiting}
            data = orjson.dumps(info)
            with contextlib.suppress(Exception):
                await self.nc.publish(self.subjects.heartbeat(self.name), data)
                # For `calls --bus` and the other commands, which have no time to wait for
                # beats: every 2 s, well inside the 10 s after which they count a node gone
                # (every 5 s left a busy node's calls shown interrupted now and then).
                if beats % 2 == 0:
                    await asyncio.wait_for(self.kv_nodes.put(self.name, data), 2.0)
            beats += 1
            await asyncio.sleep(HEARTBEAT_S)

    # --- audio: the registry tap ----------------------------------------------------------

    def feed(self, track: TrackState, pcm: np.ndarray) -> None:
        """Every decoded frame of every track (engine loop): envelope points for the wall;
        the samples themselves only for calls a console listens to."""
        # Envelopes need nothing per frame: _send_waves reads each track's ring buffer.
        if track.call_id in self.listeners:
            header = {"call": track.call_id, "k": track.key, "r": track.role.value,
                      "rate": track.rate, "pos": track.position - pcm.size}
            self._audio_out.append((self.subjects.audio(self.name, track.call_id),
                                    wire.pack(header, pcm)))
            self._audio_wake.set()

    def track_ended(self, track: TrackState) -> None:
        pass

    async def _send_audio(self) -> None:
        while True:
            await self._audio_wake.wait()
            self._audio_wake.clear()
            out, self._audio_out = self._audio_out, []
            for subject, data in out:
                with contextlib.suppress(Exception):
                    await self.nc.publish(subject, data)

    async def _send_waves(self) -> None:
        """Ten times a second, each live track's envelope since the last time (from its ring
        buffer: one read per track, no work per frame), one message per call."""
        while True:
            await asyncio.sleep(WAVE_EVERY_S)
            done: dict[str, int] = {}
            for call in self.engine.registry.active_calls():
                tracks: list[tuple[str, str, int]] = []
                points: list[np.ndarray] = []
                for stream in call.open_streams:
                    for track in stream.tracks.values():
                        ring = track.ring
                        step = max(1, track.rate // WAVE_RATE)
                        last = self._wave_pos.get(track.key, ring.written - ring.written % step)
                        last = max(last, ring.written - ring.capacity // 2)
                        n = ring.written - last
                        n -= n % step
                        done[track.key] = last + n
                        if n <= 0:
                            continue
                        buf = np.empty(n, np.int16)
                        ring.read_into(buf, last)
                        frames = buf.reshape(-1, step)
                        # |x| of -32768 does not fit int16: the louder of max and -min, in int32
                        peaks = np.maximum(frames.max(axis=1), -frames.min(axis=1).astype(np.int32))
                        tracks.append((track.key, track.role.value, last // step))
                        points.append(np.minimum(peaks, 32767))
                if tracks:
                    message = wire.pack_wave(call.id, WAVE_RATE, tracks, points)
                    with contextlib.suppress(Exception):
                        await self.nc.publish(self.subjects.wave(self.name, call.id), message)
            self._wave_pos = done  # tracks that ended are forgotten here

    # --- commands -------------------------------------------------------------------------

    async def _on_command(self, msg: Any) -> None:
        await self._answer(msg, MAX_COMMAND_BYTES, None)

    async def _on_prompt(self, msg: Any) -> None:
        # Prompts carry their recording: a subject of their own with a larger limit.
        await self._answer(msg, MAX_PROMPT_BYTES, "prompt")

    async def _answer(self, msg: Any, limit: int, only: str | None) -> None:
        try:
            if len(msg.data) > limit:
                raise ValueError("command too large")
            req = orjson.loads(msg.data)
            if not isinstance(req, dict):
                raise ValueError("a command is a JSON object")
            if (req.get("action") == "prompt") != (only == "prompt"):
                raise ValueError("prompts go on the node's prompt subject, and only they")
            if str(req.get("action", "")).startswith("phone_"):
                answer = await self._phone_command(req)
            else:
                answer = self.command(req)
        except (ValueError, orjson.JSONDecodeError) as exc:
            self.bad_commands += 1
            answer = {"ok": False, "reason": f"bad command: {exc}"}
        except Exception as exc:  # a bug answers, it does not leave the console waiting
            log.exception("command failed")
            answer = {"ok": False, "reason": f"the node failed: {exc}"}
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(orjson.dumps(answer))

    def command(self, req: dict[str, Any]) -> dict[str, Any]:
        action = _text(req, "action", 32)
        if action == "ping":
            return {"ok": True, "node": self.name, "transcription": self.engine.transcription}
        call_id = _text(req, "call_id", 256)
        console = _text(req, "console", 128)
        supervisor = _text(req, "supervisor", 64, default="supervisor")
        call = self.engine.registry.calls.get(call_id)
        if call is None or call.state != "active":
            return {"ok": False, "reason": f"Call {call_id} is not live on node {self.name}."}
        now = time.monotonic()
        who = f"{supervisor} (console {console})"
        if action == "listen":
            leases = self.listeners.setdefault(call_id, {})
            fresh = console not in leases
            leases[console] = now + LEASE_S
            if fresh:
                self._audit(call_id, "listen_start", f"by {who} over the bus", supervisor)
            tracks = [{"k": t.key, "r": t.role.value, "rate": t.rate}
                      for s in call.open_streams for t in s.tracks.values()]
            return {"ok": True, "tracks": tracks}
        if action == "listen_off":
            leases = self.listeners.get(call_id, {})
            if leases.pop(console, None) is not None:
                why = _text(req, "why", 200, default="stopped by the supervisor")
                self._audit(call_id, "listen_stop", f"{why}; by {who}", supervisor)
            if not leases:
                self.listeners.pop(call_id, None)
            return {"ok": True}
        if action in (WHISPER, BARGE):
            return self._start_talk(call_id, action, console, supervisor, req, now)
        if action == "talk_renew":
            talk = self.talks.get(call_id)
            if talk is None or talk.console != console:
                return {"ok": False, "reason": "Not talking on this call any more."}
            talk.expires = now + LEASE_S
            return {"ok": True}
        if action == "talk_off":
            talk = self.talks.get(call_id)
            if talk is not None and talk.console == console:
                self._end_talk(call_id, _text(req, "why", 200,
                                              default="stopped by the supervisor"))
            return {"ok": True}
        if action == "clear":  # whatever the platform still plays of a supervisor, stop it
            for stream in call.open_streams:
                self._send(stream, SendClear())
            self._audit(call_id, "clear", f"by {who} over the bus", supervisor)
            return {"ok": True}
        if action == "prompt":
            return self._prompt(call_id, req, supervisor)
        if action == "prompt_stop":
            asyncio.get_running_loop().create_task(
                self.engine.stop_prompt(call_id, f"stopped by {who}", supervisor))
            return {"ok": True}
        if action == "focus":
            self.engine.set_focus(call_id)
            return {"ok": True}
        raise ValueError(f"unknown action {action!r}")

    async def _phone_command(self, req: dict[str, Any]) -> dict[str, Any]:
        """The supervisor's phone as a Telnyx supervisor leg, for a console on the bus: the
        node holds the call and the Call Control settings, so it dials, switches and hangs
        up; the answer waits for Telnyx's."""
        from console.callcontrol.control import Refused

        action = _text(req, "action", 32)
        call_id = _text(req, "call_id", 256)
        supervisor = _text(req, "supervisor", 64, default="supervisor")
        role = _text(req, "role", 16) if req.get("role") is not None else ""
        to = _text(req, "to", 256) if req.get("to") else ""
        cc = self.engine.call_control
        if cc is None or not cc.offered:
            return {"ok": False, "reason": f"Node {self.name} has no Telnyx Call Control "
                                           "(no API key)."}
        try:
            if action == "phone_dial":  # to the console's own phone when it names one
                phone = await cc.dial(call_id, role, supervisor, to)
            elif action == "phone_role":
                phone = await cc.switch(call_id, role, supervisor)
            elif action == "phone_hangup":
                phone = await cc.hangup(call_id, supervisor)
            else:
                raise ValueError(f"unknown action {action!r}")
        except Refused as exc:
            return {"ok": False, "reason": str(exc)}
        return {"ok": True, "role": phone.role, "state": phone.state, "to": phone.to,
                "detail": phone.detail}

    def _prompt(self, call_id: str, req: dict[str, Any], supervisor: str) -> dict[str, Any]:
        """A recording sent as MP3 in the command: played as the call's streams take it
        (whole MP3 files on a Telnyx MP3-mode stream, frames otherwise). Answered at once;
        the route is checked here, so a refusal is said."""
        from console.audio.mp3 import Mp3Error, decode_mp3
        from console.supervisor.routes import StreamReach, route

        mode = _text(req, "mode", 16)
        if mode not in (WHISPER, BARGE):
            raise ValueError("mode must be whisper or barge")
        name = _text(req, "name", 200, default="prompt")
        try:
            pcm, rate = decode_mp3(base64.b64decode(_text(req, "mp3", MAX_PROMPT_CHARS),
                                                    validate=True))
        except (Mp3Error, ValueError, binascii.Error) as exc:
            raise ValueError(f"the prompt is not a playable MP3 file ({exc})") from None
        call = self.engine.registry.calls[call_id]
        r = route(mode, [StreamReach(s.uid, s.injection, s.sender is not None)
                         for s in call.open_streams], live=False)
        if not r.ok:
            self._audit(call_id, "prompt_refused", r.reason, supervisor)
            return {"ok": False, "reason": r.reason}
        asyncio.get_running_loop().create_task(
            self.engine.play_prompt(call_id, pcm, rate, mode, name, supervisor))
        return {"ok": True, "route": r.reason, "seconds": round(pcm.size / rate, 2)}

    def _start_talk(self, call_id: str, mode: str, console: str, supervisor: str,
                    req: dict[str, Any], now: float) -> dict[str, Any]:
        rate = req.get("rate")
        if type(rate) is not int or rate not in wire.RATES:
            raise ValueError("rate must be 8000-48000")
        current = self.talks.get(call_id)
        if current is not None and current.console != console:
            reason = (f"Cannot {mode}: {current.supervisor} is already "
                      f"{'whispering' if current.mode == WHISPER else 'barging'} on this call.")
            self._audit(call_id, f"{mode}_refused", reason, supervisor)
            return {"ok": False, "reason": reason}
        if current is not None:
            self._end_talk(call_id, f"switched to {mode}")
        call = self.engine.registry.calls[call_id]
        streams = {s.uid: s for s in call.open_streams}
        r = route(mode, [StreamReach(uid, s.injection, s.sender is not None)
                         for uid, s in streams.items()])
        if not r.ok:
            self._audit(call_id, f"{mode}_refused", r.reason, supervisor)
            return {"ok": False, "reason": r.reason}
        order = self.engine.settings.l16_byte_order
        targets = []
        for uid in r.streams:
            inj = streams[uid].injection
            assert inj is not None
            byte_order = inj.byte_order or (order if order != "auto" else "big")
            targets.append((streams[uid], FrameEncoder(inj.codec, inj.rate, rate, byte_order)))
        self.talks[call_id] = _Talk(console, supervisor, mode, rate, now + LEASE_S, targets)
        self._audit(call_id, f"{mode}_start",
                    f"{r.reason}; by {supervisor} (console {console}) over the bus", supervisor)
        return {"ok": True, "route": r.reason}

    def _end_talk(self, call_id: str, why: str) -> None:
        talk = self.talks.pop(call_id, None)
        if talk is None:
            return
        for stream, _enc in talk.targets:
            self._send(stream, SendClear())
        self._audit(call_id, f"{talk.mode}_stop",
                    f"{why}; {talk.frames} frames sent", talk.supervisor)

    def _send(self, stream: StreamState, command: SendMedia | SendClear) -> None:
        if stream.closed or stream.sender is None:
            return
        inj = stream.injection
        encode = encoder_for(stream.provider, inj.codec if inj else "PCMU",
                             inj.rate if inj else 8000, stream.media_format)
        deliver(stream.sender, encode(command, stream.stream_id), isinstance(command, SendMedia))

    async def _on_talk(self, msg: Any) -> None:
        """A supervisor's voice for one call: only from the console whose whisper or barge
        this node accepted, and only to the streams that route allowed."""
        try:
            header, pcm = wire.unpack(msg.data)
            call_id = wire.text(header, "call")
            console = wire.text(header, "console", 128)
        except wire.BadAudio:
            self.bad_talk += 1
            return
        talk = self.talks.get(call_id)
        if talk is None or talk.console != console or header["rate"] != talk.rate:
            return
        for stream, encoder in talk.targets:
            for payload in encoder.push(pcm):
                self._send(stream, SendMedia(payload))
        talk.frames += 1

    async def _expire_leases(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for call_id, leases in list(self.listeners.items()):
                call = self.engine.registry.calls.get(call_id)
                for console, until in list(leases.items()):
                    if until < now or call is None or call.state != "active":
                        del leases[console]
                        if call is not None and call.state == "active":
                            self._audit(call_id, "listen_stop",
                                        f"console {console} stopped renewing", "")
                if not leases:
                    del self.listeners[call_id]
            for call_id, talk in list(self.talks.items()):
                call = self.engine.registry.calls.get(call_id)
                if call is None or call.state != "active":
                    self._end_talk(call_id, "the call ended")
                elif talk.expires < now:
                    self._end_talk(call_id, f"console {talk.console} went silent")

    def _audit(self, call_id: str, action: str, detail: str, supervisor: str) -> None:
        self.engine.bus.publish(SupervisorAction(call_id, action, time.time(), detail,
                                                 supervisor))


def _text(req: dict[str, Any], key: str, limit: int, default: str | None = None) -> str:
    value = req.get(key, default)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{key!r} must be text of 1-{limit} characters")
    return value
