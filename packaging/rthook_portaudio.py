"""PyInstaller runtime hook: sounddevice looks PortAudio up with ctypes.util.find_library,
which does not search the bundle, so point it at the copy shipped beside the app."""

import ctypes.util
import os
import sys

_bundle = getattr(sys, "_MEIPASS", os.path.dirname(sys.executable))
_bundled = os.path.join(_bundle, "libportaudio.so.2")
_find_library = ctypes.util.find_library


def _find_library_in_bundle(name: str):  # type: ignore[no-untyped-def]
    if name == "portaudio" and os.path.exists(_bundled):
        return _bundled
    return _find_library(name)


ctypes.util.find_library = _find_library_in_bundle
