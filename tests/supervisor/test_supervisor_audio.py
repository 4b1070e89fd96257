"""Listen, whisper and barge end to end: a real engine, the simulator playing the provider's
part over real WebSockets, and the virtual sound card (speakers recorded from their monitor,
a tone played into the microphone sink)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import sound
from helpers import peak_frequency, tone_s, wait_for
from support import audit_rows, running_engine

from console.audio.codecs import resample, ulaw_decode, ulaw_encode
from console.sim.client import CallResult, SimOptions, plan_calls, play_call
from console.sim.dialogues import load_dialogues
from console.supervisor.controller import SupervisorAudio

pytestmark = pytest.mark.timeout(90)

TONE_HZ = 1000
WAIT_S = 5.0  # how long a supervisor action may take to show (helpers.wait_for's default: 15)


def tone(seconds: float) -> np.ndarray:
    """The supervisor speaking: TONE_HZ into the microphone, at the sound card's 48 kHz."""
    return tone_s(TONE_HZ, sound.RATE, seconds, amplitude=9000)


def dominant_hz(payload: bytes, rate: int = 8000) -> float:
    return peak_frequency(ulaw_decode(payload), rate)


class Session:
    """An engine with a call playing in real time and the supervisor's audio on it."""

    def __init__(self, engine: Any, sup: SupervisorAudio, call: asyncio.Task[CallResult],
                 plan: Any) -> None:
        self.engine, self.sup, self.call, self.plan = engine, sup, call, plan

    @property
    def call_id(self) -> str:
        return next(iter(self.engine.registry.calls))

    async def act(self, action: str) -> None:
        self.sup.request(self.call_id, action)
        await asyncio.sleep(0.05)


async def start_call(engine: Any, provider: str, legs: str, seconds: float = 4.5,
                     params: dict[str, str] | None = None) -> tuple[asyncio.Task[CallResult],
                                                                      Any]:
    opts = SimOptions(url=engine.url, token="test-token", provider=provider, legs=legs,
                      duration=seconds, dtmf=False, params=params or {})
    plan = plan_calls(load_dialogues(), opts)[0]
    task = asyncio.ensure_future(play_call(plan, opts))
    await wait_for(lambda: any(c.state == "active" and c.tracks()
                               for c in engine.registry.calls.values()), WAIT_S)
    return task, plan


@pytest.fixture
def card() -> sound.VirtualSoundCard:
    return sound.card()


