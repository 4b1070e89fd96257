"""Alert fatigue: alerts per call-hour, before and after per-rule cool-downs, on the demo
calls (resources/calls) and the labelled calls (tests/data/language/topics.jsonl).

Each call's lines go through the real analysis the pipeline runs on final segments (the
meaning worker's analysis: intent rules by meaning and literally, sentiment by meaning, smoothed
per speaker as the pipeline does) and through AlertEngine; silence and overtalk come from who
speaks when, stepped every 0.1 s as the pipeline's timeline does per audio frame. Speech
recognition is left out: the demo calls' script text and times stand for what it hears.
The labelled calls have no times: each line lasts its words at 2.6 words a second (at least
1.2 s), with 0.7 s between turns.

"Before" is one 30 s cool-down for every rule (what the console had); "after" is each
rule's own (console.analysis.alerts.DEFAULT_COOLDOWNS).

Usage: python bench/alert_fatigue.py [--repeat N]
  --repeat N  play each demo call N times back to back as one long call (default 1): how
              the two settings diverge on calls longer than the short demo scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from console.analysis.alerts import (  # noqa: E402
    DEFAULT_COOLDOWNS,
    AlertEngine,
    AlertSettings,
)
from console.analysis.meaning import Meaning, MeaningWorker  # noqa: E402
from console.analysis.sentiment import Mood  # noqa: E402
from console.core.events import Role  # noqa: E402

STEP_S = 0.1
WORDS_PER_S = 2.6


@dataclass(frozen=True)
class Line:
    speaker: Role
    text: str
    start_s: float
    end_s: float


@dataclass
class Call:
    name: str
    lines: list[Line]

    @property
    def duration_s(self) -> float:
        return max(line.end_s for line in self.lines) + 1.0


def demo_calls(repeat: int) -> list[Call]:
    calls = []
    for script in sorted((REPO / "resources" / "calls").glob("*/script.json")):
        turns = json.loads(script.read_text())["turns"]
        length = max(t["end_s"] for t in turns) + 2.0
        lines = [Line(Role(t["speaker"]), t["text"], t["start_s"] + k * length,
                      t["end_s"] + k * length)
                 for k in range(repeat) for t in turns]
        calls.append(Call(script.parent.name, lines))
    return calls


def labelled_calls() -> list[Call]:
    calls = []
    path = REPO / "tests" / "data" / "language" / "topics.jsonl"
    for raw in path.read_text().splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        at, lines = 0.5, []
        for turn in item["lines"]:
            said = max(1.2, len(turn["text"].split()) / WORDS_PER_S)
            lines.append(Line(Role(turn["speaker"]), turn["text"], at, at + said))
            at += said + 0.7
        calls.append(Call(item["id"], lines))
    return calls


def replay(call: Call, meanings: list[Meaning], settings: AlertSettings) -> Counter[str]:
    """The alerts one call raises with `settings`, by rule."""
    engine = AlertEngine(call.name, settings)
    moods: dict[Role, Mood] = {}
    raised: Counter[str] = Counter()
    events: list[tuple[float, int, Line | None]] = [(line.end_s, 1, line) for line in call.lines]
    steps = int(call.duration_s / STEP_S)
    events += [(i * STEP_S, 0, None) for i in range(steps)]
    events.sort(key=lambda e: (e[0], e[1]))
    meaning_of = dict(zip(call.lines, meanings, strict=True))
    overlap_from: float | None = None
    last_speech = 0.0
    for now, _kind, line in events:
        if line is None:  # the timeline, as the pipeline's per-frame _timeline
            speaking = {role: any(ln.speaker is role and ln.start_s <= now < ln.end_s
                                  for ln in call.lines) for role in Role}
            alerts = []
            if all(speaking.values()):
                overlap_from = now if overlap_from is None else overlap_from
                alerts += engine.on_overtalk(now - overlap_from, now)
            else:
                overlap_from = None
            if any(speaking.values()):
                last_speech = now
            elif last_speech:
                alerts += engine.on_silence(now - last_speech, now)
            raised.update(a.rule for a in alerts)
            continue
        meaning = meaning_of[line]
        verdict = meaning.sentiment
        mood = moods.setdefault(line.speaker, Mood())
        smoothed = mood.update(verdict.score, line.end_s, line.end_s - line.start_s,
                               verdict.confidence)
        alerts = engine.on_fired(line.speaker, meaning.fired, line.end_s)
        alerts += engine.on_sentiment(line.speaker, smoothed, line.end_s)
        raised.update(a.rule for a in alerts)
    return raised


def measure(title: str, calls: list[Call], worker: MeaningWorker) -> None:
    before, after = Counter[str](), Counter[str]()
    hours = sum(c.duration_s for c in calls) / 3600
    for call in calls:
        meanings = [worker.analyse(line.speaker.value, line.text) for line in call.lines]
        before += replay(call, meanings, AlertSettings(cooldown_s=30.0))
        after += replay(call, meanings, AlertSettings())
    b, a = sum(before.values()), sum(after.values())
    print(f"\n{title}: {len(calls)} calls, {hours * 60:.1f} call-minutes")
    print(f"  alerts per call-hour: {b / hours:7.1f} before  {a / hours:7.1f} after  "
          f"({b} -> {a} alerts, {100 * (b - a) / max(1, b):.0f} % fewer)")
    print(f"  {'rule':20} {'cool-down':>10} {'before':>7} {'after':>7}   per call-hour")
    for rule in sorted(set(before) | set(after), key=lambda r: -before[r]):
        cd = DEFAULT_COOLDOWNS.get(rule, 30.0)
        shown = "per call" if cd == float("inf") else f"{cd:.0f} s"
        print(f"  {rule:20} {shown:>10} {before[rule]:7d} {after[rule]:7d}   "
              f"{before[rule] / hours:6.1f} -> {after[rule] / hours:6.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    worker = MeaningWorker(AlertSettings().rules, lambda *_: None)
    worker.start()
    if not worker.wait_ready(600):
        raise SystemExit(f"meaning analysis is not available: {worker.status}")
    try:
        measure("Demo calls (resources/calls, script text and times)", demo_calls(1), worker)
        if args.repeat > 1:
            measure(f"Demo calls played {args.repeat} times back to back",
                    demo_calls(args.repeat), worker)
        measure("Labelled calls (tests/data/language/topics.jsonl)", labelled_calls(), worker)
    finally:
        worker.close()


if __name__ == "__main__":
    main()
