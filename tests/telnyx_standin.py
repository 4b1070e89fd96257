"""A stand-in for Telnyx Call Control, for tests: a real HTTP server on 127.0.0.1 in its own
thread, which checks every request the way Telnyx documents it and keeps a little call state.

It checks each request for the Bearer key, a JSON Content-Type, a known endpoint and a body
that matches the documented field names, types and enums of that command. Unknown fields are
refused (422 naming the field), so a typo in the console fails a test instead of being
silently ignored. Dial creates a leg that answers after `answer_after` seconds, and the
stand-in can post signed call.initiated / call.answered / call.hangup / streaming.* webhooks
to `webhook_url`. Signing uses `cryptography` directly, not console.callcontrol.signature,
so that it checks the console's verifier independently.

What this relies on (Telnyx documentation, read 2026-11; the search corpus holds copies):
- Auth "Authorization: Bearer YOUR_API_KEY", JSON bodies:
  https://developers.telnyx.com/docs/voice/programmable-voice/sending-commands.md
- Dial, POST /v2/calls: connection_id, from, to required; supervise_call_control_id;
  supervisor_role barge|whisper|monitor; client_state ("must be a valid Base-64 encoded
  string"); command_id ("Telnyx will ignore others Dial commands with the same command_id");
  stream_* fields, send_silence_when_idle, stream_establish_before_call_originate, timeout_secs
  5..600, time_limit_secs <= 14400:
  https://developers.telnyx.com/api-reference/call-commands/dial.md
  (field list and types as in the generated SDK, team-telnyx/telnyx-python
  src/telnyx/types/call_dial_params.py).
- Dial answer data: call_control_id, call_leg_id, call_session_id, is_alive ("For Dial command
  it will always be false"), record_type "call":
  https://www.rubydoc.info/gems/telnyx/Telnyx/Models/CallDialResponse/Data
- streaming_start, POST /v2/calls/{call_control_id}/actions/streaming_start: stream_url,
  stream_track, stream_codec, stream_bidirectional_{mode,codec,sampling_rate,target_legs},
  stream_auth_token, custom_parameters [{name, value}], client_state, command_id,
  enable_dialogflow; answers {"data":{"result":"ok"}}:
  https://developers.telnyx.com/api-reference/call-commands/streaming-start.md and
  https://www.rubydoc.info/gems/telnyx/Telnyx/Models/Calls/ActionStartStreamingParams
- streaming_stop: client_state, command_id, stream_id (uuid):
  https://developers.telnyx.com/api-reference/call-commands/streaming-stop
- switch_supervisor_role: body {"role": "barge"|"whisper"|"monitor"} (required), answers
  {"data":{"result":"ok"}}:
  https://developers.telnyx.com/api-reference/call-commands/switch-supervisor-role
- hangup: client_state, command_id:
  https://www.rubydoc.info/gems/telnyx/Telnyx/Models/Calls/ActionHangupParams
- Error shape {"errors":[{"code":"10009","title":...,"detail":...,"source":{"pointer":...}}]}:
  https://developers.telnyx.com/api-reference/agent-gateway-policy-attachments/attach-a-policy
  Codes 10004 Missing required parameter, 10005 Resource not found, 10009 Authentication
  failed, 10014 Unsupported Media Type, 10015 Bad Request, 10016 Phone number must be in
  +E.164 format: https://developers.telnyx.com/development/api-fundamentals/api-errors
  90018 "Call has already ended": https://developers.telnyx.com/api/errors/90018
  90034 (command on a call not answered yet): PROTOCOLS.md 1.6 [T3].
- Webhook envelope {"data":{"record_type":"event","event_type","id","occurred_at","payload"}}
  and call.hangup payload: https://developers.telnyx.com/api-reference/callbacks/call-hangup
  Headers telnyx-timestamp and telnyx-signature-ed25519 over f"{timestamp}|{body}"
  (PROTOCOLS.md section 7).
Choices of ours where the documents say nothing are marked "not documented".
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import hmac
import http.client
import json
import queue
import re
import secrets
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_BODY = 1024 * 1024
ENDPOINTS = ("dial", "streaming_start", "streaming_stop", "switch_supervisor_role", "hangup")
OK = {"data": {"result": "ok"}}


class Received(NamedTuple):
    method: str
    path: str  # as sent, still percent-encoded
    headers: dict[str, str]  # lower-case names
    body: Any  # the decoded JSON, or None if it was not JSON


class Problem(NamedTuple):
    status: int
    code: str
    title: str
    detail: str
    pointer: str = ""


# -- field checks: each returns what is wrong, or None -------------------------------------

Check = Callable[[Any], "str | None"]
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _string(limit: int = 256) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return "must be a string"
        if not v:
            return "must not be empty"
        if len(v) > limit:
            return f"must be at most {limit} characters"
        if _CONTROL.search(v):
            return "must not contain control characters"
        return None
    return check


def _base64(limit: int = 4096) -> Check:
    def check(v: Any) -> str | None:
        problem = _string(limit)(v)
        if problem:
            return problem
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            return "must be a valid Base-64 encoded string"
        return None
    return check


def _enum(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, str) or v not in choices:
            return f"must be one of {', '.join(choices)}"
        return None
    return check


def _int_enum(*choices: int) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or v not in choices:
            return f"must be one of the integers {', '.join(map(str, choices))}"
        return None
    return check


def _int_range(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"must be an integer from {lo} to {hi}"
        return None
    return check


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be a boolean"


def _url(*schemes: str) -> Check:
    def check(v: Any) -> str | None:
        problem = _string(2000)(v)  # 10003: "URLs can be a maximum of 2000 characters"
        if problem:
            return problem
        parts = urllib.parse.urlsplit(v)
        if parts.scheme not in schemes or not parts.hostname or " " in v:
            return f"must be a {' or '.join(s + '://' for s in schemes)} URL"
        return None
    return check


def _e164(v: Any) -> str | None:
    return None if isinstance(v, str) and _E164.fullmatch(v) else "must be in +E.164 format"


def _destination(v: Any) -> str | None:
    # "The DID or SIP URI to dial out to. Multiple DID or SIP URIs can be provided using an
    # array of strings."
    items = v if isinstance(v, list) and v else [v]
    for item in items:
        if isinstance(item, str) and item.startswith(("sip:", "sips:")):
            if _string()(item) or " " in item:
                return "must be a SIP URI without spaces"
        elif _e164(item):
            return "must be a +E.164 number or a SIP URI (or an array of them)"
    return None


def _uuid(v: Any) -> str | None:
    if not isinstance(v, str):
        return "must be a UUID string"
    try:
        uuid.UUID(v)
    except ValueError:
        return "must be a UUID"
    return None


def _custom_parameters(v: Any) -> str | None:
    if not isinstance(v, list):
        return "must be an array of {name, value}"
    for i, item in enumerate(v):
        if not isinstance(item, dict) or set(item) != {"name", "value"}:
            return f"[{i}] must be an object with exactly name and value"
        if _string()(item["name"]) or not isinstance(item["value"], str):
            return f"[{i}] name and value must be strings (name not empty)"
    return None


@dataclass(frozen=True)
class Rule:
    check: Check
    required: bool = False
    code: str = "10015"


_STREAM_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16", "default")
_BIDI_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16")
_STREAM_FIELDS: dict[str, Rule] = {
    "stream_url": Rule(_url("wss", "ws")),
    "stream_track": Rule(_enum("inbound_track", "outbound_track", "both_tracks")),
    "stream_codec": Rule(_enum(*_STREAM_CODECS)),
    "stream_bidirectional_mode": Rule(_enum("mp3", "rtp")),
    "stream_bidirectional_codec": Rule(_enum(*_BIDI_CODECS)),
    "stream_bidirectional_sampling_rate": Rule(_int_enum(8000, 16000, 22050, 24000, 48000)),
    "stream_bidirectional_target_legs": Rule(_enum("both", "self", "opposite")),
    "stream_auth_token": Rule(_string(4000)),
}
_COMMAND_FIELDS: dict[str, Rule] = {
    "client_state": Rule(_base64()),
    "command_id": Rule(_string()),
}

# Per command: the fields the stand-in knows. Documented fields the console has no use for
# (answering machine detection, recording, Dialogflow config, SIP headers, ...) are left out on
# purpose: a test then notices if the console starts sending one.
SCHEMAS: dict[str, dict[str, Rule]] = {
    "dial": {
        "connection_id": Rule(_string(), required=True),
        "from": Rule(_e164, required=True, code="10016"),
        "to": Rule(_destination, required=True, code="10016"),
        **_COMMAND_FIELDS,
        "supervise_call_control_id": Rule(_string()),
        "supervisor_role": Rule(_enum("barge", "whisper", "monitor")),
        **_STREAM_FIELDS,
        "stream_establish_before_call_originate": Rule(_boolean),
        "send_silence_when_idle": Rule(_boolean),
        "timeout_secs": Rule(_int_range(5, 600)),
        "time_limit_secs": Rule(_int_range(1, 14400)),
        "from_display_name": Rule(_string(128)),
        "webhook_url": Rule(_url("https", "http")),
        "webhook_url_method": Rule(_enum("POST", "GET")),
        "link_to": Rule(_string()),
        "bridge_intent": Rule(_boolean),
        "bridge_on_answer": Rule(_boolean),
    },
    "streaming_start": {
        **_STREAM_FIELDS,
        # Optional in the OpenAPI (Dialogflow can stand in for it); the console always needs
        # a WebSocket, so the stand-in requires it.
        "stream_url": Rule(_url("wss", "ws"), required=True),
        "custom_parameters": Rule(_custom_parameters),
        "enable_dialogflow": Rule(_boolean),
        **_COMMAND_FIELDS,
    },
    "streaming_stop": {**_COMMAND_FIELDS, "stream_id": Rule(_uuid)},
    "switch_supervisor_role": {"role": Rule(_enum("barge", "whisper", "monitor"), required=True)},
    "hangup": dict(_COMMAND_FIELDS),
}


def validate(endpoint: str, body: Any) -> Problem | None:
    """What Telnyx would refuse in this command's body, or None."""
    schema = SCHEMAS[endpoint]
    if not isinstance(body, dict):
        return Problem(400, "10015", "Bad Request", "The request body must be a JSON object")
    for name in body:
        if name not in schema:
            return Problem(422, "10015", "Bad Request",
                           f"{name}: unknown parameter for {endpoint}", f"/{name}")
    for name, rule in schema.items():
        if name not in body:
            if rule.required:
                return Problem(422, "10004", "Missing required parameter",
                               f"{name}: a required parameter was missing", f"/{name}")
            continue
        wrong = rule.check(body[name])
        if wrong:
            title = ("Phone number must be in +E.164 format" if rule.code == "10016"
                     else "Bad Request")
            return Problem(422, rule.code, title, f"{name}: {wrong}", f"/{name}")
    if endpoint == "dial" and "supervisor_role" in body and "supervise_call_control_id" not in body:
        # Not documented; a role without a leg to supervise means nothing.
        return Problem(422, "10004", "Missing required parameter",
                       "supervise_call_control_id: required with supervisor_role",
                       "/supervise_call_control_id")
    return None


