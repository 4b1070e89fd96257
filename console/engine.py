"""The engine: stream server, protocol adapters, call registry, bus and store writer on one
asyncio loop. Headless `serve` runs it on the main thread; the GUI runs it on its own thread
(`EngineThread`) and reads ring buffers and batched bus events from there."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from console.config import Settings
from console.core.bus import EventBus
from console.core.events import (
    CallEnded,
    Command,
    SendClear,
    SendMedia,
    StreamProblem,
    SupervisorAction,
)
from console.core.reach import InjectionDefaults
from console.core.registry import CallRegistry, StreamState
from console.core.roles import RoleRules
from console.protocol.base import FrameError
from console.protocol.detect import encoder_for
from console.server.auth import AuthPolicy, check_handshake
from console.server.limits import StreamLimits
from console.server.logmask import protect_secrets
from console.server.session import StreamSession
from console.store.files import DataDirLocked, lock_data_dir, private_dir
from console.store.writer import StoreHealth, StoreWriter
from console.supervisor.outbound import OutboundQueue, deliver
from console.supervisor.routes import Route

if TYPE_CHECKING:
    from console.analysis.pipeline import AnalysisPipeline
    from console.analysis.scorecard import ScorecardService
    from console.callcontrol.control import CallControl

__all__ = ["DataDirLocked", "Engine", "EngineStats", "EngineThread"]

log = logging.getLogger("console.engine")

# Settings fields -> the alert thresholds they set.
_ALERT_SETTINGS = (("alert_silence_s", "long_silence_s"), ("alert_overtalk_s", "overtalk_s"),
                   ("alert_sentiment_below", "sentiment_below"))


@dataclass
class EngineStats:
    streams: int
    calls: int
    media_frames: int
    missing_frames: int
    late_frames: int
    duplicate_frames: int
    bad_frames: int
    bad_by_kind: dict[str, int]
    rejected_handshakes: int
    store_errors: int
    messages: int  # every frame received, good or bad
    pending: int = 0  # sockets connected that have not sent their start frame yet
    start_timeouts: int = 0  # sockets closed for sending no start frame in time
    evicted_pending: int = 0  # sockets closed unstarted because max_pending newer ones came
    refused_starts: int = 0  # start frames refused: max_streams streams already started
    unrecognised: int = 0  # sockets closed: their first frames are no platform's protocol
    store_health: str = "ok"  # StoreHealth.summary: ok, or degraded/failed and why
    store_dropped: int = 0  # call events and audio frames the store could not keep


class Engine:
    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus or EventBus()
        self.data_dir = settings.data_path()
        private_dir(self.data_dir)  # 0700 from creation: it holds calls and recordings
        self._lock_file = self._lock_data_dir()
        self._raise_file_limit()
        self.store = StoreWriter(self.data_dir, record=settings.record,
                                 retention_days=settings.retention_days)
        self.bus.subscribe(self.store.on_event)
        # Storage trouble: a problem on the calls concerned, and listeners (serve's stdout).
        self.store_health_listeners: list[Callable[[StoreHealth], None]] = []
        self.store.on_health = self._on_store_health
        self.store.on_problem = self._on_store_problem
        self.registry = CallRegistry(
            self.bus,
            RoleRules.from_patterns(settings.agent_endpoints),
            recorder=self.store if settings.record else None,
            jitter_depth=settings.jitter_frames,
            l16_byte_order=settings.l16_byte_order,
        )
        self.registry.node = settings.node() if settings.bus_url else ""
        self.registry.injection_defaults = InjectionDefaults(
            settings.telnyx_target_legs, settings.telnyx_bidirectional_codec,
            settings.telnyx_bidirectional_rate, settings.telnyx_bidirectional_mode)
        self.auth = AuthPolicy(settings.token, settings.no_auth, settings.public_url,
                               settings.twilio_auth_token)
        protect_secrets(settings.token, settings.twilio_auth_token,  # never in a log line
                        settings.telnyx_api_key)
        self.limits = StreamLimits(settings.max_streams, settings.max_pending,
                                   settings.start_timeout_s)
        self.sessions: set[StreamSession] = set()
        self.rejected_handshakes = 0
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._connections: dict[StreamSession, ServerConnection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._messages_done = 0
        self.pipeline: AnalysisPipeline | None = None
        self.scorecards: ScorecardService | None = None  # checklists filled at call end
        self._stt_task: asyncio.Task[None] | None = None
        self._stt_pool: Any = None  # the speech pool from its start on: stop() may abort it
        self._focus: str | None = None
        self._prompts: dict[str, list[asyncio.Task[int]]] = {}
        self._prompt_until: dict[str, float] = {}  # call id -> when its prompt ends playing
        self.call_control: CallControl | None = None
        self.transcription = "off" if not settings.transcribe else "starting"
        self.translation = "off" if not settings.translate else "starting"

    @staticmethod
    def _raise_file_limit() -> None:
        # Each recorded track keeps two files open; desktops often start with 1024.
        try:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
            if soft < want:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ImportError, ValueError, OSError):
            pass

    def _lock_data_dir(self) -> Any:
        return lock_data_dir(self.data_dir)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.loop = asyncio.get_running_loop()
        # Decode once the loop has read what the sockets hold: batches grow with the load.
        self.registry.schedule = self.loop.call_soon
        self.registry.later = self.loop.call_later
        if s.redaction:
            from console.analysis.redaction import DtmfRedactor

            self.registry.keypad_filter = DtmfRedactor
        try:
            self._server = await serve(
                self._handle,
                s.host,
                s.port,
                process_request=self._process_request,
                compression=None,  # deflate costs CPU per frame and audio does not compress
                max_size=s.hard_max_message_bytes,
                max_queue=64,
                open_timeout=s.handshake_timeout_s,
                ping_interval=s.ping_interval_s,
                ping_timeout=s.ping_interval_s,
                close_timeout=5,
                server_header="CoachConsole",
                ssl=self._tls_context(),
            )
        except BaseException:
            # A start that fails (port in use...) leaves nothing behind: the data folder's
            # lock and the store writer go, so an engine with other settings can start.
            if s.transcribe:
                self.transcription = "off: the stream server did not start"
            await self.stop()
            raise
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        if s.telnyx_api_key or s.telnyx_public_key:
            from console.callcontrol.control import CallControl

            self.call_control = CallControl(s, self.registry, self.bus)
            try:
                await self.call_control.start(self._tls_context())
            except BaseException:
                await self.stop()
                raise
        self._watchdog = asyncio.create_task(self._watch_idle())
        if s.meaning:
            self._start_scorecards()
        if s.transcribe:
            # Workers take a second or two to load their model: the server (and the window
            # waiting on it) does not wait for them; calls start getting text once they are up.
            self._stt_task = asyncio.create_task(self._start_transcription())

    @property
    def transcription(self) -> str:
        """Speech recognition's status: "off: why", "starting", "on: model (source)"; once
        on, what the speech workers' health makes of it ("on (degraded: ...)", "restarting:
        ...", "failing: ..."), never "on" while no worker can take work."""
        pipeline = self.pipeline
        pool = pipeline.pool if pipeline is not None else None
        if pool is None or not self._transcription.startswith("on"):
            return self._transcription
        return str(pool.status(self._transcription))

    @transcription.setter
    def transcription(self, value: str) -> None:
        self._transcription = value

    async def transcription_ready(self) -> str:
        """Wait until speech recognition is up (or known to be off); its status."""
        if self._stt_task is not None:
            await asyncio.shield(self._stt_task)
        return self.transcription

    async def _start_transcription(self) -> None:
        """Speech workers load their model in the background; the engine runs without them
        (and says why) when no model can be found or loaded."""
        from console.analysis.alerts import AlertSettings, load_rules
        from console.analysis.pipeline import AnalysisPipeline
        from console.analysis.stt.models import ModelMissing, ModelPlace, find_model, how_to_add
        from console.analysis.stt.pool import SttPool
        from console.analysis.topics import DEFAULT_TOPICS, Topic, load_topics
        from console.analysis.vad import VadSettings, VadUnavailable, silero_session

        s = self.settings

        def configure() -> tuple[ModelPlace, AlertSettings, tuple[Topic, ...]]:
            # Off the loop: finding a model may import packages or join a split model file.
            # Without a shipped or configured model, faster-whisper may fetch one by name
            # (a machine with internet); if that fails too, the message says how to add one.
            place = find_model(s.stt_engine, s.stt_model_path, allow_download=True)
            if s.vad_engine == "silero":
                silero_session()  # a missing model or runtime is said now, not per call
            alerts = load_rules(Path(s.alerts_file)) if s.alerts_file else AlertSettings()
            # The rules file's thresholds stand unless the supervisor changed one in Settings.
            defaults = Settings()
            changed = {name: getattr(s, field) for field, name in _ALERT_SETTINGS
                       if getattr(s, field) != getattr(defaults, field)}
            topics = load_topics(Path(s.topics_file)) if s.topics_file else DEFAULT_TOPICS
            return place, dataclasses.replace(alerts, **changed), topics

        assert self.loop is not None
        try:
            place, alerts, topics = await self.loop.run_in_executor(None, configure)
        except (ModelMissing, VadUnavailable, OSError, ValueError, KeyError, re.error) as exc:
            self.transcription = f"off: {exc}"
            log.warning("transcription is off: %s", exc)
            return
        if self._stopping:  # stopped while the model was being found: start no workers
            self.transcription = "off: stopped"
            return
        pipeline = AnalysisPipeline(self.bus, self.loop, redaction=s.redaction, alerts=alerts,
                                    vad=VadSettings(engine=s.vad_engine),
                                    meaning=s.meaning, topics=topics)
        # A second thread speeds one decode of tiny.en by only about 10 %, while a second
        # worker runs a whole batch beside the first: on two cores, two single-threaded
        # workers. More cores give each worker a second thread.
        threads = max(1, min(2, (os.cpu_count() or 2) // max(1, s.stt_workers)))
        pool = SttPool(str(place.path or place.name), pipeline.on_text,
                       workers=s.stt_workers, threads=threads)
        pipeline.pool = pool
        self._stt_pool = pool
        pipeline.set_focus(self._focus)
        # Voice detection starts while the workers load their model (seconds): what is said
        # meanwhile waits in the queue instead of being lost.
        self.registry.add_tap(pipeline)
        try:
            await self.loop.run_in_executor(None, pool.start)
        except RuntimeError as exc:
            self.registry.remove_tap(pipeline)
            pipeline.pool = None
            if self._stopping:  # stop() cut the start short: nothing to report
                self.transcription = "off: stopped"
                return
            hint = f"; {how_to_add(place.name)}" if place.path is None else ""
            self.transcription = f"off: {exc}{hint}"
            log.error("transcription is off: %s%s", exc, hint)
            return
        self.pipeline = pipeline
        self.bus.subscribe(lambda e: pipeline.call_ended(e.call_id)
                           if isinstance(e, CallEnded) else None)
        self.transcription = f"on: {place.name} ({place.source})"
        if s.translate:
            await self._start_translation(pipeline, threads)

    async def _start_translation(self, pipeline: AnalysisPipeline, threads: int) -> None:
        """A multilingual worker (Whisper base) for speakers of other languages; without the
        model, English transcription goes on and the status says why."""
        from console.analysis.stt.models import ModelMissing, find_model, how_to_add
        from console.analysis.stt.pool import SttPool

        assert self.loop is not None
        try:
            place = await self.loop.run_in_executor(
                None, lambda: find_model("faster-whisper:base", allow_download=True))
        except (ModelMissing, OSError) as exc:
            self.translation = f"off: {exc}"
            log.warning("translation is off: %s (%s)", exc, how_to_add("base"))
            return
        pool = SttPool(str(place.path or place.name), pipeline.on_translated, workers=1,
                       threads=threads, mode="translate")
        try:
            await self.loop.run_in_executor(None, pool.start)
        except RuntimeError as exc:
            self.translation = f"off: {exc}"
            log.error("translation is off: %s", exc)
            return
        if self._stopping or self.pipeline is not pipeline:
            pool.close()
            return
        pipeline.translator = pool
        self.translation = f"on: into English ({place.name}, {place.source})"

    async def stop(self) -> None:
        self._stopping = True
        if self._stt_task is not None:
            if not self._stt_task.done() and self._stt_pool is not None:
                self._stt_pool.request_stop()  # workers still loading: no waiting for them
            await self._stt_task  # a pool half started would leave worker processes behind
        if self.pipeline is not None:
            self.registry.remove_tap(self.pipeline)
            await asyncio.get_running_loop().run_in_executor(None, self.pipeline.close)
            self.transcription = "off: stopped"
        if self._watchdog:
            self._watchdog.cancel()
        if self.call_control is not None:
            await self.call_control.stop()
        for session in list(self.sessions):
            session.close("shutdown")
        if self._server is not None:
            self._server.close()
            # A peer that never answers the close handshake would hold shutdown for the
            # close timeout (5 s); SIGTERM to exit stays under 5 s (see console.headless).
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.5)
            except TimeoutError:
                for conn in list(self._connections.values()):
                    conn.transport.abort()  # else their close would still hold the exit
        self.registry.close_all("shutdown")
        if self.scorecards is not None:  # calls just ended are scored before the store closes
            await asyncio.get_running_loop().run_in_executor(None, self.scorecards.close)
            await asyncio.sleep(0)  # their scorecards reach the bus (and the store's queue)
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
        with contextlib.suppress(OSError):
            self._lock_file.close()

    def _tls_context(self) -> ssl.SSLContext | None:
        """wss:// served directly (a node at a public address), when a certificate is set."""
        s = self.settings
        if not s.tls_cert:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(s.tls_cert, s.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise OSError(f"cannot use TLS certificate {s.tls_cert}: {exc}") from None
        return ctx

    @property
    def url(self) -> str:
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        scheme = "wss" if self.settings.tls_cert else "ws"
        return f"{scheme}://{shown}:{self.port}/stream"

    # --- connections ----------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        peer = _peer(conn)
        if not self.limits.handshake_allowed():  # only started streams hold a slot
            self.rejected_handshakes += 1
            log.warning("refused %s: %d streams already started (max_streams)", peer,
                        self.limits.started)
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many streams\n")
        result = check_handshake(self.auth, request.path, _headers(request.headers))
        if result.ok:
            return None
        self.rejected_handshakes += 1
        log.warning("refused %s on %s: HTTP %d, %s", peer, request.path.split("?")[0],
                    result.status, result.reason)
        return conn.respond(HTTPStatus(result.status), result.reason + "\n")

    async def _handle(self, conn: ServerConnection) -> None:
        sender = _sender(conn)
        session = StreamSession(self.registry, _peer(conn), self.settings.max_message_bytes,
                                sender)
        self.sessions.add(session)
        self._connections[session] = conn
        self.limits.opened(session, conn)
        reason = "closed"
        try:
            async for message in conn:
                if self._stopping:
                    break
                session.handle(message)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            if rcvd is not None and rcvd.code == 1009:
                log.warning("%s sent a frame over %d bytes; socket closed",
                            session.peer, self.settings.hard_max_message_bytes)
        finally:
            sender.close()  # its task ends with the connection
            if getattr(conn, "_idle", False):
                reason = "idle"
            session.close(reason)
            self._messages_done += session.messages
            self.sessions.discard(session)
            self._connections.pop(session, None)
            self.limits.closed(session)

    async def _watch_idle(self) -> None:
        limit = self.settings.idle_timeout_s
        seen: dict[StreamSession, tuple[int, float]] = {}
        while True:
            await asyncio.sleep(min(1.0, limit / 4, self.settings.start_timeout_s / 4))
            self.registry.forget_ended()
            self.limits.enforce()
            now = time.monotonic()
            for session, conn in list(self._connections.items()):
                count, since = seen.get(session, (-1, now))
                if session.messages != count:
                    seen[session] = (session.messages, now)
                elif now - since > limit:
                    log.warning("%s sent nothing for %.0f s; closing", session.peer, limit)
                    conn._idle = True  # type: ignore[attr-defined]
                    seen[session] = (count, now)
                    self._tasks.add(task := asyncio.create_task(conn.close(1000, "idle")))
                    task.add_done_callback(self._tasks.discard)
            for gone in [s for s in seen if s not in self._connections]:
                del seen[gone]

    # --- commands into calls (whisper, marks) -------------------------------------------

    def send_command(self, stream: StreamState, command: Command) -> bool:
        """Thread-safe: encode `command` for the stream's provider and send it."""
        session = next((s for s in list(self.sessions) if s.stream is stream), None)
        if session is None or stream.sender is None or stream.closed:
            return False
        inj = stream.injection
        try:
            text = encoder_for(stream.provider, inj.codec if inj else "PCMU",
                               inj.rate if inj else 8000, stream.media_format)(
                command, stream.stream_id)
        except FrameError as exc:  # e.g. a mark on a platform that has none
            log.info("not sent on stream %s: %s", stream.uid, exc)
            return False
        assert self.loop is not None
        # Audio may be dropped when the peer falls behind; a mark or clear may not.
        self.loop.call_soon_threadsafe(deliver, stream.sender, text,
                                       isinstance(command, SendMedia))
        return True

    # --- prompts (recorded messages, standard notices) ----------------------------------

    async def play_prompt(self, call_id: str, pcm: Any, rate: int, mode: str = "whisper",
                          name: str = "prompt", supervisor: str = "") -> Route:
        """Play `pcm` into the call: to the agent alone (whisper) or to both (barge), as the
        call's streams take it (MP3 files on a Telnyx MP3-mode stream, frames otherwise).
        On the engine loop; the route says where it goes, or why it cannot."""
        from console.supervisor import prompts
        from console.supervisor.routes import StreamReach, route

        call = self.registry.calls.get(call_id)
        if call is None or call.state != "active":
            return Route((), f"Cannot play {name}: the call is not live.")
        streams = {s.uid: s for s in call.open_streams}
        r = route(mode, [StreamReach(uid, s.injection, s.sender is not None)
                         for uid, s in streams.items()], live=False)
        audit = self.bus.publish
        if not r.ok:
            audit(SupervisorAction(call_id, "prompt_refused", time.time(), r.reason,
                                   supervisor))
            return r
        await self.stop_prompt(call_id, "another prompt started", supervisor)
        order = self.settings.l16_byte_order
        tasks = []
        for uid in r.streams:
            stream = streams[uid]
            assert stream.injection is not None
            items = prompts.schedule(pcm, rate, stream.injection,
                                     order if order != "auto" else "big")
            tasks.append(asyncio.create_task(prompts.play(
                items, functools.partial(self.send_command, stream))))
        self._prompts[call_id] = tasks
        # Files already sent keep playing on the platform's side after the tasks end.
        now = time.monotonic()
        self._prompt_until = {k: t for k, t in self._prompt_until.items() if t > now}
        self._prompt_until[call_id] = now + len(pcm) / rate + 1.0
        kinds = {s.injection.mode for s in (streams[uid] for uid in r.streams) if s.injection}
        audit(SupervisorAction(call_id, "prompt_start", time.time(),
                               f"{name}, {len(pcm) / rate:.1f} s ({'/'.join(sorted(kinds))}), "
                               f"{r.reason}", supervisor))

        def finished(_t: asyncio.Task[int]) -> None:
            if self._prompts.get(call_id) is tasks and all(t.done() for t in tasks):
                del self._prompts[call_id]
                if not any(t.cancelled() for t in tasks):
                    audit(SupervisorAction(call_id, "prompt_end", time.time(), name,
                                           supervisor))
        for task in tasks:
            task.add_done_callback(finished)
        return r

    async def stop_prompt(self, call_id: str, why: str = "stopped by the supervisor",
                          supervisor: str = "") -> bool:
        """Stop a prompt playing on the call, and what the platform still holds of it."""
        tasks = self._prompts.pop(call_id, None) or []
        until = self._prompt_until.pop(call_id, 0.0)
        if not tasks and until < time.monotonic():
            return False
        for task in tasks:
            task.cancel()
        call = self.registry.calls.get(call_id)
        for stream in call.open_streams if call is not None else []:
            self.send_command(stream, SendClear())
        self.bus.publish(SupervisorAction(call_id, "prompt_stop", time.time(), why,
                                          supervisor))
        return True

    def _start_scorecards(self) -> None:
        """Scorecards follow the bus on a thread of their own (the model loads there); a
        checklist that cannot be read leaves them off, and says why."""
        from console.analysis.scorecard import ScorecardService, checklist_from_settings

        loop = self.loop
        assert loop is not None
        try:
            checklist = checklist_from_settings(self.settings.scorecard_file)
        except (OSError, ValueError) as exc:
            log.warning("scorecards are off: %s", exc)
            return

        def publish(event: Any) -> None:  # from the scorecards' thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the engine is gone
                loop.call_soon_threadsafe(self.bus.publish, event)

        self.scorecards = ScorecardService(checklist, publish).start()
        self.scorecards.focus = self._focus
        self.bus.subscribe(self.scorecards.on_event)

    def set_focus(self, call_id: str | None) -> None:
        """The call the supervisor is looking at: it gets tentative text (thread-safe)."""
        self._focus = call_id
        if self.scorecards is not None:
            self.scorecards.focus = call_id
        if self.pipeline is not None:
            self.pipeline.set_focus(call_id)

    def stats(self) -> EngineStats:
        # Called from the UI thread too: copy containers in one C-level step before walking.
        c = self.registry.counters
        sessions = list(self.sessions)
        return EngineStats(
            streams=len(sessions),
            calls=len(self.registry.active_calls()),
            media_frames=c.media_frames,
            missing_frames=c.missing_frames,
            late_frames=c.late_frames,
            duplicate_frames=c.duplicate_frames,
            bad_frames=c.bad_frames,
            bad_by_kind=dict(c.bad_by_kind),
            rejected_handshakes=self.rejected_handshakes,
            store_errors=self.store.error_count,
            messages=self._messages_done + sum(s.messages for s in sessions),
            pending=self.limits.pending,
            start_timeouts=self.limits.start_timeouts,
            evicted_pending=self.limits.evicted_pending,
            refused_starts=self.limits.refused_starts,
            unrecognised=self.limits.unrecognised,
            store_health=(health := self.store.health).summary,
            store_dropped=health.dropped_events + health.dropped_frames,
        )

    @property
    def store_health(self) -> StoreHealth:
        """The store writer's health: ok, degraded (and why) or failed."""
        return self.store.health

    def _on_store_health(self, health: StoreHealth) -> None:
        self._to_loop(self._store_health_changed, health)  # from the writer thread

    def _store_health_changed(self, health: StoreHealth) -> None:
        for listener in list(self.store_health_listeners):
            try:
                listener(health)
            except Exception:
                log.exception("store health listener failed")

    def _on_store_problem(self, call_id: str, kind: str, message: str) -> None:
        self._to_loop(self.bus.publish,
                      StreamProblem(call_id, None, kind, message, time.time()))

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
                loop.call_soon_threadsafe(fn, *args)


def _sender(conn: ServerConnection) -> OutboundQueue:
    # One bounded queue and one task per stream, not a task per frame (supervisor/outbound).
    return OutboundQueue(conn.send, name=_peer(conn))


def _peer(conn: ServerConnection) -> str:
    addr = conn.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def _headers(headers: Headers) -> list[tuple[str, str]]:
    # Every pair as received: a credential header sent twice must be seen (and refused).
    return list(headers.raw_items())


class EngineThread:
    """The engine on its own thread and loop, for the GUI."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("engine did not start in time")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.engine.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.engine.stop()

    def stop(self, timeout: float = 15.0) -> None:
        loop = self.engine.loop
        if loop is not None and self._stop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

