"""`coach-console serve`: the engine with no window, logging call events as they happen."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from console.config import Settings
from console.core.events import (
    AlertRaised,
    CallEnded,
    CallEvent,
    CallStarted,
    DtmfReceived,
    MarkReceived,
    StreamClosed,
    StreamOpened,
    StreamProblem,
    TranscriptSegment,
)
from console.engine import Engine
from console.process_exit import arm_exit_watchdog

if TYPE_CHECKING:
    from console.team.node import TeamNode

__all__ = ["EventPrinter", "serve"]

STOP_DEADLINE_S = 4.5  # from SIGTERM to exit, whatever is stuck: supervisors wait about 5 s
EXIT_WATCHDOG_S = 3.0  # beyond that deadline, for a loop that cannot even run it


class EventPrinter:
    """One line per call event, flushed at once so a pipe sees it as it happens."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.started: dict[str, float] = {}

    def __call__(self, ev: CallEvent) -> None:
        line = self.format(ev)
        if line:
            stamp = time.strftime("%H:%M:%S")
            print(f"{stamp} {line}", file=self.out, flush=True)

    def format(self, ev: CallEvent) -> str | None:
        if isinstance(ev, CallStarted):
            self.started[ev.call_id] = ev.started_at
            return (f"call started  {ev.call_id} provider={ev.provider.value} "
                    f"from={ev.from_number or '-'} to={ev.to_number or '-'}")
        if isinstance(ev, StreamOpened):
            fmt = ev.media_format
            tracks = ",".join(t.value for t in ev.tracks) or "-"
            text = (f"stream open   {ev.stream_id} call={ev.call_id} "
                    f"{fmt.encoding}/{fmt.sample_rate} tracks={tracks} leg={ev.leg}")
            return text + (f" ERROR: {ev.codec_error}" if ev.codec_error else "")
        if isinstance(ev, StreamClosed):
            return (f"stream closed {ev.stream_id} call={ev.call_id} reason={ev.reason} "
                    f"frames={ev.frames} lost={ev.dropped}")
        if isinstance(ev, CallEnded):
            dur = ev.ended_at - self.started.pop(ev.call_id, ev.ended_at)
            return f"call {ev.state:<9} {ev.call_id} duration={dur:.1f}s"
        if isinstance(ev, DtmfReceived):
            return f"dtmf          {ev.call_id} digit={ev.digit} at={ev.at_s:.2f}s"
        if isinstance(ev, MarkReceived):
            return f"mark          {ev.call_id} name={ev.name}"
        if isinstance(ev, TranscriptSegment):
            who = ev.speaker.value
            verb = "said    " if ev.final else "saying  "  # tentative text, still being spoken
            return f"{verb}      {ev.call_id} {who:>8} @{ev.start_s:6.1f}s  {ev.text}"
        if isinstance(ev, AlertRaised):
            return f"ALERT         {ev.call_id} {ev.rule} ({ev.severity}): {ev.text}"
        if isinstance(ev, StreamProblem):
            return f"problem       {ev.call_id or '-'} {ev.kind}: {ev.message}"
        return None


async def _watch_transcription(engine: Engine, out: TextIO) -> None:
    """One line each time speech recognition changes state: a worker died (degraded), none
    is running (restarting), they keep failing, or all is well again."""

    def state(text: str) -> str:
        return text.split(":", 1)[0]  # "on", "on (degraded", "restarting", "failing", ...

    shown = engine.transcription
    shown_translation = engine.translation
    while True:
        await asyncio.sleep(0.25)
        now = engine.transcription
        if state(now) != state(shown):
            print(f"{time.strftime('%H:%M:%S')} transcription {now}", file=out, flush=True)
        shown = now
        if engine.translation != shown_translation:  # it starts (or fails) once
            shown_translation = engine.translation
            print(f"{time.strftime('%H:%M:%S')} translation {shown_translation}", file=out,
                  flush=True)


async def _stop(engine: Engine, node: TeamNode | None) -> None:
    await engine.stop()  # the calls' last facts (ended, interrupted) go out with the node
    if node is not None:
        await node.stop()


def serve(settings: Settings, out: TextIO = sys.stdout) -> int:
    try:
        return asyncio.run(_serve(settings, out))
    finally:
        faulthandler.cancel_dump_traceback_later()


