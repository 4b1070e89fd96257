"""A virtual sound card for the tests: a private PulseAudio server with two null sinks, one
for the speakers (recorded through its monitor) and one whose monitor is the microphone.

Started once per test session (conftest's pytest_configure), before anything loads
PortAudio, so that ALSA's default device is this server (ENVIRONMENT.md, Sound without a
sound card)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

SPEAKERS = "coach_speakers"
MIC = "coach_mic"
RATE = 48000

_card: VirtualSoundCard | None = None


class SoundCardMissing(RuntimeError):
    pass


class VirtualSoundCard:
    def __init__(self) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="coach-pulse-"))
        self.runtime.chmod(0o700)
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime)}
        self.error: str | None = None
        self._keepalive: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        missing = [t for t in ("pulseaudio", "pactl", "pacat", "parec") if not shutil.which(t)]
        if missing:
            self.error = (f"the virtual sound card needs {', '.join(missing)}: install "
                          "pulseaudio and pulseaudio-utils (scripts/setup does)")
            return
        cmd = ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1",
               "--disallow-exit", "--log-target=stderr", "--log-level=error",
               "-L", "module-native-protocol-unix",
               "-L", f"module-null-sink sink_name={SPEAKERS} rate={RATE} channels=2",
               "-L", f"module-null-sink sink_name={MIC} rate={RATE} channels=1"]
        done = subprocess.run(cmd, env=self.env, capture_output=True, timeout=20)
        if done.returncode != 0:
            self.error = f"pulseaudio did not start: {done.stderr.decode(errors='replace')}"
            return
        for args in (["set-default-sink", SPEAKERS], ["set-default-source", f"{MIC}.monitor"]):
            subprocess.run(["pactl", *args], env=self.env, check=True, timeout=10)
        # Without a reader on each monitor the first capture callback comes a second late.
        for source in (f"{SPEAKERS}.monitor", f"{MIC}.monitor"):
            self._keepalive.append(subprocess.Popen(
                ["pacat", "--record", "--latency-msec=20", "-d", source],
                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        os.environ["XDG_RUNTIME_DIR"] = str(self.runtime)
        self._warm_up()

    def _warm_up(self) -> None:
        """A fresh server stalls its first streams for a second or two: play short bursts
        until one plays in about real time."""
        silence = bytes(RATE // 10 * 2)  # 100 ms
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            subprocess.run(["pacat", "-d", MIC, "--format=s16le", f"--rate={RATE}",
                            "--channels=1"], input=silence, env=self.env, timeout=10,
                           capture_output=True)
            if time.monotonic() - t0 < 0.3:
                return
        self.error = "the virtual sound card never started playing in real time"

    def require(self) -> None:
        if self.error:
            raise SoundCardMissing(self.error)

    def stop(self) -> None:
        for p in self._keepalive:
            p.terminate()
        if not self.error:
            subprocess.run(["pulseaudio", "--kill"], env=self.env, timeout=10,
                           capture_output=True)
        shutil.rmtree(self.runtime, ignore_errors=True)

    # --- playing and recording ------------------------------------------------------------

    def record_speakers(self) -> Recording:
        return Recording(self.env)

    def play_into_mic(self, pcm: npt.NDArray[np.int16]) -> subprocess.Popen[bytes]:
        """Plays mono int16 at 48 kHz into the microphone sink (returns at once)."""
        p = subprocess.Popen(["pacat", "-d", MIC, "--format=s16le", f"--rate={RATE}",
                              "--channels=1", "--latency-msec=20"],
                             stdin=subprocess.PIPE, env=self.env)
        data = pcm.astype("<i2").tobytes()

        def feed() -> None:  # pacat takes it in real time: never block the caller's loop
            assert p.stdin is not None
            try:
                p.stdin.write(data)
                p.stdin.close()
            except (BrokenPipeError, ValueError):
                pass

        threading.Thread(target=feed, daemon=True).start()
        return p


class Recording:
    """What reaches a sink (the speakers unless told) from now until `stop()`: stereo int16
    at 48 kHz."""

    def __init__(self, env: dict[str, str], sink: str = SPEAKERS) -> None:
        self._p = subprocess.Popen(["parec", "-d", f"{sink}.monitor", "--format=s16le",
                                    f"--rate={RATE}", "--channels=2", "--latency-msec=20"],
                                   stdout=subprocess.PIPE, env=env)
        self._chunks: list[bytes] = []
        # Read as it comes: a full pipe would stall parec and lose what follows.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._p.stdout is not None
        while chunk := self._p.stdout.read1(65536):
            self._chunks.append(chunk)

    def peak(self) -> int:
        """The loudest sample heard so far."""
        out = b"".join(self._chunks)
        pcm = np.frombuffer(out[: len(out) - len(out) % 2], "<i2")
        return int(np.abs(pcm.astype(np.int32)).max()) if pcm.size else 0

    def stop(self) -> npt.NDArray[np.int16]:
        self._p.terminate()
        self._p.wait(timeout=10)
        self._reader.join(timeout=10)
        out = b"".join(self._chunks)
        usable = len(out) - len(out) % 4
        return np.frombuffer(out[:usable], "<i2").reshape(-1, 2).astype(np.int16)


def start() -> VirtualSoundCard:
    global _card
    if _card is None:
        _card = VirtualSoundCard()
        _card.start()
    return _card


def card() -> VirtualSoundCard:
    c = start()
    c.require()
    return c


def stop() -> None:
    global _card
    if _card is not None:
        _card.stop()
        _card = None
