"""A hostile peer: every kind of malformed frame the console must survive, made on demand.

Used by the tests (a few hundred of each kind beside healthy calls) and by
`bench/hostile.py` (ten thousand of each, with faults injected). Each attack names the
counter the engine files it under (`EngineStats.bad_by_kind`), so a run can check that every
frame was seen for what it is, not just that nothing crashed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect

__all__ = ["ATTACKS", "Attack", "AttackResult", "attack"]

Frame = str | bytes


@dataclass(frozen=True)
class Attack:
    name: str
    counted_as: str | None  # the engine's bad-frame kind; None: not a bad frame
    make: Callable[[random.Random, str, int], Frame]  # (rng, stream id, frame limit)
    # When it is sent: "started" on a stream after its start frame, "before" ahead of it,
    # "stopped" after its stop frame, "anonymous" on a socket that never says who it is.
    phase: str = "started"


def _media(sid: str, chunk: object = "1", timestamp: object = "0", seq: object = "2",
           track: object = "inbound", payload: object = "//8=") -> dict[str, object]:
    return {"event": "media", "sequence_number": seq, "stream_id": sid,
            "media": {"track": track, "chunk": chunk, "timestamp": timestamp,
                      "payload": payload}}


def _start(sid: str, rate: object = 8000, channels: object = 1, **start: object) -> str:
    body = {"call_control_id": f"v3:{sid}", "call_session_id": f"hostile-{sid}",
            "media_format": {"encoding": "PCMU", "sample_rate": rate, "channels": channels},
            **start}
    return json.dumps({"event": "start", "sequence_number": "1", "stream_id": sid,
                       "start": body})


def _huge(rng: random.Random) -> object:
    return rng.choice([-1, -(10**12), 2**53, 2**63, 1e30, -1e30, "-5", "9" * 25])


def _truncated(rng: random.Random, sid: str, _: int) -> str:
    text = json.dumps(_media(sid))
    return text[: rng.randrange(1, len(text) - 1)]


def _not_json(rng: random.Random, sid: str, _: int) -> str:
    return rng.choice([
        '{"event": "media", "x": NaN}', '{"event": Infinity}', "{'event': 'media'}",
        "[" * 5000 + "]" * 5000, "", "   ", "\x00\x01", '{"a": 1} trailing',
    ])


def _wrong_type(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(rng.choice([
        [1, 2, 3], "media", 42, None, True,
        {"event": "media", "stream_id": sid, "media": "not an object"},
        _media(sid, chunk=True), _media(sid, track=7), _media(sid, payload=12),
        _media(sid, chunk="x1"), _media(sid, timestamp=[1]),
        {"event": "dtmf", "stream_id": sid, "dtmf": None},
        {"event": "mark", "stream_id": sid, "mark": {"name": {"a": 1}}},
    ]))


def _bad_base64(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(_media(sid, payload=rng.choice(["!!!!", "ab$c", "é" * 8, "*" * 160])))


def _unknown_event(rng: random.Random, sid: str, _: int) -> str:
    name = rng.choice(["teleport", "MEDIA", "start ", "", "clear", "x" * 40])
    return json.dumps({"event": name, "stream_id": sid})


def _binary(rng: random.Random, sid: str, _: int) -> bytes:
    return rng.randbytes(rng.randrange(1, 400))


def _oversize(rng: random.Random, sid: str, limit: int) -> str:
    return json.dumps(_media(sid, payload="A" * (limit + rng.randrange(4, 4000))))


def _missing_field(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(rng.choice([
        {"stream_id": sid, "media": {"payload": ""}},
        {"event": "start", "stream_id": sid, "start": {"call_control_id": "x"}},
        {"event": "start", "start": {"media_format": {"encoding": "PCMU"}}},
        {"event": "start", "stream_id": sid, "start": {"media_format": {"encoding": ""}}},
    ]))


def _bad_value(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(rng.choice([
        _media(sid, track="sideways"),
        {"event": "dtmf", "stream_id": sid, "dtmf": {"digit": rng.choice(["x", "12", "!"])}},
    ]))


def _bad_chunk(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(_media(sid, chunk=_huge(rng)))


def _bad_timestamp(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(_media(sid, timestamp=_huge(rng)))


def _bad_sequence(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(_media(sid, seq=_huge(rng)))


def _bad_rate(rng: random.Random, sid: str, _: int) -> str:
    rate = rng.choice([1_000_003, 10_000_019, 10**12, 1e30, -8000, 384_001])
    return _start(f"{sid}-r", rate=rate)


def _bad_channels(rng: random.Random, sid: str, _: int) -> str:
    return _start(f"{sid}-c", channels=rng.choice([9, -1, 10**6, 1e30]))


def _oversize_field(rng: random.Random, sid: str, _: int) -> str:
    return rng.choice([
        _start(f"{sid}-o", custom_parameters={f"k{i}": "v" for i in range(80)}),
        _start(f"{sid}-o", custom_parameters={"role": "x" * 5000}),
        _start(f"{sid}-o", tags=["t"] * 100),
        _start("s" * 300),
        json.dumps({"event": "mark", "stream_id": sid, "mark": {"name": "m" * 400}}),
    ])


def _duplicate_start(rng: random.Random, sid: str, _: int) -> str:
    return _start(sid)


def _before_start(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps(_media(sid))


def _stop_before_start(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps({"event": "stop", "stream_id": sid, "stop": {}})


def _dtmf_before_start(rng: random.Random, sid: str, _: int) -> str:
    return json.dumps({"event": "dtmf", "stream_id": sid, "dtmf": {"digit": "5"}})


def _anonymous(rng: random.Random, sid: str, _: int) -> str:
    # Nothing that says which platform (no stream id of any platform's shape): whose is it?
    return json.dumps(rng.choice([
        {"event": "media", "media": {"payload": "//8="}},
        {"event": "start", "start": {}}, {"kind": "start"}, {"hello": "world"},
    ]))


def _leap(rng: random.Random, sid: str, _: int) -> str:
    # A valid frame whose counter leaps: a discontinuity, never a gap filled with silence.
    payload = base64.b64encode(b"\xff" * 160).decode()
    return json.dumps(_media(sid, chunk=rng.randrange(10**9, 10**15), payload=payload))


ATTACKS: tuple[Attack, ...] = (
    Attack("truncated_json", "invalid_json", _truncated),
    Attack("not_json", "invalid_json", _not_json),
    Attack("wrong_type", "wrong_type", _wrong_type),
    Attack("bad_base64", "bad_base64", _bad_base64),
    Attack("unknown_event", "unknown_event", _unknown_event),
    Attack("binary_frame", "binary_frame", _binary),
    Attack("oversize", "oversize", _oversize),
    Attack("missing_field", "missing_field", _missing_field),
    Attack("bad_value", "bad_value", _bad_value),
    Attack("bad_chunk", "bad_chunk", _bad_chunk),
    Attack("bad_timestamp", "bad_timestamp", _bad_timestamp),
    Attack("bad_sequence", "bad_sequence", _bad_sequence),
    Attack("bad_rate", "bad_rate", _bad_rate),
    Attack("bad_channels", "bad_channels", _bad_channels),
    Attack("oversize_field", "oversize_field", _oversize_field),
    Attack("duplicate_start", "duplicate_start", _duplicate_start),
    Attack("media_before_start", "media_before_start", _before_start, "before"),
    Attack("stop_before_start", "stop_before_start", _stop_before_start, "before"),
    Attack("dtmf_before_start", "dtmf_before_start", _dtmf_before_start, "before"),
    Attack("media_after_stop", "media_after_stop", _before_start, "stopped"),
    Attack("unknown_provider", "unknown_provider", _anonymous, "anonymous"),
    Attack("counter_leap", None, _leap),
)


@dataclass
class AttackResult:
    sent: dict[str, int]  # attack name -> frames sent
    expected: dict[str, int]  # engine bad-frame kind -> frames that should be counted
    leaps: int = 0  # frames sent whose counter leapt (discontinuities to expect)
    refused: int = 0  # sockets the server closed before we were done
    unrecognised: int = 0  # anonymous sockets the server closed as unrecognised (1003)


async def _send(ws: ClientConnection, attacks: list[Attack], share: dict[str, int],
                rng: random.Random, sid: str, limit: int, result: AttackResult) -> None:
    plan = [a for a in attacks for _ in range(share[a.name])]
    rng.shuffle(plan)
    for a in plan:
        await ws.send(a.make(rng, sid, limit))
        result.sent[a.name] += 1
        if a.counted_as is None:
            result.leaps += 1
        else:
            result.expected[a.counted_as] = result.expected.get(a.counted_as, 0) + 1


async def attack(url: str, headers: dict[str, str], per_kind: int, *, frame_limit: int,
                 seed: int = 7, name: str = "h", sockets: int = 4) -> AttackResult:
    """Send `per_kind` frames of every attack, spread over `sockets` sockets, as fast as the
    server reads them. Each socket's stream is attacked before its start frame, between
    start and stop, and after its stop; a second socket never says who it is."""
    rng = random.Random(seed)
    result = AttackResult({a.name: 0 for a in ATTACKS}, {})
    by_phase: dict[str, list[Attack]] = {}
    for a in ATTACKS:
        by_phase.setdefault(a.phase, []).append(a)
    good = json.dumps(_media("", payload=base64.b64encode(b"\xff" * 160).decode()))
    for s in range(sockets):
        sid = f"{name}{s}"
        share = {a.name: per_kind // sockets + (1 if s < per_kind % sockets else 0)
                 for a in ATTACKS}
        try:
            async with connect(url, additional_headers=headers, max_size=None,
                               compression=None) as ws:
                await _send(ws, by_phase["before"], share, rng, sid, frame_limit, result)
                await ws.send(_start(sid))
                # One good frame first, so that every leap after it is a discontinuity.
                await ws.send(good.replace('"stream_id": ""', f'"stream_id": "{sid}"'))
                await _send(ws, by_phase["started"], share, rng, sid, frame_limit, result)
                await ws.send(json.dumps({"event": "stop", "stream_id": sid, "stop": {}}))
                await _send(ws, by_phase["stopped"], share, rng, sid, frame_limit, result)
            # A socket that never says who it is is closed at its first such frame: one
            # socket per anonymous frame.
            for a in by_phase["anonymous"]:
                for _ in range(share[a.name]):
                    async with connect(url, additional_headers=headers,
                                       compression=None) as ws:
                        await _send(ws, [a], {a.name: 1}, rng, sid, frame_limit, result)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(ws.wait_closed(), 5)
                        result.unrecognised += ws.close_code == 1003
        except OSError:
            result.refused += 1
    return result
