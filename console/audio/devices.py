"""Sound devices through sounddevice/PortAudio. The app runs without either: every call here
reports what is missing instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AudioDevices", "list_devices"]


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
