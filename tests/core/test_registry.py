"""CallRegistry: grouping streams into calls, roles per track, the media hot path."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pcmu_frames, tone

from console.audio.codecs import ulaw_decode, ulaw_encode
from console.core.bus import EventBus
from console.core.events import (
    CallEnded,
    CallStarted,
    Dtmf,
    MediaFormat,
    Provider,
    Role,
    Started,
    StreamClosed,
    StreamOpened,
    TrackName,
    TrackOpened,
)
from console.core.events import Media as MediaEvent
from console.core.registry import CallRegistry
from console.core.roles import RoleRules


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Rec:
    def __init__(self) -> None:
        self.got: list[tuple[str, int | None, np.ndarray]] = []

    def frames(self, key, chunks, stamps, arrival_ms, sizes, pcm) -> None:  # type: ignore[no-untyped-def]
        assert sum(sizes) == pcm.size
        start = 0
        for chunk, n in zip(chunks, sizes, strict=True):
            self.got.append((key, chunk, pcm[start : start + n].copy()))
            start += n


def start(stream_id: str, call_key: str, params: dict[str, str] | None = None,
          enc: str = "PCMU", rate: int = 8000, **kw) -> Started:  # type: ignore[no-untyped-def]
    return Started(Provider.TELNYX, stream_id, call_key, MediaFormat(enc, rate),
                   custom_parameters=params or {}, from_number=kw.get("from_number"),
                   to_number=kw.get("to_number"))


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    clock = Clock()
    rec = Rec()
    reg = CallRegistry(bus, RoleRules.from_patterns(["sip:*@agents.example.com", "+1555777*"]),
                       rec, clock=clock)
    return reg, events, clock, rec


def test_two_legs_with_one_session_are_one_call(world) -> None:  # type: ignore[no-untyped-def]
    reg, events, clock, _ = world
    a = reg.open_stream(start("s1", "sess", {"leg": "customer"}))
    clock.t += 1.5
    b = reg.open_stream(start("s2", "sess", {"leg": "agent"}))
    assert a.call_id == b.call_id == "sess"
    assert len(reg.calls) == 1
    assert [type(e) for e in events].count(CallStarted) == 1
    assert b.offset_s == pytest.approx(1.5)
    assert a.leg.role_of(TrackName.INBOUND) is Role.CUSTOMER
    assert a.leg.role_of(TrackName.OUTBOUND) is Role.AGENT
    assert b.leg.role_of(TrackName.INBOUND) is Role.AGENT
    assert b.leg.role_of(TrackName.OUTBOUND) is Role.CUSTOMER
    reg.close_stream(a, "stop")
    assert reg.calls["sess"].state == "active"  # the agent leg is still up
    reg.close_stream(b, "stop")
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert len(ended) == 1 and ended[0].state == "ended"


@pytest.mark.parametrize(
    ("params", "frm", "to", "leg", "source"),
    [
        ({"role": "agent"}, None, None, Role.AGENT, "parameter"),
        ({"LEG": "Caller"}, None, None, Role.CUSTOMER, "parameter"),
        ({}, "+15550001111", "sip:jane@agents.example.com", Role.AGENT, "rule"),
        ({}, "+15557771234", "+15550001111", Role.AGENT, "rule"),
        ({}, "+15550001111", "+15550002222", Role.CUSTOMER, "default"),
        ({"leg": "nonsense"}, None, None, Role.CUSTOMER, "default"),
    ],
)
def test_leg_roles(params, frm, to, leg, source) -> None:  # type: ignore[no-untyped-def]
    rules = RoleRules.from_patterns(["sip:*@agents.example.com", "+1555777*"])
    info = rules.leg_for(params, frm, to)
    assert info.leg is leg
    assert info.source == source


def test_media_reordered_into_ring_and_recorder(world) -> None:  # type: ignore[no-untyped-def]
    reg, events, _, rec = world
    s = reg.open_stream(start("s1", "call-1"))
    sig = tone(160 * 10)
    frames = pcmu_frames(sig)
    order = [0, 2, 1, 3, 5, 4, 6, 7, 8, 9]
    for i in order:
        reg.on_media(s, MediaEvent("s1", TrackName.INBOUND, frames[i], i + 1, i * 20))
    reg.close_stream(s, "stop")
    track = s.tracks[TrackName.INBOUND]
    expected = ulaw_decode(ulaw_encode(sig))
    assert track.position == sig.size
    assert np.array_equal(track.ring.latest(sig.size), expected)
    assert [c for _, c, _ in rec.got] == list(range(1, 11))
    opened = [e for e in events if isinstance(e, TrackOpened)]
    assert opened[0].role is Role.CUSTOMER


def test_lost_frames_become_silence(world) -> None:  # type: ignore[no-untyped-def]
    reg, _, _, _ = world
    s = reg.open_stream(start("s1", "call-2"))
    frames = pcmu_frames(tone(160 * 12, amp=12000))
    for i in range(12):
        if i in (4, 5):
            continue
        reg.on_media(s, MediaEvent("s1", TrackName.OUTBOUND, frames[i], i + 1))
    reg.close_stream(s, "stop")
    t = s.tracks[TrackName.OUTBOUND]
    out = t.ring.latest(160 * 12)
    assert t.position == 160 * 12
    assert not out[640:960].any()
    assert np.abs(out[:640]).max() > 5000
    assert reg.counters.missing_frames == 2
    closed = next(e for e in world[1] if isinstance(e, StreamClosed))
    assert closed.dropped == 2
    assert closed.audio_s == pytest.approx(0.24)


def test_duplicates_and_late_frames_are_counted_not_played(world) -> None:  # type: ignore[no-untyped-def]
    reg, _, _, rec = world
    s = reg.open_stream(start("s1", "call-3"))
    frames = pcmu_frames(tone(160 * 10))
    seq = [1, 2, 2, 3, 4, 6, 7, 8, 9, 10, 5, 3]
    for c in seq:
        reg.on_media(s, MediaEvent("s1", TrackName.INBOUND, frames[c - 1], c))
    reg.close_stream(s, "stop")
    assert reg.counters.duplicate_frames == 2  # 2 twice; 3 again after release
    assert reg.counters.late_frames == 1  # 5 came after its slot was given up
    # The late frame still reaches the recording, where export places it by chunk.
    assert sorted(c for _, c, _ in rec.got) == list(range(1, 11))


def test_unsupported_codec_is_reported_and_nothing_crashes(world) -> None:  # type: ignore[no-untyped-def]
    reg, events, _, _ = world
    s = reg.open_stream(start("s1", "call-4", enc="SPEEX", rate=8000))
    assert s.decoder is None
    opened = next(e for e in events if isinstance(e, StreamOpened))
    assert opened.codec_error and "SPEEX" in opened.codec_error
    for i in range(5):
        reg.on_media(s, MediaEvent("s1", TrackName.INBOUND, b"\x00" * 20, i + 1))
    reg.close_stream(s, "stop")
    assert reg.counters.undecodable_frames == 5
    assert reg.calls["call-4"].state == "ended"


def test_dtmf_position_follows_audio(world) -> None:  # type: ignore[no-untyped-def]
    reg, events, _, _ = world
    s = reg.open_stream(start("s1", "call-5"))
    frames = pcmu_frames(tone(160 * 100))
    for i in range(100):
        reg.on_media(s, MediaEvent("s1", TrackName.INBOUND, frames[i], i + 1))
    reg.on_dtmf(s, Dtmf("s1", "7"))
    d = next(e for e in events if type(e).__name__ == "DtmfReceived")
    assert d.digit == "7"
    assert d.at_s == pytest.approx(2.0, abs=0.001)


def test_call_can_come_back_after_it_ended(world) -> None:  # type: ignore[no-untyped-def]
    reg, _events, clock, _ = world
    a = reg.open_stream(start("s1", "call-6"))
    reg.close_stream(a, "closed")
    clock.t += 3
    b = reg.open_stream(start("s1", "call-6"))
    assert b.uid == "s1#2"
    assert reg.calls["call-6"].state == "active"
    reg.close_all()
    assert reg.calls["call-6"].state == "interrupted"


def test_forget_ended_keeps_the_newest(world) -> None:  # type: ignore[no-untyped-def]
    reg, _, clock, _ = world
    for i in range(5):
        clock.t += 1
        reg.close_stream(reg.open_stream(start(f"s{i}", f"c{i}")), "stop")
    reg.forget_ended(keep=2)
    assert sorted(reg.calls) == ["c3", "c4"]


def test_ended_calls_let_their_live_audio_go_after_a_grace(world) -> None:  # type: ignore[no-untyped-def]
    # 200 ended calls kept with 30 s rings each was most of a busy console's memory.
    reg, _, clock, _ = world
    streams = []
    for i in range(3):
        s = reg.open_stream(start(f"s{i}", f"c{i}"))
        reg.add_frame(s, TrackName.INBOUND, 1, 0, b"\xff" * 160)
        streams.append(s)
    reg.close_stream(streams[0], "stop")
    clock.t += 61
    reg.close_stream(streams[1], "stop")  # ended just now
    reg.forget_ended()
    gone, kept, live = (next(iter(s.tracks.values())) for s in streams)
    assert gone.ring.capacity == 1 and gone.key not in reg.rings
    assert kept.ring.capacity > 8000 and reg.rings[kept.key] is kept.ring
    assert live.ring.capacity > 8000 and "c0" in reg.calls  # the call itself stays listed
    assert not gone.ring.latest(160).any()  # readers of a released ring get silence


def test_custom_parameter_joins_legs_with_different_call_ids(world) -> None:  # type: ignore[no-untyped-def]
    reg, _, _, _ = world
    a = reg.open_stream(start("MZ1", "CA-customer", {"leg": "customer", "coach_call": "conf-7"}))
    b = reg.open_stream(start("MZ2", "CA-agent", {"leg": "agent", "Call_Session_Id": "conf-7"}))
    c = reg.open_stream(start("MZ3", "CA-other"))
    # Plivo's extraHeaders names are letters and digits only.
    d = reg.open_stream(start("MZ4", "plivo-leg", {"leg": "agent", "coachcall": "conf-7"}))
    assert a.call_id == b.call_id == d.call_id == "conf-7"
    assert c.call_id == "CA-other"


def test_keypad_runs_are_masked_before_anyone_sees_them(world) -> None:  # type: ignore[no-untyped-def]
    from console.core.events import DtmfReceived

    reg, events, _, _ = world
    from console.analysis.redaction import DtmfRedactor

    reg.keypad_filter = DtmfRedactor
    s = reg.open_stream(start("s1", "call-dtmf"))
    frames = pcmu_frames(tone(160 * 500))
    published = lambda: [e.digit for e in events if isinstance(e, DtmfReceived)]  # noqa: E731
    for i in range(500):
        reg.on_media(s, MediaEvent("s1", TrackName.INBOUND, frames[i], i + 1))
        if i in (50, 60, 70, 80):  # a card number being keyed in, 200 ms apart
            reg.on_dtmf(s, Dtmf("s1", "4539"[(i - 50) // 10]))
        if i == 400:  # much later, "press 1 to confirm"
            reg.on_dtmf(s, Dtmf("s1", "1"))
    assert published() == ["*", "*", "*", "*"]  # the 1 is held until its run is decided
    reg.close_stream(s, "stop")
    assert published() == ["*", "*", "*", "*", "1"]
    at = [e.at_s for e in events if isinstance(e, DtmfReceived)]
    assert at == sorted(at) and at[-1] == pytest.approx(8.02, abs=0.05)


def test_credentials_in_custom_parameters_are_never_kept() -> None:
    from console.core.bus import EventBus
    from console.core.events import MediaFormat, Provider, Started, StreamOpened
    from console.core.registry import CallRegistry
    from console.core.roles import RoleRules

    bus = EventBus()
    seen: list = []  # type: ignore[type-arg]
    bus.subscribe(seen.append)
    registry = CallRegistry(bus, RoleRules.from_patterns([]))
    stream = registry.open_stream(Started(
        Provider.EXOTEL, "s1", "c1", MediaFormat("L16", 8000),
        custom_parameters={"leg": "customer", "token": "s3cret", "Auth_Token": "x"}))
    assert stream.custom_parameters == {"leg": "customer"}
    opened = [e for e in seen if isinstance(e, StreamOpened)]
    assert opened[0].custom_parameters == {"leg": "customer"}
