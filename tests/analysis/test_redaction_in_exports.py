"""With redaction on (the default), card numbers said aloud and keypad runs never reach the
store, so no export can show them; with it off, they are kept as said."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import pcmu_frames, telnyx_media, telnyx_start, telnyx_stop, tone, wait_for
from support import running_engine
from websockets.asyncio.client import connect

from console.analysis.pipeline import AnalysisPipeline, _Meta
from console.core.events import Role
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.exports import render
from console.store.queries import call_detail

CARD = "4539 1488 0343 6467"


async def _call(engine, call_id: str) -> None:  # type: ignore[no-untyped-def]
    frames = pcmu_frames(tone(160 * 300))
    async with connect(engine.url, additional_headers={
            "x-telnyx-streaming-auth-token": "test-token"}) as ws:
        await ws.send(telnyx_start("S-" + call_id, call_id))
        for i, f in enumerate(frames):
            await ws.send(telnyx_media("S-" + call_id, "inbound", i + 1, f))
            if 100 <= i < 140 and i % 10 == 0:  # four keys, 200 ms apart: a PIN
                await ws.send(json.dumps({"event": "dtmf", "stream_id": "S-" + call_id,
                                          "dtmf": {"digit": str(i // 10 - 9)}}))
        await wait_for(lambda: call_id in engine.registry.calls)
        pipeline = AnalysisPipeline(engine.bus, asyncio.get_running_loop(),
                                    redaction=engine.settings.redaction, meaning=False)
        pipeline._publish(call_id, _Meta("seg-1", Role.CUSTOMER, 1.0, 4.0, 0.0),
                          f"sure, my card number is {CARD}")
        await ws.send(telnyx_stop("S-" + call_id))
    await wait_for(lambda: engine.registry.calls[call_id].state == "ended")
    engine.store.flush()


@pytest.mark.parametrize("redaction", [True, False])
async def test_exports_follow_the_redaction_setting(settings, redaction: bool) -> None:  # type: ignore[no-untyped-def]
    settings.redaction = redaction
    async with running_engine(settings) as engine:
        await _call(engine, "r1")
    detail = call_detail(db_connect(db_path(settings.data_path()), readonly=True), "r1")
    digits = [d["digit"] for d in detail["dtmf"]]
    outputs = {fmt: render(detail, fmt) for fmt in ("txt", "json", "srt", "vtt", "csv")}
    if redaction:
        assert digits == ["*", "*", "*", "*"]
        assert detail["segments"][0]["text"] == "sure, my card number is [card number]"
        for fmt, text in outputs.items():
            assert CARD not in text and "4539" not in text, fmt
        assert "(keypad *)" in outputs["txt"]
    else:
        assert digits == ["1", "2", "3", "4"]
        assert CARD in outputs["csv"] and CARD in outputs["srt"]


async def _grouped_call(engine, call_id: str, groups: list[str],  # type: ignore[no-untyped-def]
                        question: bool = True) -> None:
    """A call whose customer reads a number one group per utterance, each group committed to
    the database before the next is said; with tentative text before each final line.
    The text comes as if long after its utterance (ended_at 0: the join window has passed
    by the clock), so the pipeline does not hold a group back: this is the correction path,
    for what is learnt late (tests/analysis/test_redaction_hold.py covers the holding)."""
    frames = pcmu_frames(tone(160 * 50))
    async with connect(engine.url, additional_headers={
            "x-telnyx-streaming-auth-token": "test-token"}) as ws:
        await ws.send(telnyx_start("S-" + call_id, call_id))
        for i, f in enumerate(frames):
            await ws.send(telnyx_media("S-" + call_id, "inbound", i + 1, f))
        await wait_for(lambda: call_id in engine.registry.calls)
        pipeline = AnalysisPipeline(engine.bus, asyncio.get_running_loop(), meaning=False)
        publish = pipeline._publish
        if question:
            publish(call_id, _Meta("q", Role.AGENT, 0.0, 1.5, 0.0),
                    "Go ahead whenever you're ready.")
        for i, group in enumerate(groups):
            meta = _Meta(f"g-{i}", Role.CUSTOMER, 2.0 + 2 * i, 2.8 + 2 * i, 0.0)
            publish(call_id, _Meta(meta.segment_id, Role.CUSTOMER, meta.start_s, meta.end_s,
                                   0.0, partial=True), "tentative words")
            publish(call_id, meta, group)
            engine.store.flush()  # each raw group reaches the database before it is fixed
        await ws.send(telnyx_stop("S-" + call_id))
    await wait_for(lambda: engine.registry.calls[call_id].state == "ended")
    engine.store.flush()


async def test_a_card_read_in_groups_is_corrected_in_the_store_and_exports(settings) -> None:  # type: ignore[no-untyped-def]
    """Groups said one utterance at a time, let go at once (see `_grouped_call`), are stored
    raw at first (alone, "4539" could be a year); once the number is known, the pipeline
    publishes those segments again with the same segment_id and the store replaces them in
    place: one row each, nothing raw left, and no tentative text stored at all."""
    groups = ["4539", "1488", "0343", "6467"]
    async with running_engine(settings) as engine:
        await _grouped_call(engine, "g1", groups)
    conn = db_connect(db_path(settings.data_path()), readonly=True)
    detail = call_detail(conn, "g1")
    texts = [s["text"] for s in detail["segments"]]
    assert texts == ["Go ahead whenever you're ready."] + ["[card number]"] * 4
    stored = " ".join(str(row) for row in conn.execute("SELECT * FROM segments"))
    assert "tentative" not in stored
    for fmt in ("txt", "json", "srt", "vtt", "csv"):
        out = render(detail, fmt)
        assert not any(g in out for g in groups), fmt


async def test_no_raw_group_is_left_in_the_database_file(settings) -> None:  # type: ignore[no-untyped-def]
    """The README promises nothing raw is stored: not in a table, and not in the bytes of
    the database files either (search index, free pages, write-ahead log) once the engine
    has stopped. Two groups: the first is stored raw, then corrected, and little is written
    after it (the search index alone would keep "4539" until its segments merge)."""
    async with running_engine(settings) as engine:
        await _grouped_call(engine, "g2", ["4539", "1488"], question=False)
    data = settings.data_path()
    assert [s["text"] for s in call_detail(db_connect(db_path(data), readonly=True),
                                           "g2")["segments"]] == ["[digits]"] * 2
    found = {f.name for f in data.glob("coach-console.db*") if b"4539" in f.read_bytes()}
    assert found == set()
