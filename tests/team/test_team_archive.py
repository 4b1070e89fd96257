"""`coach-console archive`: the team's history in one ordinary store, kept from the bus's
log; it resumes where it stopped, and it is read with calls/export --data-dir."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from team_support import CLI, Node, run, simulate, wait_until

from console.team.busserver import BusServer


def _archive(url: str, data: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*CLI, "archive", "--bus", url, "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("Store:"):
            return proc
    raise AssertionError("archive did not start: " + (proc.stderr.read() if proc.stderr
                                                      else ""))


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    return out


def _local(data: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(run("calls", "--data-dir", str(data), "--json").stdout)


def test_archive_keeps_the_team_history_and_resumes(bus: BusServer, tmp_path: Path) -> None:
    store = tmp_path / "archive"
    node = Node(bus.url(), "east", tmp_path / "east")
    arch = _archive(bus.url(), store)
    try:
        simulate(node.url, "--calls", "2", "--duration", "3", "--speed", "0", "--seed", "71",
                 wait=True)
        calls = wait_until(lambda: [c for c in _local(store) if c["state"] == "ended"]
                           if len(_local(store)) == 2 else None)
        assert {c["node"] for c in calls} == {"east"}
        # one writer per store: a second archive on the folder is refused in one line
        second = run("archive", "--bus", bus.url(), "--data-dir", str(store), check=False)
        assert second.returncode != 0 and "already using" in second.stderr
        _stop(arch)
        # calls made while the archive is stopped are caught up when it starts again
        simulate(node.url, "--calls", "1", "--duration", "3", "--speed", "0", "--seed", "72",
                 wait=True)
        arch = _archive(bus.url(), store)
        calls = wait_until(lambda: [c for c in _local(store) if c["state"] == "ended"]
                           if len(_local(store)) == 3 else None)
        node.kill()  # the node is gone: its calls are still here
        for call in calls:
            detail = json.loads(run("export", call["id"], "--data-dir", str(store),
                                    "--format", "json").stdout)
            assert detail["node"] == "east" and detail["streams"], detail
            # every stream once: the catch-up did not store anything twice
            assert len(detail["streams"]) == len({s["uid"] for s in detail["streams"]})
    finally:
        if arch.poll() is None:
            _stop(arch)
        if node.proc.poll() is None:
            node.stop()
