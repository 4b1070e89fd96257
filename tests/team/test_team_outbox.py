"""The node's fact outbox (console/team/outbox.py) against a real nats-server: facts reach
the COACH_FACTS stream in order with their message ids, wait while the bus is away, are
stored once when re-sent, and stay within their bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from nats.aio.client import Client

from console.core import events as ev
from console.team import outbox as outbox_mod
from console.team.busserver import BusServer
from console.team.link import BusOptions, connect, ensure_layout
from console.team.outbox import FactOutbox
from console.team.schema import Fact, decode
from console.team.subjects import FACTS_STREAM, Subjects

SUBJECTS = Subjects("team")


def _subject(event: ev.CallEvent) -> str:
    return SUBJECTS.facts("n1", getattr(event, "call_id", None) or "-")


def _action(i: int, call: str = "call.1") -> ev.SupervisorAction:
    return ev.SupervisorAction(call, f"a{i}", 1796000000.0 + i, f"#{i}", "Dana")


async def _eventually(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.02)


async def _stored(js: Any) -> list[tuple[str, str, Fact]]:
    """Every message in the facts stream, in stream order: (subject, msg id, fact)."""
    info = await js.stream_info(FACTS_STREAM)
    out = []
    if info.state.messages:
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(FACTS_STREAM, seq)
            out.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id", ""),
                        decode(msg.data)))
    return out


@pytest.fixture
async def nc(bus: BusServer) -> AsyncIterator[Client]:
    client = await connect(BusOptions(bus.url()), "test")
    await ensure_layout(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def outbox() -> AsyncIterator[FactOutbox]:
    box = FactOutbox("n1", _subject)
    box.start()
    try:
        yield box
    finally:
        await box.stop(flush_s=0.0)


async def test_team_outbox_publishes_in_order_with_msg_ids(nc: Client,
                                                           outbox: FactOutbox) -> None:
    seen: list[tuple[int, int]] = []

    async def after(fact: Fact, seq: int) -> None:
        seen.append((fact.n, seq))

    outbox.after = after
    events: list[ev.CallEvent] = [
        ev.CallStarted("call.1", ev.Provider.TELNYX, "+1555", None, 1796000000.0, "n1"),
        *[_action(i) for i in range(600)],  # more than one batch
        ev.TranscriptSegment("other call", "s1", ev.Role.AGENT, 0.0, 1.0, "hello", True),
        ev.CallEnded("call.1", 1796000100.0, "ended"),
    ]
    outbox.js = nc.jetstream()
    for e in events:
        outbox.put(e)
    await _eventually(lambda: outbox.published == len(events))
    assert outbox.waiting == 0 and outbox.dropped == 0

    stored = await _stored(nc.jetstream())
    assert [f.event for _, _, f in stored] == events
    assert [f.n for _, _, f in stored] == list(range(1, len(events) + 1))
    assert [mid for _, mid, _ in stored] == [f"n1.{outbox.run}.{n}"
                                             for n in range(1, len(events) + 1)]
    assert stored[0][0] == "coach.team.facts.n1.call_2e1"
    assert stored[-2][0] == "coach.team.facts.n1.other_20call"
    assert {f.node for _, _, f in stored} == {"n1"} and {f.run for _, _, f in stored} == {
        outbox.run}
    # `after` ran once per fact, in order, with the stream sequence of each
    assert seen == [(n, n) for n in range(1, len(events) + 1)]


async def test_team_outbox_runs_before_ahead_of_the_publish_and_holds_on_failure(
        nc: Client, outbox: FactOutbox) -> None:
    js = nc.jetstream()
    in_stream_when_seen: list[int] = []
    fail = [2]

    async def before(fact: Fact) -> None:
        # What the stream holds when the hook runs: never this fact yet.
        in_stream_when_seen.append((await js.stream_info(FACTS_STREAM)).state.messages)
        if fail[0]:
            fail[0] -= 1
            raise RuntimeError("summary store away")

    outbox.before = before
    outbox.js = js
    for i in range(3):
        outbox.put(_action(i))
    await _eventually(lambda: outbox.published == 3, timeout=20)
    # Two failed tries held the whole batch back (nothing stored), then one pass published it.
    assert in_stream_when_seen[:2] == [0, 0]
    assert in_stream_when_seen[2:] == [0, 0, 0]
    assert outbox.failures == 0
    assert [f.event for _, _, f in await _stored(js)] == [_action(i) for i in range(3)]


async def test_team_outbox_keeps_facts_until_the_bus_is_joined(nc: Client,
                                                               outbox: FactOutbox) -> None:
    for i in range(50):
        outbox.put(_action(i))
    await asyncio.sleep(0.2)  # give the pump every chance to misbehave while js is None
    assert outbox.waiting == 50 and outbox.published == 0
    assert (await nc.jetstream().stream_info(FACTS_STREAM)).state.messages == 0

    outbox.js = nc.jetstream()  # as TeamNode._joined does
    outbox._wake.set()
    await _eventually(lambda: outbox.published == 50)
    stored = await _stored(nc.jetstream())
    assert [f.event for _, _, f in stored] == [_action(i) for i in range(50)]


async def test_team_outbox_resent_fact_is_stored_once(nc: Client, outbox: FactOutbox,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The server stores a batch but the acknowledgement is lost: the outbox sends the
    same batch again, and JetStream's duplicate window keeps one copy of each fact."""
    real = outbox._publish
    calls: list[int] = []

    async def ack_lost_once(batch: list[tuple[str, Fact]]) -> list[int]:
        acks = await real(batch)
        calls.append(len(batch))
        if len(calls) == 1:
            raise TimeoutError("acknowledgement lost")
        return acks

    monkeypatch.setattr(outbox, "_publish", ack_lost_once)
    for i in range(20):
        outbox.put(_action(i))
    outbox.js = nc.jetstream()
    outbox._wake.set()
    await _eventually(lambda: outbox.published == 20)
    assert calls == [20, 20]  # really sent twice
    stored = await _stored(nc.jetstream())
    assert [f.n for _, _, f in stored] == list(range(1, 21))

    # and a fact published again by hand with its msg id is refused as a duplicate
    js = nc.jetstream()
    fact = stored[3][2]
    ack = await js.publish(_subject(fact.event), b"{}",
                           headers={"Nats-Msg-Id": f"n1.{outbox.run}.{fact.n}"})
    assert ack.duplicate and ack.seq == 4
    assert (await js.stream_info(FACTS_STREAM)).state.messages == 20


