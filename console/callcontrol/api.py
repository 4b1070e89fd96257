"""Telnyx Call Control commands the console sends: streaming_start/stop, a supervisor dial,
switch_supervisor_role and hangup.

Plain HTTP/1.1 with the standard library (http.client in a worker thread), so Call Control
adds no dependency. Wire facts: PROTOCOLS.md sections 1.6, 1.7 and 7, and Telnyx's API
reference (see tests/callcontrol/standin.py for the pages relied on).

Secrets: the API key only ever goes into the Authorization header. It is never logged, and
any text Telnyx sends back is scrubbed of it before it reaches an ApiError. Request bodies
(which carry the stream auth token) are never logged either.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import http.client
import json
import logging
import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_RESPONSE = 1024 * 1024  # bytes read from any answer, success or error
MAX_RETRY_AFTER_S = 5.0  # a longer Retry-After means no retry: the caller hears about it now
RETRY_DELAY_S = 0.5  # before the one retry of a command that got no answer or a 5xx

# Enums, from PROTOCOLS.md 1.4-1.6 and section 7 (Telnyx OpenAPI / SDK types).
STREAM_TRACKS = ("inbound_track", "outbound_track", "both_tracks")
BIDIRECTIONAL_MODES = ("rtp", "mp3")
BIDIRECTIONAL_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16")
SAMPLING_RATES = (8000, 16000, 22050, 24000, 48000)
TARGET_LEGS = ("both", "self", "opposite")
SUPERVISOR_ROLES = ("barge", "whisper", "monitor")
# G.711 and G.722 run on an 8 kHz RTP clock; any other rate for them is a console bug.
_EIGHT_K_ONLY = ("PCMU", "PCMA", "G722")

MAX_ID = 256  # call_control_id, connection_id, command_id: Telnyx's are well under this
MAX_CLIENT_STATE = 4096
MAX_STREAM_AUTH_TOKEN = 4000  # documented limit of stream_auth_token
MAX_URL = 2000  # Telnyx error 10003: URLs can be a maximum of 2000 characters
MAX_CUSTOM_PARAMETERS = 32
MAX_PARAM_NAME = 128
MAX_PARAM_VALUE = 1024

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_LIMIT = 300  # characters of Telnyx's title/detail kept in an ApiError


class ApiError(Exception):
    """A Call Control command that did not succeed. status 0: Telnyx did not answer."""

    def __init__(self, command: str, status: int, code: str = "", title: str = "",
                 detail: str = "", retry_after: float | None = None) -> None:
        self.command = command
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        what = " ".join(p for p in (str(self.status), self.code, self.title) if p)
        tail = f": {self.detail}" if self.detail else ""
        if self.status == 0:
            return f"Telnyx did not answer {self.command}{tail}"
        if 200 <= self.status < 300:
            return f"Telnyx's answer to {self.command} was unusable ({what}){tail}"
        if self.status >= 500:
            return f"Telnyx failed {self.command} ({what}){tail}"
        return f"Telnyx refused {self.command} ({what}){tail}"

    def __str__(self) -> str:
        return self._sentence()


@dataclass(frozen=True)
class Leg:
    call_control_id: str
    call_leg_id: str
    call_session_id: str


class TelnyxApi:
    """One Telnyx account's Call Control commands. Each command is one POST; a command that
    carries a command_id (Telnyx ignores a repeated one for the same call) is retried once
    after no answer, a 5xx or a 429."""

    def __init__(self, api_key: str, base_url: str = "https://api.telnyx.com/v2",
                 timeout_s: float = 10.0) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("the Telnyx API key is empty")
        if not api_key.isascii() or any(c.isspace() for c in api_key) or _CONTROL.search(api_key):
            # It goes into a header: anything else would break (or inject into) the request.
            raise ValueError("the Telnyx API key contains spaces or characters that are not "
                             "printable ASCII")
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the Telnyx API address must be an http(s) URL, not {base_url!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("the Telnyx API address must not carry credentials, a query or a "
                             "fragment")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        self._key = api_key
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = float(timeout_s)
        self._ssl = ssl.create_default_context() if self._https else None

    def __repr__(self) -> str:
        scheme = "https" if self._https else "http"
        return f"TelnyxApi({scheme}://{self._host}:{self._port}{self._prefix})"

    # -- commands ----------------------------------------------------------------------

    async def streaming_start(self, call_control_id: str, body: dict[str, Any]) -> None:
        await self._post("streaming_start", self._action(call_control_id, "streaming_start"),
                         body)

    async def streaming_stop(self, call_control_id: str, command_id: str | None = None) -> None:
        body: dict[str, Any] = {}
        if command_id is not None:
            body["command_id"] = _check_id("command_id", command_id)
        await self._post("streaming_stop", self._action(call_control_id, "streaming_stop"), body)

    async def dial(self, body: dict[str, Any]) -> Leg:
        answer = await self._post("dial", f"{self._prefix}/calls", body)
        data = answer.get("data") if isinstance(answer, dict) else None
        ids: list[str] = []
        for name in ("call_control_id", "call_leg_id", "call_session_id"):
            value = data.get(name) if isinstance(data, dict) else None
            if (not isinstance(value, str) or not value or len(value) > MAX_ID
                    or _CONTROL.search(value)):
                raise ApiError("dial", 200, title="Malformed response",
                               detail=f"data.{name} is missing or not a usable id")
            ids.append(value)
        return Leg(*ids)

    async def switch_supervisor_role(self, call_control_id: str, role: str) -> None:
        # The documented body is {"role": ...} alone: no command_id, so never retried.
        if role not in SUPERVISOR_ROLES:
            raise ValueError(f"supervisor role must be one of {', '.join(SUPERVISOR_ROLES)}, "
                             f"not {role!r}")
        await self._post("switch_supervisor_role",
                         self._action(call_control_id, "switch_supervisor_role"), {"role": role})

    async def hangup(self, call_control_id: str, command_id: str | None = None) -> None:
        body: dict[str, Any] = {}
        if command_id is not None:
            body["command_id"] = _check_id("command_id", command_id)
        await self._post("hangup", self._action(call_control_id, "hangup"), body)

    # -- transport ---------------------------------------------------------------------

    def _action(self, call_control_id: str, action: str) -> str:
        # Ids look like "v3:..." or older base64 with '/', '+' and '=': quote everything.
        _check_id("call_control_id", call_control_id)
        quoted = urllib.parse.quote(call_control_id, safe="")
        return f"{self._prefix}/calls/{quoted}/actions/{action}"

    async def _post(self, command: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise TypeError(f"the {command} body must be a dict")
        data = json.dumps(body, separators=(",", ":")).encode()
        retriable = isinstance(body.get("command_id"), str) and bool(body.get("command_id"))
        for attempt in (1, 2):
            started = time.monotonic()
            try:
                answer = await asyncio.wait_for(
                    asyncio.to_thread(self._exchange, command, path, data),
                    self._timeout_s + 1.0)
            except TimeoutError:
                error = ApiError(command, 0, detail=f"no answer within {self._timeout_s:g} s")
            except ApiError as exc:
                error = exc
            else:
                log.debug("Telnyx %s answered in %.0f ms", command,
                          (time.monotonic() - started) * 1000)
                return answer
            delay = self._retry_delay(error) if retriable and attempt == 1 else None
            if delay is None:
                log.info("%s", error)
                raise error
            log.info("%s; retrying in %.1f s (same command_id)", error, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _retry_delay(error: ApiError) -> float | None:
        if error.status == 429:
            wait = RETRY_DELAY_S if error.retry_after is None else error.retry_after
            return wait if wait <= MAX_RETRY_AFTER_S else None
        if error.status == 0 or error.status >= 500:
            if error.retry_after is not None:
                return error.retry_after if error.retry_after <= MAX_RETRY_AFTER_S else None
            return RETRY_DELAY_S
        return None

    def _exchange(self, command: str, path: str, data: bytes) -> dict[str, Any]:
        """One POST, in a worker thread. Returns the decoded 2xx answer or raises ApiError."""
        deadline = time.monotonic() + self._timeout_s
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s,
                                               context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        try:
            try:
                conn.request("POST", path, body=data, headers={
                    "Authorization": f"Bearer {self._key}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": "coach-console",
                })
                resp = conn.getresponse()
                raw, too_big = _read_capped(conn, resp, deadline)
            except (OSError, http.client.HTTPException) as exc:
                raise ApiError(command, 0, detail=self._reason(exc)) from None
            status = resp.status
            retry_after = _retry_after(resp.getheader("Retry-After"))
            if too_big:
                raise ApiError(command, status, title="Response too large",
                               detail=f"the answer is over {MAX_RESPONSE // 1024} KB",
                               retry_after=retry_after)
            if 200 <= status < 300:
                return self._decode_ok(command, status, raw)
            raise self._decode_error(command, status, resp.reason, raw, retry_after)
        finally:
            conn.close()

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, ConnectionRefusedError):
            text = f"connection refused by {self._host}:{self._port}"
        elif isinstance(exc, TimeoutError):
            text = f"no answer within {self._timeout_s:g} s"
        elif isinstance(exc, http.client.RemoteDisconnected):
            text = "the connection closed without an answer"
        elif isinstance(exc, ssl.SSLError):
            text = f"TLS failed ({exc.reason or type(exc).__name__})"
        else:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self._scrub(text)

    def _decode_ok(self, command: str, status: int, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ApiError(command, status, title="Malformed response",
                           detail="the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ApiError(command, status, title="Malformed response",
                           detail="the answer is not a JSON object")
        return answer

    def _decode_error(self, command: str, status: int, reason: str, raw: bytes,
                      retry_after: float | None) -> ApiError:
        code, title, detail = "", self._scrub(reason or ""), ""
        try:
            answer = json.loads(raw) if raw.strip() else None
        except ValueError:
            answer = None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = self._scrub(_as_text(first.get("code")))[:32]
            title = self._scrub(_as_text(first.get("title"))) or title
            detail = self._scrub(_as_text(first.get("detail")))
            if len(errors) > 1:
                detail = f"{detail} (and {len(errors) - 1} more)".lstrip()
        return ApiError(command, status, code, title, detail, retry_after)

    def _scrub(self, text: str) -> str:
        text = _CONTROL.sub(" ", text.replace(self._key, "[API key]")).strip()
        return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT - 1] + "…"


def _read_capped(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 deadline: float) -> tuple[bytes, bool]:
    """The body, at most MAX_RESPONSE bytes, within the deadline; (partial, True) if larger."""
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if conn.sock is not None:
            conn.sock.settimeout(remaining)  # a peer dripping bytes cannot stretch the wait
        chunk = resp.read1(64 * 1024)
        if not chunk:
            return b"".join(chunks), False
        total += len(chunk)
        if total > MAX_RESPONSE:
            return b"".join(chunks), True
        chunks.append(chunk)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _as_text(value: object) -> str:
    # Telnyx codes are strings ("10009"); older answers send numbers.
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


# -- body builders -------------------------------------------------------------------------


def _check_id(name: str, value: object, limit: int = MAX_ID) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    if _CONTROL.search(value) or value != value.strip():
        raise ValueError(f"{name} contains control characters or surrounding spaces")
    return value


def _check_enum(name: str, value: object, choices: tuple[Any, ...]) -> None:
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, not {value!r}")


def _check_client_state(value: object) -> str:
    # Telnyx: "It must be a valid Base-64 encoded string."
    if not isinstance(value, str) or not value:
        raise ValueError("client_state must be a non-empty base64 string")
    if len(value) > MAX_CLIENT_STATE:
        raise ValueError(f"client_state is longer than {MAX_CLIENT_STATE} characters")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("client_state is not valid base64") from None
    return value


def _check_number(name: str, value: object) -> str:
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise ValueError(f"{name} must be a +E.164 number such as +18005550100, not {value!r}")
    return value


def streaming_start_body(*, stream_url: str, token: str, codec: str, rate: int,
                         target_legs: str, mode: str = "rtp", track: str = "both_tracks",
                         custom_parameters: dict[str, str] | None = None,
                         client_state: str | None = None,
                         command_id: str | None = None) -> dict[str, Any]:
    """The streaming_start body (PROTOCOLS.md 1.6). `codec` is used both ways (stream_codec
    and, in rtp mode, stream_bidirectional_codec); `rate` is the rate of audio sent back."""
    if not isinstance(stream_url, str) or not stream_url.startswith(("wss://", "ws://")):
        raise ValueError("stream_url must be a ws:// or wss:// URL")
    if len(stream_url) > MAX_URL or _CONTROL.search(stream_url) or " " in stream_url:
        raise ValueError(f"stream_url must be at most {MAX_URL} characters, without spaces")
    if not urllib.parse.urlsplit(stream_url).hostname:
        raise ValueError("stream_url has no host")
    if not isinstance(token, str) or not token:
        raise ValueError("the stream auth token is empty: the console's WebSocket needs it")
    if len(token) > MAX_STREAM_AUTH_TOKEN:
        raise ValueError(f"the stream auth token is longer than {MAX_STREAM_AUTH_TOKEN} "
                         "characters")
    if _CONTROL.search(token):
        raise ValueError("the stream auth token contains control characters (it travels in "
                         "a header)")
    _check_enum("codec", codec, BIDIRECTIONAL_CODECS)
    _check_enum("rate", rate, SAMPLING_RATES)
    if codec in _EIGHT_K_ONLY and rate != 8000:
        raise ValueError(f"{codec} is sent at 8000 Hz, not {rate}")
    _check_enum("target_legs", target_legs, TARGET_LEGS)
    _check_enum("mode", mode, BIDIRECTIONAL_MODES)
    _check_enum("track", track, STREAM_TRACKS)
    body: dict[str, Any] = {
        "stream_url": stream_url,
        "stream_track": track,
        "stream_codec": codec,
        "stream_bidirectional_mode": mode,
    }
    if mode == "rtp":  # codec and rate are "used only with stream_bidirectional_mode=rtp"
        body["stream_bidirectional_codec"] = codec
        body["stream_bidirectional_sampling_rate"] = rate
    body["stream_bidirectional_target_legs"] = target_legs
    body["stream_auth_token"] = token
    if custom_parameters:
        if not isinstance(custom_parameters, dict):
            raise ValueError("custom_parameters must be a dict of names to values")
        if len(custom_parameters) > MAX_CUSTOM_PARAMETERS:
            raise ValueError(f"at most {MAX_CUSTOM_PARAMETERS} custom parameters")
        params = []
        for name, value in custom_parameters.items():
            _check_id("custom parameter name", name, MAX_PARAM_NAME)
            if not isinstance(value, str) or len(value) > MAX_PARAM_VALUE or _CONTROL.search(
                    value):
                raise ValueError(f"custom parameter {name!r} must be a string of at most "
                                 f"{MAX_PARAM_VALUE} characters without control characters")
            params.append({"name": name, "value": value})
        body["custom_parameters"] = params
    if client_state is not None:
        body["client_state"] = _check_client_state(client_state)
    if command_id is not None:
        body["command_id"] = _check_id("command_id", command_id)
    return body


def supervisor_dial_body(*, connection_id: str, to: str, from_: str,
                         supervise_call_control_id: str, role: str,
                         client_state: str | None = None,
                         command_id: str | None = None) -> dict[str, Any]:
    """A dial (POST /calls) that rings the supervisor and joins them to the agent's leg in
    `role`. The role is always sent: Telnyx's SDK and CLI default to barge (PROTOCOLS.md 7)."""
    _check_id("connection_id", connection_id)
    if isinstance(to, str) and to.startswith(("sip:", "sips:")):
        _check_id("to", to)
        if " " in to:
            raise ValueError("to must not contain spaces")
    else:
        _check_number("to", to)
    _check_number("from", from_)
    _check_id("supervise_call_control_id", supervise_call_control_id)
    _check_enum("role", role, SUPERVISOR_ROLES)
    body: dict[str, Any] = {
        "connection_id": connection_id,
        "to": to,
        "from": from_,
        "supervise_call_control_id": supervise_call_control_id,
        "supervisor_role": role,
    }
    if client_state is not None:
        body["client_state"] = _check_client_state(client_state)
    if command_id is not None:
        body["command_id"] = _check_id("command_id", command_id)
    return body
