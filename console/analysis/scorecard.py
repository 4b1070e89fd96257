"""Scorecards: a checklist filled from a call's transcript by meaning.

A checklist (TOML: resources/scorecards/default.toml, or a team's own via the
`scorecard_file` setting) lists what an agent should do on a call: greet, verify the
caller, show empathy, offer a resolution, close. Each item has example sentences; a line of
the item's speaker meets it when one of its pieces (the line, each sentence, windows of a
long sentence: intents.windows) is nearest in meaning to the item's examples rather than to
other items, to the item's look-alikes or to a bank of ordinary call talk, and close enough
to them (the item's threshold). Literal phrases meet an item too. The line that met each
item is kept as evidence; a missed item keeps its nearest line, for the supervisor to judge.

`ScorecardService` runs the checklist off the engine's loop: it follows final transcript
lines on the bus, scores a call a moment after it ends (again if late lines come), and the
call in focus every few seconds while it is live. Results go back on the bus as
`CallScorecard` events: the store keeps the final ones, team mode carries them as facts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import re
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from console.analysis.embeddings import Embedder, default_embedder
from console.analysis.intents import windows
from console.core.events import CallEnded, CallEvent, CallScorecard, CallStarted, TranscriptSegment

__all__ = ["NO_MATCH", "Checklist", "Item", "ItemResult", "Line", "ScorecardMatcher",
           "ScorecardService", "checklist_from_settings", "default_checklist_path",
           "items_from_wire", "load_checklist", "score", "with_review"]

log = logging.getLogger("console.analysis")

NAME = re.compile(r"^[a-z0-9_]{1,40}$")
SPEAKERS = ("agent", "customer", "any")
POSITIONS = ("anywhere", "opening", "closing")
MAX_ITEMS = 40  # a fact carries at most 64 list entries; a checklist needs far fewer
MAX_EXAMPLES = 200
MAX_TEXT = 2000  # evidence text kept per item
_DIGIT_RUN = re.compile(r"\d{3,}")

# Ordinary call talk, from both sides: what a line is nearest to when it meets no item.
NO_MATCH: tuple[str, ...] = (
    "let me just check that for you", "bear with me one moment",
    "okay", "right, I see", "yes", "sure", "mm-hm, go on", "no, that's fine",
    "I can see your account here", "can you spell that for me?",
    "the system is a bit slow today", "so it started on Monday?",
    "what model is the router?", "when did you first notice it?",
    "I'm going to put you on hold for a second", "is it the number ending four two?",
    "it says here the payment went out on the fifth", "I'm looking at your bill now",
    "let me pull up your account", "give me a second to load that",
    "the page is still loading", "which plan are you on at the moment?",
    "how many lines do you have with us?", "can you read me the error message?",
    "what colour is the light on the box?", "I think so, yes",
    "hello? are you still there?", "sorry, you cut out for a second",
    "I was charged twice this month", "my internet keeps dropping",
    "I want to change my address", "I'm calling about my bill",
    "that's right", "I don't know, my son set it up",
    "it's been like this for a week", "the weather's been awful here",
    "I'm just writing that down", "one moment, I'm on the other screen",
    "let me read you the notes from last time", "the engineer's report says the line is fine",
    "I'm not sure what happened there", "it shows as paid on my side",
    "can I get a reference number?", "I'll need to check with my manager",
    "what's the best number to reach you on?", "I'm calling from my mobile",
)


class ChecklistError(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    name: str
    label: str
    examples: tuple[str, ...]
    speaker: str = "agent"
    position: str = "anywhere"
    lines: int = 3
    weight: float = 1.0
    required: bool = False
    threshold: float = 0.4
    phrases: tuple[str, ...] = ()
    unlike: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checklist:
    name: str
    items: tuple[Item, ...]
    no_match: tuple[str, ...] = ()


def default_checklist_path() -> Path:
    from console.resources import resource_dir

    return resource_dir() / "scorecards" / "default.toml"


def checklist_from_settings(scorecard_file: str) -> Checklist:
    """The team's checklist, or the shipped one when no file is set."""
    return load_checklist(Path(scorecard_file).expanduser() if scorecard_file
                          else default_checklist_path())


