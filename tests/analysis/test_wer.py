"""Speech recognition accuracy on real recorded speech through the telephone band."""

from __future__ import annotations

import numpy as np
import pytest
from support import REPO, phone_clips

from console.analysis.stt.engine import (
    BEAM_SIZE,
    FULL_FRAMES,
    FasterWhisperEngine,
    context_frames,
    is_runaway,
    pieces,
    repeats_phrase,
    too_many_words,
)
from console.analysis.stt.models import find_model
from console.analysis.wer import normalise, word_errors
from console.audio.codecs import resample


@pytest.fixture(scope="module")
def clips() -> tuple[list[str], list[np.ndarray]]:
    return phone_clips()


def test_wer_on_real_phone_speech(clips) -> None:  # type: ignore[no-untyped-def]
    refs, audios = clips
    engine = FasterWhisperEngine(find_model().path)
    texts = engine.transcribe_batch(audios)  # one batch, as the console runs it
    errors = sum(word_errors(r, t)[0] for r, t in zip(refs, texts, strict=True))
    words = sum(len(normalise(r)) for r in refs)
    wer = errors / words
    assert words >= 90
    assert wer <= 0.06, (wer, list(zip(refs, texts, strict=True)))
    assert all(texts)  # each utterance of the batch got its own words back
    assert engine.redecoded == 0  # no clip ran away at the short context


