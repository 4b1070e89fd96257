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
                                    redaction=engine.settings.redaction)
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
