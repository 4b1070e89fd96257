"""The supervisor's ears and voice on a call: listen, whisper (agent alone), barge (both).

Everything here runs on the engine's loop; the window calls the public methods from its own
thread and they hop over. What the window shows comes from `state`, an immutable snapshot
replaced whole on every change, and from `mic_level_db`. Every start, stop and refusal goes to
the call's audit trail as a SupervisorAction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from console.audio.devices import AudioDeviceError
from console.audio.mic import MicInput
from console.audio.player import ListenOutput
from console.audio.transmit import FRAME_S, FrameEncoder, NoiseGate, level_of
from console.core.events import (
    CallEnded,
    CallEvent,
    SendClear,
    SendMedia,
    StreamProblem,
    SupervisorAction,
)
from console.protocol.detect import encoder_for
from console.supervisor.outbound import OutboundQueue, deliver
from console.supervisor.routes import BARGE, WHISPER, Route, StreamReach, route

if TYPE_CHECKING:
    from console.core.registry import StreamState
    from console.engine import Engine

__all__ = ["AudioState", "SupervisorAudio"]

log = logging.getLogger("console.supervisor")

PTT_HANG_S = 0.2  # speech trails the key a little: keep sending this long after release
MIC_IDLE_S = 10.0  # the microphone closes this long after the last whisper or barge
WATCH_S, STALL_TICKS = 0.5, 3  # a device silent for 1.5 s has stopped


@dataclass(frozen=True)
class AudioState:
    listening: str | None = None  # call id
    talking: str | None = None  # call id
    talk_mode: str | None = None  # "whisper" | "barge"
    push_to_talk: bool = False
    route: str = ""  # where the voice goes, in words
    message: str = ""  # the last refusal or device problem, for the screen
    message_call: str | None = None

    def mode_of(self, call_id: str) -> str:
        """"barging", "whispering", "listening" or ""."""
        if self.talking == call_id and self.talk_mode == BARGE:
            return "barging"
        if self.talking == call_id and self.talk_mode == WHISPER:
            return "whispering"
        if self.listening == call_id:
            return "listening"
        return ""


@dataclass
class _Target:
    stream: StreamState
    encoder: FrameEncoder
    encode: Callable[..., str | bytes]
    dropped_before: int = 0  # the stream's sender had dropped this many before this talk

    def dropped(self) -> int:
        """Frames of this talk the stream's sender dropped (its peer fell behind)."""
        sender = self.stream.sender
        if isinstance(sender, OutboundQueue):
            return sender.dropped - self.dropped_before
        return 0


