"""Listen, whisper and barge on a team call: the same keys, badges and refusals as on one
laptop, with the node that holds the call doing what the local engine does there.

- Listening holds a lease on the call's audio (renewed every 2 s); the node publishes the
  decoded tracks only while some console holds one, and they play through the same
  ListenOutput (jitter buffer, ears, volume) as local calls.
- Whisper and barge ask the node, which applies the same reach rules and answers done or
  refused with the reason the window shows; the microphone's 20 ms frames then go to the node
  on the call's talk subject, and the node encodes them for the stream.
- The node writes every start, stop and refusal into the call's audit trail with the
  supervisor's name."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.audio.transmit import FRAME_S, level_of
from console.supervisor.controller import SupervisorAudio
from console.supervisor.routes import WHISPER
from console.team import wire

if TYPE_CHECKING:
    from console.team.console import TeamEngine

__all__ = ["RemoteSupervisorAudio"]

log = logging.getLogger("console.team")

RENEW_S = 2.0


@dataclass(slots=True)
class _RemoteTrack:
    key: str
    call_id: str
    rate: int
    role: str


class RemoteSupervisorAudio(SupervisorAudio):
    def __init__(self, team: TeamEngine, **kwargs: Any) -> None:
        super().__init__(team, **kwargs)  # type: ignore[arg-type]
        self.team = team
        self._audio_sub: Any = None
        self._tracks: dict[str, _RemoteTrack] = {}
        self._talk_ok = False
        self._seq = 0
        self._renewer: asyncio.Task[None] | None = None
        self.audio_messages = 0

    # --- listening ------------------------------------------------------------------------

    def _listen(self, call_id: str) -> bool:
        if self.state.listening == call_id and self.output.running:
            return True
        call = self.team.registry.calls.get(call_id)
        if call is None or call.state != "active":
            self._set(message="That call has ended.", message_call=call_id)
            return False
        if not self._output_ready(call_id):
            return False
        previous = self.state.listening
        if previous and previous != call_id:
            self._release(previous, f"switched to call {call_id}")
        self.output.select(call_id, {})
        self._tracks.clear()
        self._set(listening=call_id, message="", message_call=None)
        self._spawn(self._open_listen(call_id, call.node))
        self._ensure_watch()
        self._ensure_renewer()
        return True

    async def _open_listen(self, call_id: str, node: str) -> None:
        nc = self.team.nc
        if nc is None:
            self._refused(call_id, "Cannot listen: not connected to the team bus.")
            return
        self._audio_sub = await nc.subscribe(self.team.subjects.audio(node, call_id),
                                             cb=self._on_audio)
        answer = await self.team.request(node, {"action": "listen", "call_id": call_id})
        if not answer.get("ok") and self.state.listening == call_id:
            self._refused(call_id, f"Cannot listen: {answer.get('reason', 'refused')}")

    def _refused(self, call_id: str, text: str) -> None:
        if self.state.listening == call_id:
            self._stop_listen_quietly()
        self._set(message=text, message_call=call_id)

    async def _on_audio(self, msg: Any) -> None:
        try:
            header, pcm = wire.unpack(msg.data)
            call_id = wire.text(header, "call")
            key = wire.text(header, "k")
            role = wire.text(header, "r", 16)
        except wire.BadAudio:
            return
        if call_id != self.state.listening:
            return
        track = self._tracks.get(key)
        if track is None or track.rate != header["rate"]:
            track = self._tracks[key] = _RemoteTrack(key, call_id, header["rate"], role)
        self.audio_messages += 1
        self.output.feed(track, pcm)

    def _stop_listen(self, why: str) -> None:
        call_id = self.state.listening
        if call_id is None:
            return
        self._release(call_id, why)
        self._stop_listen_quietly()

    def _stop_listen_quietly(self) -> None:
        sub, self._audio_sub = self._audio_sub, None
        if sub is not None:
            self._spawn(sub.unsubscribe())
        self.output.select(None, {})
        self.output.close()
        self._set(listening=None)

    def _release(self, call_id: str, why: str) -> None:
        call = self.team.registry.calls.get(call_id)
        if call is not None:
            self._spawn(self.team.request(call.node, {"action": "listen_off",
                                                      "call_id": call_id, "why": why[:200]}))

    # --- whisper and barge ----------------------------------------------------------------

    def _talk(self, call_id: str, mode: str, *, push_to_talk: bool) -> None:
        s = self.state
        if s.talking is not None and (s.talking != call_id or s.talk_mode != mode):
            self._stop_talk(f"switched to {mode}")
        call = self.team.registry.calls.get(call_id)
        if call is None or call.state != "active":
            self._set(message=f"Cannot {mode}: the call has ended.", message_call=call_id)
            return
        if not self._mic_ready(call_id, mode):
            return
        self.mic.skip_to_now()
        self.gate.reset()
        self._talk_ok = False
        if self.state.listening != call_id:
            self._listen(call_id)
        self._set(talking=call_id, talk_mode=mode, push_to_talk=push_to_talk,
                  route="asking the call's node…")
        self._spawn(self._ask_talk(call_id, call.node, mode, push_to_talk))
        self._ensure_watch()
        self._ensure_renewer()

    async def _ask_talk(self, call_id: str, node: str, mode: str, push_to_talk: bool) -> None:
        answer = await self.team.request(node, {"action": mode, "call_id": call_id,
                                                "rate": int(self.mic.rate),
                                                "push_to_talk": push_to_talk})
        s = self.state
        if s.talking != call_id or s.talk_mode != mode:
            if answer.get("ok"):  # let go meanwhile: the node must stop too
                await self.team.request(node, {"action": "talk_off", "call_id": call_id,
                                               "why": "released before the node answered"})
            return
        if not answer.get("ok"):
            self._set(talking=None, talk_mode=None, push_to_talk=False, route="",
                      message=str(answer.get("reason", f"Cannot {mode}."))[:600],
                      message_call=call_id)
            self._schedule_mic_close()
            return
        self._talk_ok = True
        self._set(route=str(answer.get("route", ""))[:600])

    def _stop_talk(self, why: str) -> None:
        self._cancel_hang()
        s = self.state
        if s.talking is None:
            return
        call = self.team.registry.calls.get(s.talking)
        if call is not None and self._talk_ok:
            self._spawn(self.team.request(call.node, {"action": "talk_off",
                                                      "call_id": s.talking,
                                                      "why": why[:200]}))
        self._talk_ok = False
        self._set(talking=None, talk_mode=None, push_to_talk=False, route="")
        self._schedule_mic_close()

    def _schedule_mic_close(self) -> None:
        from console.supervisor.controller import MIC_IDLE_S

        self._cancel_mic_idle()
        if self.loop is not None:
            self._mic_idle = self.loop.call_later(MIC_IDLE_S, self._close_mic)

    def _on_mic(self) -> None:
        self.mic.drain_wakeups()
        n = int(self.mic.rate * FRAME_S)
        if n <= 0:
            return
        s = self.state
        call = self.team.registry.calls.get(s.talking or "")
        while (frame := self.mic.take(n)) is not None:
            level = level_of(frame)
            self.mic_level_db = level.rms_db
            if not self._talk_ok or call is None or self.team.nc is None:
                continue
            if not self.gate.process(level, self.clock()):
                continue
            self._seq += 1
            data = wire.pack({"call": call.id, "console": self.team.console_id,
                              "rate": int(self.mic.rate), "seq": self._seq}, frame)
            self._spawn(self.team.nc.publish(self.team.subjects.talk(call.node, call.id), data))
            self.frames_sent += 1

    def targets(self) -> list[str]:
        s = self.state
        call = self.team.registry.calls.get(s.talking or "")
        return [f"node {call.node}"] if call is not None and self._talk_ok else []

    # --- leases ---------------------------------------------------------------------------

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        while self.state.listening or self.state.talking:
            await asyncio.sleep(RENEW_S)
            s = self.state
            if s.listening:
                call = self.team.registry.calls.get(s.listening)
                if call is not None:
                    answer = await self.team.request(call.node, {"action": "listen",
                                                                 "call_id": call.id})
                    if not answer.get("ok") and self.state.listening == call.id:
                        self._refused(call.id, f"Listening stopped: "
                                               f"{answer.get('reason', 'refused')}")
            s = self.state
            if s.talking and self._talk_ok:
                call = self.team.registry.calls.get(s.talking)
                if call is not None:
                    answer = await self.team.request(call.node, {"action": "talk_renew",
                                                                 "call_id": call.id})
                    if not answer.get("ok") and self.state.talking == call.id:
                        mode = self.state.talk_mode or WHISPER
                        self._talk_ok = False
                        self._set(talking=None, talk_mode=None, push_to_talk=False, route="",
                                  message=f"{mode.capitalize()} stopped: "
                                          f"{answer.get('reason', 'refused')}",
                                  message_call=call.id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        exc = task.exception()
        if exc is not None:
            log.warning("team audio: %s", exc)
