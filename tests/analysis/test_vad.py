"""VAD segmentation on real (synthesised) dialogue audio against its script's turn times."""

from __future__ import annotations

import numpy as np
import pytest

from console.analysis.vad import Segmenter, VadSettings
from console.audio.codecs import resample
from console.sim.dialogues import load_dialogues


@pytest.mark.parametrize("name", ["friendly-address-change", "angry-double-charge"])
def test_utterances_match_the_script(name: str) -> None:
    d = next(x for x in load_dialogues() if x.name == name)
    for role, audio in (("customer", d.customer), ("agent", d.agent)):
        seg = Segmenter(8000, VadSettings(hang_s=0.5))
        utts = []
        for i in range(0, audio.size, 160 * 7):  # odd-sized blocks, as the network gives
            utts += seg.feed(audio[i : i + 160 * 7])
        last = seg.flush()
        if last is not None:
            utts.append(last)
        turns = [t for t in d.turns if t["speaker"] == role]
        # Every scripted turn starts inside an utterance found by the VAD.
        for turn in turns:
            assert any(u.start_s - 0.25 <= turn["start_s"] <= u.end_s for u in utts), turn
        # And the VAD does not invent speech: utterances lie over turns.
        for u in utts:
            assert any(u.start_s < t["end_s"] + 0.3 and u.end_s > t["start_s"] - 0.3
                       for t in turns), (u.start_s, u.end_s)
        assert all(u.audio.size == pytest.approx((u.end_s - u.start_s) * 8000, abs=2)
                   for u in utts)


def test_other_rates_and_long_turns() -> None:
    d = load_dialogues()[0]
    audio24 = resample(d.customer, 8000, 24000)  # an unusual rate is resampled for the VAD
    seg = Segmenter(24000, VadSettings(max_utterance_s=1.0))
    utts = seg.feed(audio24)
    assert seg.rate == 16000 and utts
    assert max(u.end_s - u.start_s for u in utts) <= 1.0 + 0.02  # long turns are cut


def test_silence_and_noise_are_not_speech() -> None:
    seg = Segmenter(8000)
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(8000 * 5) * 20).astype(np.int16)
    assert seg.feed(quiet) == [] and seg.flush() is None and not seg.speaking
