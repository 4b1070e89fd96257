"""Secrets never reach a log: `coach-console -v serve` run as a real process, streams opened
with the token in every place a provider may put it, and its output searched."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import telnyx_start, telnyx_stop
from websockets.asyncio.client import connect

from console.protocol.twilio import signature

TOKEN = "Zq7-unguessable-stream-token-Kp2"
NEAR_MISS = "Zq7-old-stream-token-Kp2"  # a wrong token is someone's secret too
TWILIO_TOKEN = "tw-auth-9f8e7d6c5b4a"
PUBLIC_URL = "wss://console.example.com/twilio/media"


def _start_serve(tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "-v", "serve", "--port", "0", "--no-transcribe",
         "--data-dir", str(tmp_path / "data"), "--token", TOKEN,
         "--twilio-auth-token", TWILIO_TOKEN, "--public-url", PUBLIC_URL],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    url = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError("serve exited: " + (proc.stderr.read() if proc.stderr else ""))
        lines.append(line)
        if m := re.search(r"listening on (ws://\S+)", line):
            url = m.group(1)
        if line.strip().startswith("Data:"):  # the banner's last line
            return proc, url, "".join(lines)
    proc.kill()
    raise AssertionError("serve did not print its banner: " + "".join(lines))


async def _stream(url: str, sid: str, headers: dict[str, str]) -> None:
    """One short stream: connect, start, stop; raises if the handshake is refused."""
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        await ws.send(telnyx_start(sid, f"call-{sid}"))
        await ws.send(telnyx_stop(sid))


async def _refused(url: str, headers: dict[str, str]) -> None:
    try:
        async with connect(url, additional_headers=headers, open_timeout=10):
            raise AssertionError("a wrong token was accepted")
    except Exception as exc:  # InvalidStatus 403
        assert "403" in str(exc), exc


async def _traffic(base: str) -> None:
    await _stream(base + "/stream", "hdr", {"x-telnyx-streaming-auth-token": TOKEN})
    await _stream(base + f"/stream?token={TOKEN}", "query", {})
    await _stream(base + "/stream", "bearer", {"Authorization": f"Bearer {TOKEN}"})
    signed = base + "/twilio/media"
    await _stream(signed, "twilio", {"X-Twilio-Signature": signature(TWILIO_TOKEN, PUBLIC_URL)})
    await _refused(base + f"/stream?token={NEAR_MISS}", {})
    await _refused(base + "/stream", {"x-telnyx-streaming-auth-token": NEAR_MISS})
    await _refused(base + "/stream", {"Authorization": f"Bearer {NEAR_MISS}"})


def test_verbose_serve_never_logs_a_secret(tmp_path: Path) -> None:
    proc, url, banner = _start_serve(tmp_path)
    try:
        base = url.rsplit("/", 1)[0]
        asyncio.run(_traffic(base))
        time.sleep(0.5)  # let the last stream's lines be written
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        out = banner + out
    assert proc.returncode == 0, err
    # The streams really were accepted (and logged in detail: -v is on).
    for sid in ("hdr", "query", "bearer", "twilio"):
        assert f"stream open   {sid}" in out, out
    assert "< GET /stream?token=***" in err and "< x-telnyx-streaming-auth-token: ***" in err
    assert "< Authorization: ***" in err and "< X-Twilio-Signature: ***" in err
    assert err.count("HTTP 403") == 3
    # The banner shows the operator the stream token once on stdout, by design (the way to
    # learn it on a headless box); nowhere else, and never in the log on stderr.
    assert [line for line in out.splitlines() if TOKEN in line] == [
        f"  Stream token: {TOKEN}"]
    for secret in (TOKEN, NEAR_MISS, TWILIO_TOKEN, signature(TWILIO_TOKEN, PUBLIC_URL)):
        assert secret not in err
    for secret in (NEAR_MISS, TWILIO_TOKEN, signature(TWILIO_TOKEN, PUBLIC_URL)):
        assert secret not in out


def test_masking_covers_every_way_a_secret_is_written() -> None:
    from console.server import logmask

    logmask.protect_secrets("configured-secret-value", "abc")  # too short to mask by value
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test.logmask")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("< GET /media?a=1&token=%s&auth_token=x2&sig=s3 HTTP/1.1", "q1")
        logger.debug("< %s: %s", "x-telnyx-streaming-auth-token", "h1")
        logger.debug("< %s: %s", "Authorization", "Bearer b1 b2")
        logger.debug("headers %s", {"X-Twilio-Signature": "s1=", "host": "example.com"})
        logger.info("the configured-secret-value and abc")
        try:
            raise ValueError("bad value configured-secret-value")
        except ValueError:
            logger.exception("failed on /x?token=%s", "q2")
        logger.warning("%s %s", "only one arg")  # a broken call still logs, masked
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    for secret in ("q1", "x2", "s3", "h1", "b1", "b2", "s1=", "configured-secret-value", "q2"):
        assert secret not in text, (secret, text)
    assert "token=***&auth_token=***&sig=***" in text and "example.com" in text
    assert "and abc" in text and "ValueError: bad value ***" in text
    assert "only one arg" in text
