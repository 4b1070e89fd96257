"""Provider snippets: valid for their format, carrying the URL and token, and read by the
real adapters, call registry and whisper/barge routes as the snippets' notes say."""

import copy
import json
import re
import xml.dom.minidom
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from support import fixtures_dir

from console.core.bus import EventBus
from console.core.events import Provider, Role, Started, TrackName
from console.core.registry import CallRegistry
from console.protocol.detect import FrameDecoder
from console.server.auth import AuthPolicy, check_handshake
from console.snippets import SNIPPET_TABS, make_snippets
from console.supervisor.routes import BARGE, WHISPER, StreamReach, route


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


# --- every platform: the snippet is valid, carries the token, and the console reads it ------

BASE = "wss://cc.example.com/media"
TOKEN = "Zx-9_tok"


def _all() -> Any:
    return make_snippets("ws://127.0.0.1:8765/stream", TOKEN, BASE)


def _fixture(platform: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir() / platform / name).read_text())
    data.pop("_comment", None)
    return data


def _xml(text: str) -> ET.Element:
    # Comments (the capability notes) are part of the document and must not break it.
    return ET.fromstring(text)


def _stream_urls(kind: str, text: str) -> list[str]:
    """The WebSocket addresses a snippet sends the platform to."""
    if kind == "url":
        return [text]
    if kind == "json":
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
            elif isinstance(node, str) and node.startswith(("ws://", "wss://")):
                found.append(node)

        walk(json.loads(text))
        return found
    root = _xml(text)
    out = [el.get(a) or "" for el in root.iter() for a in ("url", "destination") if el.get(a)]
    out += [(el.text or "").strip() for el in root.iter("Stream")
            if (el.text or "").strip().startswith(("ws://", "wss://"))]
    return out


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _open(frames: list[dict[str, Any]]) -> tuple[CallRegistry, list[str]]:
    """Each stream's first frames through the real detector, adapter and call registry, as
    the server feeds them; returns the registry and the stream uids in order."""
    reg = CallRegistry(EventBus(), clock=lambda: 1000.0)
    uids: list[str] = []
    for frame in frames:
        started = FrameDecoder().decode_obj(frame)
        assert isinstance(started, Started), started
        uids.append(reg.open_stream(started).uid)
    return reg, uids


def _routes(reg: CallRegistry) -> tuple[Any, Any]:
    assert len(reg.calls) == 1, "the snippet's streams must make one call on the wall"
    call = next(iter(reg.calls.values()))
    reach = [StreamReach(s.uid, s.injection) for s in call.streams.values()]
    return route(WHISPER, reach), route(BARGE, reach)


def test_snippet_tabs_cover_seven_platforms_with_valid_snippets() -> None:
    s = _all()
    assert {t.platform for t in SNIPPET_TABS} == {
        "Telnyx", "Twilio", "Plivo", "Exotel", "Vonage", "SignalWire", "Bandwidth"}
    assert len({t.key for t in SNIPPET_TABS}) == len(SNIPPET_TABS)
    policy = AuthPolicy(token=TOKEN)
    for tab in SNIPPET_TABS:
        text = getattr(s, tab.key)
        assert text and tab.note, tab.key
        urls = _stream_urls(tab.kind, text)
        assert urls and all(u.startswith(BASE + "/") for u in urls), (tab.key, urls)
        if tab.platform == "Twilio":  # no query string allowed: the signature authenticates
            assert all("?" not in u for u in urls)
            continue
        assert TOKEN in text, tab.key
        if tab.key == "telnyx_streaming_start":
            continue  # the token goes in Telnyx's header (stream_auth_token), checked above
        for u in urls:  # what the server decides on the handshake these URLs make
            assert check_handshake(policy, _path(u), {}).ok, (tab.key, u)
            assert check_handshake(AuthPolicy(token="other"), _path(u), {}).status == 403


