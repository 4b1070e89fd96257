"""The command line against the team's bus: `calls`, `export`, `listen`, `whisper` with
--bus, and `bus` itself. Each returns an exit code; any failure is one line on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from console.config import Settings
from console.team import wire
from console.team.link import BusError, BusOptions, connect, ensure_layout
from console.team.subjects import CALLS_BUCKET, FACTS_STREAM, Subjects, token

__all__ = ["CommandError", "run"]

NODE_STALE_S = 10.0  # a node silent this long: its live calls count as interrupted
FRAME_S = 0.02


class CommandError(RuntimeError):
    """The one-line reason a command failed."""


def run(coro: Any) -> int:
    try:
        return int(asyncio.run(_one_line_errors(coro)))
    except (CommandError, BusError) as exc:
        print(f"coach-console: {exc}", file=sys.stderr)
        return 1


async def _one_line_errors(coro: Any) -> Any:
    """A bus that refuses or drops the connection is told in one line (above); the socket's
    own reset, noticed by asyncio after the client gave up on it, is not told again."""
    loop = asyncio.get_running_loop()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), ConnectionError) and \
                "never retrieved" in str(context.get("message", "")):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return await coro


class _Session:
    def __init__(self, settings: Settings) -> None:
        self.opts = BusOptions.from_settings(settings)
        self.subjects = Subjects(self.opts.team)
        self.settings = settings
        self.nc: Any = None
        self.js: Any = None

    async def __aenter__(self) -> _Session:
        self.nc = await connect(self.opts, "coach-console cli", timeout=5.0)
        self.js = self.nc.jetstream()
        await ensure_layout(self.js)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.nc.close()

    async def summaries(self) -> list[dict[str, Any]]:
        from console.team.summaries import read_nodes, read_summaries

        kv = await self.js.key_value(CALLS_BUCKET)
        calls = await read_summaries(kv, self.opts.team)
        nodes = await read_nodes(self.js)
        now = time.time()
        for c in calls:
            node = nodes.get(c.get("node", ""), {})
            at = node.get("at", 0)
            gone = node.get("stopped") or type(at) not in (int, float) \
                or now - at > NODE_STALE_S
            if c.get("state") == "active" and gone:
                c["state"] = "interrupted"  # its node went away without saying so
        return calls

    async def find(self, ident: str) -> dict[str, Any]:
        calls = await self.summaries()
        exact = [c for c in calls if c["id"] == ident]
        found = exact or [c for c in calls if c["id"].startswith(ident)
                          or ident in c.get("stream_ids", [])]
        if not found:
            raise CommandError(f"no call {ident!r} on the team bus (see `coach-console calls "
                               f"--bus URL`)")
        if len(found) > 1:
            raise CommandError(f"{ident!r} matches {len(found)} calls; give more of the id")
        return found[0]

    async def live(self, ident: str) -> dict[str, Any]:
        call = await self.find(ident)
        if call.get("state") != "active":
            raise CommandError(f"call {call['id']} is not live ({call.get('state')})")
        return call

    async def request(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        payload = {"console": f"cli-{id(self):x}", "supervisor": self.settings.supervisor(),
                   **payload}
        subject = (self.subjects.prompt(node) if payload.get("action") == "prompt"
                   else self.subjects.command(node))
        try:
            msg = await self.nc.request(subject, orjson.dumps(payload), timeout=5.0)
        except Exception as exc:
            raise CommandError(f"node {node} did not answer ({type(exc).__name__})") from None
        answer = orjson.loads(msg.data)
        if not isinstance(answer, dict):
            raise CommandError(f"node {node} sent a bad answer")
        return answer


def _iso(ts: Any) -> str | None:
    if not isinstance(ts, int | float):
        return None
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="milliseconds")


async def calls(settings: Settings, as_json: bool, since: float | None, until: float | None,
                limit: int | None) -> int:
    async with _Session(settings) as s:
        found = await s.summaries()
    found = [c for c in found if (since is None or c.get("started_at", 0) >= since)
             and (until is None or c.get("started_at", 0) < until)]
    found.sort(key=lambda c: c.get("started_at") or 0, reverse=True)
    if limit:
        found = found[:limit]
    out = []
    for c in found:
        ended = c.get("ended_at")
        started = c.get("started_at")
        out.append({
            "id": c["id"], "node": c.get("node", ""), "provider": c.get("provider"),
            "from": c.get("from"), "to": c.get("to"), "started_at": _iso(started),
            "ended_at": _iso(ended), "state": c.get("state"),
            "duration_s": round(ended - started, 3) if isinstance(ended, int | float)
            and isinstance(started, int | float) else None,
            "stream_ids": c.get("stream_ids", []), "codec": c.get("codec")})
    if as_json:
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not out:
        print("no calls")
        return 0
    print(f"{'STARTED':<20} {'STATE':<11} {'DUR':>7} {'NODE':<12} {'FROM':<16} ID")
    for c in out:
        dur = f"{c['duration_s']:.0f}s" if c["duration_s"] is not None else "live"
        print(f"{(c['started_at'] or '')[:19].replace('T', ' '):<20} {c['state']:<11} "
              f"{dur:>7} {c['node']:<12} {c['from'] or '-':<16} {c['id']}")
    return 0


async def export(settings: Settings, ident: str, fmt: str, output: str | None) -> int:
    async with _Session(settings) as s:
        call = await s.find(ident)
        if fmt == "wav":
            data = await _audio(s, call)
            target = Path(output or f"{token(call['id'])}.wav")
            _write(target, data)
            print(f"wrote {target}", file=sys.stderr)
            return 0
        text = await _render(s, call["id"], fmt)
    if output is None or output == "-":
        sys.stdout.write(text)
        return 0
    _write(Path(output), text.encode())
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _write(target: Path, data: bytes) -> None:
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None


async def _audio(s: _Session, call: dict[str, Any]) -> bytes:
    from console.store.export_wav import NotRecorded
    from console.team.recordings import fetch_recording

    try:
        return await fetch_recording(s.js, call["id"], call.get("state") == "active")
    except NotRecorded as exc:
        raise CommandError(str(exc)) from None


async def _render(s: _Session, call_id: str, fmt: str) -> str:
    """The call's facts replayed from the team's log into a scratch store, then exported
    exactly as a console's own store would be."""
    from nats.js.api import DeliverPolicy

    from console.store.db import connect as db_connect
    from console.store.db import db_path
    from console.store.exports import render
    from console.store.queries import call_detail
    from console.store.writer import StoreWriter
    from console.team.schema import BadFact, decode

    with tempfile.TemporaryDirectory(prefix="coach-export-") as tmp:
        writer = StoreWriter(Path(tmp), record=False)
        sub = await s.js.subscribe(s.subjects.call_facts(call_id), ordered_consumer=True,
                                   deliver_policy=DeliverPolicy.ALL, stream=FACTS_STREAM)
        seen: dict[tuple[str, str], int] = {}
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    break
                with contextlib.suppress(BadFact):
                    fact = decode(msg.data)
                    if seen.get((fact.node, fact.run), 0) < fact.n:
                        seen[(fact.node, fact.run)] = fact.n
                        writer.on_event(fact.event)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        await asyncio.get_running_loop().run_in_executor(None, writer.close)
        conn = db_connect(db_path(tmp), readonly=True)
        try:
            return render(call_detail(conn, call_id), fmt)
        finally:
            conn.close()


