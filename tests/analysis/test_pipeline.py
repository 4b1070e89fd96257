"""Speech through the whole engine: a simulated call in, transcript segments with speakers,
sentiment and alerts out, committed to the store; and the engine without a model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from helpers import wait_for
from support import REPO, running_engine

from console.core.events import (
    AlertRaised,
    CallTopic,
    Role,
    SentimentSample,
    SpeechActivity,
    TranscriptSegment,
)
from console.sim.client import SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.store.db import connect, db_path
from console.store.queries import call_detail


@pytest.mark.parametrize("vad_engine", ["webrtc", "silero"])
async def test_a_call_becomes_a_transcript(settings, vad_engine: str) -> None:  # type: ignore[no-untyped-def]
    settings.transcribe = True
    settings.vad_engine = vad_engine
    async with running_engine(settings) as engine:
        await engine.transcription_ready()
        assert engine.transcription.startswith("on: tiny.en"), engine.transcription
        seen: list = []
        engine.bus.subscribe(seen.append)
        opts = SimOptions(url=engine.url, token="test-token", speed=0,
                          dialogue="angry-double-charge")
        plan = plan_calls(load_dialogues(), opts)[0]
        await play_call(plan, opts)
        script = plan.dialogue.turns
        await wait_for(lambda: sum(isinstance(e, TranscriptSegment) for e in seen)
                       >= len(script) - 2, timeout=60)
        await asyncio.sleep(0.5)
        engine.store.flush()
    segs = [e for e in seen if isinstance(e, TranscriptSegment)]
    assert all(s.final and -1 <= (s.sentiment or 0) <= 1 for s in segs)
    text = {role: " ".join(s.text.lower() for s in segs if s.speaker.value == role)
            for role in ("customer", "agent")}
    # Synthetic voices through the phone band are hard for tiny.en; the gist must survive,
    # each speaker's words under their own label.
    assert "still there" in text["customer"] and "manager" in text["customer"]
    assert "help" in text["agent"] and "transfer" in text["agent"]
    assert "manager" not in text["agent"] and "transfer" not in text["customer"]
    for seg in segs:  # each line sits where its speaker said something in the script
        assert any(t["speaker"] == seg.speaker.value
                   and t["start_s"] - 1.0 <= seg.start_s <= t["end_s"] + 0.5 for t in script)
    # The speaking light: on within a moment of each scripted turn's start, off after it.
    activity = [e for e in seen if isinstance(e, SpeechActivity)]
    for turn in script:
        assert any(a.speaking and a.speaker.value == turn["speaker"]
                   and turn["start_s"] - 0.3 <= a.at_s <= turn["start_s"] + 0.4
                   for a in activity), turn
    for role in Role:
        states = [a.speaking for a in activity if a.speaker is role]
        # Changes only, each start ended by the end of the call.
        assert states and states == [True, False] * (len(states) // 2)
    rules = {e.rule for e in seen if isinstance(e, AlertRaised)}
    # "You charged me twice this month" matches no literal phrase: meaning fires it.
    assert {"cancellation", "escalation", "payment_dispute"} <= rules
    topics = [e for e in seen if isinstance(e, CallTopic)]
    assert topics and topics[-1].topic == "billing"
    assert any(isinstance(e, SentimentSample) and e.score < 0 for e in seen)
    conn = connect(db_path(settings.data_path()), readonly=True)
    exported = call_detail(conn, plan.call_key)
    assert len(exported["segments"]) == len(segs)
    m = exported["metrics"]
    assert m is not None and 0.3 <= m["talk_ratio"] <= 0.7
    assert m["customer_talk_s"] > 5 and m["agent_talk_s"] > 5
    assert exported["segments"] == sorted(exported["segments"], key=lambda s: s["start_s"])
    assert exported["topic"] == "billing" and 0 < exported["topic_confidence"] <= 1
    # Judged by meaning: a class and a confidence on every line.
    assert all(s["sentiment_label"] in ("negative", "neutral", "positive")
               and s["sentiment_confidence"] is not None for s in exported["segments"])
    assert any(s["sentiment_label"] == "negative" and s["speaker"] == "customer"
               for s in exported["segments"])
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(exported)),
                        json.loads((REPO / "docs" / "export-schema.json").read_text()))


async def test_without_a_model_the_engine_says_why_and_runs(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.transcribe = True
    settings.stt_model_path = str(tmp_path / "nowhere")
    async with running_engine(settings) as engine:
        await engine.transcription_ready()
        assert engine.transcription.startswith("off: the configured speech model folder")
        opts = SimOptions(url=engine.url, token="test-token", speed=0, duration=1.0)
        plan = plan_calls(load_dialogues(), opts)[0]
        await play_call(plan, opts)
        await wait_for(lambda: plan.call_key in engine.registry.calls
                       and engine.registry.calls[plan.call_key].state == "ended")


async def test_the_focused_call_gets_tentative_text(settings) -> None:  # type: ignore[no-untyped-def]
    settings.transcribe = True
    async with running_engine(settings) as engine:
        await engine.transcription_ready()
        seen: list = []
        engine.bus.subscribe(lambda e: seen.append(e) if isinstance(e, TranscriptSegment)
                             else None)
        opts = SimOptions(url=engine.url, token="test-token", speed=4.0, calls=2,
                          dialogue="friendly-address-change", duration=20)
        focus, other = plan_calls(load_dialogues(), opts)
        engine.set_focus(focus.call_key)
        await asyncio.gather(play_call(focus, opts), play_call(other, opts, 0.05))

        def settled() -> bool:  # some tentative text, and each got its final line
            partial = {s.segment_id for s in seen if not s.final}
            return bool(partial) and partial <= {s.segment_id for s in seen if s.final}

        await wait_for(settled, timeout=90)
        await asyncio.sleep(1.0)
        # Tentative text may still come in that second; a final line redaction holds back
        # (digits that might begin a card number) follows within its hold.
        await wait_for(settled, timeout=40)
    partial = [s for s in seen if not s.final]
    final_ids = {s.segment_id for s in seen if s.final}
    assert partial, "no tentative text for the focused call"
    assert all(s.call_id == focus.call_key for s in partial)
    # Each tentative line is later replaced by the final one with its id.
    assert {s.segment_id for s in partial} <= final_ids
    final_seen_at = {s.segment_id: i for i, s in enumerate(seen) if s.final}
    assert all(i < final_seen_at[s.segment_id] for i, s in enumerate(seen) if not s.final)


def test_live_overtalk_and_silence_alerts() -> None:
    from types import SimpleNamespace

    from console.analysis.alerts import AlertSettings
    from console.analysis.pipeline import AnalysisPipeline
    from console.core.bus import EventBus
    from console.core.events import Role

    bus = EventBus()
    alerts: list = []
    bus.subscribe(lambda e: alerts.append(e) if isinstance(e, AlertRaised) else None)
    loop = asyncio.new_event_loop()
    try:
        p = AnalysisPipeline(bus, loop, alerts=AlertSettings(overtalk_s=1.5,
                                                             long_silence_s=5.0))
        d = next(x for x in load_dialogues() if x.name == "angry-double-charge")
        speech = d.customer[int(4.3 * 8000) : int(8.5 * 8000)]  # four seconds of talking
        tracks = [SimpleNamespace(key=f"t/{r.value}", call_id="c", role=r, rate=8000,
                                  call_offset_s=0.0) for r in Role]
        for i in range(0, speech.size, 160):  # both talking at once
            for t in tracks:
                p.feed(t, speech[i : i + 160])
        assert [a.rule for a in alerts] == ["overtalk"]
        quiet = speech[:160] * 0
        for _ in range(50 * 7):  # then seven seconds of nobody
            for t in tracks:
                p.feed(t, quiet)
        assert [a.rule for a in alerts] == ["overtalk", "long_silence"]
    finally:
        loop.close()


async def test_no_package_tries_the_download_and_explains(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With no model installed, faster-whisper's download by name is tried; on a machine
    that cannot fetch it, transcription is off with a message saying how to add a model."""
    import console.analysis.stt.models as models

    monkeypatch.setattr(models, "SHIPPED", {})  # as if no model package were installed
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the worker (a new process) inherits this
    settings.transcribe = True
    async with running_engine(settings) as engine:
        await engine.transcription_ready()
        assert engine.transcription.startswith("off: speech recognition could not start")
        assert "stt_model_path" in engine.transcription


