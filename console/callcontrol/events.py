"""Telnyx Call Control webhooks: strict decoding of the envelope, and the gate that drops
duplicates and events made stale by later ones.

A webhook body is `{"data": {"id", "event_type", "occurred_at", "record_type",
"payload": {...}}}`. The fields the console uses are checked for type and length; unknown event
types and unknown fields pass untouched (Telnyx adds fields over time). Telnyx may deliver an
event twice, late, or out of order, so EventGate admits each event id once and drops events
that a later one has overtaken: anything that starts a leg after that leg's hangup, and an
event older than one of the same kind already processed for the same leg.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_BODY", "EventGate", "WebhookError", "WebhookEvent", "parse_event"]

MAX_BODY = 1024 * 1024  # parse_event's own bound; the server's (max_body) is smaller
MAX_DEPTH = 32  # Telnyx payloads nest 3 or 4 levels deep
_MAX_ID = 256
_MAX_CLIENT_STATE = 4096
_MAX_TEXT = 1024  # failure_reason is a sentence rather than an id
_MAX_TIME = 64
# No line breaks, escapes or lone surrogates in what reaches logs and the window.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_DIRECTIONS = frozenset({"incoming", "outgoing"})


class WebhookError(ValueError):
    """A webhook body that is not a Telnyx event the console can use."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    event_type: str
    occurred_at: float | None = None  # epoch seconds
    call_control_id: str = ""
    call_leg_id: str = ""
    call_session_id: str = ""
    connection_id: str = ""
    direction: str = ""  # "incoming", "outgoing" or "" (absent or unknown)
    from_number: str = ""
    to_number: str = ""
    state: str = ""
    client_state: str = ""  # base64 text as Telnyx sent it
    hangup_cause: str = ""
    failure_reason: str = ""
    stream_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict, hash=False)  # the raw payload


# payload key -> (WebhookEvent field, longest accepted length)
_PAYLOAD_FIELDS: dict[str, tuple[str, int]] = {
    "call_control_id": ("call_control_id", _MAX_ID),
    "call_leg_id": ("call_leg_id", _MAX_ID),
    "call_session_id": ("call_session_id", _MAX_ID),
    "connection_id": ("connection_id", _MAX_ID),
    "direction": ("direction", _MAX_ID),
    "from": ("from_number", _MAX_ID),
    "to": ("to_number", _MAX_ID),
    "state": ("state", _MAX_ID),
    "client_state": ("client_state", _MAX_CLIENT_STATE),
    "hangup_cause": ("hangup_cause", _MAX_ID),
    "failure_reason": ("failure_reason", _MAX_TEXT),
    "stream_id": ("stream_id", _MAX_ID),
}


