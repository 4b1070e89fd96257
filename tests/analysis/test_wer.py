"""Speech recognition accuracy on real recorded speech through the telephone band."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import REPO

from console.analysis.stt.engine import FasterWhisperEngine, pack, windows
from console.analysis.stt.models import find_model
from console.analysis.wer import normalise, word_errors
from console.audio.codecs import resample
from console.audio.wav import read_wav

DATA = REPO / "tests" / "data" / "phone-speech"


@pytest.fixture(scope="module")
def clips() -> tuple[list[str], list[np.ndarray]]:
    items = json.loads((DATA / "transcripts.json").read_text())
    audios = []
    for it in items:
        pcm, rate = read_wav(DATA / it["file"])
        assert rate == 8000  # phone band
        audios.append(resample(pcm[:, 0], 8000, 16000).astype(np.float32) / 32768)
    return [it["text"] for it in items], audios


def test_wer_on_real_phone_speech(clips) -> None:  # type: ignore[no-untyped-def]
    refs, audios = clips
    engine = FasterWhisperEngine(find_model().path)
    texts = engine.transcribe_batch(audios)  # packed, as the console runs it
    errors = sum(word_errors(r, t)[0] for r, t in zip(refs, texts, strict=True))
    words = sum(len(normalise(r)) for r in refs)
    wer = errors / words
    assert words >= 90
    assert wer <= 0.06, (wer, list(zip(refs, texts, strict=True)))
    assert all(texts)  # each packed utterance got its own words back


def test_normalised_wer() -> None:
    assert word_errors("Mr. Dashwood paid 10 pounds", "mister dashwood paid ten pounds") \
        == (0, 5)
    assert word_errors("ill-disposed", "ill disposed")[0] == 0
    assert word_errors("ten of clubs", "10 of close") == (1, 3)
    assert normalise("It's 4 a.m.; 125 calls") == ["it's", "four", "a", "m", "one", "hundred",
                                                   "twenty", "five", "calls"]


def test_packing_layout() -> None:
    a = [np.ones(16000 * 5, np.float32), np.ones(16000 * 2, np.float32)]
    p = pack(a)
    assert p.spans == [(0.0, 5.0), (6.0, 8.0)]
    assert p.audio.size == 16000 * 9 and not p.audio[16000 * 5 : 16000 * 6].any()
    groups = windows([np.zeros(16000 * 10, np.float32)] * 5)
    assert groups == [[0, 1], [2, 3], [4]]  # each window stays under Whisper's 30 s


def test_wer_on_synthetic_phone_speech() -> None:
    """The demo dialogues' espeak-ng voices through 8 kHz mu-law: much harder than real
    speech for Whisper (35 % measured for tiny.en in this environment's notes); bound it so a
    regression in the audio chain (resampling, packing, splitting) shows."""
    from console.audio.codecs import ulaw_decode, ulaw_encode
    from console.sim.dialogues import load_dialogues

    engine = FasterWhisperEngine(find_model().path)
    refs, audios = [], []
    for d in load_dialogues()[:2]:
        for turn in d.turns:
            track = d.customer if turn["speaker"] == "customer" else d.agent
            clip = track[int(turn["start_s"] * 8000) : int(turn["end_s"] * 8000)]
            phone = ulaw_decode(ulaw_encode(clip))
            audios.append(resample(phone, 8000, 16000).astype(np.float32) / 32768)
            refs.append(turn["text"])
    texts = engine.transcribe_batch(audios)
    errors = sum(word_errors(r, t)[0] for r, t in zip(refs, texts, strict=True))
    wer = errors / sum(len(normalise(r)) for r in refs)
    assert wer <= 0.55, wer  # 47.7 % measured here (tiny.en int8, greedy)
