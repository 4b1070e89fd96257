#!/usr/bin/env python3
"""Redaction benchmark: precision and recall on the labelled conversations in
tests/data/redaction/conversations.json, for
  - v0: the per-utterance redactor from before issue 12 (bench/redaction_v0.py);
  - per-utterance: today's rules, each segment on its own (`redact`);
  - stateful: `CallRedactor` fed the segments in their arrival order, as first published
    and after its corrections of earlier segments (what the window, store and exports end
    up with); without holding back (hold=False: every segment published at once) and with
    it (a segment whose last digits may begin a card waits until that is decided, as the
    pipeline does: text is taken to arrive LATENCY_S after its utterance ends, and a held
    segment is let go when a later segment decides it or, failing that, once its speaker
    has started nothing within JOIN_GAP_S, seen VAD_LAG_S late). The hold figures: how
    many segments waited, and for how long.
A span is one stretch of a segment that the label replaces (a true positive when the output
leaves none of it raw); a false positive is a stretch the output replaces where the label
keeps it. Negatives are the digit-bearing stretches the labels keep.

    .venv/bin/python bench/redaction.py [-v]
"""

from __future__ import annotations

import argparse
import difflib
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
sys.path.insert(0, str(ROOT / "bench"))

import redaction_v0  # noqa: E402

from console.analysis.redaction import JOIN_GAP_S, CallRedactor, redact  # noqa: E402

DATA = ROOT / "tests" / "data" / "redaction" / "conversations.json"
_TOK = re.compile(r"\[[A-Za-z ]+\]|[A-Za-z0-9']+|[^\sA-Za-z0-9]")
_NUMBERISH = re.compile(
    r"\b(?:\d+|zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|"
    r"fifty|sixty|seventy|eighty|ninety|hundred|thousand|double|triple)\b", re.I)

Outputs = list[str]  # one text per segment, in the item's order
LATENCY_S = 1.0  # utterance end -> its text, assumed for the hold times
VAD_LAG_S = 0.3  # how late the voice detector can tell that speech began (pre-roll + window)
STEP_S = 0.05


def load() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(DATA.read_text())["items"]
    return items


def arrival(item: dict[str, Any]) -> list[int]:
    return list(item.get("order") or range(len(item["segments"])))


def run_v0(item: dict[str, Any]) -> Outputs:
    return [redaction_v0.redact(s["text"]).text for s in item["segments"]]


def run_single(item: dict[str, Any]) -> Outputs:
    return [redact(s["text"]).text for s in item["segments"]]


class Run:
    """One item through `CallRedactor` on a simulated clock (see the module docstring)."""

    def __init__(self, item: dict[str, Any], hold: bool) -> None:
        segs = item["segments"]
        n = len(segs)
        self.first: Outputs = [""] * n  # as first published
        self.final: Outputs = [""] * n  # after every correction
        self.shown: list[list[str]] = [[] for _ in range(n)]  # everything handed out
        self.held: list[float] = []  # seconds each held segment waited
        self.held_masked = 0  # ... of which let go with something masked
        self.held_digitless = 0  # held segments with no digit at all (must stay 0)
        red = CallRedactor(hold=hold)
        arrive: dict[int, float] = {}
        t = 0.0
        for i in arrival(item):  # in the given order, each no sooner than its end + latency
            t = max(t, segs[i]["t"][1] + LATENCY_S)
            arrive[i] = t
        queue = sorted(arrive, key=lambda i: (arrive[i], arrival(item).index(i)))
        since: dict[int, float] = {}

        def out(i: int, text: str, now: float, correction: bool = False) -> None:
            self.final[i] = text
            self.shown[i].append(text)
            if not correction:
                self.first[i] = text
            if i in since:
                self.held.append(now - since.pop(i))
                self.held_masked += text != segs[i]["text"]

        now = 0.0
        while queue or red.holding():
            while queue and arrive[queue[0]] <= now + 1e-9:
                i = queue.pop(0)
                s = segs[i]
                r = red.push(str(i), s["who"], s["t"][0], s["t"][1], s["text"])
                for sid, text in r.released.items():
                    out(int(sid), text, now)
                if r.pending:
                    since[i] = now
                    self.shown[i].append(r.text)  # tentative, meanwhile
                    self.held_digitless += not any(c.isdigit() for c in r.text) and \
                        not _NUMBERISH.search(s["text"])
                else:
                    out(i, r.text, now)
                for sid, text in r.corrections.items():
                    out(int(sid), text, now, correction=True)
            for who in {w for w, _ in red.holding().values()}:
                # Everything the speaker started before `heard` has been pushed.
                heard = now - VAD_LAG_S
                for i in queue:
                    if segs[i]["who"] == who:
                        heard = min(heard, segs[i]["t"][0])
                for sid, text in red.release(who, heard).items():
                    out(int(sid), text, now)
            now = round(now + STEP_S, 6)
        self.corrections = red.corrections


