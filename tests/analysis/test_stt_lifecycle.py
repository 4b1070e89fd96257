"""Speech workers against real signals, in a real `coach-console serve` process: workers die
with their parent, and serve exits promptly on SIGTERM whatever state its workers are in."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

CLI = [sys.executable, "-m", "console"]


class Serve:
    """`coach-console serve` with transcription on; stdout read on a thread as it comes."""

    def __init__(self, data: Path, wait_banner: bool = True, transcribe: bool = True) -> None:
        env = {**os.environ, "COACH_CONSOLE_TRANSCRIBE": "1" if transcribe else "0"}
        self.proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--data-dir", str(data),
                                      "--no-auth"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.ps = psutil.Process(self.proc.pid)
        self.out: list[str] = []
        self.err: list[str] = []
        self._seen: dict[int, psutil.Process] = {}  # every child ever listed, for cleanup
        self._banner = threading.Event()
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()
        if wait_banner:
            assert self._banner.wait(30), self.text()

    def _read(self, stream, sink: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            sink.append(line)
            if line.strip().startswith("Data:"):  # the banner's last line
                self._banner.set()

    def text(self) -> str:
        return "".join(self.out) + "\n--- stderr ---\n" + "".join(self.err)

    def status(self) -> str:
        return next((ln.strip() for ln in self.out if "Transcription:" in ln), "")

    def children(self) -> list[psutil.Process]:
        try:
            found = self.ps.children(recursive=True)
        except psutil.Error:
            return []
        self._seen.update((p.pid, p) for p in found)
        return found

    def workers(self) -> list[psutil.Process]:
        return [p for p in self.children() if "spawn_main" in " ".join(p.cmdline())]

    def wait_output(self, pattern: str, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.out):
                if re.search(pattern, line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.text()}")

    def sigterm(self) -> float:
        """Seconds from SIGTERM to the process's exit (AssertionError after 10 s)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("serve did not exit within 10 s of SIGTERM:\n"
                                 + self.text()) from None
        return time.monotonic() - t0

    def kill(self) -> None:
        """Cleanup: whatever this serve started ends with the test, pass or fail."""
        self.children()
        for p in [*self._seen.values(), self.ps]:
            with contextlib.suppress(psutil.Error):
                p.kill()


def _ended(p: psutil.Process) -> bool:
    # A zombie has ended: only its exit status waits for whoever reaps it (here PID 1,
    # which may take a second or two).
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _sigterm_and_all_gone(serve: Serve) -> float:
    """SIGTERM `serve`: seconds until it exited (under 5), its children gone soon after."""
    children = serve.children()
    took = serve.sigterm()
    assert took < 5.0, took
    _, alive = _gone_within(children, 3.0)
    assert not alive, alive
    return took


def _gone_within(procs: list[psutil.Process], timeout: float) -> tuple[float, list[str]]:
    """Seconds until every process has ended, and the command lines of any still running."""
    t0 = time.monotonic()
    while not all(_ended(p) for p in procs) and time.monotonic() - t0 < timeout:
        time.sleep(0.005)
    took = time.monotonic() - t0
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if not _ended(p):
                alive.append(" ".join(p.cmdline()))
    return took, alive


def test_workers_and_resource_tracker_die_with_serve(tmp_path: Path) -> None:
    """kill -9 of serve leaves nothing behind: its speech workers (and multiprocessing's
    resource tracker) end within a few seconds instead of holding 150-200 MB each."""
    serve = Serve(tmp_path / "d")
    try:
        assert serve.status().startswith("Transcription: on: tiny.en"), serve.text()
        children = serve.children()
        assert len(serve.workers()) == 2, [p.cmdline() for p in children]
        assert any("resource_tracker" in " ".join(p.cmdline()) for p in children)
        serve.proc.kill()
        serve.proc.wait(5)
        took, alive = _gone_within(children, 5.0)
        assert not alive, alive
        print(f"children gone {took:.2f} s after kill -9 of serve")
    finally:
        serve.kill()