def parse_event(body: bytes) -> WebhookEvent:
    """The event in a webhook body; WebhookError naming the problem (never echoing the
    body) if it is not JSON, not Telnyx's envelope, or a known field has the wrong type or
    an unreasonable length."""
    if len(body) > MAX_BODY:
        raise WebhookError(f"body is {len(body)} bytes, more than {MAX_BODY}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError("body is not UTF-8") from None
    try:
        root = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise WebhookError("body is JSON nested too deeply") from None
    except ValueError:  # JSONDecodeError, NaN/Infinity, too many digits in an integer
        raise WebhookError("body is not valid JSON") from None
    if not isinstance(root, dict):
        raise WebhookError("body is not a JSON object")
    _check_depth(root)
    if "data" in root:
        data = root["data"]
        if not isinstance(data, dict):
            raise WebhookError("data is not an object")
    elif "event_type" in root:
        data = root  # the older envelope: the event's fields at the top level
    else:
        raise WebhookError("body has no data object")

    payload = data.get("payload")
    if payload is None:
        payload = {}
    elif not isinstance(payload, dict):
        raise WebhookError("data.payload is not an object")

    event_id = _text(data, "id", "data.id", _MAX_ID)
    if not event_id:
        raise WebhookError("data.id is missing or empty")
    event_type = _text(data, "event_type", "data.event_type", _MAX_ID)
    if not event_type:
        raise WebhookError("data.event_type is missing or empty")
    _text(data, "record_type", "data.record_type", _MAX_ID)
    if data.get("occurred_at") is not None:
        occurred_at = _time(data, "occurred_at", "data.occurred_at")
    else:  # the older envelope puts it in the payload
        occurred_at = _time(payload, "occurred_at", "data.payload.occurred_at")

    values: dict[str, str] = {}
    for key, (name, limit) in _PAYLOAD_FIELDS.items():
        values[name] = _text(payload, key, f"data.payload.{key}", limit)
    if values["direction"] not in _DIRECTIONS:
        values["direction"] = ""
    return WebhookEvent(id=event_id, event_type=event_type, occurred_at=occurred_at,
                        payload=payload, **values)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_depth(root: dict[str, Any]) -> None:
    """Refuse nesting deeper than MAX_DEPTH (iteratively: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WebhookError(f"body is JSON nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


def _text(obj: dict[str, Any], key: str, where: str, limit: int) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WebhookError(f"{where} is a {_kind(value)}, not a string")
    if len(value) > limit:
        raise WebhookError(f"{where} is {len(value)} characters, more than {limit}")
    if _CONTROL.search(value):
        raise WebhookError(f"{where} contains control characters")
    return value


def _time(obj: dict[str, Any], key: str, where: str) -> float | None:
    text = _text(obj, key, where, _MAX_TIME)
    if not text:
        return None
    try:
        # 3.11's fromisoformat reads "Z", offsets, and fractions of any length.
        when = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookError(f"{where} is not an ISO-8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # Telnyx's times are UTC
    return when.timestamp()


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


# Which state change an event reports, for ordering within one leg.
_KINDS: dict[str, str] = {
    "call.initiated": "answered",
    "call.answered": "answered",
    "call.hangup": "hangup",
    "streaming.started": "streaming",
    "streaming.stopped": "streaming",
    "streaming.failed": "streaming",
}
# Events that would (re)start something on a leg: meaningless once it has hung up.
_STARTS = frozenset({"call.initiated", "call.answered", "streaming.started"})


@dataclass
class _Leg:
    hung_up: bool = False
    latest: dict[str, float] = field(default_factory=dict)  # kind -> newest occurred_at seen
    touched: float = 0.0


class EventGate:
    """Admits each webhook once and in a sensible order; bounded in memory and in time.

    Remembers at most `max_ids` event ids and `max_legs` legs, each for `ttl_s` seconds
    (oldest forgotten first): Telnyx's redeliveries come within minutes, so an hour covers
    them. Used from one thread (the server's loop)."""

    def __init__(self, max_ids: int = 20_000, max_legs: int = 20_000,
                 ttl_s: float = 3600.0) -> None:
        self.max_ids = max_ids
        self.max_legs = max_legs
        self.ttl_s = ttl_s
        self._ids: OrderedDict[str, float] = OrderedDict()  # id -> first seen, oldest first
        self._legs: OrderedDict[str, _Leg] = OrderedDict()  # least recently touched first

    @property
    def ids_held(self) -> int:
        return len(self._ids)

    @property
    def legs_held(self) -> int:
        return len(self._legs)

    def admit(self, event: WebhookEvent, now: float) -> str | None:
        """None when the event should be processed; otherwise why it is dropped."""
        self._expire(now)
        if event.id in self._ids:
            return f"duplicate event {event.id}"
        self._ids[event.id] = now
        while len(self._ids) > self.max_ids:
            self._ids.popitem(last=False)

        leg_id = event.call_control_id
        if not leg_id:
            return None  # not about a call leg: nothing to order it against
        leg = self._legs.get(leg_id)
        kind = _KINDS.get(event.event_type)
        if leg is not None:
            if leg.hung_up and event.event_type in _STARTS:
                return f"stale {event.event_type} for {leg_id}: the leg has already hung up"
            newest = leg.latest.get(kind) if kind is not None else None
            if (newest is not None and event.occurred_at is not None
                    and event.occurred_at < newest):
                return (f"stale {event.event_type} for {leg_id}: older than the {kind} event "
                        f"already processed")
        if leg is None:
            leg = self._legs[leg_id] = _Leg()
            while len(self._legs) > self.max_legs:
                self._legs.popitem(last=False)
        else:
            self._legs.move_to_end(leg_id)
        leg.touched = now
        if event.event_type == "call.hangup":
            leg.hung_up = True  # hangup always wins, whatever its timestamp says
        if kind is not None and event.occurred_at is not None:
            leg.latest[kind] = max(event.occurred_at, leg.latest.get(kind, event.occurred_at))
        return None

    def _expire(self, now: float) -> None:
        cutoff = now - self.ttl_s
        while self._ids:
            first = next(iter(self._ids.values()))
            if first >= cutoff:
                break
            self._ids.popitem(last=False)
        while self._legs:
            leg = next(iter(self._legs.values()))
            if leg.touched >= cutoff:
                break
            self._legs.popitem(last=False)