def run_stateful(item: dict[str, Any], hold: bool = True) -> tuple[Outputs, Outputs, int]:
    """(as first published, after corrections, corrections made)."""
    r = Run(item, hold)
    return r.first, r.final, r.corrections


def _changed(raw: str, out: str) -> list[range]:
    """Stretches of raw tokens that `out` replaces."""
    a, b = _TOK.findall(raw), _TOK.findall(out)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [range(i1, i2) for tag, i1, i2, _, _ in ops if tag in ("replace", "delete") and i2 > i1]


def _negatives(raw: str, want: list[range]) -> list[range]:
    """Digit-bearing stretches the label keeps."""
    toks = _TOK.findall(raw)
    kept = set().union(*want) if want else set()
    spans: list[range] = []
    i = 0
    while i < len(toks):
        if i not in kept and _NUMBERISH.fullmatch(toks[i]):
            j = i + 1
            while j < len(toks) and j not in kept and (
                    _NUMBERISH.fullmatch(toks[j]) or toks[j] in ",-/'\""):
                j += 1
            spans.append(range(i, j))
            i = j
        else:
            i += 1
    return spans


class Score:
    def __init__(self) -> None:
        self.tp: Counter[str] = Counter()
        self.fn: Counter[str] = Counter()
        self.fp: Counter[str] = Counter()
        self.neg: Counter[str] = Counter()  # digit-bearing stretches the labels keep
        self.neg_hit: Counter[str] = Counter()  # ... of which the output changed
        self.exact = 0
        self.items = 0
        self.misses: list[str] = []

    def add(self, item: dict[str, Any], outs: Outputs) -> None:
        ok = True
        neg_kind = item.get("negative", "other")
        for seg, out in zip(item["segments"], outs, strict=True):
            raw, want = seg["text"], seg.get("want", seg["text"])
            kind = seg.get("kind", neg_kind)
            exp, got = _changed(raw, want), _changed(raw, out)
            got_idx = set().union(*got) if got else set()
            exp_idx = set().union(*exp) if exp else set()
            for span in exp:
                if set(span) <= got_idx:
                    self.tp[kind] += 1
                else:
                    self.fn[kind] += 1
            for span in got:
                if not set(span) & exp_idx:
                    self.fp[kind] += 1
            for span in _negatives(raw, exp):
                self.neg[neg_kind] += 1
                if set(span) & got_idx:
                    self.neg_hit[neg_kind] += 1
            if out != want:
                ok = False
                self.misses.append(f"  {item['id']}: {raw!r} -> {out!r} (want {want!r})")
        self.items += 1
        self.exact += ok

    def totals(self) -> tuple[int, int, int]:
        return sum(self.tp.values()), sum(self.fn.values()), sum(self.fp.values())


