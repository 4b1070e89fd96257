#!/usr/bin/env python3
"""Sentiment on the labelled lines in tests/data/language/sentiment.jsonl (negative, neutral,
positive): 3-class accuracy on recognised text (the goal's measure), on text as written, per
kind of line and per label, for
  - plain VADER: compound >= +0.05 positive, <= -0.05 negative (VADER's own cut-offs);
  - VADER with the console's contact-centre lexicon (console.analysis.sentiment.
    SentimentScorer), read as the console shows it: above +0.25 positive, below -0.25
    negative (the history list and the gauge's tooltip);
  - the embedding classifier, console.analysis.sentiment_model.SentimentModel, when that
    module exists.

--set holdout measures on the blind held-out set (tests/data/language/holdout/), written apart
from the lines the console was tuned on; its lines are never printed (no -v, overlaps as a
count), so reading the figures does not spoil it.

    .venv/bin/python bench/sentiment.py [-v] [--set main|holdout]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data" / "language" / "sentiment.jsonl"
SETS = {"main": DATA, "holdout": DATA.parent / "holdout" / DATA.name}
LABELS = ("negative", "neutral", "positive")
KINDS = ("explicit", "implicit_complaint", "sarcasm", "negation", "neutral_request",
         "polite_neutral", "mixed")
GOAL = 0.80
CONSOLE_CUT = 0.25  # console/ui/history.py and widgets.py: the words shown for a score

Classifier = Callable[[str], str]


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def vader() -> Classifier:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()

    def classify(text: str) -> str:
        c = analyser.polarity_scores(text)["compound"]
        return "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
    return classify


def console_lexicon() -> Classifier:
    from console.analysis.sentiment import SentimentScorer

    scorer = SentimentScorer()

    def classify(text: str) -> str:
        s = scorer.score(text)
        return "positive" if s > CONSOLE_CUT else "negative" if s < -CONSOLE_CUT else "neutral"
    return classify


def embedding() -> tuple[Classifier | None, str]:
    try:
        from console.analysis.sentiment_model import SentimentModel
    except ImportError as e:
        return None, f"not available yet ({e})"
    model = SentimentModel.default()

    def classify(text: str) -> str:
        label, _confidence = model.classify(text)
        return str(label)
    return classify, ""


def overlap(rows: list[dict[str, Any]], show: bool = True) -> None:
    """Lines of the set that are also one of the classifier's labelled examples (the same
    words, ignoring case and punctuation): a score on them says nothing about new speech."""
    from console.analysis import sentiment_model

    def norm(t: str) -> str:
        return " ".join(re.findall(r"[a-z0-9']+", t.lower()))
    examples = getattr(sentiment_model, "EXAMPLES", {})
    known = {norm(t) for texts in examples.values() for t in texts}
    same = [r for r in rows if norm(r["text"]) in known]
    asr = sum(r["asr"] for r in same)
    print(f"\nlines that are also one of the classifier's examples: {len(same)} "
          f"({asr} recognised)" + "".join(f"\n  {r['text']}" for r in same if show))


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f} %" if d else "    -  "


def evaluate(name: str, classify: Classifier, rows: list[dict[str, Any]],
             verbose: bool) -> None:
    start = time.perf_counter()
    guesses = [classify(r["text"]) for r in rows]
    per_line_ms = 1000 * (time.perf_counter() - start) / len(rows)
    right = [g == r["label"] for r, g in zip(rows, guesses, strict=True)]
    asr = [ok for r, ok in zip(rows, right, strict=True) if r["asr"]]
    clean = [ok for r, ok in zip(rows, right, strict=True) if not r["asr"]]
    print(f"\n== {name}  ({per_line_ms:.1f} ms per line)")
    print(f"accuracy: recognised {sum(asr)}/{len(asr)} {pct(sum(asr), len(asr))}, "
          f"as written {sum(clean)}/{len(clean)} {pct(sum(clean), len(clean))}, "
          f"all {pct(sum(right), len(right))}")
    print(f"  {'kind':<20}{'recognised':>18}{'as written':>18}")
    for kind in KINDS:
        cells = []
        for want_asr in (True, False):
            ok = [o for r, o in zip(rows, right, strict=True)
                  if r["kind"] == kind and r["asr"] == want_asr]
            cells.append(f"{sum(ok):>3}/{len(ok):<3} {pct(sum(ok), len(ok))}")
        print(f"  {kind:<20}{cells[0]:>18}{cells[1]:>18}")
    print("  recognised lines, label (rows) against guess (columns):")
    print(f"  {'':<12}" + "".join(f"{g:>10}" for g in LABELS))
    for want in LABELS:
        row = Counter(g for r, g in zip(rows, guesses, strict=True)
                      if r["asr"] and r["label"] == want)
        print(f"  {want:<12}" + "".join(f"{row[g]:>10}" for g in LABELS))
    score = sum(asr) / len(asr)
    print(f"goal (>= {GOAL:.0%} on recognised text): {'met' if score >= GOAL else 'not met'} "
          f"({score:.1%})")
    if verbose:
        for r, g in zip(rows, guesses, strict=True):
            if g != r["label"]:
                print(f"  {r['label']:>8} as {g:<8} {r['kind']:<18}"
                      f"{'asr ' if r['asr'] else '    '}{r['text']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="list every wrong line")
    ap.add_argument("--set", choices=tuple(SETS), default="main",
                    help="main (default) or holdout, the blind held-out set")
    args = ap.parse_args()
    if args.set == "holdout" and args.verbose:
        ap.error("-v lists lines, and the held-out lines are not shown")
    path = SETS[args.set]
    rows = load(path)
    print(f"{len(rows)} lines in {path.relative_to(ROOT)}, "
          f"{sum(r['asr'] for r in rows)} of them recognised")
    counts = Counter((r["label"], r["kind"]) for r in rows)
    for label in LABELS:
        print(f"  {label:<10}" + ", ".join(f"{k} {n}" for (lab, k), n in sorted(counts.items())
                                          if lab == label))
    evaluate("plain VADER (+-0.05)", vader(), rows, args.verbose)
    evaluate(f"VADER with the console's lexicon (SentimentScorer, +-{CONSOLE_CUT})",
             console_lexicon(), rows, args.verbose)
    classify, why = embedding()
    if classify is None:
        print(f"\n== embedding classifier (SentimentModel): {why}")
        return 0
    evaluate("embedding classifier (SentimentModel.default().classify)", classify, rows,
             args.verbose)
    overlap(rows, show=args.set == "main")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