class SupervisorAudio:
    def __init__(self, engine: Engine, *, output_device: str = "", input_device: str = "",
                 channel_mode: str = "mix", volume: float = 1.0, gate_db: float = -50.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.loop: asyncio.AbstractEventLoop | None = engine.loop
        self.output = ListenOutput(output_device or None, mode=channel_mode, volume=volume)
        self.mic = MicInput(input_device or None)
        self.gate = NoiseGate(gate_db)
        self.clock = clock
        self.supervisor = engine.settings.supervisor()
        self.state = AudioState()
        self.mic_level_db = -120.0
        self.frames_sent = 0
        self.frames_dropped = 0  # whisper/barge frames dropped by a peer's full send queue
        self._targets: list[_Target] = []
        self._mic_reading = False
        self._hang: asyncio.TimerHandle | None = None
        self._mic_idle: asyncio.TimerHandle | None = None
        self._watch: asyncio.Task[None] | None = None
        self._unsubscribe = engine.bus.subscribe(self._on_event)
        self._closed = False

    # --- from any thread ------------------------------------------------------------------

    def request(self, call_id: str | None, action: str) -> None:
        """`action`: listen, listen_off, listen_toggle, whisper, whisper_off, whisper_toggle,
        ptt_down, ptt_up, barge, barge_off, barge_toggle, stop."""
        loop = self.loop
        if loop is None or self._closed:
            return
        loop.call_soon_threadsafe(self._handle, call_id, action)

    def set_volume(self, volume: float) -> None:
        self.output.set_volume(volume)  # one float read by the callback: safe from any thread

    def set_channel_mode(self, mode: str) -> None:
        self.output.mode = mode

    def close(self) -> None:
        """Stops everything and releases the devices (waits for the engine loop)."""
        loop = self.loop
        if self._closed:
            return
        if loop is None or not loop.is_running() or _on_loop(loop):
            self._shutdown()
            return
        done = asyncio.run_coroutine_threadsafe(self._close(), loop)
        try:
            done.result(5)
        except Exception as exc:  # a stuck device must not hold the app open
            log.warning("closing audio: %s", exc)

    # --- engine loop ----------------------------------------------------------------------

    async def _close(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self._stop_all("console closing")
        self._closed = True
        self._unsubscribe()
        if self._watch is not None:
            self._watch.cancel()
        self.output.close()
        self.mic.dispose()

    def _handle(self, call_id: str | None, action: str) -> None:
        try:
            self._dispatch(call_id, action)
        except Exception as exc:  # never let a device problem take the engine down
            log.exception("supervisor audio: %s failed", action)
            self._set(message=f"{action} failed: {exc}", message_call=call_id)

    def _dispatch(self, call_id: str | None, action: str) -> None:
        s = self.state
        if action == "stop":
            self._stop_all("stopped by the supervisor")
            return
        if call_id is None:
            return
        if action == "listen_toggle":
            action = "listen_off" if s.listening == call_id else "listen"
        elif action in ("whisper_toggle", "barge_toggle"):
            mode = action.split("_")[0]
            on = s.talking == call_id and s.talk_mode == mode and not s.push_to_talk
            action = f"{mode}_off" if on else mode
        if action == "listen":
            self._listen(call_id)
        elif action == "listen_off":
            self._stop_listen("stopped by the supervisor")
            if s.talking == call_id:
                self._stop_talk("listening stopped")
        elif action in (WHISPER, BARGE):
            self._cancel_hang()
            self._talk(call_id, action, push_to_talk=False)
        elif action in ("whisper_off", "barge_off"):
            if s.talking == call_id and s.talk_mode == action.split("_")[0]:
                self._stop_talk("stopped by the supervisor")
        elif action == "ptt_down":
            if self._cancel_hang() and s.talking == call_id:
                return  # pressed again inside the release hang: carry on
            if s.talking == call_id and not s.push_to_talk:
                return  # already whispering or barging by toggle
            self._talk(call_id, WHISPER, push_to_talk=True)
        elif (action == "ptt_up" and s.talking == call_id and s.push_to_talk
              and self.loop is not None):
            self._cancel_hang()
            self._hang = self.loop.call_later(
                PTT_HANG_S, lambda: self._stop_talk("push-to-talk released"))

    def _cancel_hang(self) -> bool:
        if self._hang is not None:
            self._hang.cancel()
            self._hang = None
            return True
        return False

    def _set(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]

    def _audit(self, call_id: str, action: str, detail: str = "") -> None:
        self.engine.bus.publish(SupervisorAction(call_id, action, time.time(), detail,
                                                 self.supervisor))

    # --- listening ------------------------------------------------------------------------

    def _listen(self, call_id: str) -> bool:
        if self.state.listening == call_id and self.output.running:
            return True
        call = self.engine.registry.calls.get(call_id)
        if call is None or call.state != "active":
            self._set(message="That call has ended.", message_call=call_id)
            return False
        if not self._output_ready(call_id):
            return False
        previous = self.state.listening
        history: dict[str, tuple[str, object]] = {}
        for stream in call.open_streams:
            for track in stream.tracks.values():
                history.setdefault(track.role.value, (track.key, track.ring))
        self.output.select(call_id, history)  # type: ignore[arg-type]
        self.engine.registry.add_tap(self.output)
        if previous and previous != call_id:
            self._audit(previous, "listen_stop", f"switched to call {call_id}")
        self._audit(call_id, "listen_start", f"on {self.output.device_name()} ({self.output.mode})")
        self._set(listening=call_id, message="", message_call=None)
        self._ensure_watch()
        return True

    def _output_ready(self, call_id: str) -> bool:
        """The speakers open (or why not, on screen and in the audit trail), and any talk on
        another call stopped: coaching a call one cannot hear makes no sense."""
        if not self.output.running:
            try:
                self.output.close()
                self.output.open()
            except AudioDeviceError as exc:
                self._set(message=f"Cannot listen: {exc}", message_call=call_id)
                self._audit(call_id, "listen_failed", str(exc))
                return False
        if self.state.talking not in (None, call_id):
            self._stop_talk(f"listening switched to call {call_id}")
        return True

    def _mic_ready(self, call_id: str, mode: str) -> bool:
        """The microphone open and read (or why not), from now on."""
        if not self.mic.running:
            try:
                self.mic.close()
                self.mic.open()
            except AudioDeviceError as exc:
                self._set(message=f"Cannot {mode}: {exc}", message_call=call_id)
                self._audit(call_id, f"{mode}_failed", str(exc))
                return False
        self._start_mic_reader()
        self._cancel_mic_idle()
        return True

    def _stop_listen(self, why: str) -> None:
        call_id = self.state.listening
        if call_id is None:
            return
        self.engine.registry.remove_tap(self.output)
        self.output.select(None, {})
        self.output.close()
        self._audit(call_id, "listen_stop", why)
        self._set(listening=None)

    # --- whisper and barge ----------------------------------------------------------------

    def _route(self, call_id: str, mode: str) -> tuple[Route, dict[str, StreamState]]:
        call = self.engine.registry.calls.get(call_id)
        if call is None or call.state != "active":
            return Route((), f"Cannot {mode}: the call has ended."), {}
        streams = {s.uid: s for s in call.open_streams}
        reach = [StreamReach(uid, s.injection, s.sender is not None) for uid, s in streams.items()]
        return route(mode, reach), streams

    def _talk(self, call_id: str, mode: str, *, push_to_talk: bool) -> None:
        s = self.state
        if s.talking is not None and (s.talking != call_id or s.talk_mode != mode):
            self._stop_talk(f"switched to {mode}")
        r, streams = self._route(call_id, mode)
        if not r.ok:
            self._set(message=r.reason, message_call=call_id)
            self._audit(call_id, f"{mode}_refused", r.reason)
            return
        if not self._mic_ready(call_id, mode):
            return
        targets = []
        for uid in r.streams:
            stream = streams[uid]
            inj = stream.injection
            assert inj is not None
            try:
                order = self.engine.settings.l16_byte_order
                enc = FrameEncoder(inj.codec, inj.rate, self.mic.rate,
                                   inj.byte_order or (order if order != "auto" else "big"))
            except Exception as exc:
                self._set(message=f"Cannot {mode}: {exc}", message_call=call_id)
                self._audit(call_id, f"{mode}_failed", str(exc))
                self._close_mic()
                return
            sender = stream.sender
            before = sender.dropped if isinstance(sender, OutboundQueue) else 0
            targets.append(_Target(stream, enc, encoder_for(stream.provider, inj.codec, inj.rate,
                                                             stream.media_format), before))
        self.mic.skip_to_now()  # only what is said from now on
        self.gate.reset()
        self._targets = targets
        if self.state.listening != call_id and not self._listen(call_id):
            pass  # whispering without hearing the call still works; the message says why
        self._audit(call_id, f"{mode}_start",
                    ("push-to-talk; " if push_to_talk else "") + r.reason)
        self._set(talking=call_id, talk_mode=mode, push_to_talk=push_to_talk, route=r.reason,
                  **({} if self.state.message_call == call_id and self.state.message else
                     {"message": "", "message_call": None}))
        self._ensure_watch()

    def _stop_talk(self, why: str) -> None:
        self._cancel_hang()
        s = self.state
        if s.talking is None:
            return
        targets, self._targets = self._targets, []
        dropped = 0
        for t in targets:
            # Whatever the platform still holds of the supervisor's voice stops now.
            self._send(t, SendClear())
            dropped += t.dropped()
        if dropped:
            why += f"; {dropped} frames dropped: the call's connection fell behind"
        self._audit(s.talking, f"{s.talk_mode}_stop", why)
        self._set(talking=None, talk_mode=None, push_to_talk=False, route="")
        self._cancel_mic_idle()
        if self.loop is not None:
            self._mic_idle = self.loop.call_later(MIC_IDLE_S, self._close_mic)

    def _stop_all(self, why: str) -> None:
        self._stop_talk(why)
        self._stop_listen(why)
        self._close_mic()

    def _send(self, target: _Target, command: SendMedia | SendClear) -> None:
        stream = target.stream
        if stream.closed or stream.sender is None:
            return
        before = target.dropped()
        # Audio may be dropped when the peer falls behind (oldest first); a clear may not.
        deliver(stream.sender, target.encode(command, stream.stream_id),
                isinstance(command, SendMedia))
        now = target.dropped()
        if now > before:
            self.frames_dropped += now - before
            if before == 0:  # once per stream and talk: shown, stored, logged by the queue
                self._backlog(target)

    def _backlog(self, target: _Target) -> None:
        s = self.state
        text = (f"Your voice is not getting through in time: the call's connection is not "
                f"keeping up, so the oldest audio is dropped (more than "
                f"{self._limit(target)} frames waiting).")
        self._set(message=text, message_call=s.talking)
        self.engine.bus.publish(StreamProblem(
            target.stream.call_id, target.stream.uid, "send_backlog",
            f"{s.talk_mode or 'talk'}: the peer is not reading; oldest audio dropped",
            time.time()))

    @staticmethod
    def _limit(target: _Target) -> int:
        sender = target.stream.sender
        return sender.limit if isinstance(sender, OutboundQueue) else 0

    # --- the microphone -------------------------------------------------------------------

    def _start_mic_reader(self) -> None:
        if not self._mic_reading and self.loop is not None:
            self.loop.add_reader(self.mic.wake_fd, self._on_mic)
            self._mic_reading = True

    def _close_mic(self) -> None:
        self._cancel_mic_idle()
        if self._mic_reading and self.loop is not None:
            self.loop.remove_reader(self.mic.wake_fd)
            self._mic_reading = False
        self.mic.close()
        self.mic_level_db = -120.0

    def _cancel_mic_idle(self) -> None:
        if self._mic_idle is not None:
            self._mic_idle.cancel()
            self._mic_idle = None

    def _on_mic(self) -> None:
        self.mic.drain_wakeups()
        n = int(self.mic.rate * FRAME_S)
        if n <= 0:
            return
        while (frame := self.mic.take(n)) is not None:
            level = level_of(frame)
            self.mic_level_db = level.rms_db
            if not self._targets:
                continue
            if not self.gate.process(level, self.clock()):
                continue
            for t in self._targets:
                for payload in t.encoder.push(frame):
                    self._send(t, SendMedia(payload))
                    self.frames_sent += 1

    # --- calls ending, devices failing ----------------------------------------------------

    def _on_event(self, ev: CallEvent) -> None:
        # Published on the engine loop, which is where this object lives.
        if isinstance(ev, CallEnded):
            if self.state.talking == ev.call_id:
                self._stop_talk("the call ended")
            if self.state.listening == ev.call_id:
                self._stop_listen("the call ended")

    def _ensure_watch(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.ensure_future(self._watch_devices())

    async def _watch_devices(self) -> None:
        """A device that stops calling back (unplugged, suspended, taken by another app) ends
        what depended on it with a message, instead of silence nobody notices. A second and
        a half without a callback counts: sound servers can take a moment to start a stream."""
        last = [self.output.callbacks, self.mic.callbacks]
        stalled = [0, 0]
        while self.state.listening or self.state.talking:
            await asyncio.sleep(WATCH_S)
            now = [self.output.callbacks, self.mic.callbacks]
            for i in (0, 1):
                stalled[i] = stalled[i] + 1 if now[i] == last[i] else 0
            last = now
            s = self.state
            if s.listening and (self.output.error or stalled[0] >= STALL_TICKS):
                problem = self.output.error or f"{self.output.device_name()} stopped playing"
                self._stop_listen(problem)
                self._set(message=f"Listening stopped: {problem}.", message_call=s.listening)
            if s.talking and (self.mic.error or not self.mic.running
                              or stalled[1] >= STALL_TICKS):
                problem = self.mic.error or "the microphone stopped delivering sound"
                self._stop_talk(problem)
                self._close_mic()
                self._set(message=f"{(s.talk_mode or 'talk').capitalize()} stopped: "
                                  f"{problem}.", message_call=s.talking)

    # --- for tests and the status bar -----------------------------------------------------

    def targets(self) -> list[str]:
        return [t.stream.uid for t in self._targets]


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