def _leaks(items: list[dict[str, Any]], runs: list[Run]) -> int:
    """Segments that something handed out before their last version showed with a masked
    stretch raw (a provisional text shown while held masks its digits)."""
    n = 0
    for it, r in zip(items, runs, strict=True):
        for seg, shown in zip(it["segments"], r.shown, strict=True):
            spans = _changed(seg["text"], seg.get("want", seg["text"]))
            n += any(not set(span) & set().union(*_changed(seg["text"], text) or [range(0)])
                     for span in spans for text in shown[:-1])
    return n


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:5.1f} %" if den else "    - "


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="list every mismatch")
    args = ap.parse_args()
    items = load()
    methods: dict[str, Callable[[dict[str, Any]], Outputs]] = {
        "v0, per utterance (before)": run_v0,
        "redact(), per utterance": run_single,
        "CallRedactor, first, no hold": lambda it: run_stateful(it, hold=False)[0],
        "CallRedactor, after corr., no hold": lambda it: run_stateful(it, hold=False)[1],
        "CallRedactor, as first published": lambda it: run_stateful(it)[0],
        "CallRedactor, after corrections": lambda it: run_stateful(it)[1],
    }
    scores = {}
    for name, fn in methods.items():
        sc = Score()
        for it in items:
            sc.add(it, fn(it))
        scores[name] = sc
    segs = sum(len(it["segments"]) for it in items)
    runs = [Run(it, hold=True) for it in items]
    corrections = sum(r.corrections for r in runs)
    corrections_nohold = sum(run_stateful(it, hold=False)[2] for it in items)
    print(f"{len(items)} conversations, {segs} segments ({DATA.relative_to(ROOT)})\n")
    print(f"{'method':36} {'spans':>5} {'TP':>4} {'FN':>4} {'FP':>4} {'precision':>9} "
          f"{'recall':>7} {'neg kept':>8} {'exact items':>11}")
    for name, sc in scores.items():
        tp, fn, fp = sc.totals()
        neg, hit = sum(sc.neg.values()), sum(sc.neg_hit.values())
        print(f"{name:36} {tp + fn:5} {tp:4} {fn:4} {fp:4} {_pct(tp, tp + fp):>9} "
              f"{_pct(tp, tp + fn):>7} {_pct(neg - hit, neg):>8} "
              f"{sc.exact:>5}/{sc.items}")
    print(f"\nstateful: earlier segments re-published with more masked: {corrections_nohold} "
          f"without holding back, {corrections} with it")
    waits = sorted(w for r in runs for w in r.held)
    if waits:
        p50 = waits[len(waits) // 2]
        print(f"held back: {len(waits)} of {segs} segments ("
              f"{sum(r.held_masked for r in runs)} then let go masked, the rest as said; "
              f"none without digits: {sum(r.held_digitless for r in runs) == 0}); "
              f"waited p50 {p50:.2f} s, "
              f"p90 {waits[int(len(waits) * 0.9)]:.2f} s, max {waits[-1]:.2f} s "
              f"(text {LATENCY_S} s after speech, decided by the next segment or "
              f"{JOIN_GAP_S:.0f} s + {VAD_LAG_S} s of silence)")
    print("segments shown at first with digits that the label masks, corrected later: "
          f"{_leaks(items, [Run(it, hold=False) for it in items])} without holding back, "
          f"{_leaks(items, runs)} with it")
    kinds = sorted({k for sc in scores.values() for k in (*sc.tp, *sc.fn)})
    print("\nrecall by kind (TP/spans):")
    short = ["v0", "per utterance", "first, no hold", "final, no hold", "stateful, first",
             "stateful, final"]
    print(f"{'kind':10}" + "".join(f"{n:>25}" for n in short))
    for k in kinds:
        row = ""
        for sc in scores.values():
            tp, fn = sc.tp[k], sc.fn[k]
            row += f"{f'{tp}/{tp + fn}  {_pct(tp, tp + fn)}':>25}"
        print(f"{k:10}{row}")
    print("\nfalse positives by kind (fp spans; digit-bearing stretches to keep: changed/all):")
    print(f"{'kind':10}" + "".join(f"{n:>25}" for n in short))
    for k in sorted({k for sc in scores.values() for k in (*sc.fp, *sc.neg)}):
        row = ""
        for sc in scores.values():
            row += f"{f'{sc.fp[k]} fp, {sc.neg_hit[k]}/{sc.neg[k]} neg':>25}"
        print(f"{k:10}{row}")
    segs_list = [(str(i), s["who"], s["t"][0], s["t"][1], s["text"])
                 for it in items for i, s in enumerate(it["segments"])]
    t0 = time.perf_counter()
    for it in items * 20:
        run_stateful(it)
    per_seg = (time.perf_counter() - t0) / (20 * len(segs_list))
    long_call = CallRedactor()
    lines = [s["text"] for it in items for s in it["segments"]]
    t0 = time.perf_counter()
    for i in range(3000):  # a long call: the memory stays full (MAX_SEGMENTS)
        long_call.push(str(i), i % 2, 2.0 * i, 2.0 * i + 1.5, lines[i % len(lines)])
    per_push = (time.perf_counter() - t0) / 3000
    print(f"\nstateful cost on the engine loop: {per_seg * 1e6:.0f} us per segment over the "
          f"set; {per_push * 1e6:.0f} us per segment in a long call (memory full)")
    if args.verbose:
        for name, sc in scores.items():
            print(f"\n{name}: {len(sc.misses)} segments differ from the label")
            print("\n".join(sc.misses))
    else:
        final = scores["CallRedactor, after corrections"]
        if final.misses:
            print("\nCallRedactor mismatches:")
            print("\n".join(final.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
