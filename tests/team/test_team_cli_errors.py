"""The team commands' one-line errors (console/team/commands.run): a connection reset that
asyncio notices after the command gave up is not printed as a second error; any other
unretrieved failure still is."""

from __future__ import annotations

import subprocess
import sys

DROP = """
import asyncio, gc
from console.team.commands import run

async def main():
    fut = asyncio.get_running_loop().create_future()
    fut.set_exception({exc})
    del fut
    gc.collect()
    return 0

raise SystemExit(run(main()))
"""


def _stderr(exc: str) -> str:
    proc = subprocess.run([sys.executable, "-c", DROP.format(exc=exc)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    return proc.stderr


def test_a_reset_connection_is_not_a_second_error() -> None:
    assert _stderr("ConnectionResetError(104, 'Connection reset by peer')") == ""


def test_other_unretrieved_failures_are_still_told() -> None:
    assert "never retrieved" in _stderr("ValueError('a bug')")
