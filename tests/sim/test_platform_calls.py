"""The simulator plays every platform against the real engine: `simulate --provider X` makes
a call stored under that platform, with each party's audio where the platform carries it;
and where the platform takes audio back, what the console sends arrives at the simulator
decoded, with marks and clears answered in the platform's own words."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from helpers import peak_frequency, tone_s, wait_for
from support import running_engine

from console.audio.codecs import resample, ulaw_decode, ulaw_encode
from console.audio.mp3 import decode_mp3
from console.audio.transmit import FrameEncoder
from console.core.events import (
    DtmfReceived,
    MarkReceived,
    Provider,
    Role,
    SendClear,
    SendMark,
    SendMedia,
)
from console.protocol import bandwidth, exotel, plivo, signalwire, twilio, vonage
from console.sim.client import PLATFORMS, SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.store.export_wav import call_audio
from console.supervisor.routes import StreamReach, route

pytestmark = pytest.mark.timeout(60)

ALL = ["telnyx", "twilio", "plivo", "exotel", "vonage", "signalwire", "bandwidth"]
# The customer speaks from 0.75 s to 3.5 s of this dialogue, the agent from 3.75 s on.
DIALOGUE, SECONDS = "billing-question-positive", 5.0
TONE_HZ = 730  # the supervisor's "voice"


def _dialogue() -> Any:
    return next(d for d in load_dialogues() if d.name == DIALOGUE)


def _as_carried(platform: str, pcm: np.ndarray) -> np.ndarray:
    """A party's 8 kHz audio as the platform's default codec carries it."""
    if PLATFORMS[platform].default_codec == "PCMU":
        return ulaw_decode(ulaw_encode(pcm))
    return pcm  # L16: exact


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)
    x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
    return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def _similar_near(a: np.ndarray, b: np.ndarray, lags: int = 40) -> float:
    """The best `_similar` with `a` shifted by up to `lags` samples (resamplers delay)."""
    return max(_similar(a[k:], b) for k in range(lags))


def test_every_platform_is_offered_by_the_cli() -> None:
    from console.cli import build_parser

    assert sorted(PLATFORMS) == sorted(ALL)
    for name in ALL:
        args = build_parser().parse_args(["simulate", "--url", "ws://x/", "--provider", name])
        assert args.provider == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--url", "ws://x/", "--provider", "nosuch"])


@pytest.mark.parametrize("platform", ALL)
async def test_simulate_plays_a_stored_call_with_each_partys_audio(settings, platform: str
                                                                   ) -> None:
    async with running_engine(settings) as engine:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console", "simulate", "--url", engine.url, "--token",
            "test-token", "--provider", platform, "--speed", "0", "--duration", str(SECONDS),
            "--dialogue", DIALOGUE, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        summary = json.loads(out)
        call_id = summary[0]["call"]
        streams = summary[0]["streams"]
        assert [s["error"] for s in streams] == [None] and streams[0]["problems"] == []
        await wait_for(lambda: call_id in engine.registry.calls
                       and engine.registry.calls[call_id].state == "ended")
        call = engine.registry.calls[call_id]
        roles = sorted(t.role.value for t in call.tracks())
        stats = engine.stats()
        assert stats.bad_frames == 0 and stats.unrecognised == 0, stats.bad_by_kind
        assert engine.store.flush()
        conn = db_connect(db_path(settings.data_path()), readonly=True)
        stored = conn.execute("SELECT provider FROM calls WHERE id = ?", (call_id,)).fetchone()
        stereo, rate = call_audio(conn, settings.data_path(), call_id)
    assert stored["provider"] == Provider(platform).value
    d = _dialogue()
    n = int(SECONDS * 8000)
    cust, agent = d.customer[:n], d.agent[:n]
    left, right = stereo[:, 0], stereo[:, 1]
    if platform == "vonage":
        # A participant hears the call mixed as one track, on the leg it is told it is on.
        assert roles == ["customer"]
        mixed = np.clip(cust.astype(np.int32) + agent, -32768, 32767).astype(np.int16)
        assert rate == 16000 and _similar(left, resample(mixed, 8000, 16000)) > 0.99
        assert not right.any()
        return
    assert roles == ["agent", "customer"]
    assert rate == 8000 and stereo.shape[0] == n
    assert _similar(left, _as_carried(platform, cust)) > 0.999
    assert _similar(right, _as_carried(platform, agent)) > 0.999
    assert abs(_similar(left, agent)) < 0.05  # each party in its own channel


# Per platform: the leg layout, the stream the console talks on, and what that is.
BACK = {
    "telnyx": ("single", Role.CUSTOMER, "whisper"),  # target_legs=opposite: the agent
    "twilio": ("split", Role.AGENT, "whisper"),
    "signalwire": ("split", Role.AGENT, "whisper"),
    "plivo": ("split", Role.AGENT, "whisper"),
    "exotel": ("split", Role.AGENT, "whisper"),
    "bandwidth": ("split", Role.AGENT, "whisper"),
    "vonage": ("single", Role.CUSTOMER, "barge"),  # a participant: everyone hears it
}
# What a clear is answered with, as the console sees it: the pending mark (Twilio's way),
# or the platform's own acknowledgement (the pending mark is then never returned).
CLEARED = {"telnyx": "w-cut", "twilio": "w-cut", "signalwire": "w-cut", "exotel": "w-cut",
           "plivo": plivo.CLEARED_MARK, "vonage": vonage.CLEARED_MARK, "bandwidth": None}
# The console's audio in the platform's own words (the first message it got).
FIRST = {
    "telnyx": lambda m: m["event"] == "media" and "stream_id" not in m,
    "twilio": lambda m: m["event"] == "media" and m["streamSid"].startswith("MZ"),
    "signalwire": lambda m: m["event"] == "media" and signalwire._is_uuid(m["streamSid"]),
    "plivo": lambda m: m["event"] == "playAudio" and m["media"]["contentType"] == "audio/x-l16"
    and m["media"]["sampleRate"] == 8000,
    "exotel": lambda m: m["event"] == "media" and "stream_sid" in m,
    "bandwidth": lambda m: m["eventType"] == "playAudio"
    and m["media"]["contentType"] == "audio/pcmu",
    "vonage": lambda m: m == {"binary": 640},  # 20 ms of 16 kHz L16
}
MODULES = {"twilio": twilio, "signalwire": signalwire, "plivo": plivo, "exotel": exotel,
           "vonage": vonage, "bandwidth": bandwidth}


@pytest.mark.parametrize("platform", sorted(BACK))
async def test_the_consoles_audio_marks_and_clears_reach_the_platform(settings, platform: str
                                                                      ) -> None:
    legs, target, mode = BACK[platform]
    has_mark = getattr(MODULES.get(platform), "HAS_MARK", True)
    async with running_engine(settings) as engine:
        events: list[Any] = []
        engine.bus.subscribe(lambda e: events.append(e)
                             if isinstance(e, (MarkReceived, DtmfReceived)) else None)

        def marks() -> list[str]:
            return [e.name for e in events if isinstance(e, MarkReceived)]

        opts = SimOptions(url=engine.url, provider=platform, token="test-token", legs=legs,
                          speed=1.0, duration=3.0)
        plan = plan_calls(load_dialogues(), opts)[0]
        plan.dialogue = dataclasses.replace(plan.dialogue, dtmf=[{"at_s": 0.3, "digit": "7"}])
        call_task = asyncio.create_task(play_call(plan, opts))
        want = 2 if legs == "split" else 1
        await wait_for(lambda: plan.call_key in engine.registry.calls
                       and len(engine.registry.calls[plan.call_key].streams) == want, 5)
        call = engine.registry.calls[plan.call_key]
        stream = next(s for s in call.streams.values() if s.leg.leg is target)
        inj = stream.injection
        assert inj is not None
        assert inj.hears == ({Role.AGENT} if mode == "whisper" else set(Role)), inj.why
        # The supervisor's routing picks this stream for it.
        reach = [StreamReach(s.uid, s.injection) for s in call.streams.values()]
        assert route(mode, reach).streams == (stream.uid,)

        enc = FrameEncoder(inj.codec, inj.rate, 8000, inj.byte_order or "big")
        # Not a divisor of the rate: byte-swapped samples of it look nothing like it.
        voice = tone_s(TONE_HZ, 8000, 1.4, amplitude=8000)
        frames = enc.push(voice)
        assert len(frames) == 70

        async def send(batch: list[bytes]) -> None:
            # A few per turn of the loop, as a live voice comes (the engine holds at most
            # 10 audio frames per stream for sending).
            for i, payload in enumerate(batch):
                assert engine.send_command(stream, SendMedia(payload))
                if i % 5 == 4:
                    await asyncio.sleep(0)

        loop = asyncio.get_running_loop()
        await send(frames[:20])  # 0.4 s, then a mark after it
        if has_mark:
            sent_at = loop.time()
            assert engine.send_command(stream, SendMark("w-end"))
            await wait_for(lambda: "w-end" in marks(), 3)
            # Echoed once the 0.4 s before it had played, not on arrival.
            assert loop.time() - sent_at >= 0.3
        else:
            # the platform has no marks: nothing is sent, and the caller is told
            assert engine.send_command(stream, SendMark("w-end")) is False
        await send(frames[20:])  # 1 s more, then cut short
        if has_mark:
            assert engine.send_command(stream, SendMark("w-cut"))
        cut_at = loop.time()
        assert engine.send_command(stream, SendClear())
        if CLEARED[platform] is not None:
            await wait_for(lambda: CLEARED[platform] in marks(), 3)
            assert loop.time() - cut_at < 0.8  # at once, not after the queued second
        result = await call_task
        await wait_for(lambda: call.state == "ended", 5)
    assert engine.stats().bad_frames == 0, engine.stats().bad_by_kind
    got = next(s for s in result.streams if s.stream_id == stream.stream_id)
    assert all(s.error is None and s.problems == [] for s in result.streams)
    assert all(s.received == [] for s in result.streams if s is not got)
    assert FIRST[platform](got.received[0]), got.received[0]
    assert got.clears == 1
    # Every frame arrived and was decoded to 8 kHz: the tone, whole.
    pcm = got.pcm()
    assert pcm.size >= 70 * 160 - 64
    assert abs(peak_frequency(pcm[:8000], 8000) - TONE_HZ) < 10
    assert _similar_near(pcm[:8000], voice[:7900]) > 0.95
    assert float(np.sqrt(np.mean(pcm[:8000].astype(np.float64) ** 2))) > 4000
    if has_mark:
        assert "w-end" in got.marks_echoed
        assert ("w-cut" in got.marks_echoed) == (CLEARED[platform] == "w-cut")
    assert "w-cut" not in marks() or CLEARED[platform] == "w-cut"
    # DTMF where the platform sends it on the socket (Bandwidth does not).
    digits = [e.digit for e in events if isinstance(e, DtmfReceived)]
    assert digits == ([] if platform == "bandwidth" else ["7"])


@pytest.mark.parametrize(("platform", "codec", "rate", "legs"), [
    ("plivo", "PCMU", 8000, "split"),
    ("plivo", "L16", 16000, "single"),
    ("exotel", "L16", 16000, "single"),
    ("vonage", "L16", 8000, "single"),
    ("signalwire", "L16", 16000, "single"),
])
async def test_other_codecs_and_rates_play_too(settings, platform: str, codec: str, rate: int,
                                               legs: str) -> None:
    async with running_engine(settings) as engine:
        opts = SimOptions(url=engine.url, provider=platform, token="test-token", codec=codec,
                          rate=rate, legs=legs, speed=0, duration=SECONDS, dialogue=DIALOGUE)
        plan = plan_calls(load_dialogues(), opts)[0]
        result = await play_call(plan, opts)
        assert all(s.error is None for s in result.streams)
        await wait_for(lambda: plan.call_key in engine.registry.calls
                       and engine.registry.calls[plan.call_key].state == "ended")
        call = engine.registry.calls[plan.call_key]
        assert call.provider is Provider(platform)
        assert {(s.media_format.encoding, s.media_format.sample_rate)
                for s in call.streams.values()} == {(codec, rate)}
        assert engine.stats().bad_frames == 0, engine.stats().bad_by_kind
        d = _dialogue()
        expect = {Role.CUSTOMER: d.customer, Role.AGENT: d.agent}
        if platform == "vonage":
            expect = {Role.CUSTOMER: np.clip(d.customer.astype(np.int32) + d.agent,
                                             -32768, 32767).astype(np.int16)}
        tracks = list(call.tracks())
        assert sorted(t.role for t in tracks) == sorted(expect)
        for t in tracks:
            heard = t.ring.latest(int(SECONDS * t.rate))
            sent = resample(expect[t.role][: int(SECONDS * 8000)], 8000, t.rate)
            if codec == "PCMU":
                sent = ulaw_decode(ulaw_encode(sent))
            assert t.rate == rate and _similar(heard, sent) > 0.99, t.key


@pytest.mark.parametrize("platform", ["vonage", "twilio"])
async def test_what_a_platform_cannot_do_is_refused_before_a_call(platform: str) -> None:
    opts = SimOptions(url="ws://127.0.0.1:9/", provider=platform,
                      **({"legs": "split"} if platform == "vonage" else {"codec": "L16"}))
    with pytest.raises(ValueError, match="mixed as one track" if platform == "vonage"
                       else "does not stream L16"):
        plan_calls(load_dialogues(), opts)


async def test_a_prompt_in_telnyx_mp3_mode_is_decoded_by_the_simulator(settings) -> None:
    async with running_engine(settings) as engine:
        opts = SimOptions(url=engine.url, provider="telnyx", token="test-token",
                          speed=1.0, duration=2.0, params={"bidirectional_mode": "mp3"})
        plan = plan_calls(load_dialogues(), opts)[0]
        call_task = asyncio.create_task(play_call(plan, opts))
        await wait_for(lambda: plan.call_key in engine.registry.calls
                       and engine.registry.calls[plan.call_key].streams, 5)
        prompt = tone_s(600, 8000, 12.0, amplitude=6000)  # two MP3 files, a second apart
        assert (await engine.play_prompt(plan.call_key, prompt, 8000, "whisper")).ok
        result = await call_task
    got = result.streams[0]
    assert [m["event"] for m in got.received] == ["media", "media"]
    assert got.problems == []  # not faster than one MP3 message a second
    first = base64.b64decode(got.received[0]["media"]["payload"])
    assert decode_mp3(first)[1] == 8000 and got.received_media.startswith(first)
    pcm = got.pcm()
    assert abs(pcm.size - 12 * 8000) < 8000  # both files, decoded and back at 8 kHz
    assert abs(peak_frequency(pcm[8000:16000], 8000) - 600) < 10
