"""Who hears audio sent back on a stream: Telnyx target_legs, Twilio's own-leg rule, codecs."""

from __future__ import annotations

import pytest

from console.core.events import Provider, Role, TrackName
from console.core.reach import Injection, InjectionDefaults, injection_for
from console.core.roles import LegInfo

CUSTOMER_LEG = LegInfo(Role.CUSTOMER, "default")
AGENT_LEG = LegInfo(Role.AGENT, "rule")
BOTH_TRACKS = (TrackName.INBOUND, TrackName.OUTBOUND)
INBOUND_ONLY = (TrackName.INBOUND,)
AGENT = frozenset({Role.AGENT})
CUSTOMER = frozenset({Role.CUSTOMER})
EVERYONE = frozenset({Role.AGENT, Role.CUSTOMER})
NOBODY: frozenset[Role] = frozenset()


def telnyx(leg: LegInfo = CUSTOMER_LEG, defaults: InjectionDefaults | None = None,
           **params: str) -> Injection:
    return injection_for(Provider.TELNYX, leg, BOTH_TRACKS, params, defaults)


def twilio(leg: LegInfo = CUSTOMER_LEG, tracks: tuple[TrackName, ...] = INBOUND_ONLY,
           **params: str) -> Injection:
    return injection_for(Provider.TWILIO, leg, tracks, params)


# --- Telnyx: who hears it ---------------------------------------------------------------------


def test_telnyx_default_on_customer_leg_reaches_agent_only() -> None:
    inj = telnyx(CUSTOMER_LEG)
    assert inj.hears == AGENT
    assert inj.hears and inj.agent_only
    assert (inj.codec, inj.rate) == ("PCMU", 8000)
    assert "opposite" in inj.why
    assert "customer" in inj.why


def test_telnyx_default_on_agent_leg_reaches_customer_only_so_no_whisper() -> None:
    inj = telnyx(AGENT_LEG)
    assert inj.hears == CUSTOMER
    assert inj.hears
    assert not inj.agent_only


@pytest.mark.parametrize("key", ["target_legs", "stream_bidirectional_target_legs",
                                 "bidirectional_target_legs"])
@pytest.mark.parametrize(("value", "on_customer", "on_agent"), [
    ("self", CUSTOMER, AGENT),
    ("opposite", AGENT, CUSTOMER),
    ("both", EVERYONE, EVERYONE),
    ("SELF", CUSTOMER, AGENT),
    (" Both ", EVERYONE, EVERYONE),
])
def test_telnyx_target_legs_parameter(key: str, value: str, on_customer: frozenset[Role],
                                      on_agent: frozenset[Role]) -> None:
    assert telnyx(CUSTOMER_LEG, **{key: value}).hears == on_customer
    assert telnyx(AGENT_LEG, **{key: value}).hears == on_agent


def test_target_legs_parameter_key_is_case_insensitive() -> None:
    assert telnyx(CUSTOMER_LEG, **{"Target_Legs": "self"}).hears == CUSTOMER


def test_target_legs_why_names_value_and_leg() -> None:
    inj = telnyx(AGENT_LEG, target_legs="Self")
    assert "target_legs=self" in inj.why
    assert "agent" in inj.why


def test_unknown_target_legs_reaches_nobody_with_reason() -> None:
    inj = telnyx(CUSTOMER_LEG, target_legs="sideways")
    assert inj.hears == NOBODY
    assert not inj.hears
    assert "sideways" in inj.why
    assert "unknown target_legs" in inj.why


@pytest.mark.parametrize(("value", "hears"), [
    ("agent", AGENT),
    ("customer", CUSTOMER),
    ("both", EVERYONE),
    ("none", NOBODY),
    ("AGENT", AGENT),
    ("nobody", NOBODY),
])
def test_reaches_parameter_overrides_target_legs(value: str, hears: frozenset[Role]) -> None:
    # target_legs=opposite on the customer's leg would mean the agent; reaches wins.
    inj = telnyx(CUSTOMER_LEG, reaches=value, target_legs="opposite")
    assert inj.hears == hears
    assert f"reaches={value}" in inj.why


