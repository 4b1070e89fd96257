"""The Telnyx stand-in's own checks, over real HTTP with http.client (not the console's
client): it refuses a wrong key, a wrong media type, an unknown endpoint, an unknown field, a
bad enum and a wrong type; the documented example bodies (fixtures) pass; it keeps call
state; its webhooks carry Ed25519 signatures that a separate verifier accepts."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from telnyx_standin import TelnyxStandIn, check_body, route, wait_until

FIXTURES = Path(__file__).parents[1] / "data" / "protocols" / "fixtures" / "telnyx"


def fixture(name: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / name).read_text())
    body.pop("_comment", None)
    return body


@pytest.fixture
def standin() -> Iterator[TelnyxStandIn]:
    with TelnyxStandIn(answer_after=None) as s:
        yield s


def post(standin: TelnyxStandIn, path: str, body: Any = None, *, key: str | None = None,
         auth: str | None = None, content_type: str = "application/json",
         method: str = "POST", raw: bytes | None = None) -> tuple[int, Any, str]:
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=5)
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = auth
    else:
        headers["Authorization"] = f"Bearer {key or standin.api_key}"
    data = raw if raw is not None else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        return resp.status, json.loads(text) if text else None, text
    finally:
        conn.close()


def first_error(answer: Any) -> dict[str, Any]:
    assert isinstance(answer, dict) and isinstance(answer["errors"], list), answer
    error = answer["errors"][0]
    assert set(error) <= {"code", "title", "detail", "source"}
    assert all(isinstance(error[k], str) for k in ("code", "title", "detail"))
    return error


def test_cc_standin_refuses_a_wrong_or_missing_key(standin: TelnyxStandIn) -> None:
    call = standin.add_call()
    path = f"/v2/calls/{call.call_control_id}/actions/hangup"
    for auth in (f"Bearer {standin.api_key}x", f"Basic {standin.api_key}", "Bearer", "",
                 f"bearer {standin.api_key}"):
        status, answer, text = post(standin, path, {}, auth=auth)
        assert status == 401, auth
        assert first_error(answer)["code"] == "10009"
        assert standin.api_key not in text
    assert standin.call(call.call_control_id).state == "answered"  # nothing was done
    status, answer, _ = post(standin, path, {})
    assert (status, answer) == (200, {"data": {"result": "ok"}})
    assert standin.call(call.call_control_id).state == "ended"
    assert len(standin.requests) == 6


def test_cc_standin_refuses_other_media_types_and_bodies(standin: TelnyxStandIn) -> None:
    call = standin.add_call()
    path = f"/v2/calls/{call.call_control_id}/actions/hangup"
    status, answer, _ = post(standin, path, {}, content_type="text/plain")
    assert status == 415 and first_error(answer)["code"] == "10014"
    for raw in (b"", b"not json", b"[]", b"null"):
        status, answer, _ = post(standin, path, raw=raw)
        assert status == 400, raw
        assert first_error(answer)["code"] == "10015"
    status, _, _ = post(standin, path, {}, content_type="application/json; charset=utf-8")
    assert status == 200


def test_cc_standin_refuses_unknown_endpoints(standin: TelnyxStandIn) -> None:
    call = standin.add_call("v2:ab/cd")
    for method, path in (("POST", "/v2/calls/x/actions/transfer"),
                         ("GET", "/v2/calls"),
                         ("POST", "/v1/calls"),
                         ("POST", "/v2/calls/x/actions/dial"),
                         # the '/' of the id not quoted: not a path Telnyx has
                         ("POST", f"/v2/calls/{call.call_control_id}/actions/hangup")):
        status, answer, _ = post(standin, path, {}, method=method)
        assert status == 404, (method, path)
        assert first_error(answer)["code"] == "10005"
    assert route("POST", "/v2/calls/v2%3Aab%2Fcd/actions/hangup") == ("hangup", "v2:ab/cd")


def test_cc_standin_refuses_an_unknown_field(standin: TelnyxStandIn) -> None:
    call = standin.add_call()
    body = fixture("rest_streaming_start_request_whisper_to_agent.json")
    body["stream_tracks"] = body.pop("stream_track")  # a typo
    status, answer, _ = post(standin, f"/v2/calls/{call.call_control_id}/actions/"
                             "streaming_start", body)
    assert status == 422
    error = first_error(answer)
    assert "stream_tracks" in error["detail"]
    assert error["source"] == {"pointer": "/stream_tracks"}
    assert not standin.call(call.call_control_id).streaming
    # The comment key of the fixture file is not a field either.
    assert "_comment" in (check_body("streaming_start", json.loads(
        (FIXTURES / "rest_streaming_start_request_whisper_to_agent.json").read_text())) or "")


@pytest.mark.parametrize(("endpoint", "field", "value"), [
    ("streaming_start", "stream_track", "both"),
    ("streaming_start", "stream_bidirectional_codec", "pcmu"),  # case-sensitive
    ("streaming_start", "stream_bidirectional_mode", "raw"),
    ("streaming_start", "stream_bidirectional_target_legs", "agent"),
    ("streaming_start", "stream_codec", "G729"),
    ("streaming_start", "stream_bidirectional_sampling_rate", 44100),
    ("dial", "supervisor_role", "listen"),
    ("switch_supervisor_role", "role", "coach"),
])
def test_cc_standin_refuses_a_bad_enum(endpoint: str, field: str, value: Any) -> None:
    body = valid_body(endpoint)
    assert check_body(endpoint, body) is None
    body[field] = value
    problem = check_body(endpoint, body)
    assert problem is not None and field in problem and "must be one of" in problem


@pytest.mark.parametrize(("endpoint", "field", "value", "code"), [
    ("streaming_start", "stream_bidirectional_sampling_rate", "8000", "10015"),
    ("streaming_start", "stream_bidirectional_sampling_rate", True, "10015"),
    ("streaming_start", "custom_parameters", {"a": "b"}, "10015"),
    ("streaming_start", "custom_parameters", [{"name": "a"}], "10015"),
    ("streaming_start", "stream_url", "https://console.example.com/media", "10015"),
    ("streaming_start", "stream_auth_token", "x" * 4001, "10015"),
    ("streaming_start", "client_state", "not base64!", "10015"),
    ("streaming_start", "command_id", 12, "10015"),
    ("dial", "send_silence_when_idle", "true", "10015"),
    ("dial", "timeout_secs", 2, "10015"),
    ("dial", "from", "18005550100", "10016"),
    ("dial", "to", ["+18005550199", "0800"], "10016"),
    ("dial", "connection_id", None, "10004"),
    ("streaming_stop", "stream_id", "not-a-uuid", "10015"),
    ("switch_supervisor_role", "role", None, "10004"),
])
def test_cc_standin_refuses_a_wrong_type(standin: TelnyxStandIn, endpoint: str, field: str,
                                         value: Any, code: str) -> None:
    body = valid_body(endpoint)
    if value is None:
        del body[field]
    else:
        body[field] = value
    problem = check_body(endpoint, body)
    assert problem is not None and problem.startswith(code) and field in problem
    # And over the wire, as a Telnyx-shaped 422 naming the field.
    path = "/v2/calls" if endpoint == "dial" else \
        f"/v2/calls/{standin.add_call().call_control_id}/actions/{endpoint}"
    status, answer, _ = post(standin, path, body)
    assert status == 422
    error = first_error(answer)
    assert error["code"] == code and field in error["detail"]


def valid_body(endpoint: str) -> dict[str, Any]:
    return {
        "dial": lambda: {"connection_id": "c1", "to": "+18005550199", "from": "+18005550100",
                         "supervise_call_control_id": "v3:x", "supervisor_role": "whisper"},
        "streaming_start": lambda: fixture("rest_streaming_start_request_whisper_to_agent.json"),
        "streaming_stop": lambda: {"stream_id": "1edb94f9-7ef0-4150-b502-e0ebadfd9491"},
        "switch_supervisor_role": lambda: {"role": "barge"},
        "hangup": lambda: {"command_id": "h1"},
    }[endpoint]()


def test_cc_standin_accepts_the_documented_examples(standin: TelnyxStandIn) -> None:
    streaming = fixture("rest_streaming_start_request_whisper_to_agent.json")
    dial = fixture("rest_dial_request_with_stream.json")
    assert check_body("streaming_start", streaming) is None
    assert check_body("dial", dial) is None

    status, answer, _ = post(standin, "/v2/calls", dial)
    assert status == 200
    data = answer["data"]
    assert set(data) == {"call_control_id", "call_leg_id", "call_session_id", "is_alive",
                         "record_type"}
    assert data["is_alive"] is False and data["record_type"] == "call"
    assert data["call_control_id"].startswith("v3:")

    agent = standin.add_call()
    status, answer, _ = post(standin, f"/v2/calls/{agent.call_control_id}/actions/"
                             "streaming_start", streaming)
    assert status == 200
    assert answer == fixture("rest_streaming_start_response.json")
    assert standin.call(agent.call_control_id).stream_body == streaming


def test_cc_standin_keeps_call_state(standin: TelnyxStandIn) -> None:
    body = fixture("rest_streaming_start_request_whisper_to_agent.json")
    body.pop("command_id")

    def start(call_control_id: str) -> tuple[int, str]:
        status, answer, _ = post(standin, f"/v2/calls/{call_control_id}/actions/"
                                 "streaming_start", body)
        return status, (first_error(answer)["code"] if status != 200 else "")

    assert start("v3:unknown") == (422, "90018")
    status, answer, _ = post(standin, "/v2/calls", valid_body("dial") | {
        "supervise_call_control_id": standin.add_call().call_control_id})
    leg = answer["data"]["call_control_id"]
    assert start(leg) == (422, "90034")  # ringing
    standin.answer(leg)
    assert start(leg) == (200, "")
    assert standin.call(leg).supervisor_role == "whisper"
    status, _, _ = post(standin, f"/v2/calls/{leg}/actions/switch_supervisor_role",
                        {"role": "monitor"})
    assert status == 200 and standin.call(leg).supervisor_role == "monitor"
    assert post(standin, f"/v2/calls/{leg}/actions/hangup", {})[0] == 200
    assert start(leg) == (422, "90018")
    # Supervising a leg that has ended is refused too.
    status, answer, _ = post(standin, "/v2/calls", valid_body("dial") | {
        "supervise_call_control_id": leg})
    assert status == 422 and first_error(answer)["code"] == "90018"


def test_cc_standin_repeated_command_ids_are_not_done_twice(standin: TelnyxStandIn) -> None:
    agent = standin.add_call().call_control_id
    dial = valid_body("dial") | {"supervise_call_control_id": agent, "command_id": "d1"}
    first = post(standin, "/v2/calls", dial)[1]["data"]
    again = post(standin, "/v2/calls", dial)[1]["data"]
    assert first == again
    assert len(standin.calls()) == 2  # the agent and one supervisor leg


def test_cc_standin_canned_answers(standin: TelnyxStandIn) -> None:
    call = standin.add_call().call_control_id
    path = f"/v2/calls/{call}/actions/hangup"
    standin.fail_next("hangup", 503, "10007", "Unexpected error", "try later", retry_after=2)
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=5)
    conn.request("POST", path, body=b"{}", headers={
        "Authorization": f"Bearer {standin.api_key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 503 and resp.getheader("Retry-After") == "2"
    assert first_error(json.loads(resp.read()))["detail"] == "try later"
    conn.close()
    assert standin.call(call).state == "answered"
    standin.respond_next("hangup", 0)
    with pytest.raises(http.client.RemoteDisconnected):
        post(standin, path, {})
    assert post(standin, path, {})[0] == 200


class _Receiver:
    """A webhook endpoint that checks signatures with its own Ed25519 code."""

    def __init__(self, public_key_b64: str) -> None:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers.get("telnyx-timestamp", "")
                signature = base64.b64decode(self.headers.get("telnyx-signature-ed25519", ""))
                try:
                    key.verify(signature, f"{stamp}|".encode() + body)
                    status = 200
                    events.append(json.loads(body))
                except InvalidSignature:
                    status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/telnyx/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_cc_standin_posts_signed_webhooks() -> None:
    with TelnyxStandIn(answer_after=0.05) as standin:
        receiver = _Receiver(standin.public_key_b64)
        try:
            standin.webhook_url = receiver.url
            agent = standin.add_call().call_control_id
            status, answer, _ = post(standin, "/v2/calls", valid_body("dial") | {
                "supervise_call_control_id": agent, "client_state": "c3Vw"})
            assert status == 200
            leg = answer["data"]["call_control_id"]
            assert wait_until(lambda: len(receiver.events) == 2)
            kinds = [e["data"]["event_type"] for e in receiver.events]
            assert kinds == ["call.initiated", "call.answered"]
            for event in receiver.events:
                data = event["data"]
                assert data["record_type"] == "event" and data["id"] and data["occurred_at"]
                assert data["payload"]["call_control_id"] == leg
                assert data["payload"]["client_state"] == "c3Vw"
            assert post(standin, f"/v2/calls/{leg}/actions/hangup", {})[0] == 200
            assert wait_until(lambda: len(receiver.events) == 3)
            hangup = receiver.events[2]["data"]
            assert hangup["event_type"] == "call.hangup"
            assert hangup["payload"]["state"] == "hangup"
            # The stand-in notes a delivery's status after the receiver has it.
            assert wait_until(lambda: len(standin.webhooks) == 3)
            assert [w[2] for w in standin.webhooks] == [200, 200, 200]

            payload = {"call_control_id": leg}
            assert standin.send_webhook(receiver.url, "call.answered", payload,
                                        event_id="e-1", occurred_at=0.0) == 200
            assert receiver.events[-1]["data"]["id"] == "e-1"
            assert receiver.events[-1]["data"]["occurred_at"] == "1970-01-01T00:00:00.000000Z"
            assert standin.send_webhook(receiver.url, "call.answered", payload,
                                        tamper=True) == 401
            assert len(receiver.events) == 4
        finally:
            receiver.close()
        dead = receiver.url
    assert standin.send_webhook(dead, "call.hangup", {"call_control_id": "x"}) == 0
