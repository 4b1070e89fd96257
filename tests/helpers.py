"""Small helpers for the integration tests."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from console.audio.codecs import ulaw_encode


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def tone(n: int, freq: float = 440.0, rate: int = 8000, amp: int = 8000,
         phase: int = 0) -> np.ndarray:
    t = (np.arange(n) + phase) / rate
    return (np.sin(2 * np.pi * freq * t) * amp).astype(np.int16)


def tone_s(freq: float, rate: int, seconds: float, amplitude: float = 8000,
           phase: float = 0.0) -> np.ndarray:
    """`seconds` of a sine as int16 (rounded, not truncated), starting at `phase` radians."""
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.int16)


def peak_frequency(pcm: np.ndarray, rate: int) -> float:
    """The strongest frequency in `pcm` (Hann window; resolution rate / pcm.size)."""
    x = pcm.astype(np.float64) * np.hanning(pcm.size)
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.argmax(spectrum) * rate / pcm.size)


def telnyx_start(stream_id: str, session: str, encoding: str = "PCMU", rate: int = 8000,
                 params: dict[str, str] | None = None, **start: Any) -> str:
    body = {"call_control_id": f"v3:{stream_id}", "call_session_id": session,
            "from": "+15550001111", "to": "+15550002222",
            "media_format": {"encoding": encoding, "sample_rate": rate, "channels": 1},
            "custom_parameters": params or {}}
    body.update(start)
    return json.dumps({"event": "start", "sequence_number": "1", "stream_id": stream_id,
                       "start": body})


def telnyx_media(stream_id: str, track: str, chunk: int, payload: bytes,
                 timestamp: int | None = None) -> str:
    media = {"track": track, "chunk": str(chunk),
             "timestamp": str((chunk - 1) * 20 if timestamp is None else timestamp),
             "payload": base64.b64encode(payload).decode()}
    return json.dumps({"event": "media", "sequence_number": str(chunk + 1),
                       "stream_id": stream_id, "media": media})


def pcmu_frames(signal: np.ndarray, frame: int = 160) -> list[bytes]:
    return [ulaw_encode(signal[i : i + frame]) for i in range(0, signal.size, frame)]


def telnyx_stop(stream_id: str) -> str:
    return json.dumps({"event": "stop", "sequence_number": "999", "stream_id": stream_id,
                       "stop": {"call_control_id": f"v3:{stream_id}"}})


def zero_crossing_frequency(pcm: np.ndarray, rate: int) -> float:
    """A pure tone's frequency from its sign changes (a codec's byte order, checked)."""
    signs = np.signbit(pcm[pcm != 0].astype(np.int32))
    crossings = int(np.count_nonzero(signs[1:] != signs[:-1]))
    return crossings / 2 / (pcm.size / rate)
