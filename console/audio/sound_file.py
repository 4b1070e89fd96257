"""Reading a sound file of any common kind (WAV of any sample format, MP3, FLAC, Ogg...) as
16-bit mono PCM at the file's own rate, for prompts and `whisper --wav`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["SoundFileError", "read_sound"]

MAX_SECONDS = 3600.0


class SoundFileError(ValueError):
    pass


def read_sound(path: str | Path) -> tuple[npt.NDArray[np.int16], int]:
    """(samples, rate). Channels are mixed down; a file over an hour is refused."""
    import av

    try:
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError) as exc:
        raise SoundFileError(f"cannot open {path}: {exc}") from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise SoundFileError(f"{path} has no audio")
        stream = streams[0]
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        if not 1000 <= rate <= 384_000:
            raise SoundFileError(f"{path}: sample rate {rate} is not usable")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        parts: list[npt.NDArray[np.int16]] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                    parts.append(pcm)
                    total += pcm.size
                if total > MAX_SECONDS * rate:
                    raise SoundFileError(f"{path} is longer than an hour")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))
        except av.error.FFmpegError as exc:
            raise SoundFileError(f"cannot decode {path}: {exc}") from None
    pcm = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    if not pcm.size:
        raise SoundFileError(f"{path} holds no samples")
    return pcm, rate
