"""WAV files: 16-bit PCM and G.711 (format tags 6 and 7), read and written without Python
per-sample work."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from console.audio.codecs import alaw_decode, ulaw_decode

__all__ = ["read_wav", "wav_header", "write_wav"]

_PCM, _ALAW, _ULAW, _EXTENSIBLE = 1, 6, 7, 0xFFFE


def wav_header(rate: int, channels: int, frames: int, bits: int = 16, tag: int = _PCM) -> bytes:
    block = channels * bits // 8
    data = frames * block
    return (
        b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, tag, channels, rate, rate * block, block, bits)
        + b"data" + struct.pack("<I", data)
    )


def write_wav(target: str | Path | BinaryIO, samples: npt.NDArray[np.int16], rate: int) -> None:
    """`samples` is (frames,) for mono or (frames, channels)."""
    arr = np.asarray(samples, dtype="<i2")
    channels = 1 if arr.ndim == 1 else arr.shape[1]
    frames = arr.shape[0]
    blob = wav_header(rate, channels, frames) + np.ascontiguousarray(arr).tobytes()
    if isinstance(target, (str, Path)):
        Path(target).write_bytes(blob)
    else:
        target.write(blob)


def read_wav(path: str | Path) -> tuple[npt.NDArray[np.int16], int]:
    """Returns int16 samples shaped (frames, channels) and the sample rate."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunk = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", chunk[:16])
        elif cid == b"data":
            body = chunk
        pos += 8 + size + (size & 1)
    if fmt is None or body is None:
        raise ValueError(f"{path}: missing fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag == _EXTENSIBLE:
        tag = _PCM
    if tag == _PCM and bits == 16:
        pcm = np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2").astype(np.int16)
    elif tag == _ULAW and bits == 8:
        pcm = ulaw_decode(body)
    elif tag == _ALAW and bits == 8:
        pcm = alaw_decode(body)
    else:
        raise ValueError(f"{path}: unsupported WAV format tag {tag} with {bits} bits")
    usable = pcm.size - pcm.size % channels
    return pcm[:usable].reshape(-1, channels), rate