async def test_listen_plays_the_call_on_the_speakers(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, plan = await start_call(engine, "telnyx", "single", seconds=5.0)
        call_id = next(iter(engine.registry.calls))
        rec = card.record_speakers()
        sup.request(call_id, "listen")
        await wait_for(lambda: sup.state.listening == call_id, WAIT_S)
        assert sup.state.mode_of(call_id) == "listening"
        await task
        heard = rec.stop()
        stats = sup.output.stats()
        sup.close()
    # Both speakers, mixed, in both channels: what the simulator sent, through mu-law.
    d = plan.dialogue
    sent = sum(ulaw_decode(ulaw_encode(resample(x, d.rate, 8000))).astype(np.float64)
               for x in (d.customer, d.agent))
    got = resample(heard[:, 0].copy(), sound.RATE, 8000).astype(np.float64)
    assert np.abs(got).max() > 1000, "nothing reached the speaker sink"
    assert np.array_equal(heard[:, 0], heard[:, 1])  # mixed: the same in both ears
    assert correlation(got, sent[: int(5.0 * 8000)]) > 0.8
    assert stats.callbacks > 100


def piecewise_correlation(got: np.ndarray, sent: np.ndarray, piece: int = 8000) -> float:
    """The median, over the one-second pieces of `sent` that hold speech, of each piece's
    best correlation anywhere in `got`."""
    scores = [correlation(got, sent[i:i + piece]) for i in range(0, sent.size - piece + 1, piece)
              if np.abs(sent[i:i + piece]).max() > 1000]
    return float(np.median(scores)) if scores else 0.0


def correlation(got: np.ndarray, sent: np.ndarray) -> float:
    """Best normalised correlation of `got` against `sent` at any lag (FFT)."""
    n = 1 << int(np.ceil(np.log2(got.size + sent.size)))
    xc = np.fft.irfft(np.fft.rfft(got, n) * np.conj(np.fft.rfft(sent, n)), n)
    lag = int(np.argmax(xc))
    if lag > n // 2:
        lag -= n
    a, b = (got[lag:], sent) if lag >= 0 else (got, sent[-lag:])
    m = min(a.size, b.size)
    a, b = a[:m], b[:m]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


async def test_split_listening_puts_customer_left_and_agent_right(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine, channel_mode="split")
        task, plan = await start_call(engine, "telnyx", "single", seconds=5.0)
        call_id = next(iter(engine.registry.calls))
        rec = card.record_speakers()
        sup.request(call_id, "listen")
        await task
        heard = rec.stop()
        sup.close()
    d = plan.dialogue
    cust = ulaw_decode(ulaw_encode(resample(d.customer, d.rate, 8000)))[:40000].astype(float)
    agent = ulaw_decode(ulaw_encode(resample(d.agent, d.rate, 8000)))[:40000].astype(float)
    left = resample(heard[:, 0].copy(), sound.RATE, 8000).astype(float)
    right = resample(heard[:, 1].copy(), sound.RATE, 8000).astype(float)
    # Each ear carries its own party, never the other. Measured per second of what was
    # sent, each at its own best lag: a busy machine's underrun or trimmed backlog shifts
    # what follows it, which one lag for the whole call cannot fit (0.65 seen on a full
    # run), while every second still matches at about 0.9.
    assert piecewise_correlation(left, cust) > 0.7
    assert piecewise_correlation(right, agent) > 0.7
    assert correlation(left, agent) < 0.3


@pytest.mark.parametrize(("provider", "agent_stream_leg"), [("telnyx", "customer"),
                                                            ("twilio", "agent")])
async def test_whisper_reaches_the_agent_stream_only(settings, card, provider,
                                                     agent_stream_leg) -> None:
    """Telnyx plays returned audio to the opposite leg (the customer-leg stream reaches the
    agent); Twilio to the stream's own leg (the agent-leg stream)."""
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, provider, "split")
        s = Session(engine, sup, task, None)
        await s.act("whisper")
        await wait_for(lambda: sup.state.talking == s.call_id, WAIT_S)
        assert sup.state.mode_of(s.call_id) == "whispering"
        assert sup.state.listening == s.call_id  # whispering, the supervisor hears the call
        player = card.play_into_mic(tone(1.0))
        await wait_for(lambda: sup.frames_sent >= 30, WAIT_S)
        await asyncio.to_thread(player.wait, 10)
        await s.act("whisper_off")
        await wait_for(lambda: sup.state.talking is None, WAIT_S)
        result = await task
        sup.close()
    by_leg = {r.leg: r for r in result.streams}
    whispered = by_leg[agent_stream_leg]
    other = by_leg["agent" if agent_stream_leg == "customer" else "customer"]
    media = [m for m in whispered.received if m.get("event") == "media"]
    assert len(media) >= 30
    assert all(len(m["media"]["payload"]) == 216 for m in media)  # 160 mu-law bytes, base64
    if provider == "twilio":
        assert all(m["streamSid"] == whispered.stream_id for m in media)
    else:
        assert all("stream_id" not in m for m in media)
    assert abs(dominant_hz(bytes(whispered.received_media)) - TONE_HZ) < 20
    assert [m.get("event") for m in whispered.received][-1] == "clear"
    assert other.received == []  # the customer's leg never got a byte
    actions = [a for a, _ in audit_rows(settings.data_path())]
    assert actions.index("whisper_start") < actions.index("whisper_stop")
    assert "listen_start" in actions