def _texts(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_EXAMPLES:
        raise ChecklistError(f"{where}: expected a list of at most {MAX_EXAMPLES} sentences")
    out = tuple(" ".join(str(t).split()) for t in raw if str(t).strip())
    if any(len(t) > 500 for t in out):
        raise ChecklistError(f"{where}: a sentence is longer than 500 characters")
    return out


def load_checklist(path: Path) -> Checklist:
    """A checklist from TOML (see resources/scorecards/default.toml for the fields)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ChecklistError(f"cannot read the scorecard checklist {path}: {exc}") from None
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ChecklistError(f"{path} lists no [[items]]")
    if len(raw_items) > MAX_ITEMS:
        raise ChecklistError(f"{path}: at most {MAX_ITEMS} items")
    items: list[Item] = []
    for n, raw in enumerate(raw_items, 1):
        where = f"{path.name}: item {n}"
        if not isinstance(raw, dict):
            raise ChecklistError(f"{where} is not a table")
        name = str(raw.get("name", "")).strip()
        if not NAME.match(name):
            raise ChecklistError(f"{where}: name must be 1-40 of a-z, 0-9 and _ (got {name!r})")
        where = f"{path.name}: item {name}"
        if name in {i.name for i in items}:
            raise ChecklistError(f"{where} is listed twice")
        label = " ".join(str(raw.get("label") or name.replace("_", " ").capitalize()).split())
        speaker = str(raw.get("speaker", "agent"))
        position = str(raw.get("position", "anywhere"))
        if speaker not in SPEAKERS:
            raise ChecklistError(f"{where}: speaker must be one of {', '.join(SPEAKERS)}")
        if position not in POSITIONS:
            raise ChecklistError(f"{where}: position must be one of {', '.join(POSITIONS)}")
        try:
            lines = int(raw.get("lines", 3))
            weight = float(raw.get("weight", 1.0))
            threshold = float(raw.get("threshold", 0.4))
        except (TypeError, ValueError):
            raise ChecklistError(f"{where}: lines, weight and threshold must be numbers"
                                 ) from None
        if not 1 <= lines <= 50:
            raise ChecklistError(f"{where}: lines must be 1-50")
        if not (math.isfinite(weight) and 0 < weight <= 100):
            raise ChecklistError(f"{where}: weight must be above 0 and at most 100")
        if not 0.0 <= threshold <= 1.0:
            raise ChecklistError(f"{where}: threshold must be between 0 and 1")
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise ChecklistError(f"{where}: required must be true or false")
        examples = _texts(raw.get("examples"), f"{where}: examples")
        phrases = _texts(raw.get("phrases"), f"{where}: phrases")
        if not examples and not phrases:
            raise ChecklistError(f"{where} needs examples (or phrases)")
        items.append(Item(name, label[:80], examples, speaker, position, lines, weight,
                          required, threshold, phrases, _texts(raw.get("unlike"),
                                                               f"{where}: unlike")))
    name = " ".join(str(data.get("name") or path.stem).split())[:80]
    return Checklist(name, tuple(items), _texts(data.get("no_match"), f"{path.name}: no_match"))


@dataclass(frozen=True, slots=True)
class Line:
    segment_id: str
    speaker: str
    start_s: float
    text: str


@dataclass(frozen=True, slots=True)
class Judged:
    """One line against one item: met or not, how close its best piece came, which piece."""

    met: bool
    similarity: float
    piece: str


@dataclass
class ItemResult:
    name: str
    label: str
    weight: float
    required: bool
    passed: bool  # the automatic verdict
    similarity: float | None = None  # of the evidence line (1.0 for a literal phrase)
    segment_id: str | None = None  # the evidence: the line that met it, or the nearest
    speaker: str | None = None
    at_s: float | None = None
    text: str | None = None
    reviewed_passed: bool | None = None  # the supervisor's verdict, once given
    reviewed_by: str = ""
    reviewed_at: float | None = None

    @property
    def verdict(self) -> bool:
        return self.passed if self.reviewed_passed is None else self.reviewed_passed

    @property
    def review(self) -> str | None:
        """None (not reviewed), "confirmed" or "overridden"."""
        if self.reviewed_passed is None:
            return None
        return "confirmed" if self.reviewed_passed == self.passed else "overridden"

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "weight": self.weight,
                "required": self.required, "passed": self.passed,
                "similarity": self.similarity, "segment_id": self.segment_id,
                "speaker": self.speaker, "at_s": self.at_s, "text": self.text}


def score(items: Sequence[ItemResult], reviewed: bool = True) -> float | None:
    """Weighted share of the items met, in %, after the supervisor's reviews (or the
    automatic verdicts alone); 0 when a required item is missed; None without items."""
    total = sum(i.weight for i in items)
    if not items or total <= 0:
        return None
    verdicts = [(i, i.verdict if reviewed else i.passed) for i in items]
    if any(i.required and not ok for i, ok in verdicts):
        return 0.0
    return round(100.0 * sum(i.weight for i, ok in verdicts if ok) / total, 1)


def _number(value: Any, low: float, high: float) -> float | None:
    if value is None or type(value) not in (int, float) or not math.isfinite(value):
        return None
    return float(value) if low <= value <= high else None


def items_from_wire(raw: Sequence[Any]) -> list[ItemResult]:
    """Items as a CallScorecard carries them, checked (a peer's numbers are range-checked;
    an item that does not read is left out)."""
    out: list[ItemResult] = []
    for obj in list(raw)[:MAX_ITEMS]:
        if not isinstance(obj, dict):
            continue
        name, label = obj.get("name"), obj.get("label")
        weight = _number(obj.get("weight"), 1e-9, 100.0)
        if (not isinstance(name, str) or not NAME.match(name) or not isinstance(label, str)
                or weight is None or not isinstance(obj.get("passed"), bool)
                or name in {i.name for i in out}):
            continue
        seg, who, text = obj.get("segment_id"), obj.get("speaker"), obj.get("text")
        out.append(ItemResult(
            name, label[:80], weight, obj.get("required") is True, obj["passed"],
            _number(obj.get("similarity"), -1.0, 1.0),
            seg if isinstance(seg, str) and len(seg) <= 256 else None,
            who if who in ("agent", "customer") else None,
            _number(obj.get("at_s"), 0.0, 1e7),
            text[:MAX_TEXT] if isinstance(text, str) else None))
    return out


class ScorecardMatcher:
    """Thread-safe once built (judging only reads). Lines are judged one by one
    (`judge`), so a caller can keep each line's verdicts and judge only new lines."""

    K = 7
    TEMPERATURE = 0.03
    VOTE = 0.5  # share of the neighbours' vote an item must win on a piece

    def __init__(self, checklist: Checklist, embedder: Embedder | None = None) -> None:
        self.checklist = checklist
        self.items = checklist.items
        self.embedder = embedder or default_embedder()
        texts: list[str] = []
        # Item index per example; -1: meets nothing; -2 - i: a look-alike of item i only.
        owner: list[int] = []
        for i, item in enumerate(self.items):
            texts += item.examples
            owner += [i] * len(item.examples)
            texts += item.unlike
            owner += [-2 - i] * len(item.unlike)
        bank = list(NO_MATCH) + list(checklist.no_match)
        texts += bank
        owner += [-1] * len(bank)
        self._owner = np.array(owner, dtype=np.int64)
        self._examples = self.embedder.embed_examples(texts)
        # Per item, the examples its vote is taken over: every item's examples, its own
        # look-alikes and the lines that meet nothing (another item's look-alikes are left
        # out: a closing is not "unlike" a closing because it is unlike a greeting).
        self._columns = [np.flatnonzero((self._owner >= 0) | (self._owner == -1)
                                        | (self._owner == -2 - i))
                         for i in range(len(self.items))]
        self._phrases = [re.compile(r"\b(?:" + "|".join(re.escape(p) for p in it.phrases)
                                    + r")\b", re.IGNORECASE) if it.phrases else None
                         for it in self.items]

    def judge(self, speaker: str, text: str) -> list[Judged | None]:
        """Per item: how this line stands against it (None: not the item's speaker)."""
        out: list[Judged | None] = [None] * len(self.items)
        wanted = [i for i, it in enumerate(self.items) if it.speaker in ("any", speaker)]
        pieces = windows(text)
        if not wanted or not pieces:
            return out
        v = self.embedder.embed(pieces)
        sims = v @ self._examples.T  # pieces x examples
        for i in wanted:
            item = self.items[i]
            phrase = self._phrases[i]
            found = phrase.search(text) if phrase is not None else None
            if found:
                out[i] = Judged(True, 1.0, found.group(0))
                continue
            cols = self._columns[i]
            mine = self._owner[cols] == i
            if not mine.any():
                out[i] = Judged(False, 0.0, "")
                continue
            s = sims[:, cols]
            k = min(self.K, s.shape[1])
            top = np.argpartition(-s, k - 1, axis=1)[:, :k]
            top_sims = np.take_along_axis(s, top, axis=1)
            w = np.exp((top_sims - top_sims.max(axis=1, keepdims=True)) / self.TEMPERATURE)
            w /= w.sum(axis=1, keepdims=True)
            share = (w * mine[top]).sum(axis=1)
            best = s[:, mine].max(axis=1)
            ok = (share >= self.VOTE) & (best >= item.threshold)
            p = int(np.argmax(np.where(ok, share + best, best - 10.0)))
            out[i] = Judged(bool(ok[p]), round(float(best[p]), 3), pieces[p])
        return out

    def fill(self, lines: Sequence[Line],
             judged: dict[str, tuple[str, list[Judged | None]]] | None = None
             ) -> list[ItemResult]:
        """The checklist filled from a call's final lines. `judged` (segment id -> (text,
        verdicts)) is a cache kept by the caller: lines already judged with the same text
        are not embedded again."""
        judged = {} if judged is None else judged
        ordered = sorted(lines, key=lambda ln: (ln.start_s, ln.segment_id))
        verdicts: dict[str, list[Judged | None]] = {}
        for ln in ordered:
            known = judged.get(ln.segment_id)
            if known is None or known[0] != ln.text:
                known = judged[ln.segment_id] = (ln.text, self.judge(ln.speaker, ln.text))
            verdicts[ln.segment_id] = known[1]
        out = []
        for i, item in enumerate(self.items):
            mine = [ln for ln in ordered if item.speaker in ("any", ln.speaker)]
            if item.position == "opening":
                mine = mine[:item.lines]
            elif item.position == "closing":
                mine = mine[-item.lines:]
            best: tuple[bool, float, Line] | None = None
            for ln in mine:
                j = verdicts[ln.segment_id][i]
                if j is None:
                    continue
                key = (j.met, j.similarity)
                if best is None or key > (best[0], best[1]):
                    best = (j.met, j.similarity, ln)
            result = ItemResult(item.name, item.label, item.weight, item.required,
                                best is not None and best[0])
            if best is not None:
                ln = best[2]
                result.similarity = best[1]
                result.segment_id = ln.segment_id
                result.speaker = ln.speaker
                result.at_s = round(ln.start_s, 2)
                # The evidence is a copy of the line: digits are masked, since a later
                # redaction correction of the line would not reach this copy.
                result.text = _DIGIT_RUN.sub(lambda m: "#" * len(m.group(0)),
                                             ln.text)[:MAX_TEXT]
            out.append(result)
        return out


