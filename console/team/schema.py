"""Call facts on the wire: each bus event as one JSON object, version 1.

    {"v": 1, "type": "TranscriptSegment", "node": "east-1", "run": "9f2c...", "n": 812,
     "t": 1796000000.123, "e": {...fields...}}

`e` holds the event's dataclass fields by name; enums as their values, MediaFormat as an
object, tuples as lists. `node` is the author (an ingest node, or a console for its own
audit entries); `n` counts the author's facts from 1 within one run (`run`), so a console
that replays a call and also hears it live applies each fact once; `t` is when it was
published.

Decoding is strict: a fact from the bus comes from another machine, so every field is checked
against its declared type and range before an event is built, and anything else is refused
with `BadFact` (the caller counts it and goes on)."""

from __future__ import annotations

import dataclasses
import math
import time
import types
import typing
from enum import Enum
from typing import Any

import orjson

from console.core import events as ev

__all__ = ["VERSION", "BadFact", "Fact", "decode", "encode", "event_from_dict", "event_to_dict"]

VERSION = 1
MAX_TEXT = 65_536  # a transcript line, an alert's words, an audit detail
MAX_FACT_BYTES = 512 * 1024

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in typing.get_args(ev.CallEvent)
}


class BadFact(ValueError):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Fact:
    node: str
    run: str  # the node process's run id: `n` restarts from 1 with each run
    n: int
    event: ev.CallEvent
    sent_at: float = 0.0  # when the author published it (unix seconds), for latency figures


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, ev.MediaFormat):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def event_to_dict(event: ev.CallEvent) -> dict[str, Any]:
    return {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}


def encode(fact: Fact) -> bytes:
    return orjson.dumps({"v": VERSION, "type": type(fact.event).__name__, "node": fact.node,
                         "run": fact.run, "n": fact.n, "t": fact.sent_at or time.time(),
                         "e": event_to_dict(fact.event)})


def decode(data: bytes) -> Fact:
    if len(data) > MAX_FACT_BYTES:
        raise BadFact(f"fact of {len(data)} bytes (limit {MAX_FACT_BYTES})")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadFact(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadFact("a fact must be a JSON object")
    if type(obj.get("v")) is not int or obj["v"] != VERSION:  # true and 1.0 equal 1
        raise BadFact(f"unsupported fact version {obj.get('v')!r} (this console reads {VERSION})")
    node, run, n = obj.get("node"), obj.get("run", ""), obj.get("n")
    if not isinstance(node, str) or not 0 < len(node) <= 64:
        raise BadFact("fact without a valid node name")
    if not isinstance(run, str) or len(run) > 64:
        raise BadFact("fact with a bad run id")
    if type(n) is not int or not 0 < n < 2**53:
        raise BadFact("fact without a valid sequence number")
    sent = obj.get("t", 0.0)
    if type(sent) not in (int, float) or not 0 <= sent < 1e11:
        raise BadFact("fact with a bad time")
    return Fact(node, run, n, event_from_dict(obj.get("type"), obj.get("e")), float(sent))


def event_from_dict(kind: object, fields: object) -> ev.CallEvent:
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadFact(f"unknown fact type {kind!r}")
    if not isinstance(fields, dict):
        raise BadFact(f"{kind}: fields must be an object")
    hints = _hints(cls)
    args: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in fields:
            args[f.name] = _check(fields[f.name], hints[f.name], f"{kind}.{f.name}")
        elif (f.default is dataclasses.MISSING
              and f.default_factory is dataclasses.MISSING):
            raise BadFact(f"{kind}: {f.name} is missing")
    try:
        return typing.cast(ev.CallEvent, cls(**args))
    except (TypeError, ValueError) as exc:
        raise BadFact(f"{kind}: {exc}") from None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls, vars(ev))
    return hints


def _check(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, where)
            except BadFact as exc:
                problems.append(str(exc))
        raise BadFact(problems[0] if problems else f"{where}: bad value")
    if hint is Any:
        return _any(value, where, depth=0)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise BadFact(f"{where}: unknown value {str(value)[:40]!r}") from None
    if hint is str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise BadFact(f"{where}: expected text of at most {MAX_TEXT} characters")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise BadFact(f"{where}: expected true or false")
        return value
    if hint is int:
        if type(value) is not int or not -(2**53) < value < 2**53:
            raise BadFact(f"{where}: expected a whole number")
        return value
    if hint is float:
        if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > 1e13:
            raise BadFact(f"{where}: expected a finite number")
        return float(value)
    if hint is ev.MediaFormat:
        if not isinstance(value, dict):
            raise BadFact(f"{where}: expected a media format object")
        fmt = event_from_fields(ev.MediaFormat, value, where)
        if not 1 <= fmt.sample_rate <= 384_000 or not 1 <= fmt.channels <= 8:
            raise BadFact(f"{where}: rate or channels out of range")
        return fmt
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if not isinstance(value, list) or len(value) > 64:
            raise BadFact(f"{where}: expected a list of at most 64")
        return tuple(_check(v, item, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict) or len(value) > 256:
            raise BadFact(f"{where}: expected an object of at most 256 entries")
        _, item = typing.get_args(hint)
        return {_check(k, str, where): _check(v, item, where) for k, v in value.items()}
    raise BadFact(f"{where}: cannot read type {hint!r}")


def event_from_fields(cls: type, value: dict[str, Any], where: str) -> Any:
    hints = _hints(cls)
    args = {f.name: _check(value[f.name], hints[f.name], f"{where}.{f.name}")
            for f in dataclasses.fields(cls) if f.name in value}
    try:
        return cls(**args)
    except TypeError as exc:
        raise BadFact(f"{where}: {exc}") from None


def _any(value: Any, where: str, depth: int) -> Any:
    """Free-form details (a problem's `details`): plain JSON, bounded in depth and size."""
    if depth > 4:
        raise BadFact(f"{where}: nested too deeply")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _check(value, str, where)
    if isinstance(value, list) and len(value) <= 256:
        return [_any(v, where, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) <= 256:
        return {_check(k, str, where): _any(v, where, depth + 1) for k, v in value.items()}
    raise BadFact(f"{where}: value too large")