async def test_barge_reaches_both_legs(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "telnyx", "split")
        s = Session(engine, sup, task, None)
        await s.act("barge")
        await wait_for(lambda: sup.state.talk_mode == "barge", WAIT_S)
        assert sup.state.mode_of(s.call_id) == "barging"
        assert len(sup.targets()) == 2
        player = card.play_into_mic(tone(0.8))
        await asyncio.to_thread(player.wait, 10)
        await wait_for(lambda: sup.frames_sent >= 40, WAIT_S)
        await s.act("barge_toggle")
        await wait_for(lambda: sup.state.talking is None, WAIT_S)
        result = await task
        sup.close()
    for leg in result.streams:
        assert len(leg.received_media) >= 20 * 160, leg.leg
        assert abs(dominant_hz(bytes(leg.received_media)) - TONE_HZ) < 20
        assert leg.received[-1]["event"] == "clear"


async def test_barge_on_one_stream_that_reaches_both(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "telnyx", "single", params={"target_legs": "both"})
        s = Session(engine, sup, task, None)
        await s.act("whisper")  # would reach the customer too: refused
        await wait_for(lambda: bool(sup.state.message), WAIT_S)
        assert sup.state.talking is None
        assert "Cannot whisper" in sup.state.message
        assert "target_legs=both" in sup.state.message
        await s.act("barge")
        await wait_for(lambda: sup.state.talk_mode == "barge", WAIT_S)
        player = card.play_into_mic(tone(0.5))
        await asyncio.to_thread(player.wait, 10)
        await wait_for(lambda: sup.frames_sent >= 20, WAIT_S)
        await s.act("stop")
        await wait_for(lambda: sup.state.talking is None and sup.state.listening is None, WAIT_S)
        result = await task
        sup.close()
    (leg,) = result.streams
    assert abs(dominant_hz(bytes(leg.received_media)) - TONE_HZ) < 20
    actions = [a for a, _ in audit_rows(settings.data_path())]
    assert "whisper_refused" in actions
    assert actions.index("barge_start") < actions.index("barge_stop")
    assert actions.index("barge_start") < actions.index("listen_stop")


async def test_whisper_is_refused_on_a_twilio_customer_leg(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "twilio", "split", seconds=2.0,
                                   params={"agent:bidirectional": "false"})
        s = Session(engine, sup, task, None)
        await s.act("whisper")
        await wait_for(lambda: bool(sup.state.message), WAIT_S)
        assert sup.state.talking is None
        message = sup.state.message
        assert message.startswith("Cannot whisper: no stream of this call reaches the agent")
        assert "reaches customer" in message
        assert "one-way" in message
        result = await task
        sup.close()
    assert all(r.received == [] for r in result.streams)
    rows = audit_rows(settings.data_path())
    assert any(a == "whisper_refused" and "customer" in d for a, d in rows)


async def test_push_to_talk_keeps_sending_through_the_release_hang(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "telnyx", "split")
        s = Session(engine, sup, task, None)
        s.sup.request(s.call_id, "ptt_down")
        await wait_for(lambda: sup.state.talking == s.call_id, WAIT_S)
        assert sup.state.push_to_talk
        player = card.play_into_mic(tone(1.0))
        await wait_for(lambda: sup.frames_sent >= 5, WAIT_S)
        s.sup.request(s.call_id, "ptt_up")
        await asyncio.sleep(0.1)
        assert sup.state.talking == s.call_id  # inside the hang
        s.sup.request(s.call_id, "ptt_down")  # pressed again: carries on, no clear
        await asyncio.sleep(0.3)
        assert sup.state.talking == s.call_id
        s.sup.request(s.call_id, "ptt_up")
        await wait_for(lambda: sup.state.talking is None, 2.0)
        sent = sup.frames_sent
        await asyncio.to_thread(player.wait, 10)
        await asyncio.sleep(0.2)
        assert sup.frames_sent == sent  # nothing after the release
        result = await task
        sup.close()
    leg = next(r for r in result.streams if r.leg == "customer")
    events = [m.get("event") for m in leg.received]
    assert events.count("clear") == 1 and events[-1] == "clear"


