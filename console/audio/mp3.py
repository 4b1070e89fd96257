"""MP3 in memory, for Telnyx's MP3 bidirectional mode: each message sent back is a whole MP3
file, which Telnyx queues and plays in order (at most one message a second)."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt

__all__ = ["MP3_RATES", "Mp3Error", "decode_mp3", "encode_mp3"]

MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class Mp3Error(ValueError):
    pass


def encode_mp3(pcm: npt.NDArray[np.int16], rate: int, bitrate: int = 32000) -> bytes:
    """Mono 16-bit PCM as one MP3 file (LAME; 32 kbit/s is plenty for a voice on a call)."""
    import av

    if rate not in MP3_RATES:
        raise Mp3Error(f"MP3 cannot carry {rate} Hz; one of {MP3_RATES}")
    if pcm.size == 0:
        raise Mp3Error("no audio to encode")
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def decode_mp3(data: bytes) -> tuple[npt.NDArray[np.int16], int]:
    """An MP3 file's audio as mono 16-bit PCM and its rate; Mp3Error if it is not one."""
    import av

    try:
        with av.open(io.BytesIO(data), "r", format="mp3") as container:
            stream = container.streams.audio[0]
            rate = int(stream.rate or 0)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            parts = [f.to_ndarray().reshape(-1) for frame in container.decode(stream)
                     for f in resampler.resample(frame)]
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise Mp3Error(f"not a playable MP3 file: {exc}") from None
    if not parts or not rate:
        raise Mp3Error("the MP3 file holds no audio")
    return np.concatenate(parts).astype(np.int16, copy=False), rate