async def _as_prompt(s: _Session, node: str, call_id: str, mode: str, pcm: np.ndarray,
                     rate: int, name: str) -> int:
    import base64

    from console.team.wire import prompt_mp3

    try:
        data = prompt_mp3(pcm, rate, name)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    answer = await s.request(node, {"action": "prompt", "call_id": call_id, "mode": mode,
                                    "name": name, "mp3": base64.b64encode(data).decode()})
    if not answer.get("ok"):
        raise CommandError(str(answer.get("reason", "refused")))
    print(f"{mode}: the stream is in MP3 mode, so {name} ({pcm.size / rate:.1f} s) plays as "
          f"a recording on call {call_id} (node {node}): {answer.get('route', '')}",
          file=sys.stderr)
    return 0


async def listen(settings: Settings, ident: str, seconds: float, output: str) -> int:
    from console.audio.codecs import resample
    from console.audio.wav import write_wav

    if not 0 < seconds <= 3600:
        raise CommandError("--seconds must be between 0 and 3600")
    async with _Session(settings) as s:
        call = await s.live(ident)
        node, call_id = call["node"], call["id"]
        parts: dict[str, list[tuple[int, np.ndarray]]] = {}
        rates: dict[str, int] = {}

        async def on_audio(msg: Any) -> None:
            with contextlib.suppress(wire.BadAudio):
                header, pcm = wire.unpack(msg.data)
                key = wire.text(header, "k")
                pos = wire.whole(header, "pos")
                rates[key] = header["rate"]
                parts.setdefault(key, []).append((pos, pcm.copy()))

        sub = await s.nc.subscribe(s.subjects.audio(node, call_id), cb=on_audio)
        answer = await s.request(node, {"action": "listen", "call_id": call_id})
        if not answer.get("ok"):
            raise CommandError(str(answer.get("reason", "refused")))
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(2.0, left))
            if end - loop.time() > 0:
                await s.request(node, {"action": "listen", "call_id": call_id})
        await sub.unsubscribe()
        with contextlib.suppress(CommandError):
            await s.request(node, {"action": "listen_off", "call_id": call_id,
                                   "why": "listen command finished"})
    rate = max(rates.values(), default=8000)
    length = int(seconds * rate)
    mix = np.zeros(length, np.float32)
    for key, pieces in parts.items():
        first = min(p for p, _ in pieces)
        track = np.zeros(int(seconds * rates[key]) + rates[key], np.float32)
        for pos, pcm in pieces:
            at = pos - first
            if at >= track.size:
                continue
            n = min(pcm.size, track.size - at)
            track[at:at + n] = pcm[:n]
        if rates[key] != rate:
            track = resample(track.astype(np.int16), rates[key], rate).astype(np.float32)
        n = min(length, track.size)
        mix[:n] += track[:n]
    write_wav(output, np.clip(mix, -32768, 32767).astype(np.int16), rate)
    heard = sum(p.size for pieces in parts.values() for _, p in pieces)
    print(f"wrote {output}: {seconds:g} s of call {call_id} from node {node} "
          f"({len(parts)} tracks, {heard} samples heard)", file=sys.stderr)
    return 0