async def test_a_missing_output_device_is_a_clear_message(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine, output_device="No Such Headset",
                              input_device="No Such Microphone")
        task, _ = await start_call(engine, "telnyx", "split", seconds=1.5)
        s = Session(engine, sup, task, None)
        await s.act("listen")
        await wait_for(lambda: bool(sup.state.message), WAIT_S)
        assert sup.state.listening is None
        assert "Cannot listen" in sup.state.message
        assert "No Such Headset" in sup.state.message
        await s.act("whisper")
        await wait_for(lambda: "Cannot whisper" in sup.state.message, WAIT_S)
        assert "No Such Microphone" in sup.state.message
        assert sup.state.talking is None
        result = await task  # the call itself went on untouched
        sup.close()
    assert all(r.error is None for r in result.streams)
    assert sum(sum(r.sent.values()) for r in result.streams) > 100


async def test_listening_stops_when_the_call_ends(settings, card) -> None:
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "telnyx", "single", seconds=1.0)
        s = Session(engine, sup, task, None)
        call_id = s.call_id
        await s.act("whisper")
        await wait_for(lambda: sup.state.talking == call_id, WAIT_S)
        await task
        await wait_for(lambda: sup.state.listening is None and sup.state.talking is None, WAIT_S)
        sup.close()
    rows = audit_rows(settings.data_path())
    assert ("whisper_stop", "the call ended") in rows
    assert ("listen_stop", "the call ended") in rows


async def test_a_speaker_that_stops_ends_listening_with_a_message(settings, card) -> None:
    """The device stops consuming audio (suspended, unplugged, taken by another app): the
    watchdog notices, listening stops with a message, and the call goes on."""
    import subprocess

    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "telnyx", "single", seconds=4.0)
        s = Session(engine, sup, task, None)
        await s.act("listen")
        await wait_for(lambda: sup.state.listening == s.call_id, WAIT_S)
        await asyncio.sleep(0.3)
        subprocess.run(["pactl", "suspend-sink", sound.SPEAKERS, "1"], env=card.env,
                       check=True, timeout=10)
        try:
            await wait_for(lambda: sup.state.listening is None, 5.0)
        finally:
            subprocess.run(["pactl", "suspend-sink", sound.SPEAKERS, "0"], env=card.env,
                           check=True, timeout=10)
        assert sup.state.message.startswith("Listening stopped:")
        assert "stopped playing" in sup.state.message
        result = await task
        sup.close()
    assert all(r.error is None for r in result.streams)
    rows = audit_rows(settings.data_path())
    assert any(a == "listen_stop" and "stopped playing" in d for a, d in rows)


async def test_whisper_uses_the_streams_return_codec(settings, card) -> None:
    """A Telnyx stream asked for L16 at 16 kHz back gets 640-byte big-endian frames."""
    async with running_engine(settings) as engine:
        sup = SupervisorAudio(engine)
        task, _ = await start_call(engine, "telnyx", "split", seconds=4.0, params={
            "customer:bidirectional_codec": "L16",
            "customer:bidirectional_sampling_rate": "16000"})
        s = Session(engine, sup, task, None)
        await s.act("whisper")
        await wait_for(lambda: sup.state.talking == s.call_id, WAIT_S)
        player = card.play_into_mic(tone(0.6))
        await wait_for(lambda: sup.frames_sent >= 20, WAIT_S)
        await asyncio.to_thread(player.wait, 10)
        await s.act("stop")
        result = await task
        sup.close()
    leg = next(r for r in result.streams if r.leg == "customer")
    media = [m for m in leg.received if m.get("event") == "media"]
    assert media and all(len(m["media"]["payload"]) == 856 for m in media)  # 640 bytes
    pcm = np.frombuffer(bytes(leg.received_media), ">i2")
    assert abs(peak_frequency(pcm, 16000) - TONE_HZ) < 20
