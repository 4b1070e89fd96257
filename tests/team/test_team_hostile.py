"""An ingest node keeps working when peers on the bus misbehave: a real nats-server, a node
as a `serve --bus` process with a simulated call, and a raw nats-py client holding the bus
token (any machine of the team has it) sending garbage and forgeries: commands, voice,
facts in the log, and entries in the call and node buckets that `calls` reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import numpy as np
import orjson
from team_support import Node, run, simulate

from console.core import events as ev
from console.team import wire
from console.team.busserver import BusServer
from console.team.schema import Fact, encode
from console.team.subjects import CALLS_BUCKET, NODES_BUCKET, Subjects, token

NODE = "hn"
SUBJECTS = Subjects("team")


async def _eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.1)


async def _summaries(kv: Any) -> list[dict[str, Any]]:
    try:
        keys = await kv.keys()
    except Exception:  # no keys yet
        return []
    return [orjson.loads((await kv.get(k)).value) for k in keys if k.startswith("team.")]


async def _calls_cli(url: str) -> list[dict[str, Any]]:
    proc = await asyncio.to_thread(run, "calls", "--bus", url, "--json")
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _frame(call: str, console: str | None, rate: int = 8000, samples: int = 160) -> bytes:
    header: dict[str, Any] = {"call": call, "rate": rate, "seq": 1}
    if console is not None:
        header["console"] = console
    tone = (8000 * np.sin(np.arange(samples) * 0.3)).astype(np.int16)
    return wire.pack(header, tone)


async def test_team_hostile_peers_do_not_break_a_node(bus: BusServer, tmp_path: Path) -> None:
    url = bus.url()
    node = await asyncio.to_thread(Node, url, NODE, tmp_path / "node")
    evil = await nats.connect(f"nats://127.0.0.1:{bus.port}", token="team-secret",
                              name="evil peer")
    sims: list[Any] = []
    back = tmp_path / "back.json"
    try:
        js = evil.jetstream()
        kv = await js.key_value(CALLS_BUCKET)
        cmd = SUBJECTS.command(NODE)

        async def ask(payload: bytes | dict[str, Any]) -> dict[str, Any]:
            data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
            msg = await evil.request(cmd, data, timeout=3.0)  # no answer fails here
            answer = orjson.loads(msg.data)
            assert isinstance(answer, dict), answer
            return answer

        ping = {"action": "ping", "console": "c", "supervisor": "s"}
        assert (await ask(ping))["ok"] is True

        sims.append(simulate(node.url, "--calls", "1", "--duration", "6", "--out", str(back)))
        live = await _eventually(lambda: _live(kv))
        call = live["id"]

        # --- commands: every bad one gets a refusal with a reason ------------------------
        bad_commands: list[tuple[bytes | dict[str, Any], str]] = [
            (b"", "bad command"),
            (b"not json", "bad command"),
            (b"\xff\xfe\x00", "bad command"),
            (b"[1, 2, 3]", "JSON object"),
            (b'"ping"', "JSON object"),
            (b"null", "JSON object"),
            (b"[" * 2000, "bad command"),  # deeper than the parser goes
            (b"x" * 100_000, "too large"),
            ({**ping, "pad": "x" * 100_000}, "too large"),  # a valid ping, but 100 KB
            ({"action": 5}, "'action'"),
            ({"action": None, "console": "c"}, "'action'"),
            ({"action": "p" * 33}, "'action'"),
            ({"action": "listen", "call_id": ["x"], "console": "c"}, "'call_id'"),
            ({"action": "listen", "call_id": call, "console": 7}, "'console'"),
            ({"action": "listen", "call_id": call, "console": "c",
              "supervisor": {"name": "x"}}, "'supervisor'"),
            ({"action": "listen", "call_id": call}, "'console'"),
            ({"action": "whisper", "call_id": call, "console": "c", "rate": "8000"}, "rate"),
            ({"action": "whisper", "call_id": call, "console": "c", "rate": 7999}, "rate"),
            ({"action": "whisper", "call_id": call, "console": "c", "rate": True}, "rate"),
            ({"action": "barge", "call_id": call, "console": "c", "rate": 8000.5}, "rate"),
            ({"action": "explode", "call_id": call, "console": "c"}, "unknown action"),
            ({"action": "listen", "call_id": "no-such-call", "console": "c"}, "not live"),
            ({"action": "whisper", "call_id": "no-such-call", "console": "c", "rate": 8000},
             "not live"),
            ({"action": "talk_renew", "call_id": call, "console": "c"}, "Not talking"),
        ]
        for payload, reason in bad_commands:
            answer = await ask(payload)
            shown = payload if isinstance(payload, dict) else payload[:40]
            assert answer["ok"] is False, (shown, answer)
            assert isinstance(answer.get("reason"), str) and reason in answer["reason"], \
                (shown, answer)
        for payload, _ in bad_commands[:8]:  # the same without a reply subject
            await evil.publish(cmd, payload if isinstance(payload, bytes)
                               else orjson.dumps(payload))
        pong = await ask(ping)
        assert pong["ok"] is True and pong["node"] == NODE

        # --- talk: garbage and forged voice reach nobody ----------------------------------
        good_header = _frame(call, "evil")
        forged = [
            b"", b"garbage", b"XX1" + good_header[3:], good_header[:5],
            b"CA1\x00\xff" + good_header[5:],  # header length past the end
            _frame(call, "evil", rate=7999), _frame(call, "evil", rate=96000),
            wire.pack({"call": call, "console": "evil", "rate": "8000"},
                      np.ones(160, np.int16)),
            good_header + b"\x01",  # odd PCM bytes
            _frame(call, None),  # no console at all
            _frame(call, "x" * 129),
            _frame("no-such-call", "evil"),
            _frame(call, "evil"),  # well made, but this console was never granted a whisper
        ]

        async def send_forged(frames: list[bytes]) -> None:
            # as fast as a voice would come, to several talk subjects of this node
            for _ in range(15):
                for i, data in enumerate(frames):
                    tail = (SUBJECTS.talk(NODE, call), f"coach.team.talk.{NODE}.anything",
                            f"coach.team.talk.{NODE}.x_2e")[i % 3]
                    await evil.publish(tail, data)
                await asyncio.sleep(0.02)
            await evil.flush()
            assert (await ask(ping))["ok"] is True

        await send_forged(forged)
        # a whisper granted to another console: the forger still cannot speak through it,
        # nor can the granted console at a rate other than the one it asked for
        granted = await ask({"action": "whisper", "call_id": call, "console": "good",
                             "supervisor": "Dana", "rate": 8000})
        assert granted["ok"] is True, granted
        await send_forged([_frame(call, "evil"), _frame(call, "good", rate=16000),
                           _frame("no-such-call", "good"), _frame(call, "Good")])
        assert (await ask({"action": "talk_off", "call_id": call, "console": "good"}))["ok"]

        # --- facts: garbage and forgeries in the team's log --------------------------------
        forged_facts = [
            b"garbage", b"{}", b"\xff" * 1000, b"[" * 5000,
            orjson.dumps({"v": 1, "type": "CallStarted", "node": "evil", "n": -1, "e": {}}),
            b'{"v": 1, "pad": "' + b"y" * 900_000 + b'"}',
            encode(Fact("evil", "r", 1, ev.CallStarted(
                "x", ev.Provider.TELNYX, "+1", None, 1796000000.0, "evil"))),
            encode(Fact(NODE, "r", 1, ev.CallEnded(call, 1796000000.0, "ended"))),
        ]
        for data in forged_facts:
            ack = await js.publish("coach.team.facts.evil.x", data)
            assert ack.stream == "COACH_FACTS"
        for data in forged_facts[:6]:  # undecodable ones among the real call's own facts
            await js.publish(f"coach.team.facts.evil.{token(call)}", data)

        # --- summaries and heartbeats: any peer can write those buckets too ---------------
        nodes_kv = await js.key_value(NODES_BUCKET)
        await nodes_kv.put("evil", b"[1, 2]")
        await nodes_kv.put("evil2", orjson.dumps({"node": "evil2", "at": "soon"}))
        for key, value in {
            "team.junk": b"not json",
            "team.list": b"[1]",
            "team.noid": orjson.dumps({"node": "evil", "state": "active"}),
            "team.node": orjson.dumps({"id": "n", "node": ["evil"], "state": "active"}),
            "team.when": orjson.dumps({"id": "w", "node": "evil", "started_at": "yesterday"}),
            "team.huge": orjson.dumps({"id": "h", "node": "evil", "started_at": 1e300}),
            "team.from": orjson.dumps({"id": "f", "node": "evil", "from": {"a": 1}}),
            # well made, from a node whose heartbeat is garbage: listed, but not live
            "team.evil-live": orjson.dumps({"id": "evil-live", "node": "evil2",
                                            "state": "active", "started_at": 1.0}),
        }.items():
            await kv.put(key, value)

        listed = await _calls_cli(url)
        assert [c["id"] for c in listed] == [call, "evil-live"]
        assert listed[0]["node"] == NODE and listed[0]["state"] == "active"
        assert listed[1]["state"] == "interrupted"
        table = await asyncio.to_thread(run, "calls", "--bus", url)
        assert call in table.stdout and "evil-live" in table.stdout
        exported = await asyncio.to_thread(run, "export", call, "--bus", url,
                                           "--format", "json")
        detail = json.loads(exported.stdout)
        assert detail["id"] == call and detail["node"] == NODE and detail["streams"]

        # --- what the simulated provider received: no voice at all ------------------------
        await asyncio.to_thread(sims[0].communicate, timeout=60)
        received = [m for c in json.loads(back.read_text()) for s in c["streams"]
                    for m in s["received"]]
        events = [m.get("event") for m in received]
        assert "media" not in events, events
        assert "clear" in events  # the node did reach the provider: ending the whisper

        # --- the node still works: alive, and its next call is listed ---------------------
        assert node.proc.poll() is None
        sims.append(simulate(node.url, "--calls", "1", "--duration", "2", "--seed", "9"))
        await asyncio.to_thread(sims[1].communicate, timeout=60)

        async def both_listed() -> list[dict[str, Any]]:
            found = [c for c in await _calls_cli(url) if c["node"] == NODE]
            return found if len(found) == 2 and all(c["state"] == "ended" for c in found) \
                else []

        final = await _eventually(both_listed)
        assert call in {c["id"] for c in final}
        assert node.proc.poll() is None
        assert (await ask(ping))["ok"] is True
    finally:
        for proc in sims:
            if proc.poll() is None:
                proc.kill()
        await evil.close()
        await asyncio.to_thread(node.stop)


async def _live(kv: Any) -> dict[str, Any] | None:
    for info in await _summaries(kv):
        if info.get("node") == NODE and info.get("state") == "active":
            return info
    return None
