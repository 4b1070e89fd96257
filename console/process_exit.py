"""How the long-running commands (the window, `serve`) end: once their own work is done
(calls ended, the store closed, output flushed), the process ends at once. Threads owned by
native libraries (BLAS, the tokenizer, speech and embedding models) are not waited for at
interpreter exit: one caught mid-computation could otherwise hold the exit indefinitely.
A shutdown that itself hangs is cut short by a watchdog that first prints every thread's
stack, so the cause is on record."""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
from typing import NoReturn

__all__ = ["arm_exit_watchdog", "exit_now"]


def arm_exit_watchdog(seconds: float) -> None:
    """After `seconds` still running: every thread's stack to stderr, then exit code 1.
    Runs on its own native thread, so it fires even if Python code is stuck."""
    with contextlib.suppress(ValueError, OSError, RuntimeError):  # stderr closed or not a file
        faulthandler.dump_traceback_later(seconds, exit=True, file=sys.stderr)


def exit_now(code: int) -> NoReturn:
    with contextlib.suppress(Exception):
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
