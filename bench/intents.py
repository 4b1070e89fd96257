#!/usr/bin/env python3
"""Intent alerts on the labelled lines in tests/data/language/intents.jsonl: precision and
recall per intent (and recall by kind of line), and false alerts on lines that carry no
intent, for
  - literal v0: the phrase and regex rules from before issue 14 (cancellation, escalation,
    legal_threat; repeat_contact and payment_dispute had none), frozen here;
  - literal now: the phrases and regexes of today's DEFAULT_RULES, nothing else;
  - meaning: console.analysis.intents.IntentMatcher.default().match (literal and meaning),
    when that module exists.
Each line is matched with its speaker; the rules are for what the customer says, so an agent
saying "I can escalate this for you" must not fire. "Harmless" lines are the negative but
intent-free ones (kind harmless_negative, and the recognised ones spoken from such lines).
Recognised lines are also split by how badly the recogniser garbled them (word error rate
against the line as spoken).

--set holdout measures on the blind held-out set (tests/data/language/holdout/), written apart
from the lines the console was tuned on; its lines are never printed (no -v, overlaps as a
count), so reading the figures does not spoil it.

    .venv/bin/python bench/intents.py [-v] [--set main|holdout]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.analysis.alerts import DEFAULT_RULES, AlertRule  # noqa: E402
from console.analysis.wer import word_errors  # noqa: E402

DATA = ROOT / "tests" / "data" / "language" / "intents.jsonl"
SETS = {"main": DATA, "holdout": DATA.parent / "holdout" / DATA.name}
INTENTS = ("cancellation", "escalation", "legal_threat", "repeat_contact", "payment_dispute")
KINDS = ("clean", "paraphrase", "asr_synthetic")
GOAL_RECALL = 0.90
GOAL_FALSE = 0.02

# The rules as they were before issue 14 (console/analysis/alerts.py), kept as the baseline.
V0_RULES = (
    AlertRule("cancellation", ("cancel my account", "cancel my subscription", "close my account",
                               "cancel the service", "switch providers", "switching providers",
                               "take my business elsewhere"),
              r"\bcancel(?:l?ing)?\b[^.?!]{0,30}\b(?:account|service|contract|plan)\b",
              "customer", "critical"),
    AlertRule("escalation", ("speak to a manager", "talk to a manager", "your manager",
                             "a supervisor", "escalate this", "file a complaint"),
              r"\bmanager\b", "customer", "warning"),
    AlertRule("legal_threat", ("my lawyer", "an attorney", "legal action", "take you to court",
                               "sue you", "the ombudsman", "report you to"),
              r"\bsu(?:e|ing)\b", "customer", "critical"),
)

Matcher = Callable[[str, str], set[str]]


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def literal(rules: Iterable[AlertRule]) -> Matcher:
    compiled = [(r, r.pattern()) for r in rules if r.name in INTENTS]

    def match(text: str, speaker: str) -> set[str]:
        return {r.name for r, p in compiled if r.speaker in ("any", speaker) and p.search(text)}
    return match


def meaning() -> tuple[Matcher | None, str, Any]:
    try:
        from console.analysis.intents import IntentMatcher
    except ImportError as e:
        return None, f"not available yet ({e})", None
    matcher = IntentMatcher.default()

    def match(text: str, speaker: str) -> set[str]:
        out = set()
        for fired in matcher.match(text, speaker):
            name = fired.rule if hasattr(fired, "rule") else fired[0]  # Fired or (name, score)
            if name in INTENTS:
                out.add(name)
        return out
    return match, "", matcher


def is_harmless(row: dict[str, Any]) -> bool:
    return "harmless_negative" in (row["kind"], row.get("spoken_kind"))


def garble(row: dict[str, Any]) -> float:
    errors, words = word_errors(row["spoken"], row["text"])
    return errors / max(words, 1)


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f} %" if d else "    -  "


def evaluate(name: str, match: Matcher, rows: list[dict[str, Any]], verbose: bool) -> bool:
    start = time.perf_counter()
    fired = [match(r["text"], r["speaker"]) for r in rows]
    per_line_ms = 1000 * (time.perf_counter() - start) / len(rows)
    print(f"\n== {name}  ({per_line_ms:.1f} ms per line)")
    print(f"{'intent':<16}{'precision':>10}{'recall':>9}   recall by kind:"
          + "".join(f"{k:>16}" for k in KINDS))
    worst_recall = 1.0
    for intent in INTENTS:
        tp = sum(intent in f and r["intent"] == intent for r, f in zip(rows, fired, strict=True))
        fp = sum(intent in f and r["intent"] != intent for r, f in zip(rows, fired, strict=True))
        pos = [f for r, f in zip(rows, fired, strict=True) if r["intent"] == intent]
        by_kind = []
        for kind in KINDS:
            got = [intent in f for r, f in zip(rows, fired, strict=True)
                   if r["intent"] == intent and r["kind"] == kind]
            by_kind.append(f"{sum(got)}/{len(got)} {pct(sum(got), len(got))}")
        worst_recall = min(worst_recall, tp / len(pos))
        print(f"{intent:<16}{pct(tp, tp + fp):>10}{pct(tp, len(pos)):>9}   {'':15}"
              + "".join(f"{b:>16}" for b in by_kind))
    tp_all = sum(r["intent"] in f for r, f in zip(rows, fired, strict=True)
                 if r["intent"] != "none")
    n_pos = sum(r["intent"] != "none" for r in rows)
    print(f"{'all intents':<16}{'':>10}{pct(tp_all, n_pos):>9}")
    asr = [(garble(r), r["intent"] in f) for r, f in zip(rows, fired, strict=True)
           if r["intent"] != "none" and r["kind"] == "asr_synthetic"]
    for garbled, label in ((False, "WER <= 20 %"), (True, "WER > 20 %")):
        part = [hit for w, hit in asr if (w > 0.2) == garbled]
        print(f"  recognised lines, {label:<12} recall {sum(part)}/{len(part)} "
              f"{pct(sum(part), len(part))}")

    none = [(r, f) for r, f in zip(rows, fired, strict=True) if r["intent"] == "none"]
    groups = {
        "all 'none' lines": [f for r, f in none],
        "harmless (written)": [f for r, f in none if r["kind"] == "harmless_negative"],
        "harmless incl. recognised": [f for r, f in none if is_harmless(r)],
        "neutral, customer": [f for r, f in none if r.get("spoken_kind", r["kind"]) == "neutral"
                              and r["speaker"] == "customer"],
        "agent lines": [f for r, f in none if r["speaker"] == "agent"],
    }
    print("false alerts (any intent rule fires on a line without an intent):")
    for label, fs in groups.items():
        bad = sum(bool(f) for f in fs)
        print(f"  {label:<28}{bad:>4}/{len(fs):<4}{pct(bad, len(fs))}")
    harmless = groups["harmless incl. recognised"]
    false_rate = sum(bool(f) for f in harmless) / len(harmless)
    met = worst_recall >= GOAL_RECALL and false_rate <= GOAL_FALSE
    print(f"goal (recall >= {GOAL_RECALL:.0%} for every intent, <= {GOAL_FALSE:.0%} false "
          f"alerts on harmless lines): {'met' if met else 'not met'} (lowest recall "
          f"{worst_recall:.1%}, harmless false alerts {false_rate:.1%})")
    if verbose:
        for r, f in zip(rows, fired, strict=True):
            if r["intent"] != "none" and r["intent"] not in f:
                print(f"  miss  {r['intent']:<16}{r['kind']:<14}{r['text']}")
            for extra in sorted(f - {r["intent"]}):
                print(f"  false {extra:<16}{r['kind']:<14}[{r['intent']}] {r['text']}")
    return met


def overlap(rows: list[dict[str, Any]], matcher: Any, show: bool = True) -> None:
    """Lines of the set that are also a rule's example or counter-example: a score on them
    says nothing about held-out speech."""
    def norm(t: str) -> str:
        return " ".join(re.findall(r"[a-z0-9']+", t.lower()))
    known = {norm(t) for rule in getattr(matcher, "rules", ())
             for t in (*getattr(rule, "examples", ()), *getattr(rule, "unlike", ()))}
    same = [r["text"] for r in rows if norm(r["text"]) in known]
    print(f"\nlines that are also a rule's example or counter-example: {len(same)}"
          + "".join(f"\n  {t}" for t in same if show))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="list misses and false alerts")
    ap.add_argument("--set", choices=tuple(SETS), default="main",
                    help="main (default) or holdout, the blind held-out set")
    args = ap.parse_args()
    if args.set == "holdout" and args.verbose:
        ap.error("-v lists lines, and the held-out lines are not shown")
    path = SETS[args.set]
    rows = load(path)
    counts = Counter((r["intent"], r["kind"]) for r in rows)
    per_intent: dict[str, list[str]] = defaultdict(list)
    for (intent, kind), n in sorted(counts.items()):
        per_intent[intent].append(f"{kind} {n}")
    print(f"{len(rows)} lines in {path.relative_to(ROOT)}")
    for intent, parts in per_intent.items():
        print(f"  {intent:<16}{', '.join(parts)}")
    evaluate("literal v0 (rules before issue 14)", literal(V0_RULES), rows, args.verbose)
    evaluate("literal now (phrases and regexes of DEFAULT_RULES)", literal(DEFAULT_RULES), rows,
             args.verbose)
    match, why, matcher = meaning()
    if match is None:
        print(f"\n== meaning (IntentMatcher): {why}")
        return 0
    evaluate("meaning (IntentMatcher.default().match)", match, rows, args.verbose)
    overlap(rows, matcher, show=args.set == "main")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