async def test_broken_rules_turn_transcription_off(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bad rules file stops speech analysis with its reason; the engine itself runs."""
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[alerts.rules]]\nname = "x"\nregex = "(unclosed"\n')
    settings.transcribe = True
    settings.alerts_file = str(rules)
    async with running_engine(settings) as engine:
        status = await engine.transcription_ready()
        assert status.startswith("off: ")
        assert "unterminated" in status or "missing" in status
        assert engine.port


async def test_a_missing_voice_detector_turns_transcription_off(settings, monkeypatch,  # type: ignore[no-untyped-def]
                                                               tmp_path) -> None:
    from console.analysis import vad

    monkeypatch.setattr(vad, "silero_model_path", lambda: tmp_path / "silero.onnx")
    vad.silero_session.cache_clear()
    settings.transcribe = True
    settings.vad_engine = "silero"
    try:
        async with running_engine(settings) as engine:
            status = await engine.transcription_ready()
            assert status.startswith("off: the Silero voice detector's model is missing")
            assert "choose the WebRTC detector" in status
            assert engine.port
    finally:
        vad.silero_session.cache_clear()


async def test_what_is_said_while_the_model_loads_is_transcribed(settings) -> None:  # type: ignore[no-untyped-def]
    """A call that arrives as the console starts: its first words come before the speech
    workers are ready, and must still become text."""
    settings.transcribe = True
    async with running_engine(settings) as engine:
        seen: list = []
        engine.bus.subscribe(seen.append)
        opts = SimOptions(url=engine.url, token="test-token", speed=0, duration=5.0,
                          dialogue="angry-double-charge")
        plan = plan_calls(load_dialogues(), opts)[0]
        await play_call(plan, opts)
        assert not engine.transcription.startswith("on"), "the model loaded first"
        await engine.transcription_ready()
        await wait_for(lambda: any(isinstance(e, TranscriptSegment) and e.final
                                   and e.start_s < 1.5 for e in seen), timeout=30)
    first = next(e for e in seen if isinstance(e, TranscriptSegment) and e.start_s < 1.5)
    assert first.speaker is Role.AGENT and "help" in first.text.lower(), first
