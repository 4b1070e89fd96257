"""The command-line contract, run as a user would: real processes, real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from console.audio.codecs import ulaw_decode, ulaw_encode
from console.audio.wav import read_wav
from console.sim.dialogues import load_dialogues

CLI = [sys.executable, "-m", "console"]


def run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*CLI, "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        deadline = time.monotonic() + 20
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("serve exited: " + (self.proc.stderr.read() if
                                                         self.proc.stderr else ""))
            self.lines.append(line)
            m = re.search(r"listening on (ws://\S+)", line)
            if m:
                self.url = m.group(1)
            if line.strip().startswith("Data:"):  # the banner's last line
                return
        raise AssertionError("serve did not print its URL")

    def stop(self) -> tuple[str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err
        return "".join(self.lines) + out, err


def test_version() -> None:
    assert re.match(r"coach-console \d+\.\d+", run("--version").stdout)


def test_serve_simulate_calls_export(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    srv = Server("--data-dir", data, "--token", "s3cret", "--record")
    try:
        assert any("Stream token: s3cret" in line for line in srv.lines)
        sim = run("simulate", "--url", srv.url, "--token", "s3cret", "--calls", "2",
                  "--speed", "0", "--duration", "4", "--reorder", "0.05",
                  "--dialogue", "card-replacement-dtmf", "--json")
        summary = json.loads(sim.stdout)
        assert len(summary) == 2 and all(s["error"] is None for c in summary
                                         for s in c["streams"])
        run("simulate", "--url", srv.url, "--token", "s3cret", "--provider", "twilio",
            "--speed", "0", "--duration", "2", "--seed", "9")
        # Read while the engine still runs: the store commits as calls end.
        deadline = time.monotonic() + 10
        while True:
            calls = json.loads(run("calls", "--data-dir", data, "--json").stdout)
            if len(calls) == 3 and all(c["state"] == "ended" for c in calls):
                break
            assert time.monotonic() < deadline, calls
            time.sleep(0.2)
    finally:
        out, _err = srv.stop()
    for c in calls:
        assert {"id", "provider", "from", "to", "started_at", "ended_at", "state",
                "stream_ids"} <= set(c)
    assert calls[0]["provider"] == "twilio"  # newest first
    assert calls[0]["id"].startswith("CA") and calls[0]["stream_ids"][0].startswith("MZ")
    assert calls[0]["started_at"] >= calls[1]["started_at"] >= calls[2]["started_at"]
    assert "call started" in out and "call ended" in out and "stream closed" in out

    telnyx_id = calls[1]["id"]
    exported = json.loads(run("export", telnyx_id, "--data-dir", data, "--format",
                              "json").stdout)
    assert exported["id"] == telnyx_id and exported["segments"] == []
    assert exported["from"] == "+14155550129"
    assert exported["stream_ids"] == calls[1]["stream_ids"]
    assert exported["dtmf"] == []  # the digit comes at 28 s; only 4 s were played

    wav = tmp_path / "call.wav"
    run("export", telnyx_id, "--data-dir", data, "--format", "wav", "-o", str(wav))
    stereo, rate = read_wav(wav)
    d = next(d for d in load_dialogues() if d.name == "card-replacement-dtmf")
    n = 4 * 8000
    assert rate == 8000 and stereo.shape == (n, 2)
    assert np.array_equal(stereo[:, 0], ulaw_decode(ulaw_encode(d.customer[:n])))
    assert np.array_equal(stereo[:, 1], ulaw_decode(ulaw_encode(d.agent[:n])))

    outdir = tmp_path / "all"
    run("export", "--all", "--data-dir", data, "--format", "json", "-o", str(outdir))
    assert len(list(outdir.glob("*.json"))) == 3
    run("export", "--all", "--data-dir", data, "--format", "wav", "-o", str(outdir))
    assert len(list(outdir.glob("*.wav"))) == 3


def test_dtmf_lands_in_export(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    srv = Server("--data-dir", data, "--no-auth")
    try:
        assert any("WARNING" in line and "no-auth" in line for line in srv.lines)
        run("simulate", "--url", srv.url, "--speed", "0", "--dialogue",
            "card-replacement-dtmf")
    finally:
        srv.stop()
    call = json.loads(run("calls", "--data-dir", data, "--json").stdout)[0]
    exported = json.loads(run("export", call["id"], "--data-dir", data, "--format",
                              "json").stdout)
    assert [d["digit"] for d in exported["dtmf"]] == ["1"]
    script = next(d for d in load_dialogues() if d.name == "card-replacement-dtmf")
    assert exported["dtmf"][0]["at_s"] == pytest.approx(script.dtmf[0]["at_s"], abs=0.1)
    # Not recorded: WAV export explains how to get audio next time.
    wav = run("export", call["id"], "--data-dir", data, "--format", "wav", "-o",
              str(tmp_path / "x.wav"), check=False)
    assert wav.returncode == 1 and "--record" in wav.stderr


def test_errors_are_clear(tmp_path: Path) -> None:
    data = str(tmp_path / "empty")
    r = run("calls", "--data-dir", data, check=False)
    assert r.returncode != 0 and "no calls yet" in r.stderr
    srv = Server("--data-dir", data, "--token", "t")
    try:
        second = run("serve", "--port", "0", "--data-dir", data, "--token", "t", check=False,
                     timeout=20)
        assert second.returncode != 0 and "already using" in second.stderr
        bad = run("simulate", "--url", srv.url, "--token", "wrong", "--duration", "1",
                  "--speed", "0", check=False)
        assert bad.returncode == 1 and "403" in bad.stderr
    finally:
        srv.stop()
    r = run("export", "nope", "--data-dir", data, "--format", "json", check=False)
    assert r.returncode == 1 and "no call 'nope'" in r.stderr


def test_token_is_generated_once_and_kept(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    first = Server("--data-dir", data)
    first.stop()
    token1 = next(line for line in first.lines if "Stream token" in line).split()[-1]
    second = Server("--data-dir", data)
    second.stop()
    token2 = next(line for line in second.lines if "Stream token" in line).split()[-1]
    assert token1 == token2 and len(token1) >= 24
    config = Path(os.environ["COACH_CONSOLE_CONFIG"])
    assert token1 in config.read_text()
    assert config.stat().st_mode & 0o077 == 0


def test_serve_with_transcription_as_a_module(tmp_path: Path) -> None:
    """`python -m console serve` with speech recognition on: its worker processes start and
    the banner says so."""
    env = {**os.environ, "COACH_CONSOLE_TRANSCRIBE": "1"}
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
                             "--no-auth"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    status = ""
    for line in proc.stdout:
        if "Transcription:" in line:
            status = line.strip()
        if line.strip().startswith("Data:"):
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert status.startswith("Transcription: on: tiny.en"), (status, err[-2000:])
    assert proc.returncode == 0