def test_reaches_parameter_overrides_default_on_agent_leg() -> None:
    assert telnyx(AGENT_LEG, reaches="agent").hears == AGENT


def test_unrecognised_reaches_falls_back_to_target_legs() -> None:
    assert telnyx(CUSTOMER_LEG, reaches="the moon", target_legs="self").hears == CUSTOMER


@pytest.mark.parametrize("key", ["bidirectional_mode", "stream_bidirectional_mode"])
def test_mp3_mode_reaches_the_target_legs_with_whole_files(key: str) -> None:
    inj = telnyx(CUSTOMER_LEG, **{key: "mp3"})
    assert inj.hears == AGENT and inj.mode == "mp3" and inj.codec == "MP3"


def test_rtp_mode_is_fine() -> None:
    inj = telnyx(CUSTOMER_LEG, bidirectional_mode="RTP")
    assert inj.hears == AGENT and inj.mode == "rtp"


def test_an_unknown_mode_reaches_nobody() -> None:
    inj = telnyx(CUSTOMER_LEG, bidirectional_mode="carrier-pigeon", reaches="agent")
    assert inj.hears == NOBODY and "rtp and mp3" in inj.why


def test_mp3_mode_still_obeys_reaches() -> None:
    assert telnyx(CUSTOMER_LEG, bidirectional_mode="mp3", reaches="both").hears == \
        {Role.CUSTOMER, Role.AGENT}


# --- Telnyx: codec and rate -------------------------------------------------------------------


def test_pcmu_rate_forced_to_8000() -> None:
    inj = telnyx(bidirectional_codec="PCMU", bidirectional_sampling_rate="16000")
    assert (inj.codec, inj.rate) == ("PCMU", 8000)
    assert inj.hears


def test_pcma_rate_forced_to_8000() -> None:
    inj = telnyx(stream_bidirectional_codec="pcma", stream_bidirectional_sampling_rate="48000")
    assert (inj.codec, inj.rate) == ("PCMA", 8000)


def test_g722_is_16000() -> None:
    inj = telnyx(stream_bidirectional_codec="G722")
    assert (inj.codec, inj.rate) == ("G722", 16000)
    assert inj.hears == AGENT


def test_l16_takes_given_rate() -> None:
    inj = telnyx(bidirectional_codec="L16", bidirectional_sampling_rate="16000")
    assert (inj.codec, inj.rate) == ("L16", 16000)
    assert inj.hears == AGENT


def test_l16_without_rate_uses_default_rate() -> None:
    inj = telnyx(bidirectional_codec="L16")
    assert (inj.codec, inj.rate) == ("L16", 8000)


def test_opus_odd_rate_falls_back_to_16000() -> None:
    inj = telnyx(bidirectional_codec="OPUS", bidirectional_sampling_rate="22050")
    assert (inj.codec, inj.rate) == ("OPUS", 16000)


def test_unsupported_codec_reaches_nobody() -> None:
    inj = telnyx(bidirectional_codec="AMR-WB")
    assert inj.hears == NOBODY
    assert inj.codec == "AMR-WB"
    assert "AMR-WB" in inj.why
    assert "cannot" in inj.why


def test_rate_that_is_not_a_number_reaches_nobody() -> None:
    inj = telnyx(bidirectional_codec="L16", bidirectional_sampling_rate="fast")
    assert inj.hears == NOBODY
    assert "'fast'" in inj.why
    assert "not a number" in inj.why


def test_rate_telnyx_does_not_offer_reaches_nobody() -> None:
    inj = telnyx(bidirectional_codec="L16", bidirectional_sampling_rate="11025")
    assert inj.hears == NOBODY
    assert "11025" in inj.why


def test_unsupported_codec_beats_reaches() -> None:
    assert telnyx(bidirectional_codec="AMR-WB", reaches="agent").hears == NOBODY


