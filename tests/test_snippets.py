import json
import xml.dom.minidom

from console.snippets import make_snippets


def test_snippets_whisper_to_the_agent() -> None:
    s = make_snippets("ws://127.0.0.1:8765/stream", "tok", "wss://cc.example.com/media")
    body = json.loads(s.telnyx_streaming_start)
    assert body["stream_url"] == "wss://cc.example.com/media/telnyx"
    assert body["stream_bidirectional_mode"] == "rtp"
    assert body["stream_bidirectional_target_legs"] == "opposite"
    assert body["stream_auth_token"] == "tok"
    assert {"name": "leg", "value": "customer"} in body["custom_parameters"]
    texml = xml.dom.minidom.parseString(s.telnyx_texml)
    stream = texml.getElementsByTagName("Stream")[0]
    assert stream.getAttribute("bidirectionalMode") == "rtp"
    assert stream.getAttribute("url").endswith("?token=tok")
    twiml = xml.dom.minidom.parseString(s.twilio_twiml.split("<!--")[0])
    assert "?" not in twiml.getElementsByTagName("Stream")[0].getAttribute("url")


def test_snippets_ask_telnyx_for_the_console_return_codec() -> None:
    s = make_snippets("ws://127.0.0.1:8765/stream", "tok", codec="L16", rate=16000)
    body = json.loads(s.telnyx_streaming_start)
    assert body["stream_bidirectional_codec"] == "L16"
    assert body["stream_bidirectional_sampling_rate"] == 16000
    stream = xml.dom.minidom.parseString(s.telnyx_texml).getElementsByTagName("Stream")[0]
    assert stream.getAttribute("bidirectionalCodec") == "L16"
    assert stream.getAttribute("bidirectionalSamplingRate") == "16000"
