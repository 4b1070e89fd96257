"""What the console sends back on a stream goes through one bounded queue per stream: a real
engine, and a real peer on a real socket that stops reading (as a stuck or slow provider
would). Before, every frame got a task of its own and nothing bounded them."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import tone_s, wait_for
from support import audit_rows, running_engine

from console.core.events import SendClear, SendMedia, StreamProblem
from console.supervisor.controller import SupervisorAudio
from console.supervisor.outbound import SEND_QUEUE_FRAMES, OutboundQueue

pytestmark = pytest.mark.timeout(60)

TOKEN = "test-token"


class StuckPeer:
    """A Telnyx stream on a real socket with a small receive buffer, which reads nothing
    until `read_all` (websockets' sans-I/O protocol does the framing)."""

    def __init__(self, url: str) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.uri = parse_uri(url)
        self.proto = ClientProtocol(self.uri, max_size=None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)
        self.stream_id = str(uuid.uuid4())
        self.received: list[dict[str, Any]] = []

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        for data in self.proto.data_to_send():
            if data:
                await loop.sock_sendall(self.sock, data)

    async def _read_some(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), timeout)
        if not data:
            return False
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            text = getattr(event, "data", None)
            if getattr(event, "opcode", None) is not None and text is not None:
                self.received.append(json.loads(text))
        await self._flush()  # pongs
        return True

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, (self.uri.host, self.uri.port))
        request = self.proto.connect()
        request.headers["x-telnyx-streaming-auth-token"] = TOKEN
        self.proto.send_request(request)
        await self._flush()
        while self.proto.state.name == "CONNECTING":
            await self._read_some(5)
        assert self.proto.state.name == "OPEN", self.proto.handshake_exc
        for frame in (
            {"event": "connected", "version": "1.0.0"},
            {"event": "start", "sequence_number": "1", "stream_id": self.stream_id,
             "start": {"call_control_id": f"v3:{self.stream_id}", "call_session_id":
                       self.stream_id, "from": "+15550100", "to": "+15550199",
                       "custom_parameters": {"leg": "customer"},
                       "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                        "channels": 1}}}):
            self.proto.send_text(json.dumps(frame).encode())
        await self._flush()

    async def read_until(self, done: Any, timeout: float = 10.0) -> None:
        """Reads again (the peer recovers) until `done()` or `timeout`."""
        end = asyncio.get_running_loop().time() + timeout
        while not done():
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError("the peer never got what it waited for")
            try:
                if not await self._read_some(left):
                    return
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()


def frame(i: int) -> bytes:
    return i.to_bytes(4, "big") + b"\xff" * 156  # 20 ms of mu-law, numbered


def number(msg: dict[str, Any]) -> int:
    return int.from_bytes(base64.b64decode(msg["media"]["payload"])[:4], "big")


async def stuck_call(engine: Any) -> tuple[StuckPeer, Any, OutboundQueue]:
    peer = StuckPeer(engine.url)
    await peer.open()
    await wait_for(lambda: any(c.open_streams for c in engine.registry.calls.values()), 5)
    stream = next(iter(engine.registry.calls.values())).open_streams[0]
    assert isinstance(stream.sender, OutboundQueue)
    # The kernel would take megabytes before the peer's stall showed: keep its send buffer
    # on this socket small, so the test fills it in a few hundred frames.
    conn = next(iter(engine._connections.values()))
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                       4096)
    return peer, stream, stream.sender


def write_buffer(engine: Any) -> int:
    """Bytes the server's transport holds for the peer (beyond what the kernel took)."""
    return int(next(iter(engine._connections.values())).transport.get_write_buffer_size())


@dataclass
class Filled:
    pumped: int = 0  # frames handed over
    most_waiting: int = 0  # the most that waited at once
    most_tasks: int = 0  # the most tasks the loop had beyond those before
    sent_before_drops: int = -1  # frames written before the first was dropped
    senders: set[int] = field(default_factory=set)  # the sending tasks seen


async def fill(engine: Any, stream: Any, sender: OutboundQueue, drops: int,
               first: int = 0) -> Filled:
    """Whisper frames, a few per turn of the loop (fewer than the queue holds: only a peer
    that does not read can make it drop), until `drops` more have been dropped."""
    out = Filled()
    baseline = len(asyncio.all_tasks())
    target = sender.dropped + drops
    i = first
    while sender.dropped < target:
        assert i - first < 100_000, "the peer's buffers never filled"
        for _ in range(5):
            assert engine.send_command(stream, SendMedia(frame(i)))
            i += 1
        await asyncio.sleep(0)  # the loop runs the hand-overs and the sender
        await asyncio.sleep(0)
        if sender.dropped and out.sent_before_drops < 0:
            out.sent_before_drops = sender.sent
        out.most_waiting = max(out.most_waiting, sender.queued)
        out.most_tasks = max(out.most_tasks, len(asyncio.all_tasks()) - baseline)
        out.senders.add(id(sender._task))
    out.pumped = i - first
    return out


async def test_a_stuck_peer_gets_a_bounded_queue_and_the_newest_audio(settings, caplog
                                                                      ) -> None:
    caplog.set_level(logging.WARNING, logger="console.supervisor")
    async with running_engine(settings) as engine:
        peer, stream, sender = await stuck_call(engine)
        try:
            filled = await fill(engine, stream, sender, 2000)
            pumped = filled.pumped
            # Frames went out until the peer's buffers were full...
            assert filled.sent_before_drops > 50, filled.sent_before_drops
            # ...then never more than the bound waited, with one task however many frames.
            assert filled.most_waiting <= SEND_QUEUE_FRAMES
            assert sender.max_queued == SEND_QUEUE_FRAMES
            assert filled.most_tasks <= 1 and len(filled.senders) == 1  # the same one
            assert write_buffer(engine) < 64 * 1024  # websockets' limit and one frame
            # Every frame is accounted for: written, dropped, waiting, or being written.
            in_flight = pumped - sender.sent - sender.dropped - sender.queued
            assert in_flight in (0, 1)
            assert sender.dropped >= 2000
            # Reported once, however many were dropped.
            warnings = [r for r in caplog.records if "not reading" in r.getMessage()]
            assert len(warnings) == 1
            assert str(SEND_QUEUE_FRAMES) in warnings[0].getMessage()
            # The peer reads again: what was not dropped arrives, in order, newest last.
            await peer.read_until(lambda: any(number(m) == pumped - 1 for m in peer.received
                                              if m.get("event") == "media"))
            got = [number(m) for m in peer.received if m.get("event") == "media"]
            assert got == sorted(got)
            assert got[-SEND_QUEUE_FRAMES:] == list(range(pumped - SEND_QUEUE_FRAMES, pumped))
            assert len(got) == pumped - sender.dropped
            assert sender.queued == 0 and not sender.closed
        finally:
            peer.close()


async def test_a_clear_is_never_dropped(settings) -> None:
    """Audio is dropped around it, oldest first; the clear goes out, in its place."""
    async with running_engine(settings) as engine:
        peer, stream, sender = await stuck_call(engine)
        try:
            pumped = (await fill(engine, stream, sender, 50)).pumped  # the queue is full
            assert engine.send_command(stream, SendClear())
            more = (await fill(engine, stream, sender, 30, first=pumped)).pumped
            newest = pumped + more - 1
            await peer.read_until(lambda: any(
                m.get("event") == "media" and number(m) == newest for m in peer.received))
            events = [m["event"] for m in peer.received]
            assert events.count("clear") == 1  # never dropped, though audio after it was
            cut = events.index("clear")
            before = [number(m) for m in peer.received[:cut]]
            after = [number(m) for m in peer.received[cut + 1:]]
            assert before == sorted(before) and max(before) < pumped
            # Behind the clear: the newest audio, as much as may wait.
            assert after == list(range(newest - SEND_QUEUE_FRAMES + 1, newest + 1))
        finally:
            peer.close()


async def test_a_peer_that_goes_away_ends_its_sender(settings) -> None:
    async with running_engine(settings) as engine:
        peer, stream, sender = await stuck_call(engine)
        await fill(engine, stream, sender, 10)
        peer.close()  # gone, with the console's frames unread
        await wait_for(lambda: sender.closed, 10)
        assert sender.queued == 0 and sender.lost >= 1
        tasks = len(asyncio.all_tasks())
        lost = sender.lost
        sender(json.dumps({"event": "media", "media": {"payload": ""}}))
        assert sender.lost == lost + 1 and len(asyncio.all_tasks()) == tasks


async def test_whispering_to_a_stuck_peer_is_shown_and_counted(settings) -> None:
    """The supervisor whispers (microphone on the virtual sound card) into a call whose
    stream has stopped reading: the dropped frames are counted, shown once on the screen,
    stored as a stream problem and in the audit trail."""
    import sound

    card = sound.card()
    async with running_engine(settings) as engine:
        peer, stream, sender = await stuck_call(engine)
        problems: list[StreamProblem] = []
        engine.bus.subscribe(lambda ev: isinstance(ev, StreamProblem) and problems.append(ev))
        sup = SupervisorAudio(engine)
        try:
            await fill(engine, stream, sender, 10)  # already behind when the whisper starts
            call_id = stream.call_id
            sup.request(call_id, "whisper")
            await wait_for(lambda: sup.state.talking == call_id, 5)
            player = card.play_into_mic(tone_s(1000, sound.RATE, 1.0, amplitude=9000))
            await wait_for(lambda: sup.frames_dropped >= 10, 10)
            assert "not getting through" in sup.state.message
            assert sup.state.message_call == call_id
            assert [p.kind for p in problems] == ["send_backlog"]
            assert problems[0].stream_id == stream.uid
            assert sender.queued <= SEND_QUEUE_FRAMES
            await asyncio.to_thread(player.wait, 10)
            sup.request(call_id, "whisper_off")
            await wait_for(lambda: sup.state.talking is None, 5)
            dropped = sup.frames_dropped
        finally:
            sup.close()
            peer.close()
    rows = [d for a, d in audit_rows(settings.data_path()) if a == "whisper_stop"]
    assert rows and f"{dropped} frames dropped" in rows[0]
