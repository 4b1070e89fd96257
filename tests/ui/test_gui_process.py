"""`coach-console --demo` as a process: it streams its own demo calls, and SIGTERM closes it
cleanly with the calls it cut short marked interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def test_demo_window_runs_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-m", "console", "--demo", "--port", "0",
                             "--data-dir", str(data)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = data / "coach-console.db"
    deadline = time.monotonic() + 20
    calls: list = []
    while time.monotonic() < deadline:
        if db.exists():
            out = subprocess.run([sys.executable, "-m", "console", "calls", "--data-dir",
                                  str(data), "--json"], capture_output=True, text=True, env=env)
            if out.returncode == 0:
                calls = json.loads(out.stdout)
                if len(calls) >= 2:
                    break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(calls) >= 2
    after = json.loads(subprocess.run(
        [sys.executable, "-m", "console", "calls", "--data-dir", str(data), "--json"],
        capture_output=True, text=True, env=env, check=True).stdout)
    assert after and all(c["state"] in ("ended", "interrupted") for c in after)
    assert any(c["state"] == "interrupted" for c in after)


@pytest.mark.parametrize("last", ["closed", "open"])
def test_closing_after_settings_exits_cleanly(tmp_path: Path, last: str) -> None:
    """Issue 12: closing the app after opening Settings aborted it (a dialog owned both by
    Python and by the window, deleted twice at exit). Settings is opened five times, the
    last one cancelled or left open; closing the window must end the process with 0."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    driver = Path(__file__).with_name("gui_driver.py")
    proc = subprocess.run(
        [sys.executable, str(driver), "5", last, "--port", "0",
         "--data-dir", str(tmp_path / "data")],
        env=env, capture_output=True, text=True, timeout=60)
    assert "settings shown 5" in proc.stdout, (proc.stdout, proc.stderr)
    for sign in ("QObject", "malloc", "Segmentation", "Aborted", "Traceback"):
        assert sign not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