def test_serve_exits_on_sigterm_after_both_workers_were_killed(tmp_path: Path) -> None:
    """Both workers killed: serve says transcription is no longer on, and still exits within
    5 s of SIGTERM, leaving no process behind."""
    serve = Serve(tmp_path / "d")
    try:
        workers = serve.workers()
        assert len(workers) == 2
        for w in workers:
            w.send_signal(signal.SIGKILL)
        # Said on stdout (not only in the log), and never "on" while no worker runs.
        line = serve.wait_output(r"\d transcription ", 3.0)
        assert re.search(r"\d transcription (restarting: no speech worker running "
                         r"\(killed by SIGKILL\)|on \(degraded: 1 of 2)", line), line
        serve.wait_output(r"\d transcription restarting: ", 3.0)
        assert "killed by SIGKILL" in "".join(serve.err)  # and logged
        took = _sigterm_and_all_gone(serve)
        assert serve.proc.returncode == 0, serve.text()
        print(f"serve exited {took:.2f} s after SIGTERM, both workers killed")
    finally:
        serve.kill()


def test_serve_exits_on_sigterm_while_workers_load(tmp_path: Path) -> None:
    """SIGTERM while the speech workers are still loading their model."""
    serve = Serve(tmp_path / "d", wait_banner=False)
    try:
        end = time.monotonic() + 20
        while not serve.workers() and time.monotonic() < end:
            time.sleep(0.01)
        assert serve.workers(), serve.text()
        assert not serve.status()  # the banner (after the model loads) is not out yet
        took = _sigterm_and_all_gone(serve)
        print(f"serve exited {took:.2f} s after SIGTERM while loading")
    finally:
        serve.kill()


def test_serve_exits_on_sigterm_with_peers_that_never_close(tmp_path: Path) -> None:
    """Streams whose peer never answers the WebSocket close handshake (a frozen client)
    do not hold the exit for the close timeout."""
    serve = Serve(tmp_path / "d", transcribe=False)
    socks = []
    try:
        port = int(re.search(r":(\d+)/stream", "".join(serve.out)).group(1))  # type: ignore[union-attr]
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 101")
            socks.append(sock)  # and from now on, silence
        took = serve.sigterm()
        assert serve.proc.returncode == 0, serve.text()
        assert took < 5.0, took
        print(f"serve exited {took:.2f} s after SIGTERM, 3 silent peers")
    finally:
        for sock in socks:
            sock.close()
        serve.kill()


def test_window_exits_on_sigterm_after_both_workers_were_killed(tmp_path: Path) -> None:
    """The desktop window (offscreen) as the user runs it, transcription on."""
    env = {**os.environ, "COACH_CONSOLE_TRANSCRIBE": "1", "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([*CLI, "--data-dir", str(tmp_path / "d"), "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    ps = psutil.Process(proc.pid)
    seen: dict[int, psutil.Process] = {}

    def children() -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            seen.update((p.pid, p) for p in ps.children(recursive=True))
        return [p for p in seen.values() if not _ended(p)]

    def ready() -> list[psutil.Process]:  # workers that have loaded: they hold the model
        return [p for p in children() if "spawn_main" in " ".join(p.cmdline())
                and p.memory_info().rss > 100 << 20]

    try:
        end = time.monotonic() + 30
        while len(ready()) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        workers = ready()
        assert len(workers) == 2, [p.cmdline() for p in children()]
        for w in workers:
            w.kill()
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError("the window did not exit within 10 s of SIGTERM") from None
        took = time.monotonic() - t0
        assert took < 5.0, took
        _, alive = _gone_within(list(seen.values()), 3.0)
        assert not alive, alive
        print(f"window exited {took:.2f} s after SIGTERM, both workers killed")
    finally:
        for p in [*seen.values(), ps]:
            with contextlib.suppress(psutil.Error):
                p.kill()
