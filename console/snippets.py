"""Ready-to-paste provider configuration that points a call's media stream at this console,
set up so the console can do the most each platform allows (PROTOCOLS.md 1-3.5): hear both
parties, whisper to the agent alone where a stream can reach the agent alone, barge where
streams reach both.

The stream token travels the way each platform can carry it: Telnyx's own
`stream_auth_token` header, else `?token=` in the stream URL (console/server/auth.py takes it
from any platform); SignalWire also gets `authBearerToken`. Twilio's URL may carry no query
string, so Twilio is checked by its signature instead.

Placeholders in capitals (CONFERENCE_NAME, AGENT_LEG_UUID, ...) are the supervisor's own
values, filled by their application.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

__all__ = ["SNIPPET_TABS", "SnippetTab", "Snippets", "make_snippets"]


@dataclass(frozen=True)
class Snippets:
    telnyx_streaming_start: str
    telnyx_texml: str
    twilio_twiml: str
    plivo_xml: str = ""
    exotel_url: str = ""
    vonage_calls: str = ""
    signalwire_cxml: str = ""
    bandwidth_bxml: str = ""


@dataclass(frozen=True)
class SnippetTab:
    key: str  # the Snippets field
    platform: str
    title: str
    kind: str  # "json", "xml" or "url": what the text must be valid as
    note: str  # where to paste it, and what the console can and cannot do there


SNIPPET_TABS: tuple[SnippetTab, ...] = (
    SnippetTab(
        "telnyx_streaming_start", "Telnyx", "Telnyx streaming_start", "json",
        "POST /v2/calls/{call_control_id}/actions/streaming_start on the customer's leg once "
        "the call is answered. RTP mode with target legs \"opposite\" lets the console whisper "
        "to the agent alone."),
    SnippetTab(
        "telnyx_texml", "Telnyx", "Telnyx TeXML", "xml",
        "TeXML <Start><Stream> before dialling the agent."),
    SnippetTab(
        "twilio_twiml", "Twilio", "Twilio TwiML", "xml",
        "TwiML <Start><Stream> for listening; see the note inside for whispering."),
    SnippetTab(
        "plivo_xml", "Plivo", "Plivo XML", "xml",
        "Plivo XML for the agent's call (the answer_url of the call to the agent), which then "
        "joins the customer's conference. Plivo takes audio back only on a bidirectional "
        "stream of the inbound track, so there are two streams on the agent's leg: the agent's "
        "voice, taking the console's audio to the agent alone (whisper), and a one-way stream "
        "of what the agent hears (the customer). No barge: no stream reaches the customer. On "
        "a call already bridged, start the same two streams with POST /v1/Account/{auth_id}/"
        "Call/{agent call_uuid}/Stream/ (service_url, bidirectional, audio_track, "
        "content_type, extra_headers)."),
    SnippetTab(
        "exotel_url", "Exotel", "Exotel stream URL", "url",
        "Exotel: the URL for a Stream applet placed before the Connect applet, streaming both "
        "tracks; the token and leg ride as URL parameters (2 of Exotel's 3), or put the token "
        "in Exotel's Basic form, wss://exotel:TOKEN@host/exotel. The Stream "
        "applet is one-way: the console listens and transcribes, and cannot whisper or barge. "
        "The Voicebot applet, the only one that takes audio back, keeps the caller with the "
        "bot instead of the agent and plays to the caller only."),
    SnippetTab(
        "vonage_calls", "Vonage", "Vonage WebSocket calls", "json",
        "Vonage: once the customer and the agent are in the named conversation (NCCO "
        "{\"action\": \"conversation\", \"name\": CONVERSATION_NAME}), POST each object to "
        "https://api.nexmo.com/v1/calls. Each socket hears one party (canHear) and is heard by "
        "that party alone (canSpeak): the console hears both separately, whispers on the "
        "agent's socket and barges on both. A socket joined without canHear/canSpeak would "
        "hear the call mixed and could only barge."),
    SnippetTab(
        "signalwire_cxml", "SignalWire", "SignalWire cXML", "xml",
        "SignalWire cXML for the customer's call: a one-way stream of both tracks for "
        "listening, the token as authBearerToken and in the URL. To whisper, see the note "
        "inside: the console as a coaching participant of the conference."),
    SnippetTab(
        "bandwidth_bxml", "Bandwidth", "Bandwidth BXML", "xml",
        "Bandwidth BXML for the agent's call (its answerUrl), bridging it to the waiting "
        "customer's call. Two streams on the agent's call: the agent's voice, bidirectional, "
        "taking the console's audio to the agent alone (whisper), and a one-way stream of what "
        "the agent hears (the customer). No barge: no stream reaches the customer. Bandwidth's "
        "socket has no auth of its own, so the token goes in the URL."),
)


def _url(base: str, path: str, token: str, **params: str) -> str:
    """`base/path` with the token (and any `params`) in its query string."""
    query = ({"token": token} if token else {}) | params
    if not query:
        return f"{base}/{path}"
    return f"{base}/{path}?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


def make_snippets(stream_url: str, token: str, public_url: str = "", codec: str = "PCMU",
                  rate: int = 8000) -> Snippets:
    """`public_url` (the wss:// address providers reach) wins over the local `stream_url`;
    `codec` and `rate` are what the console sends back on Telnyx (its settings), and pick
    Plivo's format too (L16 if chosen, else mu-law)."""
    url = public_url or stream_url
    base = url.rstrip("/")
    telnyx = {
        "stream_url": base + "/telnyx",
        "stream_track": "both_tracks",
        "stream_codec": "PCMU",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": codec,
        "stream_bidirectional_sampling_rate": rate,
        # Started on the customer's leg, "opposite" reaches the bridged agent alone.
        "stream_bidirectional_target_legs": "opposite",
        "stream_auth_token": token,
        # Telnyx does not echo target legs in the stream's start frame: saying it here lets
        # the console know who hears what it sends, whatever its defaults.
        "custom_parameters": [{"name": "leg", "value": "customer"},
                              {"name": "target_legs", "value": "opposite"}],
    }
    texml_url = _url(base, "telnyx", token)
    texml = (
        "<Response>\n"
        "  <Start>\n"
        f"    <Stream url={quoteattr(texml_url)} track=\"both_tracks\"\n"
        f"            bidirectionalMode=\"rtp\" bidirectionalCodec=\"{codec}\"\n"
        f"            bidirectionalSamplingRate=\"{rate}\">\n"
        "      <Parameter name=\"leg\" value=\"customer\"/>\n"
        "      <Parameter name=\"target_legs\" value=\"opposite\"/>\n"
        "    </Stream>\n"
        "  </Start>\n"
        "  <Dial><Sip>sip:agent@your-pbx.example.com</Sip></Dial>\n"
        "</Response>"
    )
    twiml = (
        "<Response>\n"
        "  <Start>\n"
        f"    <Stream url={quoteattr(base + '/twilio')} track=\"both_tracks\">\n"
        "      <Parameter name=\"leg\" value=\"customer\"/>\n"
        "    </Stream>\n"
        "  </Start>\n"
        "  <Dial><Client>agent</Client></Dial>\n"
        "</Response>\n"
        "<!-- Listening works with this as is. To whisper, Twilio needs the console on a\n"
        "     conference participant with coaching=true and callSidToCoach=<agent CallSid>,\n"
        "     whose TwiML is <Connect><Stream url=\"...\"> with <Parameter name=\"reaches\"\n"
        "     value=\"agent\"/> and <Parameter name=\"coach_call\" value=\"<the customer's\n"
        "     CallSid>\"/> (one call on the wall). Set the console's public\n"
        "     URL and Twilio auth token in Settings so X-Twilio-Signature is checked. -->"
    )
    return Snippets(
        telnyx_streaming_start=json.dumps(telnyx, indent=2),
        telnyx_texml=texml,
        twilio_twiml=twiml,
        plivo_xml=_plivo(base, token, codec, rate),
        exotel_url=_url(base, "exotel", token, leg="customer"),
        vonage_calls=_vonage(base, token),
        signalwire_cxml=_signalwire(base, token),
        bandwidth_bxml=_bandwidth(base, token),
    )


def _plivo(base: str, token: str, codec: str, rate: int) -> str:
    # mu-law unless the console is set to L16: Plivo does not document its L16 byte order.
    content = (f"audio/x-l16;rate={16000 if rate >= 16000 else 8000}"
               if codec.upper() == "L16" else "audio/x-mulaw;rate=8000")
    # extraHeaders take letters and digits only ("k=v,k2=v2"). Plivo refuses a second stream
    # to a URL already streaming on the call, hence two paths (the console accepts any).
    talk = escape(_url(base, "plivo/agent", token))
    heard = escape(_url(base, "plivo/heard", token))
    return (
        "<Response>\n"
        "  <!-- Plivo: the console hears both parties and whispers to the agent alone; it\n"
        "       cannot barge (no stream here reaches the customer). -->\n"
        "  <Stream bidirectional=\"true\" audioTrack=\"inbound\"\n"
        f"          contentType=\"{content}\"\n"
        f"          extraHeaders=\"leg=agent,reaches=agent\">{talk}</Stream>\n"
        "  <Stream bidirectional=\"false\" audioTrack=\"outbound\"\n"
        f"          contentType=\"{content}\"\n"
        f"          extraHeaders=\"leg=agent,bidirectional=false\">{heard}</Stream>\n"
        "  <Conference>CONFERENCE_NAME</Conference>\n"
        "</Response>"
    )


def _vonage(base: str, token: str) -> str:
    def socket(party: str, leg_uuid: str) -> dict[str, object]:
        return {
            "to": [{
                "type": "websocket",
                "uri": _url(base, f"vonage/{party}", token),
                "content-type": "audio/l16;rate=16000",
                # Arrive as the first frame's fields: who this socket is, whom it reaches,
                # and the one call both sockets belong to on the wall.
                "headers": {"leg": party, "reaches": party, "coach_call": "CONVERSATION_NAME"},
            }],
            "from": {"type": "phone", "number": "YOUR_VONAGE_NUMBER"},
            "ncco": [{
                "action": "conversation",
                "name": "CONVERSATION_NAME",
                "canHear": [leg_uuid],
                "canSpeak": [leg_uuid],
            }],
        }

    return json.dumps([socket("agent", "AGENT_LEG_UUID"),
                       socket("customer", "CUSTOMER_LEG_UUID")], indent=2)


def _signalwire(base: str, token: str) -> str:
    url = _url(base, "signalwire", token)
    bearer = f" authBearerToken={quoteattr(token)}" if token else ""
    same_bearer = " authBearerToken=\"(the same)\"" if token else ""
    return (
        "<Response>\n"
        "  <Start>\n"
        f"    <Stream url={quoteattr(url)} track=\"both_tracks\"{bearer}>\n"
        "      <Parameter name=\"leg\" value=\"customer\"/>\n"
        "    </Stream>\n"
        "  </Start>\n"
        "  <Dial><Conference>CONFERENCE_NAME</Conference></Dial>\n"
        "</Response>\n"
        "<!-- SignalWire: this stream is one-way; the console listens. To whisper, add the\n"
        "     console to CONFERENCE_NAME as a participant with Coaching=true and\n"
        "     CallSidToCoach=<agent CallSid>, dialling a number whose cXML is\n"
        f"     <Connect><Stream url=\"(the URL above)\"{same_bearer}> with\n"
        "     <Parameter name=\"reaches\" value=\"agent\"/> and <Parameter name=\"coach_call\"\n"
        "     value=\"<the customer's CallSid>\"/> (one call on the wall). No barge: no\n"
        "     stream reaches both parties. -->"
    )


def _bandwidth(base: str, token: str) -> str:
    talk = quoteattr(_url(base, "bandwidth/agent", token))
    heard = quoteattr(_url(base, "bandwidth/heard", token))
    return (
        "<Response>\n"
        "  <!-- Bandwidth: the console hears both parties and whispers to the agent alone;\n"
        "       it cannot barge (no stream here reaches the customer), and Bandwidth has no\n"
        "       marks. -->\n"
        "  <StartStream name=\"console-agent\" mode=\"bidirectional\" tracks=\"inbound\"\n"
        f"               destination={talk}>\n"
        "    <StreamParam name=\"leg\" value=\"agent\"/>\n"
        "    <StreamParam name=\"reaches\" value=\"agent\"/>\n"
        "    <StreamParam name=\"coach_call\" value=\"CUSTOMER_CALL_ID\"/>\n"
        "  </StartStream>\n"
        "  <StartStream name=\"console-heard\" mode=\"unidirectional\" tracks=\"outbound\"\n"
        f"               destination={heard}>\n"
        "    <StreamParam name=\"leg\" value=\"agent\"/>\n"
        "    <StreamParam name=\"bidirectional\" value=\"false\"/>\n"
        "    <StreamParam name=\"coach_call\" value=\"CUSTOMER_CALL_ID\"/>\n"
        "  </StartStream>\n"
        "  <Bridge>CUSTOMER_CALL_ID</Bridge>\n"
        "</Response>"
    )
