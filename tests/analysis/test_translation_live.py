"""Live translation end to end: a Spanish-speaking customer streamed into the engine with
`translate = "en"` becomes English lines that keep what was said and its language, in the
store and the JSON export; the agent, speaking English, stays on the English model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import pcmu_frames, telnyx_media, telnyx_start, wait_for
from support import REPO, running_engine
from websockets.asyncio.client import connect

from console.audio.wav import read_wav
from console.core.events import TranscriptSegment
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.queries import call_detail

pytestmark = pytest.mark.timeout(300)
DATA = REPO / "tests" / "data" / "translate"


def _clip(name: str) -> np.ndarray:
    pcm, rate = read_wav(DATA / "audio" / f"{name}.wav")
    assert rate == 8000
    return pcm.reshape(-1)  # mono


async def test_a_spanish_speaker_is_translated_live(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.transcribe = True
    settings.translate = "en"
    gap = np.zeros(8000, np.int16)  # a second between lines: each is an utterance
    customer = np.concatenate([gap, *[np.concatenate([_clip(f"es-0{i}"), gap])
                                      for i in (1, 2, 3)]])
    async with running_engine(settings) as engine:
        await engine.transcription_ready()
        await wait_for(lambda: engine.translation != "starting", 120)
        assert engine.translation.startswith("on: into English"), engine.translation
        seen: list = []
        engine.bus.subscribe(seen.append)
        async with connect(engine.url, additional_headers={
                "x-telnyx-streaming-auth-token": "test-token"}) as ws:
            await ws.send(telnyx_start("S-es", "call-es", params={"leg": "customer"}))
            for i, frame in enumerate(pcmu_frames(customer)):
                await ws.send(telnyx_media("S-es", "inbound", i + 1, frame))
                if i % 50 == 0:
                    await asyncio.sleep(0)
            await wait_for(lambda: sum(isinstance(e, TranscriptSegment) and e.final
                                       for e in seen) >= 3, 180)
        assert engine.store.flush()
    finals = [e for e in seen if isinstance(e, TranscriptSegment) and e.final]
    spanish = [s for s in finals if s.language == "es"]
    # The first line settles the language only with a second detection that agrees; every
    # line of the Spanish speaker is translated either way.
    assert len(spanish) >= 2, [(s.language, s.text) for s in finals]
    for s in spanish:
        assert s.original_text and s.text and s.original_text != s.text
    english = " ".join(s.text.lower() for s in spanish)
    assert any(w in english for w in ("internet", "charged", "twice", "bill", "invoice"))
    conn = db_connect(db_path(settings.data_path()), readonly=True)
    try:
        exported = call_detail(conn, "call-es")
    finally:
        conn.close()
    rows = [s for s in exported["segments"] if s["language"] == "es"]
    assert rows and all(r["original_text"] and r["text"] for r in rows)
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(exported)),
                        json.loads((REPO / "docs" / "export-schema.json").read_text()))