def check_body(endpoint: str, body: Any) -> str | None:
    """validate() as one line of text (None when valid), for tests."""
    problem = validate(endpoint, body)
    return None if problem is None else f"{problem.code} {problem.title}: {problem.detail}"


def error_body(problem: Problem) -> dict[str, Any]:
    error: dict[str, Any] = {"code": problem.code, "title": problem.title,
                             "detail": problem.detail}
    if problem.pointer:
        error["source"] = {"pointer": problem.pointer}
    return {"errors": [error]}


def route(method: str, path: str, prefix: str = "/v2") -> tuple[str, str | None] | None:
    """(endpoint, decoded call_control_id) for a documented command, else None."""
    if method != "POST":
        return None
    path = path.split("?", 1)[0]
    if path == f"{prefix}/calls":
        return "dial", None
    head = f"{prefix}/calls/"
    if not path.startswith(head):
        return None
    parts = path[len(head):].split("/")
    # One segment for the id: an unquoted '/' in it gives a path Telnyx does not have.
    if len(parts) != 3 or not parts[0] or parts[1] != "actions" or parts[2] == "dial":
        return None
    if parts[2] not in ENDPOINTS:
        return None
    return parts[2], urllib.parse.unquote(parts[0])


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


# -- the stand-in --------------------------------------------------------------------------


