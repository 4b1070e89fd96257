"""Long-running tasks of team mode that must not die unnoticed: an exception is logged with
its traceback and the task starts again after a short pause."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["supervised"]

log = logging.getLogger("console.team")


def supervised(name: str, factory: Callable[[], Awaitable[Any]],
               pause_s: float = 1.0) -> asyncio.Task[None]:
    async def keep() -> None:
        while True:
            try:
                await factory()
                return  # finished by design
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("team task %s failed; starting it again", name)
                await asyncio.sleep(pause_s)

    return asyncio.get_running_loop().create_task(keep(), name=name)