async def whisper(settings: Settings, ident: str, wav: str, barge: bool) -> int:
    from console.audio.codecs import resample
    from console.audio.sound_file import SoundFileError, read_sound

    try:
        pcm, rate = read_sound(wav)
    except SoundFileError as exc:
        raise CommandError(str(exc)) from None
    if rate not in wire.RATES:
        pcm, rate = resample(pcm, rate, 16000), 16000
    mode = "barge" if barge else "whisper"
    async with _Session(settings) as s:
        call = await s.live(ident)
        node, call_id = call["node"], call["id"]
        answer = await s.request(node, {"action": mode, "call_id": call_id, "rate": rate})
        if not answer.get("ok") and "MP3 mode" in str(answer.get("reason", "")):
            # The stream takes whole recordings, not a live voice: the file goes as one.
            return await _as_prompt(s, node, call_id, mode, pcm, rate, Path(wav).name)
        if not answer.get("ok"):
            raise CommandError(str(answer.get("reason", "refused")))
        console = f"cli-{id(s):x}"
        subject = s.subjects.talk(node, call_id)
        step = int(rate * FRAME_S)
        loop = asyncio.get_running_loop()
        start = loop.time()
        renewed = start
        sent = 0
        for i, at in enumerate(range(0, pcm.size, step)):
            due = start + i * FRAME_S
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            frame = pcm[at:at + step]
            await s.nc.publish(subject, wire.pack(
                {"call": call_id, "console": console, "rate": rate, "seq": i,
                 "sent": time.time()}, frame))
            sent += 1
            if loop.time() - renewed > 2.0:
                renewed = loop.time()
                await s.request(node, {"action": "talk_renew", "call_id": call_id,
                                       "console": console})
        await s.nc.flush()
        await asyncio.sleep(0.1)
        await s.request(node, {"action": "talk_off", "call_id": call_id, "console": console,
                               "why": "the file ended"})
    print(f"{mode}: sent {sent} frames ({pcm.size / rate:.1f} s) to call {call_id} on node "
          f"{node}: {answer.get('route', '')}", file=sys.stderr)
    return 0
