"""Lines transcribed after their call ended (the speech workers lag seconds behind, more on
a loaded machine) extend the call: its talk figures, sentiment trend and alert cool-downs
go on from where they were, and the metrics stored last are the whole call's. An ended
call's memory is still bounded: forgotten after a grace (longer while its utterances are
out for text, within a limit), at most so many ended calls at once, and a line that comes
after that publishes no figures that would replace the call's."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import pcmu_frames, telnyx_media, telnyx_start, telnyx_stop, tone, wait_for
from support import running_engine
from websockets.asyncio.client import connect

from console.analysis import pipeline as pipeline_module
from console.analysis.metrics import conversation_metrics
from console.analysis.pipeline import AnalysisPipeline, _Meta
from console.analysis.sentiment import Mood, SentimentScorer
from console.analysis.stt.pool import Job, SttPool
from console.core.bus import EventBus
from console.core.events import (
    AlertRaised,
    CallEnded,
    CallEvent,
    ConversationUpdate,
    Role,
    SentimentSample,
    TranscriptSegment,
)
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.queries import call_detail

_ids = itertools.count(1)
RATE = 8000
SLOT = int(2.5 * RATE)  # one utterance (a second of tone) and its pause


def _track(*talking: int) -> np.ndarray:
    """Ten seconds of one side: a second of tone at the start of each slot named."""
    out = np.zeros(4 * SLOT, np.int16)
    for slot in talking:
        out[slot * SLOT : slot * SLOT + RATE] = tone(RATE)
    return out


async def test_lines_after_the_call_ended_extend_its_stored_metrics(settings) -> None:  # type: ignore[no-untyped-def]
    """Half the call's text comes back after CallEnded: the metrics stored last (and the
    export) cover all four lines, the sentiment trend goes on and a once-a-call alert said
    again in a late line does not fire again."""
    async with running_engine(settings) as engine:
        loop = asyncio.get_running_loop()
        seen: list[CallEvent] = []
        engine.bus.subscribe(seen.append)
        pipeline = AnalysisPipeline(engine.bus, loop, meaning=False)
        pool = SttPool("tiny.en", pipeline.on_text)  # never started: its queue holds the jobs
        pipeline.pool = pool
        engine.registry.add_tap(pipeline)  # voice detection on the call's real audio
        engine.bus.subscribe(lambda e: pipeline.call_ended(e.call_id)
                             if isinstance(e, CallEnded) else None)
        try:
            async with connect(engine.url, additional_headers={
                    "x-telnyx-streaming-auth-token": "test-token"}) as ws:
                await ws.send(telnyx_start("S-late", "late"))
                customer, agent = _track(0, 2), _track(1, 3)
                for i, (c, a) in enumerate(zip(pcmu_frames(customer), pcmu_frames(agent),
                                               strict=True)):
                    await ws.send(telnyx_media("S-late", "inbound", i + 1, c))
                    await ws.send(telnyx_media("S-late", "outbound", i + 1, a))
                await wait_for(lambda: len(pool._pending) == 4)  # four utterances heard
                jobs = sorted(pool._pending, key=lambda j: j.meta.start_s)
                assert [j.meta.role for j in jobs] == [Role.CUSTOMER, Role.AGENT] * 2
                said = ["This is terrible, I want to cancel my account.",
                        "I'm sorry about that, let me look at it.",
                        "Okay, fine. Just cancel my account then.",
                        "Thank you for calling, goodbye."]
                for job, text in zip(jobs[:2], said[:2], strict=True):  # before the end
                    pipeline.on_text(job, text)
                await wait_for(lambda: sum(isinstance(e, TranscriptSegment) for e in seen)
                               == 2)
                await ws.send(telnyx_stop("S-late"))
            await wait_for(lambda: engine.registry.calls["late"].state == "ended")
            await asyncio.sleep(0.1)  # the end reaches the pipeline
            for job, text in zip(jobs[2:], said[2:], strict=True):  # the workers lagged
                pipeline.on_text(job, text)
            await wait_for(lambda: sum(isinstance(e, TranscriptSegment) for e in seen) == 4)
            engine.store.flush()
        finally:
            engine.registry.remove_tap(pipeline)
            pool.close()
    spans = {role: [(j.meta.start_s, j.meta.end_s) for j in jobs if j.meta.role is role]
             for role in Role}
    whole = conversation_metrics(spans[Role.CUSTOMER], spans[Role.AGENT], 0.0)
    assert whole.customer_talk_s > 1.5 and whole.agent_talk_s > 1.5  # two lines each
    last = [e for e in seen if isinstance(e, ConversationUpdate)][-1]
    assert (last.customer_talk_s, last.agent_talk_s) == (whole.customer_talk_s,
                                                         whole.agent_talk_s)
    conn = db_connect(db_path(settings.data_path()), readonly=True)
    stored = conn.execute("SELECT customer_talk_s, agent_talk_s, talk_ratio FROM metrics "
                          "WHERE call_id = 'late'").fetchone()
    assert tuple(stored) == (whole.customer_talk_s, whole.agent_talk_s, whole.talk_ratio)
    exported = call_detail(conn, "late")
    assert len(exported["segments"]) == 4
    assert exported["metrics"]["customer_talk_s"] == whole.customer_talk_s
    # The longest silence runs to the call's end, not to the last late line's.
    assert last.longest_silence_s >= 1.4
    # Once a call: the customer asking to cancel again after the end is no new alert.
    assert [e.rule for e in seen if isinstance(e, AlertRaised)].count("cancellation") == 1
    # The customer's sentiment trend goes on from the line before the end.
    scorer, mood = SentimentScorer(), Mood()
    expected = [mood.update(scorer.score(text), j.meta.end_s, j.meta.end_s - j.meta.start_s)
                for j, text in zip(jobs[::2], said[::2], strict=True)]
    trend = [e.score for e in seen if isinstance(e, SentimentSample)
             and e.speaker is Role.CUSTOMER]
    assert trend == expected and trend[1] != scorer.score(said[2])


# --- bounded memory ----------------------------------------------------------------------


def _say(p: AnalysisPipeline, call_id: str, role: Role, start: float, text: str) -> None:
    sid = f"{call_id}-{next(_ids)}"
    meta = _Meta(sid, role, start, start + 1.0, p.loop.time())
    p.on_text(Job(next(_ids), call_id, np.zeros(0, np.float32), meta), text)


def _updates(seen: list[CallEvent], call_id: str) -> list[ConversationUpdate]:
    return [e for e in seen if isinstance(e, ConversationUpdate) and e.call_id == call_id]


@pytest.fixture
def short_grace(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pipeline_module, "CALL_GRACE_S", 0.2)
    monkeypatch.setattr(pipeline_module, "CALL_LATE_POLL_S", 0.05)


async def test_an_ended_call_is_forgotten_after_the_grace(short_grace) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    p = AnalysisPipeline(bus, asyncio.get_running_loop(), meaning=False)
    _say(p, "g1", Role.CUSTOMER, 0.0, "Hello there.")
    await asyncio.sleep(0)
    p.call_ended("g1")
    _say(p, "g1", Role.AGENT, 2.0, "Hi, how can I help?")  # late, within the grace
    await asyncio.sleep(0)
    assert _updates(seen, "g1")[-1].customer_talk_s == 1.0
    assert _updates(seen, "g1")[-1].agent_talk_s == 1.0
    await wait_for(lambda: "g1" not in p._calls, timeout=3)
    assert "g1" not in p._ended and "g1" not in p._redactors and "g1" not in p._in_flight
    # Text long after that: the line is published, but no figures of that line alone.
    before = len(_updates(seen, "g1"))
    _say(p, "g1", Role.AGENT, 4.0, "Are you still there?")
    await asyncio.sleep(0)
    assert [e.text for e in seen if isinstance(e, TranscriptSegment)][-1] \
        == "Are you still there?"
    assert len(_updates(seen, "g1")) == before
    await wait_for(lambda: "g1" not in p._calls, timeout=3)  # let go again


async def test_an_ended_call_waits_for_text_still_out_within_a_limit(short_grace,  # type: ignore[no-untyped-def]
                                                                     monkeypatch) -> None:
    bus = EventBus()
    loop = asyncio.get_running_loop()
    p = AnalysisPipeline(bus, loop, meaning=False)
    _say(p, "w1", Role.CUSTOMER, 0.0, "Hello there.")
    await asyncio.sleep(0)
    p._in_flight["w1"] = {"out": (Role.AGENT, 2.0, loop.time())}  # still being transcribed
    p.call_ended("w1")
    await asyncio.sleep(0.5)  # past the grace
    assert "w1" in p._calls
    monkeypatch.setattr(pipeline_module, "CALL_LATE_MAX_S", 0.6)  # never for ever
    await wait_for(lambda: "w1" not in p._calls, timeout=3)


async def test_ended_calls_kept_at_once_are_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pipeline_module, "MAX_ENDED_CALLS", 2)
    p = AnalysisPipeline(EventBus(), asyncio.get_running_loop(), meaning=False)
    for call_id in ("b1", "b2", "b3"):
        _say(p, call_id, Role.CUSTOMER, 0.0, "Hello there.")
        await asyncio.sleep(0)
        p.call_ended(call_id)
    assert set(p._calls) == set(p._ended) == {"b2", "b3"}  # the oldest end went first


async def test_a_call_that_comes_back_is_not_forgotten_by_its_first_end(short_grace) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    p = AnalysisPipeline(bus, asyncio.get_running_loop(), meaning=False)
    _say(p, "r1", Role.CUSTOMER, 0.0, "Hello there.")
    await asyncio.sleep(0)
    p.call_ended("r1")
    leg = SimpleNamespace(key="r1/agent", call_id="r1", role=Role.AGENT, rate=RATE,
                          call_offset_s=5.0)
    p.feed(leg, np.zeros(160, np.int16))  # a new leg of the same call
    await asyncio.sleep(0.5)  # past the first end's grace
    assert "r1" in p._calls
    _say(p, "r1", Role.AGENT, 6.0, "Sorry, we were cut off.")
    await asyncio.sleep(0)
    assert (_updates(seen, "r1")[-1].customer_talk_s, _updates(seen, "r1")[-1].agent_talk_s) \
        == (1.0, 1.0)


def test_a_call_whose_lines_all_come_after_its_end_is_scored() -> None:
    """The scorecard service missed the call's start (a full queue, or started after it)
    and every line comes after CallEnded: the call is still scored, as a late call is."""
    import threading
    import time

    from console.analysis.scorecard import ScorecardService, checklist_from_settings
    from console.core.events import CallScorecard

    got: list[CallScorecard] = []
    arrived = threading.Event()

    def publish(ev):  # type: ignore[no-untyped-def]
        got.append(ev)
        arrived.set()

    svc = ScorecardService(checklist_from_settings(""), publish, settle_s=0.2).start()
    try:
        svc.on_event(CallEnded("s1", time.time(), "ended"))
        svc.on_event(TranscriptSegment("s1", "a", Role.AGENT, 0.5, 2.0,
                                       "Thanks for calling Acme, Sam speaking.", True))
        assert arrived.wait(60)
        assert got[-1].final and got[-1].call_id == "s1" and svc.scored == 1
        greeting = {i["name"]: i for i in got[-1].items}["greeting"]
        assert greeting["passed"] is True and greeting["segment_id"] == "a"
    finally:
        svc.close()
