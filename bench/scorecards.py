"""Scorecard agreement: the checklist filled by meaning against hand labels.

    .venv/bin/python bench/scorecards.py [--checklist FILE] [--split tune|held|all] [-v]

Reads tests/data/scorecards/calls.txt (short calls written and labelled for this; the
"held" calls were never looked at while tuning) and prints, per item and overall, how often
the automatic verdict agrees with the label (accuracy) and Cohen's kappa (agreement beyond
chance; "n/a" where one side never varies), for each split. With --recognised, also
tests/data/scorecards/recognised.txt (the same kind of calls spoken by a synthetic voice and
transcribed by the console's recogniser), when present.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from console.analysis.scorecard import (  # noqa: E402
    Checklist,
    Line,
    ScorecardMatcher,
    checklist_from_settings,
    load_checklist,
)

DATA = REPO / "tests" / "data" / "scorecards"
_HEAD = re.compile(r"^===\s+(\S+)\s+(\S+)\s*\|\s*met:(.*?)\|\s*borderline:(.*)$")


@dataclass
class LabelledCall:
    id: str
    split: str
    met: set[str]
    borderline: set[str]
    lines: list[Line]


def load_calls(path: Path = DATA / "calls.txt") -> list[LabelledCall]:
    calls: list[LabelledCall] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head = _HEAD.match(line)
        if head:
            calls.append(LabelledCall(head[1], head[2], set(head[3].split()),
                                      set(head[4].split()), []))
            continue
        who, _, text = line.partition(":")
        if who not in ("A", "C") or not calls:
            raise ValueError(f"{path.name}: cannot read {line!r}")
        call = calls[-1]
        call.lines.append(Line(f"{call.id}-{len(call.lines)}",
                               "agent" if who == "A" else "customer",
                               float(len(call.lines) * 4), text.strip()))
    return calls


def kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    pa = sum(a for a, _ in pairs) / n
    pb = sum(b for _, b in pairs) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def measure(matcher: ScorecardMatcher, calls: list[LabelledCall]
            ) -> dict[str, list[tuple[bool, bool]]]:
    """Per item: (label, automatic) for every call."""
    out: dict[str, list[tuple[bool, bool]]] = {i.name: [] for i in matcher.items}
    for call in calls:
        for item in matcher.fill(call.lines):
            out[item.name].append((item.name in call.met, item.passed))
    return out


def report(title: str, pairs: dict[str, list[tuple[bool, bool]]],
           calls: list[LabelledCall], verbose: bool, matcher: ScorecardMatcher) -> None:
    print(f"\n{title}: {len(calls)} calls")
    print(f"  {'item':<20} {'accuracy':>9} {'kappa':>6} {'missed':>7} {'false':>6}")
    every: list[tuple[bool, bool]] = []
    for name, p in pairs.items():
        every += p
        acc = sum(a == b for a, b in p) / len(p) if p else 0.0
        k = kappa(p)
        missed = sum(a and not b for a, b in p)
        false = sum(b and not a for a, b in p)
        print(f"  {name:<20} {acc:>8.1%} {'n/a' if k is None else f'{k:.2f}':>6} "
              f"{missed:>7} {false:>6}")
    acc = sum(a == b for a, b in every) / len(every) if every else 0.0
    k = kappa(every)
    print(f"  {'overall':<20} {acc:>8.1%} {'n/a' if k is None else f'{k:.2f}':>6}")
    if verbose:
        for call in calls:
            for item in matcher.fill(call.lines):
                if (item.name in call.met) != item.passed:
                    mark = " (borderline)" if item.name in call.borderline else ""
                    print(f"    {call.id} {item.name}: label {item.name in call.met}, "
                          f"auto {item.passed} {item.similarity} {item.text!r}{mark}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checklist", help="a checklist TOML (default: the shipped one)")
    ap.add_argument("--split", choices=("tune", "held", "all"), default="all")
    ap.add_argument("--recognised", action="store_true",
                    help="also the calls put through the recogniser (recognised.txt)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every disagreement")
    args = ap.parse_args()
    checklist: Checklist = (load_checklist(Path(args.checklist)) if args.checklist
                            else checklist_from_settings(""))
    t0 = time.perf_counter()
    matcher = ScorecardMatcher(checklist)
    built = time.perf_counter() - t0
    calls = load_calls()
    print(f"checklist {checklist.name!r}: {len(checklist.items)} items; model and example "
          f"bank ready in {built:.1f} s")
    splits = ("tune", "held") if args.split == "all" else (args.split,)
    for split in splits:
        chosen = [c for c in calls if c.split == split]
        t0 = time.perf_counter()
        pairs = measure(matcher, chosen)
        per_call = (time.perf_counter() - t0) / max(1, len(chosen))
        name = "tuning set" if split == "tune" else "held-out set (not tuned on)"
        report(f"{name}, {per_call * 1000:.0f} ms a call", pairs, chosen, args.verbose,
               matcher)
    if args.split == "all":
        report("all calls", measure(matcher, calls), calls, False, matcher)
    recognised = DATA / "recognised.txt"
    if args.recognised and recognised.is_file():
        rcalls = load_calls(recognised)
        report("spoken and recognised (tiny.en)", measure(matcher, rcalls), rcalls,
               args.verbose, matcher)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
