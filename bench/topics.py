#!/usr/bin/env python3
"""Call topic on the labelled calls in tests/data/language/topics.jsonl (billing, technical,
cancellation, account_change, sales, other): accuracy of
console.analysis.topics.TopicModel.default().classify per call, from the whole call and
from only its first 2 and first 4 lines (the topic is shown live and updates as the call goes
on), per topic, and for calls with recognised lines against calls as written. The speakers
are passed along when classify takes them.

--set holdout measures on the blind held-out set (tests/data/language/holdout/), written apart
from the lines the console was tuned on; its lines are never printed (no -v, overlaps as a
count), so reading the figures does not spoil it.

    .venv/bin/python bench/topics.py [-v] [--set main|holdout]
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data" / "language" / "topics.jsonl"
SETS = {"main": DATA, "holdout": DATA.parent / "holdout" / DATA.name}
TOPICS = ("billing", "technical", "cancellation", "account_change", "sales", "other")
PREFIXES = (2, 4, None)  # None: the whole call


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f} %" if d else "    -  "


def overlap(calls: list[dict[str, Any]], model: Any, show: bool = True) -> None:
    """Lines of the calls that are also one of a topic's examples (the same words, ignoring
    case and punctuation): a score on them says nothing about new calls."""
    def norm(t: str) -> str:
        return " ".join(re.findall(r"[a-z0-9']+", t.lower()))
    known = {norm(e) for t in getattr(model, "topics", ()) for e in getattr(t, "examples", ())}
    same = [x["text"] for c in calls for x in c["lines"] if norm(x["text"]) in known]
    print(f"  lines that are also a topic's example: {len(same)}"
          + "".join(f"\n    {t}" for t in same if show))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="list every wrong call")
    ap.add_argument("--set", choices=tuple(SETS), default="main",
                    help="main (default) or holdout, the blind held-out set")
    args = ap.parse_args()
    if args.set == "holdout" and args.verbose:
        ap.error("-v lists lines, and the held-out lines are not shown")
    path = SETS[args.set]
    calls = load(path)
    recognised = sum(any(line.get("asr") for line in c["lines"]) for c in calls)
    print(f"{len(calls)} calls in {path.relative_to(ROOT)} ({recognised} with recognised "
          "lines): " + ", ".join(f"{t} {n}" for t, n in Counter(c["topic"] for c in calls)
                                 .items()))
    try:
        from console.analysis.topics import TopicModel
    except ImportError as e:
        print(f"\n== TopicModel: not available yet ({e})")
        return 0
    model = TopicModel.default()
    with_speakers = "speakers" in inspect.signature(model.classify).parameters
    print(f"\n== TopicModel.default().classify (speakers passed: "
          f"{'yes' if with_speakers else 'no'})")
    results: dict[int | None, list[tuple[str, float]]] = {}
    start = time.perf_counter()
    for n in PREFIXES:
        out = []
        for c in calls:
            lines = c["lines"][:n]
            texts = [line["text"] for line in lines]
            if with_speakers:
                topic, conf = model.classify(texts, [line["speaker"] for line in lines])
            else:
                topic, conf = model.classify(texts)
            out.append((str(topic), float(conf)))
        results[n] = out
    per_call_ms = 1000 * (time.perf_counter() - start) / (len(calls) * len(PREFIXES))
    print(f"({per_call_ms:.0f} ms per classify call)")
    head = "".join(f"{'first ' + str(n) if n else 'whole call':>16}" for n in PREFIXES)
    print(f"  {'calls':<26}{head}")

    def line(label: str, keep: list[bool]) -> None:
        cells = []
        for n in PREFIXES:
            ok = [g == c["topic"] for c, (g, _), k in zip(calls, results[n], keep, strict=True)
                  if k]
            cells.append(f"{sum(ok):>3}/{len(ok):<3}{pct(sum(ok), len(ok))}")
        print(f"  {label:<26}" + "".join(f"{x:>16}" for x in cells))

    line("all", [True] * len(calls))
    for topic in TOPICS:
        line(topic, [c["topic"] == topic for c in calls])
    has_asr = [any(x.get("asr") for x in c["lines"]) for c in calls]
    line("with recognised lines", has_asr)
    line("as written", [not a for a in has_asr])

    whole = results[None]
    print("  whole call, topic (rows) against guess (columns):")
    print(f"  {'':<16}" + "".join(f"{t[:10]:>11}" for t in TOPICS))
    for want in TOPICS:
        row = Counter(g for c, (g, _) in zip(calls, whole, strict=True) if c["topic"] == want)
        print(f"  {want:<16}" + "".join(f"{row[t]:>11}" for t in TOPICS))
    right = [conf for c, (g, conf) in zip(calls, whole, strict=True) if g == c["topic"]]
    wrong = [conf for c, (g, conf) in zip(calls, whole, strict=True) if g != c["topic"]]
    print(f"  mean confidence: right {sum(right) / max(len(right), 1):.2f}, "
          f"wrong {sum(wrong) / max(len(wrong), 1):.2f}")
    overlap(calls, model, show=args.set == "main")
    if args.verbose:
        for n in PREFIXES:
            for c, (g, conf) in zip(calls, results[n], strict=True):
                if g != c["topic"]:
                    print(f"  {('first ' + str(n)) if n else 'whole':<8} {c['id']:<18} "
                          f"as {g:<15} ({conf:.2f})  "
                          f"{' / '.join(x['text'] for x in c['lines'][:n or 3])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
