"""Sound devices through sounddevice/PortAudio. The app runs without either: every call here
reports what is missing instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AudioDeviceError", "AudioDevices", "DeviceStream", "close_quietly", "list_devices",
           "open_stream_args"]


@dataclass(frozen=True)
class AudioDevices:
    inputs: list[str]
    outputs: list[str]
    default_input: str | None
    default_output: str | None
    error: str | None = None  # why there are none, for the supervisor


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the wheel has no PortAudio of its own on Linux
        raise RuntimeError(
            f"no sound: the PortAudio library is missing ({exc}); on Debian/Ubuntu install "
            "libportaudio2 (scripts/setup does)") from None
    return sounddevice


def list_devices() -> AudioDevices:
    try:
        sd = _sounddevice()
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except Exception as exc:
        return AudioDevices([], [], None, None, str(exc))
    inputs = [d["name"] for d in devices if d["max_input_channels"] > 0]
    outputs = [d["name"] for d in devices if d["max_output_channels"] > 0]

    def name(index: int) -> str | None:
        return devices[index]["name"] if isinstance(index, int) and index >= 0 else None

    error = None if inputs or outputs else "PortAudio found no sound devices"
    return AudioDevices(inputs, outputs, name(default_in), name(default_out), error)


class AudioDeviceError(RuntimeError):
    """A sound device cannot be used; the message is meant for the supervisor."""


def open_stream_args(device: str | int | None, *, output: bool) -> tuple[Any, dict[str, Any]]:
    """sounddevice, and the device, rate and channel count to open it with.

    An empty or None device means the system default. Raises AudioDeviceError saying what
    is wrong (no PortAudio, no such device, a device without that direction)."""
    try:
        sd = _sounddevice()
    except RuntimeError as exc:
        raise AudioDeviceError(str(exc)) from None
    kind = "output" if output else "input"
    wanted = None if device in (None, "") else device
    try:
        info = sd.query_devices(wanted, kind=kind)
    except (ValueError, sd.PortAudioError) as exc:
        what = f"{kind} device {wanted!r}" if wanted is not None else f"default {kind} device"
        raise AudioDeviceError(
            f"no {what} ({exc}); choose one in Settings > Audio") from None
    channels = int(info[f"max_{kind}_channels"])
    if channels < 1:
        raise AudioDeviceError(f"{info['name']!r} cannot {'play' if output else 'record'} "
                               "sound; choose another device in Settings > Audio")
    index = info.get("index", wanted)
    # 48 kHz where the device takes it: what sound servers and USB headsets run at natively.
    rate = int(info.get("default_samplerate") or 48000)
    check = sd.check_output_settings if output else sd.check_input_settings
    try:
        check(device=index, samplerate=48000, channels=1)
        rate = 48000
    except Exception:
        pass
    return sd, {"device": index, "samplerate": rate, "channels": channels}


class DeviceStream:
    """One PortAudio stream on a chosen device: it may fail to open (AudioDeviceError with a
    message for the supervisor), stop under us (`error`), or refuse even to close."""

    output = True

    def __init__(self, device: str | int | None) -> None:
        self.device = device
        self.error: str | None = None  # set when the device stops under us
        self._stream: Any = None

    def device_name(self) -> str:
        kind = "output" if self.output else "input"
        return (f"{kind} device {self.device!r}" if self.device not in (None, "")
                else f"the default {kind} device")

    @property
    def running(self) -> bool:
        return self._stream is not None and self.error is None

    def _start(self, sd: Any, **kwargs: Any) -> None:
        kind = sd.OutputStream if self.output else sd.InputStream
        try:
            stream = kind(latency="low", finished_callback=self._finished, **kwargs)
            stream.start()
        except Exception as exc:
            verb = "play on" if self.output else "record from"
            raise AudioDeviceError(f"cannot {verb} {self.device_name()}: {exc}") from None
        self._stream = stream
        self.error = None

    def _finished(self) -> None:
        if self._stream is not None and self.error is None:
            self.error = f"{self.device_name()} stopped"

    def close(self) -> None:
        stream, self._stream = self._stream, None
        close_quietly(stream)


def close_quietly(stream: Any) -> None:
    """Stop and close a PortAudio stream (None is fine), whatever state its device is in."""
    if stream is not None:
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception:  # a vanished device may refuse even this
            pass
