"""Team mode as a supervisor sees it: a real bus, two ingest nodes with demo calls, and the
console window on the bus. Saves docs/screenshots/team.png (run under Xvfb: scripts/screenshot
has the set-up; `xvfb-run -a .venv/bin/python scripts/screenshot-team.py`)."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from console import APP_ID
from console.config import Settings
from console.team.busserver import BusServer
from console.ui.app import Console
from console.ui.theme import app_icon, apply_theme

CLI = [sys.executable, "-m", "console"]


def node(bus_url: str, name: str, data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "COACH_CONSOLE_CONFIG": str(data / "config.toml")}
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--data-dir", str(data), "--token",
                             "demo", "--bus", bus_url, "--node", name], text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        m = re.search(r"listening on (ws://\S+)", line)
        url = m.group(1) if m else url
        if line.strip().startswith("Team bus:"):
            return proc, url
    raise SystemExit(f"node {name} did not start")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--wait", type=float, default=25.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    bus = BusServer(tmp / "bus", port=14999, host="127.0.0.1", token="demo-bus")
    bus.start()
    procs = []
    try:
        for name, calls, seed in (("east-1", "3", "7"), ("west-1", "2", "8")):
            proc, url = node(bus.url(), name, tmp / name)
            procs.append(proc)
            procs.append(subprocess.Popen([*CLI, "simulate", "--url", url, "--token", "demo",
                                           "--calls", calls, "--seed", seed, "--stagger", "2"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        QApplication.setDesktopFileName(APP_ID)
        app = QApplication(sys.argv)
        app.setWindowIcon(app_icon())
        apply_theme(app, "dark")
        console = Console(app, Settings(bus_url=bus.url(), data_dir=str(tmp / "console"),
                                        supervisor_name="Ana Silva").validate())
        w = console.window
        w.resize(1600, 960)
        w.show()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)

        def shoot() -> None:
            if w.wall.tiles:
                w.wall.select(next(iter(w.wall.tiles)))
            QTimer.singleShot(1500, lambda: (w.grab().save(str(out / "team.png")),
                                             print(f"wrote {out / 'team.png'}"), app.quit()))

        QTimer.singleShot(int(args.wait * 1000), shoot)
        app.exec()
        console.shutdown()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        bus.stop()
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
