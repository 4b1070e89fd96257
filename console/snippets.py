"""Ready-to-paste provider configuration that points a call's media stream at this console,
set up so the console can whisper to the agent (bidirectional RTP, target legs per leg)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

__all__ = ["Snippets", "make_snippets"]


@dataclass(frozen=True)
class Snippets:
    telnyx_streaming_start: str
    telnyx_texml: str
    twilio_twiml: str


def make_snippets(stream_url: str, token: str, public_url: str = "", codec: str = "PCMU",
                  rate: int = 8000) -> Snippets:
    """`public_url` (the wss:// address providers reach) wins over the local `stream_url`;
    `codec` and `rate` are what the console sends back on Telnyx (its settings)."""
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
    texml_url = f"{base}/telnyx?token={token}" if token else f"{base}/telnyx"
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
    return Snippets(json.dumps(telnyx, indent=2), texml, twiml)
