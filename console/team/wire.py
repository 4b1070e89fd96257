"""Audio on the bus: a small JSON header and raw 16-bit little-endian PCM in one message.

    b"CA1" | header length (2 bytes, big-endian) | header JSON | PCM

Node to console (`audio` subjects): {"call", "k": track key, "r": role, "rate", "pos":
the first sample's position on the track}. Console to node (`talk` subjects): {"console",
"rate", "seq"}. Everything read from the bus is checked before use."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

__all__ = ["BadAudio", "pack", "unpack"]

MAGIC = b"CA1"
MAX_HEADER = 2048
MAX_PCM_BYTES = 256 * 1024  # over a second of 48 kHz audio in one message: never needed
RATES = range(8000, 48001)


class BadAudio(ValueError):
    pass


def pack(header: dict[str, Any], pcm: npt.NDArray[np.int16]) -> bytes:
    head = orjson.dumps(header)
    return b"".join((MAGIC, struct.pack(">H", len(head)), head,
                     pcm.astype("<i2", copy=False).tobytes()))


def unpack(data: bytes) -> tuple[dict[str, Any], npt.NDArray[np.int16]]:
    if len(data) < 5 or data[:3] != MAGIC:
        raise BadAudio("not an audio message")
    (n,) = struct.unpack_from(">H", data, 3)
    if n > MAX_HEADER or 5 + n > len(data):
        raise BadAudio("bad audio header length")
    try:
        header = orjson.loads(data[5:5 + n])
    except orjson.JSONDecodeError:
        raise BadAudio("audio header is not JSON") from None
    if not isinstance(header, dict):
        raise BadAudio("audio header must be an object")
    body = data[5 + n:]
    if len(body) % 2 or len(body) > MAX_PCM_BYTES:
        raise BadAudio(f"audio body of {len(body)} bytes")
    rate = header.get("rate")
    if type(rate) is not int or rate not in RATES:
        raise BadAudio(f"audio rate {rate!r} outside 8000-48000")
    pcm = np.frombuffer(body, dtype="<i2").astype(np.int16, copy=False)
    return header, pcm


def text(header: dict[str, Any], key: str, limit: int = 256) -> str:
    value = header.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadAudio(f"audio header {key!r} missing or too long")
    return value


def whole(header: dict[str, Any], key: str, low: int = 0, high: int = 2**53) -> int:
    value = header.get(key)
    if type(value) is not int or not low <= value <= high:
        raise BadAudio(f"audio header {key!r} out of range")
    return value