# --- the service: scoring off the engine's loop --------------------------------------------

SETTLE_S = 2.0  # after a call ends, lines still being transcribed come within this
LIVE_EVERY_S = 3.0  # the call in focus is scored again at most this often
GRACE_S = 120.0  # an ended call's lines are kept this long, for late lines
MAX_CALLS = 2000
MAX_LINES = 3000  # per call
QUEUE = 20_000
CLOSE_BUDGET_S = 1.5  # at shutdown, ended calls are scored for at most this long (the
# console's whole shutdown must stay under 5 s)


@dataclass
class _Call:
    lines: dict[str, Line] = field(default_factory=dict)
    judged: dict[str, tuple[str, list[Judged | None]]] = field(default_factory=dict)
    ended: bool = False
    due: float | None = None  # when to score it (final)
    live_due: float | None = None  # when to score it live (the call in focus)
    forget_at: float | None = None
    touched: float = 0.0


class ScorecardService:
    """Follows a bus (subscribe `on_event`) and publishes CallScorecard events through
    `publish` (from its own thread: the caller hands them to its loop). One worker thread
    behind a bounded queue; NumPy releases the GIL in the embedding's matrix products."""

    def __init__(self, checklist: Checklist, publish: Callable[[CallEvent], None], *,
                 embedder: Embedder | None = None, settle_s: float = SETTLE_S,
                 live_every_s: float = LIVE_EVERY_S, queue_size: int = QUEUE) -> None:
        self.checklist = checklist
        self.publish = publish
        self.settle_s = settle_s
        self.live_every_s = live_every_s
        self.focus: str | None = None  # the call the supervisor looks at (scored live)
        self.status = "starting"  # starting, on, off: why
        self.dropped = 0  # events not taken (queue full)
        self.scored = 0  # final scorecards published
        self._embedder = embedder
        self._matcher: ScorecardMatcher | None = None
        self._jobs: queue.Queue[CallEvent | None] = queue.Queue(queue_size)
        self._calls: dict[str, _Call] = {}
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="scorecards", daemon=True)

    def start(self) -> ScorecardService:
        self._thread.start()
        return self

    def on_event(self, event: CallEvent) -> None:
        """Bus subscriber (the engine's thread): a put, nothing more."""
        if isinstance(event, TranscriptSegment):
            if not event.final:
                return
        elif not isinstance(event, (CallEnded, CallStarted)):
            return
        if self.status.startswith("off"):
            return
        try:
            self._jobs.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                log.warning("scorecards are behind: %d call events not taken", self.dropped)

    def close(self, timeout: float = CLOSE_BUDGET_S + 0.5) -> None:
        """Ended calls still waiting are scored now (for a moment at most), then the thread
        stops. A model still loading is not waited for (the thread is a daemon: it ends on
        its own, and a shutdown must not wait seconds for it)."""
        loaded = self.status == "on"
        self._closing = True
        with contextlib.suppress(queue.Full):
            self._jobs.put(None, timeout=0.2)
        if loaded and self._thread.is_alive():
            self._thread.join(timeout)
        if not self.status.startswith("off"):
            self.status = "off: closed"

    # --- the worker thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            wait = self._next_due() - time.monotonic()
            try:
                job = self._jobs.get(timeout=max(0.01, min(wait, 1.0)))
            except queue.Empty:
                pass
            else:
                if job is None:
                    self._finish()
                    return
                # The model loads with the first line of speech, not at start: a console
                # with no transcription (or no call) never loads it, nor is left loading it.
                if (self._matcher is None and isinstance(job, TranscriptSegment)
                        and not self._load()):
                    return
                self._take(job)
            self._score_due(time.monotonic())

    def _load(self) -> bool:
        if self._closing:
            self.status = "off: closed"
            return False
        try:
            self._matcher = ScorecardMatcher(self.checklist, self._embedder)
        except Exception as exc:  # a missing model: no scorecards, the console goes on
            self.status = f"off: {exc}"
            log.warning("scorecards are off: %s", exc)
            return False
        if self._closing:  # closed while loading: nothing to do
            self.status = "off: closed"
            return False
        self.status = "on"
        return True

    def _next_due(self) -> float:
        dues = [d for c in self._calls.values() for d in (c.due, c.live_due, c.forget_at)
                if d is not None]
        return min(dues, default=time.monotonic() + 1.0)

    def _take(self, ev: CallEvent) -> None:
        now = time.monotonic()
        call_id = getattr(ev, "call_id", None)
        if not call_id:
            return
        call = self._calls.get(call_id)
        if call is None:
            # A call that ends before we saw it start (its start was not taken) is
            # remembered as ended all the same: its lines may still be on their way from
            # the speech workers, and are then scored as a late call's are.
            self._make_room()
            call = self._calls[call_id] = _Call()
        call.touched = now
        if isinstance(ev, CallStarted):  # a call that comes back (a new leg): live again
            call.ended, call.due, call.forget_at = False, None, None
        elif isinstance(ev, CallEnded):
            call.ended, call.live_due = True, None
            call.due = now + self.settle_s
        elif isinstance(ev, TranscriptSegment):
            if ev.segment_id not in call.lines and len(call.lines) >= MAX_LINES:
                return
            call.lines[ev.segment_id] = Line(ev.segment_id, ev.speaker.value, ev.start_s,
                                             ev.text)
            if call.ended:  # a late line: score again once lines stop coming
                call.due = now + self.settle_s
            elif call_id == self.focus and call.live_due is None:
                call.live_due = now + (0.2 if not call.judged else self.live_every_s)

    def _make_room(self) -> None:
        if len(self._calls) < MAX_CALLS:
            return
        ended = [k for k, c in self._calls.items() if c.ended and c.due is None]
        victims = ended or list(self._calls)
        victim = min(victims, key=lambda k: self._calls[k].touched)
        log.warning("scorecards: too many calls followed at once; forgot call %s", victim)
        del self._calls[victim]

    def _score_due(self, now: float) -> None:
        for call_id, call in list(self._calls.items()):
            if call.due is not None and call.due <= now:
                call.due = None
                self._score(call_id, call, final=True)
                call.forget_at = time.monotonic() + GRACE_S
            elif call.live_due is not None and call.live_due <= now:
                call.live_due = None
                if not call.ended and call_id == self.focus:
                    self._score(call_id, call, final=False)
            elif call.forget_at is not None and call.forget_at <= now and call.due is None:
                del self._calls[call_id]

    def _score(self, call_id: str, call: _Call, *, final: bool) -> None:
        if not call.lines or self._matcher is None:
            return  # nothing said (the model loads with the first line)
        wanted = {i.speaker for i in self.checklist.items}
        said = {line.speaker for line in call.lines.values()}
        if "any" not in wanted and not wanted & said:
            # No line of the speaker the items are about (one mixed track carries everyone
            # as the customer): a card of misses would blame the agent for the stream.
            return
        try:
            items = self._matcher.fill(list(call.lines.values()), call.judged)
        except Exception:  # one call's trouble never stops the thread
            log.exception("scorecard of call %s failed", call_id)
            return
        if final:
            self.scored += 1
        self.publish(CallScorecard(call_id, self.checklist.name,
                                   tuple(i.to_wire() for i in items), final, time.time()))

    def _finish(self) -> None:
        deadline = time.monotonic() + CLOSE_BUDGET_S
        while True:  # what the bus gave before the close
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._take(job)
        for call_id, call in list(self._calls.items()):
            if call.ended and call.due is not None:
                if time.monotonic() > deadline:
                    log.warning("scorecards: shutdown left some ended calls unscored")
                    return
                call.due = None
                self._score(call_id, call, final=True)


def with_review(item: ItemResult, passed: bool | None, who: str, at: float | None
                ) -> ItemResult:
    """The item with the supervisor's verdict (None clears it)."""
    return replace(item, reviewed_passed=passed, reviewed_by=who if passed is not None else "",
                   reviewed_at=at if passed is not None else None)
