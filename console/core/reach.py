"""Who hears audio the console sends back on a stream (whisper and barge).

Nothing in a stream's `start` frame says where injected audio goes; it was fixed when the
stream was requested. The console works it out, in this order:

1. a custom parameter naming who hears it: `reaches` = agent | customer | both | none;
2. a custom parameter in Telnyx's own words: `target_legs` (also spelled
   `stream_bidirectional_target_legs` or `bidirectional_target_legs`) = self | opposite | both;
3. the provider's rule: Telnyx plays it to the `opposite` leg unless told otherwise (the
   default can be changed in settings); Twilio plays it to the party on the stream's own leg,
   and only on `<Connect><Stream>`, which carries the inbound track alone.

The codec is the bidirectional one (Telnyx `stream_bidirectional_codec`, PCMU at 8 kHz unless a
parameter or setting says otherwise); Twilio takes mu-law at 8 kHz.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from console.core.events import MediaFormat, Provider, Role, TrackName
from console.core.roles import LegInfo

__all__ = ["BIDI_CODECS", "BIDI_RATES", "TARGET_LEGS", "Injection", "InjectionDefaults",
           "injection_for", "other"]

_TARGET_KEYS = ("target_legs", "stream_bidirectional_target_legs", "bidirectional_target_legs")
_MODE_KEYS = ("bidirectional_mode", "stream_bidirectional_mode")
_CODEC_KEYS = ("bidirectional_codec", "stream_bidirectional_codec")
_RATE_KEYS = ("bidirectional_sampling_rate", "stream_bidirectional_sampling_rate",
              "bidirectional_rate")
# What the console can send back, and Telnyx's stream_bidirectional_* choices.
BIDI_CODECS = ("PCMU", "PCMA", "L16", "G722", "OPUS")
BIDI_RATES = (8000, 16000, 22050, 24000, 48000)
TARGET_LEGS = ("opposite", "self", "both")
_NATURAL_RATE = {"PCMU": 8000, "PCMA": 8000, "G722": 16000}


def other(role: Role) -> Role:
    return Role.AGENT if role is Role.CUSTOMER else Role.CUSTOMER


@dataclass(frozen=True)
class InjectionDefaults:
    """What a Telnyx stream does when its parameters do not say (settings can change it)."""

    telnyx_target_legs: str = "opposite"
    telnyx_codec: str = "PCMU"
    telnyx_rate: int = 8000
    telnyx_mode: str = "rtp"  # Telnyx's own default is mp3; the console asks for rtp


@dataclass(frozen=True)
class Injection:
    hears: frozenset[Role]  # who hears audio sent on this stream; empty when nobody can
    codec: str  # PCMU, PCMA, L16, G722 or OPUS
    rate: int
    why: str  # how the console knows, in words for the supervisor
    byte_order: str | None = None  # L16 the platform wants in this order (else settings)
    # "rtp": live audio, frame by frame; "mp3": Telnyx's MP3 mode, whole MP3 files queued
    # and played in order (at most one a second): prompts, not a live voice.
    mode: str = "rtp"

    @property
    def agent_only(self) -> bool:
        return self.hears == frozenset({Role.AGENT})


def _param(params: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = params.get(key)
        if value:
            return value.strip()
    return None


def _hears_from_target(target: str, leg: Role) -> frozenset[Role] | None:
    t = target.lower()
    if t == "self":
        return frozenset({leg})
    if t == "opposite":
        return frozenset({other(leg)})
    if t == "both":
        return frozenset(Role)
    return None


def _hears_from_reaches(value: str) -> frozenset[Role] | None:
    v = value.lower()
    if v in ("both", "all", "everyone"):
        return frozenset(Role)
    if v in ("none", "nobody", "no", "false", "off"):
        return frozenset()
    for role in Role:
        if v == role.value:
            return frozenset({role})
    return None


def _codec(params: Mapping[str, str], default_codec: str, default_rate: int
           ) -> tuple[str, int, str | None]:
    codec = (_param(params, _CODEC_KEYS) or default_codec).upper()
    if codec not in BIDI_CODECS:
        return codec, default_rate, f"the console cannot encode {codec!r}"
    rate_text = _param(params, _RATE_KEYS)
    rate = default_rate
    if rate_text:
        try:
            rate = int(rate_text)
        except ValueError:
            return codec, default_rate, f"sampling rate {rate_text!r} is not a number"
        if rate not in BIDI_RATES:
            return codec, rate, f"sampling rate {rate} is not one Telnyx offers"
    rate = _NATURAL_RATE.get(codec, rate)
    if codec == "OPUS" and rate not in (8000, 16000, 24000, 48000):
        rate = 16000
    return codec, rate, None


def injection_for(
    provider: Provider,
    leg: LegInfo,
    tracks: tuple[TrackName, ...],
    custom_parameters: Mapping[str, str],
    defaults: InjectionDefaults | None = None,
    media_format: MediaFormat | None = None,
) -> Injection:
    d = defaults or InjectionDefaults()
    params = {k.strip().lower(): v for k, v in custom_parameters.items() if isinstance(v, str)}
    leg_name = leg.leg.value
    if provider not in (Provider.TELNYX, Provider.TWILIO, Provider.SIGNALWIRE):
        return _other_platform(provider, leg, tracks, params, media_format)
    if provider in (Provider.TWILIO, Provider.SIGNALWIRE):
        codec, rate = "PCMU", 8000
        if TrackName.OUTBOUND in tracks:
            # <Connect><Stream> (the only bidirectional kind) carries the inbound track alone.
            return Injection(frozenset(), codec, rate,
                             "this Twilio stream carries both tracks, so it is a one-way "
                             "<Start><Stream>; Twilio accepts audio only on <Connect><Stream>")
        mode = _param(params, ("bidirectional",))
        if mode is not None and mode.lower() in ("false", "no", "0", "off"):
            return Injection(frozenset(), codec, rate,
                             "the stream's parameters say it is one-way (bidirectional=false)")
        reaches = _param(params, ("reaches",))
        if reaches is not None and (hears := _hears_from_reaches(reaches)) is not None:
            return Injection(hears, codec, rate, f"the stream's parameters say reaches={reaches}")
        return Injection(frozenset({leg.leg}), codec, rate,
                         f"Twilio plays returned audio to the party on the stream's own leg, "
                         f"the {leg_name} ({leg.source})")

    codec, rate, problem = _codec(params, d.telnyx_codec, d.telnyx_rate)
    if problem:
        return Injection(frozenset(), codec, rate, f"cannot send on this stream: {problem}")
    mode = (_param(params, _MODE_KEYS) or d.telnyx_mode).lower()
    if mode not in ("rtp", "mp3"):
        return Injection(frozenset(), codec, rate,
                         f"the stream is in {mode!r} mode; Telnyx has rtp and mp3")
    if mode == "mp3":
        codec, rate = "MP3", 8000  # what Telnyx decodes it to is its business
    found = _telnyx_hears(params, leg, d, codec, rate)
    return replace(found, mode=mode) if mode != "rtp" else found


def _telnyx_hears(params: Mapping[str, str], leg: LegInfo, d: InjectionDefaults,
                  codec: str, rate: int) -> Injection:
    leg_name = leg.leg.value
    reaches = _param(params, ("reaches",))
    if reaches is not None and (hears := _hears_from_reaches(reaches)) is not None:
        return Injection(hears, codec, rate, f"the stream's parameters say reaches={reaches}")
    target = _param(params, _TARGET_KEYS)
    if target is not None:
        hears_t = _hears_from_target(target, leg.leg)
        if hears_t is not None:
            return Injection(hears_t, codec, rate,
                             f"target_legs={target.lower()} on the {leg_name}'s leg")
        return Injection(frozenset(), codec, rate,
                         f"unknown target_legs {target!r} (self, opposite or both)")
    hears_d = _hears_from_target(d.telnyx_target_legs, leg.leg) or frozenset({other(leg.leg)})
    return Injection(hears_d, codec, rate,
                     f"the stream is on the {leg_name}'s leg and Telnyx sends audio to the "
                     f"{d.telnyx_target_legs} leg(s) unless told otherwise "
                     f"(target_legs={d.telnyx_target_legs})")


def _other_platform(provider: Provider, leg: LegInfo, tracks: tuple[TrackName, ...],
                    params: Mapping[str, str], fmt: MediaFormat | None) -> Injection:
    """Plivo, Exotel, Vonage and Bandwidth (PROTOCOLS.md 3.1-3.5), as far as their docs go;
    a `reaches` parameter overrides, as everywhere."""
    name = provider.value.capitalize()
    linear = fmt is not None and fmt.encoding == "L16"
    rate = fmt.sample_rate if fmt is not None and linear else 8000
    codec = "L16" if linear else "PCMU"
    order: str | None = None
    if provider is Provider.EXOTEL:
        codec, order = "L16", "little"  # slin: 16-bit little-endian at the stream's rate
        rate = fmt.sample_rate if fmt is not None and linear else 8000
    elif provider is Provider.VONAGE:
        codec, rate, order = "L16", rate if rate in (8000, 16000) else 16000, "little"
    elif provider is Provider.PLIVO and linear and rate not in (8000, 16000):
        rate = 8000
    mode = _param(params, ("bidirectional",))
    if mode is not None and mode.lower() in ("false", "no", "0", "off"):
        return Injection(frozenset(), codec, rate,
                         "the stream's parameters say it is one-way (bidirectional=false)")
    reaches = _param(params, ("reaches",))
    if reaches is not None and (hears := _hears_from_reaches(reaches)) is not None:
        return Injection(hears, codec, rate, f"the stream's parameters say reaches={reaches}",
                         order)
    own = leg.leg.value
    if provider is Provider.VONAGE:
        return Injection(frozenset(Role), codec, rate,
                         "a Vonage WebSocket is a participant of the conversation: everyone "
                         "in it hears what it sends", order)
    if provider is Provider.PLIVO and TrackName.OUTBOUND in tracks:
        return Injection(frozenset(), codec, rate,
                         "this Plivo stream carries the outbound track, so it is one-way; "
                         "Plivo takes audio back only on a bidirectional stream of the "
                         "inbound track", order)
    if provider is Provider.EXOTEL:
        return Injection(frozenset({leg.leg}), codec, rate,
                         f"Exotel plays returned audio to the caller (Voicebot applet), the "
                         f"{own} here; a Stream applet is one-way and ignores it", order)
    return Injection(frozenset({leg.leg}), codec, rate,
                     f"{name} plays returned audio to the party on the stream's own leg, the "
                     f"{own} ({leg.source})", order)

