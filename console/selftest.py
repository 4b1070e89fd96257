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
from typing import Any

__all__ = ["self_test"]


def _resources() -> str:
    from console.resources import resource_dir
    from console.sim.dialogues import load_dialogues

    return f"{resource_dir()} ({len(load_dialogues())} demo calls)"


# --- codecs: every codec the console decodes, run on real audio ------------------------------

TONE_HZ = 1000.0

# 0.4 s of a 1 kHz sine encoded by a real AMR-WB encoder (VisualOn, mode 2, 12.65 kbit/s):
# 20 frames in the storage format (a ToC byte, then 32 speech bytes). PyAV only decodes
# AMR-WB, so the frames are shipped; scripts/make-amrwb-sample made them.
AMRWB_SAMPLE = (
    "FPcGcwPXE4KiojqnPhV2voRfRU5FTVZsXNdY5nWcTXXYFPM6emhee5CSiAAnL+7CAP3UIDmMkDS8IY9nDK0VW1J4"
    "FP8Of2hv+5CyCDAnig9HB7NHQDAQgEgt8cBHd4M7AGAwFP8Of/3/y4CyCiKnLoOAYV4A4jJCYfjx5EATm5wYELHg"
    "FP8Of3d/w5CyCDAngi8AMHghhyXBgYTkIYAHA8Q+HLmgFP8Of7u7w7CyCGIvJpOB4qA3kWePJe+I5hKefgDSnwjg"
    "FP8OfxAPg5CyCDAngg9/1LpfEK1KkYZkKd5heTzVw23QFP8OfxAPg5CyCCAnJoP6f0eChzy1ZXuu+Y1ikKfcpGKw"
    "FP8Cf4AFwdCyCDA3kg96q76FMN4LTqZwFJI2GEhIkWjIFP8OfzAPA5CyCCAnJoP9bg4D2K5YHFM+vd4jAmfDpbAY"
    "FP8CfxAHgdCyCDA3kg96HtFCuZdCG4NEgfwUyZERto0YFP8OfwAPw5CyCCAnJoP9a86OOfUCPfNOwuujcKviDYKg"
    "FP8CH6ABQeCyCDC/kg98jUlUOJJKa/HRFyWkcAuYbC2AFP8CHxADgeCyCCC3NpP7DPS5Zvd+9bPEnnoGqeMmh5xY"
    "FP8CFyiDYeCyCDC/kg9/vcODDdYCV97BhTKlIJFEJngIFP8CHzADAeCyCCC3NpP/2PTf18Ygx/W0mgxW/sQUFJxo"
    "FP8CH6ABQeCyCDC/kg9+RMwbrnNMc18I0NYRqwli1LJwFP8CH0ACweCyCCC3NpP+I8dNrvUfDJTv+MEwMIAB569I"
    "FP8CH7ABAeCyCDG/gg994skrwSROFntpQGUyzx/jhNHgFP8CHRAjCeCyCCC/NoP7zEx3NW84x3PULHk+l1C5LDno"
)
AMRWB_FRAME_BYTES = 33
AMRWB_SPEECH_BITS = 253  # mode 2


class CodecCheckFailed(RuntimeError):
    pass


def _tone(rate: int, seconds: float) -> Any:
    import numpy as np

    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * TONE_HZ * t) * 8000).astype(np.int16)  # -12 dBFS


def _expect_tone(pcm: Any, rate: int) -> str:
    """The decoded audio's last 200 ms must be the 1 kHz tone that went in, at a level."""
    import numpy as np

    n = rate // 5
    if pcm.size < n:
        raise CodecCheckFailed(f"decoded {pcm.size} samples, expected at least {n}")
    tail = pcm[-n:].astype(np.float64)
    peak = float(np.argmax(np.abs(np.fft.rfft(tail * np.hanning(n)))) * rate / n)
    rms = float(np.sqrt(np.mean(tail**2)))
    if abs(peak - TONE_HZ) > 20 or rms < 1000:
        raise CodecCheckFailed(f"decoded a {peak:.0f} Hz tone at RMS {rms:.0f}; expected "
                               f"{TONE_HZ:.0f} Hz at RMS 1000 or more")
    return f"{peak:.0f} Hz at RMS {rms:.0f}"


