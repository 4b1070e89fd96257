"""The console side of team mode: what the window (and the command line) see of the team.

`TeamEngine` stands where the embedded Engine stands for the window: it has a bus of call
events, ring buffers to draw waveforms from, stats, a transcription status and a focus. It
fills them from the team's bus instead of from sockets:
- late join: the live calls in `coach_calls` are replayed from JetStream (their transcript so
  far), while live facts that arrive meanwhile wait; each fact is applied once, by its
  author's run and sequence number;
- waveform envelopes of every live call land in rings (200 points a second);
- a node whose heartbeat stops for NODE_DEAD_S has its calls shown as interrupted; one
  console (whoever wins the bucket's compare-and-set) writes that into the team's log;
- the team's history is replicated into this console's own SQLite store by a durable
  JetStream consumer, so History, search and export work here even for a node that is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from console.audio.ring import RingBuffer
from console.config import Settings
from console.core.bus import EventBus
from console.core.events import (
    CallEnded,
    CallEvent,
    CallScorecard,
    CallStarted,
    StreamProblem,
    SupervisorAction,
    TrackOpened,
)
from console.engine import EngineStats
from console.store.files import lock_data_dir, private_dir
from console.supervisor.routes import Route
from console.team import wire
from console.team.link import BusError, BusOptions, connect, ensure_layout
from console.team.outbox import FactOutbox
from console.team.schema import BadFact, Fact, decode
from console.team.subjects import (
    CALLS_BUCKET,
    FACTS_STREAM,
    Subjects,
)
from console.team.summaries import read_summaries
from console.team.tasks import supervised

__all__ = ["NODE_DEAD_S", "TeamBus", "TeamEngine", "TeamEngineThread"]

log = logging.getLogger("console.team")

NODE_DEAD_S = 5.0  # heartbeats are 1 s apart: five missed means the node is gone
WAVE_RATE = 200
WAVE_RING_S = 120.0
MAX_SEEN = 100_000


class TeamBus(EventBus):
    """The window publishes supervisor actions on its engine's bus; here they go to the
    team's log (and come back to every console, this one included, as facts)."""

    def __init__(self, forward: Callable[[CallEvent], None]) -> None:
        super().__init__()
        self._forward = forward

    def publish(self, event: CallEvent) -> None:
        if isinstance(event, SupervisorAction):
            self._forward(event)
        else:
            self.deliver(event)

    def deliver(self, event: CallEvent) -> None:
        super().publish(event)


@dataclass
class RemoteCall:
    id: str
    node: str
    state: str = "active"
    tracks: dict[str, str] = field(default_factory=dict)  # track key -> role
    ended: float = 0.0  # monotonic time it ended here


class RemoteRegistry:
    """What the window looks up: rings by track key (waveform envelopes here) and calls."""

    def __init__(self) -> None:
        self.rings: dict[str, RingBuffer] = {}
        self.calls: dict[str, RemoteCall] = {}