def test_encoder_context_and_pieces() -> None:
    assert context_frames(2.0) == 1200  # short speech: the 12 s minimum
    assert context_frames(13.2) == 1400  # speech plus half a second, whole seconds
    assert context_frames(40.0) == FULL_FRAMES
    assert context_frames(2.0, 30.0) == FULL_FRAMES
    second = np.ones(16000, np.float32)
    parts = pieces([second * 1, np.tile(second, 61), np.zeros(0, np.float32)])
    assert [(i, a.size // 16000) for i, a in parts] == [(0, 1), (1, 29), (1, 29), (1, 3),
                                                         (2, 0)]


def test_runaway_text_is_recognised() -> None:
    assert is_runaway("Seven of clubs. " * 12, 60, 100)
    assert is_runaway("five", 40, 40)  # used up its allowance
    assert not is_runaway("Had he married a more amiable woman, he might have been made "
                          "still more respectable than he was.", 22, 100)


@pytest.mark.parametrize("text", [
    "4 Queen of Cloves. 4 Queen of Cloves. 4 Queen of Cloves",  # tiny.en, fresh install
    "four queen of clubs FOUR QUEEN OF CLUBS, four-queen-of-clubs",  # case, punctuation
    "I said 5 5 5 5",
    "Thank you. Thank you. Thank you.",
    "It's fine, and then it's fine, and then it's fine, and then",
    "a b c d e f g h a b c d e f g h a b c d e f g h",  # the longest phrase looked for
])
def test_a_repeated_phrase_is_a_runaway(text: str) -> None:
    """Too short for the compression ratio to show (the tiny.en case compresses 1.8:1,
    under the 2.4 threshold), but a loop all the same: no model needed to check that."""
    assert repeats_phrase(text), text
    assert is_runaway(text, 12, 100), text


@pytest.mark.parametrize("text", [
    "no no", "bye bye", "no, no, no", "bye bye bye", "the the the", "Mr. Dashwood paid 10 pounds",
    "four queen of clubs", "I said no. No. I said no.", "3 8 2 1", "4539 1488 0343 6467",
    "Had he married a more amiable woman, he might have been made still more respectable "
    "than he was.",
    "thank you, thank you",  # twice is polite, not a loop
    "",
])
def test_normal_speech_and_real_repeats_are_not_a_runaway(text: str) -> None:
    assert not repeats_phrase(text), text
    assert not is_runaway(text, 12, 100), text


def test_runaway_at_a_short_context_is_decoded_again(clips) -> None:  # type: ignore[no-untyped-def]
    """At 3 s of context tiny.en repeats short clips without end (measured: "5 5 5 5 ..."
    until the token cap); the engine must notice and decode them over the full window."""
    refs, audios = clips
    short = [(r, a) for r, a in zip(refs, audios, strict=True) if a.size < 16000 * 2.5]
    assert len(short) >= 3
    engine = FasterWhisperEngine(find_model().path, min_context_s=3.0)
    texts = engine.transcribe_batch([a for _, a in short])
    assert engine.redecoded >= 1
    for (ref, _), text in zip(short, texts, strict=True):
        assert not is_runaway(text, 0, 100), text
        # The words of the clip, once ("four queen of clubs" may come back as "for queen
        # of clothes", as it does at any context).
        assert len(normalise(text)) <= len(normalise(ref)) + 1, (ref, text)
        assert word_errors(ref, text)[0] <= 2, (ref, text)


def test_silence_and_long_audio(clips) -> None:  # type: ignore[no-untyped-def]
    _refs, audios = clips
    engine = FasterWhisperEngine(find_model().path)
    hiss = np.random.default_rng(1).normal(0, 1e-4, 32000).astype(np.float32)
    # Over a minute of speech: cut into pieces that fit Whisper's window, joined again.
    long = np.concatenate(audios + audios)
    assert long.size > 16000 * 60
    texts = engine.transcribe_batch([np.zeros(32000, np.float32), hiss, long,
                                     np.zeros(0, np.float32)])
    assert texts[0] == texts[1] == texts[3] == ""  # not a made-up "you"
    words = normalise(texts[2])
    assert words[:4] == ["and", "mister", "john", "dashwood"]
    assert words.count("dashwood") == 2 and words[-2:] == ["ten", "meters"]


def test_normalised_wer() -> None:
    assert word_errors("Mr. Dashwood paid 10 pounds", "mister dashwood paid ten pounds") \
        == (0, 5)
    assert word_errors("ill-disposed", "ill disposed")[0] == 0
    assert word_errors("ten of clubs", "10 of close") == (1, 3)
    # A number read out digit by digit comes back as one long number; dollars as "$".
    assert word_errors("4 5 3 9, eighty nine dollars", "4539, $89") == (0, 7)
    assert normalise("It's 4 a.m.; 125 calls") == ["it's", "four", "a", "m", "one", "hundred",
                                                   "twenty", "five", "calls"]


@pytest.mark.parametrize(("folder", "bound"), [
    # The espeak-ng voices the demo first had, kept as a hard set: much harder than real
    # speech for Whisper (44.5 % measured here, tiny.en int8, greedy).
    ("tests/data/demo-espeak", 0.55),
    # The demo calls as shipped, in Piper voices (6.5 % measured here).
    ("resources/calls", 0.15),
], ids=["espeak", "piper"])
def test_wer_on_synthetic_phone_speech(folder: str, bound: float) -> None:
    """Two demo dialogues through 8 kHz mu-law, turn by turn; bound so that a regression in
    the audio chain (resampling, batching) or in the demo's voices shows."""
    from console.audio.codecs import ulaw_decode, ulaw_encode
    from console.sim.dialogues import load_dialogues

    engine = FasterWhisperEngine(find_model().path)
    refs, audios = [], []
    for d in load_dialogues(REPO / folder)[:2]:
        for turn in d.turns:
            track = d.customer if turn["speaker"] == "customer" else d.agent
            clip = track[int(turn["start_s"] * 8000) : int(turn["end_s"] * 8000)]
            phone = ulaw_decode(ulaw_encode(clip))
            audios.append(resample(phone, 8000, 16000).astype(np.float32) / 32768)
            refs.append(turn["text"])
    texts = engine.transcribe_batch(audios)
    errors = sum(word_errors(r, t)[0] for r, t in zip(refs, texts, strict=True))
    wer = errors / sum(len(normalise(r)) for r in refs)
    assert wer <= bound, wer


def _real_clip(name: str) -> tuple[str, np.ndarray]:
    """A clip of tests/data/real-speech: its text and its audio as the workers take it."""
    import json

    from console.audio.wav import read_wav

    data = REPO / "tests" / "data" / "real-speech"
    text = next(it["text"] for it in json.loads((data / "transcripts.json").read_text())
                if it["file"] == name)
    pcm = read_wav(data / name)[0][:, 0]
    return text, resample(pcm, 8000, 16000).astype(np.float32) / 32768.0


def test_final_text_is_decoded_with_a_beam_and_tentative_text_greedily() -> None:
    # Measured on this clip: greedy tiny.en hears "my fellow America", the beam "my fellow
    # Americans" (as said).
    ref, audio = _real_clip("jfk-1961.wav")
    engine = FasterWhisperEngine(find_model().path)
    assert engine.beam_size == BEAM_SIZE == 5
    greedy = FasterWhisperEngine(find_model().path, beam_size=1).transcribe_batch([audio])[0]
    final = engine.transcribe_batch([audio])[0]
    assert word_errors(ref, final)[0] < word_errors(ref, greedy)[0], (final, greedy)
    # One batch holding both kinds: each row decoded its own way, as if alone.
    assert engine.transcribe_batch([audio, audio, audio], [True, False, True]) == [
        greedy, final, greedy]
    assert engine.transcribe_batch([audio], [False]) == [final]


def test_more_words_than_the_audio_could_hold_are_not_kept() -> None:
    assert too_many_words("so we're going to go to the", 0.36)
    assert not too_many_words("to thy sweet self too cruel", 1.0)
    assert is_runaway("so we're going to go to the", 9, 100, seconds=0.36)
    assert not is_runaway("so we're going to go to the", 9, 100)
    # The last 0.36 s of a sonnet's 15 s turn, cut off by the voice detector's length limit
    # (measured: base said "So, we're going to go to the" for it; tiny.en nothing).
    from console.analysis.vad import Segmenter, VadSettings
    from console.audio.wav import read_wav

    pcm = read_wav(REPO / "tests" / "data" / "real-speech" / "sonnet1-b.wav")[0][:, 0]
    line = np.concatenate((np.zeros(4000, np.int16), pcm, np.zeros(8000, np.int16)))
    seg = Segmenter(8000, VadSettings())
    utts = [u for i in range(0, line.size, 160) for u in seg.feed(line[i : i + 160])]
    tail = utts[-1]
    assert tail.end_s - tail.start_s < 0.5 and utts[-2].end_s - utts[-2].start_s >= 14.9
    engine = FasterWhisperEngine(find_model("faster-whisper:base").path)
    audio = resample(tail.audio, 8000, 16000).astype(np.float32) / 32768.0
    (text,) = engine.transcribe_batch([audio])
    assert engine.redecoded == 1
    assert not too_many_words(text, tail.end_s - tail.start_s), text