def test_snippet_tokens_are_url_escaped_and_kept_out_when_auth_is_off() -> None:
    odd = "a b&c<d>--e"
    s = make_snippets("ws://127.0.0.1:8765/stream", odd, BASE)
    for tab in SNIPPET_TABS:
        text = getattr(s, tab.key)
        for u in _stream_urls(tab.kind, text):  # still parses, and the server still agrees
            if "?" in u:
                assert check_handshake(AuthPolicy(token=odd), _path(u), {}).ok, tab.key
    off = make_snippets("ws://127.0.0.1:8765/stream", "", BASE)
    for tab in SNIPPET_TABS:
        text = getattr(off, tab.key)
        assert "token=" not in text and "authBearerToken" not in text, tab.key
    assert off.exotel_url == BASE + "/exotel?leg=customer"


def test_snippet_plivo_two_agent_leg_streams_whisper_but_no_barge() -> None:
    root = _xml(_all().plivo_xml)
    talk, heard = root.findall("Stream")
    assert (talk.get("bidirectional"), talk.get("audioTrack")) == ("true", "inbound")
    assert (heard.get("bidirectional"), heard.get("audioTrack")) == ("false", "outbound")
    assert talk.text != heard.text  # Plivo refuses a second stream to the same URL
    for s in (talk, heard):
        assert s.get("contentType") == "audio/x-mulaw;rate=8000"
        # Plivo allows only letters and digits in extraHeaders.
        assert re.fullmatch(r"[A-Za-z0-9]+=[A-Za-z0-9]+(,[A-Za-z0-9]+=[A-Za-z0-9]+)*",
                            s.get("extraHeaders") or "")
    assert root.find("Conference") is not None
    frames = []
    for n, s in enumerate((talk, heard)):
        f = _fixture("plivo", "from_plivo_01_start.json")
        f["start"]["streamId"] = f"87654321-4321-4321-4321-cba98765432{n}"
        f["start"]["tracks"] = [s.get("audioTrack")]
        f["extra_headers"] = s.get("extraHeaders")
        frames.append(f)
    reg, (talk_uid, heard_uid) = _open(frames)
    call = next(iter(reg.calls.values()))
    assert call.provider is Provider.PLIVO
    assert call.streams[talk_uid].leg.role_of(TrackName.INBOUND) is Role.AGENT
    assert call.streams[heard_uid].leg.role_of(TrackName.OUTBOUND) is Role.CUSTOMER
    assert not call.streams[heard_uid].injection.hears  # the one-way stream reaches nobody
    whisper, barge = _routes(reg)
    assert whisper.streams == (talk_uid,), whisper.reason
    assert not barge.ok, barge.reason
    l16 = _xml(make_snippets(BASE, TOKEN, codec="L16", rate=16000).plivo_xml)
    assert {s.get("contentType") for s in l16.findall("Stream")} == {"audio/x-l16;rate=16000"}


def test_snippet_exotel_url_listens_only() -> None:
    url = _all().exotel_url
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/media/exotel" and query == {"token": [TOKEN], "leg": ["customer"]}
    assert len(query) <= 3 and len(url) < 600  # Exotel: 3 custom parameters, 600 characters
    f = _fixture("exotel", "from_exotel_02_start.json")
    # Exotel hands the URL's parameters to the stream as custom parameters.
    f["start"]["custom_parameters"] = {k: v[0] for k, v in query.items() if k != "token"}
    reg, (uid,) = _open([f])
    stream = next(iter(reg.calls.values())).streams[uid]
    assert stream.leg.leg is Role.CUSTOMER
    whisper, barge = _routes(reg)
    assert not whisper.ok and not barge.ok


def test_snippet_vonage_one_socket_per_party_whisper_and_barge() -> None:
    bodies = json.loads(_all().vonage_calls)
    assert [b["to"][0]["headers"]["leg"] for b in bodies] == ["agent", "customer"]
    frames = []
    for body, leg_uuid in zip(bodies, ("AGENT_LEG_UUID", "CUSTOMER_LEG_UUID"), strict=True):
        (to,) = body["to"]
        assert to["type"] == "websocket" and to["content-type"] == "audio/l16;rate=16000"
        assert len(json.dumps(to["headers"])) <= 512  # Vonage's limit on headers
        (conv,) = body["ncco"]
        assert conv["action"] == "conversation" and conv["name"] == "CONVERSATION_NAME"
        assert conv["canHear"] == conv["canSpeak"] == [leg_uuid]
        assert body["from"]["type"] == "phone"
        # The socket's first frame: the headers merged with the content type.
        first = _fixture("vonage", "from_vonage_01b_websocket_connected.json")
        first.pop("app")
        first.update({"content-type": to["content-type"], **to["headers"]})
        frames.append(first)
    reg, (agent_uid, customer_uid) = _open(frames)
    call = next(iter(reg.calls.values()))
    assert call.provider is Provider.VONAGE and call.id == "CONVERSATION_NAME"
    assert call.streams[agent_uid].leg.leg is Role.AGENT
    assert call.streams[customer_uid].leg.leg is Role.CUSTOMER
    whisper, barge = _routes(reg)
    assert whisper.streams == (agent_uid,), whisper.reason
    assert set(barge.streams) == {agent_uid, customer_uid}, barge.reason