class TeamEngine:
    def __init__(self, settings: Settings, opts: BusOptions | None = None, *,
                 store_dir: Path | None = None) -> None:
        self.settings = settings
        self.opts = opts or BusOptions.from_settings(settings)
        self.subjects = Subjects(self.opts.team)
        self.console_id = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:6]}"
        self.supervisor = settings.supervisor()
        self.outbox = FactOutbox(f"console-{uuid.uuid4().hex[:8]}", self._subject_for)
        self.bus = TeamBus(self._forward)
        self.registry = RemoteRegistry()
        # The team's store kept here: under the data folder, one per bus and team, unless
        # given (the archive keeps it in its data folder itself).
        self.data_dir = self._replica_dir() if store_dir is None else private_dir(store_dir)
        self._lock = lock_data_dir(self.data_dir)  # one writer of this copy of the store
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None
        self.nc: Any = None
        self.js: Any = None
        self.kv_calls: Any = None
        self.state = "connecting"
        self.error = ""
        self.nodes: dict[str, dict[str, Any]] = {}  # name -> last heartbeat (+ "seen")
        self.facts_applied = 0
        self.bad_facts = 0
        self._applied: dict[tuple[str, str, str], int] = {}
        self._joined = False
        self._lost = False
        self._held: list[Fact] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._subs: list[Any] = []
        self.replica: Any = None
        self._replica_sub: Any = None
        self._focus: str | None = None
        self._wave_at: dict[str, int] = {}
        self.shown_at: dict[str, float] = {}  # for the bench: segment id -> time applied
        from console.team.phones import TeamPhones

        self.call_control = TeamPhones(self)  # the supervisor's phone, through the nodes

    def _replica_dir(self) -> Path:
        digest = hashlib.sha1(f"{self.opts.shown_url}/{self.opts.team}".encode()).hexdigest()
        path = self.settings.data_path() / f"team-{self.opts.team}-{digest[:8]}"
        private_dir(self.settings.data_path())
        private_dir(path)
        return path

    @property
    def url(self) -> str:
        return self.opts.shown_url

    @property
    def transcription(self) -> str:
        alive = self.alive_nodes()
        if self.error:
            return f"off: {self.error}"
        if not alive:
            return f"off: no ingest node on the bus ({self.state})"
        on = sorted(n for n in alive
                    if str(self.nodes[n].get("transcription", "")).startswith("on"))
        if not on:
            return f"off on every node ({', '.join(sorted(alive))})"
        return f"on: {len(on)} of {len(alive)} node(s) transcribing ({', '.join(on)})"

    def alive_nodes(self) -> list[str]:
        now = time.monotonic()
        return [n for n, info in self.nodes.items()
                if now - info["seen"] < NODE_DEAD_S and not info.get("stopped")]

    # --- lifecycle (engine thread's loop) -------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.outbox.start()
        self._tasks.append(self.loop.create_task(self._run()))

    async def _run(self) -> None:
        try:
            nc = await connect(self.opts, f"console {self.console_id}", wait=True,
                               on_state=self._bus_state)
        except BusError as exc:
            self.error = str(exc)
            self.state = "refused"
            log.error("%s", exc)
            self.bus.deliver(StreamProblem(None, None, "bus", str(exc), time.time()))
            return
        self.nc = nc
        self.js = nc.jetstream()
        await ensure_layout(self.js)
        self.kv_calls = await self.js.key_value(CALLS_BUCKET)
        self.outbox.js = self.js
        self.outbox._wake.set()
        self._subs.append(await nc.subscribe(self.subjects.all_heartbeats(),
                                             cb=self._on_heartbeat))
        self._subs.append(await nc.subscribe(self.subjects.all_waves(), cb=self._on_wave))
        self._subs.append(await nc.subscribe(self.subjects.all_facts(), cb=self._on_fact,
                                             pending_msgs_limit=500_000))
        await self._late_join()
        self._tasks.append(supervised("watch nodes", self._watch_nodes))
        with contextlib.suppress(Exception):
            await self._start_replica()

    def _bus_state(self, state: str) -> None:
        if state.startswith("error") and self.state.startswith("disconnected"):
            return  # the reason a reconnection failed: still disconnected, as shown
        self.state = state
        if state.startswith("disconnected") and not self._lost:
            self._lost = True
            self.bus.deliver(StreamProblem(None, None, "bus", "lost the team bus; "
                                           "reconnecting", time.time()))
        elif state == "connected" and self._lost:
            self._lost = False
            self.bus.deliver(StreamProblem(None, None, "bus", "team bus reconnected",
                                           time.time()))
            if self.loop is not None and self._joined:
                # What happened while away: replay the live calls again (facts already
                # applied are skipped by their sequence numbers).
                self._tasks.append(self.loop.create_task(self._late_join()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.outbox.stop(flush_s=1.0)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), 2.0)
            with contextlib.suppress(Exception):
                await self.nc.close()
        if self.replica is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.replica.close)
        with contextlib.suppress(OSError):
            self._lock.close()

    # --- facts ----------------------------------------------------------------------------

    async def _late_join(self) -> None:
        """Live calls with their story so far, then live facts (held meanwhile)."""
        self._joined = False
        try:
            summaries = await read_summaries(self.kv_calls, self.opts.team)
            # Live calls, and calls this console still shows live that ended meanwhile
            # (a reconnect): replaying them brings their end too.
            shown = {c.id for c in self.registry.calls.values() if c.state == "active"}
            for info in summaries:
                if info.get("state") == "active" or info["id"] in shown:
                    await self._replay_call(info["id"])
        except Exception as exc:
            log.warning("late join: %s", exc)
        held, self._held = self._held, []
        for fact in held:
            self._apply(fact)
        self._joined = True

    async def _replay_call(self, call_id: str) -> None:
        from nats.js.api import DeliverPolicy

        sub = await self.js.subscribe(self.subjects.call_facts(call_id), ordered_consumer=True,
                                      deliver_policy=DeliverPolicy.ALL, stream=FACTS_STREAM)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except TimeoutError:
                    break
                self._take(msg.data, live=False)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_fact(self, msg: Any) -> None:
        self._take(msg.data, live=True)

    def _take(self, data: bytes, live: bool) -> None:
        try:
            fact = decode(data)
        except BadFact as exc:
            self.bad_facts += 1
            if self.bad_facts <= 5:
                log.warning("ignored a fact from the bus: %s", exc)
            return
        if live and not self._joined:
            self._held.append(fact)
            return
        self._apply(fact)

    def _apply(self, fact: Fact) -> None:
        ev = fact.event
        call_id = getattr(ev, "call_id", None) or ""
        key = (fact.node, fact.run, call_id)
        if self._applied.get(key, 0) >= fact.n:
            return  # seen already (replay and live overlap, or re-sent after a reconnect)
        if len(self._applied) > MAX_SEEN:
            self._applied.clear()
        self._applied[key] = fact.n
        call = self.registry.calls.get(call_id)
        if isinstance(ev, CallStarted):
            if call is not None and call.state == "active":
                return  # replayed start of a call already on the wall
            node = ev.node or fact.node
            self.registry.calls[call_id] = RemoteCall(call_id, node)
            # A node is watched from its first call on, even before its first heartbeat:
            # one that dies at once must still have its calls shown as interrupted.
            self.nodes.setdefault(node, {"node": node, "seen": time.monotonic()})
        elif call is None:
            return  # a fact of a call that ended before this console joined
        elif isinstance(ev, CallEnded):
            if call.state != "active":
                return
            call.state = ev.state
            call.ended = time.monotonic()
        elif isinstance(ev, TrackOpened):
            call.tracks[ev.track_key] = ev.role.value
            self.registry.rings.setdefault(ev.track_key, RingBuffer(WAVE_RING_S, WAVE_RATE))
        elif call.state != "active" and not isinstance(ev, (SupervisorAction, CallScorecard)):
            return  # (a scorecard comes once the call has ended)
        self.facts_applied += 1
        if getattr(ev, "final", False):
            self.shown_at[getattr(ev, "segment_id", "")] = time.time()
            if len(self.shown_at) > 10_000:
                self.shown_at.clear()
        self.bus.deliver(ev)

    def _subject_for(self, event: CallEvent) -> str:
        call_id = getattr(event, "call_id", None) or "-"
        call = self.registry.calls.get(call_id)
        return self.subjects.facts(call.node if call else "console", call_id)

    def _forward(self, event: CallEvent) -> None:
        """A supervisor action from this window: to the team's log, with the name."""
        if isinstance(event, SupervisorAction) and not event.supervisor:
            event = SupervisorAction(event.call_id, event.action, event.at, event.detail,
                                     self.supervisor)
        loop = self.loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self.outbox.put, event)

    # --- waves and nodes ------------------------------------------------------------------

    async def _on_wave(self, msg: Any) -> None:
        try:
            _call, tracks = wire.unpack_wave(msg.data)
        except wire.BadAudio:
            self.bad_facts += 1
            return
        for key, _role, pos, values in tracks:
            ring = self.registry.rings.get(key)
            if ring is None:
                continue
            # The ring starts where this console came in; `_wave_at` maps the node's point
            # positions onto it, so lost messages leave a gap and repeats are not drawn twice.
            offset = self._wave_at.setdefault(key, pos - ring.written)
            gap = pos - (ring.written + offset)
            if gap > 0:
                ring.write_silence(min(gap, WAVE_RATE * 5))
                self._wave_at[key] = pos - ring.written
            elif gap < 0:
                values = values[-gap:]
            ring.write(values)

    async def _on_heartbeat(self, msg: Any) -> None:
        try:
            info = orjson.loads(msg.data)
            name = info["node"]
            if not isinstance(name, str) or len(name) > 64 or len(msg.data) > 256 * 1024:
                raise ValueError
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            self.bad_facts += 1
            return
        info["seen"] = time.monotonic()
        returned = name in self.nodes and self.nodes[name].get("dead")
        self.nodes[name] = info
        if returned:
            log.info("node %s is back", name)

    async def _watch_nodes(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            self._forget_ended(now)
            for name, info in list(self.nodes.items()):
                if info.get("dead") or now - info["seen"] < NODE_DEAD_S:
                    continue
                info["dead"] = True
                await self._node_gone(name)

    def _forget_ended(self, now: float, grace_s: float = 60.0) -> None:
        """Ended calls' rings go a minute after the end (the window has let go of them by
        then): a console open for weeks does not grow."""
        for call in [c for c in self.registry.calls.values()
                     if c.state != "active" and now - c.ended > grace_s]:
            for key in call.tracks:
                self.registry.rings.pop(key, None)
                self._wave_at.pop(key, None)
            del self.registry.calls[call.id]

    async def _node_gone(self, name: str) -> None:
        calls = [c for c in self.registry.calls.values()
                 if c.node == name and c.state == "active"]
        if not calls:
            return
        log.warning("node %s stopped answering: %d call(s) interrupted", name, len(calls))
        for call in calls:
            now = time.time()
            self.bus.deliver(StreamProblem(call.id, None, "node",
                                           f"node {name} stopped answering", now))
            call.state = "interrupted"
            call.ended = time.monotonic()
            self.bus.deliver(CallEnded(call.id, now, "interrupted"))
            await self._claim_interrupted(call.id, now)

    async def _claim_interrupted(self, call_id: str, at: float) -> None:
        """Whoever changes the call's summary first records the interruption for all."""
        kv = self.kv_calls
        key = self.subjects.call_key(call_id)
        with contextlib.suppress(Exception):
            entry = await kv.get(key)
            info = orjson.loads(entry.value)
            if info.get("state") != "active":
                return
            info.update(state="interrupted", ended_at=at)
            await kv.update(key, orjson.dumps(info), last=entry.revision)
            self.outbox.put(CallEnded(call_id, at, "interrupted"))

    # --- replica: the team's history in this console's store ------------------------------

    async def _start_replica(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        from console.store.writer import StoreWriter

        loop = asyncio.get_running_loop()
        self.replica = await loop.run_in_executor(
            None, lambda: StoreWriter(self.data_dir, record=False, retention_days=0))
        durable = "replica-" + hashlib.sha1(
            f"{socket.gethostname()}:{self.data_dir}".encode()).hexdigest()[:16]
        seen: dict[tuple[str, str, str], int] = {}

        async def on_msg(msg: Any) -> None:
            try:
                fact = decode(msg.data)
            except BadFact:
                await msg.ack()
                return
            key = (fact.node, fact.run, getattr(fact.event, "call_id", "") or "")
            if seen.get(key, 0) < fact.n:
                seen[key] = fact.n
                if len(seen) > MAX_SEEN:
                    seen.clear()
                self.replica.on_event(fact.event)
            await msg.ack()

        self._replica_sub = await self.js.subscribe(
            self.subjects.all_facts(), durable=durable, cb=on_msg, manual_ack=True,
            stream=FACTS_STREAM, config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
                max_ack_pending=20_000), pending_msgs_limit=100_000)

    # --- commands -------------------------------------------------------------------------

    async def request(self, node: str, payload: dict[str, Any],
                      timeout: float = 2.0) -> dict[str, Any]:
        """A command to `node`; its answer, or a refusal that says why none came."""
        if self.nc is None:
            return {"ok": False, "reason": f"Not connected to the team bus ({self.state})."}
        payload = {"console": self.console_id, "supervisor": self.supervisor, **payload}
        subject = (self.subjects.prompt(node) if payload.get("action") == "prompt"
                   else self.subjects.command(node))
        try:
            msg = await self.nc.request(subject, orjson.dumps(payload), timeout=timeout)
            answer = orjson.loads(msg.data)
            return answer if isinstance(answer, dict) else {"ok": False, "reason": "bad reply"}
        except Exception as exc:
            text = type(exc).__name__
            return {"ok": False, "reason": f"Node {node} did not answer ({text})."}

    async def play_prompt(self, call_id: str, pcm: Any, rate: int, mode: str = "whisper",
                          name: str = "prompt", supervisor: str = "") -> Route:
        """A recording played into a team call by the node that holds it (sent as MP3 in
        the node's prompt command); the route says where it goes, or why it cannot."""
        import base64

        from console.team.wire import prompt_mp3

        call = self.registry.calls.get(call_id)
        if call is None or call.state != "active" or not call.node:
            return Route((), f"Cannot play {name}: the call is not live.")
        try:
            data = await asyncio.to_thread(prompt_mp3, pcm, rate, name)
        except ValueError as exc:
            return Route((), f"Cannot play {name}: {exc}")
        answer = await self.request(call.node, {
            "action": "prompt", "call_id": call_id, "mode": mode, "name": name,
            "mp3": base64.b64encode(data).decode("ascii")}, timeout=10.0)
        if not answer.get("ok"):
            return Route((), str(answer.get("reason", f"Node {call.node} refused the prompt.")))
        return Route((call.node,), str(answer.get("route", f"played by node {call.node}")))

    async def stop_prompt(self, call_id: str, why: str = "stopped by the supervisor",
                          supervisor: str = "") -> bool:
        call = self.registry.calls.get(call_id)
        if call is None or not call.node:
            return False
        answer = await self.request(call.node, {"action": "prompt_stop", "call_id": call_id})
        return bool(answer.get("ok"))

    def fetch_audio(self, call_id: str, timeout: float = 60.0) -> bytes:
        """A recorded call's WAV from the team's object store (blocking: call it from a
        worker thread). NotRecorded says why there is none."""
        from console.store.export_wav import NotRecorded

        loop = self.loop
        if loop is None or self.js is None:
            raise NotRecorded(f"not connected to the team bus ({self.state})")
        return asyncio.run_coroutine_threadsafe(self._fetch_audio(call_id),
                                                loop).result(timeout)

    async def _fetch_audio(self, call_id: str) -> bytes:
        from console.team.recordings import fetch_recording

        call = self.registry.calls.get(call_id)
        return await fetch_recording(self.js, call_id,
                                     call is not None and call.state == "active")

    def set_focus(self, call_id: str | None) -> None:
        self._focus = call_id
        call = self.registry.calls.get(call_id or "")
        if call is not None and self.loop is not None:
            asyncio.run_coroutine_threadsafe(
                self.request(call.node, {"action": "focus", "call_id": call.id}), self.loop)

    def stats(self) -> EngineStats:
        live = [c for c in self.registry.calls.values() if c.state == "active"]
        nodes = [self.nodes[n] for n in self.alive_nodes()]

        def total(key: str) -> int:
            return sum(int(n.get(key, 0)) for n in nodes if isinstance(n.get(key), int))

        return EngineStats(streams=total("streams"), calls=len(live),
                           media_frames=total("frames"), missing_frames=total("lost"),
                           late_frames=0, duplicate_frames=0,
                           bad_frames=total("bad") + self.bad_facts,
                           bad_by_kind={}, rejected_handshakes=0, store_errors=0,
                           messages=self.facts_applied)


class TeamEngineThread:
    """The team engine on its own thread and loop, as EngineThread does for the engine."""

    def __init__(self, engine: TeamEngine) -> None:
        self.engine = engine
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="team", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("team engine did not start in time")

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.engine.start()
        self._ready.set()
        await self._stop.wait()
        await self.engine.stop()

    def stop(self, timeout: float = 10.0) -> None:
        loop = self.engine.loop
        if loop is not None and self._stop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