@dataclass
class StandInCall:
    call_control_id: str
    call_leg_id: str
    call_session_id: str
    connection_id: str
    from_: str
    to: str
    direction: str  # "outgoing" for dialled legs, "incoming" for add_call()
    state: str = "ringing"  # ringing, answered, ended
    client_state: str = ""
    supervise_call_control_id: str = ""
    supervisor_role: str = ""
    streaming: bool = False
    stream_url: str = ""
    stream_body: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass
class _Canned:
    status: int  # 0: close the connection without an answer
    body: bytes
    headers: dict[str, str]
    applied: bool  # carry the command out first (the answer is lost, not the command)


class TelnyxStandIn:
    def __init__(self, *, answer_after: float | None = 0.05, webhook_url: str | None = None,
                 api_key: str | None = None) -> None:
        self.api_key = api_key or "KEY" + secrets.token_hex(16) + "_" + secrets.token_urlsafe(16)
        self.private_key = Ed25519PrivateKey.generate()
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(raw).decode()
        self.answer_after = answer_after
        self.webhook_url = webhook_url
        self.webhook_ssl_context: ssl.SSLContext | None = None
        self.requests: list[Received] = []
        self.webhooks: list[tuple[str, str, int]] = []  # (event_type, call_control_id, status)
        self._calls: dict[str, StandInCall] = {}
        self._canned: dict[str, list[_Canned]] = {e: [] for e in ENDPOINTS}
        self._seen_commands: set[tuple[str, str]] = set()
        self._dialled: dict[str, str] = {}  # dial command_id -> call_control_id
        self._lock = threading.RLock()
        self._timers: list[threading.Timer] = []
        self._outbox: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle

    def start(self) -> TelnyxStandIn:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name="telnyx-standin", daemon=True),
            threading.Thread(target=self._deliver, name="telnyx-standin-webhooks",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self._outbox.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(5)
        self._server = None

    def __enter__(self) -> TelnyxStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stand-in first"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    # -- test controls

    def fail_next(self, endpoint: str, status: int, code: str = "", title: str = "",
                  detail: str = "", *, retry_after: float | None = None, times: int = 1,
                  applied: bool = False) -> None:
        """The next `times` valid requests to `endpoint` get this Telnyx-shaped error."""
        body = json.dumps(error_body(Problem(status, code, title, detail))).encode()
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        self.respond_next(endpoint, status, body, headers, times=times, applied=applied)

    def respond_next(self, endpoint: str, status: int, body: bytes = b"",
                     headers: dict[str, str] | None = None, *, times: int = 1,
                     applied: bool = False) -> None:
        """The next `times` valid requests to `endpoint` get exactly this answer; status 0
        closes the connection without one. applied=True carries the command out first."""
        assert endpoint in ENDPOINTS, endpoint
        with self._lock:
            for _ in range(times):
                self._canned[endpoint].append(_Canned(status, body, dict(headers or {}),
                                                      applied))

    def add_call(self, call_control_id: str | None = None, *, answered: bool = True,
                 connection_id: str = "7267xxxxxxxxxxxxxx", from_: str = "+18005550100",
                 to: str = "+18005550199") -> StandInCall:
        """A call that already exists at Telnyx (an agent's leg, say)."""
        call = StandInCall(call_control_id or _new_call_control_id(), str(uuid.uuid4()),
                           str(uuid.uuid4()), connection_id, from_, to, "incoming",
                           "answered" if answered else "ringing")
        with self._lock:
            self._calls[call.call_control_id] = call
            return copy.deepcopy(call)

    def call(self, call_control_id: str) -> StandInCall | None:
        with self._lock:
            found = self._calls.get(call_control_id)
            return copy.deepcopy(found) if found else None

    def calls(self) -> list[StandInCall]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls.values()]

    def answer(self, call_control_id: str) -> None:
        with self._lock:
            call = self._calls.get(call_control_id)
            if call is None or call.state != "ringing":
                return
            call.state = "answered"
            self._queue_call_event("call.answered", call, state="answered")

    def end_call(self, call_control_id: str, cause: str = "normal_clearing",
                 source: str = "callee") -> None:
        """The far end hangs up."""
        with self._lock:
            call = self._calls.get(call_control_id)
            if call is not None and call.state != "ended":
                self._end(call, cause, source)

    def requests_for(self, endpoint: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests
                    if (route(r.method, r.path) or ("", None))[0] == endpoint]

    # -- webhooks

    def send_webhook(self, url: str, event_type: str, payload: dict[str, Any], *,
                     event_id: str | None = None, occurred_at: float | str | None = None,
                     timestamp: int | None = None, tamper: bool = False,
                     ssl_context: ssl.SSLContext | None = None) -> int:
        """POST one signed webhook; the HTTP status, or 0 if nothing answered."""
        if occurred_at is None or isinstance(occurred_at, (int, float)):
            moment = datetime.fromtimestamp(
                time.time() if occurred_at is None else float(occurred_at), UTC)
            occurred = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            occurred = occurred_at
        envelope = {
            "data": {"record_type": "event", "event_type": event_type,
                     "id": event_id or str(uuid.uuid4()), "occurred_at": occurred,
                     "payload": payload},
            "meta": {"attempt": 1, "delivered_to": url},
        }
        body = json.dumps(envelope).encode()
        stamp = int(time.time()) if timestamp is None else int(timestamp)
        signature = base64.b64encode(self.private_key.sign(f"{stamp}|".encode() + body))
        if tamper:
            body = body[:-1] + b" }"  # still JSON, no longer the bytes that were signed
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443,
                                               timeout=5,
                                               context=ssl_context or self.webhook_ssl_context)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=5)
        try:
            conn.request("POST", path, body=body, headers={
                "Content-Type": "application/json",
                "User-Agent": "telnyx-webhooks",
                "telnyx-timestamp": str(stamp),
                "telnyx-signature-ed25519": signature.decode(),
            })
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            conn.close()

    def _queue_call_event(self, event_type: str, call: StandInCall, **extra: Any) -> None:
        payload: dict[str, Any] = {
            "call_control_id": call.call_control_id, "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id, "connection_id": call.connection_id,
            "from": call.from_, "to": call.to, "direction": call.direction,
        }
        if call.client_state:
            payload["client_state"] = call.client_state
        payload.update(extra)
        self._outbox.put((event_type, payload))

    def _deliver(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            event_type, payload = item
            url = self.webhook_url
            status = self.send_webhook(url, event_type, payload) if url else -1
            with self._lock:
                self.webhooks.append((event_type, payload["call_control_id"], status))

    # -- requests

    def _dispatch(self, method: str, path: str, headers: dict[str, str], auths: list[str],
                  raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        with self._lock:
            self.requests.append(Received(method, path, headers, decoded))
            problem, canned, answer = self._handle(method, path, headers, auths, raw, decoded)
        if canned is not None:
            return canned.status, canned.body, canned.headers
        if problem is not None:
            return problem.status, json.dumps(error_body(problem)).encode(), {}
        return 200, json.dumps(answer).encode(), {}

    def _handle(self, method: str, path: str, headers: dict[str, str], auths: list[str],
                raw: bytes, body: Any) -> tuple[Problem | None, _Canned | None, Any]:
        expected = f"Bearer {self.api_key}".encode()
        if len(auths) != 1 or not hmac.compare_digest(auths[0].encode(), expected):
            return Problem(401, "10009", "Authentication failed",
                           "The required authentication headers were either invalid or not "
                           "included in the request."), None, None
        found = route(method, path)
        if found is None:
            return Problem(404, "10005", "Resource not found",
                           "The requested resource or URL could not be found."), None, None
        endpoint, call_control_id = found
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return Problem(415, "10014", "Unsupported Media Type",
                           "The request failed because the server does not support the media "
                           "type."), None, None
        if body is None and raw.strip() != b"null":
            return Problem(400, "10015", "Bad Request",
                           "The request body is not valid JSON."), None, None
        problem = validate(endpoint, body)
        if problem is not None:
            return problem, None, None
        canned = self._canned[endpoint].pop(0) if self._canned[endpoint] else None
        if canned is not None and not canned.applied:
            return None, canned, None
        problem, answer = self._perform(endpoint, call_control_id, body)
        return problem, canned, answer

    def _perform(self, endpoint: str, call_control_id: str | None,
                 body: dict[str, Any]) -> tuple[Problem | None, Any]:
        if endpoint == "dial":
            return self._dial(body)
        assert call_control_id is not None
        call = self._calls.get(call_control_id)
        if call is None or call.state == "ended":
            return _ended(call_control_id), None
        command_id = body.get("command_id")
        if command_id is not None:
            # "Telnyx will ignore any command with the same command_id for the same
            # call_control_id": answered ok, not done twice.
            if (call_control_id, command_id) in self._seen_commands:
                return None, OK
            self._seen_commands.add((call_control_id, command_id))
        if "client_state" in body:
            call.client_state = body["client_state"]
        if endpoint == "streaming_start":
            if call.state != "answered":
                return Problem(422, "90034", "Call not answered yet",
                               "This command needs an answered call."), None
            call.streaming, call.stream_url = True, body["stream_url"]
            call.stream_body = dict(body)
            self._queue_call_event("streaming.started", call, stream_url=call.stream_url)
        elif endpoint == "streaming_stop":
            if call.streaming:
                call.streaming = False
                self._queue_call_event("streaming.stopped", call, stream_url=call.stream_url)
        elif endpoint == "switch_supervisor_role":
            if not call.supervise_call_control_id:
                # Not documented: the role belongs to a leg dialled with
                # supervise_call_control_id; switching it on any other leg is a console bug.
                return Problem(422, "10015", "Bad Request",
                               "role: this call is not a supervisor leg", "/role"), None
            call.supervisor_role = body["role"]
        elif endpoint == "hangup":
            self._end(call, "normal_clearing", "caller")
        return None, OK

    def _dial(self, body: dict[str, Any]) -> tuple[Problem | None, Any]:
        command_id = body.get("command_id")
        if command_id is not None and command_id in self._dialled:
            call = self._calls[self._dialled[command_id]]  # a repeat: the same leg, no new one
            return None, _dial_answer(call)
        supervised = body.get("supervise_call_control_id", "")
        if supervised:
            target = self._calls.get(supervised)
            if target is None or target.state == "ended":
                problem = _ended(supervised)
                return problem._replace(pointer="/supervise_call_control_id"), None
        to = body["to"] if isinstance(body["to"], str) else body["to"][0]
        call = StandInCall(_new_call_control_id(), str(uuid.uuid4()), str(uuid.uuid4()),
                           body["connection_id"], body["from"], to, "outgoing",
                           client_state=body.get("client_state", ""),
                           supervise_call_control_id=supervised,
                           # The API's default when the role is left out (PROTOCOLS.md 7).
                           supervisor_role=body.get("supervisor_role", "barge" if supervised
                                                    else ""))
        self._calls[call.call_control_id] = call
        if command_id is not None:
            self._dialled[command_id] = call.call_control_id
        self._queue_call_event("call.initiated", call, state="bridging")
        if self.answer_after is not None:
            timer = threading.Timer(self.answer_after, self.answer, [call.call_control_id])
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return None, _dial_answer(call)

    def _end(self, call: StandInCall, cause: str, source: str) -> None:
        if call.streaming:
            call.streaming = False
            self._queue_call_event("streaming.stopped", call, stream_url=call.stream_url)
        call.state = "ended"
        self._queue_call_event("call.hangup", call, state="hangup", hangup_cause=cause,
                               hangup_source=source)


def _new_call_control_id() -> str:
    return "v3:" + secrets.token_urlsafe(40)


def _ended(call_control_id: str) -> Problem:
    return Problem(422, "90018", "Call has already ended",
                   "This call is no longer active and can't receive commands.")


def _dial_answer(call: StandInCall) -> dict[str, Any]:
    data: dict[str, Any] = {
        "call_control_id": call.call_control_id, "call_leg_id": call.call_leg_id,
        "call_session_id": call.call_session_id, "is_alive": False, "record_type": "call",
    }
    if call.client_state:
        data["client_state"] = call.client_state
    return {"data": data}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: TelnyxStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-answer is part of the tests, not an error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(411, json.dumps(error_body(Problem(
                411, "10015", "Bad Request", "Content-Length is required"))).encode(), {})
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send(413, json.dumps(error_body(Problem(
                413, "10015", "Bad Request", "The request body is too large"))).encode(), {})
            self.close_connection = True
            return
        raw = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        auths = self.headers.get_all("Authorization") or []
        status, body, extra = self.server.standin._dispatch(self.command, self.path, headers,
                                                            auths, raw)
        if status == 0:
            self.close_connection = True  # no answer at all
            return
        self._send(status, body, extra)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _any

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            if not any(k.lower() == "content-type" for k in headers):
                self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True
