"""`whisper --bus` on a stream in Telnyx's MP3 mode: a live voice cannot go there, so the
file goes as a recording (whole MP3 files, at most one a second), and Telnyx's side gets it
as such. Real nats-server, a real node, a provider on a real socket."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

from helpers import peak_frequency, telnyx_start, tone_s
from team_support import Node, run, wait_until
from websockets.sync.client import connect

from console.audio.mp3 import decode_mp3
from console.audio.wav import write_wav
from console.team.busserver import BusServer


def _keep_what_comes_back(ws: Any, got: list[dict]) -> None:  # type: ignore[type-arg]
    """What the console sends to the provider, as it arrives (a thread of its own)."""
    def read() -> None:
        try:
            for raw in ws:
                got.append(json.loads(raw))
        except Exception:
            pass
    threading.Thread(target=read, daemon=True).start()


def test_whisper_on_an_mp3_mode_stream_plays_the_file_as_a_recording(
        bus: BusServer, tmp_path: Path) -> None:
    node = Node(bus.url(), "east", tmp_path / "east")
    got: list[dict] = []  # type: ignore[type-arg]
    try:
        with connect(node.url, additional_headers={"Authorization": "Bearer stream-token"}
                     ) as ws:
            ws.send(telnyx_start("s1", "call-mp3", params={"leg": "customer",
                                                           "bidirectional_mode": "mp3"}))
            _keep_what_comes_back(ws, got)
            wait_until(lambda: any(c["id"] == "call-mp3" for c in json.loads(
                run("calls", "--bus", bus.url(), "--json").stdout)))
            wav = tmp_path / "note.wav"
            write_wav(wav, tone_s(440, 16000, 3.0), 16000)
            done = run("whisper", "call-mp3", "--bus", bus.url(), "--wav", str(wav),
                       "--supervisor", "Ana")
            assert "MP3 mode" in done.stderr and "plays as a recording" in done.stderr
            media = wait_until(lambda: [m for m in got if m.get("event") == "media"])
            audio, rate = decode_mp3(base64.b64decode(media[0]["media"]["payload"]))
            assert abs(peak_frequency(audio[2000:30000], rate) - 440) < 5
            assert len(media) == 1  # 3 s is one file
            # barge is refused where the stream reaches the agent alone: one line
            barge = run("whisper", "call-mp3", "--bus", bus.url(), "--wav", str(wav),
                        "--barge", check=False)
            assert barge.returncode != 0 and barge.stderr.count("\n") == 1
    finally:
        node.stop()


def test_a_team_console_plays_a_prompt_through_the_node(bus: BusServer, tmp_path: Path) -> None:
    """The window's Prompt menu in team mode: the console sends the recording to the node
    that holds the call, which plays it as the stream takes it."""
    import asyncio

    from console.config import Settings
    from console.team.console import TeamEngine, TeamEngineThread

    node = Node(bus.url(), "east", tmp_path / "east")
    engine = TeamEngine(Settings(bus_url=bus.url(), data_dir=str(tmp_path / "console"),
                                 supervisor_name="Ana").validate())
    thread = TeamEngineThread(engine)
    got: list[dict] = []  # type: ignore[type-arg]
    try:
        thread.start(30)
        with connect(node.url, additional_headers={"Authorization": "Bearer stream-token"}
                     ) as ws:
            ws.send(telnyx_start("s1", "call-team-mp3", params={"leg": "customer",
                                                                "bidirectional_mode": "mp3"}))
            _keep_what_comes_back(ws, got)
            wait_until(lambda: "call-team-mp3" in engine.registry.calls)
            assert engine.loop is not None

            def ask(coro):  # type: ignore[no-untyped-def]
                return asyncio.run_coroutine_threadsafe(coro, engine.loop).result(30)

            route = ask(engine.play_prompt("call-team-mp3", tone_s(523, 16000, 2.0), 16000,
                                           "whisper", "note.wav", "Ana"))
            assert route.ok and route.streams == ("east",), route.reason
            media = wait_until(lambda: [m for m in got if m.get("event") == "media"])
            audio, rate = decode_mp3(base64.b64decode(media[0]["media"]["payload"]))
            assert abs(peak_frequency(audio[2000:20000], rate) - 523) < 5
            assert ask(engine.stop_prompt("call-team-mp3", "stopped", "Ana"))
            wait_until(lambda: any(m.get("event") == "clear" for m in got))
            refused = ask(engine.play_prompt("call-team-mp3", tone_s(523, 16000, 1.0), 16000,
                                             "barge", "note.wav", "Ana"))
            assert not refused.ok and "agent" in refused.reason  # reaches the agent alone
            gone = ask(engine.play_prompt("no-such-call", tone_s(523, 16000, 1.0), 16000))
            assert not gone.ok and "not live" in gone.reason
    finally:
        thread.stop()
        node.stop()