def test_snippet_signalwire_listens_with_bearer_and_query_token() -> None:
    text = _all().signalwire_cxml
    stream = _xml(text).find("Start/Stream")
    assert stream is not None
    assert stream.get("track") == "both_tracks" and stream.get("authBearerToken") == TOKEN
    # Either way of carrying the token is enough on its own.
    bare = urlsplit(stream.get("url") or "").path
    assert check_handshake(AuthPolicy(token=TOKEN), bare,
                           {"Authorization": f"Bearer {TOKEN}"}).ok
    assert "Coaching=true" in text and 'name="reaches" value="agent"' in text
    params = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    assert params == {"leg": "customer"}
    f = _fixture("twilio", "from_twilio_02_start.json")
    sid = "720796a0-8ee9-4350-83bd-2d07a3121f1e"  # SignalWire's ids are UUIDs
    f["streamSid"] = f["start"]["streamSid"] = sid
    f["start"]["callSid"] = "9c1f4a8e-0000-4000-8000-00000000c411"
    f["start"]["customParameters"] = params
    reg, (uid,) = _open([f])
    call = next(iter(reg.calls.values()))
    assert call.provider is Provider.SIGNALWIRE
    assert call.streams[uid].leg.role_of(TrackName.OUTBOUND) is Role.AGENT
    whisper, barge = _routes(reg)
    assert not whisper.ok and not barge.ok  # <Start><Stream> is one-way


def test_snippet_bandwidth_two_agent_leg_streams_whisper_but_no_barge() -> None:
    root = _xml(_all().bandwidth_bxml)
    talk, heard = root.findall("StartStream")
    assert (talk.get("mode"), talk.get("tracks")) == ("bidirectional", "inbound")
    assert (heard.get("mode"), heard.get("tracks")) == ("unidirectional", "outbound")
    assert talk.get("name") != heard.get("name")
    assert (root.findtext("Bridge") or "").strip() == "CUSTOMER_CALL_ID"
    frames = []
    for n, s in enumerate((talk, heard)):
        f = copy.deepcopy(_fixture("bandwidth", "from_bandwidth_01_start_UNVERIFIED.json"))
        f["metadata"]["streamId"] = f"s-stream-{n}"
        f["metadata"]["streamName"] = s.get("name")
        f["metadata"]["tracks"][0]["name"] = s.get("tracks")
        f["streamParams"] = {p.get("name"): p.get("value") for p in s.iter("StreamParam")}
        frames.append(f)
    reg, (talk_uid, heard_uid) = _open(frames)
    call = next(iter(reg.calls.values()))
    assert call.provider is Provider.BANDWIDTH and call.id == "CUSTOMER_CALL_ID"
    assert call.streams[talk_uid].leg.role_of(TrackName.INBOUND) is Role.AGENT
    assert call.streams[heard_uid].leg.role_of(TrackName.OUTBOUND) is Role.CUSTOMER
    assert not call.streams[heard_uid].injection.hears  # the one-way stream reaches nobody
    whisper, barge = _routes(reg)
    assert whisper.streams == (talk_uid,), whisper.reason
    assert not barge.ok, barge.reason


@pytest.mark.parametrize("key", ["plivo_xml", "signalwire_cxml", "bandwidth_bxml"])
def test_snippet_xml_notes_say_what_the_console_can_do(key: str) -> None:
    text = getattr(_all(), key)
    notes = " ".join(re.findall(r"<!--(.*?)-->", text, re.S))
    assert "whisper" in notes and "barge" in notes.lower()
