#!/usr/bin/env python3
"""Word error rate on real human speech through the phone band (tests/data/real-speech),
for Whisper tiny.en and Whisper base, live and offline.

Live: each clip is a call. A process of its own plays the clips over the WebSocket into a
running console (as a Telnyx stream, 8 kHz mu-law, at real time by default, several calls at
once), the console's voice detector cuts the customer track into utterances, and its speech
workers decode them, as in a call. The hypothesis of a clip is its call's final segments in
order. Offline: each clip decoded whole, in one piece, by the same engine class in this
process (as final text: with the engine's beam search).

CPU is counted per second of audio: the speech workers' for live (model loading excluded),
this process's for offline. base is the multilingual model; the engine fixes the language
to English, as it does for every model.

Fillers ("uh", "um") are not words here (the references leave them out), and a few spellings
count as the same ("all right"/"alright", "gonna"/"going to"); otherwise the console's usual
normalisation (console/analysis/wer.py).

    .venv/bin/python bench/real_speech.py [--models tiny.en,base] [--lanes 4] [--speed 1]
        [--clips a.wav,b.wav | --clips @list.txt] [--show]

`--clips` keeps to the named clips (to compare runs on the same clips while the set grows);
`--show` prints each clip's errors live and offline, and its live text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO / "tests" / "data" / "real-speech"
LEAD_S, TAIL_S = 0.5, 1.0  # silence around each clip's speech in its call
_FILLERS = {"uh", "um", "uhm", "hm", "hmm", "mm", "er", "ah"}
_SAME = [(re.compile(r"\ball right\b"), "alright"), (re.compile(r"\bgonna\b"), "going to"),
         (re.compile(r"\bwanna\b"), "want to")]


@dataclass(frozen=True)
class Item:
    file: str
    text: str
    speaker: str
    pcm: npt.NDArray[np.int16]  # 8 kHz, as it came over the phone line

    @property
    def seconds(self) -> float:
        return self.pcm.size / 8000


def load_set(folder: Path = DATA) -> list[Item]:
    from console.audio.wav import read_wav

    items = []
    for it in json.loads((folder / "transcripts.json").read_text()):
        pcm, rate = read_wav(folder / it["file"])
        if rate != 8000:
            raise ValueError(f"{it['file']}: {rate} Hz, not the phone band's 8 kHz")
        items.append(Item(it["file"], it["text"], it["speaker"], pcm[:, 0].copy()))
    return items


def words(text: str) -> list[str]:
    from console.analysis.wer import normalise

    text = text.lower()
    for pattern, same in _SAME:
        text = pattern.sub(same, text)
    return [w for w in normalise(text) if w not in _FILLERS]


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    from console.analysis.wer import word_errors

    return word_errors(" ".join(words(reference)), " ".join(words(hypothesis)))


def group(speaker: str) -> str:
    """Sources with few words each are reported together."""
    if speaker.startswith(("librivox", "moonshine", "mfa", "bush")):
        return speaker
    if speaker.startswith("cmu"):
        return "cmu (cards, goforward, forever, something)"
    return "short clips (librispeech, ljspeech, common voice, arctic, praatio, jfk, ...)"


# --- live: the console's own path ------------------------------------------------------


def play(plans: list[list[Any]], url: str, speed: float) -> None:
    """(player process) Each lane plays its calls one after another; lanes run at once."""
    from console.sim.client import SimOptions, play_call

    opts = SimOptions(url=url, token="b", speed=speed, dtmf=False)

    async def lane(calls: list[Any]) -> None:
        for plan in calls:
            await play_call(plan, opts)

    async def all_lanes() -> None:
        await asyncio.gather(*(lane(calls) for calls in plans))

    asyncio.run(all_lanes())


@dataclass
class Run:
    texts: dict[str, str]  # clip file -> hypothesis
    cpu_s: float
    utterances: int
    wall_s: float
    engine_cpu_s: float = 0.0
    processes: int = 0  # speech workers measured


async def live(items: list[Item], model: str, lanes: int, speed: float) -> Run:
    import psutil

    from console.config import Settings
    from console.core.events import Role, TranscriptSegment
    from console.engine import Engine
    from console.sim.client import SimOptions, plan_calls
    from console.sim.dialogues import Dialogue

    lead, tail = np.zeros(int(LEAD_S * 8000), np.int16), np.zeros(int(TAIL_S * 8000), np.int16)
    dialogues = []
    for it in items:
        customer = np.concatenate((lead, it.pcm, tail))
        dialogues.append(Dialogue(name=f"real-{it.file}", title=it.file,
                                  from_number="+14155550100", to_number="+18005550100",
                                  customer=customer, agent=np.zeros_like(customer), rate=8000))
    plans = plan_calls(tuple(dialogues), SimOptions(url="ws://x", calls=len(dialogues), seed=7))
    clip_of = {p.call_key: it.file for p, it in zip(plans, items, strict=True)}
    # Longest first, each to the lane with the least audio so far: the lanes end together.
    lane_plans: list[list[Any]] = [[] for _ in range(max(1, lanes))]
    load = [0.0] * len(lane_plans)
    for p in sorted(plans, key=lambda p: -p.dialogue.duration_s):
        k = load.index(min(load))
        lane_plans[k].append(p)
        load[k] += p.dialogue.duration_s

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(port=0, data_dir=tmp, token="b", transcribe=True,
                            stt_engine=f"faster-whisper:{model}", redaction=False,
                            meaning=False).validate()
        engine = Engine(settings)
        await engine.start()
        status = await engine.transcription_ready()
        if engine.pipeline is None or engine.pipeline.pool is None:
            await engine.stop()
            raise SystemExit(f"{model}: transcription unavailable: {status}")
        finals: dict[str, TranscriptSegment] = {}

        def on_event(e: object) -> None:
            if isinstance(e, TranscriptSegment) and e.final and e.speaker is Role.CUSTOMER:
                finals[e.segment_id] = e

        engine.bus.subscribe(on_event)
        me = psutil.Process()
        workers = [psutil.Process(pid) for pid in engine.pipeline.pool.pids()]
        cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in workers}
        engine0 = sum(me.cpu_times()[:2])
        t0 = time.perf_counter()
        player = multiprocessing.get_context("spawn").Process(
            target=play, args=(lane_plans, engine.url, speed), name="calls")
        player.start()
        await asyncio.get_running_loop().run_in_executor(None, player.join)
        # The last utterances of the last calls are still being decoded.
        pool, seen, still = engine.pipeline.pool, -1, 0.0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and still < 3.0:
            await asyncio.sleep(0.25)
            busy = pool.health().pending > 0 or len(finals) != seen
            seen, still = len(finals), 0.0 if busy else still + 0.25
        wall = time.perf_counter() - t0
        cpu = sum(sum(p.cpu_times()[:2]) - cpu0[p.pid] for p in workers if p.is_running())
        engine_cpu = sum(me.cpu_times()[:2]) - engine0
        await engine.stop()
    by_clip: dict[str, list[TranscriptSegment]] = defaultdict(list)
    for seg in finals.values():
        if seg.call_id in clip_of:
            by_clip[clip_of[seg.call_id]].append(seg)
    texts = {it.file: " ".join(s.text for s in sorted(by_clip[it.file],
                                                        key=lambda s: s.start_s))
             for it in items}
    return Run(texts, cpu, len(finals), wall, engine_cpu, len(workers))


# --- offline: each clip whole ------------------------------------------------------------


def offline(items: list[Item], model: str) -> Run:
    from console.analysis.stt.engine import FasterWhisperEngine
    from console.analysis.stt.models import find_model
    from console.audio.codecs import resample

    place = find_model(f"faster-whisper:{model}")
    if place.path is None:
        raise SystemExit(f"{model}: no model on this machine")
    engine = FasterWhisperEngine(place.path, threads=1)
    texts, cpu = {}, 0.0
    t0 = time.perf_counter()
    for it in items:
        audio = resample(it.pcm, 8000, 16000).astype(np.float32) / 32768.0
        c0 = time.process_time()
        texts[it.file] = engine.transcribe_batch([audio])[0]
        cpu += time.process_time() - c0
    return Run(texts, cpu, len(items), time.perf_counter() - t0)


# --- report --------------------------------------------------------------------------------


def wer(items: list[Item], texts: dict[str, str]) -> tuple[float, int, int]:
    e = n = 0
    for it in items:
        de, dn = errors(it.text, texts.get(it.file, ""))
        e, n = e + de, n + dn
    return e / max(1, n), e, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--lanes", type=int, default=4, help="calls played at once")
    ap.add_argument("--speed", type=float, default=1.0, help="1 = real time, 0 = flat out")
    ap.add_argument("--show", action="store_true",
                    help="print each clip's errors live and offline, and its live text")
    ap.add_argument("--clips", default="",
                    help="only these clips: names separated by commas, or @file (one a line)")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    items = load_set()
    if args.clips:
        names = (Path(args.clips[1:]).read_text().split() if args.clips.startswith("@")
                 else [c.strip() for c in args.clips.split(",") if c.strip()])
        unknown = set(names) - {it.file for it in items}
        if unknown:
            raise SystemExit(f"no such clip(s): {', '.join(sorted(unknown))}")
        items = [it for it in items if it.file in set(names)]
    audio_s = sum(it.seconds for it in items)
    total = sum(len(words(it.text)) for it in items)
    speakers = sorted({it.speaker for it in items})
    print(f"\nreal speech: {len(items)} clips, {total} words, {audio_s:.0f} s of audio, "
          f"{len(speakers)} speakers ({DATA.relative_to(REPO)}; 8 kHz mu-law)")
    print(f"live: {args.lanes} calls at once, speed {args.speed:g} (1 = real time), "
          "WebRTC VAD, 2 speech workers")
    groups = sorted({group(it.speaker) for it in items})
    results: dict[str, tuple[Run, Run]] = {}
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        run = asyncio.run(live(items, model, args.lanes, args.speed))
        off = offline(items, model)
        results[model] = (run, off)
        w_live, e_live, n = wer(items, run.texts)
        w_off, e_off, _ = wer(items, off.texts)
        print(f"\n{model}  (base: multilingual, language forced to English)"
              if model == "base" else f"\n{model}")
        print(f"  WER live      {100 * w_live:5.1f} %  ({e_live} errors / {n} words, "
              f"{run.utterances} utterances cut by the VAD)")
        print(f"  WER offline   {100 * w_off:5.1f} %  ({e_off} errors; each clip decoded whole)")
        print(f"  CPU live      {run.cpu_s / audio_s:.3f} s per audio s ({run.processes} speech "
              f"workers; engine process {run.engine_cpu_s / audio_s:.3f}), "
              f"{run.wall_s:.0f} s wall")
        print(f"  CPU offline   {off.cpu_s / audio_s:.3f} s per audio s (one thread)")
        for g in groups:
            sub = [it for it in items if group(it.speaker) == g]
            gl, _, gn = wer(sub, run.texts)
            go, _, _ = wer(sub, off.texts)
            print(f"    {g:52s} {gn:4d} words  live {100 * gl:5.1f} %  offline "
                  f"{100 * go:5.1f} %")
        prose = [it for it in items if "sonnets" not in it.speaker]
        pl, _, pn = wer(prose, run.texts)
        po, _, _ = wer(prose, off.texts)
        print(f"    {'all but the sonnets (modern prose and talk)':52s} {pn:4d} words  live "
              f"{100 * pl:5.1f} %  offline {100 * po:5.1f} %")
        if args.show:
            for it in items:
                e, n = errors(it.text, run.texts[it.file])
                oe, _ = errors(it.text, off.texts[it.file])
                print(f"      {it.file}: {e}/{n} live, {oe} offline: {run.texts[it.file]}")
    if "tiny.en" in results and "base" in results:
        (tl, to), (bl, bo) = results["tiny.en"], results["base"]
        wt, wb = wer(items, tl.texts)[0], wer(items, bl.texts)[0]
        print(f"\nbase / tiny.en: CPU live {bl.cpu_s / max(tl.cpu_s, 1e-9):.2f}x, "
              f"offline {bo.cpu_s / max(to.cpu_s, 1e-9):.2f}x; "
              f"WER live {100 * wb:.1f} % vs {100 * wt:.1f} % "
              f"({wb / max(wt, 1e-9):.2f}x)")
    print("goal: live WER <= 6 % with the default engine (tiny.en)")


if __name__ == "__main__":
    main()