def _round_trip(encoding: str, rate: int) -> Any:
    """A tone through the console's own encoder and decoder, 20 ms per payload."""
    import numpy as np

    from console.audio.codecs import make_decoder, make_encoder
    from console.core.events import MediaFormat

    enc = make_encoder(encoding, rate)
    dec = make_decoder(MediaFormat(encoding, rate))
    x = _tone(rate, 0.5)
    step = rate // 50
    parts = [dec.decode(enc.encode(x[i : i + step])) for i in range(0, x.size, step)]
    if refused := getattr(dec, "failures", 0):
        raise CodecCheckFailed(f"the decoder refused {refused} of {len(parts)} payloads")
    return x, np.concatenate(parts)


def _check_g711(encoding: str) -> str:
    import numpy as np

    x, y = _round_trip(encoding, 8000)
    err = int(np.abs(y.astype(np.int32) - x).max()) if y.size == x.size else -1
    if not 0 <= err < 300:  # the companding step at this level is at most 256
        raise CodecCheckFailed(f"round trip off by {err} (size {y.size} for {x.size})")
    return f"round trip ±{err}"


def _check_l16(sent: str = "little") -> str:
    """Both stated byte orders exactly, and the order told from the audio when unstated."""
    import numpy as np

    from console.audio.codecs import make_decoder, make_encoder
    from console.core.events import MediaFormat

    x = _tone(16000, 0.4)
    for order in ("big", "little"):
        data = make_encoder("L16", 16000, order).encode(x)
        y = make_decoder(MediaFormat("L16", 16000, byte_order=order)).decode(data)
        if not np.array_equal(x, y):
            raise CodecCheckFailed(f"{order}-endian audio did not come back as sent")
    auto = make_decoder(MediaFormat("L16", 16000))  # the start frame did not say
    data = make_encoder("L16", 16000, sent).encode(x)
    y = np.concatenate([auto.decode(data[i : i + 640]) for i in range(0, len(data), 640)])
    if getattr(auto, "byte_order", sent) != sent or not np.array_equal(x[-320:], y[-320:]):
        raise CodecCheckFailed(f"{sent}-endian audio of unstated order was read as "
                               f"{getattr(auto, 'byte_order', '?')}-endian")
    return f"big/little exact, unstated order found ({sent}), {_expect_tone(y, 16000)}"


def _check_pyav(encoding: str, rate: int) -> str:
    _, y = _round_trip(encoding, rate)
    return f"round trip {_expect_tone(y, rate)}"


