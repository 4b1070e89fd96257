"""Prompts: a recorded supervisor message or a standard notice ("this call may be
monitored") played into a call, to the agent alone (whisper) or to both (barge).

On a stream in Telnyx's MP3 mode a prompt goes as whole MP3 files of up to MP3_SEGMENT_S,
at most one message a second (Telnyx queues them and plays them in order; faster is error
100005). On any other stream it goes as the stream's own 20 ms frames at real time, as a
live voice would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from console.audio.codecs import resample
from console.audio.mp3 import MP3_RATES, encode_mp3
from console.audio.transmit import FRAME_S, FrameEncoder
from console.core.events import SendMedia
from console.core.reach import Injection

__all__ = ["MP3_INTERVAL_S", "MP3_SEGMENT_S", "Scheduled", "play", "schedule"]

MP3_SEGMENT_S = 10.0
MP3_INTERVAL_S = 1.05  # Telnyx allows one MP3 message a second: a little margin
MAX_PROMPT_S = 600.0


@dataclass(frozen=True)
class Scheduled:
    at_s: float  # from the start of the prompt
    command: SendMedia


def schedule(pcm: npt.NDArray[np.int16], rate: int, inj: Injection,
             l16_byte_order: str = "big") -> list[Scheduled]:
    """What to send, and when, to play `pcm` (mono, `rate`) on a stream with `inj`."""
    if pcm.size == 0:
        raise ValueError("the prompt holds no audio")
    if pcm.size / rate > MAX_PROMPT_S:
        raise ValueError(f"a prompt is at most {MAX_PROMPT_S / 60:.0f} minutes")
    if inj.mode == "mp3":
        if rate not in MP3_RATES:
            pcm, rate = resample(pcm, rate, 16000), 16000
        step = int(MP3_SEGMENT_S * rate)
        return [Scheduled(i * MP3_INTERVAL_S, SendMedia(encode_mp3(pcm[at:at + step], rate)))
                for i, at in enumerate(range(0, pcm.size, step))]
    encoder = FrameEncoder(inj.codec, inj.rate, rate, inj.byte_order or l16_byte_order)
    frames = encoder.push(pcm)
    return [Scheduled(i * FRAME_S, SendMedia(payload)) for i, payload in enumerate(frames)]


async def play(items: list[Scheduled], send: Callable[[SendMedia], bool]) -> int:
    """Send each item at its time (cancel the task to stop); how many were sent."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    for item in items:
        delay = start + item.at_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if not send(item.command):
            break  # the stream closed
        sent += 1
    return sent
