"""Which streams carry a whisper (agent alone) or a barge (both parties), or why none can."""

from __future__ import annotations

from console.core.events import Role
from console.core.reach import Injection
from console.supervisor.routes import Route, StreamReach, route

AGENT_ONLY = Injection(frozenset({Role.AGENT}), "PCMU", 8000, "opposite of the customer's leg")
CUSTOMER_ONLY = Injection(frozenset({Role.CUSTOMER}), "PCMU", 8000, "opposite of the agent's leg")
BOTH = Injection(frozenset({Role.AGENT, Role.CUSTOMER}), "L16", 16000, "target_legs=both")
NOBODY = Injection(frozenset(), "PCMU", 8000, "mp3 mode")


def test_whisper_picks_agent_only_stream() -> None:
    r = route("whisper", [StreamReach("c1", CUSTOMER_ONLY), StreamReach("a1", AGENT_ONLY),
                          StreamReach("b1", BOTH)])
    assert r.ok
    assert r.streams == ("a1",)
    assert "agent alone" in r.reason
    assert AGENT_ONLY.why in r.reason


def test_whisper_picks_first_agent_only_stream() -> None:
    r = route("whisper", [StreamReach("a1", AGENT_ONLY), StreamReach("a2", AGENT_ONLY)])
    assert r.streams == ("a1",)


def test_whisper_refused_with_only_both_legs_stream() -> None:
    r = route("whisper", [StreamReach("b1", BOTH)])
    assert not r.ok
    assert r.streams == ()
    assert r.reason.startswith("Cannot whisper")
    assert "customer could hear" in r.reason
    assert "stream b1 reaches agent and customer (target_legs=both)" in r.reason


def test_whisper_refused_with_only_customer_only_streams_names_each() -> None:
    other = Injection(frozenset({Role.CUSTOMER}), "PCMU", 8000, "twilio own leg")
    r = route("whisper", [StreamReach("c1", CUSTOMER_ONLY), StreamReach("c2", other),
                          StreamReach("n1", NOBODY)])
    assert not r.ok
    assert f"stream c1 reaches customer ({CUSTOMER_ONLY.why})" in r.reason
    assert "stream c2 reaches customer (twilio own leg)" in r.reason
    assert "stream n1 reaches nobody (mp3 mode)" in r.reason


def test_barge_picks_single_both_legs_stream() -> None:
    r = route("barge", [StreamReach("a1", AGENT_ONLY), StreamReach("c1", CUSTOMER_ONLY),
                        StreamReach("b1", BOTH)])
    assert r.ok
    assert r.streams == ("b1",)
    assert "both parties" in r.reason
    assert BOTH.why in r.reason


def test_barge_pairs_agent_only_with_customer_only() -> None:
    r = route("barge", [StreamReach("c1", CUSTOMER_ONLY), StreamReach("a1", AGENT_ONLY)])
    assert r.ok
    assert r.streams == ("a1", "c1")
    assert "both parties" in r.reason


def test_barge_refused_with_only_agent_only_streams() -> None:
    r = route("barge", [StreamReach("a1", AGENT_ONLY), StreamReach("a2", AGENT_ONLY)])
    assert not r.ok
    assert r.reason.startswith("Cannot barge")
    assert "stream a1 reaches agent" in r.reason
    assert "stream a2 reaches agent" in r.reason


def test_streams_that_cannot_send_are_ignored() -> None:
    closed_agent = StreamReach("a1", AGENT_ONLY, can_send=False)
    r = route("whisper", [closed_agent, StreamReach("c1", CUSTOMER_ONLY)])
    assert not r.ok
    assert "a1" not in r.reason
    assert "c1" in r.reason
    r = route("barge", [StreamReach("b1", BOTH, can_send=False), StreamReach("a1", AGENT_ONLY),
                        StreamReach("c1", CUSTOMER_ONLY)])
    assert r.streams == ("a1", "c1")


def test_streams_without_injection_are_ignored() -> None:
    r = route("whisper", [StreamReach("x1", None), StreamReach("a1", AGENT_ONLY)])
    assert r.streams == ("a1",)
    r = route("barge", [StreamReach("x1", None), StreamReach("a1", AGENT_ONLY)])
    assert not r.ok
    assert "x1" not in r.reason


def test_no_streams_is_refused() -> None:
    for mode in ("whisper", "barge"):
        r = route(mode, [])
        assert not r.ok
        assert "no open stream" in r.reason
        assert r.reason.startswith(f"Cannot {mode}")


def test_only_unusable_streams_is_no_open_stream() -> None:
    r = route("barge", [StreamReach("b1", BOTH, can_send=False), StreamReach("x1", None)])
    assert r.streams == ()
    assert "no open stream" in r.reason


def test_route_ok_follows_streams() -> None:
    assert Route(("s",), "why").ok
    assert not Route((), "why").ok


def test_a_live_voice_never_goes_to_an_mp3_mode_stream_but_a_prompt_does() -> None:
    mp3 = Injection(frozenset({Role.AGENT}), "MP3", 8000, "target_legs=opposite", mode="mp3")
    live = route("whisper", [StreamReach("s1", mp3)])
    assert not live.ok and "MP3 mode" in live.reason and "prompt" in live.reason
    prompt = route("whisper", [StreamReach("s1", mp3)], live=False)
    assert prompt.streams == ("s1",)
    # an RTP stream beside it takes the live voice
    rtp = Injection(frozenset({Role.AGENT}), "PCMU", 8000, "opposite")
    assert route("whisper", [StreamReach("s1", mp3), StreamReach("s2", rtp)]).streams == ("s2",)
