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


WAVE_MAGIC = b"CW1"


def pack_wave(call_id: str, rate: int, tracks: list[tuple[str, str, int]],
              peaks: list[npt.NDArray[np.int16]]) -> bytes:
    """One call's waveform envelopes: header {"call", "rate", "tracks": [[key, role, pos,
    n], ...]} then every track's points (int16, little-endian) one after another."""
    head = orjson.dumps({"call": call_id, "rate": rate,
                         "tracks": [[k, r, pos, int(p.size)]
                                    for (k, r, pos), p in zip(tracks, peaks, strict=True)]})
    return b"".join((WAVE_MAGIC, struct.pack(">H", len(head)), head,
                     *(p.astype("<i2", copy=False).tobytes() for p in peaks)))


def unpack_wave(data: bytes) -> tuple[str, list[tuple[str, str, int, npt.NDArray[np.int16]]]]:
    """(call id, [(track key, role, position, points)]); BadAudio for anything malformed."""
    if len(data) < 5 or data[:3] != WAVE_MAGIC:
        raise BadAudio("not a waveform message")
    (n,) = struct.unpack_from(">H", data, 3)
    if n > 8192 or 5 + n > len(data):
        raise BadAudio("bad waveform header length")
    try:
        header = orjson.loads(data[5:5 + n])
    except orjson.JSONDecodeError:
        raise BadAudio("waveform header is not JSON") from None
    if not isinstance(header, dict):
        raise BadAudio("waveform header must be an object")
    call_id = text(header, "call")
    tracks = header.get("tracks")
    if not isinstance(tracks, list) or len(tracks) > 16:
        raise BadAudio("waveform tracks must be a list of at most 16")
    body = np.frombuffer(data[5 + n:len(data) - (len(data) - 5 - n) % 2], dtype="<i2")
    out = []
    at = 0
    for t in tracks:
        if not (isinstance(t, list) and len(t) == 4 and isinstance(t[0], str) and
                isinstance(t[1], str) and len(t[0]) <= 256 and len(t[1]) <= 16 and
                type(t[2]) is int and 0 <= t[2] < 2**53 and type(t[3]) is int and
                0 <= t[3] <= 4000):
            raise BadAudio("bad waveform track entry")
        if at + t[3] > body.size:
            raise BadAudio("waveform points missing")
        out.append((t[0], t[1], t[2], np.clip(body[at:at + t[3]], 0, 32767).astype(np.int16)))
        at += t[3]
    return call_id, out


MAX_PROMPT_MP3 = 700_000  # a prompt's MP3 rides base64 in one command (the bus's 1 MB limit)


def prompt_mp3(pcm: npt.NDArray[np.int16], rate: int, name: str) -> bytes:
    """A recording as the MP3 a prompt command carries; ValueError when it is too long."""
    from console.audio.codecs import resample
    from console.audio.mp3 import MP3_RATES, encode_mp3

    if rate not in MP3_RATES:
        pcm, rate = resample(pcm, rate, 16000), 16000
    data = encode_mp3(pcm, rate)
    if len(data) > MAX_PROMPT_MP3:
        raise ValueError(f"{name} is too long to send as a prompt over the bus "
                         f"({len(data) // 1000} KB as MP3; at most about 3 minutes)")
    return data
