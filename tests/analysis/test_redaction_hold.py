"""Digits that may be the first part of a card number are held back until that is decided:
a card read out as four groups in four utterances never shows a raw group anywhere (the
bus, `serve`'s printed lines, the database), at any moment; text without such digits is
published at once; and a held segment is never lost (the time, the end of the call or the
pipeline closing lets it go)."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import sqlite3

import numpy as np
from helpers import pcmu_frames, telnyx_media, telnyx_start, telnyx_stop, tone, wait_for
from support import running_engine
from websockets.asyncio.client import connect

from console.analysis import redaction
from console.analysis.pipeline import HOLD_MAX_S, AnalysisPipeline, _Meta
from console.analysis.redaction import CallRedactor
from console.analysis.stt.pool import Job, SttPool
from console.core.bus import EventBus
from console.core.events import CallEnded, CallEvent, Role, TranscriptSegment
from console.headless import EventPrinter
from console.store.db import connect as db_connect
from console.store.db import db_path

CARD = "[card number]"
GROUPS = ["4539", "1488", "0343", "6467"]  # one Luhn-valid card number
_ids = itertools.count(1)


class Watch:
    """What a supervisor or the disk could ever see of a call: every transcript segment on
    the bus (tentative and final), `serve`'s printed lines, and the database (its rows and
    the bytes of its files, write-ahead log included), polled while the call runs."""

    def __init__(self, engine, settings) -> None:  # type: ignore[no-untyped-def]
        self.segments: list[TranscriptSegment] = []
        self.printed = io.StringIO()
        engine.bus.subscribe(lambda e: self.segments.append(e)
                             if isinstance(e, TranscriptSegment) else None)
        engine.bus.subscribe(EventPrinter(self.printed))
        self.data = settings.data_path()
        self.seen_in_db: set[tuple[str, str]] = set()
        self.polls = 0

    def finals(self, sid: str) -> list[str]:
        return [s.text for s in self.segments if s.segment_id == sid and s.final]

    def check_db(self) -> None:
        self.polls += 1
        for f in self.data.glob("coach-console.db*"):
            try:
                data = f.read_bytes()
            except FileNotFoundError:  # the log comes and goes
                continue
            self.seen_in_db |= {(f.name, g) for g in GROUPS if g.encode() in data}
        path = db_path(self.data)
        if path.exists():
            try:
                conn = db_connect(path, readonly=True)
                rows = conn.execute("SELECT text FROM segments").fetchall()
                conn.close()
            except sqlite3.OperationalError:  # busy: the next poll reads it
                return
            self.seen_in_db |= {("row", g) for (text,) in rows for g in GROUPS if g in text}

    async def poll(self) -> None:
        while True:
            self.check_db()
            await asyncio.sleep(0.01)


def _say(pipeline: AnalysisPipeline, call_id: str, sid: str, role: Role, start: float,
         end: float, text: str, ended_ago: float = 0.0) -> None:
    """Text back from a speech worker, for an utterance that ended `ended_ago` s ago."""
    meta = _Meta(sid, role, start, end, pipeline.loop.time() - ended_ago)
    pipeline.on_text(Job(next(_ids), call_id, np.zeros(0, np.float32), meta), text)


async def test_a_card_read_in_four_utterances_never_shows_a_raw_group(settings) -> None:  # type: ignore[no-untyped-def]
    async with running_engine(settings) as engine:
        loop = asyncio.get_running_loop()
        watch = Watch(engine, settings)
        pipeline = AnalysisPipeline(engine.bus, loop, meaning=False)
        engine.registry.add_tap(pipeline)  # voice detection on the call's real audio
        engine.bus.subscribe(lambda e: pipeline.call_ended(e.call_id)
                             if isinstance(e, CallEnded) else None)
        poller = asyncio.create_task(watch.poll())
        try:
            async with connect(engine.url, additional_headers={
                    "x-telnyx-streaming-auth-token": "test-token"}) as ws:
                await ws.send(telnyx_start("S-h1", "h1"))
                for i, f in enumerate(pcmu_frames(tone(160 * 25))):
                    await ws.send(telnyx_media("S-h1", "inbound", i + 1, f))
                await wait_for(lambda: "h1" in engine.registry.calls)
                _say(pipeline, "h1", "a1", Role.AGENT, 0.0, 1.5,
                     "Go ahead whenever you're ready.")
                for i, group in enumerate(GROUPS):
                    start = 2.0 + 2 * i
                    _say(pipeline, "h1", f"c{i}", Role.CUSTOMER, start, start + 0.8, group)
                    await asyncio.sleep(0)  # the text is handed over on the loop
                    if i == 0:
                        # Alone, "4539" may be a year or the start of a card: held, and
                        # shown meanwhile as tentative text with the digits masked.
                        assert watch.finals("c0") == []
                        assert [s.text for s in watch.segments if s.segment_id == "c0"] \
                            == ["[digits]"]
                        # Words without digits are published at once, in the same step.
                        _say(pipeline, "h1", "a2", Role.AGENT, 3.0, 3.5, "Mm-hmm, go on.")
                        await asyncio.sleep(0)
                        assert watch.finals("a2") == ["Mm-hmm, go on."]
                    engine.store.flush()
                    watch.check_db()
                    await asyncio.sleep(0.2)
                # Said alone much later: nothing to join, held until the call decides it.
                _say(pipeline, "h1", "c9", Role.CUSTOMER, 40.0, 40.8, "5501")
                await asyncio.sleep(0.3)
                assert watch.finals("c9") == []
                await ws.send(telnyx_stop("S-h1"))
            await wait_for(lambda: engine.registry.calls["h1"].state == "ended")
            await wait_for(lambda: watch.finals("c9") != [], timeout=5)  # the call end
            engine.store.flush()
            watch.check_db()
        finally:
            poller.cancel()
            engine.registry.remove_tap(pipeline)
    watch.check_db()
    shown = [s.text for s in watch.segments]
    assert not any(g in text for g in GROUPS for text in shown), shown
    printed = watch.printed.getvalue()
    assert not any(g in printed for g in GROUPS), printed
    assert watch.seen_in_db == set() and watch.polls > 20
    assert watch.finals("c0") == ["[digits]", CARD]  # let go masked, then made specific
    assert [watch.finals(f"c{i}")[-1] for i in range(4)] == [CARD] * 4
    assert watch.finals("c9") == ["5501"]  # a number on its own after all
    # The held group went out before the next group of the same speaker.
    finals = [s.segment_id for s in watch.segments if s.final]
    assert finals.index("c0") < finals.index("c1")
    assert re.search(r"saying +h1 +customer @ +2\.0s  \[digits\]", printed)
    assert re.search(r"said +h1 +customer @ +40\.0s  5501", printed)
    conn = db_connect(db_path(settings.data_path()), readonly=True)
    assert [r[0] for r in conn.execute(
        "SELECT text FROM segments WHERE call_id = 'h1' ORDER BY start_s")] == [
        "Go ahead whenever you're ready.", CARD, "Mm-hmm, go on.", CARD, CARD, CARD, "5501"]


async def test_the_join_window_passing_lets_a_held_segment_go() -> None:
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    loop = asyncio.get_running_loop()
    pipeline = AnalysisPipeline(bus, loop, meaning=False)
    # The utterance ended almost the whole join window ago (its text was slow to come):
    # nothing more was said, so it is decided a moment later, by the clock alone.
    _say(pipeline, "k1", "c1", Role.CUSTOMER, 3.0, 3.8, "4539",
         ended_ago=redaction.JOIN_GAP_S - 0.2)
    await asyncio.sleep(0)
    assert [(s.text, s.final) for s in seen if isinstance(s, TranscriptSegment)] == [
        ("[digits]", False)]
    t0 = loop.time()
    await wait_for(lambda: any(isinstance(s, TranscriptSegment) and s.final for s in seen),
                   timeout=3)
    assert 0.1 < loop.time() - t0 < 1.5
    assert [(s.text, s.final) for s in seen if isinstance(s, TranscriptSegment)] == [
        ("[digits]", False), ("4539", True)]
    assert pipeline._timers == {} and pipeline._held == {}


async def test_a_held_group_waits_for_the_next_utterance_still_being_transcribed(settings) -> None:  # type: ignore[no-untyped-def]
    """The call ends while the customer's second group is still with the speech workers:
    the first is not let go raw at the end of the call, but when that text comes."""
    async with running_engine(settings) as engine:
        loop = asyncio.get_running_loop()
        watch = Watch(engine, settings)
        pipeline = AnalysisPipeline(engine.bus, loop, meaning=False)
        pool = SttPool("tiny.en", pipeline.on_text)  # never started: its queue holds the jobs
        pipeline.pool = pool
        engine.registry.add_tap(pipeline)
        engine.bus.subscribe(lambda e: pipeline.call_ended(e.call_id)
                             if isinstance(e, CallEnded) else None)
        try:
            async with connect(engine.url, additional_headers={
                    "x-telnyx-streaming-auth-token": "test-token"}) as ws:
                await ws.send(telnyx_start("S-h2", "h2"))
                quiet = np.zeros(8000 * 3 // 2, np.int16)
                audio = np.concatenate([tone(8000), quiet, tone(8000), quiet])
                for i, f in enumerate(pcmu_frames(audio)):
                    await ws.send(telnyx_media("S-h2", "inbound", i + 1, f))
                await wait_for(lambda: len(pool._pending) == 2)  # two utterances heard
                first, second = pool._pending
                pipeline.on_text(first, "4539")
                await asyncio.sleep(0)
                assert watch.finals(first.meta.segment_id) == []
                await ws.send(telnyx_stop("S-h2"))
            await wait_for(lambda: engine.registry.calls["h2"].state == "ended")
            await asyncio.sleep(0.3)
            assert watch.finals(first.meta.segment_id) == []  # the second may join it
            pipeline.on_text(second, "1488")
            await asyncio.sleep(0)
            assert watch.finals(first.meta.segment_id) == ["[digits]"]
            assert watch.finals(second.meta.segment_id) == ["[digits]"]
        finally:
            engine.registry.remove_tap(pipeline)
            pool.close()
    assert not any(g in s.text for g in GROUPS for s in watch.segments)


async def test_closing_the_pipeline_lets_held_segments_go() -> None:
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    loop = asyncio.get_running_loop()
    for on_loop in (True, False):
        seen.clear()
        pipeline = AnalysisPipeline(bus, loop, meaning=False)
        _say(pipeline, "k1", "c1", Role.CUSTOMER, 3.0, 3.8, "4539")
        _say(pipeline, "k2", "c2", Role.AGENT, 3.0, 3.8, "the code is 12")  # two digits
        await asyncio.sleep(0)
        assert not any(isinstance(s, TranscriptSegment) and s.final for s in seen)
        assert pipeline._timers.keys() == {"k1", "k2"}
        if on_loop:
            pipeline.close()
        else:  # as the engine does: on an executor thread, the flush comes back to the loop
            await loop.run_in_executor(None, pipeline.close)
            await asyncio.sleep(0)
        finals = {s.segment_id: s.text for s in seen
                  if isinstance(s, TranscriptSegment) and s.final}
        assert finals == {"c1": "4539", "c2": "the code is 12"}, on_loop
        assert pipeline._timers == {} and pipeline._held == {}


async def test_a_hold_is_bounded_in_time() -> None:
    """Speech workers that lose the next utterance's text (a full queue drops it) do not
    hold the first one for ever: HOLD_MAX_S after its text came, it goes as it stands."""
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    loop = asyncio.get_running_loop()
    pipeline = AnalysisPipeline(bus, loop, meaning=False)
    # The next utterance was sent for text (and will never come back).
    pipeline._in_flight["k1"] = {"lost": (Role.CUSTOMER, 4.5, loop.time())}
    _say(pipeline, "k1", "c1", Role.CUSTOMER, 3.0, 3.8, "4539", ended_ago=60.0)
    await asyncio.sleep(0.6)
    assert not any(isinstance(s, TranscriptSegment) and s.final for s in seen)
    held_meta, since = pipeline._held["k1"]["c1"]
    pipeline._held["k1"]["c1"] = (held_meta, since - HOLD_MAX_S)  # as if it came long ago
    await wait_for(lambda: any(isinstance(s, TranscriptSegment) and s.final for s in seen),
                   timeout=2)
    assert pipeline._held == {}


def test_tentative_text_masks_digits_that_are_not_decided() -> None:
    red = CallRedactor()
    assert red.peek("c1", "customer", 0.0, 1.0, "4539") == "[digits]"
    assert red.peek("c1", "customer", 0.0, 1.0, "yes it's 45") == "yes it's [digits]"
    # Numbers named as something else, or followed by words, are decided already.
    for text in ("It cost $45", "since 2019", "I have 2 kids", "order number 48213",
                 "45 dollars", "Yes."):
        assert red.peek("c1", "customer", 0.0, 1.0, text) == text


def test_the_redactor_holds_only_what_may_still_grow() -> None:
    red = CallRedactor()
    assert not red.push("a1", "agent", 0.0, 1.0, "And the billing zip code?").pending
    assert not red.push("c1", "customer", 1.5, 2.0, "90210").pending  # the answer: a zip
    assert not red.push("c2", "customer", 3.0, 4.0, "I'll call back at 3").pending
    # Long after that question, a number on its own may be the start of a card.
    first = red.push("c3", "customer", 40.0, 40.5, "4539")
    assert first.pending and red.holding() == {"c3": ("customer",
                                                      40.5 + redaction.JOIN_GAP_S)}
    # The other party asking something else decides it.
    asked = red.push("a2", "agent", 41.0, 42.0, "What's your email?")
    assert not asked.pending and asked.released == {"c3": "4539"}


def test_held_segments_are_bounded() -> None:
    red = CallRedactor()
    released: dict[str, str] = {}
    for i in range(redaction.MAX_HELD + 3):  # one open number per speaker
        r = red.push(f"s{i}", f"speaker{i}", i, i + 0.5, "45")
        assert r.pending
        released.update(r.released)
    assert len(red.holding()) == redaction.MAX_HELD
    assert released == {"s0": "45", "s1": "45", "s2": "45"}  # the oldest went first
    assert red.flush() == {f"s{i}": "45" for i in range(3, redaction.MAX_HELD + 3)}
