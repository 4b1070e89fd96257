"""console/callcontrol/api.py against the Telnyx stand-in over real HTTP: each command's
path, body and headers as Telnyx receives them; dial gives the Leg; refusals become ApiError
with Telnyx's code, title and detail; odd call_control_ids travel intact; no answer, 5xx and
429 are retried once only for commands with a command_id; answers are read up to 1 MB; the
API key stays out of logs and errors. Then the body builders against the documented
examples (fixtures) and their refusals."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from telnyx_standin import TelnyxStandIn, check_body, route, wait_until

from console.callcontrol.api import (
    ApiError,
    Leg,
    TelnyxApi,
    streaming_start_body,
    supervisor_dial_body,
)

FIXTURES = Path(__file__).parents[1] / "data" / "protocols" / "fixtures" / "telnyx"
TOKEN = "example-stream-auth-token"


def fixture(name: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / name).read_text())
    body.pop("_comment", None)
    return body


@pytest.fixture
def standin() -> Iterator[TelnyxStandIn]:
    with TelnyxStandIn(answer_after=0.05) as s:
        yield s


@pytest.fixture
async def api(standin: TelnyxStandIn) -> AsyncIterator[TelnyxApi]:
    yield TelnyxApi(standin.api_key, standin.base_url, timeout_s=3.0)


def stream_body(**extra: Any) -> dict[str, Any]:
    return streaming_start_body(stream_url="wss://console.example.com/telnyx/media",
                                token=TOKEN, codec="PCMU", rate=8000, target_legs="self",
                                **extra)


def dial_body(agent: str, **extra: Any) -> dict[str, Any]:
    return supervisor_dial_body(connection_id="7267xxxxxxxxxxxxxx", to="+18005550111",
                                from_="+18005550100", supervise_call_control_id=agent,
                                role="whisper", **extra)


def quoted(call_control_id: str) -> str:
    return urllib.parse.quote(call_control_id, safe="")


def assert_headers(standin: TelnyxStandIn, headers: dict[str, str]) -> None:
    assert headers["authorization"] == f"Bearer {standin.api_key}"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert int(headers["content-length"]) > 0


async def test_cc_api_streaming_start_and_stop_as_received(standin: TelnyxStandIn,
                                                           api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    body = stream_body(custom_parameters={"console_session": "abc123"}, command_id="s-1")
    await api.streaming_start(agent, body)
    method, path, headers, received = standin.requests[-1]
    assert (method, path) == ("POST", f"/v2/calls/{quoted(agent)}/actions/streaming_start")
    assert_headers(standin, headers)
    assert received == body
    assert standin.call(agent).streaming

    await api.streaming_stop(agent)
    await api.streaming_stop(agent, command_id="stop-1")
    stops = standin.requests_for("streaming_stop")
    assert [r.body for r in stops] == [{}, {"command_id": "stop-1"}]
    assert stops[0].path == f"/v2/calls/{quoted(agent)}/actions/streaming_stop"
    assert not standin.call(agent).streaming
    assert len(standin.requests) == 3


async def test_cc_api_dial_returns_the_leg(standin: TelnyxStandIn, api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    body = dial_body(agent, client_state="c3VwZXJ2aXNvcg==", command_id="d-1")
    leg = await api.dial(body)
    method, path, headers, received = standin.requests[-1]
    assert (method, path) == ("POST", "/v2/calls")
    assert_headers(standin, headers)
    assert received == body
    call = standin.call(leg.call_control_id)
    assert call is not None
    assert leg == Leg(call.call_control_id, call.call_leg_id, call.call_session_id)
    assert call.supervise_call_control_id == agent and call.supervisor_role == "whisper"


async def test_cc_api_switch_role_and_hangup_as_received(standin: TelnyxStandIn,
                                                         api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    leg = await api.dial(dial_body(agent))
    assert wait_until(lambda: standin.call(leg.call_control_id).state == "answered")
    await api.switch_supervisor_role(leg.call_control_id, "barge")
    method, path, headers, received = standin.requests[-1]
    assert method == "POST"
    assert path == f"/v2/calls/{quoted(leg.call_control_id)}/actions/switch_supervisor_role"
    assert_headers(standin, headers)
    assert received == {"role": "barge"}
    assert standin.call(leg.call_control_id).supervisor_role == "barge"

    await api.hangup(leg.call_control_id, command_id="h-1")
    _, path, headers, received = standin.requests[-1]
    assert path == f"/v2/calls/{quoted(leg.call_control_id)}/actions/hangup"
    assert received == {"command_id": "h-1"}
    assert standin.call(leg.call_control_id).state == "ended"
    await api.hangup(agent)
    assert standin.requests[-1].body == {}
    assert standin.call(agent).state == "ended"


async def test_cc_api_refusals_become_api_errors(standin: TelnyxStandIn,
                                                 api: TelnyxApi) -> None:
    standin.answer_after = None
    agent = standin.add_call().call_control_id
    leg = await api.dial(dial_body(agent))
    with pytest.raises(ApiError) as caught:
        await api.streaming_start(leg.call_control_id, stream_body())
    err = caught.value
    assert (err.status, err.code, err.title) == (422, "90034", "Call not answered yet")
    assert err.command == "streaming_start" and err.detail
    assert str(err) == ("Telnyx refused streaming_start (422 90034 Call not answered yet): "
                        f"{err.detail}")

    with pytest.raises(ApiError) as caught:
        await api.hangup("v3:no-such-call")
    assert (caught.value.status, caught.value.code) == (422, "90018")
    assert "Call has already ended" in str(caught.value)

    with pytest.raises(ApiError) as caught:
        await api.switch_supervisor_role(agent, "monitor")  # not a supervisor leg
    assert caught.value.status == 422 and "role" in caught.value.detail

    wrong = TelnyxApi(standin.api_key + "x", standin.base_url, timeout_s=3.0)
    with pytest.raises(ApiError) as caught:
        await wrong.hangup(agent)
    assert (caught.value.status, caught.value.code, caught.value.title) == (
        401, "10009", "Authentication failed")
    assert str(caught.value).startswith("Telnyx refused hangup (401 10009 Authentication")
    assert standin.call(agent).state == "answered"


async def test_cc_api_odd_call_control_ids_arrive_intact(standin: TelnyxStandIn,
                                                         api: TelnyxApi) -> None:
    odd = "v2:AgD/xmoR+X6QM=uaIj:9/Zak==?#% é"
    standin.add_call(odd)
    await api.streaming_start(odd, stream_body())
    path = standin.requests[-1].path
    assert route("POST", path) == ("streaming_start", odd)
    assert path.count("/") == 5  # /v2/calls/<id>/actions/streaming_start: one segment
    assert standin.call(odd).streaming
    await api.hangup(odd)
    assert standin.call(odd).state == "ended"
    for bad in ("", "v3:a\nb", "x" * 257):
        with pytest.raises(ValueError):
            await api.hangup(bad)
    assert len(standin.requests) == 2


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_cc_api_no_answer_is_status_0_and_quick() -> None:
    port = closed_port()
    api = TelnyxApi("KEY0123", f"http://127.0.0.1:{port}/v2", timeout_s=5.0)
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        await api.hangup("v3:abc")
    assert time.monotonic() - started < 1.0
    assert caught.value.status == 0
    assert str(caught.value).startswith("Telnyx did not answer hangup: connection refused")
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        await api.hangup("v3:abc", command_id="h-1")  # retried once, then given up
    assert 0.4 < time.monotonic() - started < 2.0
    assert caught.value.status == 0


async def test_cc_api_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        api = TelnyxApi("KEY0123", f"http://127.0.0.1:{port}/v2", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            await api.hangup("v3:abc")
        assert time.monotonic() - started < 2.0
        assert caught.value.status == 0 and "within 0.5 s" in caught.value.detail


async def test_cc_api_retries_5xx_only_with_a_command_id(standin: TelnyxStandIn,
                                                         api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    standin.fail_next("hangup", 503, "10007", "Unexpected error", "An unexpected error occured.")
    with pytest.raises(ApiError) as caught:
        await api.hangup(agent)
    assert (caught.value.status, caught.value.code) == (503, "10007")
    assert str(caught.value).startswith("Telnyx failed hangup (503 10007 Unexpected error)")
    assert len(standin.requests_for("hangup")) == 1
    assert standin.call(agent).state == "answered"

    standin.fail_next("hangup", 503, "10007", "Unexpected error")
    await api.hangup(agent, command_id="h-1")
    tries = standin.requests_for("hangup")[1:]
    assert [r.body for r in tries] == [{"command_id": "h-1"}] * 2
    assert standin.call(agent).state == "ended"


async def test_cc_api_retried_dial_gives_one_leg(standin: TelnyxStandIn,
                                                 api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    # Telnyx dialled, but its answer was lost: the repeat with the same command_id must not
    # ring the supervisor twice.
    standin.fail_next("dial", 502, "10007", "Unexpected error", applied=True)
    leg = await api.dial(dial_body(agent, command_id="d-1"))
    assert len(standin.requests_for("dial")) == 2
    assert len(standin.calls()) == 2
    assert standin.call(leg.call_control_id) is not None
    # The connection dropped without an answer: retried too.
    standin.respond_next("streaming_start", 0)
    await api.streaming_start(agent, stream_body(command_id="s-1"))
    assert len(standin.requests_for("streaming_start")) == 2
    assert standin.call(agent).streaming
    # Without a command_id a dropped connection is reported, not repeated.
    standin.respond_next("streaming_stop", 0)
    with pytest.raises(ApiError) as caught:
        await api.streaming_stop(agent)
    assert caught.value.status == 0
    assert len(standin.requests_for("streaming_stop")) == 1


async def test_cc_api_honours_retry_after(standin: TelnyxStandIn, api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    standin.fail_next("streaming_stop", 429, "10011", "Too many requests", retry_after=1)
    started = time.monotonic()
    await api.streaming_stop(agent, command_id="stop-1")
    assert 0.9 < time.monotonic() - started < 3.0
    assert len(standin.requests_for("streaming_stop")) == 2

    standin.fail_next("streaming_stop", 429, "10011", "Too many requests", retry_after=30)
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        await api.streaming_stop(agent, command_id="stop-2")
    assert time.monotonic() - started < 1.0  # 30 s is past the 5 s we wait: no retry
    assert caught.value.status == 429 and caught.value.retry_after == 30
    assert len(standin.requests_for("streaming_stop")) == 3

    standin.fail_next("streaming_stop", 429, "10011", "Too many requests", retry_after=0)
    with pytest.raises(ApiError):
        await api.streaming_stop(agent)  # no command_id: no retry
    assert len(standin.requests_for("streaming_stop")) == 4


async def test_cc_api_reads_at_most_1_mb(standin: TelnyxStandIn, api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id

    def padded(size: int) -> bytes:
        head, tail = b'{"data":{"result":"ok"},"pad":"', b'"}'
        return head + b"x" * (size - len(head) - len(tail)) + tail

    standin.respond_next("hangup", 200, padded(1024 * 1024))
    await api.hangup(agent, command_id="h-1")  # exactly 1 MB is fine
    assert standin.call(agent).state == "answered"  # canned answer: nothing was done

    standin.respond_next("hangup", 200, padded(8 * 1024 * 1024))
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        await api.hangup(agent, command_id="h-2")
    assert time.monotonic() - started < 2.0
    assert caught.value.status == 200 and caught.value.title == "Response too large"
    assert len(standin.requests_for("hangup")) == 2  # not retried: Telnyx did answer

    standin.respond_next("hangup", 422, b'{"errors":[' + b" " * (2 * 1024 * 1024) + b"]}")
    with pytest.raises(ApiError) as caught:
        await api.hangup(agent)
    assert caught.value.status == 422 and "over 1024 KB" in str(caught.value)


async def test_cc_api_unusable_answers(standin: TelnyxStandIn, api: TelnyxApi) -> None:
    agent = standin.add_call().call_control_id
    standin.respond_next("dial", 200, b'{"data":{"call_control_id":"v3:x"}}')
    with pytest.raises(ApiError) as caught:
        await api.dial(dial_body(agent))
    assert caught.value.status == 200 and "call_leg_id" in caught.value.detail
    assert str(caught.value).startswith("Telnyx's answer to dial was unusable (200 Malformed")

    standin.respond_next("hangup", 502, b"<html>bad gateway</html>",
                         {"Content-Type": "text/html"})
    with pytest.raises(ApiError) as caught:
        await api.hangup(agent)
    assert (caught.value.status, caught.value.code, caught.value.title) == (
        502, "", "Bad Gateway")

    standin.respond_next("hangup", 422, json.dumps({"errors": [
        {"code": 90018, "title": "Call has already ended", "detail": "gone\x1b[31m"},
        {"code": "10015", "title": "Bad Request"}]}).encode())
    with pytest.raises(ApiError) as caught:
        await api.hangup(agent)
    assert caught.value.code == "90018"  # numeric codes read as text
    assert "\x1b" not in str(caught.value) and "(and 1 more)" in caught.value.detail


async def test_cc_api_key_never_in_logs_or_errors(standin: TelnyxStandIn, api: TelnyxApi,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="console")  # whatever an earlier test left there
    key = standin.api_key
    errors: list[ApiError] = []
    agent = standin.add_call().call_control_id
    await api.streaming_start(agent, stream_body())
    await api.dial(dial_body(agent))
    # A server (or a proxy) that echoes the key back must not get it into an error.
    standin.fail_next("hangup", 401, "10009", "Authentication failed",
                      f"bad key {key} in header", retry_after=0)
    standin.fail_next("hangup", 503, "10007", f"Unexpected error for {key}", times=2)
    for command_id in (None, "h-1"):
        with pytest.raises(ApiError) as caught:
            await api.hangup(agent, command_id=command_id)
        errors.append(caught.value)
    with pytest.raises(ApiError) as caught:
        await TelnyxApi(key, f"http://127.0.0.1:{closed_port()}/v2").hangup(agent, "x")
    errors.append(caught.value)
    assert "[API key]" in errors[0].detail and "[API key]" in errors[1].title
    texts = [caplog.text, repr(api)]
    for err in errors:
        texts += [str(err), repr(err), err.detail, err.title, *map(str, err.args)]
    assert all(key not in text for text in texts)
    assert TOKEN not in caplog.text  # bodies are not logged either
    assert "Telnyx" in caplog.text  # the failures were logged


def test_cc_api_refuses_a_bad_key_or_address() -> None:
    for key in ("", "   ", "KEY with space", "KEY\r\nX-Evil: 1", "KEYé"):
        with pytest.raises(ValueError) as caught:
            TelnyxApi(key)
        assert key.strip() == "" or key not in str(caught.value)
    for url in ("ftp://api.telnyx.com/v2", "api.telnyx.com", "https://u:p@api.telnyx.com/v2",
                "https://api.telnyx.com/v2?x=1"):
        with pytest.raises(ValueError):
            TelnyxApi("KEY0123", url)
    assert repr(TelnyxApi("KEY0123")) == "TelnyxApi(https://api.telnyx.com:443/v2)"


async def test_cc_api_bad_role_is_refused_before_sending(standin: TelnyxStandIn,
                                                         api: TelnyxApi) -> None:
    with pytest.raises(ValueError):
        await api.switch_supervisor_role(standin.add_call().call_control_id, "listen")
    assert standin.requests == []


# -- body builders -------------------------------------------------------------------------


def test_cc_api_streaming_start_body_matches_the_fixture() -> None:
    expected = fixture("rest_streaming_start_request_whisper_to_agent.json")
    body = streaming_start_body(
        stream_url="wss://console.example.com/telnyx/media", token=TOKEN, codec="PCMU",
        rate=8000, target_legs="self", custom_parameters={"console_session": "abc123"},
        client_state="aGF2ZSBhIG5pY2UgZGF5ID1d",
        command_id="891510ac-f3e4-11e8-af5b-de00688a4901")
    assert body == expected
    assert check_body("streaming_start", body) is None
    minimal = stream_body()
    assert set(minimal) <= set(expected) and check_body("streaming_start", minimal) is None
    # Defaults: rtp (Telnyx's own default, mp3, drops audio sent back) and both tracks.
    assert minimal["stream_bidirectional_mode"] == "rtp"
    assert minimal["stream_track"] == "both_tracks"
    mp3 = stream_body(mode="mp3")
    assert "stream_bidirectional_codec" not in mp3
    assert "stream_bidirectional_sampling_rate" not in mp3
    l16 = streaming_start_body(stream_url="ws://127.0.0.1:8080/media", token="t", codec="L16",
                               rate=16000, target_legs="opposite", track="inbound_track")
    assert l16["stream_bidirectional_sampling_rate"] == 16000
    assert check_body("streaming_start", l16) is None


def test_cc_api_supervisor_dial_body_uses_documented_names() -> None:
    dial_fixture = fixture("rest_dial_request_with_stream.json")
    body = dial_body("v3:agent", client_state="c3Vw", command_id="d-1")
    supervision = {"supervise_call_control_id", "supervisor_role", "client_state", "command_id"}
    assert set(body) - supervision <= set(dial_fixture)
    assert {"connection_id", "to", "from"} <= set(body)
    assert body["supervisor_role"] == "whisper" and body["from"] == "+18005550100"
    assert check_body("dial", body) is None
    sip = supervisor_dial_body(connection_id="c", to="sip:dana@pbx.example.com",
                               from_="+18005550100", supervise_call_control_id="v3:a",
                               role="monitor")
    assert check_body("dial", sip) is None


@pytest.mark.parametrize("change", [
    {"codec": "pcmu"}, {"codec": "G729"}, {"rate": 44100}, {"rate": "8000"}, {"rate": True},
    {"rate": 16000},  # PCMU runs at 8 kHz
    {"target_legs": "agent"}, {"mode": "raw"}, {"track": "both"},
    {"stream_url": "https://console.example.com/media"}, {"stream_url": "wss://"},
    {"stream_url": "wss://console.example.com/" + "x" * 2000},
    {"stream_url": "wss://console.example.com/a b"},
    {"token": ""}, {"token": "x" * 4001}, {"token": "a\nb"},
    {"custom_parameters": {"": "v"}}, {"custom_parameters": {"n": 1}},
    {"custom_parameters": {"n": "v" * 1025}},
    {"custom_parameters": {f"p{i}": "v" for i in range(33)}},
    {"client_state": "not base64!"}, {"client_state": ""},
    {"client_state": "QUFB" * 1025},
    {"command_id": ""}, {"command_id": "x" * 257}, {"command_id": "a\tb"},
])
def test_cc_api_streaming_start_body_refusals(change: dict[str, Any]) -> None:
    args: dict[str, Any] = {"stream_url": "wss://console.example.com/telnyx/media",
                            "token": TOKEN, "codec": "PCMU", "rate": 8000,
                            "target_legs": "self"}
    streaming_start_body(**args)
    with pytest.raises(ValueError):
        streaming_start_body(**(args | change))


@pytest.mark.parametrize("change", [
    {"role": "listen"}, {"role": "Whisper"}, {"role": ""},
    {"from_": "18005550100"}, {"from_": "+0800"}, {"from_": "sip:a@b"},
    {"to": "12345"}, {"to": "sip:dana smith@pbx"}, {"to": ""},
    {"connection_id": ""}, {"connection_id": " c1"},
    {"supervise_call_control_id": ""}, {"supervise_call_control_id": "v" * 257},
    {"client_state": "%%%"}, {"command_id": "a\nb"},
])
def test_cc_api_supervisor_dial_body_refusals(change: dict[str, Any]) -> None:
    args: dict[str, Any] = {"connection_id": "c1", "to": "+18005550111",
                            "from_": "+18005550100", "supervise_call_control_id": "v3:a",
                            "role": "whisper"}
    supervisor_dial_body(**args)
    with pytest.raises(ValueError):
        supervisor_dial_body(**(args | change))
