"""The team's command-line contract, as an outside client uses it: a real nats-server, two
ingest nodes as `serve --bus` processes, simulated calls, and `calls`, `export`, `listen`
and `whisper` with --bus."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
from team_support import Node, run, simulate, wait_until

from console.audio.wav import read_wav, write_wav
from console.team.busserver import BusServer


async def _command(url: str, node: str, payload: dict) -> dict:  # type: ignore[type-arg]
    import nats
    import orjson

    nc = await nats.connect(url)
    try:
        msg = await nc.request(f"coach.team.cmd.{node}", orjson.dumps(
            {"console": "test", "supervisor": "Dana Reyes", **payload}), timeout=5)
        return orjson.loads(msg.data)  # type: ignore[no-any-return]
    finally:
        await nc.close()


def _calls(url: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(run("calls", "--bus", url, "--json").stdout)


def test_calls_export_listen_whisper_across_nodes(bus: BusServer, tmp_path: Path) -> None:
    url = bus.url()
    a = Node(url, "east", tmp_path / "a", "--record")
    b = Node(url, "west", tmp_path / "b")
    sims = []
    try:
        sims.append(simulate(a.url, "--calls", "1", "--duration", "14", "--seed", "3",
                             "--out", str(tmp_path / "back-a.json")))
        sims.append(simulate(b.url, "--calls", "1", "--duration", "14", "--seed", "4"))
        live = wait_until(lambda: [c for c in _calls(url) if c["state"] == "active"]
                          if len(_calls(url)) == 2 else None)
        assert sorted(c["node"] for c in live) == ["east", "west"]
        east = next(c for c in live if c["node"] == "east")
        west = next(c for c in live if c["node"] == "west")

        # listen: what the supervisor hears, from the node that holds the call
        heard = tmp_path / "heard.wav"
        run("listen", east["id"], "--bus", url, "--seconds", "2", "-o", str(heard))
        pcm, rate = read_wav(heard)
        assert rate == 8000 and pcm.size == 16000
        assert np.abs(pcm.astype(np.int32)).mean() > 100  # the call's speech, not silence

        # whisper: reaches the agent alone (the stream is on the customer's leg, Telnyx
        # plays to the opposite leg); barge is refused there, with the reason
        tone = tmp_path / "tone.wav"
        t = np.arange(16000) / 16000
        write_wav(tone, (6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 16000)
        done = run("whisper", east["id"], "--bus", url, "--wav", str(tone),
                   "--supervisor", "Dana Reyes")
        assert "agent alone" in done.stderr
        barge = run("whisper", east["id"], "--bus", url, "--wav", str(tone), "--barge",
                    check=False)
        assert barge.returncode != 0
        assert barge.stderr.count("\n") == 1 and "Cannot barge" in barge.stderr
        # clear: whatever the platform still plays of a supervisor stops
        assert asyncio.run(_command(url, "east", {"action": "clear", "call_id": east["id"]}))[
            "ok"] is True
        for proc in sims:
            proc.communicate(timeout=60)
        back = json.loads((tmp_path / "back-a.json").read_text())
        media = [m for c in back for s in c["streams"] for m in s["received"]
                 if m.get("event") == "media"]
        assert len(media) == 50  # one second of 20 ms frames, all of it
        clears = [m for c in back for s in c["streams"] for m in s["received"]
                  if m.get("event") == "clear"]
        assert len(clears) == 2  # the end of the whisper, and the clear command

        ended = wait_until(lambda: all(c["state"] == "ended" for c in _calls(url))
                           and _calls(url))
        assert {c["node"] for c in ended} == {"east", "west"}

        # export from "another machine": only the bus URL, any node's call
        out = tmp_path / "west.json"
        run("export", west["id"], "--bus", url, "--format", "json", "-o", str(out))
        detail = json.loads(out.read_text())
        assert detail["id"] == west["id"] and detail["node"] == "west"
        assert detail["state"] == "ended" and detail["streams"]
        east_json = json.loads(run("export", east["id"], "--bus", url, "--format",
                                   "json").stdout)
        audit = east_json["audit"]
        assert [a["action"] for a in audit if a["action"].startswith(("whisper", "barge"))] \
            == ["whisper_start", "whisper_stop", "barge_refused"]
        assert "clear" in [a["action"] for a in audit]
        assert [a["supervisor"] for a in audit if a["action"].startswith("whisper")] \
            == ["Dana Reyes", "Dana Reyes"]
        assert all(a["supervisor"] for a in audit)  # the user's name when none is given
        wav = tmp_path / "east.wav"
        wait_until(lambda: run("export", east["id"], "--bus", url, "--format", "wav", "-o",
                               str(wav), check=False).returncode == 0)
        audio, rate = read_wav(wav)
        assert rate == 8000 and audio.size > 8000 * 10
        # west was not recording: a clear refusal
        nowav = run("export", west["id"], "--bus", url, "--format", "wav", "-o",
                    str(tmp_path / "w.wav"), check=False)
        assert nowav.returncode != 0 and "not recording" in nowav.stderr
    finally:
        for proc in sims:
            if proc.poll() is None:
                proc.kill()
        a.stop()
        b.stop()


def test_wrong_credentials_and_unknown_calls_fail_in_one_line(bus: BusServer,
                                                              tmp_path: Path) -> None:
    wrong = f"nats://not-the-token@127.0.0.1:{bus.port}"
    write_wav(tmp_path / "x.wav", np.zeros(1600, np.int16), 8000)
    for args in (["calls", "--json"], ["export", "abc", "--format", "json"],
                 ["listen", "abc", "--seconds", "1", "-o", str(tmp_path / "x.wav")],
                 ["whisper", "abc", "--wav", str(tmp_path / "x.wav")]):
        proc = run(args[0], *args[1:], "--bus", wrong, check=False)
        assert proc.returncode != 0
        assert proc.stderr.count("\n") == 1 and "credentials refused" in proc.stderr, \
            proc.stderr
        assert "not-the-token" not in proc.stderr
        assert proc.stdout == ""
    url = bus.url()
    for args in (["export", "no-such-call", "--format", "json"],
                 ["listen", "no-such-call", "--seconds", "1", "-o", str(tmp_path / "x.wav")]):
        proc = run(args[0], *args[1:], "--bus", url, check=False)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1
        assert "no call 'no-such-call'" in proc.stderr
    down = run("calls", "--bus", f"nats://t@127.0.0.1:{bus.port + 1}", check=False)
    assert down.returncode != 0 and "cannot reach the bus" in down.stderr
