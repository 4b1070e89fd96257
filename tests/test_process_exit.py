"""How the window and `serve` end (console/process_exit.py), in real processes: a thread
that never finishes cannot hold the exit, what was logged is not lost, and a shutdown that
hangs ends anyway with every thread's stack on stderr."""

from __future__ import annotations

import subprocess
import sys
import time

STUCK = """
import logging, sys, threading
logging.basicConfig(stream=sys.stderr, format="%(message)s")
gate = threading.Event()
threading.Thread(target=gate.wait, name="held-forever").start()  # not a daemon
logging.getLogger("x").warning("stored and closed")
print("bye", end="")  # buffered: exit_now flushes it
"""


def _run(code: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    return proc, time.monotonic() - t0


def test_exit_now_does_not_wait_for_threads_and_keeps_what_was_written() -> None:
    proc, took = _run(STUCK + "from console.process_exit import exit_now\nexit_now(3)\n")
    assert proc.returncode == 3
    assert proc.stdout == "bye"
    assert "stored and closed" in proc.stderr
    assert took < 15  # without exit_now the interpreter waits for the thread forever


def test_a_stuck_shutdown_ends_with_every_threads_stack() -> None:
    proc, took = _run(STUCK + "from console.process_exit import arm_exit_watchdog\n"
                              "arm_exit_watchdog(0.5)\n"
                              "gate.wait()\n")
    assert proc.returncode == 1
    assert "Timeout" in proc.stderr  # faulthandler's heading
    assert proc.stderr.count("Thread 0x") >= 2  # the main thread and the one holding it
    assert "gate.wait()" in proc.stderr or "in wait" in proc.stderr
    assert took < 15
