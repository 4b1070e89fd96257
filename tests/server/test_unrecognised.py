"""A socket whose first frames are no known platform's is closed with the reason, logged
once and counted; it never sits open with no call."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from support import running_engine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def _send_until_closed(url: str, frames: list[str]) -> tuple[int | None, str]:
    async with connect(url, additional_headers={"Authorization": "Bearer test-token"}) as ws:
        try:
            for frame in frames:
                await ws.send(frame)
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.close_code, ws.close_reason or ""


@pytest.mark.parametrize("frames", [
    [orjson.dumps({"event": "start", "start": {"unknown": "platform"}}).decode()],
    [orjson.dumps({"event": "connected"}).decode(),  # says nothing yet: waits
     orjson.dumps({"event": "hello", "session": "x"}).decode()],
])
async def test_unknown_platform_is_closed_logged_once_and_counted(settings, caplog, frames
                                                                  ) -> None:
    caplog.set_level(logging.WARNING, "console")
    async with running_engine(settings) as engine:
        code, reason = await _send_until_closed(engine.url, frames)
        assert code == 1003
        assert reason.startswith("unrecognised media stream")
        assert engine.stats().unrecognised == 1
        assert not engine.registry.calls
        lines = [r.getMessage() for r in caplog.records if "not a media stream" in
                 r.getMessage()]
        assert len(lines) == 1 and "telnyx, twilio" in lines[0]
        # the console goes on: a real stream right after is taken
        from helpers import telnyx_start
        async with connect(engine.url, additional_headers={
                "Authorization": "Bearer test-token"}) as ws:
            await ws.send(telnyx_start("s1", "call-1"))
            for _ in range(50):
                if engine.registry.calls:
                    break
                await asyncio.sleep(0.05)
        assert "call-1" in engine.registry.calls