async def _serve(settings: Settings, out: TextIO) -> int:
    engine = Engine(settings)
    engine.bus.subscribe(EventPrinter(out))
    engine.store_health_listeners.append(  # one line each time the store's health changes
        lambda h: print(f"{time.strftime('%H:%M:%S')} storage       {h.summary}", file=out,
                        flush=True))
    # Handlers go in before the banner: whoever reads it may signal at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await engine.start()
    node = None
    if settings.bus_url:
        from console.team.link import BusError, BusOptions
        from console.team.node import TeamNode

        node = TeamNode(engine, BusOptions.from_settings(settings), settings.node())
        try:
            await node.start()
        except BusError as exc:
            await engine.stop()
            print(f"coach-console: {exc}", file=sys.stderr, flush=True)
            return 2
    # Headless: the banner says how transcription really is, but SIGTERM does not wait for
    # the speech model to load.
    ready = asyncio.ensure_future(engine.transcription_ready())
    halt = asyncio.ensure_future(stop.wait())
    await asyncio.wait({ready, halt}, return_when=asyncio.FIRST_COMPLETED)
    halt.cancel()
    if engine.store.recovered:
        logging.getLogger("console").warning(
            "%d call(s) left open by an earlier run were marked interrupted",
            engine.store.recovered)
    print(f"Coach Console engine listening on {engine.url}", file=out)
    print("  Streams from Telnyx, Twilio, Plivo, Exotel, Vonage, SignalWire and Bandwidth are "
          "accepted on any path.", file=out)
    if settings.no_auth:
        print("  WARNING: --no-auth: any client that can reach this port may stream calls.",
              file=out)
    else:
        print(f"  Stream token: {settings.token}", file=out)
        print("  Telnyx: stream_auth_token=<token> (or append ?token=<token> to the URL)",
              file=out)
    if settings.public_url:
        print(f"  Public URL: {settings.public_url}", file=out)
    if (cc := engine.call_control) is not None:
        print(f"  Telnyx Call Control: {_call_control_line(cc)}", file=out)
    print(f"  Transcription: {engine.transcription}", file=out)
    if settings.translate:
        print(f"  Translation: {engine.translation}", file=out)
    print(f"  Data: {engine.data_dir}  recording={'on' if settings.record else 'off'}",
          file=out, flush=True)
    if node is not None:
        print(f"  Team bus: {node.opts.shown_url} as node {node.name} (team {node.opts.team}, "
              f"{node.state})", file=out, flush=True)
    watcher = asyncio.ensure_future(_watch_transcription(engine, out))
    await stop.wait()
    print("shutting down", file=out, flush=True)
    # Past the deadline below, the loop itself or the interpreter's exit is stuck: the stacks
    # go to stderr and the process ends anyway.
    arm_exit_watchdog(STOP_DEADLINE_S + EXIT_WATCHDOG_S)
    watcher.cancel()
    stopping = asyncio.ensure_future(_stop(engine, node))
    done, _ = await asyncio.wait({stopping}, timeout=STOP_DEADLINE_S)
    if not done:
        # Better an exit with what is stored so far than a process that never ends; the
        # speech workers end with this process (see console.analysis.stt.pool).
        logging.getLogger("console").error(
            "shutdown did not finish within %.1f s; exiting without waiting further",
            STOP_DEADLINE_S)
        with contextlib.suppress(OSError, ValueError):
            out.flush()
            sys.stderr.flush()
        os._exit(1)
    stopping.result()  # an error in stop() is raised as before
    ready.cancel()
    stats = engine.stats()
    print(f"stopped: {stats.media_frames} media frames, {stats.missing_frames} lost, "
          f"{stats.bad_frames} bad frames, {stats.rejected_handshakes} refused connections",
          file=out, flush=True)
    return 0


def _call_control_line(cc: Any) -> str:
    parts = [f"webhooks at {cc.webhook_url}" if cc.server is not None
             else "webhooks off (no public key)"]
    if cc.api is None:
        parts.append("no API key: streams are not started and phone legs are off")
    else:
        how = cc.settings.stream_on_answer
        parts.append("streams start on answered incoming calls" if how == "incoming" else
                     "streams start on every answered call" if how == "all" else
                     "streams are not started from webhooks")
        if missing := cc.ready():
            parts.append("phone legs need: " + missing.removeprefix("Set ").removesuffix(
                " in Settings > Telnyx."))
    return "; ".join(parts)