def _amrwb_payloads(sample: bytes) -> tuple[list[bytes], list[bytes]]:
    """One RTP payload per frame, in both RFC 4867 layouts: octet-aligned (CMR byte, ToC
    byte, speech) and bandwidth-efficient (4-bit CMR, 6-bit ToC, speech bits, padding)."""
    octet, packed = [], []
    for i in range(0, len(sample), AMRWB_FRAME_BYTES):
        toc, speech = sample[i], sample[i + 1 : i + AMRWB_FRAME_BYTES]
        octet.append(bytes([0xF0, toc & 0x7F]) + speech)
        ft, q = (toc >> 3) & 0x0F, (toc >> 2) & 1
        bits = int.from_bytes(speech, "big") >> (len(speech) * 8 - AMRWB_SPEECH_BITS)
        value = (((15 << 6) | (ft << 1) | q) << AMRWB_SPEECH_BITS) | bits
        nbits = 4 + 6 + AMRWB_SPEECH_BITS
        packed.append((value << (-nbits % 8)).to_bytes((nbits + 7) // 8, "big"))
    return octet, packed


def _check_amrwb(sample: bytes | None = None) -> str:
    """Decode-only: real encoded frames, as both payload layouts, must give the tone back."""
    import base64

    import numpy as np

    from console.audio.codecs import make_decoder
    from console.core.events import MediaFormat

    data = sample if sample is not None else base64.b64decode("".join(AMRWB_SAMPLE))
    decoded = []
    for layout, payloads in zip(("octet-aligned", "bandwidth-efficient"),
                                _amrwb_payloads(data), strict=True):
        dec = make_decoder(MediaFormat("AMR-WB", 16000))
        y = np.concatenate([dec.decode(p) for p in payloads])
        if refused := getattr(dec, "failures", 0):
            raise CodecCheckFailed(f"{layout}: the decoder refused {refused} of "
                                   f"{len(payloads)} frames")
        if y.size != 320 * len(payloads):
            raise CodecCheckFailed(f"{layout}: {y.size} samples from {len(payloads)} frames")
        decoded.append(y)
    if not np.array_equal(decoded[0], decoded[1]):
        raise CodecCheckFailed("the two payload layouts decoded differently")
    return f"{len(payloads)} real frames, both payload layouts, {_expect_tone(decoded[0], 16000)}"


# Every encoding the console decodes (make_decoder) has its check here.
CODEC_CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("PCMU", lambda: _check_g711("PCMU")),
    ("PCMA", lambda: _check_g711("PCMA")),
    ("L16", _check_l16),
    ("G722", lambda: _check_pyav("G722", 16000)),
    ("OPUS", lambda: _check_pyav("OPUS", 16000)),
    ("AMR-WB", _check_amrwb),
]


def _codecs(checks: list[tuple[str, Callable[[], str]]] | None = None) -> str:
    """Runs every codec check, then fails naming each codec that did not work."""
    passed, failed = [], []
    for name, check in checks if checks is not None else CODEC_CHECKS:
        try:
            passed.append(f"{name} {check()}")
        except Exception as exc:
            failed.append(f"{name} FAILED: {type(exc).__name__}: {exc}")
    if failed:
        ok = f" ({', '.join(p.split()[0] for p in passed)} passed)" if passed else ""
        raise CodecCheckFailed("; ".join(failed) + ok)
    return "; ".join(passed)


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


def _team_bus() -> str:
    """Team mode's parts: the installed nats-server starts with JetStream and credentials,
    and a call fact goes through it and back."""
    import asyncio
    import socket
    import tempfile
    from pathlib import Path

    from console.core.events import CallEnded
    from console.team.busserver import BusServer, find_nats_server
    from console.team.link import BusOptions, connect, ensure_layout
    from console.team.schema import Fact, decode, encode

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="coach-selftest-bus-") as tmp:
        bus = BusServer(Path(tmp) / "bus", port=port, host="127.0.0.1")
        bus.start()
        try:
            async def run() -> str:
                nc = await connect(BusOptions(bus.url()), "self-test")
                try:
                    js = nc.jetstream()
                    await ensure_layout(js)
                    fact = Fact("self-test", "run", 1, CallEnded("x", 1.0, "ended"))
                    ack = await js.publish("coach.selftest.facts.self-test.x", encode(fact))
                    msg = await js.get_msg("COACH_FACTS", ack.seq)
                    assert decode(msg.data).event == fact.event
                finally:
                    await nc.close()
                return f"nats-server {find_nats_server()} with JetStream: a fact went through"
            return asyncio.run(run())
        finally:
            bus.stop()


def _meaning() -> str:
    """The sentence-embedding model behind intent alerts, topics and sentiment."""
    from console.analysis.intents import IntentMatcher
    from console.analysis.sentiment_model import SentimentModel
    from console.analysis.topics import TopicModel

    line = "I've been charged twice this month and I want my money back"
    fired = [f.rule for f in IntentMatcher.default().match(line)]
    topic, _ = TopicModel.default().classify([line])
    mood = SentimentModel.default().verdict(line).label
    if "payment_dispute" not in fired or topic != "billing":
        raise RuntimeError(f"the model misread a plain line: {fired}, {topic}")
    return f"all-MiniLM-L6-v2: a double charge read as {', '.join(fired)}, {topic}, {mood}"


CHECKS: list[tuple[str, Callable[[], str], bool]] = [
    ("resources", _resources, True),
    ("codecs", _codecs, True),
    ("engine", _engine, True),
    ("window system", _qt, True),
    ("sound", _sound, False),  # the console runs without sound; it says so
    ("speech model", _speech, False),
    ("voice activity", _voice_detection, False),
    ("meaning", _meaning, False),  # without it alerts fall back to literal phrases
    ("team bus", _team_bus, False),  # team mode only; one laptop runs without it
]


def self_test(out: object = sys.stdout,
              checks: list[tuple[str, Callable[[], str], bool]] | None = None) -> int:
    """Runs `checks` (default: CHECKS), one line each; 1 if an essential one failed."""
    import logging

    logging.getLogger("console").setLevel(logging.WARNING)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    failed = 0
    t0 = time.perf_counter()
    for name, check, essential in checks if checks is not None else CHECKS:
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
