"""The voice detector takes a busy engine's batches of frames a run at a time (bench/ingest.py
measures the gain); its decisions must be exactly those of the frame-by-frame steps that a
track at real time goes through, however the audio is cut."""

from __future__ import annotations

import numpy as np
import pytest

from console.analysis.vad import Segmenter, Utterance, VadSettings
from console.audio.codecs import ulaw_decode, ulaw_encode
from console.sim.dialogues import load_dialogues


def _run(audio: np.ndarray, settings: VadSettings, sizes: list[int]) -> tuple[
        list[tuple[float, float, bytes]], list[tuple[float, bool]], int]:
    seg = Segmenter(8000, settings)
    utts: list[Utterance] = []
    pos, k = 0, 0
    while pos < audio.size:
        n = sizes[k % len(sizes)]
        utts += seg.feed(audio[pos : pos + n])
        pos, k = pos + n, k + 1
    last = seg.flush()
    if last is not None:
        utts.append(last)
    return [(u.start_s, u.end_s, u.audio.tobytes()) for u in utts], seg.changes, seg.frames_seen


FRAME = 160  # 20 ms at 8 kHz
CUTS = {
    "frame by frame": [FRAME],  # what a track at real time goes through
    "two frames": [2 * FRAME],
    "odd sizes": [37, 1000, 4 * FRAME + 3, 3, 50 * FRAME + 11],
    "large batches": [300 * FRAME],  # a busy engine's flush
}


@pytest.mark.parametrize("settings", [
    VadSettings(),
    VadSettings(max_utterance_s=1.5, pre_roll_s=0.5),  # long turns cut mid-speech
    VadSettings(hang_s=0.1, start_frames=2, window=3),
    VadSettings(start_frames=6, window=5),  # can never start: runs of voice change nothing
    VadSettings(hang_s=0.0),  # every voiced frame ends its turn
], ids=["default", "cut", "short-hang", "never-starts", "no-hang"])
def test_every_way_of_cutting_the_audio_gives_the_same_decisions(
        settings: VadSettings) -> None:
    d = next(x for x in load_dialogues() if x.name == "angry-double-charge")
    for track in (d.customer, d.agent):
        audio = ulaw_decode(ulaw_encode(track))  # as a PCMU stream brings it
        results = {name: _run(audio, settings, sizes) for name, sizes in CUTS.items()}
        reference = results.pop("frame by frame")
        if settings.start_frames <= settings.window:
            assert reference[0], "the dialogue has speech"
        for name, got in results.items():
            assert got[2] == reference[2], name
            assert got[1] == reference[1], name
            assert got[0] == reference[0], name


def test_silero_decides_the_same_in_batches() -> None:
    d = load_dialogues()[0]
    audio = ulaw_decode(ulaw_encode(d.customer[: 8000 * 20]))
    settings = VadSettings(engine="silero")
    reference = _run(audio, settings, [FRAME])
    assert reference[0]
    assert _run(audio, settings, [300 * FRAME]) == reference
    assert _run(audio, settings, [37, 1000, 50 * FRAME + 11]) == reference