# --- Telnyx: settings -------------------------------------------------------------------------


def test_defaults_change_telnyx_target_legs() -> None:
    self_legs = InjectionDefaults(telnyx_target_legs="self")
    assert telnyx(CUSTOMER_LEG, self_legs).hears == CUSTOMER
    assert telnyx(AGENT_LEG, self_legs).hears == AGENT
    both = InjectionDefaults(telnyx_target_legs="both")
    assert telnyx(CUSTOMER_LEG, both).hears == EVERYONE
    assert "target_legs=both" in telnyx(CUSTOMER_LEG, both).why


def test_stream_parameter_beats_defaults() -> None:
    inj = telnyx(CUSTOMER_LEG, InjectionDefaults(telnyx_target_legs="self"),
                 target_legs="opposite")
    assert inj.hears == AGENT


def test_defaults_change_codec() -> None:
    inj = telnyx(CUSTOMER_LEG, InjectionDefaults(telnyx_codec="L16", telnyx_rate=16000))
    assert (inj.codec, inj.rate) == ("L16", 16000)


# --- Twilio -----------------------------------------------------------------------------------


def test_twilio_with_outbound_track_is_one_way() -> None:
    inj = twilio(CUSTOMER_LEG, BOTH_TRACKS)
    assert inj.hears == NOBODY
    assert "<Start><Stream>" in inj.why


def test_twilio_outbound_beats_reaches() -> None:
    assert twilio(CUSTOMER_LEG, BOTH_TRACKS, reaches="agent").hears == NOBODY


def test_twilio_inbound_only_on_customer_leg_reaches_customer() -> None:
    inj = twilio(CUSTOMER_LEG)
    assert inj.hears == CUSTOMER
    assert (inj.codec, inj.rate) == ("PCMU", 8000)
    assert "own leg" in inj.why


def test_twilio_inbound_only_on_agent_leg_reaches_agent() -> None:
    inj = twilio(AGENT_LEG)
    assert inj.hears == AGENT
    assert inj.agent_only
    assert (inj.codec, inj.rate) == ("PCMU", 8000)


@pytest.mark.parametrize("value", ["false", "False", "no", "0", "off"])
def test_twilio_bidirectional_false_reaches_nobody(value: str) -> None:
    inj = twilio(CUSTOMER_LEG, bidirectional=value)
    assert inj.hears == NOBODY
    assert "bidirectional=false" in inj.why


def test_twilio_bidirectional_true_keeps_own_leg() -> None:
    assert twilio(AGENT_LEG, bidirectional="true").hears == AGENT


def test_twilio_reaches_parameter() -> None:
    inj = twilio(CUSTOMER_LEG, reaches="agent")
    assert inj.hears == AGENT
    assert "reaches=agent" in inj.why


def test_twilio_ignores_telnyx_codec_parameters() -> None:
    inj = twilio(CUSTOMER_LEG, bidirectional_codec="L16", bidirectional_sampling_rate="16000")
    assert (inj.codec, inj.rate) == ("PCMU", 8000)
    assert inj.hears == CUSTOMER


def test_non_string_parameter_values_are_ignored() -> None:
    params: dict[str, object] = {"target_legs": 5, "reaches": None}
    inj = injection_for(Provider.TELNYX, CUSTOMER_LEG, BOTH_TRACKS, params)  # type: ignore[arg-type]
    assert inj.hears == AGENT


def test_exotel_takes_slin_back_at_the_stream_rate() -> None:
    from console.core.events import MediaFormat

    for rate in (8000, 16000):
        inj = injection_for(Provider.EXOTEL, CUSTOMER_LEG, (TrackName.INBOUND,), {}, None,
                            MediaFormat("L16", rate, byte_order="little"))
        assert (inj.codec, inj.rate, inj.byte_order) == ("L16", rate, "little")
        assert inj.hears == {Role.CUSTOMER}
