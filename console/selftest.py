"""`coach-console self-test`: proves on this machine (or inside the desktop bundle) that every
part works, headless: resources, codecs, storage, the engine end to end, Qt, sound, speech."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["self_test"]


def _resources() -> str:
    from console.resources import resource_dir
    from console.sim.dialogues import load_dialogues

    return f"{resource_dir()} ({len(load_dialogues())} demo calls)"


def _codecs() -> str:
    import numpy as np

    from console.audio.codecs import make_decoder, make_encoder, ulaw_decode, ulaw_encode
    from console.core.events import MediaFormat

    x = (np.sin(np.arange(320) / 5) * 8000).astype(np.int16)
    assert np.abs(ulaw_decode(ulaw_encode(x)).astype(int) - x).max() < 300
    for codec in ("G722", "OPUS"):
        enc = make_encoder(codec, 16000)
        dec = make_decoder(MediaFormat(codec, 16000))
        for _ in range(3):
            dec.decode(enc.encode(x))
    return "G.711 tables, L16, G.722 and Opus (PyAV), AMR-WB decoder"


def _engine() -> str:
    from console.config import Settings
    from console.engine import Engine
    from console.sim.client import SimOptions, plan_calls, play_call
    from console.sim.dialogues import load_dialogues
    from console.store.db import connect, db_path
    from console.store.export_wav import call_audio

    async def run() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            # Speech is its own check below; here the stream path alone.
            settings = Settings(port=0, data_dir=tmp, token="self-test", record=True,
                                transcribe=False).validate()
            engine = Engine(settings)
            await engine.start()
            try:
                opts = SimOptions(url=engine.url, token="self-test", speed=0, duration=2.0)
                plan = plan_calls(load_dialogues(), opts)[0]
                result = await play_call(plan, opts)
                if result.streams[0].error:
                    raise RuntimeError(result.streams[0].error)
                for _ in range(200):
                    call = engine.registry.calls.get(plan.call_key)
                    if call is not None and call.state == "ended":
                        break
                    await asyncio.sleep(0.01)
                engine.store.flush()
                stereo, rate = call_audio(connect(db_path(tmp), readonly=True), Path(tmp),
                                          plan.call_key)
            finally:
                await engine.stop()
        if stereo.shape != (16000, 2):
            raise RuntimeError(f"recorded {stereo.shape}, expected 2 s of stereo")
        return f"stream server, call store and WAV export ({rate} Hz, {result.frames_sent} frames)"

    return asyncio.run(run())


def _qt() -> str:
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import __version__ as qt_version
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    label = QLabel("Coach Console")
    label.show()
    app.processEvents()
    image = label.grab()
    label.close()
    if image.isNull():
        raise RuntimeError("Qt could not draw a widget")
    return f"PySide6 {qt_version} ({QApplication.platformName()})"


def _sound() -> str:
    from console.audio.devices import list_devices

    devices = list_devices()
    where = ""
    try:
        import sounddevice

        version = sounddevice.get_portaudio_version()[1].split(",")[0]
        where = f"{version} at {sounddevice._libname}: "
    except Exception:  # the message below says what is missing
        pass
    if devices.error:
        return f"not available: {where}{devices.error}"
    return f"{where}{len(devices.outputs)} output and {len(devices.inputs)} input device(s)"


def _speech() -> str:
    from console.analysis.stt.models import ModelMissing, find_model
    from console.config import ConfigError, load

    try:
        settings = load(create_token=False)
    except ConfigError as exc:
        return f"not available: {exc}"
    try:
        place = find_model(settings.stt_engine, settings.stt_model_path)
    except ModelMissing as exc:
        return f"not available: {exc}"
    # Decode a real utterance: proves the recogniser runs here, not only that files exist.
    import numpy as np

    from console.analysis.stt.engine import FasterWhisperEngine
    from console.audio.codecs import resample
    from console.sim.dialogues import load_dialogues

    d = load_dialogues()[0]
    turn = next(t for t in d.turns if t["speaker"] == "agent")
    clip = d.agent[int(turn["start_s"] * d.rate) : int(turn["end_s"] * d.rate)]
    audio = resample(clip, d.rate, 16000).astype(np.float32) / 32768
    text = FasterWhisperEngine(place.path or place.name).transcribe_batch([audio])[0]
    if not text:
        raise RuntimeError(f"{place.name} heard nothing in a demo utterance")
    return f"{place.name} from {place.source}; heard “{text}”"


def _voice_detection() -> str:
    from console.analysis.vad import VAD_ENGINES, Segmenter, VadSettings, VadUnavailable
    from console.sim.dialogues import load_dialogues

    d = load_dialogues()[0]
    turns = sum(t["speaker"] == "customer" for t in d.turns)
    found, missing = [], []
    for engine in VAD_ENGINES:
        try:
            seg = Segmenter(d.rate, VadSettings(engine=engine))
        except VadUnavailable as exc:
            if engine == VadSettings().engine:
                raise
            missing.append(f"not available: {engine} ({exc})")
            continue
        utts = seg.feed(d.customer)
        last = seg.flush()
        if last is not None:
            utts.append(last)
        if not utts:
            raise RuntimeError(f"the {engine} detector heard no speech in a demo call")
        found.append(f"{engine} found {len(utts)} utterances")
    return "; ".join(missing + found) + f" (the demo customer has {turns} turns)"


CHECKS: list[tuple[str, Callable[[], str], bool]] = [
    ("resources", _resources, True),
    ("codecs", _codecs, True),
    ("engine", _engine, True),
    ("window system", _qt, True),
    ("sound", _sound, False),  # the console runs without sound; it says so
    ("speech model", _speech, False),
    ("voice activity", _voice_detection, False),
]


def self_test(out: object = sys.stdout) -> int:
    import logging

    logging.getLogger("console").setLevel(logging.WARNING)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    failed = 0
    t0 = time.perf_counter()
    for name, check, essential in CHECKS:
        try:
            detail = check()
            mark = "ok  " if not detail.startswith("not available") else "warn"
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            mark = "FAIL" if essential else "warn"
            failed += essential
        print(f"[{mark}] {name:<14} {detail}", file=out)  # type: ignore[call-overload]
    verdict = "self-test passed" if not failed else f"self-test FAILED ({failed} essential)"
    print(f"{verdict} in {time.perf_counter() - t0:.1f} s", file=out)  # type: ignore[call-overload]
    return 1 if failed else 0