async def test_team_outbox_bounds(nc: Client, outbox: FactOutbox,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_mod, "SOFT", 5)
    monkeypatch.setattr(outbox_mod, "HARD", 10)
    display_only: list[ev.CallEvent] = [
        ev.SpeechActivity("c", ev.Role.AGENT, True, 1.0),
        ev.SentimentSample("c", ev.Role.CUSTOMER, 1.0, 0.5),
        ev.ConversationUpdate("c", 1.0, 2.0, 0.3, 0.5, 1, 0.2),
        ev.TranscriptSegment("c", "s1", ev.Role.AGENT, 0.0, 1.0, "tentat", False),
    ]
    final = ev.TranscriptSegment("c", "s1", ev.Role.AGENT, 0.0, 1.0, "tentative", True)
    ended = ev.CallEnded("c", 1796000100.0, "ended")

    # below SOFT everything is kept, display-only facts too
    outbox.put(display_only[0])
    for i in range(4):
        outbox.put(_action(i))
    assert outbox.waiting == 5 and outbox.dropped == 0
    # past SOFT: display-only facts are dropped and counted, what matters is kept
    for e in display_only:
        outbox.put(e)
    assert outbox.waiting == 5 and outbox.dropped == 4
    outbox.put(final)
    outbox.put(ended)
    assert outbox.waiting == 7 and outbox.dropped == 4
    # past HARD the oldest go
    for i in range(4, 10):
        outbox.put(_action(i))
    assert outbox.waiting == 10 and outbox.dropped == 7
    kept = [f.event for _, f in outbox._queue]
    # the first display-only fact, a0 and a1 went, oldest first
    assert kept == [_action(2), _action(3), final, ended, *[_action(i) for i in range(4, 10)]]

    outbox.js = nc.jetstream()
    outbox._wake.set()
    await _eventually(lambda: outbox.published == 10)
    stored = await _stored(nc.jetstream())
    assert [f.event for _, _, f in stored] == kept
    # sequence numbers show the gap the dropped-oldest left (display-only drops take none)
    assert [f.n for _, _, f in stored] == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]


async def test_team_outbox_survives_the_bus_going_away(bus: BusServer) -> None:
    states: list[str] = []
    client = await connect(BusOptions(bus.url()), "test", on_state=states.append)
    box = FactOutbox("n1", _subject)
    restarted: BusServer | None = None
    try:
        js = client.jetstream()
        await ensure_layout(js)
        box.js = js
        box.start()
        for i in range(10):
            box.put(_action(i))
        await _eventually(lambda: box.published == 10)

        bus.stop()
        await _eventually(lambda: not client.is_connected)
        for i in range(10, 60):  # made while the bus is away
            box.put(_action(i))
        await asyncio.sleep(0.3)  # the pump tries meanwhile; nothing can be stored
        assert box.published == 10 and box.waiting == 50

        restarted = BusServer(bus.store_dir, port=bus.port, host="127.0.0.1",
                              token="team-secret")
        await asyncio.to_thread(restarted.start)
        await _eventually(lambda: box.published == 60, timeout=30.0)
        assert client.is_connected and "disconnected: reconnecting" in states
        assert states[-1] == "connected"
        stored = await _stored(js)
        assert [f.event for _, _, f in stored] == [_action(i) for i in range(60)]
        assert [f.n for _, _, f in stored] == list(range(1, 61))
        assert box.dropped == 0
    finally:
        await box.stop(flush_s=0.0)
        await client.close()
        if restarted is not None:
            restarted.stop()
