"""Playing a recorded call from History on the output device chosen in Settings.

Everything that can take time (opening the device, writing the audio, stopping it) runs on
the player's own thread, never on the UI thread. The audio is written with PortAudio's
blocking API from that thread (no real-time callback), a block at a time, so Stop takes
effect within one block and a long call is never copied whole at another rate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from console.audio.devices import AudioDeviceError, close_quietly, open_stream_args

__all__ = ["BLOCK_S", "RecordingPlayer"]

BLOCK_S = 0.05  # written per call: how soon Stop is heard, and how often the thread wakes

Stereo = npt.NDArray[np.int16]


class RecordingPlayer:
    """One playback of (frames, 2) int16 audio on `device` ("" = the system default).

    `start` (call it off the UI thread) opens the device and starts the writer thread, or
    raises AudioDeviceError saying why it cannot play. `on_end(message)` is called once, from
    the writer thread, when the audio has played to the end ("") or the device failed (why);
    never after `stop`."""

    def __init__(self, device: str, on_end: Callable[[str], None]) -> None:
        self.device = device
        self.on_end = on_end
        self.device_name = ""  # the device actually opened, for the supervisor
        self.rate = 0  # the rate the device plays at
        self.opened_on = ""  # the thread that opened the device (never the UI thread)
        self.duration_s = 0.0
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def start(self, stereo: Stereo, rate: int) -> None:
        sd, kwargs = open_stream_args(self.device or None, output=True)
        index = kwargs["device"]
        channels = 2 if int(kwargs["channels"]) >= 2 else 1
        # The recording's own rate where the device takes it (a sound server resamples);
        # otherwise the device's rate, resampled here block by block.
        play_rate = rate
        try:
            sd.check_output_settings(device=index, samplerate=rate, channels=channels,
                                     dtype="int16")
        except Exception:
            play_rate = int(kwargs["samplerate"])
        try:
            stream = sd.OutputStream(device=index, samplerate=play_rate, channels=channels,
                                     dtype="int16", latency="high")
            stream.start()
        except Exception as exc:
            what = (f"output device {self.device!r}" if self.device
                    else "the default output device")
            raise AudioDeviceError(f"cannot play on {what}: {exc}") from None
        self._stream = stream
        self.rate = play_rate
        self.duration_s = len(stereo) / rate
        self.device_name = str(sd.query_devices(index)["name"]) if index is not None else ""
        self.opened_on = threading.current_thread().name
        self._thread = threading.Thread(target=self._write, name="history-playback",
                                        args=(stereo, rate, channels), daemon=True)
        self._thread.start()

    def _write(self, stereo: Stereo, rate: int, channels: int) -> None:
        stream = self._stream
        message = ""
        try:
            resamplers = None
            if self.rate != rate:
                from console.audio.codecs import Resampler

                resamplers = [Resampler(rate, self.rate), Resampler(rate, self.rate)]
            block = max(1, int(rate * BLOCK_S))
            total = len(stereo)
            for pos in range(0, total, block):
                if self._stop.is_set():
                    return
                chunk = stereo[pos:pos + block]
                if resamplers is not None:
                    last = pos + block >= total
                    left = resamplers[0].process(np.ascontiguousarray(chunk[:, 0]), last)
                    right = resamplers[1].process(np.ascontiguousarray(chunk[:, 1]), last)
                    n = min(len(left), len(right))
                    chunk = np.stack([left[:n], right[:n]], axis=1)
                if channels == 1:
                    mono = (chunk[:, 0].astype(np.int32) + chunk[:, 1]) // 2
                    chunk = mono.astype(np.int16).reshape(-1, 1)
                if len(chunk):
                    stream.write(np.ascontiguousarray(chunk))
            if not self._stop.is_set():
                stream.stop()  # lets what is buffered play out
        except Exception as exc:  # the device went away or refused: say so, end cleanly
            message = f"playback stopped: {exc}"
        finally:
            self._close_stream()
        if not self._stop.is_set():
            self.on_end(message)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        close_quietly(stream)

    @property
    def playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Silence at once (within a block) and release the device. Blocks up to `timeout`
        for the writer thread: call it off the UI thread."""
        self._stop.set()
        # The writer sees the flag after its current block and aborts the stream itself:
        # PortAudio streams are not to be used from two threads at once.
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                return  # a device stuck in a write: the writer closes it when it returns
        self._close_stream()
